mod cluster_page;
mod clusters_page;

pub use cluster_page::ClusterPage;
pub use clusters_page::ClustersPage;
