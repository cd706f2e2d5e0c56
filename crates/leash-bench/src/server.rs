//! Starting the systems under test as real processes: the release `leash`
//! server (SQLite in a temp dir, audit on), initialised and unsealed, and the
//! baseline server (this binary re-executed in `baseline-server` mode).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// A running server process, killed on drop.
pub struct Process {
    pub child: Child,
    pub url: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.child.id())
    }
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The release `leash` binary next to this one.
pub fn leash_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name("leash");
    if !path.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release --bin leash`",
            path.display()
        );
    }
    Ok(path)
}

/// Reads stderr until the server logs its address.
fn wait_for_url(child: &mut Child) -> anyhow::Result<String> {
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().context("the server exited before listening")??;
        if let Some(rest) = line.split("url=").nth(1) {
            break rest.split_whitespace().next().unwrap_or_default().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(url)
}

/// A leash server on a fresh data dir, initialised and unsealed; returns it and the root token.
pub async fn leash(data_dir: &Path) -> anyhow::Result<(Process, String)> {
    let (process, token, _) = leash_initialised(data_dir, &[]).await?;
    Ok((process, token))
}

/// A leash server started with `extra` arguments (a `--storage`, say).
fn spawn_leash(data_dir: &Path, extra: &[&str]) -> anyhow::Result<Process> {
    let mut child = Command::new(leash_binary()?)
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("LEASH_LOG", "warn,leash=info,leash_server=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start leash server")?;
    let url = wait_for_url(&mut child)?;
    Ok(Process { child, url })
}

async fn unseal(url: &str, share: &str) -> anyhow::Result<()> {
    let status = reqwest::Client::new()
        .post(format!("{url}/api/v1/sys/unseal"))
        .json(&json!({"share": share}))
        .send()
        .await?
        .status();
    anyhow::ensure!(status.is_success(), "unsealing {url}: {status}");
    Ok(())
}

/// A leash server on a fresh store, initialised and unsealed; returns it, the root token and the unseal share.
pub async fn leash_initialised(data_dir: &Path, extra: &[&str]) -> anyhow::Result<(Process, String, String)> {
    let process = spawn_leash(data_dir, extra)?;
    let init: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/sys/init", process.url))
        .json(&json!({"shares": 1, "threshold": 1}))
        .send()
        .await?
        .json()
        .await?;
    let share = init["unseal_shares"][0].as_str().context("no share")?.to_owned();
    unseal(&process.url, &share).await?;
    let token = init["root_token"].as_str().context("no root token")?.to_owned();
    Ok((process, token, share))
}

/// One more node on a store another node initialised, unsealed with `share`.
pub async fn leash_node(data_dir: &Path, extra: &[&str], share: &str) -> anyhow::Result<Process> {
    let process = spawn_leash(data_dir, extra)?;
    unseal(&process.url, share).await?;
    Ok(process)
}

/// The baseline: a minimal HTTP server answering 200 with `body_len` bytes, in its own process.
pub fn baseline(body_len: usize) -> anyhow::Result<Process> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["baseline-server", &body_len.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let url = wait_for_url(&mut child)?;
    Ok(Process { child, url })
}

/// Runs the baseline server (the re-executed child).
pub fn serve_baseline(body_len: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let body = "x".repeat(body_len);
        let app = axum::Router::new().fallback(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        eprintln!("baseline listening url=http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}
