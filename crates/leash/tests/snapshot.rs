//! `leash operator snapshot`: a snapshot taken under a concurrent write
//! load, restored into another data directory and unsealed there with the
//! same shares, holds every write acknowledged before it began, with its
//! versions and a verifying audit trail; the file holds no plaintext; a
//! damaged file, a foreign file and a data directory that already holds a
//! store are refused and change nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::leash_command;
use common::process::{call, health, init_and_unseal, spawn_server, stored_values};

const PLANT: &str = "SNAPSHOT-PLANT-7a1c93";

/// `leash operator snapshot restore FILE --data-dir DIR` (offline: no server, no token).
async fn restore(dir: &std::path::Path, file: &std::path::Path, into: &std::path::Path) -> common::Run {
    let args = [
        "operator",
        "snapshot",
        "restore",
        file.to_str().unwrap(),
        "--data-dir",
        into.to_str().unwrap(),
    ];
    leash(dir, "http://127.0.0.1:1", "", &args).await
}

async fn leash(dir: &std::path::Path, url: &str, token: &str, args: &[&str]) -> common::Run {
    let out = leash_command(dir, url, token, args).output().await.unwrap();
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_snapshot_under_load_restores_elsewhere_with_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = spawn_server(&dir.path().join("a"), &[]);
    let http = reqwest::Client::new();
    let (token, shares) = init_and_unseal(&http, &url, 2).await;
    for (route, name) in [("projects", "p"), ("projects/p/envs", "e")] {
        let (status, _) = call(
            &http,
            &token,
            reqwest::Method::POST,
            format!("{url}/api/v1/{route}"),
            json!({"name": name}),
        )
        .await;
        assert_eq!(status, 201, "{route}");
    }
    let secret = |key: &str| format!("{url}/api/v1/projects/p/envs/e/secrets/{key}");
    // a secret with two versions, written before the load
    for value in ["first", "second"] {
        let (status, _) = call(
            &http,
            &token,
            reqwest::Method::PUT,
            secret("VERSIONED"),
            json!({"value": value}),
        )
        .await;
        assert_eq!(status, 200);
    }

    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (http, token, acked, stop) = (http.clone(), token.clone(), acked.clone(), stop.clone());
        let secret_url = secret("");
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (key, value) = (format!("W{w}_{n}"), format!("{PLANT}-{w}-{n}"));
                let (status, _) = call(
                    &http,
                    &token,
                    reqwest::Method::PUT,
                    format!("{secret_url}{key}"),
                    json!({"value": value}),
                )
                .await;
                assert_eq!(status, 200, "write {key}");
                acked.lock().unwrap().push((key, value));
                n += 1;
            }
        }));
    }
    while acked.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before_snapshot = acked.lock().unwrap().clone();
    let snap = dir.path().join("leash.snap");
    let saved = leash(
        dir.path(),
        &url,
        &token,
        &["operator", "snapshot", "save", snap.to_str().unwrap()],
    )
    .await;
    let saved = saved.ok();
    assert!(saved.contains("sha256"), "{saved}");
    let during = acked.lock().unwrap().len();
    while acked.lock().unwrap().len() < during + 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let bytes = std::fs::read(&snap).unwrap();
    assert!(
        !bytes.windows(PLANT.len()).any(|w| w == PLANT.as_bytes()),
        "the snapshot holds a plaintext value"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&snap).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the snapshot file is readable by others: {mode:o}");
    let again = leash(
        dir.path(),
        &url,
        &token,
        &["operator", "snapshot", "save", snap.to_str().unwrap()],
    )
    .await;
    assert!(
        again.fails().contains("--force"),
        "an existing snapshot is not overwritten"
    );

    // a damaged copy and a foreign file are refused, and leave the directory empty
    let b = dir.path().join("b");
    let mut damaged = bytes.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    let bad = dir.path().join("bad.snap");
    std::fs::write(&bad, &damaged).unwrap();
    let refused = restore(dir.path(), &bad, &b).await;
    assert!(refused.fails().contains("nothing was restored"));
    let foreign = dir.path().join("a").join("leash.db");
    let refused = restore(dir.path(), &foreign, &b).await;
    assert!(refused.fails().contains("not a Leash snapshot"));
    assert!(
        !b.exists() || std::fs::read_dir(&b).unwrap().next().is_none(),
        "a refused restore left files behind"
    );

    let inspect = leash(
        dir.path(),
        &url,
        "",
        &[
            "operator",
            "snapshot",
            "inspect",
            snap.to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .await;
    let manifest = inspect.json();
    assert_eq!(manifest["format_version"], 1);
    assert_eq!(manifest["backend"], "sqlite");

    let restored = restore(dir.path(), &snap, &b).await;
    restored.ok();
    let twice = restore(dir.path(), &snap, &b).await;
    assert!(
        twice.fails().contains("empty data directory"),
        "a restore over a store is refused"
    );

    let (mut server, url) = spawn_server(&b, &[]);
    for share in shares.iter().rev() {
        call(
            &http,
            "",
            reqwest::Method::POST,
            format!("{url}/api/v1/sys/unseal"),
            json!({"share": share}),
        )
        .await;
    }
    let (status, health) = health(&http, &url).await;
    assert_eq!(
        status, 200,
        "the restored server unseals with the original shares: {health}"
    );
    let stored = stored_values(&http, &url, &token).await;
    for (key, value) in &before_snapshot {
        assert_eq!(
            stored.get(key),
            Some(value),
            "write {key}, acknowledged before the snapshot, is missing"
        );
    }
    let (_, v1) = call(
        &http,
        &token,
        reqwest::Method::GET,
        format!("{url}/api/v1/projects/p/envs/e/secrets/VERSIONED?version=1"),
        Value::Null,
    )
    .await;
    assert_eq!(v1["value"], "first", "{v1}");
    let verify = leash(dir.path(), &url, &token, &["audit", "verify"]).await;
    verify.ok();
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn a_snapshot_needs_a_token_allowed_on_sys_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = spawn_server(&dir.path().join("a"), &[]);
    let http = reqwest::Client::new();
    init_and_unseal(&http, &url, 1).await;
    let file = dir.path().join("s.snap");
    let refused = leash(
        dir.path(),
        &url,
        "",
        &["operator", "snapshot", "save", file.to_str().unwrap()],
    )
    .await;
    let stderr = refused.fails();
    assert!(
        stderr.contains("401") || stderr.to_lowercase().contains("token"),
        "{stderr}"
    );
    assert!(!file.exists());
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("partial"))
            .count(),
        0,
        "a refused save left a partial file"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
