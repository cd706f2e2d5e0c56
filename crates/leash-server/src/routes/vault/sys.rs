//! Vault's `sys/` routes: health, seal status, init, unseal, seal, mounts
//! (every Leash project is a KV v2 mount), the KV preflight and
//! `capabilities-self`. Init, unseal, seal and mount changes call the native
//! handler, so they are checked and recorded exactly as on `/api/v1`.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use leash_core::api::{CreateNamed, InitRequest, UnsealRequest};
use leash_core::names::ProjectName;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{data, no_content, top_and_data};
use crate::audit::{AuditNote, RequestId};
use crate::auth::Caller;
use crate::authz::{Capability, Resource, allows, allows_under, authorize_uniform};
use crate::error::{ApiError, ErrorKind};
use crate::extract::{ApiJson, VaultJson};
use crate::state::AppState;
use crate::vault::{KvAddress, MountConfig, settings};

/// Vault's health answer; the status codes can be chosen by query (`sealedcode=200`, ...).
pub async fn health(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let status = state.barrier.status();
    let (key, default) = match (status.initialized, status.sealed) {
        (false, _) => ("uninitcode", StatusCode::NOT_IMPLEMENTED),
        (true, true) => ("sealedcode", StatusCode::SERVICE_UNAVAILABLE),
        // every Leash node is active: there are no standbys to answer 429 for
        (true, false) => ("activecode", StatusCode::OK),
    };
    let code = match q
        .get(key)
        .map(|c| c.parse::<u16>().ok().and_then(|c| StatusCode::from_u16(c).ok()))
    {
        None => default,
        Some(Some(code)) if (200..600).contains(&code.as_u16()) => code,
        Some(_) => {
            return ApiError::bad_request(format!("{key} must be an HTTP status code between 200 and 599"))
                .into_response();
        }
    };
    let body = json!({
        "initialized": status.initialized,
        "sealed": status.sealed,
        "standby": false,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "replication_perf_mode": "disabled",
        "server_time_utc": crate::time::now_millis() / 1000,
        "version": env!("CARGO_PKG_VERSION"),
        "cluster_name": "leash",
        "cluster_id": "",
    });
    (code, axum::Json(body)).into_response()
}

fn seal_status_body(state: &AppState) -> Value {
    let s = state.barrier.status();
    json!({
        "type": "shamir",
        "initialized": s.initialized,
        "sealed": s.sealed,
        "t": s.threshold,
        "n": s.shares,
        "progress": s.progress,
        "nonce": "",
        "version": env!("CARGO_PKG_VERSION"),
        "build_date": "",
        "migration": false,
        "recovery_seal": false,
        "storage_type": "leash",
    })
}

pub async fn seal_status(State(state): State<AppState>) -> Response {
    axum::Json(seal_status_body(&state)).into_response()
}

pub async fn init_status(State(state): State<AppState>) -> Response {
    axum::Json(json!({ "initialized": state.barrier.status().initialized })).into_response()
}

#[derive(Deserialize, Default)]
pub struct VaultInit {
    secret_shares: Option<u8>,
    secret_threshold: Option<u8>,
    pgp_keys: Option<Vec<String>>,
    root_token_pgp_key: Option<String>,
    recovery_shares: Option<u8>,
    stored_shares: Option<u8>,
}

/// Initialises the server (the native init): `keys` are Leash's printed
/// shares, `keys_base64` the same text in base64 (either unseals).
pub async fn init(State(state): State<AppState>, VaultJson(req): VaultJson<VaultInit>) -> Result<Response, ApiError> {
    if req.pgp_keys.is_some_and(|k| !k.is_empty()) || req.root_token_pgp_key.is_some_and(|k| !k.is_empty()) {
        return Err(ApiError::bad_request(
            "pgp_keys and root_token_pgp_key are not supported: Leash prints the shares and the root token once",
        ));
    }
    if req.recovery_shares.is_some_and(|n| n > 0) || req.stored_shares.is_some_and(|n| n > 0) {
        return Err(ApiError::bad_request(
            "recovery and stored shares are not supported: Leash seals with Shamir shares only",
        ));
    }
    let (Some(shares), Some(threshold)) = (req.secret_shares, req.secret_threshold) else {
        return Err(ApiError::bad_request("give secret_shares and secret_threshold"));
    };
    let axum::Json(done) = super::super::sys::init(State(state), ApiJson(InitRequest { shares, threshold })).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let keys: Vec<&str> = done.unseal_shares.iter().map(String::as_str).collect();
    let keys_base64: Vec<String> = keys.iter().map(|k| b64.encode(k.as_bytes())).collect();
    Ok(axum::Json(json!({ "keys": keys, "keys_base64": keys_base64, "root_token": done.root_token })).into_response())
}

#[derive(Deserialize, Default)]
pub struct VaultUnseal {
    key: Option<String>,
    reset: Option<bool>,
    migrate: Option<bool>,
}

/// A Leash share as given, or its text in base64 (`keys_base64`).
fn share_text(key: &str) -> String {
    let key = key.trim();
    if leash_core::shamir::share_identifier(key).is_ok() {
        return key.to_owned();
    }
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|text| leash_core::shamir::share_identifier(text).is_ok())
        .unwrap_or_else(|| key.to_owned())
}

/// Gives one unseal share (or resets the progress): the native unseal.
pub async fn unseal(
    State(state): State<AppState>,
    VaultJson(req): VaultJson<VaultUnseal>,
) -> Result<Response, ApiError> {
    if req.migrate == Some(true) {
        return Err(ApiError::bad_request("seal migration is not supported by Leash"));
    }
    let request = UnsealRequest {
        share: req.key.as_deref().map(share_text),
        reset: req.reset == Some(true),
    };
    let _status = super::super::sys::unseal(State(state.clone()), ApiJson(request)).await?;
    Ok(axum::Json(seal_status_body(&state)).into_response())
}

/// Seals this node (the native seal, with its `admin` on `sys/seal` check).
pub async fn seal(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let _sealed = super::super::sys::seal(State(state), caller).await?;
    Ok(no_content())
}

/// How a project looks as a Vault mount.
fn mount_info(project: &str, config: &MountConfig) -> Value {
    json!({
        "type": "kv",
        "description": config.description,
        "accessor": format!("kv_{project}"),
        "config": { "default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": false },
        "options": { "version": "2" },
        "local": false,
        "seal_wrap": false,
        "external_entropy_access": false,
        "uuid": "",
        "plugin_version": "",
        "running_plugin_version": "",
        "deprecation_status": "supported",
    })
}

/// The mounts the caller may see: the projects it may list something in.
pub async fn mounts(
    State(state): State<AppState>,
    caller: Caller,
    Extension(id): Extension<RequestId>,
) -> Result<Response, ApiError> {
    let axum::Json(list) = super::super::projects::list(State(state.clone()), caller).await?;
    let mut map = Map::new();
    for project in list.projects {
        let row = crate::service::project(&state, &project.name).await?.1;
        let config = settings::mount_config(&state, &row).await?;
        map.insert(format!("{}/", project.name), mount_info(&project.name, &config));
    }
    Ok(top_and_data(&id, map))
}

/// A mount's name as a project, from a path segment that may end in `/`.
fn mount_name(mount: &str) -> Result<ProjectName, ApiError> {
    Ok(ProjectName::parse(mount.trim_end_matches('/'))?)
}

/// The project behind a mount the caller may see; 403 for one it may not (whether it exists or not).
async fn visible_mount(state: &AppState, caller: &Caller, mount: &str) -> Result<(String, MountConfig), ApiError> {
    let name = mount_name(mount)?;
    let any = [Capability::List, Capability::Read, Capability::Write];
    if !any.iter().any(|c| allows_under(caller, *c, name.as_str())) {
        authorize_uniform(caller, Capability::List, Resource::Project(name.as_str()))?;
    }
    let (_, row) = crate::service::project(state, name.as_str()).await.map_err(|_| {
        ApiError::bad_request(format!(
            "no mount at {name}/: every Leash project is a KV version 2 mount; create it with `leash project create {name}` \
             or `bao secrets enable -path={name} kv-v2`"
        ))
    })?;
    let config = settings::mount_config(state, &row).await?;
    Ok((name.to_string(), config))
}

pub async fn mount(
    State(state): State<AppState>,
    caller: Caller,
    Extension(id): Extension<RequestId>,
    Path(mount): Path<String>,
) -> Result<Response, ApiError> {
    let (name, config) = visible_mount(&state, &caller, &mount).await?;
    Ok(data(&id, mount_info(&name, &config)))
}

#[derive(Deserialize, Default)]
pub struct EnableMount {
    #[serde(rename = "type")]
    kind: Option<String>,
    description: Option<String>,
    options: Option<HashMap<String, String>>,
}

fn check_kv2(kind: &str, options: Option<&HashMap<String, String>>) -> Result<(), ApiError> {
    let version = options.and_then(|o| o.get("version")).map(String::as_str);
    match (kind, version) {
        ("kv-v2", None | Some("2")) | ("kv", Some("2")) => Ok(()),
        ("kv" | "kv-v2", _) => Err(ApiError::bad_request(
            "Leash serves KV version 2 only: enable the mount with options {\"version\": \"2\"} (bao secrets enable kv-v2)",
        )),
        (other, _) => Err(ApiError::bad_request(format!(
            "Leash serves only KV version 2 mounts, not {other:?}: enable {{\"type\": \"kv\", \"options\": {{\"version\": \"2\"}}}}"
        ))),
    }
}

/// Enables a KV v2 mount: creates the project (the native create, with its `admin` check).
pub async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(mount): Path<String>,
    VaultJson(req): VaultJson<EnableMount>,
) -> Result<Response, ApiError> {
    check_kv2(req.kind.as_deref().unwrap_or(""), req.options.as_ref())?;
    let name = mount_name(&mount)?;
    let created = super::super::projects::create(
        State(state.clone()),
        caller,
        ApiJson(CreateNamed { name: name.to_string() }),
    )
    .await;
    match created {
        Ok(_) => {}
        Err(e) if e.code == "already_exists" => {
            return Err(ApiError::bad_request(format!("path is already in use at {name}/")));
        }
        Err(e) => return Err(e),
    }
    if let Some(description) = req.description.filter(|d| !d.is_empty()) {
        let (_, row) = crate::service::project(&state, name.as_str()).await?;
        let config = MountConfig {
            description,
            ..MountConfig::default()
        };
        settings::put_mount_config(&state, &row, &config).await?;
    }
    Ok(no_content())
}

/// Disables a mount: deletes the project with everything in it (the native delete), as Vault does.
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(mount): Path<String>,
) -> Result<Response, ApiError> {
    let name = mount_name(&mount)?;
    super::super::projects::delete(State(state), caller, Path(name.to_string())).await?;
    Ok(no_content())
}

fn tune_body(config: &MountConfig) -> Value {
    json!({
        "default_lease_ttl": 0,
        "max_lease_ttl": 0,
        "force_no_cache": false,
        "description": config.description,
        "options": { "version": "2" },
    })
}

pub async fn tune_read(
    State(state): State<AppState>,
    caller: Caller,
    Extension(id): Extension<RequestId>,
    Path(mount): Path<String>,
) -> Result<Response, ApiError> {
    let (_, config) = visible_mount(&state, &caller, &mount).await?;
    Ok(data(&id, tune_body(&config)))
}

#[derive(Deserialize, Default)]
pub struct Tune {
    description: Option<String>,
    options: Option<HashMap<String, String>>,
    default_lease_ttl: Option<Value>,
    max_lease_ttl: Option<Value>,
}

fn is_zero_ttl(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        Some(Value::String(s)) => s.is_empty() || s == "0" || s == "0s" || s == "system",
        _ => false,
    }
}

/// Tunes a mount: its description (KV settings are `MOUNT/config`); needs `admin` on the project.
pub async fn tune(
    State(state): State<AppState>,
    caller: Caller,
    Path(mount): Path<String>,
    VaultJson(req): VaultJson<Tune>,
) -> Result<Response, ApiError> {
    let name = mount_name(&mount)?;
    authorize_uniform(&caller, Capability::Admin, Resource::Project(name.as_str()))?;
    if !is_zero_ttl(&req.default_lease_ttl) || !is_zero_ttl(&req.max_lease_ttl) {
        return Err(ApiError::bad_request(
            "Leash mounts have no leases: default_lease_ttl and max_lease_ttl cannot be set",
        ));
    }
    if let Some(options) = &req.options {
        check_kv2("kv", Some(options)).or_else(|e| {
            if options.contains_key("version") {
                Err(e)
            } else {
                Ok(())
            }
        })?;
    }
    let (_, row) = crate::service::project(&state, name.as_str()).await?;
    let mut config = settings::mount_config(&state, &row).await?;
    if let Some(description) = req.description {
        config.description = description;
    }
    settings::put_mount_config(&state, &row, &config).await?;
    Ok(no_content())
}

/// The KV preflight Vault's CLI makes before every `kv` command: which mount
/// a path is under, and its version (always 2).
pub async fn preflight(
    State(state): State<AppState>,
    caller: Caller,
    Extension(id): Extension<RequestId>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let mount = path.split('/').next().unwrap_or("");
    let (name, config) = visible_mount(&state, &caller, mount).await?;
    let mut info = mount_info(&name, &config);
    info["path"] = json!(format!("{name}/"));
    Ok(data(&id, info))
}

#[derive(Deserialize, Default)]
pub struct CapabilitiesRequest {
    paths: Option<Vec<String>>,
    path: Option<String>,
}

/// Vault's capability names for a Vault path, from the caller's Leash policies.
fn capabilities(caller: &Caller, vault_path: &str) -> Vec<&'static str> {
    if caller.is_root() {
        return vec!["root"];
    }
    let mut parts = vault_path.trim_matches('/').splitn(3, '/');
    let (mount, kind, rest) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let Ok(address) = KvAddress::parse(mount, rest) else {
        return vec!["deny"];
    };
    let folder = crate::authz::Resource::Secret {
        project: address.project.as_str(),
        env: address.env.as_str(),
        path: address.folder.as_str(),
    }
    .path();
    let may = |c: Capability| allows_under(caller, c, &folder);
    let mut out = Vec::new();
    match kind {
        "data" => {
            if may(Capability::Write) {
                out.extend(["create", "update", "patch"]);
            }
            if may(Capability::Read) {
                out.push("read");
            }
            if may(Capability::Delete) {
                out.push("delete");
            }
        }
        "metadata" => {
            if may(Capability::List) {
                out.extend(["read", "list"]);
            }
            if may(Capability::Write) {
                out.extend(["create", "update", "patch"]);
            }
            if may(Capability::Destroy) && may(Capability::Delete) {
                out.push("delete");
            }
        }
        "delete" | "undelete" if may(Capability::Delete) => out.push("update"),
        "destroy" if may(Capability::Destroy) => out.push("update"),
        "subkeys" if may(Capability::List) => out.push("read"),
        "config" if allows(caller, Capability::Admin, address.project.as_str()) => {
            out.extend(["read", "update"]);
        }
        _ => {}
    }
    if out.is_empty() {
        out.push("deny");
    }
    out
}

/// The caller's capabilities on each Vault path (KV paths; anything else is `deny`).
pub async fn capabilities_self(
    caller: Caller,
    note: AuditNote,
    Extension(id): Extension<RequestId>,
    VaultJson(req): VaultJson<CapabilitiesRequest>,
) -> Result<Response, ApiError> {
    let mut paths = req.paths.unwrap_or_default();
    paths.extend(req.path);
    if paths.is_empty() {
        return Err(ApiError::new(ErrorKind::InvalidInput, "invalid_request", "give paths"));
    }
    note.update(|n| n.path = paths.first().cloned());
    let mut map = Map::new();
    for path in &paths {
        map.insert(path.clone(), json!(capabilities(&caller, path)));
    }
    if paths.len() == 1 {
        map.insert("capabilities".into(), json!(capabilities(&caller, &paths[0])));
    }
    Ok(top_and_data(&id, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kv_version_2_mounts() {
        let v2 = HashMap::from([("version".to_owned(), "2".to_owned())]);
        let v1 = HashMap::from([("version".to_owned(), "1".to_owned())]);
        assert!(check_kv2("kv-v2", None).is_ok());
        assert!(check_kv2("kv", Some(&v2)).is_ok());
        assert!(check_kv2("kv", None).is_err());
        assert!(check_kv2("kv", Some(&v1)).is_err());
        assert!(check_kv2("transit", Some(&v2)).is_err());
    }

    #[test]
    fn a_share_may_come_in_base64() {
        let key = leash_core::crypto::Key256::generate();
        let shares = leash_core::shamir::split(&key, 3, 2).unwrap();
        let share = shares[0].as_str();
        let b64 = base64::engine::general_purpose::STANDARD.encode(share.as_bytes());
        assert_eq!(share_text(share), share);
        assert_eq!(share_text(&b64), share);
        assert_eq!(share_text("not a share"), "not a share");
    }
}
