//! The OpenBao peer: the same read and write loads against OpenBao's KV v2,
//! in the same run, so Leash can be judged against the system it replaces.
//! Reads go to a dev-mode server (in-memory storage); durable writes to a
//! server on integrated raft storage (initialised and unsealed here). No
//! audit device is enabled on OpenBao (its API no longer allows enabling one
//! without a config change), so its numbers are an upper bound next to
//! Leash's, which are always audited.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::load::{self, Outcome};
use crate::server::Process;

const TOKEN_HEADER: &str = "x-vault-token";

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until OpenBao answers its health check with 200 (initialised, unsealed, active).
async fn wait_active(url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{url}/v1/sys/health")).send().await
            && r.status().as_u16() == 200
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("OpenBao at {url} did not become active within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_listening(url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.get(format!("{url}/v1/sys/health")).send().await.is_err() {
        if Instant::now() > deadline {
            bail!("OpenBao at {url} did not listen within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A dev-mode OpenBao (KV v2 at `secret/`) and its root token.
pub async fn dev(bao: &str) -> anyhow::Result<(Process, String)> {
    let port = free_port()?;
    let token = "bench-root".to_owned();
    let child = Command::new(bao)
        .args(["server", "-dev", "-dev-no-store-token"])
        .arg(format!("-dev-root-token-id={token}"))
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .env("BAO_LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start bao server -dev")?;
    let process = Process {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    wait_active(&process.url).await?;
    Ok((process, token))
}

/// An OpenBao on integrated raft storage in `dir` (every write fsynced by raft),
/// initialised, unsealed, with KV v2 at `secret/`; and its root token.
pub async fn raft(bao: &str, dir: &Path) -> anyhow::Result<(Process, String)> {
    let (port, cluster_port) = (free_port()?, free_port()?);
    let data = dir.join("raft");
    std::fs::create_dir_all(&data)?;
    let config = dir.join("bao.hcl");
    std::fs::write(
        &config,
        format!(
            r#"storage "raft" {{
  path    = "{}"
  node_id = "bench"
}}
listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable     = true
}}
api_addr      = "http://127.0.0.1:{port}"
cluster_addr  = "http://127.0.0.1:{cluster_port}"
disable_mlock = true
"#,
            data.display()
        ),
    )?;
    let child = Command::new(bao)
        .args(["server", "-config"])
        .arg(&config)
        .env("BAO_LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start bao server on raft")?;
    let process = Process {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    wait_listening(&process.url).await?;
    let http = reqwest::Client::new();
    let init: Value = http
        .put(format!("{}/v1/sys/init", process.url))
        .json(&json!({"secret_shares": 1, "secret_threshold": 1}))
        .send()
        .await?
        .json()
        .await?;
    let key = init["keys_base64"][0].as_str().context("no unseal key from OpenBao")?;
    let token = init["root_token"]
        .as_str()
        .context("no root token from OpenBao")?
        .to_owned();
    http.put(format!("{}/v1/sys/unseal", process.url))
        .json(&json!({"key": key}))
        .send()
        .await?
        .error_for_status()?;
    wait_active(&process.url).await?;
    http.post(format!("{}/v1/sys/mounts/secret", process.url))
        .header(TOKEN_HEADER, &token)
        .json(&json!({"type": "kv", "options": {"version": "2"}}))
        .send()
        .await?
        .error_for_status()
        .context("enabling KV v2 on OpenBao")?;
    Ok((process, token))
}

/// Reads of one KV v2 secret, like Leash's `read` scenario.
pub async fn read_load(
    process: &Process,
    token: &str,
    value: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let url = format!("{}/v1/secret/data/bench", process.url);
    reqwest::Client::new()
        .post(&url)
        .header(TOKEN_HEADER, token)
        .json(&json!({"data": {"DATABASE_URL": value}}))
        .send()
        .await?
        .error_for_status()
        .context("writing the OpenBao read target")?;
    let target = load::Target::get(url, Some((TOKEN_HEADER, token.to_owned())));
    Ok(load::hammer(target, connections, duration).await)
}

/// New KV v2 secrets, one per request, like Leash's `write` scenario.
pub async fn write_load(
    process: &Process,
    token: &str,
    value: &str,
    connections: usize,
    duration: Duration,
) -> Outcome {
    let target = load::Target {
        method: reqwest::Method::POST,
        urls: vec![format!("{}/v1/secret/data", process.url)],
        header: Some((TOKEN_HEADER, token.to_owned())),
        body: Some(json!({"data": {"v": value}}).to_string()),
        fresh_paths: true,
    };
    load::hammer(target, connections, duration).await
}
