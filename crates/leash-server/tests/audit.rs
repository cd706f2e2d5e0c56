//! The audit log through the real server: one record per route, no secrets
//! in any sink, tamper evidence, token HMACs, and fail-closed with recovery.

mod common;

use common::*;
use leash_core::audit::{AuditRecord, ChainPoint, parse_public_key, verify_lines};
use leash_server::routes::route_table;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn requests_after(t: &TestServer, seq: i64) -> Vec<AuditRecord> {
    records_after(t, seq, "request").await
}

/// The records of `kind` after `seq` (the table is flushed first: it is written behind the answers).
async fn records_after(t: &TestServer, seq: i64, kind: &str) -> Vec<AuditRecord> {
    t.server.state().audit.flush_table().await.unwrap();
    let rows = t.server.state().store.audit_scan("", seq, 10_000).await.unwrap();
    rows.iter()
        .filter(|r| r.kind == kind)
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.line).unwrap())
        .map(|v| serde_json::from_value(v["record"].clone()).unwrap())
        .collect()
}

async fn last_seq(t: &TestServer) -> i64 {
    t.server.state().audit.flush_table().await.unwrap();
    t.server
        .state()
        .store
        .audit_last("", false)
        .await
        .unwrap()
        .map_or(0, |r| r.seq)
}

#[tokio::test]
async fn every_route_leaves_exactly_one_record_with_the_right_fields() {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.set("K", "v").await;
    // the root token's requests are attributed, reads carry the version
    let before = last_seq(&t).await;
    t.value("K").await;
    let read = &requests_after(&t, before).await[0];
    assert_eq!((read.identity.as_deref(), read.version), (Some("root"), Some(1)));
    assert!(read.accessor.is_some() && read.token_hmac.is_some());
    // (the walk ends with revoke-self, so it comes last)
    for route in route_table() {
        let path = concrete(&route.path);
        let before = last_seq(&t).await;
        let (status, _) = t.call(route.method.clone(), &path, Some(json!({}))).await;
        let records = requests_after(&t, before).await;
        assert_eq!(records.len(), 1, "{} {path}: {records:?}", route.method);
        let r = &records[0];
        // a request that may change something has its intent on record first, with the same id
        let intents = records_after(&t, before, "intent").await;
        if route.method == Method::GET {
            assert!(intents.is_empty(), "GET {path} wrote an intent record");
        } else {
            assert_eq!(intents.len(), 1, "{} {path}: {intents:?}", route.method);
            assert_eq!(intents[0].request_id, r.request_id, "{} {path}", route.method);
            assert!(intents[0].seq < r.seq && intents[0].status.is_none());
        }
        assert_eq!(r.method.as_deref(), Some(route.method.as_str()));
        assert_eq!(r.route.as_deref(), Some(route.path.as_str()));
        assert_eq!(r.operation.as_deref(), Some(route.operation));
        assert_eq!(r.status, Some(status.as_u16()), "{} {path}", route.method);
        assert_eq!(r.remote.as_deref(), Some("127.0.0.1"));
        assert!(r.request_id.is_some() && !r.time.is_empty());
        if route.path.contains("{project}") {
            assert_eq!(r.project.as_deref(), Some("p"), "{path}");
        }
        if route.path.contains("{*path}") {
            assert_eq!((r.env.as_deref(), r.path.as_deref()), (Some("e"), Some("K")), "{path}");
        }
        if status.is_client_error() || status.is_server_error() {
            assert!(
                r.error.is_some(),
                "{} {path}: a failure names its error code",
                route.method
            );
        }
    }
}

#[tokio::test]
async fn no_value_token_or_password_reaches_either_sink_and_hashes_match() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(None);
    config.audit_file = Some(dir.path().join("audit.jsonl"));
    let server = leash_server::start(config, true).await.unwrap();
    let t = TestServer {
        url: server.url(),
        token: server.dev_root_token.as_ref().unwrap().to_string(),
        server,
        http: reqwest::Client::new(),
    };
    t.project_env("p", "e").await;
    let planted = "PLANTED-audit-value-Zq7";
    t.set("DB_PASSWORD", planted).await;
    assert_eq!(t.value("DB_PASSWORD").await.1["value"], planted);
    let password = "PLANTED-audit-password";
    t.post(
        "/api/v1/identities",
        json!({"name": "alice", "kind": "user", "password": password}),
    )
    .await;
    let (_, login) = t
        .call_as(
            "",
            Method::POST,
            "/api/v1/auth/userpass/login",
            Some(json!({"username": "alice", "password": password})),
        )
        .await;
    let user_token = login["token"].as_str().unwrap().to_owned();
    t.call_as(&user_token, Method::GET, "/api/v1/auth/token/lookup-self", None)
        .await;
    t.call_as(
        "",
        Method::POST,
        "/api/v1/auth/userpass/login",
        Some(json!({"username": "alice", "password": "PLANTED-wrong"})), // leash:allow (a planted test value)
    )
    .await;
    let bogus = leash_core::token::generate_token();
    let (status, _) = t.call_as(&bogus, Method::GET, "/api/v1/projects", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, hashed) = t.post("/api/v1/audit/hash", json!({"value": user_token})).await;
    let records = requests_after(&t, 0).await;
    assert!(
        records
            .iter()
            .any(|r| r.token_hmac.as_deref() == hashed["hmac"].as_str() && r.identity.as_deref() == Some("alice")),
        "`audit hash TOKEN` finds the records made with that token"
    );
    assert!(
        records
            .iter()
            .any(|r| r.status == Some(401) && r.error.as_deref() == Some("invalid_token"))
    );
    assert!(
        records
            .iter()
            .any(|r| r.operation.as_deref() == Some("auth.login.userpass") && r.status == Some(401))
    );

    let file = std::fs::read(dir.path().join("audit.jsonl")).unwrap();
    let rows: String = t
        .server
        .state()
        .store
        .audit_scan("", 0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|r| r.line.clone())
        .collect();
    for sink in [&file[..], rows.as_bytes()] {
        for needle in [planted, password, "PLANTED-wrong", &user_token, &t.token, &bogus] {
            assert!(!contains(sink, needle.as_bytes()), "an audit sink holds {needle}");
        }
    }
}

#[tokio::test]
async fn verify_checks_both_sinks_and_tampering_is_located() {
    let t = dev().await;
    t.project_env("p", "e").await;
    for i in 0..5 {
        t.set(&format!("K{i}"), "v").await;
    }
    let (status, report) = t.call(Method::POST, "/api/v1/audit/verify", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["database"]["problem"].is_null(), "{report}");
    assert!(report["file"]["problem"].is_null(), "{report}");
    assert!(report["file"]["signatures_checked"].as_u64().unwrap() >= 1);

    let (_, cp) = t.call(Method::POST, "/api/v1/audit/checkpoint", None).await;
    let key = parse_public_key(cp["public_key"].as_str().unwrap()).unwrap();
    let tail = ChainPoint {
        seq: cp["seq"].as_u64().unwrap(),
        hash: cp["hash"].as_str().unwrap().to_owned(),
    };
    let text = std::fs::read_to_string(t.server.state().audit.file.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(verify_lines(lines.iter().copied(), Some(&key), Some(&tail)).intact());
    let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let answered = edited.iter().position(|l| l.contains("\"status\":200")).unwrap();
    edited[answered] = edited[answered].replace("\"status\":200", "\"status\":201");
    let report = verify_lines(edited.iter().map(String::as_str), Some(&key), Some(&tail));
    assert_eq!(
        report.problem.unwrap().line as usize,
        answered + 1,
        "the edited line is named"
    );
    let truncated = verify_lines(lines[..lines.len() - 3].iter().copied(), Some(&key), Some(&tail));
    assert!(truncated.problem.unwrap().message.contains("truncated"));
}

#[tokio::test]
async fn sealed_answers_are_audited() {
    let t = dev().await;
    assert_eq!(t.call(Method::POST, "/api/v1/sys/seal", None).await.0, StatusCode::OK);
    let before = last_seq(&t).await;
    assert_eq!(t.get("/api/v1/projects").await.0, StatusCode::SERVICE_UNAVAILABLE);
    let records = requests_after(&t, before).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].status, records[0].error.as_deref()),
        (Some(503), Some("sealed"))
    );
    assert!(records[0].token_hmac.is_none(), "no audit key while sealed");
}

#[tokio::test]
async fn an_unwritable_audit_file_fails_reads_closed_and_recovers_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let audit_file = dir.path().join("audit.jsonl");
    let mut config = config(None);
    config.audit_file = Some(audit_file.clone());
    let server = leash_server::start(config, true).await.unwrap();
    let t = TestServer {
        url: server.url(),
        token: server.dev_root_token.as_ref().unwrap().to_string(),
        server,
        http: reqwest::Client::new(),
    };
    t.project_env("p", "e").await;
    t.set("DB", "PLANTED-fail-closed").await;

    // the disk is "full": every write to the audit file fails with ENOSPC
    std::fs::rename(&audit_file, dir.path().join("audit.jsonl.1")).unwrap();
    std::os::unix::fs::symlink("/dev/full", &audit_file).unwrap();
    t.server.reopen_audit_file();
    let (status, body) = t.value("DB").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "audit_unavailable");
    assert!(
        !body.to_string().contains("PLANTED"),
        "no value leaves without its audit record"
    );
    assert_eq!(t.value("DB").await.0, StatusCode::SERVICE_UNAVAILABLE, "still closed");

    // space is back: the next request succeeds, no restart, no signal
    std::fs::remove_file(&audit_file).unwrap();
    let (status, body) = t.value("DB").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"], "PLANTED-fail-closed");
    let (_, report) = t.call(Method::POST, "/api/v1/audit/verify", None).await;
    assert!(
        report["database"]["problem"].is_null(),
        "the chain has no hole: {report}"
    );
    assert!(report["file"]["problem"].is_null(), "{report}");
}

#[tokio::test]
async fn records_the_table_lost_are_copied_back_from_the_file_at_start() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let mut t = fresh(dir.path()).await;
    let share = t.init_and_unseal().await;
    let root = t.token.clone();
    t.project_env("p", "e").await;
    t.set("K", "v").await;
    let last = last_seq(&t).await;
    t.server.shutdown().await.unwrap();

    // a power failure took the table's last records (synchronous=NORMAL) but not the fsynced file
    let url = format!("sqlite://{}", dir.path().join("leash-audit.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq > ?")
        .bind(last - 3)
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();

    let mut t = fresh(dir.path()).await;
    t.token = root;
    t.unseal(&share).await;
    let (status, report) = t.call(Method::POST, "/api/v1/audit/verify", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(
        report["database"]["problem"].is_null(),
        "the table was repaired: {report}"
    );
    assert!(report["file"]["problem"].is_null(), "{report}");
    assert!(last_seq(&t).await > last);
}
