//! `leash env`: create, list and delete environments of a project, and an
//! environment's change history and rollback.
//!
//! It owns the presentation of environments and changes. It must never
//! guess a project: it comes from `--project`, `LEASH_PROJECT` or
//! `.leash.toml` (see `context.rs`).

use clap::{Args, Subcommand};
use leash_core::api::{EnvList, History, RollbackRequest};
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

pub async fn run(command: EnvCommand, ctx: &Context) -> anyhow::Result<()> {
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
            .map(|e| format!("{} {}", e.action, e.path))
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
