//! The watch API through the Rust client against a real server: live events,
//! resume after a disconnect with nothing missed or repeated, and filtering
//! to what the caller may read.

use std::time::Duration;

use leash_client::Client;
use leash_server::ServerConfig;
use secrecy::SecretString;
use serde_json::json;

async fn dev() -> (leash_server::Server, Client) {
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        ..ServerConfig::default()
    };
    let server = leash_server::start(config, true).await.unwrap();
    let token = SecretString::from(server.dev_root_token.as_ref().unwrap().to_string());
    let client = Client::new(&server.url(), Some(token), None).unwrap();
    (server, client)
}

async fn set(client: &Client, path: &str, value: &str) -> i64 {
    let body = leash_core::api::ChangeRequest {
        changes: vec![leash_core::api::ChangeOp {
            path: path.into(),
            kind: leash_core::api::ChangeKind::Set {
                value: value.into(),
                description: None,
            },
        }],
        message: None,
        cas: None,
        e2e_recipients: None,
    };
    client.apply_changes("p", "e", &body).await.unwrap().revision
}

async fn next(stream: &mut leash_client::WatchStream) -> leash_client::WatchEvent {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream stays open")
        .unwrap()
}

#[tokio::test]
async fn live_events_then_resume_without_gaps_or_repeats() {
    let (server, client) = dev().await;
    client.create_project("p").await.unwrap();
    client.create_env("p", "e").await.unwrap();
    let first = set(&client, "A", "1").await;

    let mut stream = client.watch("p", "e", None, Some(first)).await.unwrap();
    let r2 = set(&client, "B", "2").await;
    let event = next(&mut stream).await;
    assert_eq!((event.revision, event.paths.clone()), (r2, vec!["B".to_string()]));
    drop(stream);

    // five changes while nobody listens
    let mut expected = Vec::new();
    for i in 0..5 {
        expected.push(set(&client, &format!("K{i}"), "v").await);
    }
    let mut resumed = client.watch("p", "e", None, Some(r2)).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(next(&mut resumed).await.revision);
    }
    assert_eq!(got, expected, "all five, in order");
    let r8 = set(&client, "LIVE", "x").await;
    assert_eq!(
        next(&mut resumed).await.revision,
        r8,
        "then live, with no repeat in between"
    );
    drop(resumed);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn watchers_see_only_paths_they_may_read() {
    let (server, client) = dev().await;
    client.create_project("p").await.unwrap();
    client.create_env("p", "e").await.unwrap();
    let policy = "[[allow]]\npath = \"p/e/app/**\"\ncapabilities = [\"read\", \"list\"]\n";
    let http = reqwest::Client::new();
    let root = server.dev_root_token.as_ref().unwrap().to_string();
    let url = server.url();
    let put = http
        .put(format!("{url}/api/v1/policies/app"))
        .bearer_auth(&root)
        .json(&json!({"policy": policy}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let created: serde_json::Value = http
        .post(format!("{url}/api/v1/auth/token/create"))
        .bearer_auth(&root)
        .json(&json!({"policies": ["app"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let limited = client
        .with_token(Some(SecretString::from(created["token"].as_str().unwrap().to_owned())))
        .unwrap();
    let mut stream = limited.watch("p", "e", None, None).await.unwrap();
    set(&client, "SECRET_ELSEWHERE", "x").await;
    let visible = set(&client, "app/KEY", "y").await;
    let event = next(&mut stream).await;
    assert_eq!((event.revision, event.paths), (visible, vec!["app/KEY".to_string()]));
    let denied = limited.watch("q", "e", None, None).await;
    assert!(denied.is_err(), "no stream for a project it cannot read");
    drop(stream);
    server.shutdown().await.unwrap();
}
