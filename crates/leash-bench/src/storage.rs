//! The `storage` scenario: the same reads, writes and watch propagation on
//! SQLite (one node), on PostgreSQL with one node, and on PostgreSQL with
//! three nodes, side by side in one run. Clients spread over the nodes
//! (connection `i` talks to node `i % nodes`); watchers listen on the last
//! node while the writes go to the first, so with three nodes every event
//! crosses the database's notification channel.
//!
//! PostgreSQL is the local server (`postgres://postgres@127.0.0.1:5432/postgres`,
//! or an admin URL in `LEASH_BENCH_POSTGRES`); each configuration gets a
//! fresh database, dropped afterwards. Without PostgreSQL the rows say so.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use leash_client::Client;
use leash_core::api::SecretWrite;
use secrecy::SecretString;
use sqlx::Connection;

use crate::server::{self, Process};
use crate::{Plan, Row, load};

const VALUE: &str = "postgres://svc:correct-horse-battery@db.internal:5432/payment";

fn write() -> SecretWrite {
    SecretWrite {
        value: VALUE.into(),
        description: None,
        cas: None,
        e2e_recipients: None,
    }
}

fn admin_url() -> String {
    std::env::var("LEASH_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database, dropped when this is.
struct Database {
    name: String,
    url: String,
}

impl Database {
    async fn create() -> anyhow::Result<Self> {
        let admin = admin_url();
        let name = format!(
            "leash_bench_{}_{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        );
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        Ok(Self {
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (admin_url(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })?;
            Ok::<_, anyhow::Error>(())
        })
        .join();
    }
}

/// The nodes of one configuration, and what keeps them alive.
struct Setup {
    label: &'static str,
    nodes: Vec<Process>,
    token: String,
    _dirs: Vec<tempfile::TempDir>,
    _db: Option<Database>,
}

async fn setup(label: &'static str, postgres_nodes: usize) -> anyhow::Result<Setup> {
    let db = if postgres_nodes > 0 {
        Some(Database::create().await?)
    } else {
        None
    };
    let storage: Vec<String> = db
        .iter()
        .flat_map(|d| ["--storage".to_owned(), d.url.clone()])
        .collect();
    let extra: Vec<&str> = storage.iter().map(String::as_str).collect();
    let first_dir = tempfile::tempdir()?;
    let (first, token, share) = server::leash_initialised(first_dir.path(), &extra).await?;
    let mut nodes = vec![first];
    let mut dirs = vec![first_dir];
    for _ in 1..postgres_nodes {
        let dir = tempfile::tempdir()?;
        nodes.push(server::leash_node(dir.path(), &extra, &share).await?);
        dirs.push(dir);
    }
    let client = Client::new(&nodes[0].url, Some(SecretString::from(token.clone())), None)?;
    client.create_project("p").await?;
    client.create_env("p", "e").await?;
    client.put_secret("p", "e", "DATABASE_URL", &write()).await?;
    Ok(Setup {
        label,
        nodes,
        token,
        _dirs: dirs,
        _db: db,
    })
}

fn urls(s: &Setup, suffix: &str) -> Vec<String> {
    s.nodes.iter().map(|n| format!("{}{suffix}", n.url)).collect()
}

async fn reads(s: &Setup, plan: Plan) -> load::Outcome {
    let target = load::Target {
        urls: urls(s, "/api/v1/projects/p/envs/e/secrets/DATABASE_URL"),
        ..load::Target::get(String::new(), Some(("authorization", format!("Bearer {}", s.token))))
    };
    load::hammer(target, plan.connections, plan.duration).await
}

async fn writes(s: &Setup, plan: Plan) -> load::Outcome {
    let target = load::Target {
        method: reqwest::Method::PUT,
        urls: urls(s, "/api/v1/projects/p/envs/e/secrets"),
        header: Some(("authorization", format!("Bearer {}", s.token))),
        body: Some(serde_json::json!({"value": VALUE}).to_string()),
        fresh_paths: true,
    };
    load::hammer(target, plan.connections, plan.duration).await
}

/// Watchers on the last node, writes through the first: write sent -> event received.
async fn watch(s: &Setup, watchers: usize) -> anyhow::Result<Histogram<u64>> {
    let secret = || Some(SecretString::from(s.token.clone()));
    let writer = Client::new(&s.nodes[0].url, secret(), None)?;
    let listener = Client::new(&s.nodes[s.nodes.len() - 1].url, secret(), None)?;
    let start = writer.put_secret("p", "e", "ROTATED", &write()).await?.revision;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(i64, Instant)>();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let mut stream = listener.watch("p", "e", None, Some(start)).await?;
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(event)) = stream.next().await {
                let _ = tx.send((event.revision, Instant::now()));
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for _ in 0..10 {
        let sent = Instant::now();
        let revision = writer.put_secret("p", "e", "ROTATED", &write()).await?.revision;
        let mut received = 0;
        let deadline = sent + Duration::from_secs(10);
        while received < watchers {
            match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), rx.recv()).await {
                Ok(Some((rev, at))) if rev == revision => {
                    received += 1;
                    let _ = histogram.record(at.saturating_duration_since(sent).as_micros().max(1) as u64);
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for t in tasks {
        t.abort();
    }
    Ok(histogram)
}

pub async fn run(plan: Plan, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let watchers = if plan.quick { 20 } else { 100 };
    for (label, postgres_nodes) in [
        ("SQLite, 1 node", 0),
        ("PostgreSQL, 1 node", 1),
        ("PostgreSQL, 3 nodes", 3),
    ] {
        let s = match setup(label, postgres_nodes).await {
            Ok(s) => s,
            Err(e) if postgres_nodes > 0 => {
                rows.push(Row::new("storage", label, format!("not run: {e}")));
                continue;
            }
            Err(e) => return Err(e),
        };
        let r = reads(&s, plan).await;
        rows.push(Row::new(
            "storage",
            format!("{}: audited reads, {} conns over the nodes", s.label, plan.connections),
            format!("{:.0}/s, p99 {:.2} ms ({} errors)", r.rate(), r.ms(0.99), r.errors),
        ));
        let w = writes(&s, plan).await;
        rows.push(Row::new(
            "storage",
            format!(
                "{}: durable writes, {} writers over the nodes",
                s.label, plan.connections
            ),
            format!("{:.0}/s, p99 {:.1} ms ({} errors)", w.rate(), w.ms(0.99), w.errors),
        ));
        let h = watch(&s, watchers).await?;
        let p = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        rows.push(
            Row::new(
                "storage",
                format!(
                    "{}: write on the first node -> {watchers} watchers on the last",
                    s.label
                ),
                format!(
                    "p50 {:.1} ms, p99 {:.1} ms ({} of {} deliveries)",
                    p(0.5),
                    p(0.99),
                    h.len(),
                    10 * watchers
                ),
            )
            .target("p99 <= 250 ms", p(0.99) <= 250.0 && h.len() as usize == 10 * watchers),
        );
    }
    Ok(())
}
