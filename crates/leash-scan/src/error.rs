//! The one error type of `leash-scan`. Messages name the file, rule or
//! command that failed; they never include scanned text or a secret.

use std::path::PathBuf;

/// Everything that can go wrong while configuring or running a scan.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Walking a directory tree failed.
    #[error("cannot walk the tree: {0}")]
    Walk(String),
    /// A configuration file is not valid TOML of the expected shape.
    #[error("invalid config {path}: {reason}")]
    Config { path: String, reason: String },
    /// A rule's or allowlist's regular expression does not compile.
    #[error("rule {rule}: invalid regex: {reason}")]
    Regex { rule: String, reason: String },
    /// `git` failed or could not be started.
    #[error("git {args}: {reason}")]
    Git { args: String, reason: String },
    /// A baseline or ignore file could not be understood.
    #[error("invalid {what} {path}: {reason}")]
    Suppression {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// The known-secret fingerprint set is malformed.
    #[error("invalid known-secret fingerprints: {0}")]
    Known(String),
    /// A pre-commit hook that Leash did not write is in the way.
    #[error(
        "{path} exists and was not installed by leash (use --force to replace it; the old hook is kept as {backup})"
    )]
    ForeignHook { path: PathBuf, backup: String },
    /// Writing a report failed.
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}
