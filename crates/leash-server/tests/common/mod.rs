//! Test harness: start a real server on 127.0.0.1:0 and talk HTTP to it.
#![allow(dead_code)]

use std::path::Path;

use leash_server::{Server, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct TestServer {
    pub server: Server,
    pub url: String,
    pub token: String,
    pub http: reqwest::Client,
}

pub fn config(dir: Option<&Path>) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.map(Path::to_path_buf).unwrap_or_default(),
        ..ServerConfig::default()
    }
}

/// A `--dev` server: initialised, unsealed, with its root token.
pub async fn dev() -> TestServer {
    dev_with(config(None)).await
}

/// A route pattern of the route table with every parameter filled in (`p`, `e`, `K`, `x`).
pub fn concrete(path: &str) -> String {
    path.replace("{project}", "p")
        .replace("{env}", "e")
        .replace("{*path}", "K")
        .replace("{name}", "x")
}

/// A sealed, uninitialised server on `dir`.
pub async fn fresh(dir: &Path) -> TestServer {
    fresh_with(config(Some(dir))).await
}

/// A sealed server with `config` (uninitialised on a new store).
pub async fn fresh_with(config: ServerConfig) -> TestServer {
    let server = leash_server::start(config, false).await.unwrap();
    let url = server.url();
    TestServer {
        server,
        url,
        token: String::new(),
        http: reqwest::Client::new(),
    }
}

impl TestServer {
    /// Initialises a fresh server with one unseal share, takes its root token
    /// and unseals it; returns the share (for unsealing after a restart).
    pub async fn init_and_unseal(&mut self) -> String {
        let (status, init) = self
            .call_as(
                "",
                Method::POST,
                "/api/v1/sys/init",
                Some(json!({"shares": 1, "threshold": 1})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{init}");
        self.token = init["root_token"].as_str().unwrap().to_owned();
        let share = init["unseal_shares"][0].as_str().unwrap().to_owned();
        self.unseal(&share).await;
        share
    }

    /// Unseals with a single share.
    pub async fn unseal(&self, share: &str) {
        let (status, body) = self
            .call_as("", Method::POST, "/api/v1/sys/unseal", Some(json!({"share": share})))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(&self.token.clone(), method, path, body).await
    }

    pub async fn call_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let content_type = resp.headers().get("content-type").map(|v| v.as_bytes().to_vec());
        let not_json = content_type
            .as_deref()
            .is_some_and(|v| v.starts_with(b"text/event-stream") || v.starts_with(b"application/octet-stream"));
        if not_json {
            // a watch stream stays open, a snapshot is a file: the status is the answer
            return (status, Value::Null);
        }
        let metrics = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/openmetrics-text"));
        let text = resp.text().await.unwrap();
        if metrics {
            // `/metrics` answers text, not JSON
            return (status, Value::String(text));
        }
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// Creates project `p` with environment `e`.
    pub async fn project_env(&self, p: &str, e: &str) {
        assert_eq!(
            self.post("/api/v1/projects", json!({"name": p})).await.0,
            StatusCode::CREATED
        );
        assert_eq!(
            self.post(&format!("/api/v1/projects/{p}/envs"), json!({"name": e}))
                .await
                .0,
            StatusCode::CREATED
        );
    }

    /// Creates project `p` (if needed) and environment `e` in it.
    pub async fn project_env_in(&self, p: &str, e: &str) {
        let (status, body) = self.post("/api/v1/projects", json!({"name": p})).await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::CONFLICT,
            "{body}"
        );
        let (status, body) = self
            .post(&format!("/api/v1/projects/{p}/envs"), json!({"name": e}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub async fn set(&self, path: &str, value: &str) -> Value {
        let (status, body) = self
            .put(
                &format!("/api/v1/projects/p/envs/e/secrets/{path}"),
                json!({"value": value}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn value(&self, path: &str) -> (StatusCode, Value) {
        self.get(&format!("/api/v1/projects/p/envs/e/secrets/{path}")).await
    }
}

/// Every byte of every file under `dir` (database, WAL, anything else).
pub fn all_bytes_under(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_bytes_under(&path));
        } else {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A `--dev` server with `config` (listen and data dir are the test's).
pub async fn dev_with(config: ServerConfig) -> TestServer {
    let server = leash_server::start(config, true).await.unwrap();
    let token = server.dev_root_token.as_ref().unwrap().to_string();
    let url = server.url();
    TestServer {
        server,
        url,
        token,
        http: reqwest::Client::new(),
    }
}

impl TestServer {
    /// Stores policy `name` (TOML).
    pub async fn policy(&self, name: &str, toml: &str) {
        let (status, body) = self
            .put(&format!("/api/v1/policies/{name}"), json!({"policy": toml}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// A direct token carrying `policies` (and `ttl`, when given).
    pub async fn token(&self, policies: &[&str], ttl: Option<&str>) -> String {
        let mut request = json!({"policies": policies});
        if let Some(ttl) = ttl {
            request["ttl"] = json!(ttl);
        }
        let (status, body) = self.post("/api/v1/auth/token/create", request).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }
}
