//! The server's Prometheus metrics: one [`Metrics`] per server instance (its
//! own `prometheus-client` registry, no global recorder), the counters,
//! gauges and histograms the rest of the server updates where events happen,
//! and [`Metrics::render`], the OpenMetrics text `/metrics` serves.
//!
//! It owns only numbers. No label ever carries a value, a token, or a name
//! from a request (project, environment, secret, identity): labels are route
//! patterns, methods, status codes, outcomes and storage operation kinds, all
//! from small fixed sets. It never reads storage or decides access; the
//! `http` submodule is the one HTTP layer that counts requests.

pub mod http;

use std::sync::Arc;
use std::time::Duration;

use leash_store::{StoreObserver, StoreOperation};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The media type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The labels of a request counter: the matched route pattern (never the raw path), method, status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: &'static str,
    pub status: u16,
}

/// The labels of a request duration: route pattern and method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

/// How a rotation attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationOutcome {
    Succeeded,
    Failed,
}

impl RotationOutcome {
    fn as_str(self) -> &'static str {
        match self {
            RotationOutcome::Succeeded => "succeeded",
            RotationOutcome::Failed => "failed",
        }
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request latencies: 0.25 ms to about 8 s.
fn request_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// Storage latencies: 50 µs to about 1.6 s.
fn storage_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric of one server, and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<RouteLabels>,
    sealed: Gauge,
    initialized: Gauge,
    audit_records: Counter,
    audit_failures: Counter,
    watch_streams: Gauge,
    rotation_attempts: Family<OutcomeLabels, Counter>,
    storage_duration: HistogramFamily<OperationLabels>,
    commit_batch: Histogram,
    token_hits: Counter,
    token_misses: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered (at zero).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "leash_http_requests",
            "HTTP requests answered, by route pattern, method and status",
            requests.clone(),
        );
        let request_duration = HistogramFamily::<RouteLabels>::new_with_constructor(request_histogram);
        registry.register(
            "leash_http_request_duration_seconds",
            "Time to answer an HTTP request (to the response head), by route pattern and method",
            request_duration.clone(),
        );
        let sealed = Gauge::default();
        registry.register(
            "leash_sealed",
            "1 while the server is sealed (or not initialised), else 0",
            sealed.clone(),
        );
        let initialized = Gauge::default();
        registry.register(
            "leash_initialized",
            "1 once the server is initialised, else 0",
            initialized.clone(),
        );
        let audit_records = Counter::default();
        registry.register(
            "leash_audit_records",
            "Audit records made durable in the audit file (checkpoints included)",
            audit_records.clone(),
        );
        let audit_failures = Counter::default();
        registry.register(
            "leash_audit_write_failures",
            "Audit batches the audit file could not take (their requests failed closed, or were lost with audit_fail_open)",
            audit_failures.clone(),
        );
        let watch_streams = Gauge::default();
        registry.register(
            "leash_watch_streams_open",
            "Watch (SSE) streams open now",
            watch_streams.clone(),
        );
        let rotation_attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "leash_rotation_attempts",
            "Rotation attempts, by outcome (succeeded, failed)",
            rotation_attempts.clone(),
        );
        let storage_duration = HistogramFamily::<OperationLabels>::new_with_constructor(storage_histogram);
        registry.register(
            "leash_storage_operation_duration_seconds",
            "Time of storage calls that reached the backend, by operation (read, list, token_lookup, write, commit)",
            storage_duration.clone(),
        );
        let commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "leash_group_commit_batch_size",
            "Change sets committed together in one group-commit transaction",
            commit_batch.clone(),
        );
        let token_hits = Counter::default();
        registry.register(
            "leash_token_cache_hits",
            "Token lookups answered by the token cache",
            token_hits.clone(),
        );
        let token_misses = Counter::default();
        registry.register(
            "leash_token_cache_misses",
            "Token lookups the token cache sent to storage",
            token_misses.clone(),
        );
        for outcome in [RotationOutcome::Succeeded, RotationOutcome::Failed] {
            let _ = rotation_attempts.get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            });
        }
        Self {
            registry,
            requests,
            request_duration,
            sealed,
            initialized,
            audit_records,
            audit_failures,
            watch_streams,
            rotation_attempts,
            storage_duration,
            commit_batch,
            token_hits,
            token_misses,
        }
    }

    /// The registry as OpenMetrics text, with the seal gauges set to `status` first.
    pub fn render(&self, status: &leash_core::api::SealStatus) -> String {
        self.sealed.set(i64::from(status.sealed));
        self.initialized.set(i64::from(status.initialized));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }

    /// One answered request.
    pub fn request(&self, route: String, method: &'static str, status: u16, elapsed: Duration) {
        self.request_duration
            .get_or_create(&RouteLabels {
                route: route.clone(),
                method,
            })
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels { route, method, status })
            .inc();
    }

    /// `records` audit records became durable.
    pub fn audit_written(&self, records: usize) {
        self.audit_records.inc_by(records as u64);
    }

    /// An audit batch could not be written.
    pub fn audit_failed(&self) {
        self.audit_failures.inc();
    }

    /// A watch stream opened; it counts as open until the guard is dropped.
    pub fn watch_stream_opened(&self) -> OpenStream {
        self.watch_streams.inc();
        OpenStream(self.watch_streams.clone())
    }

    /// A rotation attempt ended.
    pub fn rotation_attempt(&self, outcome: RotationOutcome) {
        self.rotation_attempts
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// A token lookup was answered from the cache (`hit`) or went to storage.
    pub fn token_lookup(&self, hit: bool) {
        if hit {
            self.token_hits.inc();
        } else {
            self.token_misses.inc();
        }
    }

    /// This instance as the storage observer.
    pub fn store_observer(self: &Arc<Self>) -> Arc<dyn StoreObserver> {
        self.clone()
    }
}

impl StoreObserver for Metrics {
    fn operation(&self, kind: StoreOperation, elapsed: Duration) {
        self.storage_duration
            .get_or_create(&OperationLabels {
                operation: kind.as_str(),
            })
            .observe(elapsed.as_secs_f64());
    }

    fn commit_batch(&self, changes: usize) {
        self.commit_batch.observe(changes as f64);
    }
}

/// An open watch stream: the open-streams gauge goes down when it is dropped.
pub struct OpenStream(Gauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(sealed: bool) -> leash_core::api::SealStatus {
        leash_core::api::SealStatus {
            initialized: true,
            sealed,
            shares: 1,
            threshold: 1,
            progress: 0,
        }
    }

    #[test]
    fn every_unlabelled_metric_is_exposed_before_anything_happens() {
        // (a labelled family shows once it has a series: requests, storage operations)
        let text = Metrics::new().render(&status(true));
        for line in [
            "# TYPE leash_sealed gauge",
            "leash_sealed 1",
            "leash_initialized 1",
            "leash_audit_records_total 0",
            "leash_audit_write_failures_total 0",
            "leash_watch_streams_open 0",
            "leash_rotation_attempts_total{outcome=\"failed\"} 0",
            "leash_rotation_attempts_total{outcome=\"succeeded\"} 0",
            "# TYPE leash_group_commit_batch_size histogram",
            "leash_token_cache_hits_total 0",
            "leash_token_cache_misses_total 0",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
    }

    #[test]
    fn the_seal_gauge_follows_the_status_at_each_render() {
        let metrics = Metrics::new();
        assert!(metrics.render(&status(true)).contains("leash_sealed 1\n"));
        assert!(metrics.render(&status(false)).contains("leash_sealed 0\n"));
    }

    #[test]
    fn an_open_stream_counts_until_dropped() {
        let metrics = Metrics::new();
        let one = metrics.watch_stream_opened();
        let two = metrics.watch_stream_opened();
        assert!(metrics.render(&status(false)).contains("leash_watch_streams_open 2\n"));
        drop(one);
        drop(two);
        assert!(metrics.render(&status(false)).contains("leash_watch_streams_open 0\n"));
    }

    #[test]
    fn a_request_is_counted_under_its_route_pattern() {
        let metrics = Metrics::new();
        let route = "/api/v1/projects/{project}".to_owned();
        metrics.request(route, "DELETE", 404, Duration::from_millis(3));
        let text = metrics.render(&status(false));
        assert!(
            text.contains(
                "leash_http_requests_total{route=\"/api/v1/projects/{project}\",method=\"DELETE\",status=\"404\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains(
            "leash_http_request_duration_seconds_count{route=\"/api/v1/projects/{project}\",method=\"DELETE\"} 1"
        ));
    }
}
