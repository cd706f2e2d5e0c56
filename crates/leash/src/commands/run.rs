//! `leash run`: run a command with an environment's secrets.
//!
//! It owns the command-line surface and resolving it (target, token, cache
//! file and key); the work is `leash_agent::run`. It must never print a value
//! or the token, and never pass the token to the child.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use leash_agent::cache::{self, Cache, KeySource};
use leash_agent::run::{LEASH_VARS, MountFormat, MountOptions, OnChange, RunOptions, Source, WatchOptions};
use leash_core::names::PathPrefix;
use zeroize::Zeroizing;

use crate::context::Context;

#[derive(Args)]
pub struct RunArgs {
    /// Only the secrets in this folder (`stripe` gives `stripe/API_KEY`, not `stripe2/KEY`)
    #[arg(long, value_name = "PREFIX")]
    path: Option<String>,
    /// Only these variables (environment-variable names, comma-separated); each must exist
    #[arg(long, value_delimiter = ',', value_name = "VAR,…")]
    only: Option<Vec<String>>,
    /// Variables already set in the environment win over Leash's (default: Leash's win)
    #[arg(long)]
    preserve_env: bool,
    /// Watch for changes and restart the command (or signal it) with the new values
    #[arg(long)]
    watch: bool,
    /// What a change does: `restart` (SIGTERM, grace, SIGKILL, start again) or `signal:HUP` (any forwarded signal)
    #[arg(long, value_name = "ACTION", default_value = "restart", value_parser = parse_on_change, requires = "watch")]
    on_change: OnChange,
    /// How long a restarted command may take to exit after SIGTERM before SIGKILL
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration, requires = "watch")]
    grace: Duration,
    /// Changes this close together cause one restart
    #[arg(long, value_name = "DURATION", default_value = "300ms", value_parser = humantime::parse_duration, requires = "watch")]
    debounce: Duration,
    /// Wait a random delay up to this long after a change before restarting, so many instances
    /// watching one environment restart spread over the window (0: at once)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration, requires = "watch")]
    restart_jitter: Duration,
    /// Cache file: refreshed on every fetch, used (with a warning) when the server cannot be reached
    #[arg(long, value_name = "FILE")]
    fallback: Option<PathBuf>,
    /// Use only the cache (the --fallback FILE, else the default cache), never the server
    #[arg(long, conflicts_with = "watch")]
    offline: bool,
    /// Derive the cache key from the passphrase in this environment variable instead of the token
    #[arg(long, value_name = "VAR")]
    cache_passphrase_env: Option<String>,
    /// Write the secrets to FILE (mode 0600, removed on exit) instead of the environment; its path is in LEASH_SECRETS_FILE
    #[arg(long, value_name = "FILE")]
    mount: Option<PathBuf>,
    /// Format of the --mount file
    #[arg(long, value_enum, default_value_t = MountFileFormat::Dotenv, requires = "mount")]
    mount_format: MountFileFormat,
    #[command(flatten)]
    identity: crate::commands::e2e::IdentityArg,
    /// The command and its arguments (after `--`)
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, num_args = 1.., value_name = "CMD")]
    command: Vec<OsString>,
}

/// `--mount-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum MountFileFormat {
    /// `KEY="value"` lines, read back exactly by dotenv loaders
    Dotenv,
    /// One flat JSON object
    Json,
}

fn parse_on_change(s: &str) -> Result<OnChange, String> {
    s.parse()
}

pub async fn run(args: RunArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let target = ctx.target()?;
    let (project, env) = (target.project().to_owned(), target.env().to_owned());
    let prefix = match &args.path {
        Some(p) => Some(PathPrefix::parse(p)?.as_str().to_owned()).filter(|p| !p.is_empty()),
        None => None,
    };
    let client = ctx.client()?;
    let identities = args.identity.load()?;
    let key = match &args.cache_passphrase_env {
        Some(var) => match std::env::var(var) {
            Ok(pass) if !pass.is_empty() => Some(KeySource::Passphrase(Zeroizing::new(pass))),
            _ => return Err(leash_agent::Error::NoPassphrase(var.clone()).into()),
        },
        None => ctx.token()?.map(KeySource::Token),
    };
    let cache_path = args
        .fallback
        .clone()
        .or_else(|| cache::default_path(&client.addrs().join(","), &project, &env, prefix.as_deref()));
    let cache = key.zip(cache_path).map(|(key, path)| Cache::new(path, key));
    let source = if args.offline {
        Source::Cache
    } else if args.fallback.is_some() {
        Source::ServerOrCache
    } else {
        Source::Server
    };
    let mut remove_vars: Vec<String> = LEASH_VARS.iter().map(|v| (*v).to_owned()).collect();
    remove_vars.extend(args.cache_passphrase_env.clone());
    let options = RunOptions {
        client,
        project: project.clone(),
        env: env.clone(),
        prefix,
        only: args.only,
        preserve_env: args.preserve_env,
        source,
        cache,
        watch: args.watch.then_some(WatchOptions {
            on_change: args.on_change,
            grace: args.grace,
            debounce: args.debounce,
            restart_jitter: args.restart_jitter,
        }),
        mount: args.mount.map(|path| MountOptions {
            path,
            format: match args.mount_format {
                MountFileFormat::Dotenv => MountFormat::Dotenv,
                MountFileFormat::Json => MountFormat::Json,
            },
        }),
        remove_vars,
        command: args.command,
        identities,
    };
    match leash_agent::run::run(options).await {
        Ok(code) => Ok(ExitCode::from(code)),
        Err(leash_agent::Error::Spawn {
            program,
            reason,
            exit_code,
        }) => {
            // Like a shell: 127 not found, 126 not executable.
            eprintln!("error: cannot run {program}: {reason}");
            Ok(ExitCode::from(exit_code))
        }
        // Keep the client error itself in the chain, so `main` can add its hint.
        Err(leash_agent::Error::Client(e)) => Err(anyhow::Error::new(e)).with_context(|| {
            let fallback = if args.fallback.is_none() && !args.offline {
                " (--fallback FILE would start it with cached values)"
            } else {
                ""
            };
            format!("cannot fetch the secrets of {project}/{env}; the command was not started{fallback}")
        }),
        Err(e) => Err(e.into()),
    }
}
