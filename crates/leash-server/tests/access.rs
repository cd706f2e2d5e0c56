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

/// `(kind, subject)` of each finding.
fn findings(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"))
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_report_counts_the_matrix_and_flags_what_a_reviewer_wants() {
    let t = reviewed_server().await;
    t.project_env_in("p", "prod").await;
    let (status, body) = t
        .put("/api/v1/projects/p/envs/prod/secrets/API_KEY", json!({"value": VALUE}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    t.policy(
        "every-prod",
        "[[allow]]\npath = \"*/prod/**\"\ncapabilities = [\"read\"]\n",
    )
    .await;
    t.policy(
        "sys-admin",
        "[[allow]]\npath = \"sys/**\"\ncapabilities = [\"admin\"]\n",
    )
    .await;
    for body in [
        json!({"name": "ops", "kind": "user", "password": "a long passphrase", "policies": ["every-prod", "sys-admin"]}),
        json!({"name": "expiring", "kind": "service", "client": {"secret_ttl": "30d"}}),
    ] {
        let (status, answer) = t.post("/api/v1/identities", body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let direct = t.token(&["q-read"], None).await;

    let (status, report) = t.get("/api/v1/access/report").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let cell = |identity: &str, project: &str, env: &str, capability: &str| {
        report["matrix"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["identity"] == identity && c["project"] == project && c["env"] == env && c["capability"] == capability
            })
            .map(|c| (c["secrets"].as_u64().unwrap(), c["of"].as_u64().unwrap()))
    };
    assert_eq!(cell("svc", "p", "e", "read"), Some((2, 2)), "{report}");
    assert_eq!(cell("svc", "p", "e", "list"), Some((2, 2)));
    assert_eq!(cell("svc", "p", "f", "read"), None, "p-read is about p/e only");
    assert_eq!(cell("carol", "p", "e", "read"), Some((1, 2)), "the fence denies p/e/K");
    assert_eq!(
        cell("alice", "p", "e", "read"),
        Some((2, 2)),
        "through her group's templated rule"
    );
    assert_eq!(cell("ops", "p", "prod", "read"), Some((1, 1)));

    let found = findings(&report);
    let has = |kind: &str, subject: &str| found.iter().any(|(k, s)| k == kind && s == subject);
    assert!(has("admin", "ops"), "{found:?}");
    assert!(!has("admin", "svc"));
    assert!(has("wildcard_over_prod", "policy every-prod allow rule 1"), "{found:?}");
    assert!(
        !found
            .iter()
            .any(|(k, s)| k == "wildcard_over_prod" && s.contains("p-read"))
    );
    assert!(has("unreadable", "p/f/K"), "nobody but root may read p/f/K: {found:?}");
    assert!(!has("unreadable", "p/e/K") && !has("unreadable", "q/e/K"));
    for service in ["svc", "bob", "carol"] {
        assert!(has("secret_never_expires", service), "{service}: {found:?}");
    }
    assert!(!has("secret_never_expires", "expiring"));
    assert!(found.iter().any(|(k, _)| k == "root_token"), "the dev root token");
    assert!(
        !found.iter().any(|(k, _)| k == "token_without_ttl"),
        "tokens are made with a TTL: {found:?}"
    );
    assert!(
        !found.iter().any(|(k, _)| k == "unused"),
        "every identity is new: {found:?}"
    );
    let text = report.to_string();
    assert!(
        !text.contains(VALUE) && !text.contains(&direct) && !text.contains("lsh_"),
        "{text}"
    );

    assert_eq!(
        t.get("/api/v1/access/report?unused_days=0").await.0,
        StatusCode::BAD_REQUEST
    );
    let outsider = t.token(&["p-read"], None).await;
    let (status, _) = t.call_as(&outsider, Method::GET, "/api/v1/access/report", None).await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
        "{status}"
    );
}

#[tokio::test]
async fn the_report_flags_identities_without_a_request_in_the_window() {
    let clock = std::sync::Arc::new(leash_server::clock::ManualClock::starting_now());
    let server = leash_server::start_with_clock(config(None), true, clock.clone())
        .await
        .unwrap();
    let t = TestServer {
        token: server.dev_root_token.as_ref().unwrap().to_string(),
        url: server.url(),
        server,
        http: reqwest::Client::new(),
    };
    let (status, body) = t
        .post("/api/v1/identities", json!({"name": "idle", "kind": "service"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    clock.advance(std::time::Duration::from_secs(100 * 86_400));
    let (_, report) = t.get("/api/v1/access/report?unused_days=90").await;
    assert!(
        findings(&report).contains(&("unused".to_owned(), "idle".to_owned())),
        "{report}"
    );
    let (_, report) = t.get("/api/v1/access/report?unused_days=200").await;
    assert!(
        !findings(&report).iter().any(|(k, _)| k == "unused"),
        "created within the window: {report}"
    );
}
