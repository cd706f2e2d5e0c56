//! `leash-scan`: the secret scanner behind `leash scan`.
//!
//! It finds credentials in text: a working tree, git history, the staged
//! changes or any stream. Each fragment of text goes through one pipeline
//! (see [`engine`]): an Aho-Corasick keyword prefilter picks the rules worth
//! running, each rule's regex finds candidates, and candidates are kept only
//! if they pass the rule's offline checksum or structure check (a valid
//! checksum marks the finding verified, an invalid one drops it), or else the
//! entropy threshold and the placeholder and allowlist filters.
//!
//! Module map:
//! - [`rules`]: the rule model and the built-in rule table (`rules/default.toml`).
//! - [`validate`]: offline checksum and structure checks (GitHub, npm, PyPI, JWT, Leash).
//! - [`filter`]: entropy, placeholders, allowlists.
//! - [`context`]: context-aware judgement of `key = value` assignments (key names, value classes).
//! - [`engine`]: the [`Scanner`] that turns bytes into [`Finding`]s.
//! - [`decode`]: base64 and percent-decoding of blobs, to a bounded depth.
//! - [`source`]: the targets (working tree, git history, staged changes, a reader).
//! - [`config`]: gitleaks-format TOML configuration.
//! - [`known`]: known-secret mode (keyed fingerprints of stored values).
//! - [`suppress`]: `.leashignore` and `--baseline` fingerprints.
//! - [`report`]: text, JSON and SARIF output; the only place a secret is printed.
//! - [`hook`]: the git pre-commit hook.
//!
//! This crate does no network IO and never prints: it returns findings, and
//! [`report`] renders them with secrets redacted unless asked otherwise.
#![forbid(unsafe_code)]

pub mod config;
pub mod context;
pub mod decode;
pub mod engine;
mod error;
pub mod filter;
pub mod hook;
pub mod known;
pub mod report;
pub mod rules;
pub mod source;
pub mod suppress;
pub mod validate;

pub use engine::{Finding, Scanner, ScannerBuilder};
pub use error::Error;
pub use rules::{Rule, Severity};
