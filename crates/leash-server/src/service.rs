//! The secrets service: turns API requests into storage change sets and back,
//! calling the barrier to encrypt on the way down and decrypt on the way up.
//!
//! It owns the rules that span several storage calls: next version numbers
//! (with retry when a concurrent writer got there first), size limits,
//! point-in-time reads and rollback. It never decides *who* may act (that is
//! `authz`) and never lets a plaintext value reach storage or a log.

use std::collections::{BTreeMap, BTreeSet};

use crate::barrier::{Keys, VersionAddress};
use leash_core::api::{
    Change, ChangeEntry, ChangeResult, DestroyResult, History, Origin, SecretMetadata, SecretSummary, SecretValue,
    VersionInfo,
};
use leash_core::e2e::Recipients;
use leash_core::names::{EnvName, PathPrefix, ProjectName, SecretPath};
use leash_store::{
    Applied, AppliedEntry, ChangeRow, EnvRow, NewChange, Op, RotationRow, Selector, StoreError, VersionRow,
};
use zeroize::Zeroizing;

use crate::authz::{Authorized, Capability, Touches, Visibility};
use crate::error::{ApiError, ErrorKind};
use crate::state::Domain;
use crate::time::rfc3339;

/// How often a write is retried when another writer bumped a version first.
const WRITE_ATTEMPTS: usize = 8;

/// A validated environment address with its storage row.
pub struct EnvRef {
    pub project: ProjectName,
    pub env: EnvName,
    pub row: EnvRow,
}

/// One requested operation, validated but not yet encrypted.
pub enum WriteOp {
    Set {
        path: SecretPath,
        value: Zeroizing<String>,
        description: Option<String>,
        /// Where the value was moved or copied from (kept in the history).
        origin: Option<Origin>,
    },
    Delete {
        path: SecretPath,
    },
    Undelete {
        path: SecretPath,
    },
}

impl WriteOp {
    pub fn path(&self) -> &SecretPath {
        match self {
            WriteOp::Set { path, .. } | WriteOp::Delete { path } | WriteOp::Undelete { path } => path,
        }
    }

    /// The capability this operation needs on its path (docs/policies.md).
    pub fn capability(&self) -> Capability {
        match self {
            WriteOp::Set { .. } => Capability::Write,
            WriteOp::Delete { .. } | WriteOp::Undelete { .. } => Capability::Delete,
        }
    }
}

/// A change set: one operation per path.
pub type ChangeSet = Vec<WriteOp>;

impl Touches for ChangeSet {
    fn touches(&self) -> Vec<(Capability, &str)> {
        self.iter().map(|op| (op.capability(), op.path().as_str())).collect()
    }
}

/// Who writes, why, and against which revision.
pub struct WriteMeta<'a> {
    pub actor: &'a str,
    pub message: Option<String>,
    pub cas: Option<i64>,
    /// The end-to-end recipients the writer encrypted the new values to
    /// (must be the environment's; `None` for plaintext values).
    pub e2e_recipients: Option<Vec<String>>,
}

/// Looks up a project by name (404 if absent).
pub async fn project(state: &Domain, name: &str) -> Result<(ProjectName, leash_store::ProjectRow), ApiError> {
    let name = ProjectName::parse(name)?;
    let row = state
        .store
        .project_get(name.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("project {name} not found")))?;
    Ok((name, row))
}

/// Looks up an environment by project and name (404 naming which is absent).
/// One storage lookup for both (this runs on every secret request).
pub async fn environment(state: &Domain, project: &str, env: &str) -> Result<EnvRef, ApiError> {
    let project = ProjectName::parse(project)?;
    let env = EnvName::parse(env)?;
    let (_, row) = state
        .store
        .env_by_names(project.as_str(), env.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("project {project} not found")))?;
    let row = row.ok_or_else(|| ApiError::not_found(format!("environment {env} not found in project {project}")))?;
    Ok(EnvRef { project, env, row })
}

/// Where version `version` of `path` in `env` lives (what the barrier binds its value to).
pub(crate) fn address<'a>(env: &'a EnvRef, path: &'a str, version: i64) -> VersionAddress<'a> {
    VersionAddress {
        project: env.project.as_str(),
        env: env.env.as_str(),
        path,
        version,
    }
}

/// Checks a value against the configured limit (413 naming the path).
pub fn check_value_size(state: &Domain, path: &SecretPath, value: &str) -> Result<(), ApiError> {
    let limit = state.limits.max_value_bytes;
    if value.len() > limit {
        return Err(ApiError::too_large(format!(
            "the value of {path} is {} bytes; the limit is {limit} bytes (max_value_bytes)",
            value.len()
        )));
    }
    Ok(())
}

/// Checks a change message or description length.
pub fn check_text(what: &str, text: &Option<String>) -> Result<(), ApiError> {
    const MAX: usize = 4096;
    match text {
        Some(t) if t.len() > MAX => Err(ApiError::bad_request(format!("{what} is longer than {MAX} bytes"))),
        _ => Ok(()),
    }
}

/// Applies `ops` (every path of which was authorized) as one atomic change,
/// encrypting each new version under the active keyring key bound to its
/// project/env/path/version.
pub async fn write(
    state: &Domain,
    keyring: &Keys,
    env: &EnvRef,
    ops: Authorized<ChangeSet>,
    meta: WriteMeta<'_>,
) -> Result<ChangeResult, ApiError> {
    write_with_rotation(state, keyring, env, ops, meta, None).await
}

/// [`write`], also storing `rotation` in the same transaction (a promotion:
/// the new current value and the rotation state land together or not at all).
pub async fn write_with_rotation(
    state: &Domain,
    keyring: &Keys,
    env: &EnvRef,
    ops: Authorized<ChangeSet>,
    meta: WriteMeta<'_>,
    rotation: Option<&RotationRow>,
) -> Result<ChangeResult, ApiError> {
    let ops = ops.into_inner();
    if ops.is_empty() {
        return Err(ApiError::bad_request("a change must contain at least one operation"));
    }
    if ops.len() > state.limits.max_change_ops {
        return Err(ApiError::too_large(format!(
            "the change has {} operations; the limit is {} (max_change_ops)",
            ops.len(),
            state.limits.max_change_ops
        )));
    }
    check_text("the change message", &meta.message)?;
    let has_set = ops.iter().any(|op| matches!(op, WriteOp::Set { .. }));
    let e2e = if has_set {
        crate::e2e::write_recipients(env, meta.e2e_recipients.as_deref())?
    } else {
        None
    };
    let mut seen = BTreeSet::new();
    for op in &ops {
        if !seen.insert(op.path().as_str()) {
            return Err(ApiError::bad_request(format!(
                "path {} appears more than once in one change",
                op.path()
            )));
        }
        if let WriteOp::Set {
            path,
            value,
            description,
            ..
        } = op
        {
            match &e2e {
                Some(recipients) => crate::e2e::check_value(state, recipients, path, value)?,
                None => check_value_size(state, path, value)?,
            }
            check_text("a description", description)?;
        }
    }
    let paths: Vec<String> = ops.iter().map(|op| op.path().as_str().to_owned()).collect();
    for _ in 0..WRITE_ATTEMPTS {
        let heads: BTreeMap<String, i64> = state
            .store
            .heads(env.row.id, &paths)
            .await?
            .into_iter()
            .map(|h| (h.path, h.latest_version))
            .collect();
        let store_ops = ops
            .iter()
            .map(|op| match op {
                WriteOp::Set {
                    path,
                    value,
                    description,
                    origin,
                } => {
                    let version = heads.get(path.as_str()).copied().unwrap_or(0) + 1;
                    Op::Set {
                        path: path.as_str().to_owned(),
                        version,
                        key_id: keyring.active_id(),
                        ciphertext: keyring.seal_version(address(env, path.as_str(), version), value),
                        description: description.clone(),
                        origin: origin.as_ref().map(origin_text),
                    }
                }
                WriteOp::Delete { path } => Op::Delete {
                    path: path.as_str().to_owned(),
                },
                WriteOp::Undelete { path } => Op::Undelete {
                    path: path.as_str().to_owned(),
                },
            })
            .collect();
        let change = NewChange {
            env_id: env.row.id,
            expected_revision: meta.cas,
            actor: meta.actor.to_owned(),
            message: meta.message.clone(),
            created_at: state.clock.now_ms(),
            ops: store_ops,
            e2e_recipients: e2e.as_ref().map(Recipients::to_strings),
        };
        let applied = match rotation {
            Some(row) => state.store.rotation_promote(change, row).await,
            None => state.store.apply_change(change).await,
        };
        match applied {
            Ok(applied) => {
                let paths = applied.entries.iter().map(|e| e.path.clone()).collect();
                state.changes.publish(env.row.id, applied.revision, paths);
                return Ok(change_result(applied));
            }
            Err(StoreError::VersionConflict(_)) => continue,
            Err(StoreError::E2eMismatch { current }) => return Err(crate::e2e::recipients_changed(env, current)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(
        "the secrets were being written by others too often; try again",
    ))
}

fn change_result(applied: Applied) -> ChangeResult {
    ChangeResult {
        revision: applied.revision,
        entries: applied.entries.into_iter().map(change_entry).collect(),
    }
}

/// An origin as the store keeps it (opaque text to the store: JSON).
fn origin_text(origin: &Origin) -> String {
    serde_json::to_string(origin).expect("an origin always serialises")
}

/// An origin as stored; an unreadable one is logged and left out (it is history, not data).
fn read_origin(path: &str, text: &str) -> Option<Origin> {
    serde_json::from_str(text)
        .inspect_err(|err| tracing::warn!(%path, error = %err, "a version's origin is not readable"))
        .ok()
}

/// A stored change entry as the API shows it.
pub fn change_entry(e: AppliedEntry) -> ChangeEntry {
    let origin = e.origin.as_deref().and_then(|text| read_origin(&e.path, text));
    ChangeEntry {
        path: e.path,
        action: e.action.as_str().to_owned(),
        version: e.version,
        origin,
    }
}

/// Checks an `at_revision` against the environment's history.
pub fn check_revision(env: &EnvRef, revision: i64) -> Result<(), ApiError> {
    if revision < 0 {
        return Err(ApiError::bad_request("at_revision must be 0 or more"));
    }
    if revision > env.row.revision {
        return Err(ApiError::not_found(format!(
            "revision {revision} does not exist: environment {} is at revision {}",
            env.env, env.row.revision
        )));
    }
    Ok(())
}

/// The recipients an end-to-end encrypted version is encrypted to: the
/// environment's (every retained e2e version is kept encrypted to the current set).
fn e2e_marking(env: &EnvRef, row: &VersionRow) -> Option<Vec<String>> {
    row.e2e.then(|| env.row.e2e_recipients.clone().unwrap_or_default())
}

/// Opens a stored version (through the barrier); the value stays zeroizing.
pub fn decrypt(keyring: &Keys, env: &EnvRef, row: &VersionRow) -> Result<Zeroizing<String>, ApiError> {
    let Some(ciphertext) = &row.ciphertext else {
        return Err(ApiError::new(
            ErrorKind::Gone,
            "destroyed",
            format!("version {} of {} was destroyed", row.version, row.path),
        ));
    };
    keyring
        .open_version(address(env, &row.path, row.version), ciphertext)
        .map_err(|e| {
            ApiError::internal(
                "decrypting a secret",
                format!(
                    "{e} (project {}, env {}, path {}, version {})",
                    env.project, env.env, row.path, row.version
                ),
            )
        })
}

/// Reads one version of one secret, decrypted.
pub async fn read(
    state: &Domain,
    keyring: &Keys,
    env: &EnvRef,
    path: &SecretPath,
    selector: Selector,
) -> Result<SecretValue, ApiError> {
    if let Selector::AtRevision(r) = selector {
        check_revision(env, r)?;
    }
    let row = state
        .store
        .read_version(env.row.id, path.as_str(), selector)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(match selector {
                Selector::Current => format!("secret {path} not found in {}/{}", env.project, env.env),
                Selector::Version(n) => format!("version {n} of secret {path} not found"),
                Selector::AtRevision(r) => format!("secret {path} did not exist at revision {r}"),
            })
        })?;
    let value = decrypt(keyring, env, &row)?;
    Ok(SecretValue {
        env_var: path.env_var_name(),
        e2e_recipients: e2e_marking(env, &row),
        path: row.path,
        version: row.version,
        revision: row.revision,
        value,
        description: row.description,
        created_at: rfc3339(row.created_at),
    })
}

/// Lists the live secrets under `prefix`, with values when `keyring` is given.
pub async fn list(
    state: &Domain,
    keyring: Option<&Keys>,
    env: &EnvRef,
    prefix: &PathPrefix,
    at_revision: Option<i64>,
    visible: &Visibility<'_>,
) -> Result<(i64, Vec<SecretSummary>), ApiError> {
    if let Some(r) = at_revision {
        check_revision(env, r)?;
    }
    let (revision, rows) = state
        .store
        .list_state(env.row.id, at_revision, keyring.is_some())
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let path = SecretPath::parse(&row.path)?;
        if !path.is_in(prefix) || !visible.shows(path.as_str()) {
            continue;
        }
        let value = match keyring {
            Some(k) if !row.destroyed => Some(decrypt(k, env, &row)?),
            _ => None,
        };
        out.push(SecretSummary {
            env_var: path.env_var_name(),
            e2e_recipients: value.as_ref().and(e2e_marking(env, &row)),
            path: row.path,
            version: row.version,
            description: row.description,
            updated_at: rfc3339(row.created_at),
            value,
        });
    }
    Ok((revision, out))
}

/// What rolling back to revision `to` would do: the change set that restores
/// the environment's state then (paths that differ get a new version carrying
/// the old value; paths that did not exist then are deleted), and the
/// revision it was planned against.
pub struct RollbackPlan {
    pub to: i64,
    pub planned_at: i64,
    pub ops: ChangeSet,
    /// Paths whose version at `to` was destroyed (so the plan cannot be
    /// applied); reported only after the caller was authorized for them.
    pub destroyed: Vec<(SecretPath, i64)>,
}

impl Touches for RollbackPlan {
    fn touches(&self) -> Vec<(Capability, &str)> {
        let destroyed = self
            .destroyed
            .iter()
            .map(|(path, _)| (Capability::Write, path.as_str()));
        self.ops.touches().into_iter().chain(destroyed).collect()
    }
}

/// Plans a rollback to revision `to`; nothing is written.
pub async fn plan_rollback(state: &Domain, keyring: &Keys, env: &EnvRef, to: i64) -> Result<RollbackPlan, ApiError> {
    check_revision(env, to)?;
    let (_, then) = state.store.list_state(env.row.id, Some(to), true).await?;
    let (planned_at, now) = state.store.list_state(env.row.id, None, false).await?;
    let now_versions: BTreeMap<&str, i64> = now.iter().map(|v| (v.path.as_str(), v.version)).collect();
    let mut ops = Vec::new();
    let mut destroyed = Vec::new();
    for row in &then {
        if now_versions.get(row.path.as_str()) == Some(&row.version) {
            continue;
        }
        if row.destroyed {
            destroyed.push((SecretPath::parse(&row.path)?, row.version));
            continue;
        }
        ops.push(WriteOp::Set {
            path: SecretPath::parse(&row.path)?,
            value: decrypt(keyring, env, row)?,
            description: None,
            origin: None,
        });
    }
    let then_paths: BTreeSet<&str> = then.iter().map(|v| v.path.as_str()).collect();
    for row in &now {
        if !then_paths.contains(row.path.as_str()) {
            ops.push(WriteOp::Delete {
                path: SecretPath::parse(&row.path)?,
            });
        }
    }
    if ops.is_empty() && destroyed.is_empty() {
        return Err(ApiError::conflict(format!(
            "environment {} already matches revision {to}; nothing to roll back",
            env.env
        )));
    }
    Ok(RollbackPlan {
        to,
        planned_at,
        ops,
        destroyed,
    })
}

/// Applies an authorized rollback plan as one new change. It commits only if
/// the environment is still at the revision the plan was made against (and
/// at the caller's `cas`, when given), so the paths authorized are the paths
/// changed.
pub async fn rollback(
    state: &Domain,
    keyring: &Keys,
    env: &EnvRef,
    plan: Authorized<RollbackPlan>,
    meta: WriteMeta<'_>,
) -> Result<ChangeResult, ApiError> {
    let (to, planned_at) = (plan.get().to, plan.get().planned_at);
    if let Some((path, version)) = plan.get().destroyed.first() {
        return Err(ApiError::conflict(format!(
            "cannot roll back to revision {to}: version {version} of {path} was destroyed"
        )));
    }
    if let Some(cas) = meta.cas
        && cas != planned_at
    {
        return Err(StoreError::CasMismatch {
            expected: cas,
            actual: planned_at,
        }
        .into());
    }
    // Retained e2e versions are encrypted to the current recipients, so
    // their ciphertext is copied as it is (the write checks the set again).
    let meta = WriteMeta {
        message: meta.message.or_else(|| Some(format!("rollback to revision {to}"))),
        e2e_recipients: env.row.e2e_recipients.clone(),
        cas: Some(planned_at),
        ..meta
    };
    write(state, keyring, env, plan.map(|p| p.ops), meta).await
}

/// Wipes the data of `versions` of `path` (all when `None`); metadata stays.
pub async fn destroy(
    state: &Domain,
    env: &EnvRef,
    path: &SecretPath,
    versions: Option<&[i64]>,
) -> Result<DestroyResult, ApiError> {
    let destroyed = state
        .store
        .destroy_versions(env.row.id, path.as_str(), versions)
        .await?;
    Ok(DestroyResult {
        path: path.as_str().to_owned(),
        destroyed,
    })
}

/// A secret's versions and description, without values.
pub async fn metadata(state: &Domain, env: &EnvRef, path: &SecretPath) -> Result<SecretMetadata, ApiError> {
    let (head, versions) = state
        .store
        .secret_versions(env.row.id, path.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("secret {path} not found in {}/{}", env.project, env.env)))?;
    let current = (!head.deleted).then_some(head.latest_version);
    Ok(SecretMetadata {
        env_var: path.env_var_name(),
        path: head.path,
        description: head.description,
        current_version: current,
        versions: versions
            .into_iter()
            .map(|v| VersionInfo {
                version: v.version,
                revision: v.revision,
                actor: v.actor,
                created_at: rfc3339(v.created_at),
                current: Some(v.version) == current,
                destroyed: v.destroyed,
                origin: v.origin.as_deref().and_then(|text| read_origin(&v.path, text)),
            })
            .collect(),
    })
}

/// The environment's changes, newest first, as `visible` lets the caller see
/// them: entries it may not see are dropped, and a change none of whose paths
/// it may see is left out whole.
pub async fn history(
    state: &Domain,
    env: &EnvRef,
    before: Option<i64>,
    limit: i64,
    visible: &Visibility<'_>,
) -> Result<History, ApiError> {
    let changes = state
        .store
        .history(env.row.id, before, limit)
        .await?
        .into_iter()
        .filter_map(|c| {
            let touched = !c.entries.is_empty();
            let entries: Vec<_> = c
                .entries
                .into_iter()
                .filter(|e| visible.shows(&e.path))
                .map(change_entry)
                .collect();
            (!touched || !entries.is_empty()).then(|| Change {
                revision: c.revision,
                actor: c.actor,
                message: c.message,
                created_at: rfc3339(c.created_at),
                entries,
            })
        })
        .collect();
    Ok(History { changes })
}

/// The environment's changes after revision `after`, oldest first, at most `limit` (watch backlogs).
pub async fn changes_since(state: &Domain, env_id: i64, after: i64, limit: i64) -> Result<Vec<ChangeRow>, ApiError> {
    Ok(state.store.changes_since(env_id, after, limit).await?)
}
