//! The rotation scheduler: a task inside the server that, every
//! `rotation_interval`, runs the rotations, retries and retirements that are
//! due. What is due is read from the store, and each run first takes the
//! row's lease there, so a restart neither repeats nor skips a rotation and,
//! on a shared store, only one node runs each (the HA work adds leader
//! election on top). Each run leaves one audit record of kind `event`.

use std::time::Duration;

use leash_core::audit::{AuditRecord, RecordKind};
use leash_core::names::SecretPath;
use leash_store::DueRotation;

use super::engine::{self, SCHEDULER, Trigger};
use crate::error::ApiError;
use crate::service;
use crate::state::AppState;
use crate::time::rfc3339;

/// How many due rows one pass takes.
const BATCH: i64 = 32;

/// Starts the scheduler; it stops when the server shuts down.
pub fn spawn(state: AppState, every: Duration) {
    let mut shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        // The first look is one interval after start (a starting server is sealed anyway).
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            // A sealed server cannot decrypt: nothing can run until it is unsealed.
            if state.barrier.keyring().is_err() {
                continue;
            }
            if let Err(e) = run_due(&state).await {
                tracing::error!(error = %e, "the rotation scheduler could not read due rotations");
            }
        }
    });
}

/// Runs everything due now; returns how many runs it made. Public so tests
/// can drive the scheduler with a manual clock.
pub async fn run_due(state: &AppState) -> Result<usize, ApiError> {
    let now = state.clock.now_ms();
    let due = state.store.rotation_due(now, BATCH).await?;
    let mut runs = 0;
    for item in due {
        runs += 1;
        let trigger = trigger_of(&item, now);
        // No change without its record: the intent is durable before the run may commit anything.
        let id = leash_core::token::generate_accessor();
        let intent = event(&item, trigger, &id, RecordKind::Intent);
        if let Err(e) = state.audit.append(intent).await {
            tracing::error!(error = %e, path = %item.row.path, "scheduled rotation postponed: its audit record cannot be written");
            runs -= 1;
            continue;
        }
        let outcome = run_one(state, &item, trigger).await;
        if matches!(&outcome, Err(e) if e.code == engine::BUSY) {
            // Another request or node took it between the query and the claim: theirs to report.
            runs -= 1;
            continue;
        }
        record(state, &item, trigger, &id, &outcome).await;
        if let Err(e) = &outcome {
            tracing::warn!(
                project = %item.project, env = %item.env, path = %item.row.path, error = %e.message,
                "scheduled rotation failed"
            );
        }
    }
    Ok(runs)
}

fn trigger_of(item: &DueRotation, now: i64) -> Trigger {
    let r = &item.row;
    if r.retire_at.is_some_and(|t| t <= now) && r.state == "idle" {
        Trigger::Retire
    } else if r.state == "idle" {
        Trigger::Schedule
    } else {
        Trigger::Retry
    }
}

async fn run_one(state: &AppState, item: &DueRotation, trigger: Trigger) -> Result<Option<i64>, ApiError> {
    let env = service::environment(state, &item.project, &item.env).await?;
    let path = SecretPath::parse(&item.row.path)?;
    if trigger == Trigger::Retire {
        engine::retire_due(state, &env, &path, item.row.clone()).await?;
        return Ok(item.row.retire_version);
    }
    let result = engine::rotate_due(state, &env, &path, trigger, SCHEDULER, item.row.attempt).await?;
    Ok(Some(result.version))
}

/// The record of a scheduled run (its intent, or its outcome once `status` is set).
fn event(item: &DueRotation, trigger: Trigger, id: &str, kind: RecordKind) -> AuditRecord {
    AuditRecord {
        kind: Some(kind),
        time: rfc3339(crate::time::now_millis()),
        request_id: Some(id.to_owned()),
        identity: Some(SCHEDULER.into()),
        operation: Some(format!("rotation.{}", trigger.as_str())),
        project: Some(item.project.clone()),
        env: Some(item.env.clone()),
        path: Some(item.row.path.clone()),
        ..Default::default()
    }
}

/// One audit record per scheduled run: what ran, on what, and how it ended.
async fn record(
    state: &AppState,
    item: &DueRotation,
    trigger: Trigger,
    id: &str,
    outcome: &Result<Option<i64>, ApiError>,
) {
    let (status, error, version) = match outcome {
        Ok(version) => (200, None, *version),
        Err(e) => (e.status().as_u16(), Some(e.code.to_owned()), None),
    };
    let record = AuditRecord {
        version,
        status: Some(status),
        error,
        ..event(item, trigger, id, RecordKind::Event)
    };
    if let Err(e) = state.audit.append(record).await {
        tracing::error!(error = %e, path = %item.row.path, "the outcome record of a scheduled rotation was lost; its intent record stands");
    }
}
