//! What the CLI black-box tests share: the finished run of a `leash`
//! command and a server configuration on a free loopback port.
#![allow(dead_code)]

pub mod process;

use leash_server::ServerConfig;

/// A finished `leash` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Its stdout, after checking it succeeded.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        self.stdout
    }

    /// Its stderr, after checking it failed with `error: …` and exit 1.
    #[track_caller]
    pub fn fails(self) -> String {
        assert_eq!(self.code, 1, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        assert!(self.stderr.starts_with("error: "), "{}", self.stderr);
        self.stderr
    }

    /// Its stdout parsed as JSON, after checking it succeeded.
    #[track_caller]
    pub fn json(self) -> serde_json::Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

/// A server on 127.0.0.1:0 with default settings.
pub fn config() -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".into(),
        ..ServerConfig::default()
    }
}

/// `leash ARGS…` talking to `url` with `token`, its per-user files (config,
/// cache, home) inside `dir`, stdout and stderr captured, killed on drop.
pub fn leash_command(dir: &std::path::Path, url: &str, token: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_leash"));
    cmd.args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("HOME", dir)
        .env("LEASH_ADDR", url)
        .env("LEASH_TOKEN", token)
        .env_remove("LEASH_CA_CERT")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}
