//! `leash operator snapshot save|restore|inspect`: backups of the data as
//! stored.
//!
//! `save` downloads an online snapshot from a running server into a file
//! (0600, written beside its final name and renamed only once every checksum
//! holds); `restore` checks a snapshot and puts its files into an empty data
//! directory, offline, for a server started on it afterwards; `inspect`
//! checks one and shows what it holds. A snapshot is still encrypted: it is
//! restorable only with the original unseal shares.
//!
//! It must never overwrite an existing store or snapshot file, and never
//! leave half a restore behind: either every file lands or none.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use leash_store::snapshot::{Verified, extract_snapshot, verify_snapshot};
use leash_store::{AUDIT_DB_FILE, DB_FILE, MetaStore, SqliteStore};
use serde::Serialize;

use crate::context::Context;
use crate::output::{self, OutputMode};

/// Member name of the audit JSON-lines file (as the server writes it).
const AUDIT_MEMBER: &str = leash_server::snapshot::AUDIT_MEMBER;

#[derive(Subcommand)]
pub enum SnapshotCommand {
    /// Save an online snapshot of the running server to FILE (admin on sys/snapshot)
    ///
    /// The store and the audit file as stored, still encrypted, with the
    /// format version and checksums. The server keeps serving meanwhile.
    Save(SaveArgs),
    /// Restore a snapshot into an empty data directory (offline), then start the server on it
    ///
    /// Checks every checksum first; refuses a damaged or foreign file and a
    /// directory that already holds a store. Unseal the restored server with
    /// the shares of the server the snapshot was taken from.
    Restore(RestoreArgs),
    /// Check a snapshot file and show what it holds
    Inspect(InspectArgs),
}

#[derive(Args)]
pub struct SaveArgs {
    /// Where to write the snapshot
    file: PathBuf,
    /// Replace FILE if it exists
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The snapshot file
    file: PathBuf,
    /// The data directory to restore into (created if missing; must hold no store)
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Where the audit file goes, if the server's `audit_file` is not DIR/audit.jsonl
    #[arg(long, value_name = "FILE")]
    audit_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// The snapshot file
    file: PathBuf,
}

/// What `save`, `restore` and `inspect` report.
#[derive(Serialize)]
struct Report<'a> {
    file: &'a Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    restored_into: Option<&'a Path>,
    sha256: &'a str,
    format_version: u32,
    backend: &'a str,
    leash_version: &'a str,
    created_at: &'a str,
    members: Vec<(&'a str, u64)>,
}

impl<'a> Report<'a> {
    fn new(file: &'a Path, verified: &'a Verified) -> Self {
        let m = &verified.manifest;
        Report {
            file,
            restored_into: None,
            sha256: &verified.sha256,
            format_version: m.format_version,
            backend: &m.backend,
            leash_version: &m.leash_version,
            created_at: &m.created_at,
            members: m.members.iter().map(|m| (m.name.as_str(), m.bytes)).collect(),
        }
    }
}

fn describe(report: &Report<'_>) -> String {
    let mut text = match report.restored_into {
        Some(dir) => format!("Restored {} into {}\n", report.file.display(), dir.display()),
        None => format!("Snapshot {}\n", report.file.display()),
    };
    text.push_str(&format!(
        "  taken {} by leash {} ({} store, format {})\n  sha256 {}\n",
        report.created_at, report.leash_version, report.backend, report.format_version, report.sha256
    ));
    for (name, bytes) in &report.members {
        text.push_str(&format!("  {name}: {bytes} bytes\n"));
    }
    if report.restored_into.is_some() {
        text.push_str(
            "Start the server on this data directory and unseal it with the shares of the server the snapshot came from.\n",
        );
    }
    text
}

pub async fn run(command: SnapshotCommand, ctx: &Context) -> anyhow::Result<()> {
    let mode = ctx.output();
    match command {
        SnapshotCommand::Save(args) => save(args, ctx, mode).await,
        SnapshotCommand::Restore(args) => restore(args, mode).await,
        SnapshotCommand::Inspect(args) => {
            let verified = verify_file(&args.file)?;
            output::emit(mode, &Report::new(&args.file, &verified), describe)
        }
    }
}

fn verify_file(path: &Path) -> anyhow::Result<Verified> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    verify_snapshot(BufReader::new(file)).with_context(|| format!("{} is not a usable snapshot", path.display()))
}

async fn save(args: SaveArgs, ctx: &Context, mode: OutputMode) -> anyhow::Result<()> {
    if args.file.exists() && !args.force {
        bail!(
            "{} exists; choose another name or pass --force to replace it",
            args.file.display()
        );
    }
    let parent = match args.file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut partial = tempfile::Builder::new()
        .prefix(".leash-snapshot-")
        .suffix(".partial")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(&parent)
        .with_context(|| format!("cannot create a file in {}", parent.display()))?;
    let mut download = ctx.client()?.snapshot().await?;
    while let Some(chunk) = download.chunk().await? {
        partial
            .write_all(&chunk)
            .with_context(|| format!("cannot write the snapshot in {}", parent.display()))?;
    }
    partial
        .as_file()
        .sync_all()
        .context("cannot flush the snapshot to disk")?;
    let verified = verify_snapshot(BufReader::new(partial.reopen()?))
        .context("the snapshot the server sent does not verify; nothing was saved")?;
    if let Some(announced) = &download.sha256
        && announced != &verified.sha256
    {
        bail!("the snapshot's checksum is not the one the server announced; nothing was saved");
    }
    partial
        .persist(&args.file)
        .with_context(|| format!("cannot save the snapshot as {}", args.file.display()))?;
    sync_dir(&parent)?;
    output::emit(mode, &Report::new(&args.file, &verified), describe)
}

async fn restore(args: RestoreArgs, mode: OutputMode) -> anyhow::Result<()> {
    let dir = &args.data_dir;
    let audit_target = args.audit_file.clone().unwrap_or_else(|| dir.join(AUDIT_MEMBER));
    for taken in [dir.join(DB_FILE), dir.join(AUDIT_DB_FILE), audit_target.clone()] {
        if taken.exists() {
            bail!(
                "{} exists: restore only into an empty data directory (move the old one aside first); nothing was changed",
                taken.display()
            );
        }
    }
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let staging = tempfile::Builder::new()
        .prefix(".leash-restore-")
        .tempdir_in(dir)
        .with_context(|| format!("cannot create a directory in {}", dir.display()))?;
    let file = File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let verified = extract_snapshot(
        BufReader::new(file),
        staging.path(),
        &[DB_FILE, AUDIT_DB_FILE, AUDIT_MEMBER],
    )
    .with_context(|| format!("{} is not a usable snapshot; nothing was restored", args.file.display()))?;
    if verified.manifest.backend != "sqlite" || !staging.path().join(DB_FILE).exists() {
        bail!("{} holds no SQLite store; nothing was restored", args.file.display());
    }
    check_restored_store(staging.path()).await?;
    // every file is in place in the staging directory: now move them, the store last
    if staging.path().join(AUDIT_MEMBER).exists() {
        std::fs::rename(staging.path().join(AUDIT_MEMBER), &audit_target)
            .with_context(|| format!("cannot move the audit file to {}", audit_target.display()))?;
    }
    let mut names: Vec<_> = std::fs::read_dir(staging.path())?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .filter(|n| !n.to_string_lossy().ends_with(".lock"))
        .collect();
    names.sort_by_key(|n| n.as_os_str() == DB_FILE);
    for name in names {
        std::fs::rename(staging.path().join(&name), dir.join(&name))
            .with_context(|| format!("cannot move {} into {}", name.to_string_lossy(), dir.display()))?;
    }
    sync_dir(dir)?;
    let mut report = Report::new(&args.file, &verified);
    report.restored_into = Some(dir);
    output::emit(mode, &report, describe)
}

/// Opens the restored files as a store (bringing an older schema up to date)
/// and checks they hold an initialised Leash store.
async fn check_restored_store(dir: &Path) -> anyhow::Result<()> {
    let store = SqliteStore::open_dir(dir)
        .await
        .context("the snapshot's store cannot be opened; nothing was restored")?;
    let keys = store.key_hierarchy().await;
    store.close().await;
    match keys.context("the snapshot's store cannot be read; nothing was restored")? {
        Some(_) => Ok(()),
        None => bail!("the snapshot holds a store that was never initialised; nothing was restored"),
    }
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot flush {} to disk", dir.display()))
}
