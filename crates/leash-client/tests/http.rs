//! Black-box tests of the client against a canned HTTP server: what goes on
//! the wire (method, encoded path, query, token header, body) and how answers
//! and failures come back.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use leash_client::{Client, Error, ReadOptions};
use leash_core::api::{
    ChangeKind, ChangeOp, ChangeRequest, ClientLogin, GenerateRootRequest, IdentityUpdate, TokenRef,
};

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
    canned_with(status, body, &[]).await
}

/// Like [`canned`], with extra response headers.
async fn canned_with(
    status: u16,
    body: &'static str,
    extra: &'static [(&'static str, &'static str)],
) -> (String, Arc<Mutex<Seen>>) {
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
            let mut response = (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body,
            )
                .into_response();
            for (name, value) in extra {
                response.headers_mut().insert(*name, value.parse().unwrap());
            }
            response
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
        ..ReadOptions::default()
    };
    let value = client
        .get_secret("payment", "prod", "stripe/API_KEY", &options)
        .await
        .unwrap();
    assert_eq!(value.value.as_str(), "sk_live");
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
        e2e_recipients: None,
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

const TOKEN_CREATED: &str = r#"{"token":"lsh_new","accessor":"acc1","identity":"web","policies":["p"],
 "expires_at":"2030-01-01T00:00:00Z","max_expires_at":null}"#;

#[tokio::test]
async fn logins_post_the_credentials_in_the_body_only() {
    let (addr, seen) = canned(200, TOKEN_CREATED).await;
    let client = Client::new(&addr, None, None).unwrap();
    let login = ClientLogin {
        client_id: "cid".into(),
        client_secret: "csecret".into(),
    };
    let created = client.login_client(&login).await.unwrap();
    assert_eq!(created.token, "lsh_new");
    assert_eq!(created.identity.as_deref(), Some("web"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("POST", "/api/v1/auth/client/login")
    );
    assert_eq!(seen.auth, None, "a tokenless client sends no Authorization");
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"client_id": "cid", "client_secret": "csecret"})
    );
}

#[tokio::test]
async fn rate_limited_logins_carry_retry_after() {
    let body = r#"{"error":{"code":"rate_limited","message":"too many login attempts; try again later"}}"#;
    let (addr, _) = canned_with(429, body, &[("retry-after", "17")]).await;
    let client = Client::new(&addr, None, None).unwrap();
    let login = ClientLogin {
        client_id: "cid".into(),
        client_secret: "wrong-secret".into(),
    };
    let err = client.login_client(&login).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retry_after(), Some(17));
    assert!(!format!("{err} {err:?}").contains("wrong-secret"));
}

#[tokio::test]
async fn token_revocation_sends_the_token_in_the_body() {
    let (addr, seen) = canned(204, "").await;
    let client = Client::new(&addr, Some("lsh_admin".into()), None).unwrap();
    let target = TokenRef {
        token: Some("lsh_victim".into()),
        ..TokenRef::default()
    };
    client.revoke_token(&target).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.uri, "/api/v1/auth/token/revoke", "never in the URL");
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["token"], "lsh_victim");
    client.revoke_self().await.unwrap();
}

#[tokio::test]
async fn identity_updates_are_patches_of_the_given_fields() {
    let info = r#"{"name":"web","kind":"service","policies":["a"],"groups":[],"metadata":{},
      "client_id":"c","client_secret_expires_at":null,"client_secret_uses_left":null,"allowed_cidrs":[],
      "jwt":null,"token_ttl":"1h","token_max_ttl":"24h","created_at":"2025-01-01T00:00:00Z"}"#;
    let (addr, seen) = canned(200, info).await;
    let client = Client::new(&addr, Some("lsh_admin".into()), None).unwrap();
    let update = IdentityUpdate {
        policies: Some(vec!["a".into()]),
        ..IdentityUpdate::default()
    };
    let back = client.update_identity("web", &update).await.unwrap();
    assert_eq!(back.policies, ["a"]);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("PATCH", "/api/v1/identities/web")
    );
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["policies"], serde_json::json!(["a"]));

    let err = client.update_identity("..", &update).await.unwrap_err();
    assert!(matches!(err, Error::InvalidName(_)), "{err:?}");
}

#[tokio::test]
async fn generate_root_reports_progress_and_the_token() {
    let (addr, seen) = canned(200, r#"{"progress":2,"threshold":2,"root_token":"lsh_root"}"#).await;
    let client = Client::new(&addr, None, None).unwrap();
    let request = GenerateRootRequest {
        share: Some("share".into()),
        reset: false,
    };
    let status = client.generate_root(&request).await.unwrap();
    assert_eq!(status.root_token.as_deref(), Some("lsh_root"));
    assert!(!format!("{status:?}").contains("lsh_root"));
    assert_eq!(seen.lock().unwrap().uri, "/api/v1/sys/generate-root");
}
