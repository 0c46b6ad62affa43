mod anomalies_page;

pub use anomalies_page::AnomaliesPage;
