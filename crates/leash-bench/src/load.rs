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

/// What a load run sends: the same request again and again, connection `c`
/// to `urls[c % urls.len()]` (a cluster's nodes, round robin), with a token
/// header and a JSON body when given; `fresh_paths` appends `/W{conn}_{n}`,
/// so every write makes a new secret.
pub struct Target {
    pub method: reqwest::Method,
    pub urls: Vec<String>,
    pub header: Option<(&'static str, String)>,
    pub body: Option<String>,
    pub fresh_paths: bool,
}

impl Target {
    /// `GET url` with the header.
    pub fn get(url: String, header: Option<(&'static str, String)>) -> Self {
        Self {
            method: reqwest::Method::GET,
            urls: vec![url],
            header,
            body: None,
            fresh_paths: false,
        }
    }
}

/// Runs `target` from `connections` loops for `duration`: a request counts
/// when it answers 2xx and its body is read whole.
pub async fn hammer(target: Target, connections: usize, duration: Duration) -> Outcome {
    let target = Arc::new(target);
    run(connections, duration, move |http, conn, n| {
        let target = target.clone();
        async move {
            let base = &target.urls[conn % target.urls.len()];
            let url = if target.fresh_paths {
                format!("{base}/W{conn}_{n}")
            } else {
                base.clone()
            };
            let mut request = http.request(target.method.clone(), url);
            if let Some((name, value)) = &target.header {
                request = request.header(*name, value.as_str());
            }
            if let Some(body) = &target.body {
                request = request.header("content-type", "application/json").body(body.clone());
            }
            match request.send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await
}
