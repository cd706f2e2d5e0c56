//! `leash-bench`: measures Leash against its performance targets on this
//! machine and prints a Markdown table.
//!
//! Every scenario drives a real release `leash server` process (SQLite in a
//! temp dir, audit on; `storage` also PostgreSQL with one and three nodes) over loopback HTTP/1.1 keep-alive. The load generator
//! runs on the same machine, so both share its cores; the `baseline` row (a
//! minimal HTTP server answering the same number of bytes) shows what the
//! machine allows for one HTTP request. `--quick` runs every scenario briefly
//! to prove the harness works; its numbers are not the ones to quote.
//! It never runs as a test.

mod load;
mod openbao;
mod scan_accuracy;
mod scenarios;
mod server;
mod storage;

use std::time::Duration;

/// How long and how hard to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub quick: bool,
    pub duration: Duration,
    pub connections: usize,
    pub watchers: usize,
    pub run_iterations: usize,
    pub scale_versions: usize,
}

/// One table row.
pub struct Row {
    pub scenario: &'static str,
    pub metric: String,
    pub result: String,
    pub target: String,
    pub verdict: String,
}

impl Row {
    pub fn new(scenario: &'static str, metric: impl Into<String>, result: impl Into<String>) -> Self {
        Self {
            scenario,
            metric: metric.into(),
            result: result.into(),
            target: "-".into(),
            verdict: "-".into(),
        }
    }

    /// Adds a target and whether `met` holds.
    pub fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = target.into();
        self.verdict = if met { "met" } else { "missed" }.into();
        self
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores, {cpu}")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("baseline-server") {
        let len = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200);
        return server::serve_baseline(len);
    }
    if args.first().map(String::as_str) == Some("scan-accuracy") {
        return scan_accuracy::main(&args[1..]);
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "usage: leash-bench [--quick] [SCENARIO...]\n\nScenarios: read baseline write watch run agent scale scan peer storage (default: all).\n\
             Needs the release server: cargo build --release --bin leash"
        );
        return Ok(());
    }
    if let Some(unknown) = args.iter().find(|a| a.starts_with('-') && *a != "--quick") {
        anyhow::bail!("unknown option {unknown}; see --help");
    }
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let plan = if quick {
        Plan {
            quick,
            duration: Duration::from_secs(2),
            connections: 16,
            watchers: 100,
            run_iterations: 5,
            scale_versions: 20_000,
        }
    } else {
        Plan {
            quick,
            duration: Duration::from_secs(20),
            connections: 64,
            watchers: 1000,
            run_iterations: 30,
            scale_versions: 1_000_000,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let rows = runtime.block_on(scenarios::run_all(plan, &only))?;
    println!(
        "Machine: {}. Mode: {}.\n",
        machine(),
        if quick { "--quick (not for quoting)" } else { "full" }
    );
    println!("| scenario | metric | result | target | verdict |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.scenario, r.metric, r.result, r.target, r.verdict
        );
    }
    Ok(())
}
