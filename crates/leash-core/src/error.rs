//! The one error type of `leash-core`.
//!
//! Messages name the offending input and the rule it broke, but never carry
//! key material or a decrypted value.

/// Everything that can go wrong in `leash-core`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A project, environment or secret name breaks the naming rules.
    #[error("invalid {kind} {value:?}: {reason}")]
    InvalidName {
        kind: &'static str,
        value: String,
        reason: String,
    },
    /// A ciphertext failed authentication: wrong key, wrong AAD or edited bytes.
    /// Deliberately carries no detail (no decryption oracle).
    #[error("decryption failed: the data was not written for this location or key")]
    Decrypt,
    /// A ciphertext names a keyring key this server does not have.
    #[error("ciphertext uses keyring key {0}, which this keyring does not contain")]
    UnknownKey(u32),
    /// A stored envelope or keyring blob is malformed or of an unknown format version.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// The share count or threshold asked for cannot be used.
    #[error("invalid Shamir parameters: {0}")]
    ShamirParams(String),
    /// An unseal share is not one this format can read.
    #[error("invalid unseal share: {0}")]
    InvalidShare(String),
    /// A policy path pattern breaks the pattern syntax (docs/policies.md).
    #[error("invalid pattern {pattern:?}: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    /// A word is not one of the capabilities.
    #[error("unknown capability {0:?}; allowed are {caps}", caps = crate::policy::CAPABILITY_NAMES)]
    UnknownCapability(String),
    /// A rotation schedule (interval or cron expression) cannot be used.
    #[error("invalid schedule: {0}")]
    InvalidSchedule(String),
    /// A policy document is malformed; `reason` names the rule and the problem.
    #[error("invalid policy {policy:?}: {reason}")]
    InvalidPolicy { policy: String, reason: String },
    /// A value generator spelling (`--generator`, see [`crate::generate`]) is malformed;
    /// `reason` names what is wrong.
    #[error("invalid generator {spec:?}: {reason}")]
    InvalidGenerator { spec: String, reason: String },
    /// Generating a value failed. The reason comes from the key or encoding
    /// library and never contains the value.
    #[error("could not generate a value with {generator}: {reason}")]
    Generate { generator: String, reason: String },
    /// A string is not an age recipient Leash can encrypt to (recipients are public keys).
    #[error("invalid age recipient {recipient:?}: {reason}")]
    InvalidRecipient { recipient: String, reason: String },
    /// An age identity file cannot be used; `name` is where it came from, never its content.
    #[error("cannot use the age identity {name}: {reason}")]
    InvalidIdentity { name: String, reason: String },
    /// A value that must be end-to-end encrypted is not a fitting age file.
    #[error("not a valid end-to-end encrypted value: {0}")]
    InvalidCiphertext(String),
    /// Encrypting to the recipients failed.
    #[error("cannot encrypt to the age recipients: {0}")]
    E2eEncrypt(String),
}
