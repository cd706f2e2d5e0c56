//! `leash group`: groups carry policies for their member identities (an
//! identity's policies are its own plus its groups').
//!
//! It owns `group update`'s meaning: the lists given replace the old ones,
//! and a list not given is kept (the command reads the group, then writes it
//! back whole, since the API's `PUT` replaces both lists).

use anyhow::bail;
use clap::{Args, Subcommand};
use leash_core::api::{GroupInfo, GroupList, GroupWrite};
use serde_json::json;

use crate::context::Context;
use crate::output::{self, OutputMode, Table};

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a group
    Create(CreateArgs),
    /// List groups
    List,
    /// Show a group's policies and members
    Show {
        /// Group name
        name: String,
    },
    /// Replace a group's policies and/or members (a list not given is kept)
    Update(UpdateArgs),
    /// Delete a group (its members lose its policies)
    Delete {
        /// Group name
        name: String,
    },
}

#[derive(Args)]
pub struct CreateArgs {
    /// Group name
    name: String,
    /// Policy the members get (repeatable)
    #[arg(long = "policy", value_name = "POLICY")]
    policies: Vec<String>,
    /// Member identity (repeatable)
    #[arg(long = "member", value_name = "IDENTITY")]
    members: Vec<String>,
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Group name
    name: String,
    /// Replace the policies with these (repeatable)
    #[arg(long = "policy", value_name = "POLICY")]
    policies: Vec<String>,
    /// Remove every policy
    #[arg(long, conflicts_with = "policies")]
    no_policies: bool,
    /// Replace the members with these (repeatable)
    #[arg(long = "member", value_name = "IDENTITY")]
    members: Vec<String>,
    /// Remove every member
    #[arg(long, conflicts_with = "members")]
    no_members: bool,
}

/// What `group update` replaces; `None` keeps the old list.
#[derive(Debug, PartialEq, Eq)]
struct Changes {
    policies: Option<Vec<String>>,
    members: Option<Vec<String>>,
}

impl UpdateArgs {
    fn changes(&self) -> anyhow::Result<Changes> {
        let policies = if self.no_policies {
            Some(Vec::new())
        } else {
            (!self.policies.is_empty()).then(|| self.policies.clone())
        };
        let members = if self.no_members {
            Some(Vec::new())
        } else {
            (!self.members.is_empty()).then(|| self.members.clone())
        };
        if policies.is_none() && members.is_none() {
            bail!("nothing to update: give --policy, --no-policies, --member or --no-members");
        }
        Ok(Changes { policies, members })
    }
}

pub async fn run(command: GroupCommand, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let mode = ctx.output();
    match command {
        GroupCommand::Create(args) => {
            let request = GroupWrite {
                name: args.name,
                policies: args.policies,
                members: args.members,
            };
            let info = client.create_group(&request).await?;
            output::emit(mode, &info, |g| format!("Created group {}.\n\n{}", g.name, describe(g)))
        }
        GroupCommand::List => {
            let list = client.list_groups().await?;
            output::emit(mode, &list, describe_list)
        }
        GroupCommand::Show { name } => {
            let info = client.get_group(&name).await?;
            output::emit(mode, &info, describe)
        }
        GroupCommand::Update(args) => {
            let Changes { policies, members } = args.changes()?;
            let current = client.get_group(&args.name).await?;
            let request = GroupWrite {
                name: args.name.clone(),
                policies: policies.unwrap_or(current.policies),
                members: members.unwrap_or(current.members),
            };
            let info = client.put_group(&args.name, &request).await?;
            output::emit(mode, &info, |g| format!("Updated group {}.\n\n{}", g.name, describe(g)))
        }
        GroupCommand::Delete { name } => {
            client.delete_group(&name).await?;
            match mode {
                OutputMode::Json => output::print_json(&json!({ "deleted": name })),
                OutputMode::Text => output::write_stdout(&format!("Deleted group {name}.\n")),
            }
        }
    }
}

fn join_or_dash(v: &[String]) -> String {
    if v.is_empty() { "-".to_owned() } else { v.join(", ") }
}

fn describe(group: &GroupInfo) -> String {
    format!(
        "Name:     {}\nPolicies: {}\nMembers:  {}\nCreated:  {}\n",
        group.name,
        join_or_dash(&group.policies),
        join_or_dash(&group.members),
        group.created_at
    )
}

fn describe_list(list: &GroupList) -> String {
    if list.groups.is_empty() {
        return "No groups. Create one with `leash group create NAME --policy P --member IDENTITY`.\n".to_owned();
    }
    let mut table = Table::new(&["GROUP", "POLICIES", "MEMBERS", "CREATED"]);
    for g in &list.groups {
        table.row(vec![
            g.name.clone(),
            join_or_dash(&g.policies),
            join_or_dash(&g.members),
            g.created_at.clone(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn update(args: &[&str]) -> anyhow::Result<Changes> {
        let argv = ["leash", "group", "update"].into_iter().chain(args.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Group(GroupCommand::Update(args)),
                ..
            }) => args.changes(),
            Ok(_) => panic!("not group update"),
            Err(e) => Err(anyhow::anyhow!(e.to_string())),
        }
    }

    #[test]
    fn updates_replace_the_lists_given_and_keep_the_others() {
        let changes = |policies: Option<&[&str]>, members: Option<&[&str]>| Changes {
            policies: policies.map(|v| v.iter().map(|s| (*s).to_owned()).collect()),
            members: members.map(|v| v.iter().map(|s| (*s).to_owned()).collect()),
        };
        assert_eq!(update(&["g", "--policy", "a"]).unwrap(), changes(Some(&["a"]), None));
        assert_eq!(
            update(&["g", "--member", "x", "--member", "y"]).unwrap(),
            changes(None, Some(&["x", "y"]))
        );
        assert_eq!(
            update(&["g", "--no-policies", "--no-members"]).unwrap(),
            changes(Some(&[]), Some(&[]))
        );
        assert!(update(&["g"]).unwrap_err().to_string().contains("nothing to update"));
        assert!(update(&["g", "--member", "x", "--no-members"]).is_err());
    }
}
