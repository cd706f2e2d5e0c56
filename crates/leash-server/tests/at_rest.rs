//! What lies on disk: no plaintext, and ciphertext bound to its row.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

async fn unsealed_server(dir: &std::path::Path) -> TestServer {
    let mut t = fresh(dir).await;
    t.init_and_unseal().await;
    t.project_env("p", "e").await;
    t
}

#[tokio::test]
async fn planted_values_never_reach_the_store_files() {
    let dir = tempfile::tempdir().unwrap();
    let t = unsealed_server(dir.path()).await;
    let planted = format!("PLANTED-{}-Zq7", std::process::id());
    t.set("DB_PASSWORD", &planted).await;
    t.set("stripe/KEY", &format!("{planted}-2")).await;
    let (status, _) = t
        .post(
            "/api/v1/projects/p/envs/e/changes",
            json!({"changes": [{"path": "BATCH", "op": "set", "value": format!("{planted}-3")}], "message": "m"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    t.post("/api/v1/projects/p/envs/e/rollback", json!({"to": 1})).await;
    assert_eq!(t.value("DB_PASSWORD").await.1["value"], planted.as_str());
    let bytes = all_bytes_under(dir.path());
    assert!(bytes.len() > 10_000, "the store wrote its files");
    assert!(
        !contains(&bytes, planted.as_bytes()),
        "plaintext found in the data directory"
    );
    assert!(
        !contains(&bytes, b"PLANTED-"),
        "plaintext prefix found in the data directory"
    );
}

#[tokio::test]
async fn ciphertext_copied_to_another_row_fails_to_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let t = unsealed_server(dir.path()).await;
    t.set("A", "value-of-a").await;
    t.set("B", "value-of-b").await;
    t.set("B", "value-of-b2").await;

    let url = format!("sqlite://{}", dir.path().join("leash.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    // B v1's bytes onto A v1 (other path), then B v1 onto B v2 (other version)
    for (target_path, target_version) in [("A", 1), ("B", 2)] {
        sqlx::query(
            "UPDATE versions SET ciphertext = (SELECT v.ciphertext FROM versions v JOIN secrets s ON s.id = v.secret_id WHERE s.path = 'B' AND v.version = 1) \
             WHERE version = ? AND secret_id = (SELECT id FROM secrets WHERE path = ?)",
        )
        .bind(target_version)
        .bind(target_path)
        .execute(&mut db)
        .await
        .unwrap();
    }
    db.close().await.unwrap();

    for path in ["A", "B"] {
        let (status, body) = t.value(path).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert_eq!(body["error"]["code"], "internal");
        assert!(
            !body.to_string().contains("value-of"),
            "no garbage, no plaintext: {body}"
        );
    }
    assert_eq!(
        t.get("/api/v1/projects/p/envs/e/secrets/B?version=1").await.1["value"],
        "value-of-b"
    );
}
