//! Init, Shamir unseal, seal and key rotation on a real (non-dev) server.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn unseal(t: &TestServer, share: &str) -> (StatusCode, Value) {
    t.call_as("", Method::POST, "/api/v1/sys/unseal", Some(json!({"share": share})))
        .await
}

async fn init(t: &TestServer, shares: u8, threshold: u8) -> (Vec<String>, String) {
    let (status, body) = t
        .call_as(
            "",
            Method::POST,
            "/api/v1/sys/init",
            Some(json!({"shares": shares, "threshold": threshold})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let shares = body["unseal_shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    (shares, body["root_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn init_unseal_with_threshold_seal_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = fresh(dir.path()).await;
    assert_eq!(t.get("/api/v1/sys/health").await.0, StatusCode::NOT_IMPLEMENTED);
    let (status, body) = t.get("/api/v1/projects").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_IMPLEMENTED, Some("not_initialized"))
    );
    let (bad, _) = t
        .call_as(
            "",
            Method::POST,
            "/api/v1/sys/init",
            Some(json!({"shares": 3, "threshold": 4})),
        )
        .await;
    assert_eq!(bad, StatusCode::BAD_REQUEST);

    let (shares, root) = init(&t, 3, 2).await;
    assert_eq!(shares.len(), 3);
    t.token = root;
    let again = t.call_as("", Method::POST, "/api/v1/sys/init", Some(json!({}))).await;
    assert_eq!(again.0, StatusCode::CONFLICT, "init happens once");

    // sealed after init: data routes answer 503 with a message saying so
    let (status, body) = t.get("/api/v1/projects").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["error"]["message"].as_str().unwrap().contains("sealed"));
    assert_eq!(t.get("/api/v1/sys/health").await.0, StatusCode::SERVICE_UNAVAILABLE);

    // one share is not enough; the same share twice does not count twice
    let (_, status1) = unseal(&t, &shares[0]).await;
    assert_eq!(
        (status1["sealed"].as_bool(), status1["progress"].as_u64()),
        (Some(true), Some(1))
    );
    let (dup, _) = unseal(&t, &shares[0]).await;
    assert_eq!(dup, StatusCode::BAD_REQUEST);
    assert_eq!(t.get("/api/v1/projects").await.0, StatusCode::SERVICE_UNAVAILABLE);
    let (_, done) = unseal(&t, &shares[2]).await;
    assert_eq!(done["sealed"], false);
    assert_eq!(t.get("/api/v1/projects").await.0, StatusCode::OK);

    // seal needs a token, then everything is 503 again
    let (status, _) = t.call_as("", Method::POST, "/api/v1/sys/seal", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(t.call(Method::POST, "/api/v1/sys/seal", None).await.0, StatusCode::OK);
    assert_eq!(t.get("/api/v1/projects").await.0, StatusCode::SERVICE_UNAVAILABLE);
    unseal(&t, &shares[1]).await;
    unseal(&t, &shares[0]).await;
    assert_eq!(t.get("/api/v1/projects").await.0, StatusCode::OK);
}

#[tokio::test]
async fn wrong_and_mistyped_shares_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let t = fresh(dir.path()).await;
    let (shares, _) = init(&t, 3, 2).await;
    let other_dir = tempfile::tempdir().unwrap();
    let other = fresh(other_dir.path()).await;
    let (foreign, _) = init(&other, 3, 2).await;

    let mut typo = shares[0].clone();
    typo.replace_range(4..5, if &typo[4..5] == "a" { "b" } else { "a" });
    let (status, body) = unseal(&t, &typo).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("checksum"),
        "{body}"
    );
    let (status, body) = unseal(&t, "not-a-share").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    unseal(&t, &shares[0]).await;
    let (status, body) = unseal(&t, &foreign[1]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "unseal_failed");
    let (_, st) = t.get("/api/v1/sys/seal-status").await;
    assert_eq!(
        (st["sealed"].as_bool(), st["progress"].as_u64()),
        (Some(true), Some(0)),
        "progress reset"
    );
    unseal(&t, &shares[1]).await;
    let (_, st) = unseal(&t, &shares[2]).await;
    assert_eq!(st["sealed"], false);
}

#[tokio::test]
async fn key_rotation_keeps_old_versions_readable_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = fresh(dir.path()).await;
    let (shares, root) = init(&t, 1, 1).await;
    t.token = root.clone();
    unseal(&t, &shares[0]).await;
    t.project_env("p", "e").await;
    t.set("K", "before-rotation").await;
    let (status, ring) = t.call(Method::POST, "/api/v1/sys/rotate-key", None).await;
    assert_eq!((status, ring["active_key_id"].as_u64()), (StatusCode::OK, Some(2)));
    t.set("K", "after-rotation").await;
    t.set("L", "new-key-only").await;

    t.server.shutdown().await.unwrap();
    let mut t = fresh(dir.path()).await;
    t.token = root;
    unseal(&t, &shares[0]).await;
    assert_eq!(
        t.get("/api/v1/sys/keyring").await.1["keys"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        t.get("/api/v1/projects/p/envs/e/secrets/K?version=1").await.1["value"],
        "before-rotation"
    );
    assert_eq!(t.value("K").await.1["value"], "after-rotation");
    assert_eq!(t.value("L").await.1["value"], "new-key-only");
}

/// Two servers on one data directory would number the audit chain twice and release each
/// other's rotation leases: the second refuses to start and names the reason, and the
/// directory is usable again once the first has shut down.
#[tokio::test]
async fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let first = common::fresh(dir.path()).await;
    let refused = leash_server::start(common::config(Some(dir.path())), false).await;
    let message = match refused {
        Ok(_) => panic!("a second server started on a data directory in use"),
        Err(e) => e.to_string(),
    };
    assert!(message.contains("in use by another Leash server"), "{message}");
    first.server.shutdown().await.unwrap();
    let again = common::fresh(dir.path()).await;
    again.server.shutdown().await.unwrap();
}
