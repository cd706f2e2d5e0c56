//! `leash secrets`: set, get, list, delete, undelete, destroy, history, and
//! moving or copying on the server (`mv`, `cp`).
//!
//! It owns turning arguments into change sets (every `set` or `delete` of
//! several keys is one atomic change) and the presentation of secrets. It
//! must never print a value except where the user asked for it
//! (`secrets get`); listings and history show metadata only.

use std::io::{self, IsTerminal};

use anyhow::bail;
use clap::{Args, Subcommand};
use leash_client::{ListOptions, ReadOptions};
use leash_core::api::{
    ChangeKind, ChangeOp, ChangeRequest, CopyRequest, DestroyRequest, MoveRequest, SecretList, SecretMetadata,
    SecretValue,
};
use leash_core::names::SecretPath;

use crate::commands::change_entries;
use crate::context::{Context, Target};
use crate::output::{self, Table, or_dash};
use crate::pairs;

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Set one or more secrets in one atomic change
    ///
    /// Each argument is KEY=VALUE, split on the first `=`. KEY=@FILE reads the
    /// value from FILE and KEY=- from stdin (at most once); both are taken
    /// exactly, including any trailing newline. Values must be UTF-8 text.
    /// To set a literal value that starts with `@` or is `-`, use a file or stdin.
    Set(SetArgs),
    /// Print a secret's value (the current version unless told otherwise)
    Get(GetArgs),
    /// List secrets: names, versions, update times and descriptions, never values
    List(ListArgs),
    /// Delete secrets in one atomic change (soft delete: `undelete` restores them)
    Delete(DeleteArgs),
    /// Restore a deleted secret
    Undelete(UndeleteArgs),
    /// Wipe the data of some or all versions of a secret, for good
    ///
    /// With --version, only those versions are destroyed. Without it every
    /// version is, which needs --yes. Metadata (who wrote which version when)
    /// is kept. There is no confirmation prompt, so scripts can use it.
    Destroy(DestroyArgs),
    /// Show a secret's versions: who wrote each and when (no values)
    History(KeyArg),
    /// Move (rename) a secret, or a folder with `db/ database/`, on the server
    ///
    /// One change: a new version at the destination, which records where it
    /// came from, and a delete of the source. The value never reaches this
    /// machine. Needs `delete` on the source and `write` on the destination;
    /// a token that may not read the value may still move it.
    #[command(visible_alias = "rename")]
    Mv(MoveArgs),
    /// Copy a secret, or a folder, on the server: here or to --to-env
    ///
    /// One change of the destination, which records where each value came
    /// from. The value never reaches this machine. Needs `read` on the
    /// source and `write` on the destination.
    Cp(CopyArgs),
}

#[derive(Args)]
pub struct MoveArgs {
    /// The secret to move (`OLD_NAME`), or a folder ending in `/` (`db/`)
    from: String,
    /// Its new path, or the new folder ending in `/`
    to: String,
    /// Replace secrets that already exist at the destination
    #[arg(long)]
    overwrite: bool,
    /// Fail unless the environment is still at this revision
    #[arg(long, value_name = "REV")]
    cas: Option<i64>,
    /// Message recorded with the change
    #[arg(short, long)]
    message: Option<String>,
}

#[derive(Args)]
pub struct CopyArgs {
    /// The secret to copy, or a folder ending in `/`
    from: String,
    /// The destination path, or folder ending in `/`
    to: String,
    /// Copy into this environment of the project (default: the same one)
    #[arg(long, value_name = "ENV")]
    to_env: Option<String>,
    /// Replace secrets that already exist at the destination
    #[arg(long)]
    overwrite: bool,
    /// Fail unless the destination environment is still at this revision
    #[arg(long, value_name = "REV")]
    cas: Option<i64>,
    /// Message recorded with the change
    #[arg(short, long)]
    message: Option<String>,
}

#[derive(Args)]
pub struct SetArgs {
    /// KEY=VALUE, KEY=@FILE or KEY=-
    #[arg(required = true, value_name = "KEY=VALUE")]
    pairs: Vec<String>,
    /// Description stored with every secret set by this command
    #[arg(short, long)]
    description: Option<String>,
    /// Fail unless the environment is still at this revision
    #[arg(long, value_name = "REV")]
    cas: Option<i64>,
    /// Message recorded with the change
    #[arg(short, long)]
    message: Option<String>,
}

#[derive(Args)]
pub struct GetArgs {
    /// Secret path, e.g. DATABASE_URL or stripe/API_KEY
    key: String,
    /// Read this version
    #[arg(long, value_name = "N")]
    version: Option<i64>,
    /// Read the version that was current at this environment revision
    #[arg(long, value_name = "REV", conflicts_with = "version")]
    at_revision: Option<i64>,
    /// Read a stage: current, previous (the value before the last rotation, during its grace period) or pending
    #[arg(long, value_name = "STAGE", conflicts_with_all = ["version", "at_revision"],
          value_parser = ["current", "previous", "pending"])]
    stage: Option<String>,
    /// Print only the value (with a newline only when stdout is a terminal)
    #[arg(long)]
    plain: bool,
    /// Print the stored age file of an end-to-end encrypted value as it is (`rage -d -i ID` decrypts it)
    #[arg(long, conflicts_with = "plain")]
    raw_ciphertext: bool,
    #[command(flatten)]
    identity: crate::commands::e2e::IdentityArg,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only secrets in this folder, e.g. `stripe`
    prefix: Option<String>,
    /// List as of this environment revision
    #[arg(long, value_name = "REV")]
    at_revision: Option<i64>,
}

#[derive(Args)]
pub struct DeleteArgs {
    /// Secret paths to delete
    #[arg(required = true, value_name = "KEY")]
    keys: Vec<String>,
    /// Fail unless the environment is still at this revision
    #[arg(long, value_name = "REV")]
    cas: Option<i64>,
    /// Message recorded with the change
    #[arg(short, long)]
    message: Option<String>,
}

#[derive(Args)]
pub struct UndeleteArgs {
    /// Secret path to restore
    key: String,
    /// Fail unless the environment is still at this revision
    #[arg(long, value_name = "REV")]
    cas: Option<i64>,
}

#[derive(Args)]
pub struct DestroyArgs {
    /// Secret path
    key: String,
    /// Versions to destroy (repeat or separate with commas); all when omitted
    #[arg(long = "version", value_name = "N", value_delimiter = ',')]
    versions: Vec<i64>,
    /// Confirm destroying every version (needed when --version is not given)
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
pub struct KeyArg {
    /// Secret path
    key: String,
}

pub async fn run(command: SecretsCommand, ctx: &Context) -> anyhow::Result<()> {
    let mode = ctx.output();
    match command {
        SecretsCommand::Set(args) => {
            // Parse and read every value before touching the network.
            let assignments = pairs::parse_assignments(&args.pairs)?;
            if let Some(a) = assignments.iter().find(|a| a.source == pairs::ValueSource::Stdin)
                && io::stdin().is_terminal()
            {
                eprintln!("Type the value of {} and end it with Ctrl-D:", a.key);
            }
            let values = pairs::resolve(assignments, io::stdin().lock())?;
            let target = ctx.target()?;
            let request = ChangeRequest {
                changes: values
                    .into_iter()
                    .map(|(key, value)| ChangeOp {
                        path: key.as_str().to_owned(),
                        kind: ChangeKind::Set {
                            value,
                            description: args.description.clone(),
                        },
                    })
                    .collect(),
                message: args.message,
                cas: args.cas,
                e2e_recipients: None,
            };
            apply(ctx, &target, &request, "Saved in", "").await
        }
        SecretsCommand::Get(args) => {
            let key = SecretPath::parse(&args.key)?;
            let target = ctx.target()?;
            let options = ReadOptions {
                version: args.version,
                at_revision: args.at_revision,
                stage: args.stage,
            };
            let mut secret = ctx
                .client()?
                .get_secret(target.project(), target.env(), key.as_str(), &options)
                .await?;
            if args.raw_ciphertext {
                if secret.e2e_recipients.is_none() {
                    bail!(
                        "{key} is not end-to-end encrypted: the server holds it as an ordinary value, \
                         so there is no age ciphertext to print"
                    );
                }
                return output::write_stdout(&secret.value);
            }
            let identities = args.identity.load()?;
            leash_client::e2e::decrypt_secret(&mut secret, identities.as_ref())?;
            if args.plain {
                let newline = if io::stdout().is_terminal() { "\n" } else { "" };
                return output::write_stdout(&format!("{}{newline}", secret.value.as_str()));
            }
            output::emit(mode, &secret, describe_value)
        }
        SecretsCommand::List(args) => {
            let target = ctx.target()?;
            let options = ListOptions {
                prefix: args.prefix,
                include_values: false,
                at_revision: args.at_revision,
            };
            let list = ctx
                .client()?
                .list_secrets(target.project(), target.env(), &options)
                .await?;
            output::emit(mode, &list, |l| describe_list(&target, l))
        }
        SecretsCommand::Delete(args) => {
            let mut keys: Vec<SecretPath> = Vec::with_capacity(args.keys.len());
            for key in &args.keys {
                let key = SecretPath::parse(key)?;
                if keys.contains(&key) {
                    bail!("{key} is given more than once");
                }
                keys.push(key);
            }
            let target = ctx.target()?;
            let request = ChangeRequest {
                changes: keys
                    .into_iter()
                    .map(|key| ChangeOp {
                        path: key.as_str().to_owned(),
                        kind: ChangeKind::Delete,
                    })
                    .collect(),
                message: args.message,
                cas: args.cas,
                e2e_recipients: None,
            };
            apply(ctx, &target, &request, "Deleted in", " (undelete restores them)").await
        }
        SecretsCommand::Undelete(args) => {
            let key = SecretPath::parse(&args.key)?;
            let target = ctx.target()?;
            let result = ctx
                .client()?
                .undelete_secret(target.project(), target.env(), key.as_str(), args.cas)
                .await?;
            output::emit(mode, &result, |r| {
                format!(
                    "Restored in {} at revision {}:\n{}",
                    describe_target(&target),
                    r.revision,
                    change_entries(r)
                )
            })
        }
        SecretsCommand::Destroy(args) => {
            let key = SecretPath::parse(&args.key)?;
            if args.versions.is_empty() && !args.yes {
                bail!(
                    "this would destroy every version of {key} for good; pass --yes to confirm, \
                     or choose versions with --version N"
                );
            }
            let target = ctx.target()?;
            let request = DestroyRequest {
                versions: (!args.versions.is_empty()).then_some(args.versions),
            };
            let result = ctx
                .client()?
                .destroy_secret(target.project(), target.env(), key.as_str(), &request)
                .await?;
            output::emit(mode, &result, |r| {
                let versions: Vec<String> = r.destroyed.iter().map(|v| format!("v{v}")).collect();
                if versions.is_empty() {
                    format!("No versions of {} were destroyed.\n", r.path)
                } else {
                    format!("Destroyed {} of {}.\n", versions.join(", "), r.path)
                }
            })
        }
        SecretsCommand::History(args) => {
            let key = SecretPath::parse(&args.key)?;
            let target = ctx.target()?;
            let metadata = ctx
                .client()?
                .secret_metadata(target.project(), target.env(), key.as_str())
                .await?;
            output::emit(mode, &metadata, describe_metadata)
        }
        SecretsCommand::Mv(args) => {
            let target = ctx.target()?;
            let request = MoveRequest {
                from: args.from,
                to: args.to,
                overwrite: args.overwrite,
                message: args.message,
                cas: args.cas,
            };
            let result = ctx
                .client()?
                .move_secrets(target.project(), target.env(), &request)
                .await?;
            output::emit(mode, &result, |r| {
                format!(
                    "Moved in {} at revision {}:\n{}",
                    describe_target(&target),
                    r.revision,
                    change_entries(r)
                )
            })
        }
        SecretsCommand::Cp(args) => {
            let target = ctx.target()?;
            let dest = match &args.to_env {
                Some(env) => format!("{}/{env}", target.project()),
                None => describe_target(&target),
            };
            let request = CopyRequest {
                from: args.from,
                to: args.to,
                to_env: args.to_env,
                overwrite: args.overwrite,
                message: args.message,
                cas: args.cas,
            };
            let result = ctx
                .client()?
                .copy_secrets(target.project(), target.env(), &request)
                .await?;
            output::emit(mode, &result, |r| {
                format!("Copied into {dest} at revision {}:\n{}", r.revision, change_entries(r))
            })
        }
    }
}

/// Sends one change set and prints what it did: `{verb} P/E at revision R{note}:` and the entries.
async fn apply(ctx: &Context, target: &Target, request: &ChangeRequest, verb: &str, note: &str) -> anyhow::Result<()> {
    let result = ctx
        .client()?
        .apply_changes_e2e(target.project(), target.env(), request)
        .await?;
    output::emit(ctx.output(), &result, |r| {
        format!(
            "{verb} {} at revision {}{note}:\n{}",
            describe_target(target),
            r.revision,
            change_entries(r)
        )
    })
}

fn describe_target(target: &Target) -> String {
    format!("{}/{}", target.project(), target.env())
}

fn describe_value(secret: &SecretValue) -> String {
    format!(
        "Path:        {}\nVariable:    {}\nVersion:     {}\nRevision:    {}\nDescription: {}\nCreated:     {}\nValue:       {}\n",
        secret.path,
        secret.env_var,
        secret.version,
        secret.revision,
        or_dash(secret.description.as_deref()),
        secret.created_at,
        secret.value.as_str()
    )
}

fn describe_list(target: &Target, list: &SecretList) -> String {
    if list.secrets.is_empty() {
        return format!("No secrets in {}.\n", describe_target(target));
    }
    let mut table = Table::new(&["PATH", "VERSION", "UPDATED", "DESCRIPTION"]);
    for s in &list.secrets {
        table.row(vec![
            s.path.clone(),
            s.version.to_string(),
            s.updated_at.clone(),
            or_dash(s.description.as_deref()),
        ]);
    }
    table.render()
}

fn describe_metadata(m: &SecretMetadata) -> String {
    let state = match m.current_version {
        Some(v) => format!("current version {v}"),
        None => "deleted (`leash secrets undelete` restores it)".to_owned(),
    };
    let mut out = format!("{} ({}): {state}\n", m.path, m.env_var);
    if let Some(d) = &m.description {
        out.push_str(&format!("Description: {d}\n"));
    }
    out.push('\n');
    let mut table = Table::new(&["VERSION", "REVISION", "TIME", "ACTOR", "CURRENT", "DESTROYED", "ORIGIN"]);
    for v in &m.versions {
        table.row(vec![
            v.version.to_string(),
            v.revision.to_string(),
            v.created_at.clone(),
            v.actor.clone(),
            yes_or_blank(v.current),
            yes_or_blank(v.destroyed),
            v.origin.as_ref().map(ToString::to_string).unwrap_or_default(),
        ]);
    }
    out.push_str(&table.render());
    out
}

fn yes_or_blank(flag: bool) -> String {
    if flag { "yes" } else { "" }.to_owned()
}
