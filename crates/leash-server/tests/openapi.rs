//! The OpenAPI description served at `/api/v1/openapi.json`, fetched from a real
//! server and checked against the route table: no route missing from the spec, no
//! operation in the spec without its route, security exactly where a token is needed,
//! and every reference resolving.

mod common;

use std::collections::BTreeSet;

use common::*;
use leash_server::routes::route_table;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const SPEC: &str = "/api/v1/openapi.json";
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
const TAGS: [&str; 12] = [
    "access",
    "sys",
    "auth",
    "identities",
    "groups",
    "policies",
    "audit",
    "projects",
    "secrets",
    "rotation",
    "e2e",
    "scan",
];

/// A route pattern as the spec writes it: `{*path}` is `{path}`.
fn spec_path(route: &str) -> String {
    route.replace("{*", "{")
}

async fn fetch(t: &TestServer) -> Value {
    let resp = t.http.get(format!("{}{SPEC}", t.url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    resp.json().await.unwrap()
}

/// Every `(method, path)` operation of the spec.
fn operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths is an object") {
        for method in METHODS {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn operation<'a>(spec: &'a Value, method: &Method, path: &str) -> &'a Value {
    &spec["paths"][path][method.as_str().to_lowercase()]
}

#[tokio::test]
async fn the_spec_names_every_route_and_only_routes() {
    let t = dev().await;
    let spec = fetch(&t).await;
    assert!(
        spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
        "{}",
        spec["openapi"]
    );
    let in_spec = operations(&spec);
    let table: BTreeSet<(String, String)> = route_table()
        .into_iter()
        .map(|r| (r.method.to_string(), spec_path(&r.path)))
        .collect();
    let missing: Vec<_> = table.difference(&in_spec).collect();
    assert!(missing.is_empty(), "routes missing from the spec: {missing:?}");
    let stale: Vec<_> = in_spec.difference(&table).collect();
    assert!(stale.is_empty(), "the spec names routes that do not exist: {stale:?}");
    assert!(
        in_spec.contains(&(
            "GET".into(),
            "/api/v1/projects/{project}/envs/{env}/secrets/{path}".into()
        )),
        "secret reads are described"
    );
    assert!(
        in_spec.contains(&("GET".into(), SPEC.into())),
        "the spec describes itself"
    );
}

#[tokio::test]
async fn security_is_a_bearer_token_exactly_where_the_route_needs_one() {
    let t = dev().await;
    let spec = fetch(&t).await;
    let schemes = &spec["components"]["securitySchemes"];
    for route in route_table() {
        let op = operation(&spec, &route.method, &spec_path(&route.path));
        let requirements = op["security"].as_array().cloned().unwrap_or_default();
        let label = format!("{} {}", route.method, route.path);
        assert_eq!(
            !requirements.is_empty(),
            route.access.needs_token(),
            "{label}: security {requirements:?} but access {:?}",
            route.access
        );
        for requirement in &requirements {
            for name in requirement.as_object().unwrap().keys() {
                let scheme = &schemes[name];
                assert_eq!(
                    (scheme["type"].as_str(), scheme["scheme"].as_str()),
                    (Some("http"), Some("bearer")),
                    "{label}: scheme {name}"
                );
            }
        }
        if route.access.needs_token() {
            for status in ["401", "403"] {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{label}: needs a token, so its {status} answer is described"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_operation_is_tagged_named_and_declares_its_parameters() {
    let t = dev().await;
    let spec = fetch(&t).await;
    let mut ids = BTreeSet::new();
    for route in route_table() {
        let path = spec_path(&route.path);
        let op = operation(&spec, &route.method, &path);
        let label = format!("{} {}", route.method, route.path);
        let tags: Vec<&str> = op["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(tags.len() == 1 && TAGS.contains(&tags[0]), "{label}: tags {tags:?}");
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{label}: no summary"
        );
        assert_eq!(op["operationId"].as_str(), Some(route.operation), "{label}");
        assert!(ids.insert(route.operation), "{label}: operationId used twice");
        // every `{name}` of the template is a declared path parameter, and no other
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let declared: BTreeSet<String> = params
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(in_template, declared, "{label}: path parameters");
        if route.path.contains("{*path}") {
            let catch_all = params.iter().find(|p| p["name"] == "path").unwrap();
            assert!(
                catch_all["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("may contain `/`")),
                "{label}: the catch-all says it may contain `/`"
            );
        }
        let success = op["responses"].as_object().unwrap().keys().any(|s| s.starts_with('2'));
        assert!(success, "{label}: no success response");
    }
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn references_resolve_and_errors_have_the_error_shape() {
    let t = dev().await;
    let spec = fetch(&t).await;
    let mut all = Vec::new();
    refs(&spec, &mut all);
    assert!(!all.is_empty());
    for r in &all {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external reference {r}"));
        assert!(spec.pointer(pointer).is_some(), "{r} does not resolve");
    }
    // the one error schema is what the server answers: {"error": {"code", "message"}}
    let error = &spec["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["error"]), "{error}");
    let (status, body) = t.get("/api/v1/projects/nope/envs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string());
    // every error answer of every operation has the Error schema, directly or through a shared response
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('2') || path == "/api/v1/sys/health" {
                    continue;
                }
                let response = match response["$ref"].as_str() {
                    Some(r) => spec.pointer(r.strip_prefix('#').unwrap()).unwrap(),
                    None => response,
                };
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_spec_is_served_before_init_and_the_same_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = fresh(dir.path()).await;
    assert_eq!(t.get("/api/v1/projects").await.0, StatusCode::NOT_IMPLEMENTED);
    let before = fetch(&t).await;
    t.init_and_unseal().await;
    assert_eq!(fetch(&t).await, before);
}
