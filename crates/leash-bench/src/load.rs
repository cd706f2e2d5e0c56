//! A closed-loop load generator: N connections, each sending its next request
//! when the previous answer arrived, for a fixed time; latencies in an HDR
//! histogram.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The outcome of one load run.
pub struct Outcome {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub histogram: Histogram<u64>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// A latency percentile in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Runs `connections` loops of `request(conn, n)` for `duration`.
pub async fn run<F, Fut>(connections: usize, duration: Duration, request: F) -> Outcome
where
    F: Fn(reqwest::Client, usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for conn in 0..connections {
        // one client (one keep-alive connection) per loop
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("a plain HTTP client builds");
        let (request, stop, errors) = (request.clone(), stop.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = request(http.clone(), conn, n).await;
                n += 1;
                if ok {
                    let _ = histogram.record(t.elapsed().as_micros().max(1) as u64);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            histogram
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    for task in tasks {
        if let Ok(h) = task.await {
            let _ = histogram.add(h);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Outcome {
        requests: histogram.len(),
        errors: errors.load(Ordering::Relaxed),
        seconds,
        histogram,
    }
}
