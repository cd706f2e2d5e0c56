//! Black-box tests of identities, logins, tokens, groups, policies, JWT
//! issuers and root-token generation through the `leash` binary, against a
//! real server on 127.0.0.1:0 (a `--dev` one unless a test needs unseal
//! shares). Each CLI run gets a private config home, so what `leash login`
//! saves is checked too.
//!
//! The server counts failed logins per source address (all of these come
//! from 127.0.0.1), so no test makes more than a few failed logins.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use leash_server::{Server, ServerConfig};

mod common;
use common::{Run, config};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

struct Env {
    /// Kept alive for the test's duration.
    _server: Server,
    url: String,
    root: String,
    dir: TempDir,
}

async fn dev() -> Env {
    let server = leash_server::start(config(), true).await.unwrap();
    let root = server.dev_root_token.as_ref().unwrap().to_string();
    let url = server.url();
    Env {
        _server: server,
        url,
        root,
        dir: tempfile::tempdir().unwrap(),
    }
}

/// How one CLI run authenticates and what it reads on stdin.
#[derive(Clone, Copy, Default)]
struct As<'a> {
    /// `LEASH_TOKEN`; `None` leaves the saved login in charge.
    token: Option<&'a str>,
    stdin: Option<&'a str>,
    /// Config home (HOME and XDG_CONFIG_HOME); default: the test's directory.
    home: Option<&'a Path>,
}

impl Env {
    /// `leash args…` as root.
    async fn root(&self, args: &[&str]) -> Run {
        self.run(
            args,
            As {
                token: Some(&self.root),
                ..As::default()
            },
        )
        .await
    }

    /// `leash args…` as root, with stdin.
    async fn root_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.run(
            args,
            As {
                token: Some(&self.root),
                stdin: Some(stdin),
                home: None,
            },
        )
        .await
    }

    /// `leash args…` with `token` in LEASH_TOKEN.
    async fn with_token(&self, token: &str, args: &[&str]) -> Run {
        self.run(
            args,
            As {
                token: Some(token),
                ..As::default()
            },
        )
        .await
    }

    async fn run(&self, args: &[&str], how: As<'_>) -> Run {
        run_in(how.home.unwrap_or(self.dir.path()), &self.url, args, how).await
    }

    /// A fresh config home (a different user of the CLI).
    fn home(&self, name: &str) -> PathBuf {
        let home = self.dir.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        home
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path.to_str().unwrap().to_owned()
    }

    async fn policy(&self, name: &str, toml: &str) {
        let file = self.file(&format!("{name}.toml"), toml);
        self.root(&["policy", "write", name, &file]).await.ok();
    }

    /// Projects payment and shipping, each with prod and dev holding DB_PASSWORD.
    async fn two_projects(&self) {
        for project in ["payment", "shipping"] {
            self.root(&["project", "create", project]).await.ok();
            for env in ["dev", "prod"] {
                self.root(&["env", "create", env, "--project", project]).await.ok();
                let pair = format!("DB_PASSWORD={project}-{env}-pw");
                self.root(&["secrets", "set", &pair, "--project", project, "--env", env])
                    .await
                    .ok();
            }
        }
    }
}

async fn run_in(home: &Path, addr: &str, args: &[&str], how: As<'_>) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_leash"));
    cmd.args(args)
        .current_dir(home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HOME", home)
        .env("LEASH_ADDR", addr)
        .env_remove("LEASH_TOKEN")
        .env_remove("LEASH_PROJECT")
        .env_remove("LEASH_ENV")
        .env_remove("LEASH_CA_CERT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(token) = how.token {
        cmd.env("LEASH_TOKEN", token);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(how.stdin.unwrap_or("").as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn saved_config(home: &Path) -> (u32, String) {
    let path = home.join("config/leash/config.toml");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    (mode, std::fs::read_to_string(&path).unwrap())
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

const PAYMENT_SERVICE: &str = "# payment reads its production secrets\n[[allow]]\npath = \"payment/prod/**\"\ncapabilities = [\"read\", \"list\"]\n";
const DEVELOPER: &str = "[[allow]]\npath = \"*/dev/**\"\ncapabilities = [\"read\", \"list\", \"write\"]\n";
const ADMIN: &str = "[[allow]]\npath = \"**\"\ncapabilities = [\"admin\"]\n";

#[tokio::test]
async fn policies_are_written_read_back_as_written_checked_and_deleted() {
    let env = dev().await;
    let file = env.file("payment-service.toml", PAYMENT_SERVICE);
    let out = env.root(&["policy", "write", "payment-service", &file]).await.ok();
    assert!(out.contains("payment-service"), "{out}");
    assert_eq!(
        env.root(&["policy", "read", "payment-service"]).await.ok(),
        PAYMENT_SERVICE,
        "the text comes back exactly, comment included"
    );
    let info = env
        .root(&["policy", "read", "payment-service", "--output", "json"])
        .await
        .json();
    assert_eq!(info["policy"], PAYMENT_SERVICE);
    env.root_stdin(&["policy", "write", "developer", "-"], DEVELOPER)
        .await
        .ok();
    let list = env.root(&["policy", "list", "--output", "json"]).await.json();
    let names = strings(&list["policies"]);
    assert!(names.contains(&"payment-service".to_owned()) && names.contains(&"developer".to_owned()));

    let bad = env.file("bad.toml", "[[allow]]\npath = \"a/**\"\ncapabilities = [\"raed\"]\n");
    let err = env.root(&["policy", "write", "bad", &bad]).await.fails();
    assert!(err.contains("allow rule 1") && err.contains("raed"), "{err}");

    env.root(&["identity", "create", "web", "--policy", "payment-service"])
        .await
        .ok();
    let allowed = env
        .root(&["policy", "check", "web", "payment/prod/DB_PASSWORD", "read"])
        .await
        .ok();
    assert!(allowed.starts_with("ALLOWED\n"), "{allowed}");
    assert!(
        allowed.contains("payment-service"),
        "the deciding policy is named: {allowed}"
    );

    let denied = env
        .root(&["policy", "check", "web", "shipping/prod/DB_PASSWORD", "read"])
        .await;
    assert_eq!(denied.code, 3, "denied exits 3: {}{}", denied.stdout, denied.stderr);
    assert!(denied.stdout.starts_with("DENIED\n"), "{}", denied.stdout);
    let denied_json = env
        .root(&[
            "policy",
            "check",
            "web",
            "payment/prod/DB_PASSWORD",
            "write",
            "--output",
            "json",
        ])
        .await;
    assert_eq!(denied_json.code, 3);
    let result: Value = serde_json::from_str(&denied_json.stdout).unwrap();
    assert_eq!(result["allowed"], false);
    assert!(result["explanation"].as_str().unwrap().contains("denied"), "{result}");

    env.root(&["policy", "delete", "developer"]).await.ok();
    let list = env.root(&["policy", "list"]).await.ok();
    assert!(
        !list.contains("developer") && list.contains("payment-service"),
        "{list}"
    );
}

#[tokio::test]
async fn services_log_in_with_client_credentials_and_read_only_their_secrets() {
    let env = dev().await;
    env.two_projects().await;
    env.policy("payment-service", PAYMENT_SERVICE).await;
    let created = env
        .root(&[
            "identity",
            "create",
            "payment-service",
            "--policy",
            "payment-service",
            "--meta",
            "team=payment",
            "--output",
            "json",
        ])
        .await
        .json();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["identity"]["name"], "payment-service");
    assert_eq!(created["identity"]["kind"], "service");

    let secret_file = env.file("secret", &format!("{secret}\n"));
    let home = env.home("svc");
    let login = env
        .run(
            &["login", "--client-id", &client_id, "--client-secret-file", &secret_file],
            As {
                home: Some(&home),
                ..As::default()
            },
        )
        .await
        .ok();
    assert!(
        login.contains("Logged in") && login.contains("payment-service"),
        "{login}"
    );
    assert!(login.contains("policies: payment-service"), "{login}");
    assert!(!login.contains("lsh_") && !login.contains(&secret), "{login}");
    let (mode, saved) = saved_config(&home);
    assert_eq!(mode, 0o600);
    assert!(saved.contains("lsh_"), "the token is saved");

    let saved_login = As {
        home: Some(&home),
        ..As::default()
    };
    let whoami = env.run(&["whoami", "--output", "json"], saved_login).await.json();
    assert_eq!(whoami["identity"], "payment-service");
    assert_eq!(whoami["auth_method"], "client");
    assert!(strings(&whoami["effective_policies"]).contains(&"payment-service".to_owned()));
    let text = env.run(&["whoami"], saved_login).await.ok();
    assert!(text.contains("payment-service") && text.contains("client"), "{text}");

    let get = |project: &'static str, env_name: &'static str| {
        let args = [
            "secrets",
            "get",
            "DB_PASSWORD",
            "--plain",
            "--project",
            project,
            "--env",
            env_name,
        ];
        let env = &env;
        async move { env.run(&args, saved_login).await }
    };
    assert_eq!(get("payment", "prod").await.ok(), "payment-prod-pw");
    get("shipping", "prod").await.fails();
    get("payment", "dev").await.fails();

    // --client-secret-stdin and --output json: the TokenCreated, token included.
    let other = env.home("svc2");
    let created_token = env
        .run(
            &[
                "login",
                "--client-id",
                &client_id,
                "--client-secret-stdin",
                "--output",
                "json",
            ],
            As {
                stdin: Some(&secret),
                home: Some(&other),
                ..As::default()
            },
        )
        .await
        .json();
    assert!(created_token["token"].as_str().unwrap().starts_with("lsh_"));
    assert_eq!(created_token["identity"], "payment-service");

    let wrong = env
        .run(
            &["login", "--client-id", &client_id, "--client-secret-stdin"],
            As {
                stdin: Some("wrong-secret-value"),
                home: Some(&other),
                ..As::default()
            },
        )
        .await
        .fails();
    assert!(!wrong.contains("wrong-secret-value"), "{wrong}");

    // Rotation: the old secret stops working, the new one logs in.
    let rotated = env
        .root(&["identity", "secret", "rotate", "payment-service", "--output", "json"])
        .await
        .json();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(rotated["client_id"], client_id.as_str());
    env.run(
        &["login", "--client-id", &client_id, "--client-secret-file", &secret_file],
        As {
            home: Some(&other),
            ..As::default()
        },
    )
    .await
    .fails();
    env.run(
        &["login", "--client-id", &client_id, "--client-secret-stdin"],
        As {
            stdin: Some(&new_secret),
            home: Some(&other),
            ..As::default()
        },
    )
    .await
    .ok();

    // Revoking the identity's tokens logs the saved session out.
    env.root(&["identity", "revoke-tokens", "payment-service"]).await.ok();
    let err = env.run(&["whoami"], saved_login).await.fails();
    assert!(err.contains("log in again"), "{err}");

    env.root(&["identity", "delete", "payment-service"]).await.ok();
    env.run(
        &["login", "--client-id", &client_id, "--client-secret-stdin"],
        As {
            stdin: Some(&new_secret),
            home: Some(&other),
            ..As::default()
        },
    )
    .await
    .fails();
    let list = env.root(&["identity", "list"]).await.ok();
    assert!(!list.contains("payment-service"), "{list}");
}

#[tokio::test]
async fn secrets_are_never_taken_from_plain_flags() {
    let env = dev().await;
    let refused = env
        .root(&["login", "--client-id", "c", "--client-secret", "s3cr3t"])
        .await;
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("--client-secret"), "{}", refused.stderr);
    let refused = env
        .root(&["identity", "create", "alice", "--kind", "user", "--password", "pw"])
        .await;
    assert_ne!(refused.code, 0);
}

#[tokio::test]
async fn users_log_in_with_a_password_and_change_it() {
    let env = dev().await;
    env.two_projects().await;
    env.policy("developer", DEVELOPER).await;
    let out = env
        .root_stdin(
            &[
                "identity",
                "create",
                "alice",
                "--kind",
                "user",
                "--policy",
                "developer",
                "--password-stdin",
            ],
            "correct horse battery\n",
        )
        .await
        .ok();
    assert!(out.contains("alice") && !out.contains("correct horse"), "{out}");
    assert!(out.contains("leash login --user alice"), "{out}");

    let home = env.home("alice");
    let alice = |stdin: &'static str| As {
        stdin: Some(stdin),
        home: Some(&home),
        ..As::default()
    };
    let login = env
        .run(
            &["login", "--user", "alice", "--password-stdin"],
            alice("correct horse battery\n"),
        )
        .await
        .ok();
    assert!(login.contains("Logged in") && login.contains("alice"), "{login}");
    assert!(login.contains("expires"), "{login}");
    let whoami = env.run(&["whoami", "--output", "json"], alice("")).await.json();
    assert_eq!(whoami["identity"], "alice");
    assert_eq!(whoami["auth_method"], "userpass");
    assert!(strings(&whoami["effective_policies"]).contains(&"developer".to_owned()));
    assert!(whoami["expires_at"].is_string(), "login tokens expire: {whoami}");

    // Without --password-stdin, a piped stdin is read as the password too.
    env.run(&["login", "--user", "alice"], alice("correct horse battery\n"))
        .await
        .ok();
    let wrong = env
        .run(
            &["login", "--user", "alice", "--password-stdin"],
            alice("Tr0ub4dor&3\n"),
        )
        .await
        .fails();
    assert!(!wrong.contains("Tr0ub4dor"), "{wrong}");

    let read = env
        .run(
            &[
                "secrets",
                "get",
                "DB_PASSWORD",
                "--plain",
                "--project",
                "shipping",
                "--env",
                "dev",
            ],
            alice(""),
        )
        .await
        .ok();
    assert_eq!(read, "shipping-dev-pw");
    env.run(
        &["secrets", "get", "DB_PASSWORD", "--project", "payment", "--env", "prod"],
        alice(""),
    )
    .await
    .fails();

    env.root_stdin(&["identity", "update", "alice", "--password-stdin"], "new password\n")
        .await
        .ok();
    env.run(
        &["login", "--user", "alice", "--password-stdin"],
        alice("correct horse battery\n"),
    )
    .await
    .fails();
    env.run(
        &["login", "--user", "alice", "--password-stdin"],
        alice("new password\n"),
    )
    .await
    .ok();

    let shown = env
        .root(&["identity", "show", "alice", "--output", "json"])
        .await
        .json();
    assert_eq!(shown["kind"], "user");
    assert_eq!(strings(&shown["policies"]), ["developer"]);
    let text = env.root(&["identity", "show", "alice"]).await.ok();
    assert!(text.contains("user") && text.contains("developer"), "{text}");
    let updated = env
        .root(&[
            "identity",
            "update",
            "alice",
            "--no-policies",
            "--meta",
            "team=shipping",
            "--output",
            "json",
        ])
        .await
        .json();
    assert_eq!(updated["policies"], json!([]));
    assert_eq!(updated["metadata"]["team"], "shipping");
}

#[tokio::test]
async fn tokens_are_created_looked_up_renewed_and_revoked() {
    let env = dev().await;
    env.policy("payment-service", PAYMENT_SERVICE).await;
    let created = env
        .root(&[
            "token",
            "create",
            "--policy",
            "payment-service",
            "--ttl",
            "1h",
            "--max-ttl",
            "2h",
            "--display-name",
            "ci-job",
            "--output",
            "json",
        ])
        .await
        .json();
    let token = created["token"].as_str().unwrap().to_owned();
    let accessor = created["accessor"].as_str().unwrap().to_owned();
    assert!(token.starts_with("lsh_"));
    assert_eq!(strings(&created["policies"]), ["payment-service"]);
    assert!(created["expires_at"].is_string());

    // Text mode: the token alone on stdout, the warning on stderr.
    let text = env.root(&["token", "create", "--policy", "payment-service"]).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_eq!(text.stdout.lines().count(), 1, "{}", text.stdout);
    assert!(text.stdout.starts_with("lsh_"), "{}", text.stdout);
    assert!(text.stderr.contains("shown only this once"), "{}", text.stderr);
    assert!(
        text.stderr.contains("identity"),
        "service identities are preferred: {}",
        text.stderr
    );

    let looked = env
        .root_stdin(&["token", "lookup", "-", "--output", "json"], &format!("{token}\n"))
        .await
        .json();
    assert_eq!(looked["accessor"], accessor.as_str());
    assert_eq!(
        looked["display_name"].as_str().map(|n| n.contains("ci-job")),
        Some(true)
    );
    let by_accessor = env
        .root(&["token", "lookup", "--accessor", &accessor, "--output", "json"])
        .await
        .json();
    assert_eq!(by_accessor["accessor"], accessor.as_str());
    let text = env.root(&["token", "lookup", "--accessor", &accessor]).await.ok();
    assert!(text.contains(&accessor) && !text.contains(&token), "{text}");

    let renewed = env
        .root(&["token", "renew", &token, "--increment", "30m", "--output", "json"])
        .await
        .json();
    assert!(renewed["expires_at"].is_string(), "{renewed}");
    let too_far = env
        .root(&["token", "renew", &token, "--increment", "10h"])
        .await
        .fails();
    assert!(
        too_far.contains("max TTL"),
        "renewing past the max TTL is refused: {too_far}"
    );

    // The token's own view of itself.
    let me = env.with_token(&token, &["whoami", "--output", "json"]).await.json();
    assert_eq!(me["accessor"], accessor.as_str());
    assert_eq!(me["root"], false);
    env.with_token(&token, &["token", "renew"]).await.ok();
    let own = env.with_token(&token, &["token", "lookup"]).await.ok();
    assert!(own.contains("payment-service"), "{own}");
    // Without `admin` on sys/tokens, creating tokens is refused.
    env.with_token(&token, &["token", "create"]).await.fails();

    env.root(&["token", "revoke", &token]).await.ok();
    env.with_token(&token, &["whoami"]).await.fails();
    env.root(&["token", "lookup", "--accessor", &accessor]).await.fails();

    // Revoking by accessor, and revoking oneself.
    let second = env
        .root(&["token", "create", "--policy", "payment-service", "--output", "json"])
        .await
        .json();
    let (second_token, second_accessor) = (
        second["token"].as_str().unwrap().to_owned(),
        second["accessor"].as_str().unwrap().to_owned(),
    );
    env.root(&["token", "revoke", "--accessor", &second_accessor])
        .await
        .ok();
    env.with_token(&second_token, &["whoami"]).await.fails();

    let third = env
        .root(&["token", "create", "--policy", "payment-service", "--output", "json"])
        .await
        .json();
    let third_token = third["token"].as_str().unwrap().to_owned();
    let home = env.home("third");
    let saved = As {
        home: Some(&home),
        ..As::default()
    };
    env.run(
        &["login", "--token", "-"],
        As {
            stdin: Some(&third_token),
            home: Some(&home),
            ..As::default()
        },
    )
    .await
    .ok();
    let out = env.run(&["token", "revoke", "--self"], saved).await.ok();
    assert!(out.contains("Revoked") && out.contains("removed it from"), "{out}");
    let (_, config) = saved_config(&home);
    assert!(!config.contains("lsh_"), "the revoked token is forgotten: {config}");
    env.with_token(&third_token, &["whoami"]).await.fails();
    let err = env.root(&["token", "revoke"]).await;
    assert_ne!(err.code, 0, "revoke needs TOKEN, --accessor or --self");
}

#[tokio::test]
async fn groups_give_their_members_policies() {
    let env = dev().await;
    env.two_projects().await;
    env.policy("payment-service", PAYMENT_SERVICE).await;
    env.policy("developer", DEVELOPER).await;
    let created = env
        .root(&[
            "identity",
            "create",
            "svc",
            "--policy",
            "payment-service",
            "--output",
            "json",
        ])
        .await
        .json();
    let (id, secret) = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    let group = env
        .root(&[
            "group",
            "create",
            "devs",
            "--policy",
            "developer",
            "--member",
            "svc",
            "--output",
            "json",
        ])
        .await
        .json();
    assert_eq!(strings(&group["members"]), ["svc"]);
    let shown = env.root(&["identity", "show", "svc", "--output", "json"]).await.json();
    assert_eq!(strings(&shown["groups"]), ["devs"]);

    let login = env
        .run(
            &["login", "--client-id", &id, "--client-secret-stdin", "--output", "json"],
            As {
                stdin: Some(&secret),
                ..As::default()
            },
        )
        .await
        .json();
    let token = login["token"].as_str().unwrap().to_owned();
    let me = env.with_token(&token, &["whoami", "--output", "json"]).await.json();
    let effective = strings(&me["effective_policies"]);
    assert!(
        effective.contains(&"payment-service".to_owned()) && effective.contains(&"developer".to_owned()),
        "{me}"
    );
    let dev_read = env
        .with_token(
            &token,
            &[
                "secrets",
                "get",
                "DB_PASSWORD",
                "--plain",
                "--project",
                "shipping",
                "--env",
                "dev",
            ],
        )
        .await
        .ok();
    assert_eq!(dev_read, "shipping-dev-pw");
    let check = env
        .root(&["policy", "check", "svc", "shipping/dev/DB_PASSWORD", "read"])
        .await;
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(check.stdout.contains("developer"), "{}", check.stdout);

    // update replaces the lists given and keeps the others.
    let updated = env
        .root(&["group", "update", "devs", "--no-members", "--output", "json"])
        .await
        .json();
    assert_eq!(updated["members"], json!([]));
    assert_eq!(strings(&updated["policies"]), ["developer"]);
    let check = env
        .root(&["policy", "check", "svc", "shipping/dev/DB_PASSWORD", "read"])
        .await;
    assert_eq!(check.code, 3, "{}", check.stdout);

    let list = env.root(&["group", "list"]).await.ok();
    assert!(list.contains("devs") && list.contains("developer"), "{list}");
    env.root(&["group", "delete", "devs"]).await.ok();
    env.root(&["group", "show", "devs"]).await.fails();
}

/// A fresh P-256 key: (private PKCS#8 PEM, public SPKI PEM).
fn es256_key() -> (String, String) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    (pair.serialize_pem(), pair.public_key_pem())
}

fn sign(private_pem: &str, claims: &Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256), claims, &key).unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn services_log_in_with_a_jwt_from_a_configured_issuer() {
    let env = dev().await;
    env.two_projects().await;
    env.policy("payment-service", PAYMENT_SERVICE).await;
    let (private, public) = es256_key();
    let pem = env.file("issuer.pem", &public);
    let issuer = "https://ci.example.test";
    env.root(&[
        "jwt",
        "issuer",
        "write",
        "ci",
        "--issuer",
        issuer,
        "--audience",
        "leash",
        "--pem-file",
        &pem,
        "--algorithm",
        "ES256",
    ])
    .await
    .ok();
    let issuers = env.root(&["jwt", "issuer", "list", "--output", "json"]).await.json();
    assert_eq!(issuers["issuers"][0]["name"], "ci");
    assert_eq!(issuers["issuers"][0]["issuer"], issuer);
    let text = env.root(&["jwt", "issuer", "list"]).await.ok();
    assert!(text.contains("ci") && text.contains("PEM"), "{text}");

    let created = env
        .root(&[
            "identity",
            "create",
            "deployer",
            "--policy",
            "payment-service",
            "--jwt-issuer",
            "ci",
            "--bound-claim",
            "repository=acme/payment",
            "--bound-subject",
            "repo:acme/payment:ref:refs/heads/main",
            "--output",
            "json",
        ])
        .await
        .json();
    assert!(
        created["client_secret"].is_null(),
        "a JWT-only service has no client secret: {created}"
    );
    let shown = env
        .root(&["identity", "show", "deployer", "--output", "json"])
        .await
        .json();
    assert_eq!(shown["jwt"]["issuer"], "ci");
    assert_eq!(shown["jwt"]["bound_claims"]["repository"], "acme/payment");

    let claims = |repository: &str| {
        json!({
            "iss": issuer,
            "aud": "leash",
            "sub": "repo:acme/payment:ref:refs/heads/main",
            "repository": repository,
            "iat": now(),
            "exp": now() + 300,
        })
    };
    let good = sign(&private, &claims("acme/payment"));
    let jwt_file = env.file("jwt", &good);
    let home = env.home("ci");
    let login = env
        .run(
            &["login", "--identity", "deployer", "--jwt-file", &jwt_file],
            As {
                home: Some(&home),
                ..As::default()
            },
        )
        .await
        .ok();
    assert!(login.contains("deployer") && !login.contains("lsh_"), "{login}");
    let saved = As {
        home: Some(&home),
        ..As::default()
    };
    let me = env.run(&["whoami", "--output", "json"], saved).await.json();
    assert_eq!(me["identity"], "deployer");
    assert_eq!(me["auth_method"], "jwt");
    let read = env
        .run(
            &[
                "secrets",
                "get",
                "DB_PASSWORD",
                "--plain",
                "--project",
                "payment",
                "--env",
                "prod",
            ],
            saved,
        )
        .await
        .ok();
    assert_eq!(read, "payment-prod-pw");

    let by_stdin = env
        .run(
            &["login", "--identity", "deployer", "--jwt-stdin", "--output", "json"],
            As {
                stdin: Some(&good),
                home: Some(&home),
                ..As::default()
            },
        )
        .await
        .json();
    assert!(by_stdin["token"].as_str().unwrap().starts_with("lsh_"));

    let unbound = sign(&private, &claims("acme/shipping"));
    let err = env
        .run(
            &["login", "--identity", "deployer", "--jwt-stdin"],
            As {
                stdin: Some(&unbound),
                home: Some(&home),
                ..As::default()
            },
        )
        .await
        .fails();
    assert!(err.contains("login failed"), "{err}");
    assert!(
        !err.contains("repository"),
        "the binding is not told to an unauthenticated caller: {err}"
    );
    assert!(!err.contains(&unbound), "{err}");

    env.root(&["jwt", "issuer", "delete", "ci"]).await.ok();
    let list = env.root(&["jwt", "issuer", "list"]).await.ok();
    assert!(list.contains("No JWT issuers"), "{list}");
}

#[tokio::test]
async fn root_token_hygiene_admin_user_then_revoke_root_then_generate_root() {
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
    let home = dir.path().to_path_buf();
    let leash = |args: Vec<&str>, how: As<'_>| {
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let (home, url) = (home.clone(), url.clone());
        let token = how.token.map(str::to_owned);
        let stdin = how.stdin.map(str::to_owned);
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let how = As {
                token: token.as_deref(),
                stdin: stdin.as_deref(),
                home: None,
            };
            run_in(&home, &url, &args, how).await
        }
    };

    let init = leash(
        vec![
            "operator",
            "init",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--output",
            "json",
        ],
        As::default(),
    )
    .await
    .json();
    let shares = strings(&init["unseal_shares"]);
    let root = init["root_token"].as_str().unwrap().to_owned();
    for share in &shares[..2] {
        leash(
            vec!["operator", "unseal"],
            As {
                stdin: Some(&format!("{share}\n")),
                ..As::default()
            },
        )
        .await
        .ok();
    }
    let as_root = As {
        token: Some(&root),
        ..As::default()
    };

    // init → an admin user with an admin policy → log in as it → revoke root.
    let admin_file = home.join("admin.toml");
    std::fs::write(&admin_file, ADMIN).unwrap();
    leash(vec!["policy", "write", "admin", admin_file.to_str().unwrap()], as_root)
        .await
        .ok();
    leash(
        vec![
            "identity",
            "create",
            "ops",
            "--kind",
            "user",
            "--policy",
            "admin",
            "--password-stdin",
        ],
        As {
            token: Some(&root),
            stdin: Some("ops password\n"),
            home: None,
        },
    )
    .await
    .ok();
    leash(
        vec!["login", "--user", "ops", "--password-stdin"],
        As {
            stdin: Some("ops password\n"),
            ..As::default()
        },
    )
    .await
    .ok();
    leash(
        vec!["token", "revoke", "-"],
        As {
            stdin: Some(&format!("{root}\n")),
            ..As::default()
        },
    )
    .await
    .ok();
    leash(vec!["project", "list"], as_root).await.fails();
    leash(vec!["project", "create", "payment"], As::default()).await.ok();

    // generate-root: shares from stdin, one per line, until the threshold.
    let stdin = format!("{}\n{}\n", shares[2], shares[0]);
    let out = leash(
        vec!["operator", "generate-root"],
        As {
            stdin: Some(&stdin),
            ..As::default()
        },
    )
    .await
    .ok();
    let new_root = out
        .lines()
        .find_map(|l| l.strip_prefix("Root token: "))
        .unwrap_or_else(|| panic!("no root token in {out}"))
        .to_owned();
    assert!(out.contains("revoke"), "{out}");
    let me = leash(
        vec!["whoami", "--output", "json"],
        As {
            token: Some(&new_root),
            ..As::default()
        },
    )
    .await
    .json();
    assert_eq!(me["root"], true);

    // --share flags, --reset, and JSON.
    let partial = leash(
        vec!["operator", "generate-root", "--share", &shares[1], "--output", "json"],
        As::default(),
    )
    .await
    .json();
    assert_eq!(
        (partial["progress"].as_u64(), partial["threshold"].as_u64()),
        (Some(1), Some(2))
    );
    assert!(partial["root_token"].is_null());
    leash(vec!["operator", "generate-root", "--reset"], As::default())
        .await
        .ok();
    let full = leash(
        vec![
            "operator",
            "generate-root",
            "--share",
            &shares[1],
            "--share",
            &shares[2],
            "--output",
            "json",
        ],
        As::default(),
    )
    .await
    .json();
    assert!(full["root_token"].as_str().unwrap().starts_with("lsh_"), "{full}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn access_review_names_who_can_and_what_can_with_their_rules() {
    let env = dev().await;
    env.two_projects().await;
    env.policy("payment-service", PAYMENT_SERVICE).await;
    env.policy("developer", DEVELOPER).await;
    env.root(&["identity", "create", "svc", "--policy", "payment-service"])
        .await
        .ok();
    env.root(&["identity", "create", "dev-ci", "--policy", "developer"])
        .await
        .ok();
    env.root(&[
        "group",
        "create",
        "oncall",
        "--policy",
        "payment-service",
        "--member",
        "dev-ci",
    ])
    .await
    .ok();

    let text = env
        .root(&["access", "who-can", "payment/prod/DB_PASSWORD", "read"])
        .await
        .ok();
    for word in [
        "svc",
        "dev-ci",
        "group oncall",
        "payment-service",
        "allow 1",
        "payment/prod/**",
        "Root tokens",
    ] {
        assert!(text.contains(word), "{word:?} in:\n{text}");
    }
    assert!(!text.contains(&env.root) && !text.contains("-pw"), "{text}");
    let json = env
        .root(&[
            "access",
            "who-can",
            "payment/prod/DB_PASSWORD",
            "read",
            "--output",
            "json",
        ])
        .await
        .json();
    let names: Vec<&str> = json["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev-ci", "svc"], "{json}");
    // only dev-ci may write dev, through its own policy
    let json = env
        .root(&[
            "access",
            "who-can",
            "shipping/dev/DB_PASSWORD",
            "write",
            "--output",
            "json",
        ])
        .await
        .json();
    assert_eq!(json["allowed"][0]["name"], "dev-ci");
    assert_eq!(json["allowed"][0]["via"], "own");
    assert_eq!(json["allowed"].as_array().unwrap().len(), 1);

    let json = env
        .root(&["access", "what-can", "svc", "--output", "json"])
        .await
        .json();
    let rows: Vec<(String, String)> = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["capability"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("payment/prod/DB_PASSWORD", "read"),
        ("payment/prod/DB_PASSWORD", "list"),
    ];
    assert_eq!(rows, expected.map(|(p, c)| (p.to_owned(), c.to_owned())), "{json}");
    let csv = env
        .root(&[
            "access",
            "what-can",
            "dev-ci",
            "--project",
            "shipping",
            "--output",
            "csv",
        ])
        .await
        .ok();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "path,capability,via,policy,rule,pattern");
    assert!(
        lines.contains(&"shipping/dev/DB_PASSWORD,write,own,developer,allow 1,*/dev/**"),
        "{csv}"
    );
    assert!(
        lines.iter().skip(1).all(|l| l.starts_with("shipping/dev/")),
        "--project shipping: {csv}"
    );
    let err = env.root(&["project", "list", "--output", "csv"]).await.fails();
    assert!(err.contains("csv"), "{err}");

    // a token with neither admin nor read on sys/access may not ask
    let created = env
        .root(&["token", "create", "--policy", "payment-service", "--output", "json"])
        .await
        .json();
    let token = created["token"].as_str().unwrap();
    env.with_token(token, &["access", "who-can", "payment/prod/DB_PASSWORD", "read"])
        .await
        .fails();
    env.with_token(token, &["access", "what-can", "svc"]).await.fails();
}

#[tokio::test]
async fn access_report_prints_the_matrix_and_the_findings() {
    let env = dev().await;
    env.two_projects().await;
    env.policy("payment-service", PAYMENT_SERVICE).await;
    env.policy("developer", DEVELOPER).await;
    env.root(&["identity", "create", "svc", "--policy", "payment-service"])
        .await
        .ok();
    env.root(&["identity", "create", "dev-ci", "--policy", "developer"])
        .await
        .ok();
    let csv = env.root(&["access", "report", "--output", "csv"]).await.ok();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "identity,kind,project,env,capability,secrets,of");
    for line in [
        "svc,service,payment,prod,read,1,1",
        "dev-ci,service,shipping,dev,write,1,1",
    ] {
        assert!(lines.contains(&line), "{line} in:\n{csv}");
    }
    assert!(!csv.contains("svc,service,shipping"), "{csv}");
    let findings = env
        .root(&["access", "report", "--findings", "--output", "csv"])
        .await
        .ok();
    assert!(findings.starts_with("finding,subject,detail"), "{findings}");
    assert!(
        findings.contains("unreadable,shipping/prod/DB_PASSWORD,"),
        "nobody reads shipping/prod: {findings}"
    );
    assert!(findings.contains("secret_never_expires,svc,"), "{findings}");
    let text = env.root(&["access", "report"]).await.ok();
    assert!(text.contains("Findings") && text.contains("root_token"), "{text}");
    assert!(!text.contains("-pw") && !text.contains(&env.root), "{text}");
}

#[tokio::test]
async fn secrets_move_and_copy_on_the_server_and_env_diff_shows_no_value() {
    let env = dev().await;
    env.two_projects().await;
    let at = |project: &'static str, e: &'static str| ["--project", project, "--env", e];
    env.root(&[&["secrets", "set", "OLD_URL=pg://one-Mv9"][..], &at("payment", "prod")].concat())
        .await
        .ok();
    env.root(&[&["secrets", "set", "OLD_URL=pg://two-Mv9"][..], &at("payment", "prod")].concat())
        .await
        .ok();
    env.policy(
        "mover",
        "[[allow]]\npath = \"payment/prod/NEW_URL\"\ncapabilities = [\"write\"]\n\
         [[allow]]\npath = \"payment/prod/OLD_URL\"\ncapabilities = [\"delete\"]\n",
    )
    .await;
    let created = env
        .root(&["token", "create", "--policy", "mover", "--output", "json"])
        .await
        .json();
    let mover = created["token"].as_str().unwrap();
    let get_new = [&["secrets", "get", "NEW_URL", "--plain"][..], &at("payment", "prod")].concat();
    let moved = env
        .with_token(
            mover,
            &[&["secrets", "mv", "OLD_URL", "NEW_URL"][..], &at("payment", "prod")].concat(),
        )
        .await
        .ok();
    assert!(
        moved.contains("set NEW_URL (v1), moved from payment/prod/OLD_URL (version 2)")
            && moved.contains("delete OLD_URL"),
        "{moved}"
    );
    assert!(!moved.contains("Mv9"), "{moved}");
    env.with_token(mover, &get_new).await.fails();
    assert_eq!(env.root(&get_new).await.ok(), "pg://two-Mv9");
    let history = env
        .root(&[&["secrets", "history", "NEW_URL"][..], &at("payment", "prod")].concat())
        .await
        .ok();
    assert!(
        history.contains("moved from payment/prod/OLD_URL (version 2)"),
        "{history}"
    );

    // A copy to another environment, then the diff of the two.
    let copied = env
        .root(
            &[
                &["secrets", "cp", "NEW_URL", "NEW_URL", "--to-env", "dev"][..],
                &at("payment", "prod"),
            ]
            .concat(),
        )
        .await
        .ok();
    assert!(copied.contains("Copied into payment/dev"), "{copied}");
    let diff = env
        .root(&["env", "diff", "dev", "prod", "--project", "payment"])
        .await
        .ok();
    for line in ["DB_PASSWORD", "different", "NEW_URL", "same"] {
        assert!(diff.contains(line), "{line} in:\n{diff}");
    }
    assert!(!diff.contains("Mv9") && !diff.contains("-pw"), "{diff}");
    let err = env
        .root(&["env", "diff", "dev", "prod", "--project", "payment", "--exit-code"])
        .await;
    assert_eq!(err.code, 1, "--exit-code: the environments differ");
    let json = env
        .root(&["env", "diff", "dev", "prod", "--project", "payment", "--output", "json"])
        .await
        .json();
    assert_eq!(json["identical"], false);
    // A bad destination is refused with the reason, and nothing changes.
    let err = env
        .root(&[&["secrets", "mv", "NEW_URL", "db/"][..], &at("payment", "prod")].concat())
        .await
        .fails();
    assert!(err.contains("end both with `/`"), "{err}");
}
