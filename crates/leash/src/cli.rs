//! The command-line grammar: global flags and the command tree.
//!
//! It owns only what clap parses (names, help text, defaults, environment
//! variables); it must never do IO or talk to a server. Each command's
//! arguments live next to its code in `commands/*.rs`; this file only lists
//! them, so adding a command is one variant here and one arm in `main.rs`.

use std::convert::Infallible;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::commands;
use crate::output::OutputFormat;

/// Leash: a self-hosted secret manager.
///
/// Address, token, project and environment come from flags, then `LEASH_*`
/// environment variables, then files: `.leash.toml` (project and env, found
/// in the current directory or a parent) and the per-user config written by
/// `leash login`.
#[derive(Parser)]
#[command(name = "leash", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("LEASH_COMMIT"), ")"), max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Server address, or the comma-separated addresses of a cluster's nodes
    /// (tried in turn when one is down) [default: from `leash login`, else http://127.0.0.1:8270]
    #[arg(long, env = "LEASH_ADDR", global = true, value_name = "URL[,URL...]")]
    pub addr: Option<String>,

    /// Token to authenticate with [default: from `leash login`]
    #[arg(
        long,
        env = "LEASH_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = parse_secret
    )]
    pub token: Option<SecretString>,

    /// Project [default: `project` in .leash.toml]
    #[arg(long, env = "LEASH_PROJECT", global = true, value_name = "NAME")]
    pub project: Option<String>,

    /// Environment [default: `env` in .leash.toml]
    #[arg(long = "env", env = "LEASH_ENV", global = true, value_name = "NAME")]
    pub env: Option<String>,

    /// Output format (csv: `access what-can` and `access report` only)
    #[arg(long, value_enum, default_value_t, global = true)]
    pub output: OutputFormat,

    /// PEM file of the certificate authorities to trust for https:// (instead of the built-in roots)
    #[arg(long, env = "LEASH_CA_CERT", global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

fn parse_secret(s: &str) -> Result<SecretString, Infallible> {
    Ok(SecretString::from(s.to_owned()))
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the Leash server (embedded SQLite by default; --dev for a throwaway one)
    Server(crate::server_cmd::ServerArgs),
    /// Query and verify the tamper-evident audit log
    #[command(subcommand)]
    Audit(crate::commands::audit::AuditCommand),
    /// Log in and store the address and the new token in the per-user config
    ///
    /// As a user (--user NAME, password prompted without echo or read with
    /// --password-stdin), as a service (--client-id ID with
    /// --client-secret-file FILE or --client-secret-stdin; or --jwt-file FILE
    /// / --jwt-stdin with --identity NAME), or with a token: --token TOKEN
    /// (or LEASH_TOKEN), `--token -` for stdin, or prompted without echo when
    /// no method is given. The token is saved with the server address in
    /// $XDG_CONFIG_HOME/leash/config.toml (mode 0600) and printed only with
    /// --output json (the login's JSON answer).
    Login(commands::login::LoginArgs),
    /// Remove the stored token from the per-user config
    Logout,
    /// Show who you are: identity, auth method, policies and token expiry
    Whoami,
    /// Initialise, unseal, seal and inspect the server
    #[command(subcommand)]
    Operator(commands::operator::OperatorCommand),
    /// Create, inspect, renew and revoke tokens
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// Manage users and service identities
    #[command(subcommand)]
    Identity(commands::identity::IdentityCommand),
    /// Manage groups, which give their members policies
    #[command(subcommand)]
    Group(commands::group::GroupCommand),
    /// Write, read, list, delete and check access policies
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
    /// Access review: who can do something on a path, what an identity can do
    #[command(subcommand)]
    Access(commands::access::AccessCommand),
    /// Configure JWT/OIDC issuers for service logins (GitHub Actions, Kubernetes)
    #[command(subcommand)]
    Jwt(commands::jwt::JwtCommand),
    /// Create, list and delete projects
    #[command(subcommand)]
    Project(commands::project::ProjectCommand),
    /// Create, list and delete environments of a project; history and rollback
    #[command(subcommand)]
    Env(commands::env::EnvCommand),
    /// Set, read, list, delete and destroy secrets
    #[command(subcommand, visible_alias = "secret")]
    Secrets(commands::secrets::SecretsCommand),
    /// Rotate a secret now: with its policy's generator or rotator, or a one-off --generator
    ///
    /// `leash rotate JWT_SECRET --generator password:32` replaces the value; the
    /// old one stays readable as `--stage previous` for the grace period.
    /// `--revoke-previous` ends that at once, for a leaked credential. See docs/rotation.md.
    Rotate(commands::rotation::RotateArgs),
    /// Set, show and remove rotation policies; list rotation attempts
    #[command(subcommand)]
    Rotation(commands::rotation::RotationCommand),
    /// End-to-end encrypted environments: enable, status, disable, recipients (see docs/e2e.md)
    #[command(subcommand)]
    E2e(commands::e2e::E2eCommand),
    /// Import a .env file as one change set
    Import(commands::transfer::ImportArgs),
    /// Print an environment's secrets as dotenv, JSON, YAML or shell exports
    Export(commands::transfer::ExportArgs),
    /// Write a .env.example: every secret's variable name, without values
    EnvExample(commands::transfer::EnvExampleArgs),
    /// Print a shell completion script
    Completions(commands::completions::CompletionsArgs),
    /// Write the manual pages (leash.1 and one per command) into a directory
    Man(commands::man::ManArgs),
    /// Run a command with the environment's secrets as environment variables
    ///
    /// `leash run [--path PREFIX] [--only VAR,…] -- CMD ARGS…` fetches every
    /// secret you may read in one request, names them by the folder rule
    /// (`stripe/API_KEY` → `STRIPE_API_KEY`), removes LEASH_TOKEN and the other
    /// LEASH_* settings, runs CMD, forwards signals and exits with its code.
    /// `--watch` restarts it when a secret changes; `--fallback FILE` starts
    /// from an encrypted cache when the server is down. See docs/run.md.
    Run(commands::run::RunArgs),
    /// Run the sidecar agent: templates, a local socket and a supervised child, kept current
    ///
    /// `leash agent --config agent.toml` logs in from files (client secret,
    /// JWT such as a Kubernetes service-account token, or a token file),
    /// renders templates to files (mode 0600, atomically) and re-renders them
    /// when a secret changes, serves reads on a unix socket, optionally runs
    /// and restarts a child, and keeps serving the last values while the
    /// server is unreachable. See docs/agent.md.
    Agent(commands::agent::AgentArgs),
    /// Find secrets in files, git history, staged changes or stdin (exit 1 when found)
    ///
    /// `leash scan [PATH…]` scans a working tree (honouring .gitignore),
    /// `--git [RANGE]` every commit's added lines, `--staged` what is about to
    /// be committed, `-` standard input. `leash scan install-hook` installs a
    /// pre-commit hook. Secrets are redacted unless --show-secrets. See docs/scan.md.
    Scan(commands::scan::ScanArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "leash",
            "secrets",
            "list",
            "--project",
            "p",
            "--env",
            "dev",
            "--output",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.global.project.as_deref(), Some("p"));
        assert_eq!(cli.global.env.as_deref(), Some("dev"));
        assert_eq!(cli.global.output, OutputFormat::Json);
    }
}
