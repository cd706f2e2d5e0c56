//! Rotation: per-secret policies, the attempt state machine, the scheduler
//! and the `current`/`previous`/`pending` stages.
//!
//! It owns when and how a secret's value is replaced, and keeps everything it
//! needs to resume in the store (a restart neither repeats nor skips a due
//! rotation). It talks to target systems only through `leash_rotate::Rotator`,
//! encrypts pending values with the barrier like any other value, and never
//! lets a value reach storage unencrypted, a log, an error or the audit trail.

pub mod admin;
pub mod engine;
pub mod policy;
pub mod scheduler;
pub mod stages;

pub use engine::{Trigger, rotate};
