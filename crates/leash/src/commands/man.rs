//! `leash man --dir DIR`: writes the manual pages (roff, made by clap_mangen
//! from the same grammar as `--help`): `leash.1` and one page per command
//! and subcommand (`leash-operator-snapshot-save.1`).
//!
//! It owns nothing but that; it must never contact a server.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory};

use crate::cli::Cli;

#[derive(Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing)
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(args: ManArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create {}", args.dir.display()))?;
    clap_mangen::generate_to(Cli::command(), &args.dir)
        .with_context(|| format!("cannot write the manual pages into {}", args.dir.display()))?;
    let written = std::fs::read_dir(&args.dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".1"))
        .count();
    crate::output::write_stdout(&format!("{written} manual pages in {}\n", args.dir.display()))
}
