//! Black-box tests of `leash scan`: exit codes, git history, staged changes,
//! the pre-commit hook, stdin, suppressions and known-secret mode (against a
//! stand-in for the server's fingerprint route).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const LEASH: &str = env!("CARGO_BIN_EXE_leash");

/// A Stripe-shaped live key made at run time, so this file holds no secret-shaped literal.
fn stripe_key() -> String {
    let body: String = "q8Zr2LmX0pTf9WkD7sVbN3cH".chars().rev().collect();
    format!("{}_live_{body}", "sk")
}

fn leash(dir: &Path, args: &[&str]) -> Output {
    Command::new(LEASH)
        .args(args)
        .current_dir(dir)
        .env_remove("LEASH_ADDR")
        .env_remove("LEASH_TOKEN")
        .env("XDG_CONFIG_HOME", dir.join(".xdg"))
        .output()
        .expect("leash runs")
}

fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("PATH", path_with_leash())
        .output()
        .expect("git runs")
}

fn path_with_leash() -> String {
    let bin = Path::new(LEASH).parent().unwrap().display().to_string();
    format!("{bin}:{}", std::env::var("PATH").unwrap_or_default())
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    assert!(git(dir.path(), &["init", "-q", "-b", "main"]).status.success());
    git(dir.path(), &["config", "user.email", "dev@example.com"]);
    git(dir.path(), &["config", "user.name", "Dev"]);
    git(dir.path(), &["config", "commit.gpgsign", "false"]);
    dir
}

fn commit(dir: &Path, message: &str) -> String {
    let out = git(dir, &["commit", "-q", "-m", message]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(git(dir, &["rev-parse", "HEAD"]).stdout)
        .unwrap()
        .trim()
        .to_owned()
}

fn json(out: &Output) -> Vec<serde_json::Value> {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn exit_codes_and_redaction() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clean.py"), "def add(a, b):\n    return a + b\n").unwrap();
    assert_eq!(leash(dir.path(), &["scan"]).status.code(), Some(0));
    std::fs::write(dir.path().join(".env"), format!("STRIPE_KEY={}\n", stripe_key())).unwrap();
    let out = leash(dir.path(), &["scan"]);
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("stripe-live-secret-key") && all.contains(".env:1:12"),
        "{all}"
    );
    assert!(!all.contains(&stripe_key()), "the text report shows the secret");
    let shown = leash(dir.path(), &["scan", "--show-secrets"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains(&stripe_key()));
    assert_eq!(leash(dir.path(), &["scan", "no/such/path"]).status.code(), Some(2));
}

#[test]
fn stdin_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(LEASH)
        .args(["scan", "-", "--format", "json"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("x\nkey = {}\n", stripe_key()).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let found = json(&out);
    assert_eq!(found[0]["file"], "-");
    assert_eq!(found[0]["line"], 2);
}

#[test]
fn git_history_finds_a_removed_secret_with_its_commit() {
    let dir = repo();
    let d = dir.path();
    std::fs::write(d.join("README.md"), "hello\n").unwrap();
    git(d, &["add", "README.md"]);
    commit(d, "first");
    std::fs::write(
        d.join("config.py"),
        format!("# settings\n\ntoken = \"{}\"\n", stripe_key()),
    )
    .unwrap();
    git(d, &["add", "config.py"]);
    let leak = commit(d, "add config");
    git(d, &["rm", "-q", "config.py"]);
    commit(d, "remove config");
    // The working tree is clean now.
    assert_eq!(leash(d, &["scan"]).status.code(), Some(0));
    let out = leash(d, &["scan", "--git", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let found = json(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["commit"], leak.as_str());
    assert_eq!(found[0]["file"], "config.py");
    assert_eq!(found[0]["line"], 3);
    assert_eq!(found[0]["author"], "Dev");
    assert_eq!(found[0]["email"], "dev@example.com");
    assert!(found[0]["date"].as_str().unwrap().len() >= 20);
    // A range that excludes the leaking commit finds nothing.
    let range = format!("{leak}..HEAD");
    assert_eq!(leash(d, &["scan", "--git", &range]).status.code(), Some(0));
    // A fingerprint in .leashignore suppresses it.
    std::fs::write(
        d.join(".leashignore"),
        format!("{}\n", found[0]["fingerprint"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(leash(d, &["scan", "--git"]).status.code(), Some(0));
}

#[test]
fn staged_sees_staged_changes_only() {
    let dir = repo();
    let d = dir.path();
    std::fs::write(d.join("a.py"), "x = 1\n").unwrap();
    git(d, &["add", "a.py"]);
    commit(d, "first");
    // Unstaged: not part of the commit.
    std::fs::write(d.join("a.py"), format!("x = 1\nkey = \"{}\"\n", stripe_key())).unwrap();
    assert_eq!(leash(d, &["scan", "--staged"]).status.code(), Some(0));
    git(d, &["add", "a.py"]);
    let out = leash(d, &["scan", "--staged", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let found = json(&out);
    assert_eq!(
        (found[0]["file"].as_str(), found[0]["line"].as_u64()),
        (Some("a.py"), Some(2))
    );
    // --baseline accepts the findings of an earlier report.
    std::fs::write(d.join("baseline.json"), &out.stdout).unwrap();
    assert_eq!(
        leash(d, &["scan", "--staged", "--baseline", "baseline.json"])
            .status
            .code(),
        Some(0)
    );
    // An inline allow comment accepts one line.
    std::fs::write(
        d.join("a.py"),
        format!("x = 1\nkey = \"{}\"  # leash:allow\n", stripe_key()),
    )
    .unwrap();
    git(d, &["add", "a.py"]);
    assert_eq!(leash(d, &["scan", "--staged"]).status.code(), Some(0));
}

#[test]
fn installed_hook_blocks_a_secret_and_lets_a_clean_commit_through() {
    let dir = repo();
    let d = dir.path();
    let out = leash(d, &["scan", "install-hook"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Installing again updates our own hook.
    assert!(leash(d, &["scan", "install-hook"]).status.success());
    std::fs::write(d.join("new.env"), format!("KEY={}\n", stripe_key())).unwrap();
    git(d, &["add", "new.env"]);
    let blocked = git(d, &["commit", "-q", "-m", "should be blocked"]);
    assert!(!blocked.status.success(), "the hook let a secret through");
    git(d, &["reset", "-q", "new.env"]);
    std::fs::write(d.join("ok.py"), "x = 1\n").unwrap();
    git(d, &["add", "ok.py"]);
    let ok = git(d, &["commit", "-q", "-m", "clean"]);
    assert!(
        ok.status.success(),
        "the hook blocked a clean commit: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn a_foreign_hook_is_kept_unless_forced() {
    let dir = repo();
    let d = dir.path();
    let hook = d.join(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, "#!/bin/sh\necho mine\n").unwrap();
    let out = leash(d, &["scan", "install-hook"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), "#!/bin/sh\necho mine\n");
    assert!(leash(d, &["scan", "install-hook", "--force"]).status.success());
    assert!(std::fs::read_to_string(&hook).unwrap().contains("leash scan --staged"));
    assert_eq!(
        std::fs::read_to_string(d.join(".git/hooks/pre-commit.before-leash")).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
}

/// A one-route stand-in for the server's `GET /api/v1/scan/fingerprints`:
/// it answers `answer` with `status` to every request and returns the request it saw.
fn serve_once(status: u16, answer: String) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let reason = if status == 200 { "OK" } else { "Not Found" };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
        stream.write_all(response.as_bytes()).unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    (addr, handle)
}

#[test]
fn known_mode_finds_a_plain_password_from_fingerprints_only() {
    let password = "plain-db-password-7";
    let key = [42u8; 32];
    let fingerprint = leash_scan::known::KnownSecrets::fingerprint_hex(&key, password.as_bytes());
    let answer = serde_json::json!({
        "key": leash_scan::known::encode_key(&key),
        "min_length": 8,
        "fingerprints": [fingerprint],
    })
    .to_string();
    // The protocol: the scanner receives the key and fingerprints, never the value.
    assert!(!answer.contains(password));
    let (addr, server) = serve_once(200, answer);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("settings.ini"),
        format!("[db]\npassword = {password}\n"),
    )
    .unwrap();
    let out = Command::new(LEASH)
        .args([
            "scan",
            "--known",
            "--project",
            "payment",
            "--env",
            "prod",
            "--format",
            "json",
        ])
        .args(["--addr", &addr, "--token", "lsh_test_token"])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join(".xdg"))
        .output()
        .unwrap();
    let request = server.join().unwrap();
    assert!(
        request.starts_with("GET /api/v1/scan/fingerprints?project=payment&env=prod "),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("authorization: bearer lsh_test_token")
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let found = json(&out);
    assert_eq!(found[0]["rule_id"], "leash-known-secret");
    assert_eq!(found[0]["line"], 2);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(password),
        "redacted by default"
    );
}

#[test]
fn known_mode_explains_a_server_without_the_route() {
    let (addr, server) = serve_once(404, String::new());
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(LEASH)
        .args([
            "scan",
            "--known",
            "--project",
            "p",
            "--env",
            "e",
            "--addr",
            &addr,
            "--token",
            "t",
        ])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join(".xdg"))
        .output()
        .unwrap();
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not offer known-secret fingerprints"), "{err}");
}

/// Known-secret mode end to end against a real server: the scanner finds a
/// stored plain password (and its previous value) in a file, with only keyed
/// fingerprints crossing the wire.
#[tokio::test]
async fn known_mode_against_the_real_server_finds_current_and_previous_values() {
    let config = leash_server::ServerConfig {
        listen: "127.0.0.1:0".into(),
        ..leash_server::ServerConfig::default()
    };
    let server = leash_server::start(config, true).await.unwrap();
    let url = server.url();
    let token = server.dev_root_token.as_ref().unwrap().to_string();
    let http = reqwest::Client::new();
    let post =
        |path: &str, body: serde_json::Value| http.post(format!("{url}{path}")).bearer_auth(&token).json(&body).send();
    post("/api/v1/projects", serde_json::json!({"name": "payment"}))
        .await
        .unwrap();
    post("/api/v1/projects/payment/envs", serde_json::json!({"name": "prod"}))
        .await
        .unwrap();
    for value in ["old-db-password-41", "new-db-password-42"] {
        let set = serde_json::json!({"changes": [{"path": "DB_PASSWORD", "op": "set", "value": value}]});
        let resp = post("/api/v1/projects/payment/envs/prod/changes", set).await.unwrap();
        assert!(resp.status().is_success());
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.ini"),
        "user = svc\npassword = old-db-password-41\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("other.ini"), "pass: new-db-password-42\n").unwrap();
    let out = tokio::process::Command::new(LEASH)
        .args([
            "scan",
            "--known",
            "--project",
            "payment",
            "--env",
            "prod",
            "--format",
            "json",
            ".",
        ])
        .args(["--addr", &url, "--token", &token])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join(".xdg"))
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let found = json(&out);
    let known: Vec<&serde_json::Value> = found.iter().filter(|f| f["rule_id"] == "leash-known-secret").collect();
    assert_eq!(known.len(), 2, "both the current and the previous value: {found:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("db-password-4"), "redacted by default");
    server.shutdown().await.unwrap();
}
