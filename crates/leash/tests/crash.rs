//! The real `leash server` process: crash safety (SIGKILL during a concurrent
//! write load loses no acknowledged write), graceful SIGTERM, logs that
//! never hold a value or a token (not even at trace level, not even from a
//! query string), a start that fails at once when the audit file cannot be
//! written, and warnings for files others can read.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::process::{call, health, init_and_unseal, spawn_server, spawn_server_logged, stored_values, terminate};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, url) = spawn_server(&data, &[]);
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let (token, shares) = init_and_unseal(&http, &url, 1).await;
    let share = &shares[0];
    let unseal_file = dir.path().join("unseal");
    std::fs::write(&unseal_file, format!("{share}\n")).unwrap();
    assert_eq!(
        call(
            &http,
            &token,
            post.clone(),
            format!("{url}/api/v1/projects"),
            json!({"name": "p"})
        )
        .await
        .0,
        201
    );
    assert_eq!(
        call(
            &http,
            &token,
            post.clone(),
            format!("{url}/api/v1/projects/p/envs"),
            json!({"name": "e"})
        )
        .await
        .0,
        201
    );

    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..16 {
        let (http, url, token, acked) = (http.clone(), url.clone(), token.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for n in 0..10_000 {
                let (key, value) = (format!("W{w}_{n}"), format!("value-{w}-{n}"));
                let target = format!("{url}/api/v1/projects/p/envs/e/secrets/{key}");
                match call(&http, &token, reqwest::Method::PUT, target, json!({"value": value}))
                    .await
                    .0
                {
                    200 => acked.lock().unwrap().push((key, value)),
                    _ => return,
                }
            }
        }));
    }
    // let the load run until a good number of writes were acknowledged, then kill -9
    for _ in 0..600 {
        if acked.lock().unwrap().len() >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50,
        "the load wrote too little before the kill: {}",
        acked.len()
    );

    let (mut server, url) = spawn_server(&data, &["--unseal-key-file", unseal_file.to_str().unwrap()]);
    let (status, health) = health(&http, &url).await;
    assert_eq!(
        status, 200,
        "restarted server opens clean and unseals from the file: {health}"
    );
    let stored = stored_values(&http, &url, &token).await;
    for (key, value) in &acked {
        assert_eq!(
            stored.get(key),
            Some(value),
            "acknowledged write {key} lost after SIGKILL"
        );
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_debug_logs_hold_no_values() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url, log) = spawn_server_logged(&dir.path().join("data"), &[], "debug");
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let (token, shares) = init_and_unseal(&http, &url, 2).await;
    call(
        &http,
        &token,
        post.clone(),
        format!("{url}/api/v1/projects"),
        json!({"name": "p"}),
    )
    .await;
    call(
        &http,
        &token,
        post.clone(),
        format!("{url}/api/v1/projects/p/envs"),
        json!({"name": "e"}),
    )
    .await;
    let planted = "PLANTED-log-check-Zq7";
    let secret_url = format!("{url}/api/v1/projects/p/envs/e/secrets/DB_PASSWORD");
    assert_eq!(
        call(
            &http,
            &token,
            reqwest::Method::PUT,
            secret_url.clone(),
            json!({"value": planted})
        )
        .await
        .0,
        200
    );
    let (_, read) = call(&http, &token, reqwest::Method::GET, secret_url.clone(), Value::Null).await;
    assert_eq!(read["value"], planted);
    // a malformed write whose value must not be echoed in the error or the log
    let (status, bad) = call(
        &http,
        &token,
        reqwest::Method::PUT,
        secret_url,
        json!({"value": 424242, "x": planted}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(!bad.to_string().contains("424242"), "{bad}");

    let status = terminate(&mut server);
    assert!(status.success(), "SIGTERM must end the server cleanly: {status}");
    std::thread::sleep(Duration::from_millis(100));
    let log = log.lock().unwrap().clone();
    assert!(log.contains("stopped"), "{log}");
    for needle in [
        planted,
        token.as_str(),
        shares[0].as_str(),
        shares[1].as_str(),
        "424242",
    ] {
        assert!(
            !log.contains(needle),
            "the server log holds a secret ({needle}):\n{log}"
        );
    }
}

#[tokio::test]
async fn every_log_line_of_a_request_and_its_audit_records_carry_its_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, url, log) = spawn_server_logged(&data, &["--log-format", "json"], "debug");
    let http = reqwest::Client::new();
    let (token, _) = init_and_unseal(&http, &url, 1).await;
    let response = http
        .get(format!("{url}/api/v1/projects/nope/envs"))
        .bearer_auth(&token)
        .header("x-request-id", "client-chosen-id")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "client-chosen-id", "a client's request id is not trusted");
    terminate(&mut server);
    std::thread::sleep(Duration::from_millis(100));
    let log = log.lock().unwrap().clone();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect();
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["path"] == "/api/v1/projects/nope/envs")
        .collect();
    assert!(!of_request.is_empty(), "no log line of the request:\n{log}");
    for line in of_request {
        assert_eq!(line["span"]["request_id"], id.as_str(), "{line}");
    }
    let audit = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    let record = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["record"]["route"] == "/api/v1/projects/{project}/envs")
        .expect("the request's audit record");
    assert_eq!(record["record"]["request_id"], id.as_str());
}

#[tokio::test]
async fn identity_flows_log_no_password_secret_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url, log) = spawn_server_logged(&dir.path().join("data"), &[], "debug");
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let (root, shares) = init_and_unseal(&http, &url, 1).await;
    let share = shares[0].clone();
    let password = "PLANTED-password-Zq7";
    let user = json!({"name": "alice", "kind": "user", "password": password});
    assert_eq!(
        call(&http, &root, post.clone(), format!("{url}/api/v1/identities"), user)
            .await
            .0,
        201
    );
    let (_, svc) = call(
        &http,
        &root,
        post.clone(),
        format!("{url}/api/v1/identities"),
        json!({"name": "svc", "kind": "service"}),
    )
    .await;
    let secret = svc["client_secret"].as_str().unwrap().to_owned();
    let (_, by_password) = call(
        &http,
        "",
        post.clone(),
        format!("{url}/api/v1/auth/userpass/login"),
        json!({"username": "alice", "password": password}),
    )
    .await;
    let (_, by_secret) = call(
        &http,
        "",
        post.clone(),
        format!("{url}/api/v1/auth/client/login"),
        json!({"client_id": svc["client_id"], "client_secret": secret}),
    )
    .await;
    // failed logins are reported, without the credential tried
    let wrong = "PLANTED-wrong-password-Zq7";
    let (status, _) = call(
        &http,
        "",
        post.clone(),
        format!("{url}/api/v1/auth/userpass/login"),
        json!({"username": "alice", "password": wrong}),
    )
    .await;
    assert_eq!(status, 401);
    let (_, created) = call(&http, &root, post, format!("{url}/api/v1/auth/token/create"), json!({})).await;
    terminate(&mut server);
    std::thread::sleep(Duration::from_millis(100));
    let log = log.lock().unwrap().clone();
    assert!(log.contains("login_failed"), "failed logins are reported: {log}");
    let tokens = [&by_password["token"], &by_secret["token"], &created["token"]];
    for needle in [password, wrong, secret.as_str(), root.as_str(), share.as_str()]
        .into_iter()
        .chain(tokens.iter().filter_map(|t| t.as_str()))
    {
        assert!(!log.contains(needle), "the server log holds a credential ({needle})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_in_query_strings_never_reach_the_log_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url, log) = spawn_server_logged(&dir.path().join("data"), &[], "trace");
    let http = reqwest::Client::new();
    let (token, _) = init_and_unseal(&http, &url, 1).await;
    for path in [
        format!("/api/v1/projects?token={token}"),
        format!("/api/v1/sys/health?x={token}"),
        format!("/no/such/route?access_token={token}"),
    ] {
        let _ = http
            .get(format!("{url}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    }
    terminate(&mut server);
    std::thread::sleep(Duration::from_millis(100));
    let log = log.lock().unwrap().clone();
    assert!(log.contains("/api/v1/projects"), "trace logging logs requests: {log}");
    assert!(!log.contains(&token), "the token reached the log:\n{log}");
}

#[test]
fn an_unwritable_audit_file_stops_the_start_and_leaves_no_temp_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_leash"))
        .args([
            "server",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--audit-file",
            "/dev/full",
        ])
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started: {stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(stderr.contains("/dev/full") && stderr.contains("audit"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn files_others_can_read_are_warned_about_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("leash.toml");
    std::fs::write(&config, "max_value_bytes = 1000\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = config.display().to_string();
    let (mut server, _, log) = spawn_server_logged(&data, &["--config", &config], "info");
    server.kill().unwrap();
    server.wait().unwrap();
    let log = log.lock().unwrap().clone();
    for what in ["data directory", "config file"] {
        assert!(
            log.contains(&format!("the {what} is accessible to group or others")),
            "no warning for the {what}: {log}"
        );
    }
}
