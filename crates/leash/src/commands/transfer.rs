//! `leash import`, `leash export` and `leash env-example`: moving secrets
//! between an environment and files.
//!
//! It owns reading `.env` files (with `dotenvy`) into one change set and
//! fetching what `formats.rs` renders. It must never echo a value in an error
//! (dotenvy's own parse errors quote the line, so they are replaced), and
//! never write values anywhere but stdout.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use leash_client::ListOptions;
use leash_core::api::{ChangeKind, ChangeOp, ChangeRequest};
use leash_core::names::SecretPath;
use serde_json::json;

use crate::commands::change_entries;
use crate::context::Context;
use crate::formats::{self, ExportFormat};
use crate::output::{self, OutputMode};

#[derive(Args)]
pub struct ImportArgs {
    /// The .env file (`-` reads stdin)
    ///
    /// Parsed like dotenvy: `KEY=value`, single and double quotes, escapes in
    /// double quotes, multi-line quoted values, `export` prefixes and `#`
    /// comments. `$VAR` and `${VAR}` in unquoted and double-quoted values are
    /// expanded (from your environment, then earlier lines), so single-quote
    /// values that contain a literal `$`. Keys are used as secret paths as
    /// they are; when a key repeats, its last value wins.
    file: PathBuf,
    /// Message recorded with the change
    #[arg(short, long)]
    message: Option<String>,
    /// Fail unless the environment is still at this revision
    #[arg(long, value_name = "REV")]
    cas: Option<i64>,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Output format
    #[arg(long, value_enum, default_value = "dotenv")]
    format: ExportFormat,
    /// Only secrets in this folder, e.g. `stripe`
    #[arg(long)]
    prefix: Option<String>,
    /// Export as of this environment revision
    #[arg(long, value_name = "REV")]
    at_revision: Option<i64>,
    #[command(flatten)]
    identity: crate::commands::e2e::IdentityArg,
}

#[derive(Args)]
pub struct EnvExampleArgs {
    /// Write to this file instead of stdout
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Only secrets in this folder, e.g. `stripe`
    #[arg(long)]
    prefix: Option<String>,
}

pub async fn import(args: ImportArgs, ctx: &Context) -> anyhow::Result<()> {
    let (name, text) = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin as UTF-8 text")?;
        ("stdin".to_owned(), text)
    } else {
        let name = args.file.display().to_string();
        let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {name} as UTF-8 text"))?;
        (name, text)
    };
    let entries = parse_dotenv(&text, &name)?;
    if entries.is_empty() {
        bail!("{name} defines no variables");
    }
    let target = ctx.target()?;
    let count = entries.len();
    let request = ChangeRequest {
        changes: entries
            .into_iter()
            .map(|(path, value)| ChangeOp {
                path: path.as_str().to_owned(),
                kind: ChangeKind::Set {
                    value,
                    description: None,
                },
            })
            .collect(),
        message: args.message,
        cas: args.cas,
        e2e_recipients: None,
    };
    let result = ctx
        .client()?
        .apply_changes_e2e(target.project(), target.env(), &request)
        .await?;
    output::emit(ctx.output(), &result, |r| {
        format!(
            "Imported {count} variables from {name} into {}/{} at revision {}:\n{}",
            target.project(),
            target.env(),
            r.revision,
            change_entries(r)
        )
    })
}

/// The variables of a `.env` text in first-seen order, the last value of a
/// repeated key winning (with a warning). Errors name the file and the
/// position, never a value.
fn parse_dotenv(text: &str, name: &str) -> anyhow::Result<Vec<(SecretPath, String)>> {
    let mut out = Vec::new();
    for var in leash_core::dotenv::parse(text).map_err(|e| anyhow::anyhow!("{name}: {e}"))? {
        let path = SecretPath::parse(&var.key)
            .with_context(|| format!("{name}: {} cannot be used as a secret path", var.key))?;
        if var.repeated {
            eprintln!(
                "warning: {} is defined more than once in {name}; the last value is used",
                var.key
            );
        }
        out.push((path, var.value));
    }
    Ok(out)
}

pub async fn export(args: ExportArgs, ctx: &Context) -> anyhow::Result<()> {
    let target = ctx.target()?;
    let identities = args.identity.load()?;
    let options = ListOptions {
        prefix: args.prefix,
        include_values: true,
        at_revision: args.at_revision,
    };
    let mut list = ctx
        .client()?
        .list_secrets(target.project(), target.env(), &options)
        .await?;
    leash_client::e2e::decrypt_list(&mut list, identities.as_ref())?;
    let vars = formats::env_values(&list.secrets)?;
    output::write_stdout(&formats::render_export(args.format, &vars)?)
}

pub async fn env_example(args: EnvExampleArgs, ctx: &Context) -> anyhow::Result<()> {
    let target = ctx.target()?;
    let options = ListOptions {
        prefix: args.prefix,
        include_values: false,
        at_revision: None,
    };
    let list = ctx
        .client()?
        .list_secrets(target.project(), target.env(), &options)
        .await?;
    let source = format!("{}/{}", target.project(), target.env());
    let text = formats::render_env_example(&source, &list.secrets)?;
    let Some(out) = args.out else {
        return output::write_stdout(&text);
    };
    std::fs::write(&out, &text).with_context(|| format!("cannot write {}", out.display()))?;
    let names: Vec<&str> = list.secrets.iter().map(|s| s.env_var.as_str()).collect();
    match ctx.output() {
        OutputMode::Json => output::print_json(&json!({ "file": out, "variables": names })),
        OutputMode::Text => output::write_stdout(&format!("Wrote {} variables to {}.\n", names.len(), out.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<(String, String)> {
        parse_dotenv(text, ".env")
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect()
    }

    #[test]
    fn dotenv_files_parse_like_dotenvy() {
        let text =
            "\u{feff}# comment\nexport A=1\nB='single $x'\nC=\"multi\nline \\\"q\\\"\"\nD=plain # trailing\nA=2\n";
        assert_eq!(
            parsed(text),
            [
                ("A".to_owned(), "2".to_owned()),
                ("B".to_owned(), "single $x".to_owned()),
                ("C".to_owned(), "multi\nline \"q\"".to_owned()),
                ("D".to_owned(), "plain".to_owned()),
            ]
        );
    }

    #[test]
    fn parse_errors_do_not_quote_values() {
        let err = parse_dotenv("A=1\nB=\"sk_live_123\" junk\n", ".env").unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains(".env: cannot parse the entry after A"), "{text}");
        assert!(!text.contains("sk_live_123"), "{text}");
    }
}
