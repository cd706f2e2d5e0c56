//! Resolving the global settings of one invocation: server address, token,
//! TLS trust, project, environment and output mode.
//!
//! It owns the precedence rule: a flag, then its `LEASH_*` environment
//! variable (both parsed by clap), then the files (`.leash.toml` for project
//! and env, the per-user config for address and token), then the built-in
//! default. It must never print, and never put the token anywhere but into
//! the client.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use leash_client::Client;
use leash_core::names::{EnvName, ProjectName};
use secrecy::SecretString;

use crate::cli::GlobalArgs;
use crate::config;
use crate::output::{OutputFormat, OutputMode};

/// Where a server is expected when nothing says otherwise.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8270";

/// The global settings of this invocation. Creating it does no IO; files are
/// read only when a command needs a value from them.
pub struct Context {
    global: GlobalArgs,
}

/// The project and environment a command works on.
pub struct Target {
    pub project: ProjectName,
    pub env: EnvName,
}

impl Target {
    pub fn project(&self) -> &str {
        self.project.as_str()
    }
    pub fn env(&self) -> &str {
        self.env.as_str()
    }
}

impl Context {
    pub fn new(global: GlobalArgs) -> Self {
        Self { global }
    }

    /// Text or JSON. `--output csv` reaches only the commands that offer it
    /// (`main` refuses it for the others first), which read [`Context::output_format`].
    pub fn output(&self) -> OutputMode {
        match self.global.output {
            OutputFormat::Json => OutputMode::Json,
            OutputFormat::Text | OutputFormat::Csv => OutputMode::Text,
        }
    }

    /// `--project` (or LEASH_PROJECT) as given, without the .leash.toml default:
    /// for filters, which must not narrow silently.
    pub fn project_flag(&self) -> Option<&str> {
        self.global.project.as_deref()
    }

    /// `--env` (or LEASH_ENV) as given, without the .leash.toml default.
    pub fn env_flag(&self) -> Option<&str> {
        self.global.env.as_deref()
    }

    /// `--output` as given, CSV included.
    pub fn output_format(&self) -> OutputFormat {
        self.global.output
    }

    /// The token given by `--token` or `LEASH_TOKEN` (not the saved one).
    pub fn token_flag(&self) -> Option<&SecretString> {
        self.global.token.as_ref()
    }

    /// The server address, or the comma-separated addresses of a cluster's
    /// nodes: flag/env, then the per-user config, then the default. Every
    /// address is checked here, before anything is sent.
    pub fn addr(&self) -> anyhow::Result<String> {
        let addr = match &self.global.addr {
            Some(addr) => addr.clone(),
            None => {
                let saved = config::load_user_config(&config::user_config_path()?)?;
                saved.addr.unwrap_or_else(|| DEFAULT_ADDR.to_owned())
            }
        };
        check_addrs(&addr)?;
        Ok(addr)
    }

    /// A client with the token from flag/env or, failing that, the per-user config.
    pub fn client(&self) -> anyhow::Result<Client> {
        let saved = if self.global.addr.is_some() && self.global.token.is_some() {
            config::UserConfig::default()
        } else {
            config::load_user_config(&config::user_config_path()?)?
        };
        let addr = self
            .global
            .addr
            .clone()
            .or(saved.addr)
            .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let token = self.global.token.clone().or(saved.token);
        check_addrs(&addr)?;
        self.client_for(&addr, token)
    }

    /// The token a command would use: flag/env, then the per-user config.
    pub fn token(&self) -> anyhow::Result<Option<SecretString>> {
        if let Some(token) = &self.global.token {
            return Ok(Some(token.clone()));
        }
        Ok(config::load_user_config(&config::user_config_path()?)?.token)
    }

    /// A client for `addr` with exactly `token`.
    pub fn client_for(&self, addr: &str, token: Option<SecretString>) -> anyhow::Result<Client> {
        let ca = match &self.global.ca_cert {
            Some(path) => Some(
                std::fs::read(path).with_context(|| format!("cannot read the CA certificate {}", path.display()))?,
            ),
            None => None,
        };
        Ok(Client::new(addr, token, ca.as_deref())?)
    }

    /// The project, or an error saying the three ways to choose one.
    pub fn project(&self) -> anyhow::Result<ProjectName> {
        let name = match &self.global.project {
            Some(name) => name.clone(),
            None => self
                .project_file()?
                .and_then(|f| f.project)
                .ok_or_else(|| missing("project", "--project", "LEASH_PROJECT", "project"))?,
        };
        Ok(ProjectName::parse(&name)?)
    }

    /// The project and environment, or an error saying how to choose them.
    pub fn target(&self) -> anyhow::Result<Target> {
        let file = if self.global.project.is_none() || self.global.env.is_none() {
            self.project_file()?
        } else {
            None
        };
        resolve_target(
            self.global.project.as_deref(),
            self.global.env.as_deref(),
            file.unwrap_or_default(),
        )
    }

    fn project_file(&self) -> anyhow::Result<Option<config::ProjectFile>> {
        let cwd: PathBuf = std::env::current_dir().context("cannot read the current directory")?;
        Ok(config::load_project_file(&cwd)?.map(|(_, file)| file))
    }
}

/// Every address of a (comma-separated) list is usable, or an error naming the bad one.
fn check_addrs(list: &str) -> anyhow::Result<()> {
    leash_client::parse_addrs(list)
        .map(drop)
        .context("check --addr / LEASH_ADDR (or the address saved by `leash login`)")
}

/// Flag or environment variable first, then `.leash.toml`.
fn resolve_target(project: Option<&str>, env: Option<&str>, file: config::ProjectFile) -> anyhow::Result<Target> {
    let project = project
        .map(str::to_owned)
        .or(file.project)
        .ok_or_else(|| missing("project", "--project", "LEASH_PROJECT", "project"))?;
    let env = env
        .map(str::to_owned)
        .or(file.env)
        .ok_or_else(|| missing("environment", "--env", "LEASH_ENV", "env"))?;
    Ok(Target {
        project: ProjectName::parse(&project)?,
        env: EnvName::parse(&env)?,
    })
}

fn missing(what: &str, flag: &str, var: &str, key: &str) -> anyhow::Error {
    anyhow!(
        "no {what} selected: pass {flag} NAME, set {var}=NAME, or add `{key} = \"NAME\"` to a {} in this directory or a parent",
        config::PROJECT_FILE
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProjectFile;

    fn check(
        flags: (Option<&str>, Option<&str>),
        file: (Option<&str>, Option<&str>),
        expected: Result<(&str, &str), &str>,
    ) {
        let file = ProjectFile {
            project: file.0.map(Into::into),
            env: file.1.map(Into::into),
        };
        match (resolve_target(flags.0, flags.1, file), expected) {
            (Ok(t), Ok((p, e))) => assert_eq!((t.project(), t.env()), (p, e)),
            (Err(err), Err(fragment)) => {
                let text = format!("{err:#}");
                assert!(text.contains(fragment), "{text}");
            }
            (Ok(t), Err(want)) => panic!("got {}/{}, want error {want}", t.project(), t.env()),
            (Err(err), Ok(want)) => panic!("got {err:#}, want {want:?}"),
        }
    }

    #[test]
    fn flags_win_over_the_project_file() {
        check((Some("a"), Some("dev")), (Some("b"), Some("prod")), Ok(("a", "dev")));
        check((None, Some("dev")), (Some("b"), Some("prod")), Ok(("b", "dev")));
        check((Some("a"), None), (Some("b"), Some("prod")), Ok(("a", "prod")));
        check((None, None), (Some("b"), Some("prod")), Ok(("b", "prod")));
    }

    #[test]
    fn missing_or_invalid_names_say_what_to_do() {
        check(
            (None, Some("dev")),
            (None, None),
            Err(
                "no project selected: pass --project NAME, set LEASH_PROJECT=NAME, or add `project = \"NAME\"` to a .leash.toml",
            ),
        );
        check((Some("a"), None), (None, None), Err("--env NAME, set LEASH_ENV=NAME"));
        check((Some("a/b"), Some("dev")), (None, None), Err("invalid project name"));
    }
}
