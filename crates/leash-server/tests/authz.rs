//! Access control through the real server: the route table walk (no route
//! bypasses authentication or authorization), the authorization matrix, list
//! filtering and the no-existence-leak rule.

mod common;

use common::*;
use leash_server::routes::{Access, route_table};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn no_route_bypasses_authentication_or_authorization() {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.set("K", "v").await;
    let powerless = t.token(&[], None).await;
    let table = route_table();
    assert!(table.len() >= 45, "the route table lists every route ({})", table.len());
    for route in &table {
        let path = concrete(&route.path);
        let body = Some(json!({}));
        let (anonymous, answer) = t.call_as("", route.method.clone(), &path, body.clone()).await;
        match route.access.needs_token() {
            false => assert_ne!(anonymous, StatusCode::UNAUTHORIZED, "{} {path}: {answer}", route.method),
            true => assert_eq!(
                anonymous,
                StatusCode::UNAUTHORIZED,
                "{} {path} without a token: {answer}",
                route.method
            ),
        }
        if matches!(route.access, Access::Admin | Access::Data) {
            let (status, answer) = t.call_as(&powerless, route.method.clone(), &path, body).await;
            // a filtered list may answer, but must show nothing
            if status == StatusCode::OK && route.method == Method::GET {
                let lists: Vec<&Value> = answer.as_object().unwrap().values().filter(|v| v.is_array()).collect();
                assert!(
                    !lists.is_empty() && lists.iter().all(|v| v.as_array().unwrap().is_empty()),
                    "GET {path} showed something to a token without policies: {answer}"
                );
                continue;
            }
            // 400 is a body this walk does not fill in, refused before anything happens
            assert!(
                matches!(
                    status,
                    StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST
                ),
                "{} {path} with a token without policies answered {status}: {answer}",
                route.method
            );
        }
    }
    // the powerless token's own routes work, and revoking itself ends it
    let (status, me) = t
        .call_as(&powerless, Method::GET, "/api/v1/auth/token/lookup-self", None)
        .await;
    assert_eq!((status, me["root"].as_bool()), (StatusCode::OK, Some(false)));
    let (status, _) = t
        .call_as(&powerless, Method::POST, "/api/v1/auth/token/revoke-self", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = t
        .call_as(&powerless, Method::GET, "/api/v1/auth/token/lookup-self", None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked token is refused at once (cache invalidated)"
    );
}

const CAPS: [&str; 5] = ["read", "list", "write", "delete", "destroy"];

/// The contract the policies below should implement.
fn expected(who: &str, project: &str, env: &str, path: &str, cap: &str) -> bool {
    match who {
        "payment-service" => {
            project == "payment" && env == "prod" && !path.starts_with("stripe/") && matches!(cap, "read" | "list")
        }
        "shipping-service" => project == "shipping" && env == "prod" && matches!(cap, "read" | "list"),
        "developer" => env == "dev" && cap != "destroy",
        "admin" => true,
        other => panic!("unknown identity {other}"),
    }
}

/// Does one operation as `token`; true when it was allowed.
async fn attempt(t: &TestServer, token: &str, project: &str, env: &str, path: &str, cap: &str) -> bool {
    let base = format!("/api/v1/projects/{project}/envs/{env}");
    let (method, url, body) = match cap {
        "read" => (Method::GET, format!("{base}/secrets/{path}"), None),
        "list" => (Method::GET, format!("{base}/metadata/{path}"), None),
        "write" => (
            Method::PUT,
            format!("{base}/secrets/{path}"),
            Some(json!({"value": "by-test"})),
        ),
        "delete" => (Method::DELETE, format!("{base}/secrets/{path}"), None),
        "destroy" => (
            Method::POST,
            format!("{base}/destroy/{path}"),
            Some(json!({"versions": [1]})),
        ),
        _ => unreachable!(),
    };
    let (status, answer) = t.call_as(token, method, &url, body).await;
    match status {
        StatusCode::OK => true,
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => false,
        other => panic!("{cap} {url}: unexpected {other}: {answer}"),
    }
}

async fn reset_secret(t: &TestServer, project: &str, env: &str, path: &str) {
    let base = format!("/api/v1/projects/{project}/envs/{env}");
    let (_, meta) = t.get(&format!("{base}/metadata/{path}")).await;
    if meta["current_version"].is_null() && meta["versions"].is_array() {
        t.call(Method::POST, &format!("{base}/undelete/{path}"), None).await;
    }
    let (status, body) = t
        .put(&format!("{base}/secrets/{path}"), json!({"value": "fresh"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn authorization_matrix_identities_by_paths_by_capabilities() {
    let t = dev().await;
    t.policy("payment-service", "[[allow]]\npath = \"payment/prod/**\"\ncapabilities = [\"read\", \"list\"]\n\n[[deny]]\npath = \"*/prod/stripe/**\"\n").await;
    t.policy(
        "shipping-service",
        "[[allow]]\npath = \"shipping/prod/**\"\ncapabilities = [\"read\", \"list\"]\n",
    )
    .await;
    t.policy(
        "developer",
        "[[allow]]\npath = \"*/dev/**\"\ncapabilities = [\"read\", \"list\", \"write\", \"delete\"]\n",
    )
    .await;
    t.policy("admin", "[[allow]]\npath = \"**\"\ncapabilities = [\"admin\"]\n")
        .await;
    let mut tokens = Vec::new();
    for who in ["payment-service", "shipping-service", "developer", "admin"] {
        let (status, created) = t
            .post(
                "/api/v1/identities",
                json!({"name": who, "kind": "service", "policies": [who]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let (status, login) = t
            .call_as(
                "",
                Method::POST,
                "/api/v1/auth/client/login",
                Some(json!({"client_id": created["client_id"], "client_secret": created["client_secret"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{login}");
        tokens.push((who, login["token"].as_str().unwrap().to_owned()));
    }
    let projects = ["payment", "shipping"];
    let envs = ["dev", "staging", "prod"];
    let paths = ["DB_URL", "stripe/KEY"];
    for p in projects {
        for e in envs {
            t.project_env_in(p, e).await;
            for path in paths {
                reset_secret(&t, p, e, path).await;
            }
        }
    }
    let mut cells = 0;
    for (who, token) in &tokens {
        for p in projects {
            for e in envs {
                for path in paths {
                    for cap in CAPS {
                        let allowed = attempt(&t, token, p, e, path, cap).await;
                        assert_eq!(allowed, expected(who, p, e, path, cap), "{who} {cap} {p}/{e}/{path}");
                        if allowed && matches!(cap, "write" | "delete" | "destroy") {
                            reset_secret(&t, p, e, path).await;
                        }
                        cells += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cells, 4 * 2 * 3 * 2 * 5);

    // lists show only what the caller may see
    let token_of = |who: &str| tokens.iter().find(|(w, _)| *w == who).unwrap().1.clone();
    let names = |v: &Value, key: &str, field: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x[field].as_str().unwrap().to_owned())
            .collect()
    };
    let pay = token_of("payment-service");
    let (_, projects_seen) = t.call_as(&pay, Method::GET, "/api/v1/projects", None).await;
    assert_eq!(names(&projects_seen, "projects", "name"), vec!["payment"]);
    let (_, envs_seen) = t
        .call_as(&pay, Method::GET, "/api/v1/projects/payment/envs", None)
        .await;
    assert_eq!(names(&envs_seen, "envs", "name"), vec!["prod"]);
    let (_, secrets_seen) = t
        .call_as(&pay, Method::GET, "/api/v1/projects/payment/envs/prod/secrets", None)
        .await;
    assert_eq!(
        names(&secrets_seen, "secrets", "path"),
        vec!["DB_URL"],
        "the denied folder is hidden"
    );
    let (_, with_values) = t
        .call_as(
            &pay,
            Method::GET,
            "/api/v1/projects/payment/envs/prod/secrets?include_values=true",
            None,
        )
        .await;
    assert_eq!(names(&with_values, "secrets", "path"), vec!["DB_URL"]);
    let dev_token = token_of("developer");
    let (_, dev_projects) = t.call_as(&dev_token, Method::GET, "/api/v1/projects", None).await;
    assert_eq!(names(&dev_projects, "projects", "name"), vec!["payment", "shipping"]);
    let (_, dev_envs) = t
        .call_as(&dev_token, Method::GET, "/api/v1/projects/shipping/envs", None)
        .await;
    assert_eq!(names(&dev_envs, "envs", "name"), vec!["dev"]);

    // forbidden and absent look the same without list on the parent
    let (s1, absent) = t
        .call_as(
            &pay,
            Method::GET,
            "/api/v1/projects/shipping/envs/prod/secrets/NOPE",
            None,
        )
        .await;
    let (s2, forbidden) = t
        .call_as(
            &pay,
            Method::GET,
            "/api/v1/projects/shipping/envs/prod/secrets/DB_URL",
            None,
        )
        .await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(
        absent["error"]["message"].as_str().unwrap().replace("NOPE", "X"),
        forbidden["error"]["message"].as_str().unwrap().replace("DB_URL", "X")
    );
    // with list on the parent, a denied write is an honest 403
    let (status, _) = t
        .call_as(
            &pay,
            Method::PUT,
            "/api/v1/projects/payment/envs/prod/secrets/DB_URL",
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn policy_changes_apply_to_the_next_request_and_check_explains() {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.set("K", "v").await;
    t.policy("reader", "[[allow]]\npath = \"p/e/**\"\ncapabilities = [\"read\"]\n")
        .await;
    let (_, created) = t
        .post("/api/v1/identities", json!({"name": "svc", "kind": "service"}))
        .await;
    let (status, group) = t
        .post(
            "/api/v1/groups",
            json!({"name": "readers", "policies": ["reader"], "members": ["svc"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let (_, login) = t
        .call_as(
            "",
            Method::POST,
            "/api/v1/auth/client/login",
            Some(json!({"client_id": created["client_id"], "client_secret": created["client_secret"]})),
        )
        .await;
    let token = login["token"].as_str().unwrap().to_owned();
    assert_eq!(
        t.call_as(&token, Method::GET, "/api/v1/projects/p/envs/e/secrets/K", None)
            .await
            .0,
        StatusCode::OK
    );
    let (_, check) = t
        .post(
            "/api/v1/policies/check",
            json!({"identity": "svc", "path": "p/e/K", "capability": "read"}),
        )
        .await;
    assert_eq!(check["allowed"], true);
    assert!(check["explanation"].as_str().unwrap().contains("reader"), "{check}");

    t.policy(
        "reader",
        "[[allow]]\npath = \"p/e/**\"\ncapabilities = [\"read\", \"list\"]\n\n[[deny]]\npath = \"p/e/K\"\n",
    )
    .await;
    assert_eq!(
        t.call_as(&token, Method::GET, "/api/v1/projects/p/envs/e/secrets/K", None)
            .await
            .0,
        StatusCode::FORBIDDEN,
        "a deny added to a group's policy is in force for the next request"
    );
    let (_, check) = t
        .post(
            "/api/v1/policies/check",
            json!({"identity": "svc", "path": "p/e/K", "capability": "read"}),
        )
        .await;
    assert_eq!(check["allowed"], false);
    assert!(check["explanation"].as_str().unwrap().contains("deny"), "{check}");
    let (status, bad) = t
        .put(
            "/api/v1/policies/broken",
            json!({"policy": "[[allow]]\npath = \"a/***\"\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("allow rule 1"),
        "{bad}"
    );
}
