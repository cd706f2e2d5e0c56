//! `leash completions SHELL`: prints a completion script made by clap_complete.
//!
//! It owns nothing but that; it must never contact a server.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    shell: Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "leash", &mut out);
    crate::output::write_stdout(&String::from_utf8_lossy(&out))
}
