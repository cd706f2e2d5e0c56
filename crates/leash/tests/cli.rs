//! Black-box tests of the `leash` binary against a real `--dev` server on
//! 127.0.0.1:0: each test runs the built binary with a private config
//! directory and working directory, and checks its stdout, stderr and exit code.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use leash_server::{Server, ServerConfig};

mod common;
use common::{Run, config};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

struct Env {
    /// Kept alive for the test's duration.
    _server: Server,
    url: String,
    token: String,
    /// Working directory and config home of the CLI runs.
    dir: TempDir,
}

async fn dev() -> Env {
    let server = leash_server::start(config(), true).await.unwrap();
    let token = server.dev_root_token.as_ref().unwrap().to_string();
    let url = server.url();
    Env {
        _server: server,
        url,
        token,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Env {
    /// Runs `leash args…` with the server's address and the root token.
    async fn leash(&self, args: &[&str]) -> Run {
        self.run(args, Some(&self.token), None).await
    }

    async fn run(&self, args: &[&str], token: Option<&str>, stdin: Option<&str>) -> Run {
        run_in(self.dir.path(), &self.url, args, token, stdin).await
    }
}

async fn run_in(dir: &Path, addr: &str, args: &[&str], token: Option<&str>, stdin: Option<&str>) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_leash"));
    cmd.args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("HOME", dir)
        .env("LEASH_ADDR", addr)
        .env_remove("LEASH_TOKEN")
        .env_remove("LEASH_PROJECT")
        .env_remove("LEASH_ENV")
        .env_remove("LEASH_CA_CERT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(token) = token {
        cmd.env("LEASH_TOKEN", token);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A project `payment` with an environment `dev`, selected by `.leash.toml`.
async fn with_payment_dev() -> Env {
    let env = dev().await;
    env.leash(&["project", "create", "payment"]).await.ok();
    env.leash(&["env", "create", "dev", "--project", "payment"]).await.ok();
    std::fs::write(
        env.dir.path().join(".leash.toml"),
        "project = \"payment\"\nenv = \"dev\"\n",
    )
    .unwrap();
    env
}

#[tokio::test]
async fn secrets_set_get_list_and_history() {
    let env = with_payment_dev().await;
    let file = env.dir.path().join("key.txt");
    std::fs::write(&file, "sk_from_file").unwrap();
    let out = env
        .run(
            &[
                "secrets",
                "set",
                "DATABASE_URL=postgres://x?a=b",
                &format!("stripe/API_KEY=@{}", file.display()),
                "PIPED=-",
                "-m",
                "first",
                "--output",
                "json",
            ],
            Some(&env.token),
            Some("from stdin\n"),
        )
        .await
        .ok();
    let result = json(&out);
    assert_eq!(result["entries"].as_array().unwrap().len(), 3, "one change set: {out}");
    let revision = result["revision"].as_i64().unwrap();

    let plain = env.leash(&["secrets", "get", "DATABASE_URL", "--plain"]).await.ok();
    assert_eq!(plain, "postgres://x?a=b", "no newline when stdout is a pipe");
    let piped = env.leash(&["secrets", "get", "PIPED", "--plain"]).await.ok();
    assert_eq!(piped, "from stdin\n");
    let got = json(
        &env.leash(&["secrets", "get", "stripe/API_KEY", "--output", "json"])
            .await
            .ok(),
    );
    assert_eq!(got["value"], "sk_from_file");
    assert_eq!(got["env_var"], "STRIPE_API_KEY");

    let list = env.leash(&["secrets", "list"]).await.ok();
    assert!(list.contains("stripe/API_KEY"), "{list}");
    assert!(!list.contains("sk_from_file"), "listings never show values: {list}");
    let listed = json(&env.leash(&["secrets", "list", "stripe", "--output", "json"]).await.ok());
    assert_eq!(listed["secrets"].as_array().unwrap().len(), 1);

    env.leash(&["secrets", "set", "DATABASE_URL=v2", "--cas", &revision.to_string()])
        .await
        .ok();
    let stale = env
        .leash(&["secrets", "set", "DATABASE_URL=v3", "--cas", &revision.to_string()])
        .await
        .fails();
    assert!(stale.contains("revision") || stale.contains("cas"), "{stale}");

    let old = env
        .leash(&["secrets", "get", "DATABASE_URL", "--version", "1", "--plain"])
        .await
        .ok();
    assert_eq!(old, "postgres://x?a=b");
    let history = env.leash(&["secrets", "history", "DATABASE_URL"]).await.ok();
    assert!(history.contains("VERSION") && history.lines().count() >= 4, "{history}");
    assert!(!history.contains("v2\n") && !history.contains("postgres"), "{history}");
    let env_history = env.leash(&["env", "history", "--limit", "1"]).await.ok();
    assert!(env_history.contains("DATABASE_URL"), "{env_history}");
}

#[tokio::test]
async fn delete_undelete_destroy_and_rollback() {
    let env = with_payment_dev().await;
    env.leash(&["secrets", "set", "A=1", "B=2"]).await.ok();
    let deleted = json(
        &env.leash(&["secrets", "delete", "A", "B", "--output", "json"])
            .await
            .ok(),
    );
    assert_eq!(deleted["entries"].as_array().unwrap().len(), 2);
    env.leash(&["secrets", "get", "A"]).await.fails();
    env.leash(&["secrets", "undelete", "A"]).await.ok();
    assert_eq!(env.leash(&["secrets", "get", "A", "--plain"]).await.ok(), "1");

    let refused = env.leash(&["secrets", "destroy", "A"]).await.fails();
    assert!(refused.contains("--yes"), "{refused}");
    env.leash(&["secrets", "destroy", "A", "--version", "1"]).await.ok();
    let gone = env.leash(&["secrets", "get", "A", "--version", "1"]).await.fails();
    assert!(!gone.is_empty());

    // Revision 1 had A and B; roll back to it.
    env.leash(&["env", "rollback", "--to", "1", "-m", "undo"]).await.ok();
    assert_eq!(env.leash(&["secrets", "get", "B", "--plain"]).await.ok(), "2");
}

#[tokio::test]
async fn import_export_and_env_example() {
    let env = with_payment_dev().await;
    let dotenv = env.dir.path().join("in.env");
    std::fs::write(
        &dotenv,
        "# comment\nexport PLAIN=1\nQUOTED=\"a \\\"b\\\" $$ \\\\ c\"\nSINGLE='it''s $HOME'\nMULTI=\"line1\nline2\"\n",
    )
    .unwrap();
    let out = env
        .leash(&["import", dotenv.to_str().unwrap(), "-m", "import"])
        .await
        .ok();
    assert!(out.contains("Imported 4 variables"), "{out}");
    env.leash(&["secrets", "set", "stripe/API_KEY=sk'\"$x\\y\nz"])
        .await
        .ok();

    let exported = env.leash(&["export", "--format", "dotenv"]).await.ok();
    let parsed: Vec<(String, String)> = dotenvy::from_read_iter(exported.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let json_out = json(&env.leash(&["export", "--format", "json"]).await.ok());
    assert_eq!(json_out["STRIPE_API_KEY"], "sk'\"$x\\y\nz");
    assert_eq!(json_out["MULTI"], "line1\nline2");
    for (k, v) in &parsed {
        assert_eq!(json_out[k], *v, "dotenv export of {k} reads back exactly");
    }
    assert_eq!(parsed.len(), 5);

    let shell = env
        .leash(&["export", "--format", "shell", "--prefix", "stripe"])
        .await
        .ok();
    assert!(shell.starts_with("export STRIPE_API_KEY="), "{shell}");
    let yaml = env.leash(&["export", "--format", "yaml"]).await.ok();
    assert!(yaml.contains("PLAIN:"), "{yaml}");

    env.leash(&["secrets", "set", "STRIPE_API_KEY=other"]).await.ok();
    let clash = env.leash(&["export"]).await.fails();
    assert!(clash.contains("STRIPE_API_KEY and stripe/API_KEY"), "{clash}");
    env.leash(&["secrets", "delete", "STRIPE_API_KEY"]).await.ok();

    env.leash(&["secrets", "set", "DOCUMENTED=x", "--description", "What it is"])
        .await
        .ok();
    let example = env.dir.path().join(".env.example");
    env.leash(&["env-example", "--out", example.to_str().unwrap()])
        .await
        .ok();
    let text = std::fs::read_to_string(&example).unwrap();
    assert!(text.contains("# What it is\nDOCUMENTED=\n"), "{text}");
    assert!(text.contains("STRIPE_API_KEY=\n"), "{text}");
    assert!(!text.contains("=x") && !text.contains("line1"), "no values: {text}");
}

#[tokio::test]
async fn login_saves_a_private_config_and_logout_removes_the_token() {
    let env = with_payment_dev().await;
    let bad = env
        .run(&["login", "--token", "-"], None, Some("lsh_not_a_token\n"))
        .await
        .fails();
    assert!(!bad.contains("lsh_not_a_token"), "{bad}");

    let out = env
        .run(&["login", "--token", "-"], None, Some(&format!("{}\n", env.token)))
        .await
        .ok();
    assert!(out.contains("Logged in"), "{out}");
    let path = env.dir.path().join("config/leash/config.toml");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!out.contains(&env.token));

    // Without LEASH_TOKEN, the saved token is used.
    env.run(&["project", "list"], None, None).await.ok();
    env.run(&["logout"], None, None).await.ok();
    let err = env.run(&["project", "list"], None, None).await.fails();
    assert!(err.contains("hint: log in"), "{err}");
}

#[tokio::test]
async fn missing_project_and_env_say_how_to_set_them() {
    let env = dev().await;
    let err = env.leash(&["secrets", "list"]).await.fails();
    assert!(
        err.contains("--project") && err.contains("LEASH_PROJECT") && err.contains(".leash.toml"),
        "{err}"
    );
    let err = env.leash(&["secrets", "list", "--project", "p"]).await.fails();
    assert!(err.contains("--env") && err.contains("LEASH_ENV"), "{err}");
}

#[tokio::test]
async fn unreachable_servers_are_named_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = run_in(dir.path(), &addr, &["project", "list"], Some("lsh_x"), None)
        .await
        .fails();
    assert!(
        err.contains(&format!("cannot reach the Leash server at {addr}")),
        "{err}"
    );
    assert!(err.contains("leash server --dev"), "{err}");
}

#[tokio::test]
async fn operator_init_unseal_status_and_seal() {
    let data = tempfile::tempdir().unwrap();
    let server = leash_server::start(
        ServerConfig {
            data_dir: data.path().to_path_buf(),
            ..config()
        },
        false,
    )
    .await
    .unwrap();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let leash = |args: &'static [&'static str], token: Option<String>, stdin: Option<String>| {
        let (dir, url) = (dir.path().to_path_buf(), url.clone());
        async move { run_in(&dir, &url, args, token.as_deref(), stdin.as_deref()).await }
    };

    let status = leash(&["operator", "status"], None, None).await;
    assert_eq!(status.code, 2, "sealed: {}", status.stdout);

    let init = json(
        &leash(
            &[
                "operator",
                "init",
                "--shares",
                "3",
                "--threshold",
                "2",
                "--output",
                "json",
            ],
            None,
            None,
        )
        .await
        .ok(),
    );
    let shares: Vec<String> = init["unseal_shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let root = init["root_token"].as_str().unwrap().to_owned();
    assert_eq!(shares.len(), 3);

    // Shares from stdin (not a terminal), one per call.
    leash(&["operator", "unseal"], None, Some(format!("{}\n", shares[0])))
        .await
        .ok();
    assert_eq!(leash(&["operator", "status"], None, None).await.code, 2);
    let unsealed = leash(&["operator", "unseal"], None, Some(format!("{}\n", shares[2])))
        .await
        .ok();
    assert!(unsealed.contains("Sealed:       false"), "{unsealed}");
    assert_eq!(leash(&["operator", "status"], None, None).await.code, 0);

    let text_init = leash(&["operator", "init"], None, None).await.fails();
    assert!(!text_init.is_empty());

    leash(&["operator", "rotate-key"], Some(root.clone()), None).await.ok();
    leash(&["token", "lookup"], Some(root.clone()), None).await.ok();
    leash(&["operator", "seal"], Some(root), None).await.ok();
    assert_eq!(leash(&["operator", "status"], None, None).await.code, 2);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn completions_need_no_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), "http://127.0.0.1:1", &["completions", "bash"], None, None)
        .await
        .ok();
    assert!(out.contains("leash"), "{out}");
    assert!(out.contains("snapshot"), "completions cover the nested commands");
}

#[tokio::test]
async fn man_pages_cover_every_command_and_need_no_server() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man");
    let out = run_in(
        dir.path(),
        "http://127.0.0.1:1",
        &["man", "--dir", pages.to_str().unwrap()],
        None,
        None,
    )
    .await
    .ok();
    assert!(out.contains("manual pages"), "{out}");
    for page in [
        "leash.1",
        "leash-server.1",
        "leash-operator-snapshot-restore.1",
        "leash-secrets-get.1",
    ] {
        let roff = std::fs::read_to_string(pages.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            roff.starts_with(".ie") || roff.contains(".TH"),
            "{page} is not a man page"
        );
    }
    let restore = std::fs::read_to_string(pages.join("leash-operator-snapshot-restore.1")).unwrap();
    assert!(restore.contains("data\\-dir"), "the page lists the command's flags");
}

#[tokio::test]
async fn https_servers_are_trusted_through_ca_cert_only() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let server = leash_server::start(
        ServerConfig {
            tls_cert: Some(cert_path.clone()),
            tls_key: Some(key_path),
            ..config()
        },
        true,
    )
    .await
    .unwrap();
    let url = server.url().replace("127.0.0.1", "localhost");
    let token = server.dev_root_token.as_ref().unwrap().to_string();

    let untrusted = run_in(dir.path(), &url, &["project", "list"], Some(&token), None)
        .await
        .fails();
    assert!(
        untrusted.contains(&format!("cannot reach the Leash server at {url}")),
        "{untrusted}"
    );
    assert!(untrusted.contains("--ca-cert"), "{untrusted}");
    assert!(!untrusted.contains(&token), "{untrusted}");

    let ca = cert_path.to_str().unwrap();
    run_in(
        dir.path(),
        &url,
        &["project", "list", "--ca-cert", ca],
        Some(&token),
        None,
    )
    .await
    .ok();
    let missing = run_in(
        dir.path(),
        &url,
        &["project", "list", "--ca-cert", "/nonexistent.pem"],
        Some(&token),
        None,
    )
    .await
    .fails();
    assert!(missing.contains("/nonexistent.pem"), "{missing}");
    server.shutdown().await.unwrap();
}

/// `leash --version` names the version and the commit it was built from.
#[test]
fn version_names_the_commit() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leash"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let (name, rest) = text.trim().split_once(' ').unwrap();
    assert_eq!(name, "leash");
    let (version, commit) = rest.split_once(' ').unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let commit = commit.strip_prefix('(').and_then(|c| c.strip_suffix(')')).unwrap();
    let hash = commit.strip_suffix("-dirty").unwrap_or(commit);
    assert!(
        hash == "unknown" || (hash.len() >= 7 && hash.chars().all(|c| c.is_ascii_hexdigit())),
        "{text}"
    );
}
