//! `leash e2e`: end-to-end encrypted environments (docs/e2e.md).
//!
//! It owns the command-line surface of enabling, inspecting and turning off
//! end-to-end encryption and of changing the recipient set, and reading the
//! `--identity` / `LEASH_AGE_IDENTITY` and `--recipients-file` files. The
//! protocol (fetch, decrypt, re-encrypt, one atomic update) is
//! `leash_client::e2e`. It must never print a value, plain or encrypted.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use leash_client::e2e::{Identities, Recipients};
use leash_core::api::{E2eResult, E2eStatus};
use serde_json::json;
use zeroize::Zeroizing;

use crate::context::{Context, Target};
use crate::output::{self, OutputMode};

#[derive(Subcommand)]
pub enum E2eCommand {
    /// Make the environment end-to-end encrypted: values are encrypted with age on the client
    ///
    /// From then on `leash secrets set`, `import`, the agent and the Rust client
    /// encrypt every value to the recipients before sending it, and the server
    /// stores only the age ciphertext (it refuses plaintext). Existing current
    /// values are encrypted now (read once more in plaintext from the server);
    /// older versions are destroyed unless --all-versions. Secret names stay
    /// visible to the server. Reading needs an age identity (--identity FILE or
    /// LEASH_AGE_IDENTITY). Needs `admin` on the environment.
    Enable(EnableArgs),
    /// Show whether the environment is end-to-end encrypted, and to whom
    Status,
    /// Turn end-to-end encryption off (refused while versions still hold age ciphertext)
    ///
    /// The server cannot decrypt age ciphertext, so destroy those versions first
    /// (`leash secrets destroy KEY --yes`); new writes are then stored as ordinary values.
    Disable,
    /// List, add or remove recipients; every kept value is re-encrypted on this machine
    #[command(subcommand)]
    Recipients(RecipientsCommand),
}

#[derive(Subcommand)]
pub enum RecipientsCommand {
    /// List the environment's recipients
    List,
    /// Add recipients: every current value is decrypted here and re-encrypted to the new set
    Add(ChangeArgs),
    /// Remove recipients: every current value is re-encrypted without them, old ciphertexts destroyed
    ///
    /// Afterwards the removed recipients' identities can decrypt no version the
    /// server still holds (versions not re-encrypted are destroyed; pass
    /// --all-versions to re-encrypt and keep them). Values a removed recipient
    /// already read cannot be taken back: rotate them.
    Remove(ChangeArgs),
}

/// Where recipients come from.
#[derive(Args)]
pub struct RecipientArgs {
    /// An age recipient (age1…) or SSH public key (ssh-ed25519 …, ssh-rsa …); repeatable
    #[arg(long = "recipient", short = 'r', value_name = "RECIPIENT")]
    recipients: Vec<String>,
    /// A file of recipients, one per line, `#` comments (age's recipients-file format); repeatable
    #[arg(long = "recipients-file", short = 'R', value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// `--identity FILE` / `LEASH_AGE_IDENTITY`: the age identity that decrypts values.
#[derive(Args, Clone)]
pub struct IdentityArg {
    /// Age identity file (AGE-SECRET-KEY-1… lines, or an unencrypted OpenSSH private key) for end-to-end encrypted values
    #[arg(long = "identity", short = 'i', env = "LEASH_AGE_IDENTITY", value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

impl IdentityArg {
    /// The parsed identities, if a file was given.
    pub fn load(&self) -> anyhow::Result<Option<Identities>> {
        self.identity.as_deref().map(read_identities).transpose()
    }
}

/// Reads and parses an identity file; errors name the file, never its content.
pub fn read_identities(path: &Path) -> anyhow::Result<Identities> {
    let bytes = Zeroizing::new(
        std::fs::read(path).with_context(|| format!("cannot read the age identity {}", path.display()))?,
    );
    Ok(Identities::parse(&bytes, &path.display().to_string())?)
}

#[derive(Args)]
pub struct EnableArgs {
    #[command(flatten)]
    recipients: RecipientArgs,
    /// Also encrypt (and keep) every older version instead of destroying it
    #[arg(long)]
    all_versions: bool,
    /// Message recorded with the change
    #[arg(short, long)]
    message: Option<String>,
}

#[derive(Args)]
pub struct ChangeArgs {
    /// Recipients to add or remove (age1… or SSH public keys)
    #[arg(value_name = "RECIPIENT")]
    positional: Vec<String>,
    #[command(flatten)]
    recipients: RecipientArgs,
    #[command(flatten)]
    identity: IdentityArg,
    /// Re-encrypt every retained version, not only the current ones (others are destroyed)
    #[arg(long)]
    all_versions: bool,
    /// Message recorded with the change
    #[arg(short, long)]
    message: Option<String>,
}

impl RecipientArgs {
    /// Every recipient given, canonical and in order (possibly none).
    fn collect(&self, extra: &[String]) -> anyhow::Result<Vec<String>> {
        let mut all: Vec<String> = Vec::new();
        for r in extra.iter().chain(&self.recipients) {
            all.extend(Recipients::parse([r])?.to_strings());
        }
        for file in &self.files {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the recipients file {}", file.display()))?;
            all.extend(Recipients::lines_of_file(&text, &file.display().to_string())?);
        }
        let mut unique: Vec<String> = Vec::with_capacity(all.len());
        for r in all {
            if !unique.contains(&r) {
                unique.push(r);
            }
        }
        Ok(unique)
    }
}

pub async fn run(command: E2eCommand, ctx: &Context) -> anyhow::Result<()> {
    let target = ctx.target()?;
    let client = ctx.client()?;
    let (project, env) = (target.project(), target.env());
    match command {
        E2eCommand::Status => {
            let status = client.e2e_status(project, env).await?;
            output::emit(ctx.output(), &status, |s| describe_status(&target, s))
        }
        E2eCommand::Recipients(RecipientsCommand::List) => {
            let status = client.e2e_status(project, env).await?;
            match ctx.output() {
                OutputMode::Json => output::print_json(&json!({ "recipients": status.recipients })),
                OutputMode::Text if !status.enabled => bail!("{} is not end-to-end encrypted", describe(&target)),
                OutputMode::Text => output::write_stdout(&format!("{}\n", status.recipients.join("\n"))),
            }
        }
        E2eCommand::Enable(args) => {
            let wanted = args.recipients.collect(&[])?;
            if wanted.is_empty() {
                bail!("give at least one recipient: --recipient age1… or --recipients-file FILE");
            }
            let status = client.e2e_status(project, env).await?;
            if status.enabled {
                bail!(
                    "{} is already end-to-end encrypted to {}; use `leash e2e recipients add|remove`",
                    describe(&target),
                    status.recipients.join(", ")
                );
            }
            let recipients = Recipients::parse(&wanted)?;
            let result = client
                .e2e_set_recipients(project, env, &recipients, None, args.all_versions, args.message)
                .await?;
            report(ctx, &target, &result, "End-to-end encryption enabled for")?;
            if result.rewrapped > 0 && ctx.output() == OutputMode::Text {
                eprintln!(
                    "note: the {} value(s) encrypted now were stored readable by the server until now; \
                     rotate them if that matters",
                    result.rewrapped
                );
            }
            Ok(())
        }
        E2eCommand::Disable => {
            let result = client.e2e_disable(project, env, None).await?;
            output::emit(ctx.output(), &result, |r| {
                format!(
                    "End-to-end encryption is off for {} (revision {}); new values are stored as ordinary values.\n",
                    describe(&target),
                    r.revision
                )
            })
        }
        E2eCommand::Recipients(RecipientsCommand::Add(args)) => {
            let status = enabled(&client, &target).await?;
            let added = args.recipients.collect(&args.positional)?;
            if added.is_empty() {
                bail!("name the recipients to add (age1… or SSH public keys, or --recipients-file FILE)");
            }
            let mut next = status.recipients.clone();
            let fresh: Vec<&String> = added.iter().filter(|r| !next.contains(r)).collect();
            if fresh.is_empty() {
                bail!("every recipient given is already a recipient of {}", describe(&target));
            }
            next.extend(fresh.into_iter().cloned());
            change(ctx, &target, &args, &next, "Recipients added in").await
        }
        E2eCommand::Recipients(RecipientsCommand::Remove(args)) => {
            let status = enabled(&client, &target).await?;
            let removed = args.recipients.collect(&args.positional)?;
            if removed.is_empty() {
                bail!("name the recipients to remove");
            }
            if let Some(stranger) = removed.iter().find(|r| !status.recipients.contains(r)) {
                bail!("{stranger} is not a recipient of {}", describe(&target));
            }
            let next: Vec<String> = status
                .recipients
                .iter()
                .filter(|r| !removed.contains(r))
                .cloned()
                .collect();
            if next.is_empty() {
                bail!(
                    "that would leave {} without recipients; keep one, or destroy its values and `leash e2e disable`",
                    describe(&target)
                );
            }
            change(ctx, &target, &args, &next, "Recipients removed in").await
        }
    }
}

async fn enabled(client: &leash_client::Client, target: &Target) -> anyhow::Result<E2eStatus> {
    let status = client.e2e_status(target.project(), target.env()).await?;
    if !status.enabled {
        bail!(
            "{} is not end-to-end encrypted: enable it with `leash e2e enable --recipient …`",
            describe(target)
        );
    }
    Ok(status)
}

async fn change(ctx: &Context, target: &Target, args: &ChangeArgs, next: &[String], verb: &str) -> anyhow::Result<()> {
    let recipients = Recipients::parse(next)?;
    let identities = args.identity.load()?;
    let result = ctx
        .client()?
        .e2e_set_recipients(
            target.project(),
            target.env(),
            &recipients,
            identities.as_ref(),
            args.all_versions,
            args.message.clone(),
        )
        .await
        .context("nothing was changed")?;
    report(ctx, target, &result, verb)
}

fn report(ctx: &Context, target: &Target, result: &E2eResult, verb: &str) -> anyhow::Result<()> {
    output::emit(ctx.output(), result, |r| {
        format!(
            "{verb} {} at revision {}: {} value(s) re-encrypted, {} older version(s) destroyed.\nRecipients:\n{}\n",
            describe(target),
            r.revision,
            r.rewrapped,
            r.destroyed,
            r.recipients
                .iter()
                .map(|r| format!("  {r}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn describe(target: &Target) -> String {
    format!("{}/{}", target.project(), target.env())
}

fn describe_status(target: &Target, status: &E2eStatus) -> String {
    if !status.enabled {
        return format!("{} is not end-to-end encrypted.\n", describe(target));
    }
    format!(
        "{} is end-to-end encrypted (revision {}, {} versions hold age ciphertext).\nRecipients:\n{}\n",
        describe(target),
        status.revision,
        status.e2e_versions,
        status
            .recipients
            .iter()
            .map(|r| format!("  {r}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}
