//! One rotation attempt: create → set → test → promote, then (after the grace
//! period, or at once for an emergency) retire. Every step's progress is
//! written to the rotation state before the next begins, so an attempt cut
//! short by a crash or a failure resumes from `set` with the same pending
//! value, and `current` only ever changes in the promotion transaction.

use std::time::Duration;

use crate::barrier::Keys;
use leash_core::api::{RotateRequest, RotateResult};
use leash_core::names::SecretPath;
use leash_rotate::{GeneratorRotator, Rotator, Step, Target};
use leash_store::{Lease, RotationLogRow, RotationRow, Selector};
use zeroize::Zeroizing;

use super::policy::{CheckedPolicy, build_rotator};
use super::stages::{grace_of, open_pending, previous, seal_pending};
use crate::authz::Authorized;
use crate::error::{ApiError, ErrorKind};
use crate::metrics::RotationOutcome;
use crate::service::{self, EnvRef, WriteMeta, WriteOp};
use crate::state::Domain;
use crate::time::rfc3339;

/// How long a node holds a rotation before another may take it over.
pub const LEASE: Duration = Duration::from_secs(600);
/// First retry delay after a failure; doubles per consecutive failure.
const FIRST_RETRY: Duration = Duration::from_secs(60);
/// Retries are never further apart than this.
const MAX_RETRY: Duration = Duration::from_secs(3600);

/// The error code of a rotation another request or node is running.
pub const BUSY: &str = "rotation_busy";

/// Why an attempt runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Manual,
    Schedule,
    Retry,
    Retire,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::Retry => "retry",
            Trigger::Retire => "retire",
        }
    }
}

/// The delay before retry number `failures` (1 = after the first failure).
pub fn retry_delay(failures: i64) -> Duration {
    let shift = failures.clamp(1, 16) - 1;
    FIRST_RETRY.saturating_mul(1 << shift).min(MAX_RETRY)
}

fn step_failed(step: Step, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorKind::UpstreamFailed,
        "rotation_failed",
        format!("the {step} step failed: {message}"),
    )
}

/// This node's lease on a rotation row taken at `now`.
fn lease(state: &Domain, now: i64) -> Lease {
    Lease {
        holder: state.node.as_str().to_owned(),
        until: now + LEASE.as_millis() as i64,
    }
}

/// Takes the lease of a secret's rotation row for this node, or answers
/// [`BUSY`] when another request or node holds it (or moved it on).
async fn claim(state: &Domain, env: &EnvRef, path: &SecretPath, attempt: i64, now: i64) -> Result<(), ApiError> {
    if state
        .store
        .rotation_claim(env.row.id, path.as_str(), attempt, &lease(state, now), now)
        .await?
    {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorKind::Conflict,
        BUSY,
        format!(
            "{path} is being rotated or retired right now (attempt {}); try again when it has finished",
            attempt + 1
        ),
    ))
}

/// Reads the current value (none when absent, deleted or destroyed).
async fn current_value(
    state: &Domain,
    keyring: &Keys,
    env: &EnvRef,
    path: &SecretPath,
) -> Result<Option<(i64, Zeroizing<String>)>, ApiError> {
    let Some(row) = state
        .store
        .read_version(env.row.id, path.as_str(), Selector::Current)
        .await?
    else {
        return Ok(None);
    };
    if row.destroyed {
        return Ok(None);
    }
    Ok(Some((row.version, service::decrypt(keyring, env, &row)?)))
}

/// The server cannot make or read the values of an end-to-end encrypted
/// environment, so it cannot rotate them.
pub fn refuse_e2e(env: &EnvRef, path: &SecretPath) -> Result<(), ApiError> {
    if env.row.e2e_recipients.is_some() {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "e2e_environment",
            format!(
                "{}/{} is end-to-end encrypted: the server can neither make nor read its values, so it cannot \
                 rotate {path}. Write the new value from a machine that holds an identity (leash secrets set {path}=…)",
                env.project, env.env
            ),
        ));
    }
    Ok(())
}

/// Rotates one secret now. With a policy, the attempt holds the policy's
/// lease; without one, only a one-off `generator` is possible.
pub async fn rotate(
    state: &Domain,
    env: &EnvRef,
    path: &SecretPath,
    trigger: Trigger,
    actor: &str,
    request: &RotateRequest,
) -> Result<RotateResult, ApiError> {
    rotate_if_at(state, env, path, trigger, actor, request, None).await
}

/// A scheduled run: [`rotate`], only while the policy is still at `attempt`,
/// the attempt the scheduler saw due. Another node may have run that attempt
/// since the scheduler read its due list: then the claim fails (`BUSY`)
/// instead of rotating a second time.
pub async fn rotate_due(
    state: &Domain,
    env: &EnvRef,
    path: &SecretPath,
    trigger: Trigger,
    actor: &str,
    attempt: i64,
) -> Result<RotateResult, ApiError> {
    rotate_if_at(
        state,
        env,
        path,
        trigger,
        actor,
        &RotateRequest::default(),
        Some(attempt),
    )
    .await
}

async fn rotate_if_at(
    state: &Domain,
    env: &EnvRef,
    path: &SecretPath,
    trigger: Trigger,
    actor: &str,
    request: &RotateRequest,
    due_attempt: Option<i64>,
) -> Result<RotateResult, ApiError> {
    refuse_e2e(env, path)?;
    let keyring = state.barrier.keyring()?;
    let now = state.clock.now_ms();
    let row = state.store.rotation_get(env.row.id, path.as_str()).await?;
    let checked = match &row {
        Some(r) => Some(CheckedPolicy::from_stored(state, &r.policy)?),
        None => None,
    };
    let (rotator, rotator_name): (Box<dyn Rotator>, &str) = match (&request.generator, &checked) {
        (Some(spec), checked) => {
            if let Some(kind) = checked
                .as_ref()
                .and_then(|c| c.policy.rotator.as_ref())
                .map(|r| r.kind())
            {
                return Err(ApiError::conflict(format!(
                    "{path} is rotated by its {kind} rotator; a one-off generator would change the value in \
                     Leash but not in the target system. Run `leash rotate {path}` without --generator"
                )));
            }
            let generator = spec
                .parse()
                .map_err(|e: leash_core::Error| ApiError::bad_request(e.to_string()))?;
            (Box::new(GeneratorRotator::new(generator)), "generator")
        }
        (None, Some(checked)) => match (build_rotator(state, env, checked).await, &row) {
            (Ok(rotator), _) => (rotator, checked.rotator_name()),
            // A rotator that cannot be built (its admin secret is gone, say) fails the attempt
            // like a failing step: recorded, reported, retried with back-off, not every tick.
            (Err(e), Some(r)) => {
                let at = (trigger, actor);
                return Err(record_setup_failure(state, env, path, r.clone(), at, e).await);
            }
            (Err(e), None) => return Err(e),
        },
        (None, None) => {
            return Err(ApiError::bad_request(format!(
                "{path} has no rotation policy: give a generator for a one-off rotation (--generator password:32) \
                 or set a policy with `leash rotation set {path}`"
            )));
        }
    };
    // Claim the policy (or number a one-off attempt from the history).
    let mut row = match row {
        Some(mut r) => {
            claim(state, env, path, due_attempt.unwrap_or(r.attempt), now).await?;
            if request.now {
                r.pending_ciphertext = None;
                r.pending_key_id = None;
            }
            r.attempt += 1;
            r.state = "running".into();
            r.step = None;
            r.lease = Some(lease(state, now));
            r.updated_at = now;
            state.store.rotation_put(&r).await?;
            Some(r)
        }
        None => None,
    };
    let attempt = match &row {
        Some(r) => r.attempt,
        None => {
            state
                .store
                .rotation_log(env.row.id, path.as_str(), 1)
                .await?
                .first()
                .map_or(0, |l| l.attempt)
                + 1
        }
    };
    let mut log = RotationLogRow {
        env_id: env.row.id,
        path: path.as_str().to_owned(),
        attempt,
        trigger: trigger.as_str().into(),
        actor: actor.to_owned(),
        rotator: rotator_name.to_owned(),
        started_at: now,
        finished_at: None,
        outcome: "running".into(),
        step: None,
        error: None,
        version: None,
    };
    state.store.rotation_log_put(&log).await?;
    let target = Target {
        project: env.project.as_str().to_owned(),
        env: env.env.as_str().to_owned(),
        path: path.as_str().to_owned(),
        attempt,
    };
    let run = Attempt {
        state,
        keyring: &keyring,
        env,
        path,
        rotator: rotator.as_ref(),
        target: &target,
        checked: checked.as_ref(),
        actor,
        revoke_previous: request.revoke_previous,
    };
    let outcome = run.steps(&mut row, &mut log).await;
    let finished = state.clock.now_ms();
    log.finished_at = Some(finished);
    match outcome {
        Ok(result) => {
            state.metrics.rotation_attempt(RotationOutcome::Succeeded);
            log.outcome = "succeeded".into();
            log.version = Some(result.version);
            state.store.rotation_log_put(&log).await?;
            Ok(result)
        }
        Err(e) => {
            state.metrics.rotation_attempt(RotationOutcome::Failed);
            log.outcome = "failed".into();
            log.error = Some(e.message.clone());
            state.store.rotation_log_put(&log).await?;
            if let Some(mut r) = row {
                r.state = "failed".into();
                r.failures += 1;
                r.retry_at = Some(finished + retry_delay(r.failures).as_millis() as i64);
                r.last_error = Some(e.message.clone());
                r.step = log.step.clone();
                r.lease = None;
                r.updated_at = finished;
                state.store.rotation_put(&r).await?;
                return Err(ApiError {
                    message: format!(
                        "rotating {path} failed: {}; the current value is unchanged{}; retrying at {}",
                        e.message,
                        if r.pending_ciphertext.is_some() {
                            ", the pending value is kept (read it with --stage pending)"
                        } else {
                            ""
                        },
                        rfc3339(r.retry_at.unwrap_or(finished))
                    ),
                    ..e
                });
            }
            Err(e)
        }
    }
}

/// Records an attempt that could not start (its rotator could not be built)
/// as a failed attempt of the policy's row, and returns the error to report.
async fn record_setup_failure(
    state: &Domain,
    env: &EnvRef,
    path: &SecretPath,
    mut row: RotationRow,
    (trigger, actor): (Trigger, &str),
    e: ApiError,
) -> ApiError {
    let now = state.clock.now_ms();
    if let Err(busy) = claim(state, env, path, row.attempt, now).await {
        return busy;
    }
    state.metrics.rotation_attempt(RotationOutcome::Failed);
    row.attempt += 1;
    row.state = "failed".into();
    row.step = Some(Step::Create.as_str().into());
    row.failures += 1;
    row.retry_at = Some(now + retry_delay(row.failures).as_millis() as i64);
    row.last_error = Some(format!("the rotator could not be set up: {}", e.message));
    row.lease = None;
    row.updated_at = now;
    let log = RotationLogRow {
        env_id: env.row.id,
        path: path.as_str().to_owned(),
        attempt: row.attempt,
        trigger: trigger.as_str().into(),
        actor: actor.to_owned(),
        rotator: CheckedPolicy::from_stored(state, &row.policy)
            .map_or("unknown", |c| c.rotator_name())
            .into(),
        started_at: now,
        finished_at: Some(now),
        outcome: "failed".into(),
        step: row.step.clone(),
        error: row.last_error.clone(),
        version: None,
    };
    if let Err(store) = state.store.rotation_put(&row).await {
        return store.into();
    }
    if let Err(store) = state.store.rotation_log_put(&log).await {
        return store.into();
    }
    e
}

/// The parts of one attempt.
struct Attempt<'a> {
    state: &'a Domain,
    keyring: &'a Keys,
    env: &'a EnvRef,
    path: &'a SecretPath,
    rotator: &'a dyn Rotator,
    target: &'a Target,
    checked: Option<&'a CheckedPolicy>,
    actor: &'a str,
    revoke_previous: bool,
}

impl Attempt<'_> {
    async fn reached(
        &self,
        step: Step,
        row: &mut Option<RotationRow>,
        log: &mut RotationLogRow,
    ) -> Result<(), ApiError> {
        log.step = Some(step.as_str().into());
        if let Some(r) = row {
            r.step = Some(step.as_str().into());
            r.updated_at = self.state.clock.now_ms();
            self.state.store.rotation_put(r).await?;
        }
        Ok(())
    }

    async fn steps(&self, row: &mut Option<RotationRow>, log: &mut RotationLogRow) -> Result<RotateResult, ApiError> {
        let state = self.state;
        let current = current_value(state, self.keyring, self.env, self.path).await?;
        let current_ref = current.as_ref().map(|(_, v)| v.as_str());
        // create (or resume with the value a failed or interrupted attempt kept)
        log.step = Some(Step::Create.as_str().into());
        let kept = row.as_ref().and_then(|r| r.pending_ciphertext.clone());
        let pending = match kept {
            Some(sealed) => open_pending(self.keyring, self.env, self.path.as_str(), &sealed)?,
            None => {
                let value = self
                    .rotator
                    .create(self.target, current_ref)
                    .await
                    .map_err(|e| step_failed(Step::Create, e))?;
                service::check_value_size(state, self.path, &value)?;
                if let Some(r) = row.as_mut() {
                    let (key_id, sealed) = seal_pending(self.keyring, self.env, self.path.as_str(), &value);
                    r.pending_key_id = Some(key_id);
                    r.pending_ciphertext = Some(sealed);
                }
                value
            }
        };
        self.reached(Step::Create, row, log).await?;
        for step in [Step::Set, Step::Test] {
            let done = match step {
                Step::Set => self.rotator.set(self.target, current_ref, &pending).await,
                _ => self.rotator.test(self.target, &pending).await,
            };
            log.step = Some(step.as_str().into());
            done.map_err(|e| step_failed(step, e))?;
            self.reached(step, row, log).await?;
        }
        // promote: the new value becomes current together with the rotation state.
        let now = state.clock.now_ms();
        let grace = self.checked.map_or(state.rotation.default_grace, |c| c.grace);
        let promoted = row.as_ref().map(|r| {
            let mut r = r.clone();
            r.state = "idle".into();
            r.step = Some(Step::Promote.as_str().into());
            r.pending_key_id = None;
            r.pending_ciphertext = None;
            r.failures = 0;
            r.retry_at = None;
            r.last_error = None;
            r.lease = None;
            r.last_rotated_at = Some(now);
            r.next_due_at = self
                .checked
                .and_then(|c| c.schedule.as_ref())
                .and_then(|s| s.next_due(now, now));
            r.grace_ms = grace.as_millis() as i64;
            // The previous value is retired in the target system when its grace ends.
            r.retire_version = current.as_ref().map(|(v, _)| *v);
            r.retire_at = r.retire_version.map(|_| {
                if self.revoke_previous {
                    now
                } else {
                    now + grace.as_millis() as i64
                }
            });
            r.updated_at = now;
            r
        });
        let op = WriteOp::Set {
            path: self.path.clone(),
            value: pending.clone(),
            description: None,
            origin: None,
        };
        let meta = WriteMeta {
            actor: self.actor,
            message: Some(format!("rotation {} ({})", self.target.attempt, log.rotator)),
            cas: None,
            // Rotation never runs in an end-to-end encrypted environment (see `refuse_e2e`).
            e2e_recipients: None,
        };
        let result = service::write_with_rotation(
            state,
            self.keyring,
            self.env,
            Authorized::rotation(vec![op]),
            meta,
            promoted.as_ref(),
        )
        .await?;
        if let Some(p) = promoted {
            *row = Some(p);
        }
        log.step = Some(Step::Promote.as_str().into());
        let version = result.entries.first().and_then(|e| e.version).unwrap_or_default();
        if let Err(e) = self.rotator.promote(self.target, &pending).await {
            // The value is current already; the target system only missed the notice.
            tracing::warn!(path = %self.path, error = %e, "rotation promoted, but the rotator's promote step failed");
        }
        let mut previous_until = current.as_ref().map(|_| rfc3339(now + grace.as_millis() as i64));
        if self.revoke_previous {
            state
                .store
                .secret_withdraw_previous(self.env.row.id, self.path.as_str(), version)
                .await?;
            previous_until = None;
            if let (Some(r), Some((_, old))) = (row.as_mut(), current.as_ref()) {
                retire_now(state, self.rotator, self.target, r, old).await;
            }
        }
        Ok(RotateResult {
            path: self.path.as_str().to_owned(),
            attempt: self.target.attempt,
            version,
            revision: result.revision,
            previous_version: current.as_ref().map(|(v, _)| *v),
            previous_until,
        })
    }
}

/// Runs the rotator's retire step for `old`; on failure, schedules a retry.
async fn retire_now(state: &Domain, rotator: &dyn Rotator, target: &Target, row: &mut RotationRow, old: &str) {
    let now = state.clock.now_ms();
    match rotator.retire(target, old).await {
        Ok(()) => {
            row.retire_at = None;
            row.retire_version = None;
        }
        Err(e) => {
            row.failures += 1;
            row.retire_at = Some(now + retry_delay(row.failures).as_millis() as i64);
            row.last_error = Some(format!("the retire step failed: {e}"));
        }
    }
    row.updated_at = now;
    if let Err(e) = state.store.rotation_put(row).await {
        tracing::error!(path = %target.path, error = %e, "could not store the outcome of a retire step");
    }
}

/// The retirement of a previous value whose grace period is over: the rotator
/// makes it stop working, and the `previous` stage is withdrawn.
pub async fn retire_due(state: &Domain, env: &EnvRef, path: &SecretPath, mut row: RotationRow) -> Result<(), ApiError> {
    let now = state.clock.now_ms();
    claim(state, env, path, row.attempt, now).await?;
    let checked = CheckedPolicy::from_stored(state, &row.policy)?;
    let keyring = state.barrier.keyring()?;
    row.attempt += 1;
    let target = Target {
        project: env.project.as_str().to_owned(),
        env: env.env.as_str().to_owned(),
        path: path.as_str().to_owned(),
        attempt: row.attempt,
    };
    let mut log = RotationLogRow {
        env_id: env.row.id,
        path: path.as_str().to_owned(),
        attempt: row.attempt,
        trigger: Trigger::Retire.as_str().into(),
        actor: SCHEDULER.into(),
        rotator: checked.rotator_name().into(),
        started_at: now,
        finished_at: None,
        outcome: "running".into(),
        step: Some(Step::Retire.as_str().into()),
        error: None,
        version: row.retire_version,
    };
    // Retire only the value the rotation replaced, and only while the rotated
    // value is still current: after a manual write the old value may be the
    // live credential again, and retiring it would lock services out.
    let head = state.store.heads(env.row.id, &[path.as_str().to_owned()]).await?;
    let still_previous =
        matches!((head.first(), row.retire_version), (Some(h), Some(v)) if !h.deleted && h.latest_version == v + 1);
    let old = match row.retire_version {
        Some(_) if !still_previous => None,
        Some(v) => {
            state
                .store
                .read_version(env.row.id, path.as_str(), Selector::Version(v))
                .await?
        }
        None => None,
    };
    let old = match old {
        Some(v) if !v.destroyed => Some(Zeroizing::new(service::decrypt(&keyring, env, &v)?)),
        _ => None,
    };
    let rotator = build_rotator(state, env, &checked).await;
    row.lease = None;
    match (rotator, old) {
        (Ok(rotator), Some(old)) => retire_now(state, rotator.as_ref(), &target, &mut row, &old).await,
        (Err(e), Some(_)) => {
            row.failures += 1;
            row.retire_at = Some(now + retry_delay(row.failures).as_millis() as i64);
            row.last_error = Some(format!("the retire step failed: {}", e.message));
            row.updated_at = now;
            state.store.rotation_put(&row).await?;
        }
        // Nothing left to retire (destroyed, written over since, or never existed).
        (_, None) => {
            row.retire_at = None;
            row.retire_version = None;
            row.updated_at = now;
            state.store.rotation_put(&row).await?;
        }
    }
    let done = row.retire_at.is_none();
    if done {
        // Only withdraw the stage if the retired version is still the previous one.
        if let Some((head, versions)) = state.store.secret_versions(env.row.id, path.as_str()).await?
            && previous(&head, &versions, grace_of(state, Some(&row))).is_some_and(|p| Some(p.version) == log.version)
        {
            state
                .store
                .secret_withdraw_previous(env.row.id, path.as_str(), head.latest_version)
                .await?;
        }
    }
    log.finished_at = Some(state.clock.now_ms());
    log.outcome = if done { "succeeded" } else { "failed" }.into();
    log.error = if done { None } else { row.last_error.clone() };
    state.store.rotation_log_put(&log).await?;
    Ok(())
}

/// The actor name of scheduled rotations.
pub const SCHEDULER: &str = "leash-scheduler";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop_growing_at_an_hour() {
        assert_eq!(retry_delay(1), Duration::from_secs(60));
        assert_eq!(retry_delay(2), Duration::from_secs(120));
        assert_eq!(retry_delay(3), Duration::from_secs(240));
        assert_eq!(retry_delay(7), Duration::from_secs(3600));
        assert_eq!(retry_delay(1000), Duration::from_secs(3600));
    }
}
