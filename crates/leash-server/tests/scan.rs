//! Known-secret fingerprints for `leash scan --known`.

mod common;

use base64::Engine;
use common::*;
use leash_core::audit::hmac_hex;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn fingerprints_cover_current_and_previous_values_the_caller_may_read() {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.set("DB_PASSWORD", "first-password-value").await;
    t.set("DB_PASSWORD", "second-password-value").await;
    t.set("SHORT", "abc").await;
    t.set("hidden/KEY", "hidden-value-123456").await;
    let (status, list) = t.get("/api/v1/scan/fingerprints?project=p&env=e").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(
        !list.to_string().contains("password-value"),
        "values never leave the server"
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(list["key"].as_str().unwrap())
        .unwrap();
    let prints: Vec<&str> = list["fingerprints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for value in ["first-password-value", "second-password-value", "hidden-value-123456"] {
        assert!(prints.contains(&hmac_hex(&key, value.as_bytes()).as_str()), "{value}");
    }
    assert!(
        !prints.contains(&hmac_hex(&key, b"abc").as_str()),
        "too short to fingerprint"
    );
    let (_, again) = t.get("/api/v1/scan/fingerprints?project=p&env=e").await;
    assert_ne!(again["key"], list["key"], "a fresh key per answer");

    t.put(
        "/api/v1/policies/db",
        json!({"policy": "[[allow]]\npath = \"p/e/DB_*\"\ncapabilities = [\"read\"]\n"}),
    )
    .await;
    let (_, token) = t.post("/api/v1/auth/token/create", json!({"policies": ["db"]})).await;
    let limited = token["token"].as_str().unwrap();
    let (status, mine) = t
        .call_as(limited, Method::GET, "/api/v1/scan/fingerprints?project=p&env=e", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let key = base64::engine::general_purpose::STANDARD
        .decode(mine["key"].as_str().unwrap())
        .unwrap();
    let prints: Vec<&str> = mine["fingerprints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(prints.len(), 2, "only DB_PASSWORD's two values");
    assert!(!prints.contains(&hmac_hex(&key, b"hidden-value-123456").as_str()));
}
