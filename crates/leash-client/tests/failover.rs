//! Black-box tests of failover between nodes, against canned HTTP nodes that
//! count what reaches them: which node a request goes to, which answers move
//! it on, and which writes are never repeated.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use leash_client::{Client, Error, ReadOptions};
use leash_core::api::SecretWrite;
use tokio::io::AsyncReadExt;

const SECRET_VALUE: &str = r#"{"path":"API_KEY","env_var":"API_KEY","version":3,
 "revision":7,"value":"v","description":null,"created_at":"2025-01-01T00:00:00Z"}"#;
const CHANGE: &str = r#"{"revision":8,"entries":[]}"#;
const SEALED: &str = r#"{"error":{"code":"sealed","message":"the server is sealed"}}"#;
const NOT_FOUND: &str = r#"{"error":{"code":"not_found","message":"no such secret"}}"#;

/// A node answering every request with `status` and `body`, and how many requests reached it.
async fn node(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let count = hits.clone();
    let app = Router::new().fallback(move || {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body,
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, hits)
}

/// An address where nothing listens (a port that was bound and closed).
async fn dead() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    addr
}

/// A node that reads a request and hangs up without answering, and how many connections it took.
async fn hangs_up() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let count = hits.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            drop(socket);
        }
    });
    (addr, hits)
}

fn client(addrs: &[&str]) -> Client {
    Client::new(&addrs.join(","), Some("lsh_tok".into()), None).unwrap()
}

async fn get(client: &Client) -> Result<leash_core::api::SecretValue, Error> {
    client
        .get_secret("payment", "prod", "API_KEY", &ReadOptions::default())
        .await
}

fn write(cas: Option<i64>) -> SecretWrite {
    SecretWrite {
        value: "planted-failover-value".into(),
        description: None,
        cas,
        e2e_recipients: None,
    }
}

#[tokio::test]
async fn a_read_skips_a_sealed_node_and_the_next_read_starts_at_the_one_that_answered() {
    let (sealed, sealed_hits) = node(503, SEALED).await;
    let (live, live_hits) = node(200, SECRET_VALUE).await;
    let client = client(&[&sealed, &live]);
    assert_eq!(client.addr(), sealed);

    assert_eq!(get(&client).await.unwrap().version, 3);
    assert_eq!(
        (sealed_hits.load(Ordering::SeqCst), live_hits.load(Ordering::SeqCst)),
        (1, 1)
    );
    assert_eq!(client.addr(), live);

    get(&client).await.unwrap();
    assert_eq!(
        (sealed_hits.load(Ordering::SeqCst), live_hits.load(Ordering::SeqCst)),
        (1, 2)
    );
    // A clone with another token shares the memory.
    let other = client.with_token(None).unwrap();
    assert_eq!(other.addr(), live);
}

#[tokio::test]
async fn proxy_gateway_errors_move_a_read_on() {
    for status in [502, 504] {
        let (proxy, _) = node(status, "<html>bad gateway</html>").await;
        let (live, _) = node(200, SECRET_VALUE).await;
        get(&client(&[&proxy, &live])).await.unwrap();
    }
}

#[tokio::test]
async fn four_hundreds_are_final() {
    let (first, _) = node(404, NOT_FOUND).await;
    let (second, second_hits) = node(200, SECRET_VALUE).await;
    let err = get(&client(&[&first, &second])).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(second_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_plain_write_is_not_retried_after_a_503_and_says_so() {
    let (sealed, _) = node(503, SEALED).await;
    let (live, live_hits) = node(200, CHANGE).await;
    let err = client(&[&sealed, &live])
        .put_secret("payment", "prod", "API_KEY", &write(None))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotRetried { .. }), "{err:?}");
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.code(), Some("sealed"));
    let text = err.to_string();
    assert!(text.contains("not retried") && text.contains(&sealed), "{text}");
    assert!(!text.contains("planted") && !text.contains("lsh_tok"), "{text}");
    assert_eq!(live_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_cas_write_is_retried_after_a_503() {
    let (sealed, _) = node(503, SEALED).await;
    let (live, live_hits) = node(200, CHANGE).await;
    let result = client(&[&sealed, &live])
        .put_secret("payment", "prod", "API_KEY", &write(Some(7)))
        .await
        .unwrap();
    assert_eq!(result.revision, 8);
    assert_eq!(live_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn any_request_moves_on_from_an_unreachable_node() {
    let gone = dead().await;
    let (live, live_hits) = node(200, CHANGE).await;
    let client = client(&[&gone, &live]);
    client
        .put_secret("payment", "prod", "API_KEY", &write(None))
        .await
        .unwrap();
    assert_eq!(live_hits.load(Ordering::SeqCst), 1);
    assert_eq!(client.addr(), live);
}

#[tokio::test]
async fn a_plain_write_whose_answer_never_came_has_an_unknown_outcome() {
    let (hangs, hangs_hits) = hangs_up().await;
    let (live, live_hits) = node(200, CHANGE).await;
    let client = client(&[&hangs, &live]);
    let err = client
        .put_secret("payment", "prod", "API_KEY", &write(None))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("outcome is") && text.contains(&hangs), "{text}");
    assert_eq!(live_hits.load(Ordering::SeqCst), 0);
    assert!(hangs_hits.load(Ordering::SeqCst) >= 1);

    // A read that broke the same way is safe to send on.
    let (live_read, _) = node(200, SECRET_VALUE).await;
    get(&Client::new(&format!("{hangs},{live_read}"), None, None).unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn when_every_node_fails_the_error_names_each_and_why() {
    let gone = dead().await;
    let (sealed, _) = node(503, SEALED).await;
    let err = get(&client(&[&gone, &sealed])).await.unwrap_err();
    let Error::NoNodeAnswered { failures, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failures.len(), 2);
    assert!(failures[0].unreachable && !failures[1].unreachable);
    let text = err.to_string();
    assert!(text.contains(&gone) && text.contains("cannot connect"), "{text}");
    assert!(text.contains(&sealed) && text.contains("503 sealed"), "{text}");
    assert!(!text.contains("lsh_tok"), "{text}");
    assert_eq!(err.status(), Some(503));
    assert!(!err.is_connect());

    let other = dead().await;
    let err = get(&client(&[&gone, &other])).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

#[tokio::test]
async fn node_scoped_calls_never_move_on() {
    let (sealed, _) = node(503, SEALED).await;
    let (live, live_hits) = node(200, r#"{"sealed":false,"threshold":1,"shares":1,"progress":0}"#).await;
    let err = client(&[&sealed, &live]).seal_status().await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(live_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn one_address_keeps_the_plain_errors() {
    let gone = dead().await;
    let err = get(&client(&[&gone])).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    let (sealed, _) = node(503, SEALED).await;
    let err = client(&[&sealed])
        .put_secret("payment", "prod", "API_KEY", &write(None))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { status: 503, .. }), "{err:?}");
}
