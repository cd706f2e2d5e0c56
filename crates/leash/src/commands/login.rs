//! `leash login` and `leash logout`: checking a token and keeping it (with
//! the server address) in the per-user config file.
//!
//! It owns where the token to check comes from (flag/env, `-` for stdin, a
//! no-echo prompt). It must never print the token.

use clap::Args;
use leash_core::api::TokenInfo;
use secrecy::ExposeSecret;

use crate::config::{self, UserConfig};
use crate::context::Context;
use crate::output::{self, OutputMode};
use crate::prompt;

/// `leash login` has no flags of its own: the token comes from the global
/// `--token` (see the command's help).
#[derive(Args)]
pub struct LoginArgs {}

pub async fn login(_args: LoginArgs, ctx: &Context) -> anyhow::Result<()> {
    let token = match ctx.token_flag() {
        Some(t) if t.expose_secret() == "-" => prompt::read_secret_stdin("token")?,
        Some(t) => t.clone(),
        None => prompt::read_secret_line("Token: ", "token")?,
    };
    let addr = ctx.addr()?;
    let client = ctx.client_for(&addr, Some(token.clone()))?;
    let info = client.lookup_self().await?;

    let path = config::user_config_path()?;
    let config = UserConfig {
        addr: Some(client.addr()),
        token: Some(token),
    };
    config::save_user_config(&path, &config)?;

    match ctx.output() {
        OutputMode::Json => output::print_json(&info),
        OutputMode::Text => output::write_stdout(&format!(
            "Logged in to {} as {}{}.\nToken saved in {}.\n",
            client.addr(),
            info.display_name,
            describe_policies(&info),
            path.display()
        )),
    }
}

fn describe_policies(info: &TokenInfo) -> String {
    if info.root {
        " (root)".to_owned()
    } else if info.policies.is_empty() {
        String::new()
    } else {
        format!(" (policies: {})", info.policies.join(", "))
    }
}

pub fn logout(ctx: &Context) -> anyhow::Result<()> {
    let path = config::user_config_path()?;
    let mut config = config::load_user_config(&path)?;
    let had_token = config.token.take().is_some();
    if had_token {
        config::save_user_config(&path, &config)?;
    }
    match ctx.output() {
        OutputMode::Json => output::print_json(&serde_json::json!({ "logged_out": had_token })),
        OutputMode::Text if had_token => output::write_stdout(&format!("Token removed from {}.\n", path.display())),
        OutputMode::Text => output::write_stdout("Not logged in: no token was saved.\n"),
    }
}
