pub mod invitation;
pub mod landing;
pub mod reset_password;
pub mod setup;
