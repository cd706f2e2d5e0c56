//! End-to-end encrypted environments with real processes: a `leash server
//! --dev` process (its data directory under this test's temporary
//! directory), the `leash` CLI and `leash agent`, age identities made here.
//!
//! What is checked: the server's files (database, WAL, audit log) and its
//! log never hold a planted plaintext; values round-trip through set, get,
//! export, run and the agent with the right identity and fail clearly (naming
//! the recipients) without it, and `run` then starts nothing; a removed
//! recipient can decrypt no current version; `--raw-ciphertext` is a
//! standard age file (age crate, and `rage` when it is on PATH).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;
use common::Run;
use tempfile::TempDir;

/// A `leash server --dev` process whose temporary data directory is under `dir/tmp`.
struct Server {
    child: Child,
    url: String,
    token: String,
    dir: TempDir,
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An age X25519 identity written to a file.
struct Key {
    recipient: String,
    file: PathBuf,
    identity: age::x25519::Identity,
}

fn collect(reader: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["tmp", "work", "config", "cache"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_leash"))
            .args(["server", "--dev", "--listen", "127.0.0.1:0"])
            .env("TMPDIR", dir.path().join("tmp"))
            .env("LEASH_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("leash server --dev starts");
        let log = Arc::new(Mutex::new(String::new()));
        collect(child.stderr.take().unwrap(), log.clone());
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut token) = (None, None);
        while url.is_none() || token.is_none() {
            let line = stdout.next().expect("the dev server printed its token").unwrap();
            let quoted = |prefix: &str| {
                line.trim()
                    .strip_prefix(prefix)
                    .map(|r| r.trim_matches('\'').to_owned())
            };
            url = url.or_else(|| quoted("export LEASH_ADDR="));
            token = token.or_else(|| quoted("export LEASH_TOKEN="));
        }
        let server = Server {
            child,
            url: url.unwrap(),
            token: token.unwrap(),
            dir,
            log,
        };
        server.leash(&["project", "create", "pay"], &[]).ok();
        server.leash(&["env", "create", "--project", "pay", "vault"], &[]).ok();
        server
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("work").join(name)
    }

    /// `leash args…` against this server in pay/vault, with no identity unless `env` gives one.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_leash"));
        cmd.args(args)
            .current_dir(d.join("work"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("XDG_CACHE_HOME", d.join("cache"))
            .env("HOME", d.join("work"))
            .env("LEASH_ADDR", &self.url)
            .env("LEASH_TOKEN", &self.token)
            .env("LEASH_PROJECT", "pay")
            .env("LEASH_ENV", "vault")
            .env_remove("LEASH_AGE_IDENTITY")
            .env_remove("LEASH_CA_CERT")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    fn leash(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self.command(args, env).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    fn key(&self, name: &str) -> Key {
        let identity = age::x25519::Identity::generate();
        let file = self.path(name);
        std::fs::write(&file, format!("# {name}\n{}\n", identity.to_string().expose_secret())).unwrap();
        Key {
            recipient: identity.to_public().to_string(),
            file,
            identity,
        }
    }

    /// Every byte of every file the server keeps (database, WAL, audit file).
    fn stored_bytes(&self) -> (Vec<u8>, Vec<String>) {
        fn walk(dir: &Path, bytes: &mut Vec<u8>, names: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, bytes, names);
                } else {
                    names.push(path.file_name().unwrap().to_string_lossy().into_owned());
                    bytes.extend(std::fs::read(&path).unwrap());
                }
            }
        }
        let (mut bytes, mut names) = (Vec::new(), Vec::new());
        walk(&self.dir.path().join("tmp"), &mut bytes, &mut names);
        (bytes, names)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

fn identity_env(key: &Key) -> [(&'static str, &str); 1] {
    [("LEASH_AGE_IDENTITY", key.file.to_str().unwrap())]
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Decrypts an armored age file with the age crate's own decryptor.
fn age_decrypt(armored: &str, identity: &age::x25519::Identity) -> Result<String, String> {
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    let decryptor = age::Decryptor::new(reader).map_err(|e| e.to_string())?;
    let mut out = String::new();
    decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| e.to_string())?
        .read_to_string(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn planted_plaintext_never_reaches_the_database_wal_log_or_audit_file() {
    let s = Server::start();
    let alice = s.key("alice.txt");
    let bob = s.key("bob.txt");
    let planted = format!("E2E-PLANT-{}-Zq9", std::process::id());
    s.leash(&["e2e", "enable", "--recipient", &alice.recipient], &[]).ok();
    // every way a value goes in: an argument, a file, stdin, an import
    s.leash(&["secrets", "set", &format!("STRIPE_KEY={planted}-arg")], &[])
        .ok();
    std::fs::write(s.path("v.txt"), format!("{planted}-file")).unwrap();
    s.leash(&["secrets", "set", "stripe/API=@v.txt"], &[]).ok();
    let mut cmd = s.command(&["secrets", "set", "FROM_STDIN=-"], &[]);
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), format!("{planted}-stdin").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    std::fs::write(s.path("import.env"), format!("IMPORTED={planted}-import\n")).unwrap();
    s.leash(&["import", "import.env"], &[]).ok();
    s.leash(&["secrets", "set", &format!("STRIPE_KEY={planted}-v2")], &[])
        .ok();
    // ...and out: get, export, run, recipient changes
    let id = identity_env(&alice);
    assert_eq!(
        s.leash(&["secrets", "get", "STRIPE_KEY", "--plain"], &id).ok(),
        format!("{planted}-v2")
    );
    assert!(s.leash(&["export"], &id).ok().contains(&format!("{planted}-import")));
    let ran = s.leash(&["run", "--", "sh", "-c", "echo \"$STRIPE_API\""], &id).ok();
    assert_eq!(ran.trim(), format!("{planted}-file"));
    s.leash(&["e2e", "recipients", "add", &bob.recipient, "--all-versions"], &id)
        .ok();
    s.leash(&["e2e", "recipients", "remove", &alice.recipient], &identity_env(&bob))
        .ok();
    // failures must not echo values either
    let err = s.leash(&["secrets", "get", "STRIPE_KEY", "--plain"], &id).fails();
    assert!(!err.contains(&planted), "{err}");

    let (bytes, names) = s.stored_bytes();
    assert!(
        names.iter().any(|n| n.ends_with("-wal")),
        "the WAL was searched too: {names:?}"
    );
    assert!(
        names.iter().any(|n| n == "audit.jsonl"),
        "the audit file was searched: {names:?}"
    );
    assert!(bytes.len() > 10_000, "the store wrote its files");
    assert!(!contains(&bytes, &planted), "plaintext in the server's files");
    assert!(
        !contains(&bytes, "E2E-PLANT-"),
        "plaintext prefix in the server's files"
    );
    let log = s.log();
    assert!(log.contains("listening"), "the log was captured: {log}");
    assert!(!log.contains("E2E-PLANT-"), "plaintext in the server log:\n{log}");
}

#[test]
fn round_trip_through_set_get_export_run_and_clear_errors_without_the_identity() {
    let s = Server::start();
    let alice = s.key("alice.txt");
    let stranger = s.key("stranger.txt");
    let enabled = s.leash(&["e2e", "enable", "--recipient", &alice.recipient], &[]).ok();
    assert!(enabled.contains(&alice.recipient), "{enabled}");
    let status = s.leash(&["e2e", "status", "--output", "json"], &[]).json();
    assert_eq!(status["enabled"], true);
    assert_eq!(status["recipients"][0], alice.recipient.as_str());
    s.leash(
        &["secrets", "set", "STRIPE_KEY=sk_live_e2e 1", "db/PASSWORD=p@ss\nword"],
        &[],
    )
    .ok();

    let id = identity_env(&alice);
    assert_eq!(
        s.leash(&["secrets", "get", "STRIPE_KEY", "--plain"], &id).ok(),
        "sk_live_e2e 1"
    );
    let file = alice.file.to_str().unwrap();
    let flagged = s
        .leash(&["secrets", "get", "db/PASSWORD", "--plain", "--identity", file], &[])
        .ok();
    assert_eq!(flagged, "p@ss\nword");
    let json = s
        .leash(&["secrets", "get", "STRIPE_KEY", "--output", "json"], &id)
        .json();
    assert_eq!(json["value"], "sk_live_e2e 1");
    let exported = s.leash(&["export", "--format", "json"], &id).json();
    assert_eq!(exported["STRIPE_KEY"], "sk_live_e2e 1");
    assert_eq!(exported["DB_PASSWORD"], "p@ss\nword");
    let ran = s.leash(
        &[
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s|%s' \"$STRIPE_KEY\" \"$DB_PASSWORD\"",
        ],
        &id,
    );
    assert_eq!(ran.ok(), "sk_live_e2e 1|p@ss\nword");
    // the identity variable is not passed on to the child
    let ran = s.leash(&["run", "--", "sh", "-c", "echo \"${LEASH_AGE_IDENTITY:-unset}\""], &id);
    assert_eq!(ran.ok().trim(), "unset");

    // no identity, or the wrong one: a clear error naming the recipients
    let missing = s.leash(&["secrets", "get", "STRIPE_KEY", "--plain"], &[]).fails();
    assert!(
        missing.contains(&alice.recipient) && missing.contains("age identity"),
        "{missing}"
    );
    let wrong = s
        .leash(&["secrets", "get", "STRIPE_KEY"], &identity_env(&stranger))
        .fails();
    assert!(
        wrong.contains(&alice.recipient) && wrong.contains("stranger.txt"),
        "{wrong}"
    );
    assert!(!wrong.contains("sk_live"), "{wrong}");
    let failed = s.leash(&["export"], &[]).fails();
    assert!(failed.contains(&alice.recipient), "{failed}");

    // run starts nothing when any value cannot be decrypted
    let marker = s.path("started");
    let script = format!("touch '{}'", marker.display());
    for env in [&[][..], &identity_env(&stranger)[..]] {
        let run = s.leash(&["run", "--", "sh", "-c", &script], env);
        let err = run.fails();
        assert!(err.contains("the command was not started"), "{err}");
        assert!(err.contains(&alice.recipient), "{err}");
        assert!(!marker.exists(), "the child ran with half its secrets");
    }

    let err = s
        .leash(&["e2e", "enable", "--recipient", &stranger.recipient], &[])
        .fails();
    assert!(err.contains("already end-to-end encrypted"), "{err}");
}

#[test]
fn removing_a_recipient_leaves_its_identity_unable_to_decrypt_any_current_version() {
    let s = Server::start();
    let (alice, bob, carol) = (s.key("alice.txt"), s.key("bob.txt"), s.key("carol.txt"));
    std::fs::write(
        s.path("team.txt"),
        format!("# the team\n{}\n\n{}\n", alice.recipient, bob.recipient),
    )
    .unwrap();
    s.leash(&["e2e", "enable", "--recipients-file", "team.txt"], &[]).ok();
    s.leash(&["secrets", "set", "A=a-one", "B=b-one"], &[]).ok();
    s.leash(&["secrets", "set", "A=a-two", "C=c-one"], &[]).ok();
    s.leash(&["secrets", "delete", "C"], &[]).ok();
    let listed = s.leash(&["e2e", "recipients", "list"], &[]).ok();
    assert_eq!(listed, format!("{}\n{}\n", alice.recipient, bob.recipient));

    // removing alice needs an identity that can still decrypt (bob's), keeps every version
    let err = s.leash(&["e2e", "recipients", "remove", &alice.recipient], &[]).fails();
    assert!(err.contains("nothing was changed"), "{err}");
    s.leash(
        &["e2e", "recipients", "remove", &alice.recipient, "--all-versions"],
        &identity_env(&bob),
    )
    .ok();
    for (key, version) in [("A", "2"), ("A", "1"), ("B", "1"), ("C", "1")] {
        let raw = s
            .leash(&["secrets", "get", key, "--version", version, "--raw-ciphertext"], &[])
            .ok();
        assert!(
            age_decrypt(&raw, &alice.identity).is_err(),
            "{key} v{version} still opens for alice"
        );
        assert!(
            age_decrypt(&raw, &bob.identity).is_ok(),
            "{key} v{version} must open for bob"
        );
        let err = s
            .leash(&["secrets", "get", key, "--version", version], &identity_env(&alice))
            .fails();
        assert!(err.contains(&bob.recipient) && !err.contains(&alice.recipient), "{err}");
    }
    assert_eq!(
        s.leash(&["secrets", "get", "A", "--plain"], &identity_env(&bob)).ok(),
        "a-two"
    );

    // without --all-versions only current versions are re-encrypted; older ones are destroyed
    let out = s
        .leash(&["e2e", "recipients", "add", &carol.recipient], &identity_env(&bob))
        .ok();
    assert!(
        out.contains("2 value(s) re-encrypted, 2 older version(s) destroyed"),
        "{out}"
    );
    assert_eq!(
        s.leash(&["secrets", "get", "A", "--plain"], &identity_env(&carol)).ok(),
        "a-two"
    );
    let gone = s
        .leash(&["secrets", "get", "A", "--version", "1"], &identity_env(&bob))
        .fails();
    assert!(gone.contains("destroyed"), "{gone}");
    let err = s
        .leash(&["e2e", "recipients", "remove", &alice.recipient], &identity_env(&bob))
        .fails();
    assert!(err.contains("is not a recipient"), "{err}");
    let err = s.leash(&["e2e", "disable"], &[]).fails();
    assert!(err.contains("destroy them"), "{err}");
}

#[test]
fn raw_ciphertext_is_a_standard_age_file_for_the_age_crate_and_rage() {
    let s = Server::start();
    let alice = s.key("alice.txt");
    let mut recipients = vec!["--recipient".to_owned(), alice.recipient.clone()];
    let ssh_key = s.path("id_ed25519");
    let have_ssh = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test@leash", "-f"])
        .arg(&ssh_key)
        .status()
        .is_ok_and(|st| st.success());
    if have_ssh {
        let public = std::fs::read_to_string(ssh_key.with_extension("pub")).unwrap();
        recipients.extend(["--recipient".to_owned(), public.trim().to_owned()]);
    } else {
        eprintln!("note: ssh-keygen is not on PATH; the SSH-recipient part is skipped");
    }
    let mut args = vec!["e2e", "enable"];
    args.extend(recipients.iter().map(String::as_str));
    s.leash(&args, &[]).ok();
    s.leash(&["secrets", "set", "STRIPE_KEY=interop-value"], &[]).ok();

    let raw = s.leash(&["secrets", "get", "STRIPE_KEY", "--raw-ciphertext"], &[]).ok();
    assert!(raw.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "{raw}");
    assert!(raw.trim_end().ends_with("-----END AGE ENCRYPTED FILE-----"), "{raw}");
    assert_eq!(age_decrypt(&raw, &alice.identity).unwrap(), "interop-value");
    std::fs::write(s.path("ct.age"), &raw).unwrap();
    if have_ssh {
        let ssh = ssh_key.to_str().unwrap();
        let plain = s.leash(&["secrets", "get", "STRIPE_KEY", "--plain", "--identity", ssh], &[]);
        assert_eq!(plain.ok(), "interop-value");
    }
    if on_path("rage") {
        let out = Command::new("rage")
            .arg("-d")
            .arg("-i")
            .arg(&alice.file)
            .arg(s.path("ct.age"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "interop-value");
    } else {
        eprintln!("note: rage is not on PATH; only the age crate's decryptor was checked");
    }
    let err = s.leash(&["secrets", "get", "NOPE", "--raw-ciphertext"], &[]).fails();
    assert!(err.contains("not found"), "{err}");
}

/// A running `leash agent` whose stderr is collected.
struct Agent {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Agent {
    fn spawn(s: &Server, config: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = s
            .command(&["agent", "--config", config.to_str().unwrap()], env)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        collect(child.stderr.take().unwrap(), log.clone());
        Agent { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn wait_for(&self, file: &Path, expected: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if std::fs::read_to_string(file).is_ok_and(|t| t.trim() == expected) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} never held the value; agent log:\n{}", file.display(), self.log());
    }
}

impl Drop for Agent {
    /// SIGTERM, so the agent stops its child too; SIGKILL if it lingers.
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_agent_decrypts_into_templates_and_env_with_an_identity_and_refuses_without() {
    let s = Server::start();
    let alice = s.key("alice.txt");
    s.leash(&["e2e", "enable", "--recipient", &alice.recipient], &[]).ok();
    s.leash(&["secrets", "set", "STRIPE_KEY=agent-e2e-value"], &[]).ok();
    let config = |name: &str, identity: Option<&Path>| {
        let out = s.path(&format!("{name}.out"));
        let env_out = s.path(&format!("{name}.env"));
        let identity = identity.map_or(String::new(), |p| format!("age_identity = \"{}\"\n", p.display()));
        let text = format!(
            "{identity}[[template]]\ncontents = \"{{{{ secret('STRIPE_KEY') }}}}\"\ndestination = \"{}\"\n\
             [exec]\ncommand = [\"sh\", \"-c\", \"echo \\\"$STRIPE_KEY\\\" > '{}'; exec sleep 600\"]\n",
            out.display(),
            env_out.display()
        );
        let file = s.path(&format!("{name}.toml"));
        std::fs::write(&file, text).unwrap();
        (file, out, env_out)
    };

    // from the configuration file
    let (file, out, env_out) = config("configured", Some(&alice.file));
    let agent = Agent::spawn(&s, &file, &[]);
    agent.wait_for(&out, "agent-e2e-value");
    agent.wait_for(&env_out, "agent-e2e-value");
    assert!(!agent.log().contains("agent-e2e-value"), "{}", agent.log());
    drop(agent);

    // from LEASH_AGE_IDENTITY
    let (file, out, env_out) = config("from-env", None);
    let agent = Agent::spawn(&s, &file, &identity_env(&alice));
    agent.wait_for(&out, "agent-e2e-value");
    agent.wait_for(&env_out, "agent-e2e-value");
    drop(agent);

    // without one: a clear error, nothing rendered, no child started
    let (file, out, env_out) = config("none", None);
    let mut agent = Agent::spawn(&s, &file, &[]);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = agent.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the agent kept running:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    std::thread::sleep(Duration::from_millis(100));
    let log = agent.log();
    assert!(log.contains("age identity") && log.contains(&alice.recipient), "{log}");
    assert!(!out.exists() && !env_out.exists(), "nothing may be rendered or started");
}

#[tokio::test]
async fn the_rust_client_encrypts_before_sending_and_decrypts_after_receiving() {
    use leash_client::e2e::{Identities, Recipients, decrypt_list, decrypt_secret};
    use leash_core::api::{ChangeKind, ChangeOp, ChangeRequest, SecretWrite};

    let server = leash_server::start(common::config(), true).await.unwrap();
    let token = server.dev_root_token.as_ref().unwrap().to_string();
    let client = leash_client::Client::new(&server.url(), Some(token.into()), None).unwrap();
    client.create_project("pay").await.unwrap();
    client.create_env("pay", "vault").await.unwrap();
    let key = age::x25519::Identity::generate();
    let identities = Identities::parse(format!("{}\n", key.to_string().expose_secret()).as_bytes(), "sdk").unwrap();
    let recipients = Recipients::parse([key.to_public().to_string()]).unwrap();
    client
        .e2e_set_recipients("pay", "vault", &recipients, None, false, None)
        .await
        .unwrap();

    let request = ChangeRequest {
        changes: vec![ChangeOp {
            path: "A".into(),
            kind: ChangeKind::Set {
                value: "sdk-value-a".into(),
                description: None,
            },
        }],
        message: None,
        cas: None,
        e2e_recipients: None,
    };
    client.apply_changes_e2e("pay", "vault", &request).await.unwrap();
    let write = SecretWrite {
        value: "sdk-value-b".into(),
        description: None,
        cas: None,
        e2e_recipients: None,
    };
    client.put_secret_e2e("pay", "vault", "B", &write).await.unwrap();
    // the plain calls send what they are given: the server refuses it
    let err = client.put_secret("pay", "vault", "C", &write).await.unwrap_err();
    assert_eq!(err.code(), Some("e2e_required"), "{err}");

    let mut secret = client
        .get_secret("pay", "vault", "A", &Default::default())
        .await
        .unwrap();
    assert!(secret.value.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert_eq!(secret.e2e_recipients, Some(recipients.to_strings()));
    let err = decrypt_secret(&mut secret.clone(), None).unwrap_err();
    assert!(err.to_string().contains(&recipients.to_strings()[0]), "{err}");
    decrypt_secret(&mut secret, Some(&identities)).unwrap();
    assert_eq!(secret.value.as_str(), "sdk-value-a");
    let options = leash_client::ListOptions {
        include_values: true,
        ..Default::default()
    };
    let mut list = client.list_secrets("pay", "vault", &options).await.unwrap();
    decrypt_list(&mut list, Some(&identities)).unwrap();
    let values: Vec<String> = list
        .secrets
        .iter()
        .map(|s| s.value.as_deref().unwrap().to_owned())
        .collect();
    assert_eq!(values, ["sdk-value-a", "sdk-value-b"]);
    server.shutdown().await.unwrap();
}
