//! `leash-rotate`: how Leash changes a credential in the system that checks it.
//!
//! Every rotator follows the same four-step protocol, then one clean-up step:
//! **create** the pending value → **set** it in the target system → **test**
//! it there → **promote** (the server makes pending current and current
//! previous, then tells the rotator) → after the grace period, **retire** the
//! previous value. The server owns the state machine, storage, retries and
//! audit; a rotator only talks to its target system.
//!
//! A rotator must never log, return in an error, or persist a value: values
//! arrive as `&str` and leave only as the `Zeroizing<String>` of `create`.
//!
//! The rotators (docs/rotators.md):
//! - [`GeneratorRotator`]: a fresh value, no target system;
//! - [`PostgresRotator`]: a role's password through `ALTER ROLE`, with the
//!   alternating-users strategy for a grace period;
//! - [`WebhookRotator`]: each step POSTed to a URL, HMAC-SHA256 signed, only
//!   to hosts and addresses the operator's [`webhook::Allowlist`] accepts;
//! - [`CommandRotator`]: an executable run with the step name, the value on stdin.
#![forbid(unsafe_code)]

pub mod command;
mod error;
pub mod postgres;
mod redact;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod webhook;

use std::fmt;

use async_trait::async_trait;
use leash_core::generate::Generator;
use zeroize::Zeroizing;

pub use command::{CommandConfig, CommandRotator};
pub use error::Error;
pub use postgres::{PostgresConfig, PostgresRotator, ValueFormat};
pub use webhook::{WebhookConfig, WebhookRotator};

/// The result type of every rotator call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One step of the rotation protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Create,
    Set,
    Test,
    Promote,
    Retire,
}

impl Step {
    /// The step's name as stored, audited and sent to webhooks and commands.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Create => "create",
            Step::Set => "set",
            Step::Test => "test",
            Step::Promote => "promote",
            Step::Retire => "retire",
        }
    }

    /// Parses a stored step name.
    pub fn parse(s: &str) -> Option<Self> {
        [Step::Create, Step::Set, Step::Test, Step::Promote, Step::Retire]
            .into_iter()
            .find(|step| step.as_str() == s)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which secret is being rotated, and which attempt this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub project: String,
    pub env: String,
    pub path: String,
    /// Increases by one per rotation attempt of this secret; lets a target
    /// system recognise a retried step.
    pub attempt: i64,
}

/// A system whose credential Leash rotates. Each step must be safe to run
/// again with the same input (the server retries a failed or interrupted
/// attempt from `set` with the same pending value).
#[async_trait]
pub trait Rotator: Send + Sync {
    /// Makes the pending value. `current` is the value in force, if any.
    async fn create(&self, target: &Target, current: Option<&str>) -> Result<Zeroizing<String>>;
    /// Puts `pending` into the target system, alongside or instead of `current`.
    async fn set(&self, target: &Target, current: Option<&str>, pending: &str) -> Result<()>;
    /// Checks that `pending` works in the target system.
    async fn test(&self, target: &Target, pending: &str) -> Result<()>;
    /// Called after the server made `pending` the current value.
    async fn promote(&self, target: &Target, pending: &str) -> Result<()>;
    /// Called once the grace period of `previous` is over (or at once for an
    /// emergency rotation): the old value should stop working.
    async fn retire(&self, target: &Target, previous: &str) -> Result<()>;
}

/// The simplest rotator: a fresh value from a generator, with no target
/// system to tell. Services pick the value up through Leash itself.
pub struct GeneratorRotator {
    generator: Generator,
}

impl GeneratorRotator {
    pub fn new(generator: Generator) -> Self {
        Self { generator }
    }
}

#[async_trait]
impl Rotator for GeneratorRotator {
    async fn create(&self, _target: &Target, _current: Option<&str>) -> Result<Zeroizing<String>> {
        Ok(self.generator.generate()?.into_parts().0)
    }

    async fn set(&self, _target: &Target, _current: Option<&str>, _pending: &str) -> Result<()> {
        Ok(())
    }

    async fn test(&self, _target: &Target, _pending: &str) -> Result<()> {
        Ok(())
    }

    async fn promote(&self, _target: &Target, _pending: &str) -> Result<()> {
        Ok(())
    }

    async fn retire(&self, _target: &Target, _previous: &str) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_round_trip() {
        for step in [Step::Create, Step::Set, Step::Test, Step::Promote, Step::Retire] {
            assert_eq!(Step::parse(step.as_str()), Some(step));
        }
        assert_eq!(Step::parse("launch"), None);
    }

    #[tokio::test]
    async fn the_generator_rotator_makes_a_fresh_value_each_time() {
        let rotator = GeneratorRotator::new("password:24".parse().unwrap());
        let target = Target {
            project: "p".into(),
            env: "e".into(),
            path: "K".into(),
            attempt: 1,
        };
        let a = rotator.create(&target, None).await.unwrap();
        let b = rotator.create(&target, Some(&a)).await.unwrap();
        assert_eq!(a.len(), 24);
        assert_ne!(*a, *b);
    }
}
