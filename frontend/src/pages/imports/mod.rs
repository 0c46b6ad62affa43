mod imports_page;

pub use imports_page::ImportsPage;
