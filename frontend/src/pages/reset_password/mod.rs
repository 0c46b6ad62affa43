mod reset_password_page;

pub use reset_password_page::ResetPasswordPage;
