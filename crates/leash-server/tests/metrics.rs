//! `/metrics`: the separate metrics listener answers without a token, sealed
//! or not; the main port's route needs `read` on `sys/metrics`; what the
//! metrics say, and that no value, name or token ever appears in them.

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

const PLANTED_VALUE: &str = "planted-metrics-value-Zq81xTw4";
const PROJECT: &str = "proj-metrics-x9";
const SECRET: &str = "stripe/PLANTED_KEY_q7";

/// A dev server with a metrics listener on 127.0.0.1:0; returns it and the listener's `/metrics` URL.
async fn server() -> (TestServer, String) {
    let mut settings = config(None);
    settings.metrics_listen = Some("127.0.0.1:0".into());
    let t = dev_with(settings).await;
    let addr = t.server.metrics_addr.expect("metrics_listen was set");
    (t, format!("http://{addr}/metrics"))
}

/// `GET url` without a token: status, content type, body.
async fn scrape(url: &str) -> (StatusCode, String, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// The value of the sample `series` (name with labels, as printed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.split(' ').next().unwrap().parse().unwrap())
}

const SECRET_ROUTE: &str = "/api/v1/projects/{project}/envs/{env}/secrets/{*path}";

#[tokio::test]
async fn the_metrics_listener_counts_requests_by_route_pattern_and_never_shows_names_or_values() {
    let (t, metrics) = server().await;
    t.project_env(PROJECT, "prod").await;
    let base = format!("/api/v1/projects/{PROJECT}/envs/prod");
    let (status, body) = t
        .put(&format!("{base}/secrets/{SECRET}"), json!({"value": PLANTED_VALUE}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = t.get(&format!("{base}/secrets/{SECRET}")).await;
    assert_eq!((status, body["value"].as_str()), (StatusCode::OK, Some(PLANTED_VALUE)));
    let (status, _) = t.get(&format!("{base}/secrets/stripe/MISSING_q7")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = t.get(&format!("/api/v1/nowhere/{PROJECT}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = t
        .post(
            &format!("{base}/rotate/ROTATED_q7"),
            json!({"generator": "password:32"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, content_type, text) = scrape(&metrics).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    for line in [
        "# TYPE leash_http_requests counter",
        "# TYPE leash_http_request_duration_seconds histogram",
        "# TYPE leash_storage_operation_duration_seconds histogram",
        "# TYPE leash_group_commit_batch_size histogram",
        "leash_sealed 0\n",
        "leash_initialized 1\n",
        "leash_audit_write_failures_total 0\n",
    ] {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
    let count = |series: String| sample(&text, &series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    let requests = |route: &str, method: &str, status: u16| {
        count(format!(
            "leash_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"
        ))
    };
    assert_eq!(requests(SECRET_ROUTE, "PUT", 200), 1.0);
    assert_eq!(requests(SECRET_ROUTE, "GET", 200), 1.0);
    assert_eq!(requests(SECRET_ROUTE, "GET", 404), 1.0);
    assert_eq!(requests("unmatched", "GET", 404), 1.0);
    assert_eq!(requests("/api/v1/projects", "POST", 201), 1.0);
    assert_eq!(
        count(format!(
            "leash_http_request_duration_seconds_count{{route=\"{SECRET_ROUTE}\",method=\"GET\"}}"
        )),
        2.0
    );
    assert!(count("leash_audit_records_total".into()) > 0.0);
    assert!(count("leash_token_cache_hits_total".into()) > 0.0);
    assert_eq!(
        count("leash_rotation_attempts_total{outcome=\"succeeded\"}".into()),
        1.0
    );
    assert_eq!(count("leash_rotation_attempts_total{outcome=\"failed\"}".into()), 0.0);
    // project, environment, put, rotation: at least one batch, each of at least one change set
    assert!(count("leash_group_commit_batch_size_count".into()) >= 1.0);
    assert!(count("leash_group_commit_batch_size_sum".into()) >= 2.0);
    assert!(count("leash_storage_operation_duration_seconds_count{operation=\"commit\"}".into()) >= 1.0);
    assert!(count("leash_storage_operation_duration_seconds_count{operation=\"write\"}".into()) >= 3.0);
    for planted in [
        PLANTED_VALUE,
        PROJECT,
        "PLANTED_KEY",
        "MISSING_q7",
        "ROTATED_q7",
        "nowhere",
        &t.token,
    ] {
        assert!(!text.contains(planted), "{planted:?} appears in the metrics:\n{text}");
    }

    // the listener serves nothing else, and nothing under /api
    let listener = metrics.trim_end_matches("/metrics");
    let (status, _, _) = scrape(&format!("{listener}/api/v1/sys/health")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn on_the_main_port_metrics_need_read_on_sys_metrics() {
    let (t, _) = server().await;
    t.policy(
        "metrics-reader",
        "[[allow]]\npath = \"sys/metrics\"\ncapabilities = [\"read\"]\n",
    )
    .await;
    t.policy(
        "everything-else",
        "[[allow]]\npath = \"*/**\"\ncapabilities = [\"read\", \"list\"]\n\n[[deny]]\npath = \"sys/metrics\"\n",
    )
    .await;
    let reader = t.token(&["metrics-reader"], None).await;
    let powerless = t.token(&[], None).await;
    let denied = t.token(&["everything-else"], None).await;

    let (status, _) = t.call_as("", Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // the one authorization rule: 404 to a token that may not list `sys`, 403 to one that may
    let (status, _) = t.call_as(&powerless, Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = t.call_as(&denied, Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for token in [&reader, &t.token] {
        let (status, body) = t.call_as(token, Method::GET, "/metrics", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.as_str().unwrap().contains("# TYPE leash_http_requests counter"));
    }
}

#[tokio::test]
async fn a_sealed_server_still_reports_on_the_metrics_listener_only() {
    let (t, metrics) = server().await;
    let (status, body) = t.post("/api/v1/sys/seal", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, text) = scrape(&metrics).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("leash_sealed 1\n"), "{text}");
    let (status, body) = t.get("/metrics").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("sealed"))
    );
}

#[tokio::test]
async fn open_watch_streams_are_counted_until_they_close() {
    let (t, metrics) = server().await;
    t.project_env("p", "e").await;
    let open = |text: &str| sample(text, "leash_watch_streams_open");
    assert_eq!(open(&scrape(&metrics).await.2), Some(0.0));
    let stream = t
        .http
        .get(format!("{}/api/v1/projects/p/envs/e/watch", t.url))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(open(&scrape(&metrics).await.2), Some(1.0));
    drop(stream);
    // the server notices the closed connection when it next writes to it: send it events
    let mut last = None;
    for n in 0..100 {
        t.set(&format!("K{n}"), "v").await;
        last = open(&scrape(&metrics).await.2);
        if last == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, Some(0.0), "the stream is still counted as open");
}
