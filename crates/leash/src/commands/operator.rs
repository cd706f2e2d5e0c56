//! `leash operator`: init, unseal, seal, status, key rotation,
//! generating a new root token from unseal shares, and snapshots (`snapshot`).
//!
//! It owns how the unseal shares and root tokens are shown (once, with a
//! warning) and the exit codes of `status` (0 unsealed, 2 sealed, 1 error).
//! It must never store a share or a root token anywhere.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use leash_client::Client;
use leash_core::api::{
    GenerateRootRequest, GenerateRootStatus, InitRequest, KeyringStatus, NodeList, SealStatus, UnsealRequest,
};
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
    /// Make a new root token from a threshold of unseal shares
    ///
    /// Prompts for shares without echo until the threshold is reached (or
    /// reads them from stdin, one per line, when it is not a terminal), then
    /// prints the new root token once. For when the root token was revoked
    /// (as it should be after setup) and an administrator login is lost.
    /// Revoke the new token as soon as the job is done.
    GenerateRoot(GenerateRootArgs),
    /// Back up and restore: online snapshots of the store and the audit file
    #[command(subcommand)]
    Snapshot(super::snapshot::SnapshotCommand),
    /// Copy a stopped SQLite store into an empty PostgreSQL database, as stored
    ///
    /// Every table row by row: sealed data is copied as the bytes it is, so
    /// nothing is decrypted and the same unseal shares open the copy. Each
    /// table's rows are counted and checksummed on both sides afterwards.
    /// Refuses a target that holds data, and a source a server still runs on.
    /// The audit records come along (the table; keep the audit file too).
    Migrate(MigrateArgs),
}

#[derive(Args)]
pub struct MigrateArgs {
    /// The SQLite store: sqlite:PATH to its leash.db (or to its data directory)
    #[arg(long, value_name = "sqlite:PATH")]
    from: String,
    /// The PostgreSQL database: postgres://user@host/db (empty; migrations make its tables)
    #[arg(long, value_name = "URL")]
    to: String,
}

/// The SQLite file `--from` names (`sqlite:PATH`, `sqlite://PATH`, a data directory or its `leash.db`).
fn sqlite_source(from: &str) -> anyhow::Result<std::path::PathBuf> {
    let Some(path) = from.strip_prefix("sqlite://").or_else(|| from.strip_prefix("sqlite:")) else {
        anyhow::bail!("--from {from:?}: give the SQLite store as sqlite:PATH (its leash.db or its data directory)");
    };
    let path = std::path::PathBuf::from(path);
    let file = if path.is_dir() {
        path.join(leash_store::DB_FILE)
    } else {
        path
    };
    if !file.is_file() {
        anyhow::bail!("--from: there is no SQLite store at {}", file.display());
    }
    Ok(file)
}

#[derive(Args)]
pub struct GenerateRootArgs {
    /// An unseal share (repeatable). Prefer the prompt: a share on the
    /// command line lands in shell history and process listings
    #[arg(long = "share", value_name = "SHARE")]
    shares: Vec<String>,
    /// Discard the shares given so far instead
    #[arg(long, conflicts_with = "shares")]
    reset: bool,
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
    // made only by the commands that talk to a server (snapshot restore and inspect work offline)
    let client = || ctx.client();
    let mode = ctx.output();
    match command {
        OperatorCommand::Init(args) => {
            let request = InitRequest {
                shares: args.shares,
                threshold: args.threshold,
            };
            let response = client()?.init(&request).await?;
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
            let status = client()?.unseal(&request).await?;
            output::emit(mode, &status, describe_seal_status)?;
            Ok(ExitCode::SUCCESS)
        }
        OperatorCommand::Seal => {
            let status = client()?.seal().await?;
            output::emit(mode, &status, describe_seal_status)?;
            Ok(ExitCode::SUCCESS)
        }
        OperatorCommand::Status => {
            let client = client()?;
            let status = client.seal_status().await?;
            // The node list needs a token with `read` on `sys/nodes` and an unsealed node: shown when at hand.
            let nodes = match (status.sealed, ctx.token()?) {
                (false, Some(_)) => client.nodes().await.ok(),
                _ => None,
            };
            let view = StatusView {
                seal: status.clone(),
                nodes,
            };
            output::emit(mode, &view, describe_status)?;
            Ok(if status.sealed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        OperatorCommand::RotateKey => {
            let keyring = client()?.rotate_key().await?;
            output::emit(mode, &keyring, describe_keyring)?;
            Ok(ExitCode::SUCCESS)
        }
        OperatorCommand::GenerateRoot(args) => {
            let status = generate_root(&client()?, args).await?;
            output::emit(mode, &status, describe_generate_root)?;
            Ok(ExitCode::SUCCESS)
        }
        OperatorCommand::Migrate(args) => {
            let file = sqlite_source(&args.from)?;
            if !(args.to.starts_with("postgres://") || args.to.starts_with("postgresql://")) {
                anyhow::bail!("--to: give the target as a postgres:// URL");
            }
            let tables = leash_store::migrate::sqlite_to_postgres(&file, &args.to).await?;
            let rows: u64 = tables.iter().map(|t| t.rows).sum();
            match mode {
                OutputMode::Json => output::print_json(&serde_json::json!({
                    "from": file.display().to_string(),
                    "tables": tables
                        .iter()
                        .map(|t| serde_json::json!({"table": t.table, "rows": t.rows, "checksum": t.checksum}))
                        .collect::<Vec<_>>(),
                }))?,
                OutputMode::Text => {
                    let mut table = Table::new(&["TABLE", "ROWS", "CHECKSUM (SHA-256, same on both sides)"]);
                    for t in &tables {
                        table.row(vec![t.table.to_owned(), t.rows.to_string(), t.checksum.clone()]);
                    }
                    output::write_stdout(&format!(
                        "Copied {rows} rows from {} into PostgreSQL; every table matches.\n{}                         Start the nodes on the database and unseal them with the same shares.\n",
                        file.display(),
                        table.render()
                    ))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OperatorCommand::Snapshot(command) => {
            super::snapshot::run(command, ctx).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Sends the shares (from flags, else prompted) until the root token comes,
/// or the flags run out.
async fn generate_root(client: &Client, args: GenerateRootArgs) -> anyhow::Result<GenerateRootStatus> {
    if args.reset {
        let request = GenerateRootRequest {
            share: None,
            reset: true,
        };
        return Ok(client.generate_root(&request).await?);
    }
    let send = |share: String| async move {
        let request = GenerateRootRequest {
            share: Some(share),
            reset: false,
        };
        client.generate_root(&request).await
    };
    if !args.shares.is_empty() {
        let mut last = None;
        for share in args.shares {
            let status = send(share).await?;
            let done = status.root_token.is_some();
            last = Some(status);
            if done {
                break;
            }
        }
        return Ok(last.expect("at least one share was sent"));
    }
    let interactive = io::stdin().is_terminal();
    let mut n = 0;
    loop {
        n += 1;
        let share = prompt::read_secret_line(&format!("Unseal share {n}: "), "unseal share")?;
        let status = send(share.expose_secret().to_owned()).await?;
        if status.root_token.is_some() {
            return Ok(status);
        }
        if interactive {
            eprintln!("Progress: {}/{}", status.progress, status.threshold);
        }
    }
}

fn describe_generate_root(status: &GenerateRootStatus) -> String {
    match &status.root_token {
        Some(token) => format!(
            "Root token: {token}\n\nWARNING: this token can do anything and is shown only this once. Use it for the \
             job at hand (e.g. create an administrator), then revoke it:\n  leash token revoke -   \
             (and paste the token)\n"
        ),
        None if status.progress == 0 => "Root token generation reset: no shares given.\n".to_owned(),
        None => format!(
            "Progress: {}/{} shares. Give more with `leash operator generate-root`.\n",
            status.progress, status.threshold
        ),
    }
}

/// `operator status`: this node's seal state, and the cluster's nodes when the token may see them.
#[derive(serde::Serialize)]
struct StatusView {
    #[serde(flatten)]
    seal: SealStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<NodeList>,
}

fn describe_status(view: &StatusView) -> String {
    let mut out = describe_seal_status(&view.seal);
    if let Some(list) = view.nodes.as_ref().filter(|l| l.cluster) {
        out.push_str("\nNodes:\n");
        let mut table = Table::new(&["NODE", "ADDRESS", "SEALED", "LIVE", "LAST SEEN"]);
        for n in &list.nodes {
            let name = if n.this_node {
                format!("{} (this node)", n.node)
            } else {
                n.node.clone()
            };
            table.row(vec![
                name,
                n.address.clone(),
                n.sealed.to_string(),
                n.live.to_string(),
                n.seen_at.clone(),
            ]);
        }
        out.push_str(&table.render());
    }
    out
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
