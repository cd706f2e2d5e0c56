//! Hostile clients against the live server: a client that sends its headers,
//! or then its body, slower than `request_timeout` loses the connection
//! (headers) or is answered 408 (body) and changes nothing; connections over
//! `max_connections_per_source` are closed at once; other clients are served meanwhile.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server() -> TestServer {
    let mut config = config(None);
    config.request_timeout = "1s".into();
    let t = dev_with(config).await;
    t.project_env("p", "e").await;
    t
}

fn address(t: &TestServer) -> String {
    t.url.trim_start_matches("http://").to_owned()
}

/// Sends `bytes` one at a time, `gap` apart, until the server closes the
/// connection; what the server answered (empty when it just closed) and when.
async fn trickle(addr: &str, bytes: &[u8], gap: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for b in bytes {
        if stream.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(gap).await;
        if start.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    (String::from_utf8_lossy(&answer).into_owned(), start.elapsed())
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_dropped() {
    let t = server().await;
    let request = format!(
        "PUT /api/v1/projects/p/envs/e/secrets/SLOW HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nX-Padding: {}\r\n\r\n",
        address(&t),
        t.token,
        "x".repeat(200)
    );
    let reads = {
        let (url, token) = (t.url.clone(), t.token.clone());
        tokio::spawn(async move {
            // another client is served all along
            let http = reqwest::Client::new();
            let mut served = 0;
            for _ in 0..20 {
                let r = http
                    .get(format!("{url}/api/v1/projects/p/envs/e/secrets"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                served += usize::from(r.status() == StatusCode::OK);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            served
        })
    };
    let (answer, took) = trickle(&address(&t), request.as_bytes(), Duration::from_millis(100)).await;
    assert!(
        took < Duration::from_secs(15),
        "the connection stayed open for {took:?} while the headers trickled in"
    );
    assert!(
        !answer.starts_with("HTTP/1.1 2"),
        "a trickled request was served: {answer}"
    );
    assert_eq!(reads.await.unwrap(), 20, "another client was not served meanwhile");
    assert_eq!(t.value("SLOW").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_client_trickling_its_body_gets_408_and_changes_nothing() {
    let t = server().await;
    let body = json!({"value": "never-stored"}).to_string();
    let head = format!(
        "PUT /api/v1/projects/p/envs/e/secrets/SLOW HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        address(&t),
        t.token,
        body.len()
    );
    let start = Instant::now();
    let mut stream = TcpStream::connect(address(&t)).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    for b in body.as_bytes() {
        if stream.write_all(&[*b]).await.is_err() {
            break;
        }
        let mut chunk = [0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut chunk)).await {
            answer.extend_from_slice(&chunk[..n]);
            if n == 0 || !answer.is_empty() {
                break;
            }
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "answer: {answer:?}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(start.elapsed() < Duration::from_secs(15));
    assert_eq!(
        t.value("SLOW").await.0,
        StatusCode::NOT_FOUND,
        "a timed-out write was stored"
    );
    // a prompt client with the same request is served
    let (status, _) = t
        .put("/api/v1/projects/p/envs/e/secrets/SLOW", json!({"value": "v"}))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn connections_over_the_per_source_cap_are_closed_and_places_come_back() {
    let mut config = config(None);
    config.max_connections_per_source = 4;
    let t = dev_with(config).await;
    let addr = address(&t);
    // four idle connections hold every place this source has
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    let request = format!("GET /api/v1/sys/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let _ = extra.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), extra.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the fifth connection was neither served nor closed");
    assert!(
        answer.is_empty(),
        "the fifth connection was served: {}",
        String::from_utf8_lossy(&answer)
    );
    // a closed connection gives its place back
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = TcpStream::connect(&addr).await.unwrap();
    again.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), again.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
