//! One module per command group. Each module owns its clap arguments and its
//! `run` function, which talks to the server through `leash_client` and
//! prints through `output`. Modules must never read configuration files
//! themselves (that is `context.rs`) nor format data files (`formats.rs`).

pub mod access;
pub mod agent;
pub mod audit;
pub mod completions;
pub mod e2e;
pub mod env;
pub mod group;
pub mod identity;
pub mod jwt;
pub mod login;
pub mod man;
pub mod operator;
pub mod policy;
pub mod project;
pub mod rotation;
pub mod run;
pub mod scan;
pub mod secrets;
pub mod snapshot;
pub mod token;
pub mod transfer;

use leash_core::api::ChangeResult;

/// One indented line per changed path: `  set DATABASE_URL (v3)`, with
/// where a moved or copied value came from.
pub fn change_entries(result: &ChangeResult) -> String {
    if result.entries.is_empty() {
        return "  (nothing changed)\n".to_owned();
    }
    result
        .entries
        .iter()
        .map(|entry| {
            let version = entry.version.map(|v| format!(" (v{v})")).unwrap_or_default();
            let origin = entry.origin.as_ref().map(|o| format!(", {o}")).unwrap_or_default();
            format!("  {} {}{version}{origin}\n", entry.action, entry.path)
        })
        .collect()
}
