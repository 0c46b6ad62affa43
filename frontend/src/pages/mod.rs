pub mod landing;
pub mod setup;
