//! The rotation issue's "done when", end to end: a real PostgreSQL with
//! password authentication, a real `leash` server, the `leash` CLI setting a
//! PostgreSQL rotation policy with alternating users, and a service under
//! `leash run --watch` that keeps connecting while its password is rotated.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use leash_rotate::testing::PgCluster;
use leash_server::Server;
use tempfile::TempDir;

mod common;

use common::Run;

struct Env {
    _server: Server,
    url: String,
    token: String,
    dir: TempDir,
}

impl Env {
    async fn start() -> Self {
        let server = leash_server::start(common::config(), true).await.unwrap();
        let token = server.dev_root_token.as_ref().unwrap().to_string();
        let url = server.url();
        let env = Env {
            _server: server,
            url,
            token,
            dir: tempfile::tempdir().unwrap(),
        };
        env.run(&["project", "create", "payment"]).await.ok();
        env.run(&["env", "create", "--project", "payment", "prod"]).await.ok();
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = common::leash_command(self.dir.path(), &self.url, &self.token, args);
        cmd.env("LEASH_PROJECT", "payment").env("LEASH_ENV", "prod");
        cmd
    }

    async fn run(&self, args: &[&str]) -> Run {
        let out = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .expect("leash did not finish within 60 s")
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    async fn value(&self, key: &str, stage: &str) -> Run {
        self.run(&["secrets", "get", key, "--stage", stage, "--plain"]).await
    }
}

/// Waits until `file`'s lines satisfy `done`, or panics after `limit`.
async fn wait_lines(file: &Path, limit: Duration, done: impl Fn(&[&str]) -> bool) -> Vec<String> {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if done(&lines) {
            return lines.into_iter().map(str::to_owned).collect();
        }
        assert!(start.elapsed() < limit, "timed out; {} holds: {text:?}", file.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The role a `postgres://role:password@…` value logs in as.
fn role_of(url: &str) -> &str {
    url.trim_start_matches("postgres://").split(':').next().unwrap()
}

#[tokio::test]
async fn a_postgres_password_keeps_rotating_while_a_watched_service_keeps_connecting() {
    let pg = PgCluster::start().await;
    pg.exec("CREATE ROLE app_a LOGIN PASSWORD 'initial-a'; CREATE ROLE app_b LOGIN PASSWORD 'initial-b';")
        .await;
    let env = Env::start().await;
    let admin = format!("PG_ADMIN_URL={}", pg.admin_url());
    env.run(&["secrets", "set", &admin]).await.ok();
    env.run(&[
        "rotation",
        "set",
        "DB_URL",
        "--every",
        "30d",
        "--grace",
        "1h",
        "--rotator",
        "postgres",
        "--admin-secret",
        "PG_ADMIN_URL",
        "--role",
        "app_a",
        "--role",
        "app_b",
    ])
    .await
    .ok();
    let status = env
        .run(&["rotation", "show", "DB_URL", "--output", "json"])
        .await
        .json();
    assert_eq!(status["policy"]["rotator"]["kind"], "postgres", "{status}");
    assert_eq!(status["policy"]["every"], "30d");

    // The first rotation creates the value.
    env.run(&["rotate", "DB_URL"]).await.ok();
    let first = env.value("DB_URL", "current").await.ok();
    assert_eq!(role_of(&first), "app_a");
    assert!(PgCluster::can_login(&first).await);

    // A service under `leash run --watch`: it connects every 100 ms and logs who it is.
    let log = env.path("connections");
    let script = r#"while true; do
        if who=$(psql "$DB_URL" -Atc 'select current_user' 2>/dev/null); then echo "$who" >> "$1"; else echo FAIL >> "$1"; fi
        sleep 0.1
    done"#;
    let mut child = env
        .command(&[
            "run",
            "--watch",
            "--debounce",
            "100ms",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            log.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let limit = Duration::from_secs(60);
    wait_lines(&log, limit, |l| l.len() >= 3).await;

    for expected in ["app_b", "app_a", "app_b"] {
        let before = env.value("DB_URL", "current").await.ok();
        env.run(&["rotate", "DB_URL"]).await.ok();
        let now = env.value("DB_URL", "current").await.ok();
        assert_eq!(role_of(&now), expected);
        assert!(PgCluster::can_login(&now).await, "the new credential logs in");
        // The previous credential still works during the grace period...
        assert_eq!(env.value("DB_URL", "previous").await.ok(), before);
        assert!(
            PgCluster::can_login(&before).await,
            "the previous credential works during the grace period"
        );
        // ...and the watched service moves over to the new role.
        wait_lines(&log, limit, |l| l.last() == Some(&expected)).await;
    }
    let lines = wait_lines(&log, limit, |_| true).await;
    assert!(
        !lines.iter().any(|l| l == "FAIL"),
        "the service failed to connect at some point: {lines:?}"
    );
    let _ = child.kill().await;

    // A leaked credential: rotate now and retire the previous one at once.
    let leaked = env.value("DB_URL", "current").await.ok();
    env.run(&["rotate", "DB_URL", "--now", "--revoke-previous"]).await.ok();
    let fresh = env.value("DB_URL", "current").await.ok();
    assert!(PgCluster::can_login(&fresh).await);
    assert!(
        !PgCluster::can_login(&leaked).await,
        "the revoked credential still logs in"
    );
    let refused = env.value("DB_URL", "previous").await.fails();
    assert!(refused.contains("retired"), "{refused}");

    let history = env
        .run(&["rotation", "history", "DB_URL", "--output", "json"])
        .await
        .json();
    let attempts = history["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 5, "{history}");
    assert!(
        attempts
            .iter()
            .all(|a| a["outcome"] == "succeeded" && a["rotator"] == "postgres"),
        "{history}"
    );
    // The admin URL and the passwords never reach the CLI's error output or the history.
    assert!(!history.to_string().contains(crate_password(&fresh)));
}

/// The password part of a `postgres://role:password@host/db` URL.
fn crate_password(url: &str) -> &str {
    let rest = url.trim_start_matches("postgres://");
    let creds = rest.split('@').next().unwrap();
    creds.split_once(':').unwrap().1
}
