//! A real server on PostgreSQL (`storage = "postgres://…"`), each test on a
//! fresh database dropped afterwards (`leash_store::testing::TestDb`): it
//! initialises, unseals, writes and reads; a restart on the same database
//! finds every acknowledged write and a verifying audit trail; no plaintext
//! value is stored in any table; and a second node on the same database
//! serves the same data.

mod common;

use common::*;
use leash_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use sqlx::{Connection, Row};

const PLANTED: &str = "PG-PLANTED-7fq2LmX9";

fn on(db: &TestDb, dir: &std::path::Path) -> leash_server::ServerConfig {
    leash_server::ServerConfig {
        storage: Some(db.url().to_owned()),
        ..config(Some(dir))
    }
}

async fn start(db: &TestDb, dir: &std::path::Path) -> TestServer {
    fresh_with(on(db, dir)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_postgres_keeps_every_write_across_a_restart_and_stores_no_plaintext() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut t = start(&db, dir.path()).await;
    let share = t.init_and_unseal().await;
    t.project_env("p", "e").await;
    t.set("DB_PASSWORD", PLANTED).await;
    t.set("API_KEY", "one").await;
    t.set("API_KEY", "two").await;
    assert_eq!(t.value("DB_PASSWORD").await.1["value"], PLANTED);

    // A second node on the same database serves it too (docs/ha.md; tests/cluster.rs goes further).
    let mut second = start(&db, &dir.path().join("other")).await;
    second.unseal(&share).await;
    second.token = t.token.clone();
    assert_eq!(second.value("DB_PASSWORD").await.1["value"], PLANTED);
    second.server.shutdown().await.unwrap();

    let token = t.token.clone();
    t.server.shutdown().await.unwrap();

    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert!(tables.iter().any(|t| t == "versions"), "{tables:?}");
    let hex = PLANTED.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    for table in &tables {
        let rows = sqlx::query(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for row in rows {
            let text: String = row.get(0);
            assert!(
                !text.contains(PLANTED) && !text.to_lowercase().contains(&hex),
                "table {table} holds the plaintext value"
            );
        }
    }
    conn.close().await.unwrap();

    let mut t = start(&db, dir.path()).await;
    t.token = token;
    t.unseal(&share).await;
    assert_eq!(t.value("DB_PASSWORD").await.1["value"], PLANTED);
    let (_, v1) = t.get("/api/v1/projects/p/envs/e/secrets/API_KEY?version=1").await;
    assert_eq!(v1["value"], "one");
    let (status, report) = t.call(Method::POST, "/api/v1/audit/verify", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["database"]["problem"].is_null(), "{report}");
    assert!(report["file"]["problem"].is_null(), "{report}");
    let (status, body) = t.get("/api/v1/sys/snapshot").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_by_backend");
    assert!(body["error"]["message"].as_str().unwrap().contains("pg_dump"), "{body}");
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_storage_url_of_another_scheme_is_named_without_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let config = leash_server::ServerConfig {
        storage: Some("mysql://leash:hunter2@db/leash".into()), // leash:allow (a made-up password the error must hide)
        ..config(Some(dir.path()))
    };
    let e = leash_server::start(config, false)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("\"mysql://\"") && e.contains("postgres://"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

/// `?sslmode=require` on the storage URL: every connection of the node (the
/// pool and the notification channel) is encrypted, as PostgreSQL itself reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_talks_to_postgres_over_tls_when_the_url_asks() {
    let db = TestDb::create().await;
    let mut check = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let ssl_on: String = sqlx::query_scalar("SHOW ssl").fetch_one(&mut check).await.unwrap();
    if ssl_on != "on" {
        eprintln!("skipped: this PostgreSQL has no TLS (ssl = {ssl_on})");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = leash_server::ServerConfig {
        storage: Some(format!("{}?sslmode=require", db.url())),
        ..config(Some(dir.path()))
    };
    let mut t = fresh_with(config).await;
    t.init_and_unseal().await;
    t.project_env("p", "e").await;
    t.set("K", PLANTED).await;
    let database = db.url().rsplit('/').next().unwrap().to_owned();
    let plain: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND NOT s.ssl",
    )
    .bind(&database)
    .fetch_one(&mut check)
    .await
    .unwrap();
    let encrypted: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = $1 AND s.ssl",
    )
    .bind(&database)
    .fetch_one(&mut check)
    .await
    .unwrap();
    assert!(
        encrypted >= 2,
        "the pool and the channel: {encrypted} encrypted connections"
    );
    assert_eq!(plain, 0, "a connection of the node is not encrypted");
    check.close().await.unwrap();
    t.server.shutdown().await.unwrap();
}
