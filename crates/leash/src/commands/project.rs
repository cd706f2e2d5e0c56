//! `leash project`: create, list and delete projects.
//!
//! It owns the presentation of projects; it must never delete without the
//! user naming the project explicitly.

use clap::Subcommand;
use leash_core::api::ProjectList;
use serde_json::json;

use crate::context::Context;
use crate::output::{self, OutputMode, Table};

#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Create a project
    Create {
        /// Project name (letters, digits, `_`, `-`, `.`)
        name: String,
    },
    /// List the projects you can see
    List,
    /// Delete a project with all its environments and secrets
    Delete {
        /// Project name
        name: String,
    },
}

pub async fn run(command: ProjectCommand, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let mode = ctx.output();
    match command {
        ProjectCommand::Create { name } => {
            let info = client.create_project(&name).await?;
            output::emit(mode, &info, |i| format!("Created project {}.\n", i.name))
        }
        ProjectCommand::List => {
            let list = client.list_projects().await?;
            output::emit(mode, &list, describe)
        }
        ProjectCommand::Delete { name } => {
            client.delete_project(&name).await?;
            match mode {
                OutputMode::Json => output::print_json(&json!({ "deleted": name })),
                OutputMode::Text => {
                    output::write_stdout(&format!("Deleted project {name} with its environments and secrets.\n"))
                }
            }
        }
    }
}

fn describe(list: &ProjectList) -> String {
    if list.projects.is_empty() {
        return "No projects. Create one with `leash project create NAME`.\n".to_owned();
    }
    let mut table = Table::new(&["PROJECT", "CREATED"]);
    for p in &list.projects {
        table.row(vec![p.name.clone(), p.created_at.clone()]);
    }
    table.render()
}
