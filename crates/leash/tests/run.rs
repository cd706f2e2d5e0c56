//! Black-box tests of `leash run` with real processes: the built `leash`
//! binary against an in-process `--dev` server on 127.0.0.1:0, running `sh`
//! children. Every test also checks that no planted value reaches leash's
//! own stderr.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use leash_client::Client;
use leash_core::api::SecretWrite;
use leash_server::{Server, ServerConfig};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};

mod common;

/// Values planted in the environment; none may appear on leash's stderr.
const DB: &str = "postgres://u:planted-db-Zq8@db/x";
const API: &str = "planted-api-one-Zq8";
const STRIPE: &str = "sk_planted_Zq8";

struct Env {
    server: Option<Server>,
    url: String,
    token: String,
    client: Client,
    dir: TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> String {
        assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        clean(&self.stderr);
        self.stdout
    }
}

/// Fails if leash's stderr holds a planted value.
#[track_caller]
fn clean(stderr: &str) {
    for value in [DB, API, STRIPE, "planted"] {
        assert!(!stderr.contains(value), "a value reached stderr: {stderr}");
    }
}

async fn setup() -> Env {
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        ..ServerConfig::default()
    };
    let server = leash_server::start(config, true).await.unwrap();
    let token = server.dev_root_token.as_ref().unwrap().to_string();
    let url = server.url();
    let client = Client::new(&url, Some(token.clone().into()), None).unwrap();
    client.create_project("payment").await.unwrap();
    client.create_env("payment", "prod").await.unwrap();
    let env = Env {
        server: Some(server),
        url,
        token,
        client,
        dir: tempfile::tempdir().unwrap(),
    };
    env.set("DATABASE_URL", DB).await;
    env.set("API_KEY", API).await;
    env.set("stripe/API_KEY", STRIPE).await;
    env
}

impl Env {
    async fn set(&self, path: &str, value: &str) {
        let write = SecretWrite {
            value: value.into(),
            description: None,
            cas: None,
            e2e_recipients: None,
        };
        self.client.put_secret("payment", "prod", path, &write).await.unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `leash args…` with address, token, project and env in the environment.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = common::leash_command(self.dir.path(), &self.url, &self.token, args);
        cmd.env("LEASH_PROJECT", "payment").env("LEASH_ENV", "prod");
        cmd
    }

    async fn run(&self, args: &[&str]) -> Run {
        output(self.command(args)).await
    }

    async fn stop_server(&mut self) {
        self.server.take().unwrap().shutdown().await.unwrap();
    }
}

async fn output(mut cmd: tokio::process::Command) -> Run {
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("leash run did not finish within 60 s")
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn signal(child: &tokio::process::Child, sig: Signal) {
    kill(Pid::from_raw(child.id().unwrap() as i32), sig).unwrap();
}

#[tokio::test]
async fn injects_values_by_the_folder_rule_without_the_token() {
    let env = setup().await;
    let out = env
        .run(&[
            "run",
            "--",
            "sh",
            "-c",
            r#"echo "$DATABASE_URL|$API_KEY|$STRIPE_API_KEY|${LEASH_TOKEN:-none}|${LEASH_ADDR:-none}|${LEASH_PROJECT:-none}""#,
        ])
        .await
        .ok();
    assert_eq!(out, format!("{DB}|{API}|{STRIPE}|none|none|none\n"));
    // The token appears nowhere in the child's environment.
    let out = env.run(&["run", "--", "env"]).await.ok();
    assert!(!out.contains(&env.token), "{out}");
    // --path limits to a folder.
    let out = env
        .run(&[
            "run",
            "--path",
            "stripe",
            "--",
            "sh",
            "-c",
            r#"echo "$STRIPE_API_KEY|${API_KEY:-none}""#,
        ])
        .await
        .ok();
    assert_eq!(out, format!("{STRIPE}|none\n"));
}

#[tokio::test]
async fn only_and_preserve_env() {
    let env = setup().await;
    let show = r#"echo "${API_KEY:-none}|${DATABASE_URL:-none}""#;
    let out = env
        .run(&["run", "--only", "API_KEY", "--", "sh", "-c", show])
        .await
        .ok();
    assert_eq!(out, format!("{API}|none\n"));
    let run = env.run(&["run", "--only", "API_KEY,NOPE", "--", "true"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("NOPE"), "{}", run.stderr);
    clean(&run.stderr);

    let mut cmd = env.command(&["run", "--", "sh", "-c", show]);
    cmd.env("API_KEY", "from-the-shell");
    assert_eq!(output(cmd).await.ok(), format!("{API}|{DB}\n"), "Leash wins by default");
    let mut cmd = env.command(&["run", "--preserve-env", "--", "sh", "-c", show]);
    cmd.env("API_KEY", "from-the-shell");
    assert_eq!(output(cmd).await.ok(), format!("from-the-shell|{DB}\n"));
}

#[tokio::test]
async fn colliding_names_are_an_error_naming_both_paths() {
    let env = setup().await;
    env.set("STRIPE_API_KEY", "planted-collision").await;
    let marker = env.path("ran");
    let run = env.run(&["run", "--", "touch", marker.to_str().unwrap()]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("STRIPE_API_KEY and stripe/API_KEY"),
        "{}",
        run.stderr
    );
    clean(&run.stderr);
    assert!(!marker.exists(), "the command ran");
}

#[tokio::test]
async fn exit_codes_propagate() {
    let env = setup().await;
    assert_eq!(env.run(&["run", "--", "sh", "-c", "exit 7"]).await.code, 7);
    assert_eq!(env.run(&["run", "--", "true"]).await.code, 0);
    // Killed by a signal: 128 + the signal.
    assert_eq!(env.run(&["run", "--", "sh", "-c", "kill -TERM $$"]).await.code, 143);
    // Not found: 127, like a shell.
    let run = env.run(&["run", "--", "no-such-command-xyz"]).await;
    assert_eq!(run.code, 127);
    assert!(run.stderr.contains("no-such-command-xyz"), "{}", run.stderr);
}

#[tokio::test]
async fn signals_reach_the_child() {
    let env = setup().await;
    let script = r#"trap 'echo got-usr1' USR1; trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"#;
    let mut child = env.command(&["run", "--", "sh", "-c", script]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let next = async |lines: &mut tokio::io::Lines<_>| {
        tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(next(&mut lines).await.as_deref(), Some("ready"));
    signal(&child, Signal::SIGUSR1);
    assert_eq!(next(&mut lines).await.as_deref(), Some("got-usr1"));
    signal(&child, Signal::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(42));

    // A child that does not trap the signal dies of it: 128 + 15.
    let mut child = env
        .command(&["run", "--", "sh", "-c", "echo ready; exec sleep 100"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(next(&mut lines).await.as_deref(), Some("ready"));
    signal(&child, Signal::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(143));
}

#[tokio::test]
async fn watch_restarts_with_the_new_value_and_debounces_bursts() {
    let env = setup().await;
    let log = env.path("starts");
    let child = env
        .command(&[
            "run",
            "--watch",
            "--debounce",
            "500ms",
            "--grace",
            "5s",
            "--",
            "sh",
            "-c",
            r#"echo "$API_KEY" >> "$1"; exec sleep 1000"#,
            "sh",
            log.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let limit = Duration::from_secs(30);
    wait_lines(&log, limit, |l| l == [API]).await;

    env.set("API_KEY", "planted-api-two").await;
    wait_lines(&log, limit, |l| l.len() == 2).await;

    // A burst of 10 writes is one restart, with the last value.
    for i in 0..10 {
        env.set("API_KEY", &format!("planted-burst-{i}")).await;
    }
    wait_lines(&log, limit, |l| l.len() >= 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lines = wait_lines(&log, limit, |_| true).await;
    assert_eq!(lines, [API, "planted-api-two", "planted-burst-9"]);

    signal(&child, Signal::SIGTERM);
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(143));
    clean(&String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn watch_can_signal_instead_and_refreshes_the_mounted_file() {
    let env = setup().await;
    let log = env.path("reads");
    let child = env
        .command(&[
            "run",
            "--watch",
            "--on-change",
            "signal:HUP",
            "--mount",
            "secrets.env",
            "--",
            "sh",
            "-c",
            r#"trap 'grep ^API_KEY= "$LEASH_SECRETS_FILE" >> "$1"' HUP; grep ^API_KEY= "$LEASH_SECRETS_FILE" >> "$1"; while :; do sleep 0.05; done"#,
            "sh",
            log.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let limit = Duration::from_secs(30);
    wait_lines(&log, limit, |l| l.len() == 1).await;
    env.set("API_KEY", "planted-hup").await;
    let lines = wait_lines(&log, limit, |l| l.len() == 2).await;
    assert_eq!(
        lines,
        [format!("API_KEY=\"{API}\""), "API_KEY=\"planted-hup\"".to_owned()]
    );
    signal(&child, Signal::SIGINT);
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(130));
    clean(&String::from_utf8_lossy(&out.stderr));
    assert!(!env.path("secrets.env").exists(), "the mount file outlived the command");
}

#[tokio::test]
async fn mount_writes_a_0600_file_instead_of_the_environment_and_removes_it() {
    let env = setup().await;
    let script = r#"stat -c %a "$LEASH_SECRETS_FILE"; cat "$LEASH_SECRETS_FILE"; echo "env:${API_KEY:-none}""#;
    let out = env
        .run(&["run", "--mount", "secrets.env", "--", "sh", "-c", script])
        .await
        .ok();
    assert_eq!(
        out,
        format!("600\nAPI_KEY=\"{API}\"\nDATABASE_URL=\"{DB}\"\nSTRIPE_API_KEY=\"{STRIPE}\"\nenv:none\n")
    );
    assert!(!env.path("secrets.env").exists());

    let out = env
        .run(&[
            "run",
            "--mount",
            "s.json",
            "--mount-format",
            "json",
            "--",
            "sh",
            "-c",
            r#"cat "$LEASH_SECRETS_FILE""#,
        ])
        .await
        .ok();
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["STRIPE_API_KEY"], STRIPE);
    assert!(!env.path("s.json").exists());
    // Removed after a failing command too.
    let run = env
        .run(&["run", "--mount", "secrets.env", "--", "sh", "-c", "exit 3"])
        .await;
    assert_eq!(run.code, 3);
    assert!(!env.path("secrets.env").exists());
}

#[tokio::test]
async fn fallback_uses_the_encrypted_cache_when_the_server_is_down() {
    let mut env = setup().await;
    let cache = env.path("cache.json");
    let cache_arg = cache.to_str().unwrap().to_owned();
    env.run(&["run", "--fallback", &cache_arg, "--", "true"]).await.ok();
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(!text.contains("planted") && !text.contains("DATABASE_URL"), "{text}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o600);

    env.stop_server().await;
    let run = env
        .run(&[
            "run",
            "--fallback",
            &cache_arg,
            "--",
            "sh",
            "-c",
            r#"echo "$API_KEY|$STRIPE_API_KEY""#,
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{API}|{STRIPE}\n"));
    assert!(
        run.stderr.contains("warning:") && run.stderr.contains("ago"),
        "{}",
        run.stderr
    );
    clean(&run.stderr);

    // --offline reads the default cache, written by every successful run (the first one
    // above wrote the --fallback file instead, so this one has none).
    let run = env.run(&["run", "--offline", "--", "true"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no cached secrets"), "{}", run.stderr);
    let out = env
        .run(&[
            "run",
            "--offline",
            "--fallback",
            &cache_arg,
            "--",
            "sh",
            "-c",
            "echo $API_KEY",
        ])
        .await
        .ok();
    assert_eq!(out, format!("{API}\n"));

    // Another token cannot read it.
    let mut cmd = env.command(&["run", "--fallback", &cache_arg, "--", "true"]);
    cmd.env("LEASH_TOKEN", "lsh_someone_else");
    let run = output(cmd).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot decrypt"), "{}", run.stderr);

    // Without a fallback: a clear error, and the command does not run.
    let marker = env.path("ran");
    let run = env.run(&["run", "--", "touch", marker.to_str().unwrap()]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("not started") && run.stderr.contains("cannot reach"),
        "{}",
        run.stderr
    );
    assert!(!marker.exists(), "the command ran without secrets");
}

#[tokio::test]
async fn a_passphrase_keys_the_cache_and_is_not_passed_on() {
    let mut env = setup().await;
    let cache = env.path("cache.json");
    let cache_arg = cache.to_str().unwrap().to_owned();
    let mut cmd = env.command(&[
        "run",
        "--fallback",
        &cache_arg,
        "--cache-passphrase-env",
        "MY_PASS",
        "--",
        "sh",
        "-c",
        r#"echo "${MY_PASS:-gone}""#,
    ]);
    cmd.env("MY_PASS", "correct horse battery");
    assert_eq!(output(cmd).await.ok(), "gone\n");
    env.stop_server().await;
    // Any token (even none) works with the passphrase.
    let mut cmd = env.command(&[
        "run",
        "--offline",
        "--fallback",
        &cache_arg,
        "--cache-passphrase-env",
        "MY_PASS",
        "--",
        "sh",
        "-c",
        "echo $API_KEY",
    ]);
    cmd.env("MY_PASS", "correct horse battery").env_remove("LEASH_TOKEN");
    assert_eq!(output(cmd).await.ok(), format!("{API}\n"));
}

/// A TCP forwarder in front of the server that can drop every connection and
/// refuse new ones, to simulate a network outage.
struct Proxy {
    url: String,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(server_url: &str) -> Proxy {
        use std::sync::atomic::Ordering;
        let target = server_url.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let target = target.clone();
                let handle = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(handle);
            }
        });
        Proxy { url, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for handle in self.conns.lock().unwrap().drain(..) {
            handle.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn watch_catches_up_after_an_outage_without_missing_the_last_change() {
    let env = setup().await;
    let proxy = Proxy::start(&env.url).await;
    let log = env.path("starts");
    let mut cmd = env.command(&[
        "run",
        "--watch",
        "--",
        "sh",
        "-c",
        r#"echo "$API_KEY" >> "$1"; exec sleep 1000"#,
        "sh",
        log.to_str().unwrap(),
    ]);
    cmd.env("LEASH_ADDR", &proxy.url);
    let child = cmd.spawn().unwrap();
    let limit = Duration::from_secs(30);
    wait_lines(&log, limit, |l| l == [API]).await;

    // Outage: the stream breaks; changes made meanwhile must all be seen after it.
    proxy.cut();
    for i in 1..=5 {
        env.set("API_KEY", &format!("planted-outage-{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        wait_lines(&log, limit, |_| true).await,
        [API],
        "the child was restarted without the server"
    );

    proxy.restore();
    wait_lines(&log, limit, |l| l.len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(wait_lines(&log, limit, |_| true).await, [API, "planted-outage-5"]);

    signal(&child, Signal::SIGTERM);
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(143));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reconnecting"), "{stderr}");
    clean(&stderr);
}

/// `--restart-jitter`: twenty instances watching one environment restart
/// spread over the window after one change, each with the new value, none
/// before the change and none long after the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_jitter_spreads_the_restarts_of_many_instances_over_the_window() {
    const INSTANCES: usize = 20;
    let window = Duration::from_secs(4);
    let env = setup().await;
    let mut children = Vec::new();
    for i in 0..INSTANCES {
        let log = env.path(&format!("starts-{i}"));
        let child = env
            .command(&[
                "run",
                "--watch",
                "--debounce",
                "100ms",
                "--restart-jitter",
                "4s",
                "--grace",
                "5s",
                "--",
                "sh",
                "-c",
                r#"echo "$API_KEY $(date +%s%N)" >> "$1"; exec sleep 1000"#,
                "sh",
                log.to_str().unwrap(),
            ])
            .spawn()
            .unwrap();
        children.push((child, log));
    }
    let limit = Duration::from_secs(60);
    for (_, log) in &children {
        wait_lines(log, limit, |l| l.len() == 1).await;
    }
    let changed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    env.set("API_KEY", "planted-jitter-two").await;
    let mut restarts = Vec::new();
    for (_, log) in &children {
        let lines = wait_lines(log, limit, |l| l.len() == 2).await;
        let (value, at) = lines[1].split_once(' ').unwrap();
        assert_eq!(value, "planted-jitter-two");
        restarts.push(at.parse::<u128>().unwrap());
    }
    let (first, last) = (*restarts.iter().min().unwrap(), *restarts.iter().max().unwrap());
    assert!(first >= changed_at, "an instance restarted before the change");
    let spread = Duration::from_nanos((last - first) as u64);
    // 20 uniform draws over 4 s all fall within 1 s of each other with probability ~1e-11
    assert!(
        spread >= Duration::from_secs(1),
        "restarts not spread: all within {spread:?}"
    );
    let latest = Duration::from_nanos((last - changed_at) as u64);
    assert!(
        latest < window + Duration::from_secs(20),
        "a restart came {latest:?} after the change"
    );
    for (child, _) in &children {
        signal(child, Signal::SIGTERM);
    }
    for (child, _) in children {
        let out = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out.status.code(), Some(143));
    }
}
