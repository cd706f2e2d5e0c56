//! `leash token` (create, lookup, renew, revoke) and `leash whoami`.
//!
//! It owns which route a command goes to (no token argument means the
//! caller's own token: lookup-self, renew-self, revoke-self), where a token
//! argument comes from (`-`: a no-echo prompt, or stdin), and the presentation of
//! `TokenInfo`. It prints a token only where one was just created
//! (`token create`), and never puts one into an error.

use anyhow::bail;
use clap::{ArgGroup, Args, Subcommand};
use leash_core::api::{TokenCreate, TokenCreated, TokenInfo, TokenRef, TokenRenew};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::commands::login::{forget_if_saved, policies_in_force, who};
use crate::context::Context;
use crate::output::{self, OutputMode};
use crate::prompt;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token with the given policies (needs `admin` on `sys/tokens`)
    ///
    /// Prints the token once: on its own line on stdout in text mode (notes
    /// go to stderr, so `$(leash token create …)` captures only the token),
    /// or as the `token` field with `--output json`. Tokens made this way are
    /// not tied to an identity: give services an identity instead (`leash
    /// identity create`), so they log in and their tokens expire and rotate.
    Create(CreateArgs),
    /// Show a token's identity, policies and expiry (your own without TOKEN)
    Lookup(TargetArgs),
    /// Extend a token's expiry, never past its max TTL (your own without TOKEN)
    Renew(RenewArgs),
    /// Revoke a token: TOKEN, --accessor A, or --self (your own)
    ///
    /// Revoking the token saved by `leash login` also removes it from the
    /// per-user config.
    Revoke(RevokeArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    /// Policy to attach (repeat for several)
    #[arg(long = "policy", value_name = "POLICY")]
    policies: Vec<String>,
    /// How long the token lives before it must be renewed, e.g. 30m, 1h, 7d
    #[arg(long, value_name = "DURATION")]
    ttl: Option<String>,
    /// The longest renewals may extend it to, counted from creation
    #[arg(long, value_name = "DURATION")]
    max_ttl: Option<String>,
    /// A name for the token, shown by lookups and in the audit log
    #[arg(long, value_name = "NAME")]
    display_name: Option<String>,
}

#[derive(Args)]
pub struct TargetArgs {
    /// The token; `-` prompts for it without echo, or reads it from stdin
    /// when that is not a terminal. Prefer `-`: a token on the command line
    /// lands in shell history
    #[arg(id = "token_value", value_name = "TOKEN")]
    token: Option<String>,
    /// Find the token by its accessor instead
    #[arg(long, value_name = "ACCESSOR", conflicts_with = "token_value")]
    accessor: Option<String>,
}

#[derive(Args)]
pub struct RenewArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Extend by this much (default: the token's TTL), e.g. 1h
    #[arg(long, value_name = "DURATION")]
    increment: Option<String>,
}

#[derive(Args)]
#[command(group(ArgGroup::new("which").args(["token_value", "accessor", "self_"]).required(true)))]
pub struct RevokeArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Revoke the token this command authenticates with
    #[arg(long = "self")]
    self_: bool,
}

impl TargetArgs {
    /// The route's body, or `None` for the caller's own token.
    fn token_ref(&self, increment: Option<String>) -> anyhow::Result<Option<TokenRef>> {
        let token = match self.token.as_deref() {
            Some("-") => Some(prompt::read_secret_line("Token: ", "token")?.expose_secret().to_owned()),
            Some("") => bail!("the TOKEN argument is empty"),
            Some(t) => Some(t.to_owned()),
            None => None,
        };
        if token.is_none() && self.accessor.is_none() {
            return Ok(None);
        }
        Ok(Some(TokenRef {
            token,
            accessor: self.accessor.clone(),
            increment,
        }))
    }
}

impl CreateArgs {
    /// The request, with durations passed through as given.
    fn request(self) -> TokenCreate {
        TokenCreate {
            policies: self.policies,
            ttl: self.ttl,
            max_ttl: self.max_ttl,
            display_name: self.display_name,
        }
    }
}

pub async fn run(command: TokenCommand, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let mode = ctx.output();
    match command {
        TokenCommand::Create(args) => {
            let created = client.create_token(&args.request()).await?;
            match mode {
                OutputMode::Json => output::print_json(&created),
                OutputMode::Text => {
                    output::write_stdout(&format!("{}\n", created.token))?;
                    eprint!("{}", created_note(&created));
                    Ok(())
                }
            }
        }
        TokenCommand::Lookup(args) => {
            let info = match args.token_ref(None)? {
                Some(target) => client.lookup_token(&target).await?,
                None => client.lookup_self().await?,
            };
            output::emit(mode, &info, describe)
        }
        TokenCommand::Renew(args) => {
            let info = match args.target.token_ref(args.increment.clone())? {
                Some(target) => client.renew_token(&target).await?,
                None => {
                    let request = TokenRenew {
                        increment: args.increment,
                    };
                    client.renew_self(&request).await?
                }
            };
            output::emit(mode, &info, |i| {
                format!(
                    "Renewed: expires {}{}.\n",
                    i.expires_at.as_deref().unwrap_or("never"),
                    i.max_expires_at
                        .as_deref()
                        .map(|m| format!(" (renewable until {m})"))
                        .unwrap_or_default()
                )
            })
        }
        TokenCommand::Revoke(args) => {
            let (revoked, what) = match args.target.token_ref(None)? {
                Some(target) => {
                    client.revoke_token(&target).await?;
                    let what = if target.accessor.is_some() {
                        "the token with that accessor"
                    } else {
                        "the token"
                    };
                    (target.token.map(SecretString::from), what)
                }
                None => {
                    client.revoke_self().await?;
                    (ctx.token()?, "your token")
                }
            };
            let forgotten = match &revoked {
                Some(token) => forget_if_saved(token)?,
                None => None,
            };
            match mode {
                OutputMode::Json => output::print_json(&json!({ "revoked": true })),
                OutputMode::Text => {
                    let mut text = format!("Revoked {what}.\n");
                    if let Some(path) = forgotten {
                        text.push_str(&format!(
                            "It was the token saved by `leash login`: removed it from {}.\n",
                            path.display()
                        ));
                    }
                    output::write_stdout(&text)
                }
            }
        }
    }
}

/// `leash whoami`: the caller's own token.
pub async fn whoami(ctx: &Context) -> anyhow::Result<()> {
    let info = ctx.client()?.lookup_self().await?;
    output::emit(ctx.output(), &info, describe)
}

/// What `token create` says besides the token, on stderr.
fn created_note(created: &TokenCreated) -> String {
    let policies = if created.policies.is_empty() {
        "none".to_owned()
    } else {
        created.policies.join(", ")
    };
    let mut note = format!(
        "Accessor: {}\nPolicies: {policies}\nExpires:  {}\n",
        created.accessor,
        created.expires_at.as_deref().unwrap_or("never")
    );
    if let Some(max) = &created.max_expires_at {
        note.push_str(&format!("Renewable until: {max}\n"));
    }
    note.push_str(
        "\nWARNING: the token is shown only this once; Leash stores only its hash.\n\
         Tokens made directly are discouraged for services: create a service identity \
         (`leash identity create NAME --policy P`) and let the service log in instead.\n",
    );
    note
}

/// A token's description for `whoami` and `token lookup`.
fn describe(info: &TokenInfo) -> String {
    let list = |v: &[String]| {
        if v.is_empty() { "-".to_owned() } else { v.join(", ") }
    };
    let identity = if info.root {
        "root token (no identity)".to_owned()
    } else {
        who(info).to_owned()
    };
    let method = if info.auth_method.is_empty() {
        "-"
    } else {
        &info.auth_method
    };
    let mut out = format!(
        "Identity:           {identity}\n\
         Auth method:        {method}\n\
         Display name:       {}\n\
         Accessor:           {}\n\
         Token policies:     {}\n\
         Effective policies: {}\n\
         Created:            {}\n\
         Expires:            {}\n",
        info.display_name,
        info.accessor,
        list(&info.policies),
        if info.root {
            "all (root)".to_owned()
        } else {
            list(policies_in_force(info))
        },
        info.created_at,
        info.expires_at.as_deref().unwrap_or("never"),
    );
    if let Some(max) = &info.max_expires_at {
        out.push_str(&format!("Renewable until:    {max}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<TokenCommand, String> {
        let argv = ["leash", "token"].into_iter().chain(args.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Token(command),
                ..
            }) => Ok(command),
            Ok(_) => panic!("not a token command"),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn durations_are_passed_through_unchanged() {
        let Ok(TokenCommand::Create(args)) = parse(&[
            "create",
            "--policy",
            "a",
            "--policy",
            "b",
            "--ttl",
            "90m",
            "--max-ttl",
            "7d",
        ]) else {
            panic!("create did not parse")
        };
        let request = args.request();
        assert_eq!(request.policies, ["a", "b"]);
        assert_eq!(request.ttl.as_deref(), Some("90m"));
        assert_eq!(request.max_ttl.as_deref(), Some("7d"));
        assert_eq!(request.display_name, None);

        let Ok(TokenCommand::Renew(args)) = parse(&["renew", "--increment", "1h30m"]) else {
            panic!("renew did not parse")
        };
        assert_eq!(args.increment.as_deref(), Some("1h30m"));
        assert!(
            args.target.token_ref(None).unwrap().is_none(),
            "no argument: renew-self"
        );
    }

    #[test]
    fn targets_are_a_token_or_an_accessor() {
        let Ok(TokenCommand::Lookup(args)) = parse(&["lookup", "--accessor", "acc"]) else {
            panic!()
        };
        let target = args.token_ref(None).unwrap().unwrap();
        assert_eq!((target.token, target.accessor.as_deref()), (None, Some("acc")));
        let Ok(TokenCommand::Revoke(args)) = parse(&["revoke", "lsh_x"]) else {
            panic!()
        };
        let target = args.target.token_ref(None).unwrap().unwrap();
        assert_eq!(target.token.as_deref(), Some("lsh_x"));

        assert!(parse(&["lookup", "lsh_x", "--accessor", "acc"]).is_err());
        assert!(parse(&["revoke"]).is_err(), "revoke needs TOKEN, --accessor or --self");
        assert!(parse(&["revoke", "--self", "lsh_x"]).is_err());
        assert!(parse(&["revoke", "--self"]).is_ok());
    }
}
