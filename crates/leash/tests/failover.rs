//! Failover between nodes with real servers: a dead first address, a sealed
//! node, writes that may and may not be repeated, the CLI with an address
//! list, and `leash run --watch` moving to another node (a second server
//! process started on the data directory of the first after it was killed)
//! without losing or repeating a change.

use std::path::{Path, PathBuf};
use std::time::Duration;

use leash_client::{Client, Error, ReadOptions};
use leash_core::api::SecretWrite;
use leash_server::Server;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

mod common;
use common::process::{init_and_unseal, spawn_server, spawn_server_at};
use common::{Run, leash_command};

const FIRST: &str = "planted-failover-first";

/// An address where nothing listens (a port that was bound, then closed).
fn dead_addr() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A dev server (unsealed, root token) with `payment/prod/API_KEY` = [`FIRST`].
async fn dev_node() -> (Server, String, Client) {
    let server = leash_server::start(common::config(), true).await.unwrap();
    let token = server.dev_root_token.as_ref().unwrap().to_string();
    let client = Client::new(&server.url(), Some(token.clone().into()), None).unwrap();
    client.create_project("payment").await.unwrap();
    client.create_env("payment", "prod").await.unwrap();
    put(&client, FIRST, None).await.unwrap();
    (server, token, client)
}

fn write(value: &str, cas: Option<i64>) -> SecretWrite {
    SecretWrite {
        value: value.into(),
        description: None,
        cas,
        e2e_recipients: None,
    }
}

async fn put(client: &Client, value: &str, cas: Option<i64>) -> Result<i64, Error> {
    let result = client
        .put_secret("payment", "prod", "API_KEY", &write(value, cas))
        .await?;
    Ok(result.revision)
}

async fn value(client: &Client) -> Result<String, Error> {
    let secret = client
        .get_secret("payment", "prod", "API_KEY", &ReadOptions::default())
        .await?;
    Ok(secret.value.to_string())
}

/// A sealed dev node (sealed through the API, as `leash operator seal` does).
async fn sealed_node() -> Server {
    let server = leash_server::start(common::config(), true).await.unwrap();
    let token = server.dev_root_token.as_ref().unwrap().to_string();
    let client = Client::new(&server.url(), Some(token.into()), None).unwrap();
    assert!(client.seal().await.unwrap().sealed);
    server
}

#[tokio::test]
async fn a_read_moves_past_a_dead_node_and_then_stays_on_the_live_one() {
    let (_live, token, live_client) = dev_node().await;
    let live = live_client.addr();
    let dead = dead_addr();
    let client = Client::new(&format!("{dead},{live}"), Some(token.into()), None).unwrap();
    assert_eq!(client.addr(), dead);
    assert_eq!(value(&client).await.unwrap(), FIRST);
    assert_eq!(client.addr(), live, "the next call starts at the node that answered");
    assert_eq!(value(&client).await.unwrap(), FIRST);
    assert_eq!(client.addr(), live);
}

#[tokio::test]
async fn a_sealed_node_is_skipped_for_reads_and_cas_writes_but_not_for_plain_writes() {
    let sealed = sealed_node().await;
    let (_live, token, live_client) = dev_node().await;
    let list = format!("{},{}", sealed.url(), live_client.addr());
    let fresh = || Client::new(&list, Some(token.clone().into()), None).unwrap();

    assert_eq!(value(&fresh()).await.unwrap(), FIRST);

    let err = put(&fresh(), "planted-failover-plain", None).await.unwrap_err();
    assert!(matches!(err, Error::NotRetried { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("not retried") && text.contains(&sealed.url()), "{text}");
    assert!(!text.contains("planted") && !text.contains(&token), "{text}");
    assert_eq!(
        value(&live_client).await.unwrap(),
        FIRST,
        "the plain write reached no node"
    );

    let revision = live_client
        .list_secrets("payment", "prod", &Default::default())
        .await
        .unwrap()
        .revision;
    put(&fresh(), "planted-failover-cas", Some(revision)).await.unwrap();
    assert_eq!(value(&live_client).await.unwrap(), "planted-failover-cas");
}

async fn output(mut cmd: tokio::process::Command) -> Run {
    let out = cmd.output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn the_cli_takes_an_address_list_checks_it_and_login_saves_it() {
    let (_live, token, live_client) = dev_node().await;
    let dir = tempfile::tempdir().unwrap();
    let list = format!("{},{}", dead_addr(), live_client.addr());
    let args = ["secrets", "get", "API_KEY", "--project", "payment", "--env", "prod"];
    let out = output(leash_command(dir.path(), &list, &token, &args)).await.ok();
    assert!(out.contains(FIRST), "{out}");

    let bad = format!("{},ftp://nowhere", live_client.addr());
    let err = output(leash_command(dir.path(), &bad, &token, &args)).await.fails();
    assert!(err.contains("\"ftp://nowhere\""), "{err}");

    let mut login = leash_command(dir.path(), &list, &token, &["login", "--token", "-"]);
    login.env_remove("LEASH_TOKEN").stdin(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{token}\n").as_bytes()).await.unwrap();
    }
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let saved = std::fs::read_to_string(dir.path().join("config/leash/config.toml")).unwrap();
    assert!(saved.contains(&format!("addr = \"{list}\"")), "{saved}");
}

/// Lines of `file` once `done` holds for them (or after `limit`).
async fn wait_lines(file: &Path, limit: Duration, done: impl Fn(&[&str]) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if done(&lines) || tokio::time::Instant::now() >= deadline {
            return lines.into_iter().map(str::to_owned).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the server at `url` answers health with 200 (unsealed).
async fn wait_unsealed(url: &str) {
    let client = Client::new(url, None, None).unwrap();
    for _ in 0..200 {
        if let Ok(health) = client.health().await
            && !health.sealed
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up unsealed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_watch_moves_to_the_next_node_and_resumes_from_its_last_revision() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut node_a, url_a) = spawn_server(&data, &[]);
    let (token, shares) = init_and_unseal(&reqwest::Client::new(), &url_a, 1).await;
    let unseal: PathBuf = dir.path().join("unseal");
    std::fs::write(&unseal, format!("{}\n", shares[0])).unwrap();
    let client_a = Client::new(&url_a, Some(token.clone().into()), None).unwrap();
    client_a.create_project("payment").await.unwrap();
    client_a.create_env("payment", "prod").await.unwrap();
    put(&client_a, FIRST, None).await.unwrap();

    let port_b = free_port();
    let url_b = format!("http://127.0.0.1:{port_b}");
    let log = dir.path().join("starts");
    let mut cmd = leash_command(
        dir.path(),
        &format!("{url_a},{url_b}"),
        &token,
        &[
            "run",
            "--watch",
            "--project",
            "payment",
            "--env",
            "prod",
            "--",
            "sh",
            "-c",
            r#"echo "$API_KEY" >> "$1"; exec sleep 1000"#,
            "sh",
            log.to_str().unwrap(),
        ],
    );
    cmd.stdout(std::process::Stdio::null());
    let child = cmd.spawn().unwrap();
    let limit = Duration::from_secs(30);
    assert_eq!(wait_lines(&log, limit, |l| l == [FIRST]).await, [FIRST]);

    // The watch works on A.
    put(&client_a, "planted-failover-on-a", None).await.unwrap();
    let on_a = [FIRST, "planted-failover-on-a"];
    assert_eq!(wait_lines(&log, limit, |l| l == on_a).await, on_a);

    // A dies; B takes over its data directory and unseals itself.
    node_a.kill().unwrap();
    node_a.wait().unwrap();
    let listen = format!("127.0.0.1:{port_b}");
    let (mut node_b, started_b) = spawn_server_at(&data, &listen, &["--unseal-key-file", unseal.to_str().unwrap()]);
    assert_eq!(started_b, url_b);
    wait_unsealed(&url_b).await;
    let client_b = Client::new(&url_b, Some(token.clone().into()), None).unwrap();
    put(&client_b, "planted-failover-on-b", None).await.unwrap();

    let all = [FIRST, "planted-failover-on-a", "planted-failover-on-b"];
    assert_eq!(wait_lines(&log, limit, |l| l.len() >= 3).await, all);
    // No repeated change: the reconnect resumed after the last revision seen,
    // so nothing restarts the child again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(wait_lines(&log, limit, |_| true).await, all);

    signal::kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("again on {url_b}")), "{stderr}");
    assert!(!stderr.contains("planted") && !stderr.contains(&token), "{stderr}");
    node_b.kill().unwrap();
    node_b.wait().unwrap();
}
