//! `leash rotate` and `leash rotation set|show|history|delete`.
//!
//! It owns turning flags into a rotation policy and presenting rotation
//! state. It never sees a value: rotations run on the server, and rotators
//! name the other secrets they need by path.

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use leash_core::api::{
    RotateRequest, RotateResult, RotationHistory, RotationPolicy, RotationStatus, RotatorConfig, ValueFormat,
};
use leash_core::names::SecretPath;

use crate::context::Context;
use crate::output::{self, Table, or_dash};

#[derive(Args)]
pub struct RotateArgs {
    /// Secret path, e.g. DB_PASSWORD
    key: String,
    /// A one-off generator instead of the policy's: password:32, password:24:no-symbols, bytes:32:base64, uuid,
    /// ed25519, rsa:3072
    #[arg(long, value_name = "SPEC")]
    generator: Option<String>,
    /// Start a fresh attempt even if a failed one is waiting for its retry (its pending value is dropped)
    #[arg(long)]
    now: bool,
    /// Stop serving the previous value at once and retire it in the target system (a leaked credential)
    #[arg(long)]
    revoke_previous: bool,
}

#[derive(Subcommand)]
pub enum RotationCommand {
    /// Set (or replace) a secret's rotation policy: schedule, generator and rotator
    ///
    /// `leash rotation set DB_PASSWORD --every 30d --rotator postgres --admin-secret PG_ADMIN_URL
    /// --role app_a --role app_b` keeps a PostgreSQL password rotating with two alternating roles.
    /// See docs/rotation.md.
    Set(Box<SetArgs>),
    /// Show a secret's policy, next due time, last error and stages
    Show(KeyArg),
    /// List a secret's rotation attempts, newest first
    History(HistoryArgs),
    /// Remove a secret's rotation policy (its value stays)
    Delete(KeyArg),
}

#[derive(Clone, Copy, ValueEnum)]
enum RotatorKind {
    Postgres,
    Webhook,
    Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Url,
    Password,
}

#[derive(Args)]
pub struct SetArgs {
    /// Secret path
    key: String,
    /// Rotate this long after the last rotation (30d, 12h)
    #[arg(long, value_name = "DURATION", conflicts_with = "cron")]
    every: Option<String>,
    /// Rotate at the times of a cron expression, UTC ("0 3 * * MON")
    #[arg(long, value_name = "EXPR")]
    cron: Option<String>,
    /// How long the previous value stays readable after a rotation [default: the server's rotation_grace]
    #[arg(long, value_name = "DURATION")]
    grace: Option<String>,
    /// How new values are made [default: password:32]
    #[arg(long, value_name = "SPEC")]
    generator: Option<String>,
    /// The system the credential also lives in
    #[arg(long, value_enum)]
    rotator: Option<RotatorKind>,
    /// postgres: the secret (same environment) holding an admin postgres:// URL
    #[arg(long, value_name = "KEY")]
    admin_secret: Option<String>,
    /// postgres: the role (repeat for the two alternating roles)
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,
    /// postgres: store a full URL (default) or the password only
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// webhook: the URL each step is POSTed to
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// webhook: the secret (same environment) holding the HMAC signing key
    #[arg(long, value_name = "KEY")]
    signing_secret: Option<String>,
    /// command: an executable in the server's rotation_commands_dir
    #[arg(long, value_name = "NAME")]
    command: Option<String>,
    /// command: an argument before the step name (repeatable)
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    args: Vec<String>,
    /// webhook/command: how long one step may take (10s / 60s by default)
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
}

#[derive(Args)]
pub struct KeyArg {
    /// Secret path
    key: String,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Secret path
    key: String,
    /// At most this many attempts
    #[arg(long, default_value_t = 50)]
    limit: i64,
}

/// The flags of one rotator, checked against the rotator they belong to.
fn rotator_config(args: &SetArgs) -> anyhow::Result<Option<RotatorConfig>> {
    let given = |name: &'static str, set: bool| set.then_some(name);
    let postgres_flags = [
        given("--admin-secret", args.admin_secret.is_some()),
        given("--role", !args.roles.is_empty()),
        given("--format", args.format.is_some()),
    ];
    let webhook_flags = [
        given("--url", args.url.is_some()),
        given("--signing-secret", args.signing_secret.is_some()),
    ];
    let command_flags = [
        given("--command", args.command.is_some()),
        given("--arg", !args.args.is_empty()),
    ];
    let stray = |flags: &[Option<&str>], kind: &str| -> anyhow::Result<()> {
        if let Some(flag) = flags.iter().flatten().next() {
            bail!("{flag} belongs to --rotator {kind}");
        }
        Ok(())
    };
    let required = |value: &Option<String>, flag: &str, kind: &str| -> anyhow::Result<String> {
        value
            .clone()
            .ok_or_else(|| anyhow::anyhow!("--rotator {kind} needs {flag}"))
    };
    let kind = args.rotator;
    if !matches!(kind, Some(RotatorKind::Postgres)) {
        stray(&postgres_flags, "postgres")?;
    }
    if !matches!(kind, Some(RotatorKind::Webhook)) {
        stray(&webhook_flags, "webhook")?;
    }
    if !matches!(kind, Some(RotatorKind::Command)) {
        stray(&command_flags, "command")?;
    }
    if kind.is_none() && args.timeout.is_some() {
        bail!("--timeout belongs to --rotator webhook or command");
    }
    Ok(match kind {
        None => None,
        Some(RotatorKind::Postgres) => {
            if args.roles.is_empty() {
                bail!("--rotator postgres needs --role (twice for alternating users)");
            }
            if args.timeout.is_some() {
                bail!("--timeout belongs to --rotator webhook or command");
            }
            Some(RotatorConfig::Postgres {
                admin_secret: required(&args.admin_secret, "--admin-secret", "postgres")?,
                roles: args.roles.clone(),
                format: match args.format {
                    Some(Format::Password) => ValueFormat::Password,
                    _ => ValueFormat::Url,
                },
            })
        }
        Some(RotatorKind::Webhook) => Some(RotatorConfig::Webhook {
            url: required(&args.url, "--url", "webhook")?,
            signing_secret: required(&args.signing_secret, "--signing-secret", "webhook")?,
            timeout: args.timeout.clone(),
        }),
        Some(RotatorKind::Command) => Some(RotatorConfig::Command {
            command: required(&args.command, "--command", "command")?,
            args: args.args.clone(),
            timeout: args.timeout.clone(),
        }),
    })
}

pub async fn rotate(args: RotateArgs, ctx: &Context) -> anyhow::Result<()> {
    let key = SecretPath::parse(&args.key)?;
    let target = ctx.target()?;
    let request = RotateRequest {
        generator: args.generator,
        revoke_previous: args.revoke_previous,
        now: args.now,
    };
    let result = ctx
        .client()?
        .rotate(target.project(), target.env(), key.as_str(), &request)
        .await?;
    output::emit(ctx.output(), &result, describe_result)
}

pub async fn run(command: RotationCommand, ctx: &Context) -> anyhow::Result<()> {
    let mode = ctx.output();
    let target = ctx.target()?;
    let (project, env) = (target.project(), target.env());
    match command {
        RotationCommand::Set(args) => {
            let key = SecretPath::parse(&args.key)?;
            let policy = RotationPolicy {
                rotator: rotator_config(&args)?,
                every: args.every,
                cron: args.cron,
                grace: args.grace,
                generator: args.generator,
            };
            let status = ctx.client()?.set_rotation(project, env, key.as_str(), &policy).await?;
            output::emit(mode, &status, describe_status)
        }
        RotationCommand::Show(args) => {
            let key = SecretPath::parse(&args.key)?;
            let status = ctx.client()?.rotation_status(project, env, key.as_str()).await?;
            output::emit(mode, &status, describe_status)
        }
        RotationCommand::History(args) => {
            let key = SecretPath::parse(&args.key)?;
            let history = ctx
                .client()?
                .rotation_history(project, env, key.as_str(), Some(args.limit))
                .await?;
            output::emit(mode, &history, describe_history)
        }
        RotationCommand::Delete(args) => {
            let key = SecretPath::parse(&args.key)?;
            let status = ctx.client()?.delete_rotation(project, env, key.as_str()).await?;
            output::emit(mode, &status, |s| {
                format!("Removed the rotation policy of {}; its value stays.\n", s.path)
            })
        }
    }
}

fn describe_result(r: &RotateResult) -> String {
    let previous = match (r.previous_version, &r.previous_until) {
        (Some(v), Some(until)) => format!("; the previous value (v{v}) stays readable until {until}"),
        (Some(v), None) => format!("; the previous value (v{v}) was revoked"),
        _ => String::new(),
    };
    format!(
        "Rotated {} to v{} (revision {}){previous}.\n",
        r.path, r.version, r.revision
    )
}

fn describe_status(s: &RotationStatus) -> String {
    let mut out = format!("{}\n", s.path);
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("  {k:<14}{v}\n"));
    match &s.policy {
        None => line(&mut out, "policy", "none (one-off rotations only)".into()),
        Some(p) => {
            let schedule = match (&p.every, &p.cron) {
                (Some(every), _) => format!("every {every}"),
                (None, Some(cron)) => format!("cron {cron:?} (UTC)"),
                (None, None) => "on demand (leash rotate)".into(),
            };
            line(&mut out, "schedule", schedule);
            line(
                &mut out,
                "generator",
                p.generator.clone().unwrap_or_else(|| "password:32".into()),
            );
            line(
                &mut out,
                "rotator",
                p.rotator
                    .as_ref()
                    .map_or("none (value only)", RotatorConfig::kind)
                    .into(),
            );
        }
    }
    line(
        &mut out,
        "grace",
        humantime::format_duration(std::time::Duration::from_secs(s.grace_seconds)).to_string(),
    );
    line(&mut out, "next due", or_dash(s.next_due_at.as_deref()));
    line(&mut out, "last rotated", or_dash(s.last_rotated_at.as_deref()));
    line(
        &mut out,
        "state",
        format!(
            "{} (attempt {}, step {})",
            s.state,
            s.attempt,
            or_dash(s.step.as_deref())
        ),
    );
    if let Some(error) = &s.last_error {
        line(&mut out, "last error", error.clone());
        line(&mut out, "retry at", or_dash(s.retry_at.as_deref()));
    }
    if s.pending {
        line(
            &mut out,
            "pending",
            "a value is kept (leash secrets get --stage pending)".into(),
        );
    }
    match (s.previous_version, &s.previous_until) {
        (Some(v), Some(until)) => line(&mut out, "previous", format!("v{v}, served until {until}")),
        _ => line(&mut out, "previous", "-".into()),
    }
    out
}

fn describe_history(h: &RotationHistory) -> String {
    if h.attempts.is_empty() {
        return format!("{} has not been rotated.\n", h.path);
    }
    let mut table = Table::new(&[
        "ATTEMPT", "TRIGGER", "ROTATOR", "STARTED", "OUTCOME", "STEP", "VERSION", "ERROR",
    ]);
    for a in &h.attempts {
        table.row(vec![
            a.attempt.to_string(),
            a.trigger.clone(),
            a.rotator.clone(),
            a.started_at.clone(),
            a.outcome.clone(),
            or_dash(a.step.as_deref()),
            a.version.map_or_else(|| "-".into(), |v| format!("v{v}")),
            or_dash(a.error.as_deref()),
        ]);
    }
    table.render()
}
