//! Several nodes on one PostgreSQL database, each test on
//! a fresh database dropped afterwards: every node serves what any node
//! acknowledged, from the next request on (writes, revoked tokens, changed
//! policies, a rotated keyring); watchers on one node hear writes made on
//! another; each node keeps its own audit chain and verification checks
//! every chain, naming the node of a broken link; a rotation runs once
//! across nodes and a dead node's attempt is taken over when its lease
//! ends.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use leash_server::clock::ManualClock;
use leash_server::rotation::scheduler::run_due;
use leash_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

fn on(db: &TestDb, dir: &std::path::Path, name: &str) -> leash_server::ServerConfig {
    leash_server::ServerConfig {
        storage: Some(db.url().to_owned()),
        node_name: Some(name.to_owned()),
        rotation_interval: "1h".into(), // tests drive the scheduler themselves
        ..config(Some(dir))
    }
}

async fn node_with_clock(db: &TestDb, dir: &std::path::Path, name: &str, clock: Arc<ManualClock>) -> TestServer {
    let server = leash_server::start_with_clock(on(db, dir, name), false, clock)
        .await
        .unwrap();
    let url = server.url();
    TestServer {
        server,
        url,
        token: String::new(),
        http: reqwest::Client::new(),
    }
}

/// Three unsealed nodes on `db`, sharing one manual clock; the first initialised the store.
async fn three_nodes(db: &TestDb, dir: &std::path::Path) -> (Vec<TestServer>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    let mut a = node_with_clock(db, &dir.join("a"), "a", clock.clone()).await;
    let share = a.init_and_unseal().await;
    let mut nodes = vec![a];
    for name in ["b", "c"] {
        let mut n = node_with_clock(db, &dir.join(name), name, clock.clone()).await;
        n.unseal(&share).await;
        n.token = nodes[0].token.clone();
        nodes.push(n);
    }
    (nodes, clock)
}

async fn read(t: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    t.call_as(
        token,
        Method::GET,
        &format!("/api/v1/projects/p/envs/e/secrets/{path}"),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_serves_what_any_node_acknowledged() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(&db, dir.path()).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    a.project_env("p", "e").await;

    // A write acknowledged by one node is what the next read on any other returns.
    for i in 0..30 {
        let value = format!("value-{i}");
        nodes[i % 3].set("K", &value).await;
        let (status, answer) = nodes[(i + 1) % 3].value("K").await;
        assert_eq!(
            (status, answer["value"].as_str()),
            (StatusCode::OK, Some(value.as_str())),
            "round {i}"
        );
    }

    // A token revoked on one node is refused by every node as soon as the revoke returns.
    a.policy("p-read", "[[allow]]\npath = \"p/e/**\"\ncapabilities = [\"read\"]\n")
        .await;
    let token = a.token(&["p-read"], None).await;
    for n in &nodes {
        assert_eq!(
            read(n, &token, "K").await.0,
            StatusCode::OK,
            "warms every node's token cache"
        );
    }
    let (status, body) = b.post("/api/v1/auth/token/revoke", json!({"token": token})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for n in &nodes {
        assert_eq!(
            read(n, &token, "K").await.0,
            StatusCode::UNAUTHORIZED,
            "a revoked token served"
        );
    }

    // A policy changed on one node is in force on every node at once.
    let token = a.token(&["p-read"], None).await;
    for n in &nodes {
        assert_eq!(read(n, &token, "K").await.0, StatusCode::OK);
    }
    c.policy("p-read", "[[allow]]\npath = \"p/e/OTHER\"\ncapabilities = [\"read\"]\n")
        .await;
    for n in &nodes {
        assert!(
            read(n, &token, "K").await.0.is_client_error(),
            "a withdrawn grant served"
        );
    }

    // A keyring rotated on one node: what another node writes with the new key reads everywhere.
    let (status, body) = a.call(Method::POST, "/api/v1/sys/rotate-key", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let active = body["active_key_id"].clone();
    b.set("AFTER_ROTATION", "new-key-value").await;
    for n in &nodes {
        let (_, keyring) = n.get("/api/v1/sys/keyring").await;
        assert_eq!(keyring["active_key_id"], active, "{keyring}");
        assert_eq!(n.value("AFTER_ROTATION").await.1["value"], "new-key-value");
    }

    // Every node is in the node list, unsealed and live.
    let (status, list) = c.get("/api/v1/sys/nodes").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["cluster"], true);
    let names: Vec<(&str, bool, bool)> = list["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap(),
                n["sealed"].as_bool().unwrap(),
                n["live"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("a", false, true), ("b", false, true), ("c", false, true)],
        "{list}"
    );
    assert!(
        list["nodes"][0]["address"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{list}"
    );
    assert_eq!(list["nodes"][2]["this_node"], true);

    // Sealing is per node: a sealed node refuses, the others go on.
    let (status, _) = c.call(Method::POST, "/api/v1/sys/seal", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(c.value("K").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.value("K").await.0, StatusCode::OK);
    let mut sealed_seen = false;
    for _ in 0..50 {
        let (_, list) = a.get("/api/v1/sys/nodes").await;
        if list["nodes"][2]["sealed"] == true {
            sealed_seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sealed_seen, "the node list shows c sealed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_on_one_node_hears_a_write_on_another() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(&db, dir.path()).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.project_env("p", "e").await;
    a.set("K", "one").await;
    let response = b
        .http
        .get(format!("{}/api/v1/projects/p/envs/e/watch?after=1", b.url))
        .bearer_auth(&b.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.bytes_stream();
    for (i, writer) in [a, &nodes[2], a].into_iter().enumerate() {
        writer.set("K", &format!("v{i}")).await;
        let wanted = format!("\"revision\":{}", i + 2);
        let mut seen = String::new();
        while !seen.contains(&wanted) {
            let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .unwrap_or_else(|_| panic!("no event for {wanted} within 5 s: {seen}"));
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
        }
        assert!(!seen.contains(&format!("v{i}")), "an event carries no value: {seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_keeps_its_own_audit_chain_and_verification_names_a_broken_one() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(&db, dir.path()).await;
    nodes[0].project_env("p", "e").await;
    for (i, n) in nodes.iter().enumerate() {
        n.set("K", &format!("v{i}")).await;
        let (status, _) = n.call(Method::POST, "/api/v1/audit/checkpoint", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, verified) = nodes[2].call(Method::POST, "/api/v1/audit/verify", None).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["node"], "c");
    assert!(verified["database"]["problem"].is_null(), "{verified}");
    let others: Vec<&str> = verified["other_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(others, ["a", "b"], "{verified}");
    assert!(
        verified["other_nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["report"]["problem"].is_null())
    );

    // Someone edits one of node b's records in the table: verification on another node names b.
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let edited = sqlx::query(
        "UPDATE audit_log SET line = replace(line, '\"status\":200', '\"status\":201') \
         WHERE node = 'b' AND seq = (SELECT MIN(seq) FROM audit_log WHERE node = 'b' AND line LIKE '%\"status\":200%')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(edited.rows_affected(), 1);
    conn.close().await.unwrap();
    let (_, verified) = nodes[0].call(Method::POST, "/api/v1/audit/verify", None).await;
    let b = verified["other_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "b")
        .unwrap()
        .clone();
    assert!(
        !b["report"]["problem"].is_null(),
        "the edit in b's chain is found: {verified}"
    );
    assert!(
        verified["database"]["problem"].is_null(),
        "a's own chain is intact: {verified}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_runs_once_across_nodes_and_a_dead_nodes_attempt_is_taken_over() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, clock) = three_nodes(&db, dir.path()).await;
    let a = &nodes[0];
    a.project_env("p", "e").await;
    a.set("K", "first").await;
    let (status, body) = a
        .put(
            "/api/v1/projects/p/envs/e/rotation/K",
            json!({"every": "1h", "generator": "password:24"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    clock.advance(Duration::from_secs(2 * 3600));
    let (x, y, z) = tokio::join!(
        run_due(nodes[0].server.state()),
        run_due(nodes[1].server.state()),
        run_due(nodes[2].server.state())
    );
    assert_eq!(
        x.unwrap() + y.unwrap() + z.unwrap(),
        1,
        "exactly one node ran the rotation"
    );
    let (_, metadata) = a.get("/api/v1/projects/p/envs/e/metadata/K").await;
    assert_eq!(metadata["current_version"], 2, "{metadata}");

    // A node died in the middle of the next attempt: its lease stands until it ends, then another node takes over.
    clock.advance(Duration::from_secs(2 * 3600));
    let lease_until = clock_ms(&clock) + 60_000;
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query("UPDATE rotation_state SET state = 'running', lease_holder = 'dead-node', lease_until = $1")
        .bind(lease_until)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(run_due(nodes[1].server.state()).await.unwrap(), 0, "the lease is live");
    clock.advance(Duration::from_secs(120));
    assert_eq!(run_due(nodes[1].server.state()).await.unwrap(), 1, "taken over");
    let (_, metadata) = a.get("/api/v1/projects/p/envs/e/metadata/K").await;
    assert_eq!(metadata["current_version"], 3, "{metadata}");
    let (_, rotation) = nodes[2].get("/api/v1/projects/p/envs/e/rotation/K").await;
    assert_ne!(rotation["state"], "running", "{rotation}");
}

fn clock_ms(clock: &ManualClock) -> i64 {
    use leash_server::clock::Clock;
    clock.now_ms()
}
