//! Restart jitter: a random delay in `[0, window)` that each instance waits
//! before acting on a change, so many instances watching one environment
//! restart spread over the window instead of all at once (`leash run
//! --restart-jitter`, the agent's `restart_jitter`). A zero window is no delay:
//! today's behaviour.
//!
//! It owns only the choice of the delay; it never waits itself.

use std::time::Duration;

use rand::RngExt as _;

/// A uniformly random delay in `[0, window)`; zero for a zero window.
pub fn delay(window: Duration) -> Duration {
    let nanos = window.as_nanos().min(u64::MAX as u128) as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rand::rng().random_range(0..nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_window_is_no_delay() {
        assert_eq!(delay(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn delays_stay_inside_the_window_and_spread_over_it() {
        let window = Duration::from_secs(30);
        let delays: Vec<Duration> = (0..1000).map(|_| delay(window)).collect();
        assert!(delays.iter().all(|d| *d < window));
        // 1000 uniform draws: each tenth of the window gets some (the chance one is empty is ~1e-45)
        for tenth in 0..10 {
            let (lo, hi) = (window * tenth / 10, window * (tenth + 1) / 10);
            assert!(
                delays.iter().any(|d| *d >= lo && *d < hi),
                "no delay in [{lo:?}, {hi:?})"
            );
        }
    }
}
