//! Rotation policies as stored: set, show, remove, and the attempt history.
//! Callers authorize first (routes use `PolicyChange` with `authz::authorize_each`);
//! this module applies the rules of the stored state: no change while an
//! attempt holds the lease, a changed policy drops a failed attempt's
//! pending value, the schedule counts from the last rotation. No HTTP here.

use leash_core::api::{RotationAttempt, RotationHistory, RotationStatus};
use leash_core::names::SecretPath;
use leash_store::RotationRow;

use super::policy::{CheckedPolicy, check_destination};
use super::stages;
use crate::error::ApiError;
use crate::service::EnvRef;
use crate::state::Domain;
use crate::time::rfc3339;

/// Refuses to change a policy while an attempt holds its lease.
fn check_not_running(row: Option<&RotationRow>, now: i64, path: &SecretPath) -> Result<(), ApiError> {
    if row.is_some_and(|r| r.lease.as_ref().is_some_and(|l| l.live_at(now))) {
        return Err(ApiError::conflict(format!(
            "{path} is being rotated right now; change its policy when the attempt has finished"
        )));
    }
    Ok(())
}

/// The stored policy of `path`, if any.
pub async fn stored(state: &Domain, env: &EnvRef, path: &SecretPath) -> Result<Option<RotationRow>, ApiError> {
    Ok(state.store.rotation_get(env.row.id, path.as_str()).await?)
}

/// Stores `checked` as the policy of `path` (replacing `existing`, read by [`stored`]).
pub async fn set(
    state: &Domain,
    env: &EnvRef,
    path: &SecretPath,
    checked: CheckedPolicy,
    existing: Option<RotationRow>,
) -> Result<RotationStatus, ApiError> {
    check_destination(state, &checked).await?;
    let now = state.clock.now_ms();
    check_not_running(existing.as_ref(), now, path)?;
    let policy_json = serde_json::to_string(&checked.policy)
        .map_err(|e| ApiError::internal("storing a rotation policy", e.to_string()))?;
    let grace_ms = checked.grace.as_millis() as i64;
    let mut row = existing.unwrap_or_else(|| RotationRow::new(env.row.id, path.as_str(), String::new(), grace_ms, now));
    if row.policy != policy_json && row.state == "failed" {
        // A failed attempt's pending value was made for the old policy (another role, another
        // system): the new policy starts afresh instead of retrying it.
        row.state = "idle".into();
        row.pending_key_id = None;
        row.pending_ciphertext = None;
        row.failures = 0;
        row.retry_at = None;
        row.last_error = None;
    }
    row.policy = policy_json;
    row.grace_ms = grace_ms;
    // The schedule counts from the last rotation, or from now for a new policy.
    row.next_due_at = checked
        .schedule
        .as_ref()
        .and_then(|s| s.next_due(row.last_rotated_at.unwrap_or(now), now));
    row.updated_at = now;
    state.store.rotation_put(&row).await?;
    status(state, env, path, Some(row)).await
}

/// Where rotation of `path` stands.
pub async fn show(state: &Domain, env: &EnvRef, path: &SecretPath) -> Result<RotationStatus, ApiError> {
    let row = stored(state, env, path).await?;
    status(state, env, path, row).await
}

/// Removes the policy `stored` (read by [`stored`]) of `path`.
pub async fn remove(
    state: &Domain,
    env: &EnvRef,
    path: &SecretPath,
    stored: &RotationRow,
) -> Result<RotationStatus, ApiError> {
    check_not_running(Some(stored), state.clock.now_ms(), path)?;
    state.store.rotation_delete(env.row.id, path.as_str()).await?;
    status(state, env, path, None).await
}

/// The latest `limit` attempts on `path`, newest first.
pub async fn history(state: &Domain, env: &EnvRef, path: &SecretPath, limit: i64) -> Result<RotationHistory, ApiError> {
    let attempts = state
        .store
        .rotation_log(env.row.id, path.as_str(), limit)
        .await?
        .into_iter()
        .map(|l| RotationAttempt {
            attempt: l.attempt,
            trigger: l.trigger,
            actor: l.actor,
            rotator: l.rotator,
            started_at: rfc3339(l.started_at),
            finished_at: l.finished_at.map(rfc3339),
            outcome: l.outcome,
            step: l.step,
            error: l.error,
            version: l.version,
        })
        .collect();
    Ok(RotationHistory {
        path: path.as_str().to_owned(),
        attempts,
    })
}

/// Where rotation of one secret stands (404 when it has neither a policy nor a value).
async fn status(
    state: &Domain,
    env: &EnvRef,
    path: &SecretPath,
    row: Option<RotationRow>,
) -> Result<RotationStatus, ApiError> {
    let versions = state.store.secret_versions(env.row.id, path.as_str()).await?;
    if row.is_none() && versions.is_none() {
        return Err(ApiError::not_found(format!(
            "secret {path} not found in {}/{}",
            env.project, env.env
        )));
    }
    let grace = stages::grace_of(state, row.as_ref());
    let previous = versions
        .as_ref()
        .and_then(|(head, versions)| stages::previous(head, versions, grace));
    let now = state.clock.now_ms();
    let policy = match &row {
        Some(r) => Some(CheckedPolicy::from_stored(state, &r.policy)?),
        None => None,
    };
    Ok(RotationStatus {
        path: path.as_str().to_owned(),
        every_seconds: policy
            .as_ref()
            .and_then(|p| p.schedule.as_ref())
            .and_then(|s| s.interval())
            .map(|d| d.as_secs()),
        policy: policy.map(|p| p.policy),
        grace_seconds: grace.as_secs(),
        next_due_at: row.as_ref().and_then(|r| r.next_due_at).map(rfc3339),
        state: row.as_ref().map_or_else(|| "idle".into(), |r| r.state.clone()),
        attempt: row.as_ref().map_or(0, |r| r.attempt),
        step: row.as_ref().and_then(|r| r.step.clone()),
        failures: row.as_ref().map_or(0, |r| r.failures),
        last_error: row.as_ref().and_then(|r| r.last_error.clone()),
        retry_at: row
            .as_ref()
            .filter(|r| r.state == "failed")
            .and_then(|r| r.retry_at)
            .map(rfc3339),
        pending: row.as_ref().is_some_and(|r| r.pending_ciphertext.is_some()),
        last_rotated_at: row.as_ref().and_then(|r| r.last_rotated_at).map(rfc3339),
        previous_version: previous.as_ref().filter(|p| p.served_at(now)).map(|p| p.version),
        previous_until: previous.as_ref().filter(|p| p.served_at(now)).map(|p| rfc3339(p.until)),
    })
}
