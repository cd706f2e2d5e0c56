//! The native API end to end over real HTTP against a `--dev` server.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

const S: &str = "/api/v1/projects/p/envs/e";

#[tokio::test]
async fn versions_history_point_in_time_and_rollback() {
    let t = dev().await;
    t.project_env("p", "e").await;
    let r1 = t.set("API_KEY", "k-one").await;
    assert_eq!(r1["revision"], 1);
    t.set("stripe/API_KEY", "s-one").await;
    let r3 = t.set("API_KEY", "k-two").await;
    assert_eq!(r3["entries"][0]["version"], 2);

    let (_, v) = t.value("API_KEY").await;
    assert_eq!((v["value"].as_str(), v["version"].as_i64()), (Some("k-two"), Some(2)));
    let (_, v1) = t.get(&format!("{S}/secrets/API_KEY?version=1")).await;
    assert_eq!(v1["value"], "k-one");
    let (_, at2) = t.get(&format!("{S}/secrets/API_KEY?at_revision=2")).await;
    assert_eq!(at2["value"], "k-one");
    let (_, folder) = t.value("stripe/API_KEY").await;
    assert_eq!(folder["env_var"], "STRIPE_API_KEY");

    let (_, list) = t.get(&format!("{S}/secrets?prefix=stripe")).await;
    assert_eq!(list["secrets"].as_array().unwrap().len(), 1);
    assert!(list["secrets"][0].get("value").is_none(), "values only on request");
    let (_, with_values) = t.get(&format!("{S}/secrets?include_values=true")).await;
    assert_eq!(with_values["secrets"].as_array().unwrap().len(), 2);

    let (_, history) = t.get(&format!("{S}/history")).await;
    let revs: Vec<i64> = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(revs, vec![3, 2, 1]);

    let (status, rb) = t.post(&format!("{S}/rollback"), json!({"to": 1})).await;
    assert_eq!(status, StatusCode::OK, "{rb}");
    assert_eq!(rb["revision"], 4);
    assert_eq!(t.value("API_KEY").await.1["value"], "k-one");
    assert_eq!(
        t.value("API_KEY").await.1["version"],
        3,
        "rollback writes a new version"
    );
    assert_eq!(
        t.value("stripe/API_KEY").await.0,
        StatusCode::NOT_FOUND,
        "absent at revision 1"
    );
    let (_, meta) = t.get(&format!("{S}/metadata/API_KEY")).await;
    assert_eq!(meta["versions"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn atomic_change_sets_delete_undelete_destroy() {
    let t = dev().await;
    t.project_env("p", "e").await;
    let body = json!({"changes": [
        {"path": "A", "op": "set", "value": "1", "description": "first"},
        {"path": "db/B", "op": "set", "value": "2"}
    ], "message": "import"});
    let (status, res) = t.post(&format!("{S}/changes"), body).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["entries"].as_array().unwrap().len(), 2);
    assert_eq!(t.value("A").await.1["description"], "first");

    let (status, _) = t.call(Method::DELETE, &format!("{S}/secrets/A"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t.value("A").await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.get(&format!("{S}/secrets/A?version=1")).await.1["value"], "1");
    let (status, _) = t.call(Method::POST, &format!("{S}/undelete/A"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t.value("A").await.1["value"], "1");

    let (status, d) = t.call(Method::POST, &format!("{S}/destroy/A"), None).await;
    assert_eq!((status, d["destroyed"].clone()), (StatusCode::OK, json!([1])));
    let (status, gone) = t.value("A").await;
    assert_eq!(
        (status, gone["error"]["code"].as_str()),
        (StatusCode::GONE, Some("destroyed"))
    );
    let (_, meta) = t.get(&format!("{S}/metadata/A")).await;
    assert_eq!(meta["versions"][0]["destroyed"], true, "metadata kept after destroy");
}

/// Every bad input gets its status, a JSON error naming the problem, and changes nothing.
#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.set("KEEP", "original").await;
    let history_len = || async {
        t.get(&format!("{S}/history")).await.1["changes"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = history_len().await;

    let check = |status: StatusCode, code: &'static str, fragment: &'static str| {
        move |(got, body): (StatusCode, serde_json::Value)| {
            assert_eq!(got, status, "{body}");
            assert_eq!(body["error"]["code"], code, "{body}");
            let msg = body["error"]["message"].as_str().unwrap();
            assert!(msg.contains(fragment), "{msg:?} should mention {fragment:?}");
            assert!(
                !msg.contains("original") && !msg.contains("SECRETVALUE"),
                "no values in errors: {msg}"
            );
        }
    };

    check(StatusCode::BAD_REQUEST, "invalid_name", "character '!'")(
        t.put(&format!("{S}/secrets/bad!name"), json!({"value": "SECRETVALUE"}))
            .await,
    );
    check(StatusCode::BAD_REQUEST, "invalid_name", "allowed are")(
        t.post("/api/v1/projects", json!({"name": "no spaces"})).await,
    );
    let big = "x".repeat(64 * 1024 + 1);
    check(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "limit is 65536")(
        t.put(&format!("{S}/secrets/BIG"), json!({"value": big})).await,
    );
    check(StatusCode::BAD_REQUEST, "invalid_request", "field `value`")(
        t.put(&format!("{S}/secrets/KEEP"), json!({"value": 123456})).await,
    );
    check(StatusCode::BAD_REQUEST, "invalid_request", "changes[0]")(
        t.post(
            &format!("{S}/changes"),
            json!({"changes": [{"path": "X", "op": "sett", "value": "SECRETVALUE"}]}),
        )
        .await,
    );
    let raw = t
        .http
        .put(format!("{}{S}/secrets/KEEP", t.url))
        .bearer_auth(&t.token)
        .header("content-type", "application/json")
        .body("{\"value\": \"SECRETVALUE\"")
        .send()
        .await
        .unwrap();
    check(StatusCode::BAD_REQUEST, "invalid_json", "malformed JSON")((raw.status(), raw.json().await.unwrap()));
    check(StatusCode::NOT_FOUND, "not_found", "project nope")(
        t.put(
            "/api/v1/projects/nope/envs/e/secrets/K",
            json!({"value": "SECRETVALUE"}),
        )
        .await,
    );
    check(StatusCode::NOT_FOUND, "not_found", "environment nope")(
        t.put(
            "/api/v1/projects/p/envs/nope/secrets/K",
            json!({"value": "SECRETVALUE"}),
        )
        .await,
    );
    check(StatusCode::CONFLICT, "cas_mismatch", "expected revision 0")(
        t.put(&format!("{S}/secrets/KEEP"), json!({"value": "SECRETVALUE", "cas": 0}))
            .await,
    );
    check(StatusCode::UNAUTHORIZED, "missing_token", "Authorization")(
        t.call_as(
            "",
            Method::PUT,
            &format!("{S}/secrets/KEEP"),
            Some(json!({"value": "SECRETVALUE"})),
        )
        .await,
    );
    check(StatusCode::UNAUTHORIZED, "invalid_token", "not a valid Leash token")(
        t.call_as("lsh_nope", Method::GET, &format!("{S}/secrets/KEEP"), None)
            .await,
    );
    let forged = leash_core::token::generate_token();
    check(StatusCode::UNAUTHORIZED, "invalid_token", "unknown")(
        t.call_as(&forged, Method::GET, &format!("{S}/secrets/KEEP"), None)
            .await,
    );
    check(StatusCode::BAD_REQUEST, "invalid_request", "version")(t.get(&format!("{S}/secrets/KEEP?version=abc")).await);
    check(StatusCode::NOT_FOUND, "not_found", "revision 99 does not exist")(
        t.get(&format!("{S}/secrets/KEEP?at_revision=99")).await,
    );
    check(StatusCode::BAD_REQUEST, "invalid_request", "more than once")(
        t.post(
            &format!("{S}/changes"),
            json!({"changes": [{"path": "D", "op": "set", "value": "1"}, {"path": "D", "op": "delete"}]}),
        )
        .await,
    );
    // a change set whose second op fails leaves the first unapplied
    check(StatusCode::NOT_FOUND, "not_found", "secret MISSING")(
        t.post(
            &format!("{S}/changes"),
            json!({"changes": [{"path": "NEW", "op": "set", "value": "SECRETVALUE"}, {"path": "MISSING", "op": "delete"}]}),
        )
        .await,
    );
    check(StatusCode::CONFLICT, "already_exists", "project p")(t.post("/api/v1/projects", json!({"name": "p"})).await);

    assert_eq!(history_len().await, before, "no bad request may add a revision");
    assert_eq!(t.value("KEEP").await.1["value"], "original");
    assert_eq!(t.value("NEW").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let t = dev().await;
    let (status, body) = t.get("/api/v1/nothing-here").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = t.call(Method::PATCH, "/api/v1/projects", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
}

#[tokio::test]
async fn health_and_token_lookup() {
    let t = dev().await;
    let (status, health) = t.call_as("", Method::GET, "/api/v1/sys/health", None).await;
    assert_eq!((status, health["sealed"].as_bool()), (StatusCode::OK, Some(false)));
    let (status, me) = t.get("/api/v1/auth/token/lookup-self").await;
    assert_eq!((status, me["root"].as_bool()), (StatusCode::OK, Some(true)));
    assert!(!me.to_string().contains(&t.token), "lookup never echoes the token");
}
