//! `leash audit list|verify|hash`: query the audit trail, check that it was
//! not edited, and compute the HMAC that records carry for tokens.
//!
//! It owns the presentation of records and verification reports. Local file
//! verification (`--file`) is done here with `leash_core::audit`; the server
//! is asked only for its checkpoint key and latest chain head. It never
//! prints the value given to `hash`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use leash_client::AuditQuery;
use leash_core::audit::{ChainPoint, VerifyReport, parse_public_key, verify_lines};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::context::Context;
use crate::output::{self, OutputMode, Table, or_dash};
use crate::prompt;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// List audit records, newest first (needs `admin` on `sys/audit`)
    List(ListArgs),
    /// Check the audit log's hash chain and signed checkpoints (exit 0 only when intact)
    ///
    /// Without --file the server checks its database and its file. With
    /// --file PATH the file is checked here, against the server's checkpoint
    /// key and latest chain head (which also reveals a truncated tail);
    /// --offline checks the chain alone.
    Verify(VerifyArgs),
    /// Print HMAC-SHA256 of VALUE under the audit key, to find it in records
    /// (`token_hmac`): "was this leaked token used?"
    Hash(HashArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// Only records of this identity
    #[arg(long)]
    identity: Option<String>,
    /// Only records about resources matching this pattern (`payment/prod/**`)
    #[arg(long, value_name = "PATTERN")]
    path: Option<String>,
    /// Only this operation (`secret.read`), or a family (`secret.`)
    #[arg(long)]
    operation: Option<String>,
    /// Only this HTTP status
    #[arg(long)]
    status: Option<u16>,
    /// From this time (RFC 3339) or this long ago (`24h`)
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Until this time (RFC 3339) or this long ago
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// At most this many records [default: 100]
    #[arg(long)]
    limit: Option<i64>,
    /// Records older than this sequence number (the next page)
    #[arg(long, value_name = "SEQ")]
    before: Option<u64>,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// A JSON-lines audit file to check locally
    #[arg(long, value_name = "PATH")]
    file: Option<std::path::PathBuf>,
    /// With --file: do not contact the server (checks the chain only)
    #[arg(long, requires = "file")]
    offline: bool,
    /// With --file --offline: the server's checkpoint public key (base64)
    #[arg(long, value_name = "KEY")]
    public_key: Option<String>,
}

#[derive(Args)]
pub struct HashArgs {
    /// The value; `-` reads it from stdin (or prompts without echo)
    value: String,
}

pub async fn run(command: AuditCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::List(args) => list(args, ctx).await.map(|()| ExitCode::SUCCESS),
        AuditCommand::Verify(args) => verify(args, ctx).await,
        AuditCommand::Hash(args) => hash(args, ctx).await.map(|()| ExitCode::SUCCESS),
    }
}

async fn list(args: ListArgs, ctx: &Context) -> anyhow::Result<()> {
    let query = AuditQuery {
        identity: args.identity,
        path: args.path,
        operation: args.operation,
        status: args.status,
        since: args.since,
        until: args.until,
        limit: args.limit,
        before: args.before,
    };
    let listed = ctx.client()?.audit_list(&query).await?;
    output::emit(ctx.output(), &listed, |l| {
        let mut table = Table::new(&[
            "SEQ",
            "TIME",
            "IDENTITY",
            "OPERATION",
            "RESOURCE",
            "STATUS",
            "ERROR",
            "REMOTE",
        ]);
        for r in &l.records {
            let resource = [&r.project, &r.env, &r.path]
                .iter()
                .filter_map(|p| p.as_deref())
                .collect::<Vec<_>>()
                .join("/");
            table.row(vec![
                r.seq.to_string(),
                r.time.clone(),
                or_dash(r.identity.clone()),
                or_dash(r.operation.clone()),
                if resource.is_empty() { "-".into() } else { resource },
                or_dash(r.status),
                or_dash(r.error.clone()),
                or_dash(r.remote.clone()),
            ]);
        }
        let mut text = table.render();
        if let Some(next) = l.next_before {
            text.push_str(&format!("(more: --before {next})\n"));
        }
        text
    })
}

fn describe(name: &str, report: &VerifyReport) -> String {
    let range = match (report.first_seq, report.last_seq) {
        (Some(a), Some(b)) => format!("records {a}..{b}"),
        _ => "no records".into(),
    };
    let mut text = match &report.problem {
        None => format!(
            "{name}: intact ({range}, {} checkpoints, {} signatures checked)\n",
            report.checkpoints, report.signatures_checked
        ),
        Some(p) => format!("{name}: TAMPERED: {}\n", p.message),
    };
    for note in &report.notes {
        text.push_str(&format!("  note: {note}\n"));
    }
    text
}

async fn verify(args: VerifyArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let Some(file) = args.file else {
        let result = ctx.client()?.audit_verify().await?;
        let intact = result.database.intact()
            && result.file.as_ref().is_none_or(VerifyReport::intact)
            && result.other_nodes.iter().all(|n| n.report.intact());
        output::emit(ctx.output(), &result, |r| {
            let own = match r.node.as_str() {
                "" => "database".to_owned(),
                node => format!("database, node {node}"),
            };
            let mut text = describe(&own, &r.database);
            if let Some(file) = &r.file {
                text.push_str(&describe(r.file_path.as_deref().unwrap_or("file"), file));
            }
            for other in &r.other_nodes {
                text.push_str(&describe(&format!("database, node {}", other.node), &other.report));
            }
            text
        })?;
        return Ok(if intact { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    };
    let (key, tail) = if args.offline {
        let key = args
            .public_key
            .as_deref()
            .map(parse_public_key)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        (key, None)
    } else {
        // the checkpoint first, then the file: the file then holds everything up to it
        let checkpoint = ctx
            .client()?
            .audit_checkpoint()
            .await
            .context("cannot get the server's audit checkpoint (use --offline to check the chain alone)")?;
        let key = parse_public_key(&checkpoint.public_key).map_err(anyhow::Error::msg)?;
        let tail = ChainPoint {
            seq: checkpoint.seq,
            hash: checkpoint.hash,
        };
        (Some(key), Some(tail))
    };
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let report = verify_lines(text.lines(), key.as_ref(), tail.as_ref());
    let name = file.display().to_string();
    output::emit(ctx.output(), &report, |r| describe(&name, r))?;
    Ok(if report.intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn hash(args: HashArgs, ctx: &Context) -> anyhow::Result<()> {
    let value = if args.value == "-" {
        prompt::read_secret_line("Value to hash: ", "value")?
    } else {
        args.value.into()
    };
    let hashed = ctx.client()?.audit_hash(value.expose_secret()).await?;
    match ctx.output() {
        OutputMode::Json => output::print_json(&json!({"hmac": hashed.hmac})),
        OutputMode::Text => output::write_stdout(&format!("{}\n", hashed.hmac)),
    }
}
