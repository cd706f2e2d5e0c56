//! The one error type of `leash-rotate`. Messages name the step and the
//! target system; they never contain a secret value.

/// Why a rotation step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The value generator refused its spec or failed.
    #[error("generating the new value: {0}")]
    Generate(#[from] leash_core::Error),
    /// The rotator's configuration cannot work (names the field).
    #[error("rotator configuration: {0}")]
    Config(String),
    /// The target system refused or failed a step.
    #[error("{step} step failed: {message}")]
    Step { step: crate::Step, message: String },
}
