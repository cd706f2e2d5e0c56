//! `leash env`: create, list and delete environments of a project, an
//! environment's change history and rollback, and the diff of two
//! environments (which never shows a value).
//!
//! It owns the presentation of environments and changes. It must never
//! guess a project: it comes from `--project`, `LEASH_PROJECT` or
//! `.leash.toml` (see `context.rs`).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use leash_core::api::{
    DiffEntry, DiffQuery, DiffSide, DiffStatus, EnvDiff, EnvList, History, RollbackRequest, UnknownReason,
};
use serde_json::json;

use crate::commands::change_entries;
use crate::context::Context;
use crate::output::{self, OutputMode, Table, or_dash};

#[derive(Subcommand)]
pub enum EnvCommand {
    /// Create an environment in the project
    Create {
        /// Environment name (letters, digits, `_`, `-`, `.`)
        name: String,
    },
    /// List the project's environments
    List,
    /// Delete an environment of the project with all its secrets
    Delete {
        /// Environment name
        name: String,
    },
    /// Show the environment's changes, newest first
    History(HistoryArgs),
    /// Restore the environment to its state at an earlier revision (as a new change)
    Rollback(RollbackArgs),
    /// Compare two environments: keys missing on either side, values that differ
    ///
    /// Values are compared on the server by keyed hash and never shown;
    /// keys you may list but not read on both sides show as `unknown`.
    Diff(DiffArgs),
}

#[derive(Args)]
pub struct DiffArgs {
    /// The first environment
    a: String,
    /// The second environment
    b: String,
    /// The project of the second environment (default: the same project)
    #[arg(long, value_name = "PROJECT")]
    other_project: Option<String>,
    /// Exit with status 1 when the environments differ (as `diff` does)
    #[arg(long)]
    exit_code: bool,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Show at most this many changes
    #[arg(long)]
    limit: Option<u32>,
    /// Show only changes older than this revision (for paging)
    #[arg(long, value_name = "REV")]
    before: Option<i64>,
}

#[derive(Args)]
pub struct RollbackArgs {
    /// The revision whose state to restore
    #[arg(long, value_name = "REV")]
    to: i64,
    /// Message recorded with the change
    #[arg(short, long)]
    message: Option<String>,
    /// Fail unless the environment is still at this revision
    #[arg(long, value_name = "REV")]
    cas: Option<i64>,
}

pub async fn run(command: EnvCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    let mode = ctx.output();
    match command {
        EnvCommand::Create { name } => {
            let project = ctx.project()?;
            let info = client.create_env(project.as_str(), &name).await?;
            output::emit(mode, &info, |i| format!("Created environment {project}/{}.\n", i.name))
        }
        EnvCommand::List => {
            let project = ctx.project()?;
            let list = client.list_envs(project.as_str()).await?;
            output::emit(mode, &list, |l| describe_envs(project.as_str(), l))
        }
        EnvCommand::Delete { name } => {
            let project = ctx.project()?;
            client.delete_env(project.as_str(), &name).await?;
            match mode {
                OutputMode::Json => output::print_json(&json!({ "project": project.as_str(), "deleted": name })),
                OutputMode::Text => {
                    output::write_stdout(&format!("Deleted environment {project}/{name} with its secrets.\n"))
                }
            }
        }
        EnvCommand::History(args) => {
            let target = ctx.target()?;
            let history = client
                .history(target.project(), target.env(), args.limit, args.before)
                .await?;
            output::emit(mode, &history, describe_history)
        }
        EnvCommand::Diff(args) => return diff(&client, ctx, args).await,
        EnvCommand::Rollback(args) => {
            let target = ctx.target()?;
            let request = RollbackRequest {
                to: args.to,
                message: args.message,
                cas: args.cas,
            };
            let result = client.rollback(target.project(), target.env(), &request).await?;
            output::emit(mode, &result, |r| {
                format!(
                    "Rolled {}/{} back to the state of revision {} as revision {}:\n{}",
                    target.project(),
                    target.env(),
                    args.to,
                    r.revision,
                    change_entries(r)
                )
            })
        }
    }
    .map(|()| ExitCode::SUCCESS)
}

/// `leash env diff A B`: exits 1 with `--exit-code` when the environments differ.
async fn diff(client: &leash_client::Client, ctx: &Context, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let project = ctx.project()?;
    let query = DiffQuery {
        other_project: args.other_project,
    };
    let diff = client.env_diff(project.as_str(), &args.a, &args.b, &query).await?;
    output::emit(ctx.output(), &diff, describe_diff)?;
    Ok(if args.exit_code && !diff.identical {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn describe_envs(project: &str, list: &EnvList) -> String {
    if list.envs.is_empty() {
        return format!("No environments in {project}. Create one with `leash env create NAME --project {project}`.\n");
    }
    let mut table = Table::new(&["ENV", "REVISION", "CREATED", "E2E"]);
    for e in &list.envs {
        let e2e = match &e.e2e_recipients {
            Some(r) => format!("yes ({} recipients)", r.len()),
            None => String::new(),
        };
        table.row(vec![e.name.clone(), e.revision.to_string(), e.created_at.clone(), e2e]);
    }
    table.render()
}

fn describe_history(history: &History) -> String {
    if history.changes.is_empty() {
        return "No changes.\n".to_owned();
    }
    let mut table = Table::new(&["REVISION", "TIME", "ACTOR", "CHANGES", "MESSAGE"]);
    for change in &history.changes {
        let changes: Vec<String> = change
            .entries
            .iter()
            .map(|e| match &e.origin {
                Some(origin) => format!("{} {} [{origin}]", e.action, e.path),
                None => format!("{} {}", e.action, e.path),
            })
            .collect();
        table.row(vec![
            change.revision.to_string(),
            change.created_at.clone(),
            change.actor.clone(),
            changes.join(", "),
            or_dash(change.message.as_deref()),
        ]);
    }
    table.render()
}

fn describe_diff(diff: &EnvDiff) -> String {
    let name = |e: &leash_core::api::DiffEnv| format!("{}/{}", e.project, e.env);
    let (a, b) = (name(&diff.a), name(&diff.b));
    let mut out = format!(
        "{a} (revision {}) against {b} (revision {}); values compared on the server, never shown.\n",
        diff.a.revision, diff.b.revision
    );
    if diff.entries.is_empty() {
        out.push_str("Neither environment holds a secret you may list.\n");
        return out;
    }
    let mut table = Table::new(&["PATH", "STATUS", &diff.a.env.to_uppercase(), &diff.b.env.to_uppercase()]);
    for entry in &diff.entries {
        table.row(vec![
            entry.path.clone(),
            status(entry, &diff.a.env, &diff.b.env),
            side(entry.a.as_ref()),
            side(entry.b.as_ref()),
        ]);
    }
    out.push_str(&table.render());
    if diff.identical {
        out.push_str("The environments hold the same keys with the same values.\n");
    }
    out
}

fn status(entry: &DiffEntry, a: &str, b: &str) -> String {
    match (entry.status, entry.reason) {
        (DiffStatus::Same, _) => "same".to_owned(),
        (DiffStatus::Different, _) => "different".to_owned(),
        (DiffStatus::OnlyInA, _) => format!("only in {a}"),
        (DiffStatus::OnlyInB, _) => format!("only in {b}"),
        (DiffStatus::Unknown, Some(UnknownReason::NoRead)) => "unknown (no read)".to_owned(),
        (DiffStatus::Unknown, Some(UnknownReason::EndToEnd)) => "unknown (end-to-end)".to_owned(),
        (DiffStatus::Unknown, Some(UnknownReason::Destroyed)) => "unknown (destroyed)".to_owned(),
        (DiffStatus::Unknown, Some(UnknownReason::NotListed) | None) => "unknown (not listed)".to_owned(),
    }
}

fn side(side: Option<&DiffSide>) -> String {
    match side {
        Some(s) => format!("v{} {} {}", s.version, s.updated_at, s.actor),
        None => "-".to_owned(),
    }
}
