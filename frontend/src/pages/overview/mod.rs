mod overview_page;

pub use overview_page::OverviewPage;
