//! `leash agent --config agent.toml`: the sidecar.
//!
//! It owns the command-line surface, the agent's log output (tracing to
//! stderr, filtered by `LEASH_LOG`) and filling what the file leaves out from
//! the global settings; the work is `leash_agent::agent`. It must never print
//! a value or a credential.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use leash_agent::agent::{Config, Defaults};

use crate::context::Context;

#[derive(Args)]
pub struct AgentArgs {
    /// The agent's configuration file (TOML; see docs/agent.md)
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Log format on stderr
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

pub async fn run(args: AgentArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    // The file wins; the global flags fill what it leaves out.
    let defaults = Defaults {
        address: Some(ctx.addr()?),
        project: ctx.target().ok().map(|t| t.project().to_owned()),
        env: ctx.target().ok().map(|t| t.env().to_owned()),
        token: ctx.token()?,
        age_identity: std::env::var_os("LEASH_AGE_IDENTITY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
    };
    let config = Config::load(&args.config, defaults)?;
    let code = leash_agent::agent::run(config).await?;
    Ok(ExitCode::from(code))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEASH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
