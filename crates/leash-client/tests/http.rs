//! Black-box tests of the client against a canned HTTP server: what goes on
//! the wire (method, encoded path, query, token header, body) and how answers
//! and failures come back.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use leash_client::{Client, Error, ReadOptions};
use leash_core::api::{ChangeKind, ChangeOp, ChangeRequest};

#[derive(Clone, Debug, Default)]
struct Seen {
    method: String,
    uri: String,
    auth: Option<String>,
    body: String,
}

/// Starts a server on 127.0.0.1:0 that answers every request with `status`
/// and `body` and records the last request.
async fn canned(status: u16, body: &'static str) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, bytes: Bytes| {
        let record = record.clone();
        async move {
            *record.lock().unwrap() = Seen {
                method: method.to_string(),
                uri: uri.to_string(),
                auth: headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()),
                body: String::from_utf8(bytes.to_vec()).unwrap(),
            };
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
    (addr, seen)
}

const SECRET_VALUE: &str = r#"{"path":"stripe/API_KEY","env_var":"STRIPE_API_KEY","version":3,
 "revision":7,"value":"sk_live","description":null,"created_at":"2025-01-01T00:00:00Z"}"#;

#[tokio::test]
async fn get_secret_sends_an_encoded_path_query_and_token() {
    let (addr, seen) = canned(200, SECRET_VALUE).await;
    let client = Client::new(&addr, Some("lsh_tok".into()), None).unwrap();
    let options = ReadOptions {
        version: Some(3),
        at_revision: None,
    };
    let value = client
        .get_secret("payment", "prod", "stripe/API_KEY", &options)
        .await
        .unwrap();
    assert_eq!(value.value, "sk_live");
    assert_eq!(value.version, 3);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.method, "GET");
    assert_eq!(
        seen.uri,
        "/api/v1/projects/payment/envs/prod/secrets/stripe/API_KEY?version=3"
    );
    assert_eq!(seen.auth.as_deref(), Some("Bearer lsh_tok"));
}

#[tokio::test]
async fn change_sets_go_in_one_post() {
    let (addr, seen) = canned(200, r#"{"revision":4,"entries":[]}"#).await;
    let client = Client::new(&addr, Some("lsh_tok".into()), None).unwrap();
    let request = ChangeRequest {
        changes: vec![
            ChangeOp {
                path: "A".into(),
                kind: ChangeKind::Set {
                    value: "1".into(),
                    description: None,
                },
            },
            ChangeOp {
                path: "b/C".into(),
                kind: ChangeKind::Delete,
            },
        ],
        message: Some("m".into()),
        cas: Some(3),
    };
    let result = client.apply_changes("p", "e", &request).await.unwrap();
    assert_eq!(result.revision, 4);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, "/api/v1/projects/p/envs/e/changes");
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["changes"][0]["op"], "set");
    assert_eq!(body["changes"][1]["op"], "delete");
    assert_eq!(body["cas"], 3);
}

#[tokio::test]
async fn api_errors_carry_status_code_and_message() {
    let body = r#"{"error":{"code":"not_found","message":"no secret stripe/API_KEY in payment/prod"}}"#;
    let (addr, _) = canned(404, body).await;
    let client = Client::new(&addr, None, None).unwrap();
    let err = client
        .get_secret("payment", "prod", "stripe/API_KEY", &ReadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.code(), Some("not_found"));
    assert_eq!(err.to_string(), "no secret stripe/API_KEY in payment/prod");
}

#[tokio::test]
async fn errors_without_a_leash_body_name_the_status() {
    let (addr, _) = canned(502, "<html>bad gateway</html>").await;
    let client = Client::new(&addr, None, None).unwrap();
    let err = client.list_projects().await.unwrap_err();
    assert!(matches!(err, Error::UnexpectedStatus { status: 502, .. }), "{err:?}");
    assert!(err.to_string().contains("GET /api/v1/projects"), "{err}");
}

#[tokio::test]
async fn undecodable_answers_do_not_quote_the_body() {
    let (addr, _) = canned(200, r#"{"path":"X","value":12345678}"#).await;
    let client = Client::new(&addr, None, None).unwrap();
    let err = client
        .get_secret("p", "e", "X", &ReadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(!err.to_string().contains("12345678"), "{err}");
}

#[tokio::test]
async fn health_is_an_answer_even_when_sealed() {
    let (addr, seen) = canned(503, r#"{"initialized":true,"sealed":true,"version":"0.1.0"}"#).await;
    let client = Client::new(&addr, Some("lsh_tok".into()), None).unwrap();
    let health = client.health().await.unwrap();
    assert!(health.sealed);
    assert_eq!(seen.lock().unwrap().uri, "/api/v1/sys/health");
}

#[tokio::test]
async fn deletes_accept_an_empty_answer() {
    let (addr, seen) = canned(204, "").await;
    let client = Client::new(&addr, None, None).unwrap();
    client.delete_env("p", "dev").await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("DELETE", "/api/v1/projects/p/envs/dev")
    );
}

#[tokio::test]
async fn invalid_names_are_refused_before_sending() {
    let (addr, seen) = canned(200, "{}").await;
    let client = Client::new(&addr, None, None).unwrap();
    let err = client
        .get_secret("p", "e", "../etc/passwd", &ReadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName(_)), "{err:?}");
    assert_eq!(seen.lock().unwrap().uri, "", "nothing was sent");
}

#[tokio::test]
async fn unreachable_servers_are_named() {
    // Bind then drop a listener to get a port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::new(&addr, Some("lsh_secret_token".into()), None).unwrap();
    let err = client.list_projects().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot reach the Leash server at {addr}")),
        "{text}"
    );
    assert!(!format!("{err:?}").contains("lsh_secret_token"));
}
