//! The KV settings Vault clients set: a mount's configuration (`MOUNT/config`)
//! and a secret's metadata (`max_versions`, `cas_required`,
//! `custom_metadata`), kept as JSON documents ([`DocumentKind::VaultSettings`]).
//!
//! A document's name carries its project's (or environment's) creation time,
//! so the settings of a deleted project or environment never come back with
//! a new one of the same name. Never holds a secret value.

use std::collections::BTreeMap;

use leash_store::{DocumentKind, ProjectRow};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::service::EnvRef;
use crate::state::Domain;
use crate::time::now_millis;

/// How many custom metadata entries a secret may carry, and how long each may be (Vault's limits).
pub const MAX_CUSTOM_METADATA: usize = 64;
pub const MAX_CUSTOM_KEY_BYTES: usize = 128;
pub const MAX_CUSTOM_VALUE_BYTES: usize = 512;

/// A mount's KV configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountConfig {
    /// Versions kept per secret (0: all).
    #[serde(default)]
    pub max_versions: u32,
    /// Every write must give `cas`.
    #[serde(default)]
    pub cas_required: bool,
    #[serde(default)]
    pub description: String,
}

/// One Vault secret's own settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSettings {
    #[serde(default)]
    pub max_versions: u32,
    #[serde(default)]
    pub cas_required: bool,
    #[serde(default)]
    pub custom_metadata: BTreeMap<String, String>,
}

/// What applies to one secret: its own settings over its mount's.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    pub max_versions: u32,
    pub cas_required: bool,
    pub custom_metadata: Option<BTreeMap<String, String>>,
}

impl Effective {
    pub fn of(mount: &MountConfig, secret: Option<&SecretSettings>) -> Self {
        Self {
            max_versions: secret
                .map(|s| s.max_versions)
                .filter(|n| *n > 0)
                .unwrap_or(mount.max_versions),
            cas_required: mount.cas_required || secret.is_some_and(|s| s.cas_required),
            custom_metadata: secret.map(|s| s.custom_metadata.clone()).filter(|m| !m.is_empty()),
        }
    }
}

fn mount_name(project: &ProjectRow) -> String {
    format!("mount/{}@{}", project.name, project.created_at)
}

fn secret_name(env: &EnvRef, folder: &str) -> String {
    format!("secret/{}/{}@{}/{folder}", env.project, env.env, env.row.created_at)
}

async fn get<T: for<'de> Deserialize<'de> + Default>(state: &Domain, name: &str) -> Result<Option<T>, ApiError> {
    match state.store.document_get(DocumentKind::VaultSettings, name).await? {
        Some(doc) => serde_json::from_str(&doc.body)
            .map(Some)
            .map_err(|e| ApiError::internal("reading Vault settings", e)),
        None => Ok(None),
    }
}

async fn put<T: Serialize>(state: &Domain, name: &str, value: &T) -> Result<(), ApiError> {
    let body = serde_json::to_string(value).map_err(|e| ApiError::internal("writing Vault settings", e))?;
    state
        .store
        .document_put(DocumentKind::VaultSettings, name, &body, now_millis())
        .await?;
    Ok(())
}

/// A mount's configuration (the defaults when none was set).
pub async fn mount_config(state: &Domain, project: &ProjectRow) -> Result<MountConfig, ApiError> {
    Ok(get(state, &mount_name(project)).await?.unwrap_or_default())
}

pub async fn put_mount_config(state: &Domain, project: &ProjectRow, config: &MountConfig) -> Result<(), ApiError> {
    put(state, &mount_name(project), config).await
}

/// A secret's own settings, if any were set.
pub async fn secret_settings(state: &Domain, env: &EnvRef, folder: &str) -> Result<Option<SecretSettings>, ApiError> {
    get(state, &secret_name(env, folder)).await
}

pub async fn put_secret_settings(
    state: &Domain,
    env: &EnvRef,
    folder: &str,
    settings: &SecretSettings,
) -> Result<(), ApiError> {
    check_custom_metadata(&settings.custom_metadata)?;
    put(state, &secret_name(env, folder), settings).await
}

pub async fn delete_secret_settings(state: &Domain, env: &EnvRef, folder: &str) -> Result<(), ApiError> {
    state
        .store
        .document_delete(DocumentKind::VaultSettings, &secret_name(env, folder))
        .await?;
    Ok(())
}

/// Vault's limits on custom metadata: at most 64 entries, keys up to 128 bytes, values up to 512.
pub fn check_custom_metadata(metadata: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if metadata.len() > MAX_CUSTOM_METADATA {
        return Err(ApiError::bad_request(format!(
            "custom_metadata has {} entries; at most {MAX_CUSTOM_METADATA} are allowed",
            metadata.len()
        )));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.len() > MAX_CUSTOM_KEY_BYTES {
            return Err(ApiError::bad_request(format!(
                "a custom_metadata key must be 1 to {MAX_CUSTOM_KEY_BYTES} bytes long"
            )));
        }
        if value.len() > MAX_CUSTOM_VALUE_BYTES {
            return Err(ApiError::bad_request(format!(
                "custom_metadata value of {key:?} is longer than {MAX_CUSTOM_VALUE_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

/// `delete_version_after`: Leash does not delete versions by age, so only a
/// zero duration (or none) is accepted.
pub fn check_delete_version_after(value: Option<&serde_json::Value>) -> Result<(), ApiError> {
    let zero = match value {
        None | Some(serde_json::Value::Null) => true,
        Some(serde_json::Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(serde_json::Value::String(s)) => {
            s.is_empty() || humantime::parse_duration(s).is_ok_and(|d| d.is_zero()) || s.trim() == "0"
        }
        Some(_) => false,
    };
    if zero {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "delete_version_after is not supported: Leash does not delete versions by age \
             (use max_versions, destroy, or a rotation policy); send 0s or leave it out",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_setting_wins_over_its_mount() {
        let mount = MountConfig {
            max_versions: 10,
            cas_required: false,
            description: String::new(),
        };
        assert_eq!(Effective::of(&mount, None).max_versions, 10);
        let own = SecretSettings {
            max_versions: 3,
            cas_required: true,
            custom_metadata: BTreeMap::new(),
        };
        let e = Effective::of(&mount, Some(&own));
        assert_eq!((e.max_versions, e.cas_required, e.custom_metadata), (3, true, None));
        let strict = MountConfig {
            cas_required: true,
            ..mount
        };
        assert!(Effective::of(&strict, Some(&SecretSettings::default())).cas_required);
    }

    #[test]
    fn only_a_zero_delete_version_after_is_accepted() {
        use serde_json::json;
        for ok in [
            None,
            Some(json!(null)),
            Some(json!("0s")),
            Some(json!("0")),
            Some(json!(0)),
            Some(json!("")),
        ] {
            assert!(check_delete_version_after(ok.as_ref()).is_ok(), "{ok:?}");
        }
        for bad in [json!("1h"), json!(30), json!(true), json!("soon")] {
            assert!(check_delete_version_after(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn custom_metadata_limits() {
        let mut m = BTreeMap::new();
        m.insert("owner".to_owned(), "team".to_owned());
        assert!(check_custom_metadata(&m).is_ok());
        m.insert("x".repeat(129), String::new());
        assert!(check_custom_metadata(&m).is_err());
        let many: BTreeMap<_, _> = (0..65).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_custom_metadata(&many).is_err());
    }
}
