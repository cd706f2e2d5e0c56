//! The access review over real HTTP: who-can names every identity (own
//! policies, groups, templated rules) and every live token with policies of
//! its own that holds a capability, with the rule; the deny that wins; the
//! root tokens by accessor. What-can lists every capability an identity holds
//! on the secrets that exist. Both need `read` on `sys/access`, and neither
//! answer ever carries a value or a token.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const VALUE: &str = "planted-value-Qx81";

/// p/e holds K and DB/URL, p/f holds K, q/e holds K; identities and groups:
/// - svc: own `p-read` (read, list on p/e/**)
/// - alice (user, team=p): group `oncall` with the templated `team-read`
/// - bob: own `q-read` only
/// - carol: own `p-read` and group `fenced` (deny p/e/K)
async fn reviewed_server() -> TestServer {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.set("K", VALUE).await;
    t.set("DB/URL", VALUE).await;
    t.project_env_in("p", "f").await;
    t.project_env_in("q", "e").await;
    for (project, env) in [("p", "f"), ("q", "e")] {
        let (status, body) = t
            .put(
                &format!("/api/v1/projects/{project}/envs/{env}/secrets/K"),
                json!({"value": VALUE}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    t.policy(
        "p-read",
        "[[allow]]\npath = \"p/e/**\"\ncapabilities = [\"read\", \"list\"]\n",
    )
    .await;
    t.policy(
        "team-read",
        "[[allow]]\npath = \"{{identity.metadata.team}}/e/**\"\ncapabilities = [\"read\"]\n",
    )
    .await;
    t.policy("q-read", "[[allow]]\npath = \"q/**\"\ncapabilities = [\"read\"]\n")
        .await;
    t.policy("fence", "[[deny]]\npath = \"p/e/K\"\n").await;
    t.policy(
        "reviewer",
        "[[allow]]\npath = \"sys/access\"\ncapabilities = [\"read\"]\n",
    )
    .await;
    for body in [
        json!({"name": "svc", "kind": "service", "policies": ["p-read"]}),
        json!({"name": "alice", "kind": "user", "password": "a long passphrase", "metadata": {"team": "p"}}),
        json!({"name": "bob", "kind": "service", "policies": ["q-read"]}),
        json!({"name": "carol", "kind": "service", "policies": ["p-read"]}),
    ] {
        let (status, answer) = t.post("/api/v1/identities", body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    for (group, policy, member) in [("oncall", "team-read", "alice"), ("fenced", "fence", "carol")] {
        let (status, body) = t
            .post(
                "/api/v1/groups",
                json!({"name": group, "policies": [policy], "members": [member]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    t
}

/// `(name, kind, via, group, policy, rule number, pattern)` of each holder.
fn holders(list: &Value) -> Vec<(String, String, String, String, String, u64, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
            (
                s(&h["name"]),
                s(&h["kind"]),
                s(&h["via"]),
                s(&h["group"]),
                s(&h["rule"]["policy"]),
                h["rule"]["number"].as_u64().unwrap(),
                s(&h["rule"]["pattern"]),
            )
        })
        .collect()
}

fn row(
    name: &str,
    kind: &str,
    via: &str,
    group: &str,
    policy: &str,
    number: u64,
    pattern: &str,
) -> (String, String, String, String, String, u64, String) {
    (
        name.into(),
        kind.into(),
        via.into(),
        group.into(),
        policy.into(),
        number,
        pattern.into(),
    )
}

#[tokio::test]
async fn who_can_names_every_holder_with_its_rule_and_the_denies_that_win() {
    let t = reviewed_server().await;
    let token = t.token(&["q-read"], None).await;
    let (status, answer) = t.get("/api/v1/access/who-can?path=p/e/K&capability=read").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        holders(&answer["allowed"]),
        vec![
            row(
                "alice",
                "user",
                "group",
                "oncall",
                "team-read",
                1,
                "{{identity.metadata.team}}/e/**"
            ),
            row("svc", "service", "own", "", "p-read", 1, "p/e/**"),
        ],
        "bob's policies are about q, and carol is fenced: {answer}"
    );
    assert_eq!(
        holders(&answer["denied"]),
        vec![row("carol", "service", "group", "fenced", "fence", 1, "p/e/K")]
    );
    let roots = answer["root_tokens"].as_array().unwrap();
    assert_eq!(roots.len(), 1, "the dev root token: {answer}");
    assert!(roots[0]["accessor"].as_str().is_some_and(|a| !a.is_empty()));

    // a token with policies of its own is judged by them; on q it holds read, as bob does
    let (_, answer) = t.get("/api/v1/access/who-can?path=q/e/K&capability=read").await;
    let allowed = holders(&answer["allowed"]);
    assert_eq!(allowed.len(), 2, "{answer}");
    assert_eq!(allowed[0], row("bob", "service", "own", "", "q-read", 1, "q/**"));
    assert_eq!(allowed[1].1, "token");
    assert_eq!(allowed[1].2, "token");
    assert!(answer["allowed"][1]["accessor"].as_str().is_some());

    // nobody but root may destroy, and the answer never carries a token or a value
    let (_, answer) = t.get("/api/v1/access/who-can?path=p/e/K&capability=destroy").await;
    assert_eq!(answer["allowed"], json!([]), "{answer}");
    assert_eq!(
        holders(&answer["denied"])[0].0,
        "carol",
        "a deny without capabilities denies every one"
    );
    let text = answer.to_string();
    assert!(
        !text.contains(&token) && !text.contains(&t.token) && !text.contains("lsh_"),
        "{text}"
    );
    assert!(!text.contains(VALUE));
}

#[tokio::test]
async fn who_can_follows_a_change_to_a_group_at_once() {
    let t = reviewed_server().await;
    let (status, body) = t
        .put("/api/v1/groups/fenced", json!({"policies": ["fence"], "members": []}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, answer) = t.get("/api/v1/access/who-can?path=p/e/K&capability=read").await;
    let names: Vec<String> = holders(&answer["allowed"]).into_iter().map(|h| h.0).collect();
    assert_eq!(
        names,
        ["alice", "carol", "svc"],
        "carol left the fenced group: {answer}"
    );
    assert_eq!(answer["denied"], json!([]));
}

#[tokio::test]
async fn who_can_refuses_an_unknown_capability_or_a_bad_path() {
    let t = reviewed_server().await;
    for query in ["path=p/e/K&capability=sudo", "path=p//K&capability=read", "path=p/e/K"] {
        let (status, body) = t.get(&format!("/api/v1/access/who-can?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
}

/// `(path, capability, via, policy)` of each entry.
fn entries(answer: &Value) -> Vec<(String, String, String, String)> {
    answer["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
            (
                s(&e["path"]),
                s(&e["capability"]),
                s(&e["via"]),
                s(&e["rule"]["policy"]),
            )
        })
        .collect()
}

fn entry(path: &str, capability: &str, via: &str, policy: &str) -> (String, String, String, String) {
    (path.into(), capability.into(), via.into(), policy.into())
}

#[tokio::test]
async fn what_can_lists_every_capability_on_the_secrets_that_exist() {
    let t = reviewed_server().await;
    let (status, answer) = t.get("/api/v1/access/what-can/svc").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        entries(&answer),
        vec![
            entry("p/e/DB/URL", "read", "own", "p-read"),
            entry("p/e/DB/URL", "list", "own", "p-read"),
            entry("p/e/K", "read", "own", "p-read"),
            entry("p/e/K", "list", "own", "p-read"),
        ],
        "p/f and q hold secrets svc may not touch: {answer}"
    );
    assert_eq!(
        (answer["identity"].as_str(), answer["kind"].as_str()),
        (Some("svc"), Some("service"))
    );
    assert!(!answer.to_string().contains(VALUE));

    // through a group and a template; carol's deny takes K away
    let (_, answer) = t.get("/api/v1/access/what-can/alice").await;
    assert_eq!(
        entries(&answer),
        vec![
            entry("p/e/DB/URL", "read", "group", "team-read"),
            entry("p/e/K", "read", "group", "team-read")
        ]
    );
    assert_eq!(answer["entries"][0]["group"], "oncall");
    let (_, answer) = t.get("/api/v1/access/what-can/carol").await;
    let paths: Vec<String> = entries(&answer).into_iter().map(|e| e.0).collect();
    assert_eq!(paths, ["p/e/DB/URL", "p/e/DB/URL"]);

    // filters
    let (_, answer) = t.get("/api/v1/access/what-can/bob?project=q").await;
    assert_eq!(entries(&answer), vec![entry("q/e/K", "read", "own", "q-read")]);
    let (_, answer) = t.get("/api/v1/access/what-can/svc?env=f").await;
    assert_eq!(entries(&answer), vec![]);
    let (status, _) = t.get("/api/v1/access/what-can/svc?project=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = t.get("/api/v1/access/what-can/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_review_needs_read_on_sys_access() {
    let t = reviewed_server().await;
    t.policy(
        "policy-admin",
        "[[allow]]\npath = \"sys/policies\"\ncapabilities = [\"admin\"]\n",
    )
    .await;
    t.policy(
        "access-admin",
        "[[allow]]\npath = \"sys/access\"\ncapabilities = [\"admin\"]\n",
    )
    .await;
    let routes = [
        "/api/v1/access/who-can?path=p/e/K&capability=read",
        "/api/v1/access/what-can/svc",
    ];
    for (policy, allowed) in [
        ("p-read", false),
        ("policy-admin", false),
        ("reviewer", true),
        ("access-admin", true),
    ] {
        let token = t.token(&[policy], None).await;
        for route in routes {
            let (status, body) = t.call_as(&token, Method::GET, route, None).await;
            assert_eq!(status.is_success(), allowed, "{policy} on {route}: {status} {body}");
            if !allowed {
                assert!(
                    matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                    "{status}"
                );
            }
        }
    }
}
