//! `leash`: the one binary. It parses the command line, resolves the global
//! settings and dispatches to one command module; failures are printed as
//! `error: <message>` (plus a hint where one helps) with exit code 1.
//!
//! It owns the dispatch and the error report. It must never hold command
//! logic itself (that is `commands/*.rs`) and never print a token or a value
//! in an error.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod config;
mod context;
mod formats;
mod keyvalue;
mod output;
mod pairs;
mod prompt;
mod server_cmd;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::*;
use crate::context::Context;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            report(&err);
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Context::new(cli.global);
    let done = |()| ExitCode::SUCCESS;
    if ctx.output_format() == output::OutputFormat::Csv && !access::offers_csv(&cli.command) {
        anyhow::bail!(
            "--output csv is offered only by `leash access what-can` and `leash access report`; use text or json"
        );
    }
    match cli.command {
        Command::Login(args) => login::login(args, &ctx).await.map(done),
        Command::Logout => login::logout(&ctx).map(done),
        Command::Operator(command) => operator::run(command, &ctx).await,
        Command::Whoami => token::whoami(&ctx).await.map(done),
        Command::Token(command) => token::run(command, &ctx).await.map(done),
        Command::Identity(command) => identity::run(command, &ctx).await.map(done),
        Command::Group(command) => group::run(command, &ctx).await.map(done),
        Command::Policy(command) => policy::run(command, &ctx).await,
        Command::Access(command) => access::run(command, &ctx).await.map(done),
        Command::Jwt(command) => jwt::run(command, &ctx).await.map(done),
        Command::Project(command) => project::run(command, &ctx).await.map(done),
        Command::Env(command) => env::run(command, &ctx).await,
        Command::Secrets(command) => secrets::run(command, &ctx).await.map(done),
        Command::Rotate(args) => rotation::rotate(args, &ctx).await.map(done),
        Command::Rotation(command) => rotation::run(command, &ctx).await.map(done),
        Command::E2e(command) => e2e::run(command, &ctx).await.map(done),
        Command::Import(args) => transfer::import(args, &ctx).await.map(done),
        Command::Export(args) => transfer::export(args, &ctx).await.map(done),
        Command::EnvExample(args) => transfer::env_example(args, &ctx).await.map(done),
        Command::Completions(args) => completions::run(args).map(done),
        Command::Man(args) => man::run(args).map(done),
        Command::Run(args) => run::run(args, &ctx).await,
        Command::Agent(args) => agent::run(args, &ctx).await,
        Command::Scan(args) => Ok(scan::run(args, &ctx).await),
        Command::Server(args) => server_cmd::run(args).await.map(done),
        Command::Audit(command) => audit::run(command, &ctx).await,
    }
}

/// Prints `error: a: b: c` and, for a few well-known failures, a hint.
fn report(err: &anyhow::Error) {
    let mut message = String::new();
    let mut client_error = None;
    for cause in err.chain() {
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&cause.to_string());
        // A client error's message already holds its useful cause.
        if let Some(e) = cause.downcast_ref::<leash_client::Error>() {
            client_error = Some(e);
            break;
        }
    }
    eprintln!("error: {message}");
    if let Some(hint) = client_error.and_then(hint) {
        eprintln!("hint: {hint}");
    }
}

fn hint(err: &leash_client::Error) -> Option<String> {
    if let leash_client::Error::Connect { reason, .. } = err
        && reason.contains("certificate")
    {
        return Some(
            "the server's TLS certificate is not trusted: pass --ca-cert FILE (or set \
             LEASH_CA_CERT) with the certificate authority that signed it"
                .to_owned(),
        );
    }
    if err.is_connect() {
        return Some(
            "is the server running? Start one locally with `leash server --dev`, \
             or point --addr / LEASH_ADDR at your server"
                .to_owned(),
        );
    }
    if err.status() == Some(429) {
        return Some(match err.retry_after() {
            Some(seconds) => format!(
                "rate-limited (HTTP 429): wait {seconds} s; until then every attempt is refused, even a correct one"
            ),
            None => "rate-limited (HTTP 429): wait a little; until then every attempt is refused".to_owned(),
        });
    }
    let hint = match err.code()? {
        "missing_token" => "log in with `leash login`, or pass --token / set LEASH_TOKEN",
        "invalid_token" => "the token is unknown, expired or revoked: log in again with `leash login`",
        "forbidden" => "your policies do not allow this: `leash whoami` shows them",
        _ => return None,
    };
    Some(hint.to_owned())
}
