pub mod landing;
