//! `leash operator migrate` round trip on the real databases: a SQLite store
//! (stopped) into a fresh PostgreSQL database; a node on the copy opens with
//! the same unseal share and reads every version, the identities and tokens,
//! and an intact audit trail; the copy holds no plaintext; a second migrate
//! into the now non-empty database is refused, as is one from a store a
//! server still runs on.

mod common;

use common::{Run, config};
use leash_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Row};

const PLANTED: &str = "MIGRATE-PLANTED-r8Kq2";

async fn call(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = http.request(method, format!("{url}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn migrate(dir: &std::path::Path, from: &str, to: &str) -> Run {
    let out = common::leash_command(
        dir,
        "http://127.0.0.1:1",
        "",
        &["operator", "migrate", "--from", from, "--to", to],
    )
    .output()
    .await
    .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_moves_to_postgres_as_stored() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("sqlite");
    let http = reqwest::Client::new();

    // The source: a SQLite server with two versions of a secret, an identity and a token.
    let source = leash_server::start(
        leash_server::ServerConfig {
            data_dir: data.clone(),
            ..config()
        },
        false,
    )
    .await
    .unwrap();
    let url = source.url();
    let (_, init) = call(
        &http,
        &url,
        "",
        Method::POST,
        "/api/v1/sys/init",
        Some(json!({"shares": 1, "threshold": 1})),
    )
    .await;
    let root = init["root_token"].as_str().unwrap().to_owned();
    let share = init["unseal_shares"][0].as_str().unwrap().to_owned();
    assert_eq!(
        call(
            &http,
            &url,
            "",
            Method::POST,
            "/api/v1/sys/unseal",
            Some(json!({"share": share}))
        )
        .await
        .0,
        StatusCode::OK
    );
    for (path, body) in [
        ("/api/v1/projects", json!({"name": "shop"})),
        ("/api/v1/projects/shop/envs", json!({"name": "dev"})),
        ("/api/v1/identities", json!({"name": "svc", "kind": "service"})),
        ("/api/v1/auth/token/create", json!({"policies": []})),
    ] {
        let (status, answer) = call(&http, &url, &root, Method::POST, path, Some(body)).await;
        assert!(status.is_success(), "{path}: {answer}");
    }
    for value in ["first-version", PLANTED] {
        let (status, answer) = call(
            &http,
            &url,
            &root,
            Method::PUT,
            "/api/v1/projects/shop/envs/dev/secrets/API_KEY",
            Some(json!({"value": value})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    // While a server runs on it, the source is refused (its lock is held).
    let db = TestDb::create().await;
    let running = migrate(work.path(), &format!("sqlite:{}", data.display()), db.url()).await;
    assert_ne!(running.code, 0, "migrated from a store a server runs on");
    assert!(running.stderr.contains("in use"), "{}", running.stderr);
    source.shutdown().await.unwrap();

    let done = migrate(work.path(), &format!("sqlite:{}/leash.db", data.display()), db.url())
        .await
        .ok();
    assert!(
        done.contains("every table matches") && done.contains("versions"),
        "{done}"
    );
    let again = migrate(work.path(), &format!("sqlite:{}", data.display()), db.url())
        .await
        .fails();
    assert!(again.contains("already holds data"), "{again}");

    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for table in &tables {
        for row in sqlx::query(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            let text: String = row.get(0);
            assert!(!text.contains(PLANTED), "table {table} holds the plaintext value");
        }
    }
    conn.close().await.unwrap();

    // A node on the copy: the same share unseals it, the same root token works, everything is there.
    let node = leash_server::start(
        leash_server::ServerConfig {
            storage: Some(db.url().to_owned()),
            data_dir: work.path().join("node"),
            ..config()
        },
        false,
    )
    .await
    .unwrap();
    let url = node.url();
    assert_eq!(
        call(
            &http,
            &url,
            "",
            Method::POST,
            "/api/v1/sys/unseal",
            Some(json!({"share": share}))
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, current) = call(
        &http,
        &url,
        &root,
        Method::GET,
        "/api/v1/projects/shop/envs/dev/secrets/API_KEY",
        None,
    )
    .await;
    assert_eq!(
        (status, current["value"].as_str()),
        (StatusCode::OK, Some(PLANTED)),
        "{current}"
    );
    let (_, first) = call(
        &http,
        &url,
        &root,
        Method::GET,
        "/api/v1/projects/shop/envs/dev/secrets/API_KEY?version=1",
        None,
    )
    .await;
    assert_eq!(first["value"], "first-version");
    let (status, _) = call(&http, &url, &root, Method::GET, "/api/v1/identities/svc", None).await;
    assert_eq!(status, StatusCode::OK);
    // A new write after the migration gets new ids (the sequences continue after the copied ones).
    let (status, answer) = call(
        &http,
        &url,
        &root,
        Method::POST,
        "/api/v1/projects",
        Some(json!({"name": "after"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, verified) = call(&http, &url, &root, Method::POST, "/api/v1/audit/verify", None).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    let copied = verified["other_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "")
        .cloned();
    let copied = copied.unwrap_or_else(|| panic!("the source's audit chain came along: {verified}"));
    assert!(copied["report"]["problem"].is_null(), "{verified}");
    assert!(copied["report"]["records"].as_u64().unwrap() > 5, "{verified}");
    node.shutdown().await.unwrap();
}
