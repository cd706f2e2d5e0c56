//! The stages of a secret's versions. `current` is the latest live version.
//! `previous` is the version before it, served until the current version is
//! `grace` old, or until it is withdrawn (emergency rotation, or the
//! rotator's retire step); after that it is *retired*: still in history
//! (`version=N`), no longer served as a stage. `pending` is a rotation's value
//! in flight, kept encrypted in the rotation state until promoted.

use std::time::Duration;

use leash_core::api::SecretValue;
use leash_core::crypto::Sealed;

use crate::barrier::Keys;
use leash_core::names::SecretPath;
use leash_store::{RotationRow, SecretHead, VersionRow};
use zeroize::Zeroizing;

use crate::error::{ApiError, ErrorKind};
use crate::service::EnvRef;
use crate::state::Domain;
use crate::time::rfc3339;

/// Which stage a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Current,
    Previous,
    Pending,
}

impl Stage {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "current" => Ok(Stage::Current),
            "previous" => Ok(Stage::Previous),
            "pending" => Ok(Stage::Pending),
            other => Err(ApiError::bad_request(format!(
                "unknown stage {other:?}; use current, previous or pending"
            ))),
        }
    }
}

/// Where the `previous` stage of a secret stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub version: i64,
    /// When it stops (or stopped) being served.
    pub until: i64,
    /// Withdrawn before its grace period ended.
    pub withdrawn: bool,
}

impl Previous {
    pub fn served_at(&self, now: i64) -> bool {
        !self.withdrawn && now < self.until
    }
}

/// The `previous` stage from a secret's head and versions, given its grace period.
pub fn previous(head: &SecretHead, versions: &[VersionRow], grace: Duration) -> Option<Previous> {
    if head.deleted || head.latest_version < 2 {
        return None;
    }
    let current = versions.iter().find(|v| v.version == head.latest_version)?;
    let prev = versions.iter().find(|v| v.version == head.latest_version - 1)?;
    if prev.destroyed {
        return None;
    }
    Some(Previous {
        version: prev.version,
        until: current.created_at.saturating_add(grace.as_millis() as i64),
        withdrawn: head.previous_withdrawn_for == Some(head.latest_version),
    })
}

/// The grace period of a secret: its policy's, else the server default.
pub fn grace_of(state: &Domain, rotation: Option<&RotationRow>) -> Duration {
    rotation.map_or(state.rotation.default_grace, |r| {
        Duration::from_millis(r.grace_ms.max(0) as u64)
    })
}

/// The version number served as `previous` now, or why there is none.
pub async fn previous_version(state: &Domain, env: &EnvRef, path: &SecretPath) -> Result<i64, ApiError> {
    let not_found = || ApiError::not_found(format!("secret {path} has no previous version"));
    let (head, versions) = state
        .store
        .secret_versions(env.row.id, path.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("secret {path} not found in {}/{}", env.project, env.env)))?;
    let rotation = state.store.rotation_get(env.row.id, path.as_str()).await?;
    let previous = self::previous(&head, &versions, grace_of(state, rotation.as_ref())).ok_or_else(not_found)?;
    if !previous.served_at(state.clock.now_ms()) {
        return Err(ApiError::new(
            ErrorKind::Gone,
            "retired",
            format!(
                "the previous version ({}) of {path} is retired ({}); read it from history with version={} if you must",
                previous.version,
                if previous.withdrawn {
                    "withdrawn by an emergency rotation or its rotator's retire step".to_owned()
                } else {
                    format!("its grace period ended at {}", rfc3339(previous.until))
                },
                previous.version
            ),
        ));
    }
    Ok(previous.version)
}

/// Encrypts a pending value for the rotation state (through the barrier, bound to its secret).
pub fn seal_pending(keyring: &Keys, env: &EnvRef, path: &str, value: &str) -> (u32, Sealed) {
    (
        keyring.active_id(),
        keyring.seal_pending(env.project.as_str(), env.env.as_str(), path, value),
    )
}

/// Decrypts a pending value kept in the rotation state.
pub fn open_pending(keyring: &Keys, env: &EnvRef, path: &str, sealed: &Sealed) -> Result<Zeroizing<String>, ApiError> {
    keyring
        .open_pending(env.project.as_str(), env.env.as_str(), path, sealed)
        .map_err(|e| ApiError::internal("decrypting a pending rotation value", format!("{e} (path {path})")))
}

/// The pending value of a rotation in flight (or kept after a failure).
pub async fn pending_value(
    state: &Domain,
    keyring: &Keys,
    env: &EnvRef,
    path: &SecretPath,
) -> Result<SecretValue, ApiError> {
    let row = state.store.rotation_get(env.row.id, path.as_str()).await?;
    let Some((row, sealed)) = row.and_then(|r| r.pending_ciphertext.clone().map(|c| (r, c))) else {
        return Err(ApiError::not_found(format!("secret {path} has no pending value")));
    };
    let value = open_pending(keyring, env, path.as_str(), &sealed)?;
    let head = state.store.heads(env.row.id, &[path.as_str().to_owned()]).await?;
    Ok(SecretValue {
        path: path.as_str().to_owned(),
        env_var: path.env_var_name(),
        // Not a version yet: the number it will get when promoted.
        version: head.first().map_or(1, |h| h.latest_version + 1),
        revision: env.row.revision,
        value,
        description: None,
        created_at: rfc3339(row.updated_at),
        // Pending values exist only outside end-to-end encrypted environments.
        e2e_recipients: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: i64, created_at: i64, destroyed: bool) -> VersionRow {
        VersionRow {
            path: "K".into(),
            version: v,
            revision: v,
            key_id: 1,
            ciphertext: None,
            destroyed,
            actor: "a".into(),
            created_at,
            description: None,
            e2e: false,
            origin: None,
        }
    }

    fn head(latest: i64, withdrawn_for: Option<i64>) -> SecretHead {
        SecretHead {
            path: "K".into(),
            description: None,
            latest_version: latest,
            deleted: false,
            updated_at: 0,
            previous_withdrawn_for: withdrawn_for,
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn previous_is_served_for_the_grace_period_after_the_current_version() {
        let versions = [version(1, 1_000, false), version(2, 5_000, false)];
        let p = previous(&head(2, None), &versions, HOUR).unwrap();
        assert_eq!(p.version, 1);
        assert!(p.served_at(5_000 + 3_599_999));
        assert!(!p.served_at(5_000 + 3_600_000));
    }

    #[test]
    fn withdrawing_retires_previous_until_the_next_version() {
        let versions = [version(1, 1_000, false), version(2, 5_000, false)];
        assert!(!previous(&head(2, Some(2)), &versions, HOUR).unwrap().served_at(5_001));
        // A withdrawal made while an older version was current is about an older pair.
        assert!(previous(&head(2, Some(1)), &versions, HOUR).unwrap().served_at(5_001));
    }

    #[test]
    fn no_previous_for_a_first_version_a_destroyed_one_or_a_deleted_secret() {
        assert!(previous(&head(1, None), &[version(1, 1, false)], HOUR).is_none());
        let versions = [version(1, 1, true), version(2, 2, false)];
        assert!(previous(&head(2, None), &versions, HOUR).is_none());
        let mut deleted = head(2, None);
        deleted.deleted = true;
        assert!(previous(&deleted, &[version(1, 1, false), version(2, 2, false)], HOUR).is_none());
    }
}
