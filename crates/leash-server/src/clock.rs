//! The server's clock. Rotation schedules, grace periods and retries read the
//! time through [`Clock`] so that tests can move it (a rotation due in 30 days
//! is tested without waiting 30 days). Everything else may read the system clock.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::time::now_millis;

/// Tells the time in unix milliseconds.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_millis()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// Starts at the current real time.
    pub fn starting_now() -> Self {
        Self(AtomicI64::new(now_millis()))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
