//! Regression tests of the security review (SECURITY.md): every path an
//! operation touches is authorized, listings are filtered by one rule, a
//! change never commits without its audit record, streams end with their
//! caller's rights, a sealed server answers only what unsealing needs, and
//! request bodies are strict.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use leash_server::routes::{Access, route_table};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ENV: &str = "/api/v1/projects/payment/envs/dev";

/// Everything under `payment`, except `payment/dev/stripe/**`.
const NO_STRIPE: &str = r#"
[[allow]]
path = "payment/**"
capabilities = ["admin"]

[[deny]]
path = "payment/dev/stripe/**"
"#;

async fn change(t: &TestServer, token: &str, changes: Value) -> (StatusCode, Value) {
    t.call_as(
        token,
        Method::POST,
        &format!("{ENV}/changes"),
        Some(json!({ "changes": changes })),
    )
    .await
}

/// payment/dev at revision 3: r1 A=a1; r2 A=a2 stripe/KEY=s2; r3 A=a3 stripe/KEY=s3.
async fn payment_dev() -> TestServer {
    let t = dev().await;
    t.project_env("payment", "dev").await;
    let root = t.token.clone();
    for changes in [
        json!([{"path": "A", "op": "set", "value": "a1"}]),
        json!([{"path": "A", "op": "set", "value": "a2"}, {"path": "stripe/KEY", "op": "set", "value": "s2"}]),
        json!([{"path": "A", "op": "set", "value": "a3"}, {"path": "stripe/KEY", "op": "set", "value": "s3"}]),
    ] {
        let (status, body) = change(&t, &root, changes).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    t
}

/// What the environment holds, as root sees it.
async fn state(t: &TestServer) -> Value {
    let (_, list) = t.get(&format!("{ENV}/secrets?include_values=true")).await;
    let (_, meta) = t.get(&format!("{ENV}/metadata/stripe/KEY")).await;
    let (_, envs) = t.get("/api/v1/projects/payment/envs").await;
    json!({"list": list, "stripe": meta, "envs": envs})
}

fn refused(status: StatusCode) -> bool {
    matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND)
}

/// How the walk checks one route that touches an environment as a whole.
enum Check {
    /// A change: refused whole, nothing changed.
    RefusedWhole(Value),
    /// A listing: answers, but never names a denied path.
    Filtered,
    /// Touches no secret path (creating an environment, its e2e status...).
    NoSecretPaths,
}

#[tokio::test]
async fn every_operation_on_several_paths_authorizes_each_path() {
    let t = payment_dev().await;
    t.policy("no-stripe", NO_STRIPE).await;
    let token = t.token(&["no-stripe"], None).await;
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    let walk: Vec<(Method, &str, &str, Check)> = vec![
        (
            Method::POST,
            "/rollback",
            "/rollback",
            Check::RefusedWhole(json!({"to": 2})),
        ),
        (
            Method::POST,
            "/rollback",
            "/rollback",
            Check::RefusedWhole(json!({"to": 1})),
        ),
        (
            Method::POST,
            "/rollback",
            "/rollback",
            Check::RefusedWhole(json!({"to": 0})),
        ),
        (
            Method::POST,
            "/changes",
            "/changes",
            Check::RefusedWhole(json!({"changes": [
                {"path": "A", "op": "set", "value": "x"},
                {"path": "stripe/KEY", "op": "delete"}
            ]})),
        ),
        (
            Method::PUT,
            "/e2e",
            "/e2e",
            // would destroy every stripe/KEY version (none is re-encrypted)
            Check::RefusedWhole(json!({"recipients": [recipient], "cas": 3, "values": []})),
        ),
        (
            Method::GET,
            "/e2e/values",
            "/e2e/values",
            Check::RefusedWhole(Value::Null),
        ),
        (Method::DELETE, "", "", Check::RefusedWhole(Value::Null)),
        (Method::DELETE, "project", "project", Check::RefusedWhole(Value::Null)),
        (
            Method::POST,
            "/move",
            "/move",
            Check::RefusedWhole(json!({"from": "stripe/KEY", "to": "B"})),
        ),
        (
            Method::POST,
            "/move",
            "/move",
            Check::RefusedWhole(json!({"from": "A", "to": "stripe/A"})),
        ),
        (
            Method::POST,
            "/copy",
            "/copy",
            Check::RefusedWhole(json!({"from": "stripe/KEY", "to": "B"})),
        ),
        (
            Method::POST,
            "/copy",
            "/copy",
            Check::RefusedWhole(json!({"from": "A", "to": "stripe/B"})),
        ),
        (Method::GET, "/diff/{other}", "/diff/dev", Check::Filtered),
        (Method::GET, "/secrets", "/secrets", Check::Filtered),
        (Method::GET, "/secrets", "/secrets?include_values=true", Check::Filtered),
        (Method::GET, "/history", "/history", Check::Filtered),
        (Method::GET, "/watch", "/watch", Check::Filtered),
        (Method::GET, "fingerprints", "fingerprints", Check::Filtered),
        (Method::GET, "/e2e", "/e2e", Check::NoSecretPaths),
        (Method::DELETE, "/e2e", "/e2e", Check::NoSecretPaths),
        (Method::GET, "envs", "envs", Check::NoSecretPaths),
        (Method::POST, "envs", "envs", Check::NoSecretPaths),
    ];
    let route_of = |suffix: &str| match suffix {
        "project" => "/api/v1/projects/{project}".to_owned(),
        "envs" => "/api/v1/projects/{project}/envs".to_owned(),
        "fingerprints" => "/api/v1/scan/fingerprints".to_owned(),
        s => format!("/api/v1/projects/{{project}}/envs/{{env}}{s}"),
    };
    // Structure: every route that acts on a project or environment as a whole is walked here.
    let covered: BTreeSet<(String, String)> = walk
        .iter()
        .map(|(m, route, _, _)| (m.to_string(), route_of(route)))
        .collect();
    for route in route_table() {
        let whole = (route.path.starts_with("/api/v1/projects/{project}") && !route.path.contains("{*path}"))
            || route.path == "/api/v1/scan/fingerprints";
        if whole {
            assert!(
                covered.contains(&(route.method.to_string(), route.path.clone())),
                "{} {} acts on several paths: add it to this walk",
                route.method,
                route.path
            );
        }
    }
    let before = state(&t).await;
    for (method, _, suffix, check) in &walk {
        let url = match *suffix {
            "project" => "/api/v1/projects/payment".to_owned(),
            "envs" => "/api/v1/projects/payment/envs".to_owned(),
            "fingerprints" => "/api/v1/scan/fingerprints?project=payment&env=dev".to_owned(),
            s => format!("{ENV}{s}"),
        };
        match check {
            Check::RefusedWhole(body) => {
                let body = (!body.is_null()).then(|| body.clone());
                let (status, answer) = t.call_as(&token, method.clone(), &url, body).await;
                assert!(refused(status), "{method} {url} answered {status}: {answer}");
                assert_eq!(state(&t).await, before, "{method} {url} changed something");
            }
            Check::Filtered if *suffix == "/watch" => {
                let response = t
                    .http
                    .get(format!("{}{url}?after=0", t.url))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                let mut stream = response.bytes_stream();
                let mut seen = String::new();
                while !seen.contains("\"revision\":3") {
                    let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
                    seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap().unwrap()));
                }
                assert!(!seen.contains("stripe"), "watch replay showed a denied path: {seen}");
            }
            Check::Filtered => {
                let (status, answer) = t.call_as(&token, method.clone(), &url, None).await;
                assert_eq!(status, StatusCode::OK, "{method} {url}: {answer}");
                let text = answer.to_string();
                assert!(!text.contains("stripe"), "{method} {url} showed a denied path: {text}");
                if *suffix != "fingerprints" {
                    assert!(
                        text.contains("\"A\""),
                        "{method} {url} hides the allowed path too: {text}"
                    );
                }
            }
            Check::NoSecretPaths => {}
        }
    }
    // and without the deny, the same operations work (the walk refused for the right reason)
    let (status, body) = t
        .call_as(
            &t.token,
            Method::POST,
            &format!("{ENV}/rollback"),
            Some(json!({"to": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn rollback_needs_delete_for_the_paths_it_deletes() {
    let t = payment_dev().await;
    t.policy(
        "write-only",
        "[[allow]]\npath = \"payment/dev/**\"\ncapabilities = [\"write\"]\n",
    )
    .await;
    let token = t.token(&["write-only"], None).await;
    let before = state(&t).await;
    let (status, body) = t
        .call_as(&token, Method::POST, &format!("{ENV}/rollback"), Some(json!({"to": 0})))
        .await;
    assert!(refused(status), "{status}: {body}");
    assert_eq!(state(&t).await, before);
    // restoring values only needs write
    let (status, body) = t
        .call_as(&token, Method::POST, &format!("{ENV}/rollback"), Some(json!({"to": 2})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn denied_requests_are_audited_as_denied_with_the_reason() {
    let t = payment_dev().await;
    t.policy("no-stripe", NO_STRIPE).await;
    let token = t.token(&["no-stripe"], None).await;
    let (status, _) = t
        .call_as(&token, Method::GET, &format!("{ENV}/secrets/stripe/KEY"), None)
        .await;
    assert!(refused(status));
    t.server.state().audit.flush_table().await.unwrap();
    let last = t.server.state().store.audit_scan("", 0, 100_000).await.unwrap();
    let record: Value = last
        .iter()
        .rev()
        .map(|r| serde_json::from_str::<Value>(&r.line).unwrap()["record"].clone())
        .find(|r| r["operation"] == "secret.read" && r["path"] == "stripe/KEY")
        .unwrap();
    assert_eq!(record["status"], status.as_u16(), "{record}");
    let reason = record["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no reason: {record}"));
    assert!(
        reason.contains("denied") && reason.contains("payment/dev/stripe/KEY") && reason.contains("no-stripe"),
        "{reason}"
    );
}

#[tokio::test]
async fn include_values_needs_list_and_read_and_undelete_needs_delete() {
    let t = payment_dev().await;
    t.policy(
        "read-only",
        "[[allow]]\npath = \"payment/dev/**\"\ncapabilities = [\"read\"]\n",
    )
    .await;
    let reader = t.token(&["read-only"], None).await;
    let (status, body) = t
        .call_as(
            &reader,
            Method::GET,
            &format!("{ENV}/secrets?include_values=true"),
            None,
        )
        .await;
    assert!(refused(status), "read without list listed values: {status} {body}");
    t.policy(
        "writer",
        "[[allow]]\npath = \"payment/dev/**\"\ncapabilities = [\"write\", \"list\"]\n",
    )
    .await;
    let writer = t.token(&["writer"], None).await;
    let (status, _) = t.call(Method::DELETE, &format!("{ENV}/secrets/A"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = t
        .call_as(&writer, Method::POST, &format!("{ENV}/undelete/A"), None)
        .await;
    assert!(refused(status), "undelete without delete: {status} {body}");
}

#[tokio::test]
async fn history_hides_changes_and_entries_the_caller_may_not_list() {
    let t = payment_dev().await;
    let (status, _) = change(
        &t,
        &t.token.clone(),
        json!([{"path": "stripe/OTHER", "op": "set", "value": "x"}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    t.policy("no-stripe", NO_STRIPE).await;
    let token = t.token(&["no-stripe"], None).await;
    let (status, history) = t.call_as(&token, Method::GET, &format!("{ENV}/history"), None).await;
    assert_eq!(status, StatusCode::OK);
    let revisions: Vec<i64> = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(revisions, [3, 2, 1], "revision 4 touched only stripe/OTHER: {history}");
    assert!(!history.to_string().contains("stripe"), "{history}");
}

/// The events of an SSE stream until it ends or `limit` passes.
async fn read_stream(response: reqwest::Response, limit: Duration) -> (String, bool) {
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(_) => return (text, true),
            Err(_) => return (text, false),
        }
    }
}

async fn watch(t: &TestServer, token: &str) -> reqwest::Response {
    let response = t
        .http
        .get(format!("{}{ENV}/watch", t.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
}

#[tokio::test]
async fn watch_streams_end_when_their_rights_end() {
    let t = payment_dev().await;
    t.policy(
        "reader",
        "[[allow]]\npath = \"payment/**\"\ncapabilities = [\"read\", \"list\"]\n",
    )
    .await;
    // revoked
    let token = t.token(&["reader"], None).await;
    let stream = watch(&t, &token).await;
    let reading = tokio::spawn(read_stream(stream, Duration::from_secs(3)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = t.post("/api/v1/auth/token/revoke", json!({"token": token})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let revoked_at = Instant::now();
    let (status, _) = change(
        &t,
        &t.token.clone(),
        json!([{"path": "A", "op": "set", "value": "after-revoke"}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (text, ended) = reading.await.unwrap();
    assert!(
        ended && revoked_at.elapsed() < Duration::from_secs(1),
        "still open: {text}"
    );
    assert!(
        text.contains("event: closed") && text.contains("token_revoked"),
        "{text}"
    );
    assert!(
        !text.contains("\"revision\":4"),
        "a change after the revocation was delivered: {text}"
    );

    // expired
    let token = t.token(&["reader"], Some("2s")).await;
    let stream = watch(&t, &token).await;
    let started = Instant::now();
    let (text, ended) = read_stream(stream, Duration::from_secs(4)).await;
    assert!(ended && started.elapsed() < Duration::from_secs(3), "{text}");
    assert!(text.contains("token_expired"), "{text}");

    // policy changed: no read left
    let token = t.token(&["reader"], None).await;
    let stream = watch(&t, &token).await;
    let reading = tokio::spawn(read_stream(stream, Duration::from_secs(3)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    t.policy(
        "reader",
        "[[allow]]\npath = \"shipping/**\"\ncapabilities = [\"read\"]\n",
    )
    .await;
    let (text, ended) = reading.await.unwrap();
    assert!(ended && text.contains("access_removed"), "{text}");

    // identity deleted
    t.policy(
        "reader",
        "[[allow]]\npath = \"payment/**\"\ncapabilities = [\"read\", \"list\"]\n",
    )
    .await;
    let (status, created) = t
        .post(
            "/api/v1/identities",
            json!({"name": "svc", "kind": "service", "policies": ["reader"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, login) = t
        .call_as(
            "",
            Method::POST,
            "/api/v1/auth/client/login",
            Some(json!({"client_id": created["client_id"], "client_secret": created["client_secret"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let stream = watch(&t, login["token"].as_str().unwrap()).await;
    let reading = tokio::spawn(read_stream(stream, Duration::from_secs(3)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        t.call(Method::DELETE, "/api/v1/identities/svc", None).await.0,
        StatusCode::NO_CONTENT
    );
    let (text, ended) = reading.await.unwrap();
    assert!(ended && text.contains("event: closed"), "{text}");
}

#[tokio::test]
async fn a_sealed_server_answers_only_what_unsealing_needs() {
    let t = dev().await;
    assert_eq!(t.call(Method::POST, "/api/v1/sys/seal", None).await.0, StatusCode::OK);
    for route in route_table() {
        let path = concrete(&route.path);
        let (status, body) = t.call(route.method.clone(), &path, Some(json!({}))).await;
        if route.access == Access::Unsealing {
            assert_ne!(
                body["error"]["code"], "sealed",
                "{} {path}: {status} {body}",
                route.method
            );
        } else {
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (StatusCode::SERVICE_UNAVAILABLE, Some("sealed")),
                "{} {path} on a sealed server: {body}",
                route.method
            );
        }
    }
}

/// A header name and value.
type Header = (&'static str, &'static str);

async fn raw(t: &TestServer, method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> (StatusCode, String) {
    let mut request = t.http.request(method, format!("{}{path}", t.url)).bearer_auth(&t.token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.body(body.to_owned()).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn json_bodies_are_strict_and_browsers_cannot_drive_the_api() {
    let t = dev().await;
    t.project_env("p", "e").await;
    const JSON_TYPE: (&str, &str) = ("content-type", "application/json");
    let json_type = JSON_TYPE;
    let cases: Vec<(&str, &[Header], &str, StatusCode)> = vec![
        (
            "text/plain",
            &[("content-type", "text/plain")],
            r#"{"value":"x"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("no type", &[], r#"{"value":"x"}"#, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            "form",
            &[("content-type", "application/x-www-form-urlencoded")],
            "value=x",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "unknown field",
            &[JSON_TYPE],
            r#"{"value":"x","cass":1}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "trailing data",
            &[JSON_TYPE],
            r#"{"value":"x"} {"value":"y"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "foreign origin",
            &[JSON_TYPE, ("origin", "https://evil.example")],
            r#"{"value":"x"}"#,
            StatusCode::FORBIDDEN,
        ),
    ];
    for (name, headers, body, want) in cases {
        let (status, answer) = raw(&t, Method::PUT, "/api/v1/projects/p/envs/e/secrets/K", headers, body).await;
        assert_eq!(status, want, "{name}: {answer}");
        assert!(
            !answer.contains("\"x\"") && !answer.contains("\"y\""),
            "{name} echoed input: {answer}"
        );
        assert_eq!(t.value("K").await.0, StatusCode::NOT_FOUND, "{name} wrote the secret");
    }
    // the server's own origin and a JSON body are fine
    let own = t.url.clone();
    let (status, answer) = raw(
        &t,
        Method::PUT,
        "/api/v1/projects/p/envs/e/secrets/K",
        &[json_type, ("origin", &own)],
        r#"{"value":"x"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // nothing is cacheable
    let response = t
        .http
        .get(format!("{}/api/v1/projects/p/envs/e/secrets/K", t.url))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn change_sets_have_a_cap() {
    let mut config = config(None);
    config.max_change_ops = 3;
    let t = dev_with(config).await;
    t.project_env("p", "e").await;
    let ops: Vec<Value> = (0..4)
        .map(|i| json!({"path": format!("K{i}"), "op": "set", "value": "v"}))
        .collect();
    let (status, body) = t
        .post("/api/v1/projects/p/envs/e/changes", json!({"changes": ops}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("max_change_ops"),
        "{body}"
    );
    assert_eq!(t.value("K0").await.0, StatusCode::NOT_FOUND);
}

/// A tmpfs of 64 KiB mounted for one test (needs root, as CI has).
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs needs root (CI runs as root)");
        Self(dir)
    }

    fn fill(&self) {
        let _ = std::fs::write(self.0.path().join("fill"), vec![0u8; 1 << 20]);
    }

    fn free(&self) {
        std::fs::remove_file(self.0.path().join("fill")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// What a change through any mutating route would show.
async fn everything(t: &TestServer) -> Value {
    let mut all = json!({});
    for path in [
        "/api/v1/projects",
        "/api/v1/projects/p/envs",
        "/api/v1/projects/p/envs/e/secrets?include_values=true",
        "/api/v1/identities",
        "/api/v1/groups",
        "/api/v1/policies",
        "/api/v1/sys/keyring",
        "/api/v1/auth/jwt/issuers",
        "/api/v1/projects/p/envs/e/rotation/K",
    ] {
        all[path] = t.get(path).await.1;
    }
    all
}

#[tokio::test]
async fn no_change_commits_when_its_audit_record_cannot_be_written() {
    let tmpfs = Tmpfs::mount();
    let mut config = config(None);
    config.audit_file = Some(tmpfs.0.path().join("audit.jsonl"));
    let t = dev_with(config).await;
    t.project_env("p", "e").await;
    t.set("K", "v1").await;
    let before = everything(&t).await;
    tmpfs.fill();
    // use up what is left of the file's last block
    let mut full = false;
    for _ in 0..500 {
        let (status, body) = t.get("/api/v1/auth/token/lookup-self").await;
        if status == StatusCode::SERVICE_UNAVAILABLE && body["error"]["code"] == "audit_unavailable" {
            full = true;
            break;
        }
    }
    assert!(full, "the audit file never filled up");
    let bodies = [
        json!({}),
        json!({"value": "v2", "name": "n", "policies": [], "policy": "[[allow]]\npath=\"**\"\ncapabilities=[\"read\"]\n", "kind": "user", "password": "pw-123456789"}),
    ];
    for route in route_table().into_iter().filter(|r| r.method != Method::GET) {
        let path = concrete(&route.path);
        for body in &bodies {
            let (status, answer) = t.call(route.method.clone(), &path, Some(body.clone())).await;
            assert_eq!(
                (status, answer["error"]["code"].as_str()),
                (StatusCode::SERVICE_UNAVAILABLE, Some("audit_unavailable")),
                "{} {path} with the audit file full: {answer}",
                route.method
            );
        }
    }
    tmpfs.free();
    let mut up = false;
    for _ in 0..50 {
        if t.get("/api/v1/auth/token/lookup-self").await.0 == StatusCode::OK {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the server did not recover once the audit file had room");
    assert_eq!(everything(&t).await, before, "a request answered 503 changed something");
}

#[tokio::test]
async fn an_immutable_audit_file_stops_changes_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let mut config = config(None);
    config.audit_file = Some(file.clone());
    let t = dev_with(config).await;
    t.project_env("p", "e").await;
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(&file)
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(
        chattr("+i"),
        "chattr +i needs root and a file system with attributes (CI has both)"
    );
    t.server.reopen_audit_file();
    let (status, body) = t
        .put(
            "/api/v1/projects/p/envs/e/secrets/NO_AUDIT",
            json!({"value": "must-not-commit"}),
        )
        .await;
    let (status2, _) = t.post("/api/v1/projects", json!({"name": "q"})).await;
    assert!(chattr("-i"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(status2, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(t.value("NO_AUDIT").await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.get("/api/v1/projects/q/envs").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_server_whose_audit_file_cannot_be_written_does_not_start() {
    // (crates/leash/tests/security.rs checks, with a real process, that --dev leaves no temp directory)
    let mut config = config(None);
    config.audit_file = Some("/dev/full".into());
    let error = match leash_server::start(config, true).await {
        Ok(_) => panic!("started with /dev/full as its audit file"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("/dev/full") && error.contains("audit"), "{error}");
}

#[tokio::test]
async fn store_and_audit_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // the umask is per process: the other tests of this binary create nothing that depends on it
    let old = set_umask(0o022);
    let mut t = fresh(&data).await;
    t.init_and_unseal().await;
    t.project_env("p", "e").await;
    t.set("K", "v").await;
    set_umask(old);
    let mut open = Vec::new();
    for entry in walk(&data) {
        let mode = std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            open.push(format!("{} {mode:o}", entry.display()));
        }
    }
    assert!(open.is_empty(), "{open:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Sets the process umask (the server must not depend on it), returning the old one.
fn set_umask(mode: u32) -> u32 {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mode)).bits()
}
