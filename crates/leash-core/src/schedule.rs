//! When a rotation is due: a fixed interval after the last rotation, or the
//! next time of a cron expression (UTC). Pure: the caller passes the clock.
//!
//! It never reads the system clock and never decides what runs; the server's
//! scheduler asks it for the next due time and owns the rest.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;

use crate::Error;

/// The shortest interval a schedule may have: rotations are not a busy loop.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// A parsed rotation schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// This long after the last rotation.
    Every(Duration),
    /// At the times of a cron expression, in UTC.
    Cron(Box<Cron>),
}

impl Schedule {
    /// Parses `every` (humantime, e.g. `30d`) or `cron` (5 or 6 fields); exactly one must be given.
    pub fn parse(every: Option<&str>, cron: Option<&str>) -> Result<Self, Error> {
        match (every, cron) {
            (Some(_), Some(_)) => Err(invalid(
                "give either an interval (every) or a cron expression, not both",
            )),
            (None, None) => Err(invalid(
                "a schedule needs an interval (every, e.g. 30d) or a cron expression",
            )),
            (Some(every), None) => {
                let interval = parse_duration("every", every)?;
                if interval < MIN_INTERVAL {
                    return Err(invalid(format!(
                        "every {every:?} is shorter than the minimum of {}",
                        humantime::format_duration(MIN_INTERVAL)
                    )));
                }
                Ok(Schedule::Every(interval))
            }
            (None, Some(expr)) => {
                let cron = Cron::from_str(expr.trim())
                    .map_err(|e| invalid(format!("cron expression {expr:?} does not parse: {e}")))?;
                let schedule = Schedule::Cron(Box::new(cron));
                // An expression that never fires (30 February) is a mistake worth naming now.
                if schedule.next_due(0, 0).is_none() {
                    return Err(invalid(format!("cron expression {expr:?} never fires")));
                }
                Ok(schedule)
            }
        }
    }

    /// The interval, for `Every`.
    pub fn interval(&self) -> Option<Duration> {
        match self {
            Schedule::Every(d) => Some(*d),
            Schedule::Cron(_) => None,
        }
    }

    /// The next due time (unix ms) given the last rotation (or when the policy
    /// was set) and the current time. A cron schedule fires at its next time
    /// strictly after `max(last, now)`; an interval at `last + interval`.
    pub fn next_due(&self, last_ms: i64, now_ms: i64) -> Option<i64> {
        match self {
            Schedule::Every(d) => Some(last_ms.saturating_add(d.as_millis().min(i64::MAX as u128) as i64)),
            Schedule::Cron(cron) => {
                let from = DateTime::<Utc>::from_timestamp_millis(last_ms.max(now_ms))?;
                cron.find_next_occurrence(&from, false)
                    .ok()
                    .map(|t| t.timestamp_millis())
            }
        }
    }
}

/// Parses a humantime duration (`30d`, `12h`, `90s`), naming the field on error.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, Error> {
    humantime::parse_duration(text.trim())
        .map_err(|e| invalid(format!("{field} {text:?} is not a duration like 30d, 12h or 90s: {e}")))
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidSchedule(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;

    #[test]
    fn an_interval_is_due_that_long_after_the_last_rotation() {
        let s = Schedule::parse(Some("30d"), None).unwrap();
        assert_eq!(s.interval(), Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(s.next_due(1_000, 5_000), Some(1_000 + 30 * DAY_MS));
    }

    #[test]
    fn a_cron_schedule_fires_at_its_next_time_after_now() {
        // 2026-01-01T00:00:00Z is a Thursday; "0 3 * * *" fires at 03:00 UTC.
        let start = 1_767_225_600_000;
        let s = Schedule::parse(None, Some("0 3 * * *")).unwrap();
        assert_eq!(s.next_due(start, start), Some(start + 3 * 3_600_000));
        // Exactly at a firing time, the next one is a day later (strictly after).
        assert_eq!(
            s.next_due(start + 3 * 3_600_000, start + 3 * 3_600_000),
            Some(start + DAY_MS + 3 * 3_600_000)
        );
    }

    #[test]
    fn bad_schedules_name_the_problem() {
        let msg = |e: Error| e.to_string();
        assert!(msg(Schedule::parse(Some("30d"), Some("* * * * *")).unwrap_err()).contains("not both"));
        assert!(msg(Schedule::parse(None, None).unwrap_err()).contains("needs an interval"));
        assert!(msg(Schedule::parse(Some("soon"), None).unwrap_err()).contains("\"soon\""));
        assert!(msg(Schedule::parse(Some("5s"), None).unwrap_err()).contains("minimum"));
        assert!(msg(Schedule::parse(None, Some("61 * * * *")).unwrap_err()).contains("does not parse"));
        assert!(msg(Schedule::parse(None, Some("0 0 30 2 *")).unwrap_err()).contains("never fires"));
    }
}
