//! Test support: a private PostgreSQL cluster with password authentication.
//!
//! The machine's own server may trust every login, which cannot show that an
//! old password fails; this one is made by `initdb --auth=scram-sha-256` in a
//! temporary directory, listens on a free port of 127.0.0.1, and is shut down
//! when dropped. Binaries come from `pg_config --bindir`. PostgreSQL refuses to
//! run as root, so as root the cluster runs as the `postgres` OS user.

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The superuser's name and password in every test cluster.
pub const SUPERUSER: &str = "postgres";
pub const SUPERUSER_PASSWORD: &str = "admin-pw-for-tests";

pub struct PgCluster {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl PgCluster {
    /// Starts a fresh cluster; panics saying what is missing when it cannot.
    pub async fn start() -> PgCluster {
        let bindir = bindir();
        for tool in ["initdb", "postgres"] {
            assert!(
                bindir.join(tool).is_file(),
                "PostgreSQL's {tool} is missing from {} (install the postgresql server package)",
                bindir.display()
            );
        }
        let as_user = run_as();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let pwfile = dir.path().join("pwfile");
        fs::write(&pwfile, SUPERUSER_PASSWORD).expect("writing the password file");
        if let Some((uid, gid)) = as_user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the cluster directory");
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).expect("chown the password file");
        }
        let data = dir.path().join("data");
        let initdb = command(&bindir.join("initdb"), as_user, dir.path())
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("running initdb");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );

        let port = free_port();
        let log = fs::File::create(dir.path().join("postgres.log")).expect("creating the server log");
        if let Some((uid, gid)) = as_user {
            std::os::unix::fs::chown(dir.path().join("postgres.log"), Some(uid), Some(gid)).expect("chown the log");
        }
        let child = command(&bindir.join("postgres"), as_user, dir.path())
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "shared_buffers=16MB",
                "-c",
                "max_connections=40",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("starting postgres");
        let cluster = PgCluster { dir, child, port };
        cluster.wait_until_ready().await;
        cluster
    }

    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if PgConnection::connect(&self.admin_url()).await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the test PostgreSQL did not accept connections within 60s; its log:\n{}",
                fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The superuser's URL.
    pub fn admin_url(&self) -> String {
        self.url(SUPERUSER, SUPERUSER_PASSWORD)
    }

    /// A URL for `user` (as is: the test picks URL-safe names) with `password`
    /// (percent-encoded here).
    pub fn url(&self, user: &str, password: &str) -> String {
        let password: String =
            percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC).collect();
        format!("postgres://{user}:{password}@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs statements as the superuser.
    pub async fn exec(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.admin_url())
            .await
            .expect("superuser connects");
        sqlx::raw_sql(sql).execute(&mut conn).await.expect("statement runs");
        conn.close().await.expect("close");
    }

    /// Whether `url` can log in.
    pub async fn can_login(url: &str) -> bool {
        match PgConnection::connect(url).await {
            Ok(conn) => {
                let _ = conn.close().await;
                true
            }
            Err(_) => false,
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown, the server's children exit with it.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bindir() -> PathBuf {
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("pg_config is missing: install PostgreSQL (its server binaries and pg_config) to run these tests");
    assert!(out.status.success(), "pg_config --bindir failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// `Some((uid, gid))` of the `postgres` OS user when running as root.
fn run_as() -> Option<(u32, u32)> {
    let uid = Command::new("id").arg("-u").output().expect("running id");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("running id");
        assert!(
            out.status.success(),
            "running as root, the tests need a `postgres` OS user to run PostgreSQL as (PostgreSQL refuses root)"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a numeric id")
    };
    Some((id("-u"), id("-g")))
}

fn command(program: &Path, as_user: Option<(u32, u32)>, cwd: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(cwd).env_remove("PGDATA");
    if let Some((uid, gid)) = as_user {
        command.uid(uid).gid(gid).env("HOME", cwd);
    }
    command
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("local address").port()
}
