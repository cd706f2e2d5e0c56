//! Moving, copying and comparing secrets over real HTTP, as an attacker
//! would try them: a move needs `delete` on the source and `write` on the
//! destination (not `read`), a copy needs `read` on the source; a refused
//! request changes nothing and says nothing of what exists; the new path
//! records where it came from; neither the answers nor the audit records
//! carry a value. The environment diff compares values on the server and
//! shows only its verdicts.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const VALUE: &str = "planted-value-Mv42";
const OTHER: &str = "other-planted-Mv42";

fn allow(path: &str, capabilities: &str) -> String {
    format!("[[allow]]\npath = \"{path}\"\ncapabilities = [{capabilities}]\n")
}

async fn relocate(t: &TestServer, token: &str, what: &str, body: Value) -> (StatusCode, Value) {
    t.call_as(
        token,
        Method::POST,
        &format!("/api/v1/projects/p/envs/e/{what}"),
        Some(body),
    )
    .await
}

async fn revision(t: &TestServer, env: &str) -> i64 {
    let (status, list) = t.get(&format!("/api/v1/projects/p/envs/{env}/secrets")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["revision"].as_i64().unwrap()
}

/// The newest `request` record of `operation` in the audit log.
async fn audit_record(t: &TestServer, operation: &str) -> Value {
    let (status, audit) = t.get("/api/v1/audit?limit=50").await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation"] == operation && r["type"] == "request")
        .unwrap_or_else(|| panic!("no {operation} record: {audit}"))
        .clone()
}

#[tokio::test]
async fn a_move_needs_delete_on_the_source_and_write_on_the_destination_but_not_read() {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.set("OLD", "first").await;
    t.set("OLD", VALUE).await;
    let mover = format!("{}{}", allow("p/e/NEW", "\"write\""), allow("p/e/OLD", "\"delete\""));
    t.policy("mover", &mover).await;
    t.policy("writer", &allow("p/e/NEW", "\"write\"")).await;
    t.policy("deleter", &allow("p/e/OLD", "\"delete\"")).await;
    let mover = t.token(&["mover"], None).await;
    let (status, _) = t
        .call_as(&mover, Method::GET, "/api/v1/projects/p/envs/e/secrets/OLD", None)
        .await;
    assert!(status.is_client_error(), "the mover may not read the value");

    // Half the capabilities is no move at all, and nothing changes.
    let before = revision(&t, "e").await;
    for policy in ["writer", "deleter"] {
        let token = t.token(&[policy], None).await;
        let (status, answer) = relocate(&t, &token, "move", json!({"from": "OLD", "to": "NEW"})).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{policy}: {status} {answer}"
        );
        assert!(!answer.to_string().contains(VALUE));
    }
    assert_eq!(revision(&t, "e").await, before, "a refused move changed something");

    // A token without policies learns nothing of what exists: the same answer for OLD and for a name never used.
    let nobody = t.token(&[], None).await;
    let exists = relocate(&t, &nobody, "move", json!({"from": "OLD", "to": "NEW"})).await;
    let absent = relocate(&t, &nobody, "move", json!({"from": "NEVER", "to": "NEW"})).await;
    assert_eq!(exists.0, absent.0);
    assert_eq!(exists.0, StatusCode::NOT_FOUND, "{}", exists.1);

    let (status, answer) = relocate(&t, &mover, "move", json!({"from": "OLD", "to": "NEW"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        !answer.to_string().contains(VALUE),
        "the answer carries the value: {answer}"
    );
    assert_eq!(answer["revision"], before + 1, "one change: {answer}");
    let (_, read) = t.value("NEW").await;
    assert_eq!(read["value"], VALUE, "{read}");
    assert_eq!(t.value("OLD").await.0, StatusCode::NOT_FOUND);

    // The new path records where it came from, in its versions and in the history.
    let origin = json!({"kind": "moved", "project": "p", "env": "e", "path": "OLD", "version": 2});
    let (_, metadata) = t.get("/api/v1/projects/p/envs/e/metadata/NEW").await;
    assert_eq!(metadata["versions"][0]["origin"], origin, "{metadata}");
    let (_, history) = t.get("/api/v1/projects/p/envs/e/history?limit=1").await;
    let entries = history["changes"][0]["entries"].as_array().unwrap().clone();
    let new = entries.iter().find(|e| e["path"] == "NEW").unwrap();
    assert_eq!(new["origin"], origin, "{history}");
    assert!(entries.iter().any(|e| e["path"] == "OLD" && e["action"] == "delete"));
    assert_eq!(history["changes"][0]["message"], "move OLD to NEW");

    // Audited as a move, naming both ends, without the value.
    let record = audit_record(&t, "secret.move").await;
    assert_eq!(record["path"], "OLD", "{record}");
    assert_eq!(record["target"], "NEW", "{record}");
    assert_eq!(record["status"], 200);
    let (_, audit) = t.get("/api/v1/audit?limit=100").await;
    assert!(!audit.to_string().contains(VALUE));
}

#[tokio::test]
async fn a_folder_moves_in_one_change_and_only_what_the_caller_may_list() {
    let t = dev().await;
    t.project_env("p", "e").await;
    for path in ["db/URL", "db/replica/URL", "db/hidden", "dbx/KEEP", "database/OLD"] {
        t.set(path, VALUE).await;
    }
    let policy = format!(
        "{}{}[[deny]]\npath = \"p/e/db/hidden\"\ncapabilities = [\"list\"]\n",
        allow("p/e/db/**", "\"delete\", \"list\""),
        allow("p/e/database/**", "\"write\"")
    );
    t.policy("folder", &policy).await;
    let token = t.token(&["folder"], None).await;
    let before = revision(&t, "e").await;
    let (status, answer) = relocate(&t, &token, "move", json!({"from": "db/", "to": "database/"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["revision"], before + 1);
    let (_, list) = t.get("/api/v1/projects/p/envs/e/secrets").await;
    let paths: Vec<&str> = list["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "database/OLD",
            "database/URL",
            "database/replica/URL",
            "db/hidden",
            "dbx/KEEP"
        ],
        "db/hidden is not listed to the caller, so it stays; dbx is beside db, not in it"
    );

    // Nested folders, a destination that exists, mixed forms: refused, nothing changes.
    let at = revision(&t, "e").await;
    let root = t.token.clone();
    let cases = [
        (
            json!({"from": "database/", "to": "database/old/"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"from": "database/URL", "to": "database/"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"from": "database/URL", "to": "database/OLD"}),
            StatusCode::CONFLICT,
        ),
        (json!({"from": "database/URL", "to": "../x"}), StatusCode::BAD_REQUEST),
        (json!({"from": "nothing/", "to": "else/"}), StatusCode::NOT_FOUND),
    ];
    for (body, expected) in cases {
        let (status, answer) = relocate(&t, &root, "move", body.clone()).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    assert_eq!(revision(&t, "e").await, at, "a refused move changed something");
    let (status, answer) = relocate(
        &t,
        &root,
        "move",
        json!({"from": "database/URL", "to": "database/OLD", "overwrite": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "overwrite replaces: {answer}");
}

#[tokio::test]
async fn a_copy_needs_read_on_the_source_and_keeps_it() {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.project_env_in("p", "staging").await;
    t.set("API_KEY", VALUE).await;
    t.policy("no-read", &allow("p/staging/**", "\"write\"")).await;
    t.policy(
        "copier",
        &format!(
            "{}{}",
            allow("p/staging/**", "\"write\""),
            allow("p/e/API_KEY", "\"read\"")
        ),
    )
    .await;
    let body = json!({"from": "API_KEY", "to": "API_KEY", "to_env": "staging"});
    let no_read = t.token(&["no-read"], None).await;
    let (status, answer) = relocate(&t, &no_read, "copy", body.clone()).await;
    assert!(
        status.is_client_error() && status != StatusCode::BAD_REQUEST,
        "{status} {answer}"
    );
    assert_eq!(revision(&t, "staging").await, 0, "a refused copy wrote something");

    let copier = t.token(&["copier"], None).await;
    let (status, answer) = relocate(&t, &copier, "copy", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(!answer.to_string().contains(VALUE));
    let (_, copied) = t.get("/api/v1/projects/p/envs/staging/secrets/API_KEY").await;
    assert_eq!(copied["value"], VALUE);
    assert_eq!(t.value("API_KEY").await.1["value"], VALUE, "the source stays");
    let (_, metadata) = t.get("/api/v1/projects/p/envs/staging/metadata/API_KEY").await;
    assert_eq!(
        metadata["versions"][0]["origin"],
        json!({"kind": "copied", "project": "p", "env": "e", "path": "API_KEY", "version": 1})
    );
    // The copy exists now: a second one is refused unless told to overwrite.
    assert_eq!(relocate(&t, &copier, "copy", body).await.0, StatusCode::CONFLICT);
    let record = audit_record(&t, "secret.copy").await;
    assert_eq!(record["target"], "staging/API_KEY", "{record}");
}

#[tokio::test]
async fn a_secret_with_a_rotation_policy_or_a_destroyed_value_is_not_moved() {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.set("ROTATED", VALUE).await;
    t.set("GONE", VALUE).await;
    let (status, body) = t
        .put("/api/v1/projects/p/envs/e/rotation/ROTATED", json!({"every": "30d"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = t
        .post("/api/v1/projects/p/envs/e/destroy/GONE", json!({"versions": [1]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let root = t.token.clone();
    let (status, answer) = relocate(&t, &root, "move", json!({"from": "ROTATED", "to": "R2"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("rotation policy"),
        "{answer}"
    );
    let (status, answer) = relocate(&t, &root, "copy", json!({"from": "GONE", "to": "G2"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("destroyed"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_env_diff_shows_verdicts_never_values() {
    let t = dev().await;
    t.project_env("p", "dev").await;
    t.project_env_in("p", "prod").await;
    let set = |env: &'static str, path: &'static str, value: &'static str| {
        let t = &t;
        async move {
            let (status, body) = t
                .put(
                    &format!("/api/v1/projects/p/envs/{env}/secrets/{path}"),
                    json!({"value": value}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    set("dev", "ONLY_DEV", VALUE).await;
    set("prod", "ONLY_PROD", VALUE).await;
    set("dev", "SAME", VALUE).await;
    set("prod", "SAME", VALUE).await;
    set("dev", "DIFFERENT", VALUE).await;
    set("prod", "DIFFERENT", OTHER).await;
    let (status, diff) = t.get("/api/v1/projects/p/envs/dev/diff/prod").await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    let verdicts: Vec<(String, String)> = diff["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("DIFFERENT", "different"),
        ("ONLY_DEV", "only_in_a"),
        ("ONLY_PROD", "only_in_b"),
        ("SAME", "same"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(verdicts, expected, "{diff}");
    assert_eq!(diff["identical"], false);
    let text = diff.to_string();
    assert!(!text.contains(VALUE) && !text.contains(OTHER), "{text}");

    // Who may list but not read sees the keys, not the verdicts; who may not list one side gets nothing.
    t.policy("lister", &allow("p/*/**", "\"list\"")).await;
    let lister = t.token(&["lister"], None).await;
    let (status, diff) = t
        .call_as(&lister, Method::GET, "/api/v1/projects/p/envs/dev/diff/prod", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    let same = diff["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "SAME")
        .unwrap();
    assert_eq!(
        (same["status"].as_str(), same["reason"].as_str()),
        (Some("unknown"), Some("no_read"))
    );
    t.policy("dev-only", &allow("p/dev/**", "\"list\", \"read\"")).await;
    let dev_only = t.token(&["dev-only"], None).await;
    let (status, _) = t
        .call_as(&dev_only, Method::GET, "/api/v1/projects/p/envs/dev/diff/prod", None)
        .await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    let (status, _) = t.get("/api/v1/projects/p/envs/dev/diff/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
