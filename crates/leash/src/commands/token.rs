//! `leash token`: inspecting the current token.
//!
//! It owns the presentation of `TokenInfo`; it must never print the token
//! itself (the server returns only its accessor).

use clap::Subcommand;
use leash_core::api::TokenInfo;

use crate::context::Context;
use crate::output;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Show who the current token belongs to, its policies and expiry
    Lookup,
}

pub async fn run(command: TokenCommand, ctx: &Context) -> anyhow::Result<()> {
    match command {
        TokenCommand::Lookup => {
            let info = ctx.client()?.lookup_self().await?;
            output::emit(ctx.output(), &info, describe)
        }
    }
}

fn describe(info: &TokenInfo) -> String {
    let policies = if info.policies.is_empty() {
        "-".to_owned()
    } else {
        info.policies.join(", ")
    };
    format!(
        "Display name: {}\nAccessor:     {}\nRoot:         {}\nPolicies:     {policies}\nCreated:      {}\nExpires:      {}\n",
        info.display_name,
        info.accessor,
        info.root,
        info.created_at,
        info.expires_at.as_deref().unwrap_or("never")
    )
}
