//! Rotation routes: a secret's policy (set, show, remove), rotating now, and
//! the attempt history. Handlers authorize and delegate to
//! [`crate::rotation`]; values never appear in these answers.
//!
//! Who may do what (docs/rotation.md): `rotate` sets and removes
//! generator-only policies and rotates now (with whatever rotator the policy
//! has: its destination was chosen by someone who may read the secret).
//! Setting, changing or removing a policy whose rotator sends values out of
//! Leash also needs `read` on the secret ([`PolicyChange`]).

use axum::Json;
use axum::extract::{Path, State};
use leash_core::api::{RotateRequest, RotateResult, RotationAttempt, RotationHistory, RotationPolicy, RotationStatus};
use leash_core::names::SecretPath;
use leash_store::RotationRow;
use serde::Deserialize;

use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::authz::{Capability, Resource, authorize, authorize_each};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::rotation::engine::Trigger;
use crate::rotation::policy::{CheckedPolicy, PolicyChange, check_destination, stored_sends_values_out};
use crate::rotation::{rotate, stages};
use crate::service::{self, EnvRef};
use crate::state::AppState;
use crate::time::rfc3339;

type SecretAt = Path<(String, String, String)>;

fn secret<'a>(project: &'a str, env: &'a str, path: &'a str) -> Resource<'a> {
    Resource::Secret { project, env, path }
}

/// Refuses to change a policy while an attempt holds its lease.
fn check_not_running(row: Option<&RotationRow>, now: i64, path: &SecretPath) -> Result<(), ApiError> {
    if row.is_some_and(|r| r.lease_until.is_some_and(|l| l > now)) {
        return Err(ApiError::conflict(format!(
            "{path} is being rotated right now; change its policy when the attempt has finished"
        )));
    }
    Ok(())
}

pub async fn put_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, path)): SecretAt,
    ApiJson(policy): ApiJson<RotationPolicy>,
) -> Result<Json<RotationStatus>, ApiError> {
    let path = SecretPath::parse(&path)?;
    authorize(&caller, Capability::Rotate, secret(&project, &env, path.as_str()))?;
    let checked = CheckedPolicy::check(&state, policy)?;
    let env = service::environment(&state, &project, &env).await?;
    crate::rotation::engine::refuse_e2e(&env, &path)?;
    let now = state.clock.now_ms();
    let existing = state.store.rotation_get(env.row.id, path.as_str()).await?;
    // A rotator acts with the secrets it names, and one that sends values out of Leash
    // (or replacing one) is as good as reading the secret: see `PolicyChange`.
    let change = PolicyChange {
        path: &path,
        new: Some(&checked),
        stored_sends_values_out: existing.as_ref().is_some_and(|r| stored_sends_values_out(&r.policy)),
    };
    authorize_each(&caller, env.project.as_str(), env.env.as_str(), change)?;
    check_destination(&state, &checked).await?;
    check_not_running(existing.as_ref(), now, &path)?;
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
    Ok(Json(status(&state, &env, &path, Some(row)).await?))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, path)): SecretAt,
) -> Result<Json<RotationStatus>, ApiError> {
    let path = SecretPath::parse(&path)?;
    authorize(&caller, Capability::List, secret(&project, &env, path.as_str()))?;
    let env = service::environment(&state, &project, &env).await?;
    let row = state.store.rotation_get(env.row.id, path.as_str()).await?;
    Ok(Json(status(&state, &env, &path, row).await?))
}

pub async fn delete_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, path)): SecretAt,
) -> Result<Json<RotationStatus>, ApiError> {
    let path = SecretPath::parse(&path)?;
    authorize(&caller, Capability::Rotate, secret(&project, &env, path.as_str()))?;
    let env = service::environment(&state, &project, &env).await?;
    let row = state.store.rotation_get(env.row.id, path.as_str()).await?;
    let Some(stored) = &row else {
        return Err(ApiError::not_found(format!("{path} has no rotation policy")));
    };
    // Removing a rotator that sends values out is for those who may read the secret.
    let change = PolicyChange {
        path: &path,
        new: None,
        stored_sends_values_out: stored_sends_values_out(&stored.policy),
    };
    authorize_each(&caller, env.project.as_str(), env.env.as_str(), change)?;
    check_not_running(row.as_ref(), state.clock.now_ms(), &path)?;
    state.store.rotation_delete(env.row.id, path.as_str()).await?;
    Ok(Json(status(&state, &env, &path, None).await?))
}

pub async fn rotate_now(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Path((project, env, path)): SecretAt,
    body: Option<ApiJson<RotateRequest>>,
) -> Result<Json<RotateResult>, ApiError> {
    let path = SecretPath::parse(&path)?;
    authorize(&caller, Capability::Rotate, secret(&project, &env, path.as_str()))?;
    let env = service::environment(&state, &project, &env).await?;
    let request = body.map(|ApiJson(b)| b).unwrap_or_default();
    let result = rotate(&state, &env, &path, Trigger::Manual, caller.actor(), &request).await?;
    note.update(|n| n.version = Some(result.version));
    Ok(Json(result))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default)]
    limit: Option<i64>,
}

pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, path)): SecretAt,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<RotationHistory>, ApiError> {
    let path = SecretPath::parse(&path)?;
    authorize(&caller, Capability::List, secret(&project, &env, path.as_str()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let env = service::environment(&state, &project, &env).await?;
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
    Ok(Json(RotationHistory {
        path: path.as_str().to_owned(),
        attempts,
    }))
}

/// Where rotation of one secret stands (404 when it has neither a policy nor a value).
async fn status(
    state: &AppState,
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
