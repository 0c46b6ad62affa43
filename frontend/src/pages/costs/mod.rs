mod costs_page;

pub use costs_page::CostsPage;
