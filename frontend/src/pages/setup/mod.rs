mod setup_page;

pub use setup_page::SetupPage;
