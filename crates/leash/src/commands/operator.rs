//! `leash operator`: init, unseal, seal, status and key rotation.
//!
//! It owns how the unseal shares and root token are shown (once, with a
//! warning) and the exit codes of `status` (0 unsealed, 2 sealed, 1 error).
//! It must never store a share or the root token anywhere.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use leash_core::api::{InitRequest, KeyringStatus, SealStatus, UnsealRequest};
use secrecy::ExposeSecret;

use crate::context::Context;
use crate::output::{self, OutputMode, Table};
use crate::prompt;

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Initialise a new server: prints the unseal shares and the root token, once
    Init(InitArgs),
    /// Give one unseal share (prompted without echo when SHARE is omitted)
    Unseal(UnsealArgs),
    /// Seal the server: wipe the key from its memory (root token)
    Seal,
    /// Show whether the server is initialised and sealed (exit code 0 unsealed, 2 sealed, 1 error)
    Status,
    /// Add a new encryption key to the keyring; new writes use it (root token)
    RotateKey,
}

#[derive(Args)]
pub struct InitArgs {
    /// How many unseal shares to make
    #[arg(long, default_value_t = 5)]
    shares: u8,
    /// How many shares are needed to unseal
    #[arg(long, default_value_t = 3)]
    threshold: u8,
}

#[derive(Args)]
pub struct UnsealArgs {
    /// One unseal share. Prefer omitting it: a share on the command line
    /// lands in shell history and process listings
    share: Option<String>,
    /// Discard the shares given so far instead
    #[arg(long, conflicts_with = "share")]
    reset: bool,
}

pub async fn run(command: OperatorCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    let mode = ctx.output();
    match command {
        OperatorCommand::Init(args) => {
            let request = InitRequest {
                shares: args.shares,
                threshold: args.threshold,
            };
            let response = client.init(&request).await?;
            match mode {
                OutputMode::Json => output::print_json(&response)?,
                OutputMode::Text => {
                    let mut text = String::new();
                    for (i, share) in response.unseal_shares.iter().enumerate() {
                        text.push_str(&format!("Unseal share {}: {share}\n", i + 1));
                    }
                    text.push_str(&format!("\nRoot token: {}\n\n", response.root_token));
                    text.push_str(&format!(
                        "WARNING: the unseal shares and the root token are shown only this once and \
                         are not stored anywhere.\nKeep each share in a different safe place: any {} \
                         of the {} shares unseal the server, fewer reveal nothing.\nThe server is \
                         still sealed: run `leash operator unseal` {} times with different shares.\n",
                        response.threshold,
                        response.unseal_shares.len(),
                        response.threshold
                    ));
                    output::write_stdout(&text)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OperatorCommand::Unseal(args) => {
            let request = if args.reset {
                UnsealRequest {
                    share: None,
                    reset: true,
                }
            } else {
                let share = match args.share {
                    Some(share) => share,
                    None => prompt::read_secret_line("Unseal share: ", "unseal share")?
                        .expose_secret()
                        .to_owned(),
                };
                UnsealRequest {
                    share: Some(share),
                    reset: false,
                }
            };
            let status = client.unseal(&request).await?;
            output::emit(mode, &status, describe_seal_status)?;
            Ok(ExitCode::SUCCESS)
        }
        OperatorCommand::Seal => {
            let status = client.seal().await?;
            output::emit(mode, &status, describe_seal_status)?;
            Ok(ExitCode::SUCCESS)
        }
        OperatorCommand::Status => {
            let status = client.seal_status().await?;
            output::emit(mode, &status, describe_seal_status)?;
            Ok(if status.sealed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        OperatorCommand::RotateKey => {
            let keyring = client.rotate_key().await?;
            output::emit(mode, &keyring, describe_keyring)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn describe_seal_status(status: &SealStatus) -> String {
    let mut out = format!(
        "Initialized:  {}\nSealed:       {}\n",
        status.initialized, status.sealed
    );
    if status.initialized {
        out.push_str(&format!(
            "Shares:       {}\nThreshold:    {}\n",
            status.shares, status.threshold
        ));
        if status.sealed {
            out.push_str(&format!("Progress:     {}/{}\n", status.progress, status.threshold));
        }
    } else {
        out.push_str("Run `leash operator init` to initialise the server.\n");
    }
    out
}

fn describe_keyring(keyring: &KeyringStatus) -> String {
    let mut table = Table::new(&["KEY", "CREATED", "ACTIVE"]);
    for key in &keyring.keys {
        let active = if key.id == keyring.active_key_id { "yes" } else { "" };
        table.row(vec![key.id.to_string(), key.created_at.clone(), active.to_owned()]);
    }
    format!("Active key: {}\n\n{}", keyring.active_key_id, table.render())
}
