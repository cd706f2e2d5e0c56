//! Three `leash server` processes on one PostgreSQL database (a fresh one,
//! dropped after), under a mixed load from several clients: one node is
//! killed with SIGKILL in the middle; every write any node acknowledged is
//! then read back from the survivors, which kept serving, and a CLI given
//! both addresses fails over to the living node.

mod common;

use std::collections::HashMap;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::{call, init_and_unseal, spawn_server, stored_values};
use leash_store::testing::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

/// Kills what is still running when the test ends, however it ends.
struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Writes `K<writer>_<i>` through `url` until told to stop; records each acknowledged write.
async fn writer(
    url: String,
    token: String,
    writer: usize,
    acked: Arc<Mutex<HashMap<String, String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (usize, usize) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let (mut ok, mut failed) = (0, 0);
    for i in 0.. {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let (key, value) = (format!("K{writer}_{i}"), format!("value-{writer}-{i}"));
        let (status, _) = call(
            &http,
            &token,
            Method::PUT,
            format!("{url}/api/v1/projects/p/envs/e/secrets/{key}"),
            json!({"value": value}),
        )
        .await;
        if status == 200 {
            acked.lock().unwrap().insert(key, value);
            ok += 1;
        } else {
            failed += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_loses_no_acknowledged_write() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let storage = ["--storage", db.url()];
    let (a, url_a) = spawn_server(&dir.path().join("a"), &storage);
    let mut nodes = Nodes(vec![a]);
    let (root, shares) = init_and_unseal(&http, &url_a, 1).await;
    let key_file = dir.path().join("unseal.key");
    std::fs::write(&key_file, format!("{}\n", shares[0])).unwrap();
    let mut with_key = storage.to_vec();
    with_key.extend(["--unseal-key-file", key_file.to_str().unwrap()]);
    let (b, url_b) = spawn_server(&dir.path().join("b"), &with_key);
    let (c, url_c) = spawn_server(&dir.path().join("c"), &with_key);
    nodes.0.extend([b, c]);
    for (path, body) in [
        ("/api/v1/projects", json!({"name": "p"})),
        ("/api/v1/projects/p/envs", json!({"name": "e"})),
    ] {
        let (status, answer) = call(&http, &root, Method::POST, format!("{url_b}{path}"), body).await;
        assert_eq!(status, 201, "{answer}");
    }

    // Two writers on A, one on B, and a reader on C, then A dies.
    let acked = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = [(&url_a, 0), (&url_a, 1), (&url_b, 2)]
        .into_iter()
        .map(|(url, n)| tokio::spawn(writer(url.clone(), root.clone(), n, acked.clone(), stop.clone())))
        .collect();
    let reader = {
        let (http, url, root, stop) = (http.clone(), url_c.clone(), root.clone(), stop.clone());
        tokio::spawn(async move {
            let mut failures = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, _) = call(
                    &http,
                    &root,
                    Method::GET,
                    format!("{url}/api/v1/projects/p/envs/e/secrets"),
                    Value::Null,
                )
                .await;
                if status != 200 {
                    failures += 1;
                }
            }
            failures
        })
    };
    while acked.lock().unwrap().len() < 60 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nodes.0[0].kill().unwrap();
    nodes.0[0].wait().unwrap();
    let at_kill = acked.lock().unwrap().len();
    while acked.lock().unwrap().len() < at_kill + 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut results = Vec::new();
    for w in writers {
        results.push(w.await.unwrap());
    }
    assert_eq!(reader.await.unwrap(), 0, "node C failed reads while A died");
    assert!(
        results[2].0 > 0 && results[2].1 == 0,
        "node B refused writes while A died: {results:?}"
    );

    // Every acknowledged write is on the survivors.
    let acked = acked.lock().unwrap().clone();
    for url in [&url_b, &url_c] {
        let stored = stored_values(&http, url, &root).await;
        let lost: Vec<_> = acked
            .iter()
            .filter(|(k, v)| stored.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged writes missing on {url}: {lost:?}",
            lost.len()
        );
    }

    // A CLI given the dead node first fails over to a living one.
    let (key, value) = acked.iter().next().unwrap();
    let out = common::leash_command(
        dir.path(),
        &format!("{url_a},{url_b}"),
        &root,
        &["secrets", "get", key, "--plain", "--project", "p", "--env", "e"],
    )
    .output()
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), *value);
}
