//! Prometheus metrics, served at `/metrics`.
//!
//! The registry lives in [`crate::state::AppState`], not in a global, so every server instance
//! (and every test) counts on its own.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sqlx::PgPool;

/// Labels of one HTTP observation. `route` is the matched route template
/// (`/api/v1/clusters/{id}`), never the raw path, so cardinality stays bounded.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram>,
    pool_connections: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
}

fn duration_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("nimbus");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration =
            Family::<HttpLabels, Histogram>::new_with_constructor(duration_histogram as fn() -> _);
        let pool_connections = Gauge::default();
        let pool_idle = Gauge::default();
        let pool_max = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests served",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head",
            http_duration.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Open connections in the database pool",
            pool_connections.clone(),
        );
        registry.register(
            "db_pool_idle",
            "Idle connections in the database pool",
            pool_idle.clone(),
        );
        registry.register(
            "db_pool_max",
            "Maximum connections of the database pool",
            pool_max.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            pool_connections,
            pool_idle,
            pool_max,
        }
    }

    pub fn observe_request(&self, labels: &HttpLabels, elapsed: Duration) {
        self.http_requests.get_or_create(labels).inc();
        self.http_duration
            .get_or_create(labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition format, with the pool gauges read at scrape time.
    pub fn render(&self, pool: &PgPool) -> Result<String, std::fmt::Error> {
        self.pool_connections.set(i64::from(pool.size()));
        self.pool_idle
            .set(i64::try_from(pool.num_idle()).unwrap_or(i64::MAX));
        self.pool_max
            .set(i64::from(pool.options().get_max_connections()));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
