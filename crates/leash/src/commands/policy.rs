//! `leash policy`: write, read, list and delete policy documents, and check
//! what a policy set decides for one identity, path and capability.
//!
//! It owns reading the document (a file, or `-` for stdin, sent as written:
//! the server parses it and names the bad rule), printing it back exactly as
//! stored, and the exit status of `policy check`: 0 allowed, 3 denied
//! ([`EXIT_DENIED`]), 1 on any error.

use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use leash_core::api::{PolicyCheck, PolicyCheckResult, PolicyList, PolicyWrite};
use serde_json::json;

use crate::context::Context;
use crate::output::{self, OutputMode};

/// Exit status of `leash policy check` when the answer is "denied".
pub const EXIT_DENIED: u8 = 3;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Create or replace a policy from a TOML file (docs/policies.md)
    Write {
        /// Policy name
        name: String,
        /// The TOML document; `-` reads it from stdin
        file: PathBuf,
    },
    /// Print a policy's TOML exactly as written
    Read {
        /// Policy name
        name: String,
    },
    /// List policy names
    List,
    /// Delete a policy (identities and groups that name it lose its rules)
    Delete {
        /// Policy name
        name: String,
    },
    /// Would IDENTITY be allowed CAPABILITY on PATH? Names the deciding rule
    ///
    /// Prints ALLOWED or DENIED, then the policy and rule that decided, and
    /// exits 0 when allowed, 3 when denied, 1 on an error, so scripts can
    /// test access: `leash policy check ci payment/prod/DB_URL read && …`.
    Check {
        /// Identity name
        identity: String,
        /// Resource: project, project/env, or project/env/path
        path: String,
        /// read, list, write, delete, destroy, rotate or admin
        capability: String,
    },
}

pub async fn run(command: PolicyCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    let mode = ctx.output();
    match command {
        PolicyCommand::Write { name, file } => {
            let policy = read_document(&file)?;
            let info = client.write_policy(&name, &PolicyWrite { policy }).await?;
            output::emit(mode, &info, |i| format!("Wrote policy {}.\n", i.name))?;
        }
        PolicyCommand::Read { name } => {
            let info = client.read_policy(&name).await?;
            match mode {
                OutputMode::Json => output::print_json(&info)?,
                OutputMode::Text => {
                    let mut text = info.policy;
                    if io::stdout().is_terminal() && !text.is_empty() && !text.ends_with('\n') {
                        text.push('\n');
                    }
                    output::write_stdout(&text)?;
                }
            }
        }
        PolicyCommand::List => {
            let list = client.list_policies().await?;
            output::emit(mode, &list, describe_list)?;
        }
        PolicyCommand::Delete { name } => {
            client.delete_policy(&name).await?;
            match mode {
                OutputMode::Json => output::print_json(&json!({ "deleted": name }))?,
                OutputMode::Text => output::write_stdout(&format!("Deleted policy {name}.\n"))?,
            }
        }
        PolicyCommand::Check {
            identity,
            path,
            capability,
        } => {
            let request = PolicyCheck {
                identity,
                path,
                capability,
            };
            let result = client.check_policy(&request).await?;
            output::emit(mode, &result, describe_check)?;
            return Ok(check_exit_code(&result));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// 0 when allowed, [`EXIT_DENIED`] when denied.
fn check_exit_code(result: &PolicyCheckResult) -> ExitCode {
    if result.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DENIED)
    }
}

/// The document from FILE or stdin (`-`), as UTF-8 text.
fn read_document(file: &std::path::Path) -> anyhow::Result<String> {
    let bytes = if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read the policy from stdin")?;
        bytes
    } else {
        std::fs::read(file).with_context(|| format!("cannot read the policy file {}", file.display()))?
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => bail!(
            "the policy is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    }
}

fn describe_list(list: &PolicyList) -> String {
    if list.policies.is_empty() {
        return "No policies. Write one with `leash policy write NAME FILE`.\n".to_owned();
    }
    list.policies.iter().map(|p| format!("{p}\n")).collect()
}

fn describe_check(result: &PolicyCheckResult) -> String {
    let verdict = if result.allowed { "ALLOWED" } else { "DENIED" };
    let policies = if result.policies.is_empty() {
        "none".to_owned()
    } else {
        result.policies.join(", ")
    };
    format!("{verdict}\n{}\nPolicies evaluated: {policies}\n", result.explanation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(allowed: bool) -> PolicyCheckResult {
        PolicyCheckResult {
            allowed,
            explanation: if allowed {
                "allowed by policy \"p\", allow rule 1 (`payment/prod/**`)".into()
            } else {
                "denied: no rule allows it (default deny)".into()
            },
            policies: vec!["p".into()],
        }
    }

    #[test]
    fn check_exits_0_when_allowed_and_3_when_denied() {
        assert_eq!(check_exit_code(&result(true)), ExitCode::SUCCESS);
        assert_eq!(check_exit_code(&result(false)), ExitCode::from(3));
        assert!(describe_check(&result(true)).starts_with("ALLOWED\nallowed by policy \"p\""));
        assert!(describe_check(&result(false)).starts_with("DENIED\ndenied: no rule"));
    }

    #[test]
    fn documents_are_read_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        let text = "# comment\n[[allow]]\npath = \"a/**\"\ncapabilities = [\"read\"]\n";
        std::fs::write(&file, text).unwrap();
        assert_eq!(read_document(&file).unwrap(), text);
        std::fs::write(&file, [0x5b, 0xff]).unwrap();
        assert!(read_document(&file).unwrap_err().to_string().contains("not UTF-8"));
        let err = read_document(&dir.path().join("missing.toml")).unwrap_err();
        assert!(format!("{err:#}").contains("missing.toml"), "{err:#}");
    }
}
