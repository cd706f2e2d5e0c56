//! The Vault-compatible API (`/v1/`) driven by a real Vault client (the
//! vaultrs crate) and by raw requests for the shapes: KV v2 over Leash's
//! folders, CAS, delete/undelete/destroy, metadata, lists filtered by policy,
//! AppRole logins, tokens, mounts, TLS; and a walk of every `/v1/` route
//! (no token → 403, sealed → 503, one audit record each).

mod common;

use std::collections::HashMap;

use common::*;
use leash_server::routes::{Access, vault_route_table};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use vaultrs::{kv2, sys, token};

fn client(url: &str, token: &str) -> VaultClient {
    VaultClient::new(
        VaultClientSettingsBuilder::default()
            .address(url)
            .token(token)
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn status_of(e: &ClientError) -> Option<u16> {
    match e {
        ClientError::APIError { code, .. } => Some(*code),
        // an answer without `errors` (a deleted version's metadata) reaches vaultrs as this
        ClientError::RestClientError {
            source: rustify::errors::ClientError::ServerResponseError { code, .. },
        } => Some(*code),
        _ => None,
    }
}

async fn vault(t: &TestServer, token: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = t.http.request(method, format!("{}{path}", t.url));
    if !token.is_empty() {
        request = request.header("X-Vault-Token", token);
    }
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"))
    };
    (status, value)
}

async fn with_kv_mount() -> (TestServer, VaultClient) {
    let t = dev().await;
    let c = client(&t.url, &t.token);
    sys::mount::enable(&c, "kv", "kv-v2", None).await.unwrap();
    (t, c)
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn kv_v2_with_vaultrs_reads_and_writes_leash_folders() {
    let (t, c) = with_kv_mount().await;
    let v1 = kv2::set(&c, "kv", "prod/db", &map(&[("user", "u1"), ("password", "p1")]))
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    let v2 = kv2::set(&c, "kv", "prod/db", &map(&[("user", "u2"), ("password", "p2")]))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let now: HashMap<String, String> = kv2::read(&c, "kv", "prod/db").await.unwrap();
    assert_eq!(now, map(&[("user", "u2"), ("password", "p2")]));
    let first: HashMap<String, String> = kv2::read_version(&c, "kv", "prod/db", 1).await.unwrap();
    assert_eq!(first, map(&[("user", "u1"), ("password", "p1")]));

    // the Vault secret is the folder kv/prod/db: each key is a Leash secret
    let (status, native) = t.get("/api/v1/projects/kv/envs/prod/secrets/db/password").await;
    assert_eq!(
        (status, native["value"].as_str()),
        (StatusCode::OK, Some("p2")),
        "{native}"
    );
    assert_eq!(native["env_var"], "DB_PASSWORD");
    // and a native secret at the environment's top level is the Vault secret kv/prod
    let (status, _) = t
        .put(
            "/api/v1/projects/kv/envs/prod/secrets/DATABASE_URL",
            json!({"value": "postgres://x"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let top: HashMap<String, String> = kv2::read(&c, "kv", "prod").await.unwrap();
    assert_eq!(top, map(&[("DATABASE_URL", "postgres://x")]));

    // CAS: a stale version is refused with Vault's message and changes nothing
    let stale = kv2::set_with_options(
        &c,
        "kv",
        "prod/db",
        &map(&[("user", "x")]),
        vaultrs::api::kv2::requests::SetSecretRequestOptions { cas: 1 },
    )
    .await
    .unwrap_err();
    match &stale {
        ClientError::APIError { code: 400, errors } => {
            assert_eq!(errors, &["check-and-set parameter did not match the current version"]);
        }
        other => panic!("stale CAS: {other:?}"),
    }
    let v3 = kv2::set_with_options(
        &c,
        "kv",
        "prod/db",
        &map(&[("user", "u3")]),
        vaultrs::api::kv2::requests::SetSecretRequestOptions { cas: 2 },
    )
    .await
    .unwrap();
    assert_eq!(v3.version, 3);
    // a write replaces the key set: password is gone from version 3, and from the folder
    let now: HashMap<String, String> = kv2::read(&c, "kv", "prod/db").await.unwrap();
    assert_eq!(now, map(&[("user", "u3")]));
    let (status, _) = t.get("/api/v1/projects/kv/envs/prod/secrets/db/password").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let meta = kv2::read_metadata(&c, "kv", "prod/db").await.unwrap();
    assert_eq!(
        (meta.current_version, meta.oldest_version, meta.versions.len()),
        (3, 1, 3)
    );
    kv2::set(&c, "kv", "prod/stripe/api", &map(&[("key", "sk")]))
        .await
        .unwrap();
    let mut keys = kv2::list(&c, "kv", "prod").await.unwrap();
    keys.sort();
    assert_eq!(keys, vec!["db", "stripe/"]);
    assert_eq!(kv2::list(&c, "kv", "prod/stripe").await.unwrap(), vec!["api"]);
    assert_eq!(kv2::list(&c, "kv", "").await.unwrap(), vec!["prod/"]);
    let missing = kv2::list(&c, "kv", "prod/none").await.unwrap_err();
    assert_eq!(status_of(&missing), Some(404), "{missing:?}");

    // delete the current version (not a new version), undelete it, destroy an old one
    kv2::delete_latest(&c, "kv", "prod/db").await.unwrap();
    let gone = kv2::read::<HashMap<String, String>>(&c, "kv", "prod/db")
        .await
        .unwrap_err();
    assert_eq!(status_of(&gone), Some(404), "{gone:?}");
    let meta = kv2::read_metadata(&c, "kv", "prod/db").await.unwrap();
    assert_eq!(meta.current_version, 3);
    assert!(!meta.versions["3"].deletion_time.is_empty());
    kv2::undelete_versions(&c, "kv", "prod/db", vec![3]).await.unwrap();
    let back: HashMap<String, String> = kv2::read(&c, "kv", "prod/db").await.unwrap();
    assert_eq!(back, map(&[("user", "u3")]));
    kv2::destroy_versions(&c, "kv", "prod/db", vec![1]).await.unwrap();
    let destroyed = kv2::read_version::<HashMap<String, String>>(&c, "kv", "prod/db", 1)
        .await
        .unwrap_err();
    assert_eq!(status_of(&destroyed), Some(404));
    let meta = kv2::read_metadata(&c, "kv", "prod/db").await.unwrap();
    assert!(meta.versions["1"].destroyed && !meta.versions["2"].destroyed);
    let second: HashMap<String, String> = kv2::read_version(&c, "kv", "prod/db", 2).await.unwrap();
    assert_eq!(second["password"], "p2");
    // older versions cannot be soft-deleted: refused, naming the rule
    let older = kv2::delete_versions(&c, "kv", "prod/db", vec![2]).await.unwrap_err();
    assert_eq!(status_of(&older), Some(400), "{older:?}");

    // metadata delete: every version destroyed, every key deleted
    kv2::delete_metadata(&c, "kv", "prod/db").await.unwrap();
    let purged = kv2::read_metadata(&c, "kv", "prod/db").await.unwrap_err();
    assert_eq!(status_of(&purged), Some(404));
    let (_, versions) = t.get("/api/v1/projects/kv/envs/prod/metadata/db/user").await;
    assert!(
        versions["versions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["destroyed"] == true),
        "{versions}"
    );
}

#[tokio::test]
async fn vault_shapes_envelope_errors_list_and_tokens() {
    let (t, c) = with_kv_mount().await;
    kv2::set(&c, "kv", "prod/db", &map(&[("password", "one")]))
        .await
        .unwrap();
    let root = t.token.clone();

    let (status, read) = vault(&t, &root, "GET", "/v1/kv/data/prod/db", None).await;
    assert_eq!(status, StatusCode::OK);
    for field in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    ] {
        assert!(read.get(field).is_some(), "envelope lacks {field}: {read}");
    }
    assert_eq!(read["data"]["data"]["password"], "one");
    assert_eq!(read["data"]["metadata"]["version"], 1);
    // Authorization: Bearer works as X-Vault-Token does
    let bearer = t
        .http
        .get(format!("{}/v1/kv/data/prod/db", t.url))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);
    // two different tokens are refused, not resolved by picking one
    let two = t
        .http
        .get(format!("{}/v1/kv/data/prod/db", t.url))
        .bearer_auth(&root)
        .header("X-Vault-Token", "lsh_other")
        .send()
        .await
        .unwrap();
    assert_eq!(two.status(), StatusCode::BAD_REQUEST);

    let (status, missing) = vault(&t, &root, "GET", "/v1/kv/data/prod/none", None).await;
    assert_eq!(
        (status, missing["errors"].is_array()),
        (StatusCode::NOT_FOUND, true),
        "{missing}"
    );
    let (status, bad) = vault(&t, "lsh_not_a_token", "GET", "/v1/kv/data/prod/db", None).await;
    assert_eq!(
        (status, bad["errors"].is_array()),
        (StatusCode::FORBIDDEN, true),
        "{bad}"
    );
    let (status, _) = vault(&t, "", "GET", "/v1/kv/data/prod/db", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // LIST and GET ?list=true are one thing; an empty list is 404 {"errors": []}
    let (status, listed) = vault(&t, &root, "LIST", "/v1/kv/metadata/prod", None).await;
    assert_eq!(
        (status, &listed["data"]["keys"]),
        (StatusCode::OK, &json!(["db"])),
        "{listed}"
    );
    let (_, same) = vault(&t, &root, "GET", "/v1/kv/metadata/prod?list=true", None).await;
    assert_eq!(same["data"]["keys"], listed["data"]["keys"]);
    let (status, empty) = vault(&t, &root, "LIST", "/v1/kv/metadata/prod/none", None).await;
    assert_eq!((status, empty), (StatusCode::NOT_FOUND, json!({"errors": []})));

    // a body without a content type is JSON (Vault's Go client sends none); form bodies are refused
    let (status, _) = vault(
        &t,
        &root,
        "PUT",
        "/v1/kv/data/prod/api",
        Some(json!({"data": {"k": "v"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let form = t
        .http
        .post(format!("{}/v1/kv/data/prod/api", t.url))
        .header("X-Vault-Token", &root)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("data=x")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // bad input names the problem and changes nothing
    let before = vault(&t, &root, "GET", "/v1/kv/data/prod/db", None).await.1["data"]["data"].clone();
    for body in [
        json!({"data": {"nested": {"a": 1}}}),
        json!({"data": {"a/b": "x"}}),
        json!({"data": {}}),
        json!({"data": {"password": null}}),
    ] {
        let (status, answer) = vault(&t, &root, "POST", "/v1/kv/data/prod/db", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["errors"][0].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }
    let after = vault(&t, &root, "GET", "/v1/kv/data/prod/db", None).await.1["data"]["data"].clone();
    assert_eq!(before, after);
    // numbers and booleans are kept as text
    vault(
        &t,
        &root,
        "POST",
        "/v1/kv/data/prod/cfg",
        Some(json!({"data": {"port": 5432, "tls": true}})),
    )
    .await;
    let (_, cfg) = vault(&t, &root, "GET", "/v1/kv/data/prod/cfg", None).await;
    assert_eq!(cfg["data"]["data"], json!({"port": "5432", "tls": "true"}));

    // a JSON merge patch: set one key, remove another
    let patch = t
        .http
        .patch(format!("{}/v1/kv/data/prod/cfg", t.url))
        .header("X-Vault-Token", &root)
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({"data": {"port": "6543", "tls": null}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::OK);
    let (_, cfg) = vault(&t, &root, "GET", "/v1/kv/data/prod/cfg", None).await;
    assert_eq!(cfg["data"]["data"], json!({"port": "6543"}));
    assert_eq!(cfg["data"]["metadata"]["version"], 2);
    let (_, subkeys) = vault(&t, &root, "GET", "/v1/kv/subkeys/prod/cfg", None).await;
    assert_eq!(subkeys["data"]["subkeys"], json!({"port": null}));

    // sys: health with overrides, seal status, mounts, preflight, capabilities
    let (status, health) = vault(&t, "", "GET", "/v1/sys/health", None).await;
    assert_eq!((status, health["sealed"].as_bool()), (StatusCode::OK, Some(false)));
    let (status, _) = vault(&t, "", "GET", "/v1/sys/health?activecode=299", None).await;
    assert_eq!(status.as_u16(), 299);
    let health = sys::health(&c).await.unwrap();
    assert!(health.initialized && !health.sealed);
    let (_, seal) = vault(&t, "", "GET", "/v1/sys/seal-status", None).await;
    assert_eq!(
        (seal["type"].as_str(), seal["sealed"].as_bool()),
        (Some("shamir"), Some(false))
    );
    let (_, mounts) = vault(&t, &root, "GET", "/v1/sys/mounts", None).await;
    assert_eq!(mounts["data"]["kv/"]["options"]["version"], "2", "{mounts}");
    let (_, pre) = vault(&t, &root, "GET", "/v1/sys/internal/ui/mounts/kv/prod/db", None).await;
    assert_eq!(
        (pre["data"]["path"].as_str(), pre["data"]["type"].as_str()),
        (Some("kv/"), Some("kv"))
    );
    let (status, again) = vault(&t, &root, "POST", "/v1/sys/mounts/kv", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{again}");
    let (status, _) = vault(&t, &root, "POST", "/v1/sys/mounts/tr", Some(json!({"type": "transit"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = vault(&t, &root, "GET", "/v1/transit/keys", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // tokens
    let me = token::lookup_self(&c).await.unwrap();
    assert_eq!(me.id, root);
    t.policy(
        "reader",
        "[[allow]]\npath = \"kv/**\"\ncapabilities = [\"read\", \"list\"]\n",
    )
    .await;
    let (status, created) = vault(
        &t,
        &root,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["reader"], "ttl": "1h"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let reader = created["auth"]["client_token"].as_str().unwrap().to_owned();
    assert!(created["auth"]["lease_duration"].as_i64().unwrap() > 3500);
    let rc = client(&t.url, &reader);
    let looked = token::lookup_self(&rc).await.unwrap();
    assert!(
        looked.policies.contains(&"reader".to_owned()) && looked.ttl > 3500,
        "{looked:?}"
    );
    let caps = vault(
        &t,
        &reader,
        "POST",
        "/v1/sys/capabilities-self",
        Some(json!({"paths": ["kv/data/prod/db"]})),
    )
    .await
    .1;
    assert_eq!(caps["data"]["capabilities"], json!(["read"]), "{caps}");
    token::renew_self(&rc, Some("2h")).await.unwrap();
    token::revoke_self(&rc).await.unwrap();
    let (status, _) = vault(&t, &reader, "GET", "/v1/kv/data/prod/db", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a revoked token still reads");
}

const NO_SHIPPING: &str = r#"
[[allow]]
path = "**"
capabilities = ["read", "list"]

[[deny]]
path = "**/shipping/**"
"#;

#[tokio::test]
async fn leash_policies_decide_with_vaults_403_and_filtered_lists() {
    let (t, c) = with_kv_mount().await;
    kv2::set(&c, "kv", "app/cfg", &map(&[("pw", "p")])).await.unwrap();
    kv2::set(&c, "kv", "shipping/db", &map(&[("password", "ship-secret")]))
        .await
        .unwrap();
    t.policy("no-shipping", NO_SHIPPING).await;
    let limited = t.token(&["no-shipping"], None).await;
    let lc = client(&t.url, &limited);

    let allowed: HashMap<String, String> = kv2::read(&lc, "kv", "app/cfg").await.unwrap();
    assert_eq!(allowed["pw"], "p");
    // denied: 403 whether the secret exists or not, with the same answer
    let (status, exists) = vault(&t, &limited, "GET", "/v1/kv/data/shipping/db", None).await;
    let (status2, absent) = vault(&t, &limited, "GET", "/v1/kv/data/shipping/none", None).await;
    assert_eq!((status, status2), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    assert_eq!(
        exists["errors"][0].as_str().map(|m| m.replace("shipping/db", "X")),
        absent["errors"][0].as_str().map(|m| m.replace("shipping/none", "X")),
    );
    assert!(!exists.to_string().contains("ship-secret"));
    let write = kv2::set(&lc, "kv", "app/cfg", &map(&[("pw", "evil")]))
        .await
        .unwrap_err();
    assert_eq!(status_of(&write), Some(403));
    let unchanged: HashMap<String, String> = kv2::read(&c, "kv", "app/cfg").await.unwrap();
    assert_eq!(unchanged["pw"], "p");
    // lists are filtered by policy
    assert_eq!(kv2::list(&lc, "kv", "").await.unwrap(), vec!["app/"]);
    let mut all = kv2::list(&c, "kv", "").await.unwrap();
    all.sort();
    assert_eq!(all, vec!["app/", "shipping/"]);
    let (_, mounts) = vault(&t, &limited, "GET", "/v1/sys/mounts", None).await;
    assert!(mounts["data"]["kv/"].is_object());

    // one key the token may not read refuses the whole secret
    kv2::set(&c, "kv", "app/mixed", &map(&[("open", "o"), ("hidden", "h")]))
        .await
        .unwrap();
    t.policy(
        "no-hidden",
        "[[allow]]\npath = \"kv/**\"\ncapabilities = [\"read\", \"list\"]\n\n[[deny]]\npath = \"kv/app/mixed/hidden\"\n",
    )
    .await;
    let partial = t.token(&["no-hidden"], None).await;
    let (status, answer) = vault(&t, &partial, "GET", "/v1/kv/data/app/mixed", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(!answer.to_string().contains("\"o\""));

    // every request is one audit record with the Leash address and the native operation, and no value
    t.server.state().audit.flush_table().await.unwrap();
    let rows = t.server.state().store.audit_scan("", 0, 10_000).await.unwrap();
    let records: Vec<Value> = rows
        .iter()
        .filter(|r| r.kind == "request")
        .map(|r| serde_json::from_str::<Value>(&r.line).unwrap()["record"].clone())
        .filter(|r| r["route"].as_str().is_some_and(|p| p.starts_with("/v1/")))
        .collect();
    assert!(records.iter().any(|r| {
        r["operation"] == "secret.read" && r["project"] == "kv" && r["env"] == "shipping" && r["status"] == 403
    }));
    assert!(
        records
            .iter()
            .any(|r| r["operation"] == "secret.list" && r["project"] == "kv")
    );
    assert!(
        records
            .iter()
            .any(|r| r["operation"] == "secret.change" && r["path"] == "cfg")
    );
    for row in &rows {
        assert!(
            !row.line.contains("ship-secret"),
            "a value in the audit log: {}",
            row.line
        );
    }
}

#[tokio::test]
async fn approle_login_is_a_service_identitys_client_login() {
    let (t, c) = with_kv_mount().await;
    kv2::set(&c, "kv", "app/cfg", &map(&[("pw", "p")])).await.unwrap();
    t.policy(
        "reader",
        "[[allow]]\npath = \"kv/app/**\"\ncapabilities = [\"read\", \"list\"]\n",
    )
    .await;
    let (status, identity) = t
        .post(
            "/api/v1/identities",
            json!({"name": "app-svc", "kind": "service", "policies": ["reader"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{identity}");
    let anonymous = client(&t.url, "");
    let auth = vaultrs::auth::approle::login(
        &anonymous,
        "approle",
        identity["client_id"].as_str().unwrap(),
        identity["client_secret"].as_str().unwrap(),
    )
    .await
    .unwrap();
    assert!(
        auth.client_token.starts_with("lsh_") && auth.lease_duration > 0,
        "{auth:?}"
    );
    let svc = client(&t.url, &auth.client_token);
    let read: HashMap<String, String> = kv2::read(&svc, "kv", "app/cfg").await.unwrap();
    assert_eq!(read["pw"], "p");
    let refused = kv2::set(&svc, "kv", "app/cfg", &map(&[("pw", "x")])).await.unwrap_err();
    assert_eq!(status_of(&refused), Some(403));
    // a wrong secret is refused like a native login (no detail)
    let wrong = vaultrs::auth::approle::login(
        &anonymous,
        "approle",
        identity["client_id"].as_str().unwrap(),
        "lsc_wrong",
    )
    .await
    .unwrap_err();
    assert_eq!(status_of(&wrong), Some(403), "{wrong:?}");
}

#[tokio::test]
async fn max_versions_destroys_what_falls_out() {
    let (t, c) = with_kv_mount().await;
    let (status, _) = vault(&t, &t.token, "POST", "/v1/kv/config", Some(json!({"max_versions": 2}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for v in ["a", "b", "c"] {
        kv2::set(&c, "kv", "prod/k", &map(&[("v", v)])).await.unwrap();
    }
    let meta = kv2::read_metadata(&c, "kv", "prod/k").await.unwrap();
    assert_eq!(
        (meta.current_version, meta.oldest_version, meta.max_versions),
        (3, 2, 2)
    );
    assert!(!meta.versions.contains_key("1"));
    let old = kv2::read_version::<HashMap<String, String>>(&c, "kv", "prod/k", 1)
        .await
        .unwrap_err();
    assert_eq!(status_of(&old), Some(404));
    // the value that fell out is destroyed in Leash too
    let (_, native) = t.get("/api/v1/projects/kv/envs/prod/metadata/k/v").await;
    assert_eq!(native["versions"][0]["destroyed"], true, "{native}");
    // cas_required on the secret
    let (status, _) = vault(
        &t,
        &t.token,
        "POST",
        "/v1/kv/metadata/prod/k",
        Some(json!({"cas_required": true, "custom_metadata": {"owner": "team-a"}})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, answer) = vault(
        &t,
        &t.token,
        "POST",
        "/v1/kv/data/prod/k",
        Some(json!({"data": {"v": "d"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["errors"][0], "check-and-set parameter required for this call");
    let meta = kv2::read_metadata(&c, "kv", "prod/k").await.unwrap();
    assert_eq!(meta.custom_metadata.unwrap()["owner"], "team-a");
    let (status, _) = vault(
        &t,
        &t.token,
        "POST",
        "/v1/kv/config",
        Some(json!({"delete_version_after": "1h"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A request for each `/v1/` route pattern.
fn concrete_vault(path: &str) -> String {
    path.replace("{mount}", "kv").replace("{*path}", "prod/x")
}

#[tokio::test]
async fn every_vault_route_needs_its_token_answers_sealed_and_is_audited_once() {
    let (t, _) = with_kv_mount().await;
    let routes = vault_route_table();
    assert!(routes.len() > 40, "{}", routes.len());
    for route in &routes {
        let path = concrete_vault(&route.path);
        let (status, body) = vault(&t, "", route.method.as_str(), &path, Some(json!({}))).await;
        if route.access.needs_token() {
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{} {path} without a token: {body}",
                route.method
            );
            assert!(body["errors"].is_array(), "{} {path}: {body}", route.method);
        }
    }
    // one audit record per request, with the route's operation (or the native one it names)
    for route in routes
        .iter()
        .filter(|r| !r.path.contains("seal") && !r.path.contains("revoke-self"))
    {
        let path = concrete_vault(&route.path);
        t.server.state().audit.flush_table().await.unwrap();
        let before = t
            .server
            .state()
            .store
            .audit_last("", false)
            .await
            .unwrap()
            .map_or(0, |r| r.seq);
        vault(&t, &t.token, route.method.as_str(), &path, Some(json!({}))).await;
        t.server.state().audit.flush_table().await.unwrap();
        let records: Vec<Value> = t
            .server
            .state()
            .store
            .audit_scan("", before, 1000)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.kind == "request")
            .map(|r| serde_json::from_str::<Value>(&r.line).unwrap()["record"].clone())
            .collect();
        assert_eq!(records.len(), 1, "{} {path}: {records:?}", route.method);
        assert_eq!(records[0]["route"], route.path.as_str());
    }
    // sealed: every route but health, seal status, init and unseal answers 503 in Vault's shape
    let (status, _) = vault(&t, &t.token, "POST", "/v1/sys/seal", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for route in &routes {
        let path = concrete_vault(&route.path);
        let (status, body) = vault(&t, &t.token, route.method.as_str(), &path, Some(json!({}))).await;
        if route.access == Access::Unsealing {
            // answered while sealed (health answers 503 by design, without an error)
            let health = route.path == "/v1/sys/health";
            assert!(
                (status != StatusCode::SERVICE_UNAVAILABLE || health)
                    && body.get("errors").is_none_or(|e| !e.to_string().contains("sealed")),
                "{} {path} sealed: {status} {body}",
                route.method
            );
        } else {
            assert_eq!(
                status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{} {path} sealed: {body}",
                route.method
            );
            assert!(body["errors"].is_array(), "{} {path}: {body}", route.method);
        }
    }
    let (status, _) = vault(&t, "", "GET", "/v1/sys/health", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = vault(&t, "", "GET", "/v1/sys/health?sealedcode=200", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn init_and_unseal_through_vaults_api() {
    let dir = tempfile::tempdir().unwrap();
    let t = fresh(dir.path()).await;
    let c = client(&t.url, "");
    let (status, _) = vault(&t, "", "GET", "/v1/sys/health", None).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    let init = sys::start_initialization(&c, 3, 2, None).await.unwrap();
    assert_eq!((init.keys.len(), init.keys_base64.len()), (3, 3));
    let status = sys::unseal(&c, Some(init.keys[0].clone()), None, None).await.unwrap();
    assert!(status.sealed && status.progress == 1);
    // reset forgets the progress; a base64 key counts as the printed one
    let (_, reset) = vault(&t, "", "POST", "/v1/sys/unseal", Some(json!({"reset": true}))).await;
    assert_eq!(reset["progress"], 0);
    sys::unseal(&c, Some(init.keys_base64[1].clone()), None, None)
        .await
        .unwrap();
    let status = sys::unseal(&c, Some(init.keys[2].clone()), None, None).await.unwrap();
    assert!(!status.sealed, "{status:?}");
    let root = client(&t.url, &init.root_token);
    assert_eq!(token::lookup_self(&root).await.unwrap().policies, vec!["root"]);
}

/// A CA, a server certificate for `localhost` and a client certificate it signed, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
    client_pem: String,
}

impl Pki {
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "leash test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["localhost".into()], ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf(vec!["app.example".into()], ExtendedKeyUsagePurpose::ClientAuth);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("server.pem"), server_cert).unwrap();
    std::fs::write(dir.path().join("server.key"), server_key).unwrap();
    Pki {
        dir,
        client_pem: format!("{client_cert}{client_key}"),
    }
}

fn tls_client(pki: &Pki, url: &str, token: &str, with_certificate: bool) -> VaultClient {
    let identity = with_certificate.then(|| reqwest::Identity::from_pem(pki.client_pem.as_bytes()).unwrap());
    VaultClient::new(
        VaultClientSettingsBuilder::default()
            .address(url)
            .token(token)
            .ca_certs(vec![pki.path("ca.pem").display().to_string()])
            .identity(identity)
            .build()
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn vault_clients_over_tls_with_and_without_a_client_certificate() {
    let pki = pki();
    let mut tls = config(None);
    tls.tls_cert = Some(pki.path("server.pem"));
    tls.tls_key = Some(pki.path("server.key"));

    // TLS: a client is served whether it presents a certificate or not (the token decides)
    let t = dev_with(tls.clone()).await;
    let url = t.url.replace("127.0.0.1", "localhost");
    assert!(url.starts_with("https://"));
    sys::mount::enable(&tls_client(&pki, &url, &t.token, false), "kv", "kv-v2", None)
        .await
        .unwrap();
    for with_certificate in [false, true] {
        let c = tls_client(&pki, &url, &t.token, with_certificate);
        kv2::set(&c, "kv", "prod/db", &map(&[("password", "tls-value")]))
            .await
            .unwrap();
        let read: HashMap<String, String> = kv2::read(&c, "kv", "prod/db").await.unwrap();
        assert_eq!(
            read["password"], "tls-value",
            "with a client certificate: {with_certificate}"
        );
    }

    // mutual TLS (tls_client_ca): only a client with a certificate the CA signed gets in
    let mut mutual = tls;
    mutual.tls_client_ca = Some(pki.path("ca.pem"));
    let m = dev_with(mutual).await;
    let url = m.url.replace("127.0.0.1", "localhost");
    let with = tls_client(&pki, &url, &m.token, true);
    sys::mount::enable(&with, "kv", "kv-v2", None).await.unwrap();
    kv2::set(&with, "kv", "prod/db", &map(&[("password", "mtls-value")]))
        .await
        .unwrap();
    let read: HashMap<String, String> = kv2::read(&with, "kv", "prod/db").await.unwrap();
    assert_eq!(read["password"], "mtls-value");
    let without = tls_client(&pki, &url, &m.token, false);
    let refused = sys::health(&without).await;
    assert!(
        refused.is_err(),
        "a client without a certificate was served under tls_client_ca"
    );
    assert!(
        token::lookup_self(&with).await.is_ok(),
        "the client with a certificate is served"
    );
}

#[tokio::test]
async fn concurrent_vault_writes_are_each_one_whole_version() {
    let (t, _) = with_kv_mount().await;
    // writers of different folders of one environment: every write lands, re-planned when another came first
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (url, token) = (t.url.clone(), t.token.clone());
        tasks.push(tokio::spawn(async move {
            let c = client(&url, &token);
            for n in 0..5 {
                let data = map(&[("a", &format!("{i}-{n}")), ("b", &format!("{i}-{n}"))]);
                kv2::set(&c, "kv", &format!("prod/f{i}"), &data).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let c = client(&t.url, &t.token);
    for i in 0..6 {
        let meta = kv2::read_metadata(&c, "kv", &format!("prod/f{i}")).await.unwrap();
        assert_eq!(meta.current_version, 5, "folder f{i}");
        let now: HashMap<String, String> = kv2::read(&c, "kv", &format!("prod/f{i}")).await.unwrap();
        assert_eq!(now, map(&[("a", &format!("{i}-4")), ("b", &format!("{i}-4"))]));
    }
    // writers racing on one secret with the same CAS: exactly one wins each round
    for round in 0..3u32 {
        let mut racers = Vec::new();
        for r in 0..4 {
            let (url, token) = (t.url.clone(), t.token.clone());
            racers.push(tokio::spawn(async move {
                let c = client(&url, &token);
                let options = vaultrs::api::kv2::requests::SetSecretRequestOptions { cas: round };
                kv2::set_with_options(&c, "kv", "prod/race", &map(&[("who", &r.to_string())]), options)
                    .await
                    .is_ok()
            }));
        }
        let mut wins = 0;
        for racer in racers {
            wins += usize::from(racer.await.unwrap());
        }
        assert_eq!(wins, 1, "round {round}");
    }
    assert_eq!(
        kv2::read_metadata(&c, "kv", "prod/race").await.unwrap().current_version,
        3
    );
}

#[tokio::test]
async fn a_write_that_would_remove_a_key_needs_delete_on_it() {
    let (t, c) = with_kv_mount().await;
    kv2::set(&c, "kv", "prod/db", &map(&[("user", "u"), ("password", "p")]))
        .await
        .unwrap();
    t.policy(
        "write-only",
        "[[allow]]\npath = \"kv/**\"\ncapabilities = [\"read\", \"list\", \"write\"]\n",
    )
    .await;
    let writer = client(&t.url, &t.token(&["write-only"], None).await);
    // replacing {user, password} by {user} deletes password: refused whole, nothing changes
    let refused = kv2::set(&writer, "kv", "prod/db", &map(&[("user", "u2")]))
        .await
        .unwrap_err();
    assert_eq!(status_of(&refused), Some(403), "{refused:?}");
    let now: HashMap<String, String> = kv2::read(&c, "kv", "prod/db").await.unwrap();
    assert_eq!(now, map(&[("user", "u"), ("password", "p")]));
    kv2::set(&writer, "kv", "prod/db", &map(&[("user", "u2"), ("password", "p2")]))
        .await
        .unwrap();
    // deleting the secret needs delete
    let refused = kv2::delete_latest(&writer, "kv", "prod/db").await.unwrap_err();
    assert_eq!(status_of(&refused), Some(403));
    // writing into a missing environment needs admin on it (leash env create's rule)
    let refused = kv2::set(&writer, "kv", "staging/db", &map(&[("user", "u")]))
        .await
        .unwrap_err();
    assert_eq!(status_of(&refused), Some(404), "{refused:?}");
    let (status, _) = t.get("/api/v1/projects/kv/envs/staging/secrets").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the environment was created");
}
