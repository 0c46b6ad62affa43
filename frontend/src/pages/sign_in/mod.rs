mod attempt;
mod sign_in_page;
mod single_sign_on;

pub use sign_in_page::SignInPage;
