//! Black-box tests of `leash agent` with real processes: the built `leash`
//! binary against an in-process server on 127.0.0.1. Templates are rendered
//! (mode 0600) and re-rendered on change with their hook, the unix socket
//! (mode 0600) serves reads, the last values survive a server outage and a
//! change made while the agent was disconnected is caught up. No planted
//! value may reach the agent's log.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leash_client::Client;
use leash_core::api::{InitRequest, SecretWrite, UnsealRequest};
use leash_server::{Server, ServerConfig};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const DB: &str = "postgres://u:planted-db-Ag7@db/x";
const DB2: &str = "postgres://u:planted-db-two-Ag7@db/x";
const API: &str = "planted-api-Ag7";
const API2: &str = "planted-api-two-Ag7";
const API3: &str = "planted-api-three-Ag7";

/// A running agent whose stderr is collected.
struct Agent {
    child: tokio::process::Child,
    log: Arc<Mutex<String>>,
}

impl Agent {
    fn spawn(config: &Path, dir: &Path, token: Option<&str>) -> Self {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_leash"));
        cmd.args(["agent", "--config"])
            .arg(config)
            .current_dir(dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env("HOME", dir)
            .env("LEASH_LOG", "debug")
            .env_remove("LEASH_ADDR")
            .env_remove("LEASH_PROJECT")
            .env_remove("LEASH_ENV")
            .env_remove("LEASH_CA_CERT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match token {
            Some(t) => cmd.env("LEASH_TOKEN", t),
            None => cmd.env_remove("LEASH_TOKEN"),
        };
        let mut child = cmd.spawn().expect("leash agent starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Agent { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Fails if the agent logged a planted value.
    #[track_caller]
    fn assert_clean(&self) {
        let log = self.log();
        assert!(!log.contains("planted"), "a value reached the agent's log:\n{log}");
        assert!(!log.contains("lsh_"), "a token reached the agent's log:\n{log}");
    }

    /// SIGTERM; the agent exits with 0, or with the exit code of its stopped child.
    async fn stop(self) -> String {
        self.stop_with(0).await
    }

    async fn stop_with(mut self, code: i32) -> String {
        let pid = self.child.id().unwrap() as i32;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("the agent stops on SIGTERM")
            .unwrap();
        assert_eq!(status.code(), Some(code), "agent exit {status:?}\n{}", self.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.log()
    }
}

async fn put(client: &Client, path: &str, value: &str) {
    let write = SecretWrite {
        value: value.into(),
        description: None,
        cas: None,
        e2e_recipients: None,
    };
    client.put_secret("payment", "prod", path, &write).await.unwrap();
}

/// Waits until `check` holds for the file's contents, or panics after `limit`.
async fn wait_file(file: &Path, limit: Duration, check: impl Fn(&str) -> bool, agent: &Agent) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if check(&text) {
            return text;
        }
        assert!(
            start.elapsed() < limit,
            "timed out; {} holds {text:?}; agent log:\n{}",
            file.display(),
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `GET path` over the unix socket: (status, body).
async fn socket_get(socket: &Path, path: &str) -> (u16, String) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn dev_server() -> (Server, Client, String) {
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        ..ServerConfig::default()
    };
    let server = leash_server::start(config, true).await.unwrap();
    let token = server.dev_root_token.as_ref().unwrap().to_string();
    let client = Client::new(&server.url(), Some(token.clone().into()), None).unwrap();
    client.create_project("payment").await.unwrap();
    client.create_env("payment", "prod").await.unwrap();
    (server, client, token)
}

/// Runs `leash ARGS` as root against `url`; returns stdout.
async fn leash(dir: &Path, url: &str, token: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_leash"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("LEASH_ADDR", url)
        .env("LEASH_TOKEN", token)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "leash {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_templates_rerenders_on_change_runs_the_hook_and_serves_the_socket() {
    let (server, client, token) = dev_server().await;
    put(&client, "DATABASE_URL", DB).await;
    put(&client, "stripe/API_KEY", API).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // A service identity that logs in with its client secret from a file.
    let policy = write(
        d,
        "svc.toml",
        "[[allow]]\npath = \"payment/prod/**\"\ncapabilities = [\"read\", \"list\"]\n",
    );
    leash(
        d,
        &server.url(),
        &token,
        &["policy", "write", "svc", policy.to_str().unwrap()],
    )
    .await;
    let created: serde_json::Value = serde_json::from_str(
        &leash(
            d,
            &server.url(),
            &token,
            &["identity", "create", "svc", "--policy", "svc", "--output", "json"],
        )
        .await,
    )
    .unwrap();
    let client_id = created["client_id"].as_str().unwrap();
    write(
        d,
        "client-secret",
        &format!("{}\n", created["client_secret"].as_str().unwrap()),
    );

    let out = d.join("out/app.env");
    let hooks = d.join("hooks.log");
    let socket = d.join("agent.sock");
    let config = write(
        d,
        "agent.toml",
        &format!(
            r#"address = "{url}"
project = "payment"
env = "prod"

[auth]
client_id = "{client_id}"
client_secret_file = "client-secret"

[listener]
socket = "agent.sock"

[[template]]
contents = """
DATABASE_URL={{{{ secret("DATABASE_URL") }}}}
STRIPE={{{{ secret("payment/prod/stripe/API_KEY") }}}}
"""
destination = "out/app.env"
command = "echo rendered >> '{hooks}'"
"#,
            url = server.url(),
            hooks = hooks.display(),
        ),
    );
    let agent = Agent::spawn(&config, d, None);

    let text = wait_file(&out, Duration::from_secs(20), |t| t.contains(DB), &agent).await;
    assert_eq!(text, format!("DATABASE_URL={DB}\nSTRIPE={API}\n"));
    assert_eq!(mode(&out), 0o600);
    wait_file(&hooks, Duration::from_secs(5), |t| t.lines().count() == 1, &agent).await;

    // The socket: 0600, every variable, one path, 404.
    assert_eq!(
        std::fs::symlink_metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (status, body) = socket_get(&socket, "/v1/secrets").await;
    assert_eq!(status, 200, "{body}");
    let map: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(map["DATABASE_URL"], DB);
    assert_eq!(map["STRIPE_API_KEY"], API);
    assert_eq!(
        socket_get(&socket, "/v1/secrets/stripe/API_KEY").await,
        (200, API.to_owned())
    );
    assert_eq!(socket_get(&socket, "/v1/secrets/NOPE").await.0, 404);

    // A write re-renders within a few seconds and runs the hook again.
    let t0 = Instant::now();
    put(&client, "DATABASE_URL", DB2).await;
    wait_file(&out, Duration::from_secs(5), |t| t.contains(DB2), &agent).await;
    let elapsed = t0.elapsed();
    wait_file(&hooks, Duration::from_secs(5), |t| t.lines().count() == 2, &agent).await;
    assert_eq!(mode(&out), 0o600);
    assert_eq!(
        socket_get(&socket, "/v1/secrets/DATABASE_URL").await,
        (200, DB2.to_owned())
    );
    assert!(elapsed < Duration::from_secs(3), "re-render took {elapsed:?}");
    // A write of a secret no template uses rewrites nothing and runs no hook.
    put(&client, "UNUSED", "planted-unused-Ag7").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(std::fs::read_to_string(&hooks).unwrap().lines().count(), 2);
    // No temporary file left beside the output.
    assert_eq!(std::fs::read_dir(out.parent().unwrap()).unwrap().count(), 1);

    agent.assert_clean();
    let log = agent.stop().await;
    assert!(!log.contains("planted"), "{log}");
    assert!(!socket.exists(), "the socket file is removed on exit");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_child_gets_the_secrets_and_restarts_on_change() {
    let (server, client, token) = dev_server().await;
    put(&client, "API_KEY", API).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let seen = d.join("seen.log");
    let token_file = write(d, "token", &token);
    let config = write(
        d,
        "agent.toml",
        &format!(
            r#"address = "{url}"
project = "payment"
env = "prod"

[auth]
token_file = "{token_file}"

[exec]
command = ["sh", "-c", "echo \"$API_KEY|${{LEASH_TOKEN:-none}}\" >> '{seen}'; exec sleep 1000"]
grace = "2s"
"#,
            url = server.url(),
            token_file = token_file.display(),
            seen = seen.display(),
        ),
    );
    let agent = Agent::spawn(&config, d, None);
    wait_file(&seen, Duration::from_secs(20), |t| t.contains(API), &agent).await;
    put(&client, "API_KEY", API2).await;
    let text = wait_file(&seen, Duration::from_secs(5), |t| t.contains(API2), &agent).await;
    assert_eq!(text, format!("{API}|none\n{API2}|none\n"));
    agent.assert_clean();
    // The child dies of the forwarded SIGTERM (128 + 15), and the agent mirrors it.
    agent.stop_with(143).await;
    server.shutdown().await.unwrap();
}

/// A non-dev server on a data dir that unseals itself from a file, so it can be restarted on the same port.
struct Restartable {
    data: PathBuf,
    unseal: PathBuf,
    addr: String,
    server: Option<Server>,
}

impl Restartable {
    async fn start(dir: &Path) -> (Self, String) {
        let data = dir.join("data");
        let unseal = dir.join("unseal");
        let config = ServerConfig {
            listen: "127.0.0.1:0".into(),
            data_dir: data.clone(),
            ..ServerConfig::default()
        };
        let server = leash_server::start(config, false).await.unwrap();
        let url = server.url();
        let anon = Client::new(&url, None, None).unwrap();
        let init = anon
            .init(&InitRequest {
                shares: 1,
                threshold: 1,
            })
            .await
            .unwrap();
        std::fs::write(&unseal, format!("{}\n", init.unseal_shares[0])).unwrap();
        std::fs::set_permissions(&unseal, std::fs::Permissions::from_mode(0o600)).unwrap();
        anon.unseal(&UnsealRequest {
            share: Some(init.unseal_shares[0].clone()),
            reset: false,
        })
        .await
        .unwrap();
        let addr = url.trim_start_matches("http://").to_owned();
        (
            Self {
                data,
                unseal,
                addr,
                server: Some(server),
            },
            init.root_token,
        )
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn stop(&mut self) {
        let server = self.server.take().unwrap();
        tokio::time::timeout(Duration::from_secs(20), server.shutdown())
            .await
            .expect("the server stops")
            .unwrap();
    }

    async fn restart(&mut self) {
        let config = ServerConfig {
            listen: self.addr.clone(),
            data_dir: self.data.clone(),
            unseal_key_file: Some(self.unseal.clone()),
            ..ServerConfig::default()
        };
        let start = Instant::now();
        loop {
            match leash_server::start(config.clone(), false).await {
                Ok(server) => {
                    self.server = Some(server);
                    return;
                }
                Err(e) => {
                    assert!(start.elapsed() < Duration::from_secs(10), "cannot restart: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_last_values_through_an_outage_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mut server, token) = Restartable::start(d).await;
    let client = Client::new(&server.url(), Some(token.clone().into()), None).unwrap();
    client.create_project("payment").await.unwrap();
    client.create_env("payment", "prod").await.unwrap();
    put(&client, "API_KEY", API).await;

    let out = d.join("api.txt");
    let socket = d.join("agent.sock");
    let config = write(
        d,
        "agent.toml",
        &format!(
            r#"address = "{url}"
project = "payment"
env = "prod"

[listener]
socket = "{socket}"

[[template]]
contents = "{{{{ secret('API_KEY') }}}}"
destination = "{out}"
"#,
            url = server.url(),
            socket = socket.display(),
            out = out.display(),
        ),
    );
    let agent = Agent::spawn(&config, d, Some(&token));
    wait_file(&out, Duration::from_secs(20), |t| t == API, &agent).await;

    server.stop().await;
    // The agent notices and keeps serving what it had.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(socket_get(&socket, "/v1/secrets/API_KEY").await, (200, API.to_owned()));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), API);

    // The server returns; a change is made right away, before the agent reconnects.
    server.restart().await;
    let client = Client::new(&server.url(), Some(token.clone().into()), None).unwrap();
    put(&client, "API_KEY", API2).await;
    wait_file(&out, Duration::from_secs(20), |t| t == API2, &agent).await;
    assert_eq!(socket_get(&socket, "/v1/secrets/API_KEY").await, (200, API2.to_owned()));
    // And it watches again: the next change arrives promptly.
    put(&client, "API_KEY", API3).await;
    wait_file(&out, Duration::from_secs(5), |t| t == API3, &agent).await;

    agent.assert_clean();
    let log = agent.stop().await;
    assert!(log.contains("serving the last known secrets"), "{log}");
    assert!(log.contains("caught up"), "{log}");
    server.stop().await;
}

#[test]
fn a_bad_configuration_is_refused_before_anything_starts() {
    let dir = TempDir::new().unwrap();
    let config = write(
        dir.path(),
        "agent.toml",
        "address = \"http://127.0.0.1:9\"\nproject = \"p\"\nenv = \"e\"\n[auth]\ntoken_file = \"t\"\n[[template]]\ncontents = \"{{ secret(\"\ndestination = \"x\"\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leash"))
        .args(["agent", "--config"])
        .arg(&config)
        .env_remove("LEASH_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("template"), "{stderr}");
}
