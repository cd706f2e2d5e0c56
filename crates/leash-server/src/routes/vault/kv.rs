//! KV version 2 under a mount (`/v1/MOUNT/data|metadata|delete|undelete|destroy|subkeys|config/...`).
//!
//! Each handler locates the folder ([`KvAddress`]), authorizes before it
//! looks anything up (the folder as a whole, then every key a plan touches,
//! through `authz`'s uniform checks: every refusal is 403, as in Vault, so the
//! answer tells nothing about what exists), and applies changes only through
//! `service::write` with the environment revision it read as CAS, so a write
//! is exactly the change it planned or nothing (retried when another change
//! of the environment came first).

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use leash_core::names::PathPrefix;
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{Int, ListFlag, data, empty_not_found, no_content, vault_time};
use crate::audit::{AuditNote, RequestId};
use crate::auth::Caller;
use crate::authz::{
    Capability, Resource, Visibility, allows, authorize_each_uniform, authorize_under_uniform, authorize_uniform,
};
use crate::error::ApiError;
use crate::extract::VaultJson;
use crate::service::{self, ChangeSet, EnvRef, WriteMeta};
use crate::state::AppState;
use crate::vault::folder::VersionRead;
use crate::vault::settings::{self, Effective, SecretSettings, check_custom_metadata, check_delete_version_after};
use crate::vault::{Folder, FolderVersion, KvAddress};

type MountPath = Path<(String, String)>;

/// How often a change is planned again when another change of its environment
/// committed first (each commit of an environment lets one planned change
/// through, so busy environments need a few rounds).
const PLAN_ATTEMPTS: u32 = 64;

/// A short pause before planning again, growing with the attempt and jittered
/// so that writers that collided do not collide again in step.
async fn back_off(attempt: u32) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let ceiling = u64::from(attempt.min(20)) * 500;
    let micros = u64::from(nanos) % (ceiling + 1);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

/// The address of a request, noted for its audit record.
fn locate(note: &AuditNote, mount: &str, path: &str) -> Result<KvAddress, ApiError> {
    let address = KvAddress::parse(mount, path)?;
    note.update(|n| {
        n.project = Some(address.project.to_string());
        n.env = Some(address.env.to_string());
        n.path = Some(address.folder.as_str().to_owned());
    });
    Ok(address)
}

/// The environment of an address; end-to-end encrypted ones are refused (the
/// server cannot read their values, so it cannot serve Vault's shapes).
async fn environment(state: &AppState, address: &KvAddress) -> Result<EnvRef, ApiError> {
    let env = service::environment(state, address.project.as_str(), address.env.as_str()).await?;
    if env.row.e2e_recipients.is_some() {
        return Err(ApiError::bad_request(format!(
            "environment {}/{} is end-to-end encrypted: its values are age files the server cannot read; \
             use the leash CLI with an identity",
            address.project, address.env
        )));
    }
    Ok(env)
}

/// The environment for a write: created when missing if the caller may
/// create it (`admin` on it, as `leash env create` needs), since Vault clients
/// expect a write to make its path.
async fn environment_for_write(state: &AppState, caller: &Caller, address: &KvAddress) -> Result<EnvRef, ApiError> {
    match environment(state, address).await {
        Err(e) if e.status() == StatusCode::NOT_FOUND => {
            let env = Resource::Environment {
                project: address.project.as_str(),
                env: address.env.as_str(),
            };
            if !allows(caller, Capability::Admin, &env.path()) {
                return Err(e);
            }
            match crate::projects::create_env(state, address.project.as_str(), &address.env).await {
                Ok(_) => {}
                // another writer created it first
                Err(e) if e.code == "already_exists" => {}
                Err(e) => return Err(e),
            }
            environment(state, address).await
        }
        other => other,
    }
}

async fn effective(state: &AppState, env: &EnvRef, address: &KvAddress) -> Result<Effective, ApiError> {
    let (_, project) = service::project(state, address.project.as_str()).await?;
    let mount = settings::mount_config(state, &project).await?;
    let own = settings::secret_settings(state, env, address.folder.as_str()).await?;
    Ok(Effective::of(&mount, own.as_ref()))
}

/// A version's metadata as Vault shows it.
fn version_metadata(folder: &Folder, v: &FolderVersion, custom: &Option<BTreeMap<String, String>>) -> Value {
    json!({
        "created_time": vault_time(Some(v.created_at)),
        "custom_metadata": custom,
        "deletion_time": vault_time(folder.deletion_of(v)),
        "destroyed": v.destroyed,
        "version": v.number,
    })
}

#[derive(Deserialize, Default)]
pub struct VersionQuery {
    version: Option<String>,
    depth: Option<String>,
}

fn version_number(q: &VersionQuery) -> Result<i64, ApiError> {
    match q.version.as_deref() {
        None | Some("") => Ok(0),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::bad_request("version must be a whole number (0 for the current one)")),
    }
}

/// The version a read asks for (0: the current one), if the secret keeps it.
fn chosen<'f>(folder: &'f Folder, number: i64, effective: &Effective) -> Option<&'f FolderVersion> {
    let number = if number == 0 { folder.current_number() } else { number };
    (number >= folder.oldest_kept(effective.max_versions))
        .then(|| folder.version(number))
        .flatten()
}

/// Reads one version: `GET MOUNT/data/PATH?version=N`. A deleted or destroyed
/// version is 404 with its metadata, as in Vault.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Extension(id): Extension<RequestId>,
    Path((mount, path)): MountPath,
    Query(q): Query<VersionQuery>,
) -> Result<Response, ApiError> {
    let address = locate(&note, &mount, &path)?;
    authorize_under_uniform(&caller, Capability::Read, address.resource())?;
    let number = version_number(&q)?;
    let env = environment(&state, &address).await?;
    let folder = Folder::load(&state, &env, &address).await?;
    let effective = effective(&state, &env, &address).await?;
    let Some(v) = chosen(&folder, number, &effective).filter(|_| folder.exists()) else {
        return Ok(empty_not_found());
    };
    for (path, _) in folder.keys_at(&state, &env, v).await? {
        authorize_uniform(&caller, Capability::Read, key_resource(&address, path.as_str()))?;
    }
    let keyring = state.barrier.keyring()?;
    let metadata = version_metadata(&folder, v, &effective.custom_metadata);
    match folder.read(&state, &keyring, &env, v).await? {
        VersionRead::Data(values) => {
            let values: serde_json::Map<String, Value> = values
                .into_iter()
                .map(|(k, v)| (k, Value::String(v.to_string())))
                .collect();
            Ok(data(&id, json!({ "data": values, "metadata": metadata })))
        }
        VersionRead::Deleted(_) | VersionRead::Destroyed => {
            let mut response = data(&id, json!({ "data": null, "metadata": metadata }));
            *response.status_mut() = StatusCode::NOT_FOUND;
            Ok(response)
        }
    }
}

fn key_resource<'a>(address: &'a KvAddress, path: &'a str) -> Resource<'a> {
    Resource::Secret {
        project: address.project.as_str(),
        env: address.env.as_str(),
        path,
    }
}

#[derive(Deserialize, Default)]
pub struct Options {
    cas: Option<Int>,
}

/// A write's or a patch's body: `{"data": {...}, "options": {"cas": N}}`.
#[derive(Deserialize, Default)]
pub struct WriteBody {
    data: Option<BTreeMap<String, Value>>,
    options: Option<Options>,
}

/// A Vault value as Leash text: strings as they are, numbers and booleans as
/// their JSON text; anything else is refused, naming the key.
fn text_value(key: &str, value: Value) -> Result<Zeroizing<String>, ApiError> {
    match value {
        Value::String(s) => Ok(Zeroizing::new(s)),
        Value::Number(n) => Ok(Zeroizing::new(n.to_string())),
        Value::Bool(b) => Ok(Zeroizing::new(b.to_string())),
        Value::Null => Err(ApiError::bad_request(format!(
            "key {key:?} is null: a write gives every key a value (a patch removes a key with null)"
        ))),
        Value::Array(_) | Value::Object(_) => Err(ApiError::bad_request(format!(
            "key {key:?} holds a JSON array or object: Leash keeps each key as text, so store it as a string"
        ))),
    }
}

fn check_cas(folder: &Folder, effective: &Effective, cas: Option<i64>) -> Result<(), ApiError> {
    match cas {
        None if effective.cas_required => Err(ApiError::bad_request("check-and-set parameter required for this call")),
        Some(c) if c != folder.current_number() => Err(ApiError::bad_request(
            "check-and-set parameter did not match the current version",
        )),
        _ => Ok(()),
    }
}

/// What a plan makes of a folder: the change set, and for a new version the
/// key versions that fall out of `max_versions` (destroyed after the change).
struct Plan {
    ops: ChangeSet,
    trim: Vec<(leash_core::names::SecretPath, Vec<i64>)>,
}

/// Plans (with `plan`), authorizes and applies a change of one folder, with
/// the environment revision it was planned against as CAS; plans again when
/// another change of the environment committed first. Answers the folder as
/// it was planned on and the change's revision (`None`: nothing to do).
async fn apply(
    state: &AppState,
    caller: &Caller,
    address: &KvAddress,
    create_env: bool,
    mut plan: impl FnMut(&Folder, &Effective) -> Result<Plan, ApiError>,
) -> Result<Option<(Folder, Effective)>, ApiError> {
    let keyring = state.barrier.keyring()?;
    for attempt in 1..=PLAN_ATTEMPTS {
        let env = if create_env {
            environment_for_write(state, caller, address).await?
        } else {
            environment(state, address).await?
        };
        let folder = Folder::load(state, &env, address).await?;
        let effective = effective(state, &env, address).await?;
        let Plan { ops, trim } = plan(&folder, &effective)?;
        if ops.is_empty() {
            return Ok(None);
        }
        for (path, _) in &trim {
            authorize_uniform(caller, Capability::Destroy, key_resource(address, path.as_str()))?;
        }
        let ops = authorize_each_uniform(caller, address.project.as_str(), address.env.as_str(), ops)?;
        let meta = WriteMeta {
            actor: caller.actor(),
            message: None,
            cas: Some(env.row.revision),
            e2e_recipients: None,
        };
        match service::write(state, &keyring, &env, ops, meta).await {
            Ok(_) => {
                for (path, versions) in &trim {
                    service::destroy(state, &env, path, Some(versions)).await?;
                }
                return Ok(Some((folder, effective)));
            }
            Err(e) if e.code == "cas_mismatch" && attempt < PLAN_ATTEMPTS => back_off(attempt).await,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::new(
        crate::error::ErrorKind::Unavailable,
        "busy",
        "the environment kept changing while this write was planned; try again",
    ))
}

/// The key versions a new version pushes out of `max_versions`.
fn trimmed(folder: &Folder, effective: &Effective) -> Vec<(leash_core::names::SecretPath, Vec<i64>)> {
    if effective.max_versions == 0 {
        return Vec::new();
    }
    let next = folder.current_number() + 1;
    let oldest = (next - i64::from(effective.max_versions) + 1).max(1);
    let out: Vec<i64> = folder
        .versions
        .iter()
        .filter(|v| v.number < oldest && !v.destroyed)
        .map(|v| v.number)
        .collect();
    folder.destroy_targets(&out)
}

/// The metadata of the version a write made.
fn written(folder: &Folder, effective: &Effective) -> Value {
    json!({
        "created_time": vault_time(Some(crate::time::now_millis())),
        "custom_metadata": effective.custom_metadata,
        "deletion_time": "",
        "destroyed": false,
        "version": folder.current_number() + 1,
    })
}

/// The `data` and the `cas` of a write's or a patch's body.
fn data_and_cas(body: WriteBody) -> Result<(BTreeMap<String, Value>, Option<i64>), ApiError> {
    let data = body
        .data
        .ok_or_else(|| ApiError::bad_request("no data provided: send {\"data\": {\"key\": \"value\"}}"))?;
    Ok((data, body.options.and_then(|o| o.cas).map(|Int(n)| n)))
}

/// Applies a change that makes a new version (a write or a patch): CAS as
/// Vault checks it, the change set from `ops`, the trimming by `max_versions`;
/// answers the new version's metadata.
async fn new_version(
    state: &AppState,
    caller: &Caller,
    id: &RequestId,
    address: &KvAddress,
    create_env: bool,
    cas: Option<i64>,
    mut ops: impl FnMut(&Folder) -> Result<ChangeSet, ApiError>,
) -> Result<Response, ApiError> {
    let done = apply(state, caller, address, create_env, |folder, effective| {
        check_cas(folder, effective, cas)?;
        Ok(Plan {
            ops: ops(folder)?,
            trim: trimmed(folder, effective),
        })
    })
    .await?;
    let (folder, effective) = done.ok_or_else(|| ApiError::internal("writing a Vault secret", "empty plan"))?;
    Ok(data(id, written(&folder, &effective)))
}

/// Writes a new version: `POST/PUT MOUNT/data/PATH {"data": {...}, "options": {"cas": N}}`.
pub async fn write(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Extension(id): Extension<RequestId>,
    Path((mount, path)): MountPath,
    VaultJson(body): VaultJson<WriteBody>,
) -> Result<Response, ApiError> {
    let address = locate(&note, &mount, &path)?;
    authorize_under_uniform(&caller, Capability::Write, address.resource())?;
    let (raw, cas) = data_and_cas(body)?;
    let mut values = BTreeMap::new();
    for (key, value) in raw {
        values.insert(key.clone(), text_value(&key, value)?);
    }
    new_version(&state, &caller, &id, &address, true, cas, |folder| {
        folder.plan_write(&address, values.clone())
    })
    .await
}

/// A JSON merge patch of the current version: `PATCH MOUNT/data/PATH`.
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Extension(id): Extension<RequestId>,
    Path((mount, path)): MountPath,
    VaultJson(body): VaultJson<WriteBody>,
) -> Result<Response, ApiError> {
    let address = locate(&note, &mount, &path)?;
    authorize_under_uniform(&caller, Capability::Write, address.resource())?;
    let (raw, cas) = data_and_cas(body)?;
    let mut changes = BTreeMap::new();
    for (key, value) in raw {
        let value = match value {
            Value::Null => None,
            other => Some(text_value(&key, other)?),
        };
        changes.insert(key, value);
    }
    new_version(&state, &caller, &id, &address, false, cas, |folder| {
        folder.plan_patch(&address, changes.clone())
    })
    .await
}

/// Soft-deletes the current version: `DELETE MOUNT/data/PATH`.
pub async fn delete_latest(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Path((mount, path)): MountPath,
) -> Result<Response, ApiError> {
    let address = locate(&note, &mount, &path)?;
    authorize_under_uniform(&caller, Capability::Delete, address.resource())?;
    delete_current(&state, &caller, &address, None).await
}

async fn delete_current(
    state: &AppState,
    caller: &Caller,
    address: &KvAddress,
    versions: Option<&[i64]>,
) -> Result<Response, ApiError> {
    match environment(state, address).await {
        Err(e) if e.status() == StatusCode::NOT_FOUND => return Ok(no_content()),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    apply(state, caller, address, false, |folder, _| {
        if let Some(versions) = versions {
            folder.check_delete_versions(versions)?;
        }
        Ok(Plan {
            ops: folder.plan_delete(),
            trim: Vec::new(),
        })
    })
    .await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
pub struct Versions {
    versions: Option<Vec<Int>>,
}

fn versions_given(body: &Versions) -> Result<Vec<i64>, ApiError> {
    match body.versions.as_deref() {
        Some(versions) if !versions.is_empty() => Ok(versions.iter().map(|Int(n)| *n).collect()),
        _ => Err(ApiError::bad_request(
            "no versions provided: send {\"versions\": [N, ...]}",
        )),
    }
}

/// `POST MOUNT/delete/PATH {"versions": [...]}`: only the current version can be soft-deleted.
pub async fn delete_versions(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Path((mount, path)): MountPath,
    VaultJson(body): VaultJson<Versions>,
) -> Result<Response, ApiError> {
    let address = locate(&note, &mount, &path)?;
    authorize_under_uniform(&caller, Capability::Delete, address.resource())?;
    let versions = versions_given(&body)?;
    delete_current(&state, &caller, &address, Some(&versions)).await
}

/// `POST MOUNT/undelete/PATH {"versions": [...]}`.
pub async fn undelete(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Path((mount, path)): MountPath,
    VaultJson(body): VaultJson<Versions>,
) -> Result<Response, ApiError> {
    let address = locate(&note, &mount, &path)?;
    authorize_under_uniform(&caller, Capability::Delete, address.resource())?;
    let versions = versions_given(&body)?;
    apply(&state, &caller, &address, false, |folder, _| {
        Ok(Plan {
            ops: folder.plan_undelete(&versions),
            trim: Vec::new(),
        })
    })
    .await?;
    Ok(no_content())
}

/// `POST MOUNT/destroy/PATH {"versions": [...]}`: wipes the values those versions wrote.
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Path((mount, path)): MountPath,
    VaultJson(body): VaultJson<Versions>,
) -> Result<Response, ApiError> {
    let address = locate(&note, &mount, &path)?;
    authorize_under_uniform(&caller, Capability::Destroy, address.resource())?;
    let versions = versions_given(&body)?;
    let env = environment(&state, &address).await?;
    let folder = Folder::load(&state, &env, &address).await?;
    let targets = folder.destroy_targets(&versions);
    for (path, _) in &targets {
        authorize_uniform(&caller, Capability::Destroy, key_resource(&address, path.as_str()))?;
    }
    for (path, numbers) in &targets {
        service::destroy(&state, &env, path, Some(numbers)).await?;
    }
    Ok(no_content())
}

/// The entries of a listing under `folder`: `name` for a Vault secret (a
/// folder with keys directly in it), `name/` for a folder with more below.
fn entries(folder: &str, paths: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for path in paths {
        let rest = match folder {
            "" => path.as_str(),
            f => match path.strip_prefix(f).and_then(|r| r.strip_prefix('/')) {
                Some(rest) => rest,
                None => continue,
            },
        };
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.len() {
            0 | 1 => {}
            2 => {
                out.insert(segments[0].to_owned());
            }
            _ => {
                out.insert(format!("{}/", segments[0]));
            }
        }
    }
    out.into_iter().collect()
}

/// A listing of an environment's folder, filtered by the caller's `list`.
async fn list_folder(
    state: &AppState,
    caller: &Caller,
    id: &RequestId,
    address: &KvAddress,
) -> Result<Response, ApiError> {
    authorize_under_uniform(caller, Capability::List, address.resource())?;
    let env = environment(state, address).await?;
    let visible = Visibility::new(
        caller,
        address.project.as_str(),
        address.env.as_str(),
        &[Capability::List],
    );
    let prefix = PathPrefix::parse(address.folder.as_str())?;
    let (_, secrets) = service::list(state, None, &env, &prefix, None, &visible).await?;
    let keys = entries(address.folder.as_str(), secrets.into_iter().map(|s| s.path));
    if keys.is_empty() {
        return Ok(empty_not_found());
    }
    Ok(data(id, json!({ "keys": keys })))
}

/// `LIST MOUNT/metadata/`: the mount's environments the caller may list in,
/// as folders (and as a secret when keys lie at their top level).
pub async fn list_root(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Extension(id): Extension<RequestId>,
    Path(mount): Path<String>,
    Query(flag): Query<ListFlag>,
) -> Result<Response, ApiError> {
    if !flag.list {
        return Err(ApiError::bad_request("list the mount with LIST (or GET ?list=true)"));
    }
    note.update(|n| n.project = Some(mount.clone()));
    let project = leash_core::names::ProjectName::parse(&mount)?;
    authorize_under_uniform(&caller, Capability::List, Resource::Project(project.as_str()))?;
    let (_, _, envs) = crate::projects::environments(&state, project.as_str()).await?;
    let mut keys = Vec::new();
    for env in envs {
        let resource = Resource::Environment {
            project: project.as_str(),
            env: &env.name,
        };
        if !crate::authz::allows_under(&caller, Capability::List, &resource.path()) {
            continue;
        }
        keys.push(format!("{}/", env.name));
    }
    if keys.is_empty() {
        return Ok(empty_not_found());
    }
    Ok(data(&id, json!({ "keys": keys })))
}

/// `GET MOUNT/metadata/PATH`: every version's metadata (or, with `?list=true`, a listing).
pub async fn metadata(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Extension(id): Extension<RequestId>,
    Path((mount, path)): MountPath,
    Query(flag): Query<ListFlag>,
) -> Result<Response, ApiError> {
    let address = locate(&note, &mount, &path)?;
    if flag.list {
        note.update(|n| n.operation = Some("secret.list"));
        return list_folder(&state, &caller, &id, &address).await;
    }
    authorize_under_uniform(&caller, Capability::List, address.resource())?;
    let env = environment(&state, &address).await?;
    let folder = Folder::load(&state, &env, &address).await?;
    if !folder.exists() {
        return Ok(empty_not_found());
    }
    for key in &folder.keys {
        authorize_uniform(&caller, Capability::List, key_resource(&address, key.path.as_str()))?;
    }
    let effective = effective(&state, &env, &address).await?;
    let oldest = folder.oldest_kept(effective.max_versions);
    let versions: serde_json::Map<String, Value> = folder
        .versions
        .iter()
        .filter(|v| v.number >= oldest)
        .map(|v| {
            (
                v.number.to_string(),
                json!({
                    "created_time": vault_time(Some(v.created_at)),
                    "deletion_time": vault_time(folder.deletion_of(v)),
                    "destroyed": v.destroyed,
                }),
            )
        })
        .collect();
    let created = folder.versions.first().map(|v| v.created_at);
    let updated = folder
        .keys
        .iter()
        .map(|k| k.head.updated_at)
        .chain(folder.versions.last().map(|v| v.created_at))
        .max();
    Ok(data(
        &id,
        json!({
            "cas_required": effective.cas_required,
            "created_time": vault_time(created),
            "current_version": folder.current_number(),
            "custom_metadata": effective.custom_metadata,
            "delete_version_after": "0s",
            "max_versions": effective.max_versions,
            "oldest_version": oldest,
            "updated_time": vault_time(updated),
            "versions": versions,
        }),
    ))
}

#[derive(Deserialize, Default)]
pub struct MetadataBody {
    max_versions: Option<Int>,
    cas_required: Option<bool>,
    delete_version_after: Option<Value>,
    custom_metadata: Option<BTreeMap<String, Option<String>>>,
}

/// `POST/PUT/PATCH MOUNT/metadata/PATH`: a secret's settings (`max_versions`,
/// `cas_required`, `custom_metadata`); a PATCH removes a custom key given `null`.
pub async fn metadata_write(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    method: axum::http::Method,
    Path((mount, path)): MountPath,
    VaultJson(body): VaultJson<MetadataBody>,
) -> Result<Response, ApiError> {
    let address = locate(&note, &mount, &path)?;
    authorize_under_uniform(&caller, Capability::Write, address.resource())?;
    check_delete_version_after(body.delete_version_after.as_ref())?;
    let env = environment_for_write(&state, &caller, &address).await?;
    let mut own: SecretSettings = settings::secret_settings(&state, &env, address.folder.as_str())
        .await?
        .unwrap_or_default();
    if let Some(n) = body.max_versions {
        own.max_versions = max_versions(n)?;
    }
    if let Some(required) = body.cas_required {
        own.cas_required = required;
    }
    if let Some(custom) = body.custom_metadata {
        if method != axum::http::Method::PATCH {
            own.custom_metadata.clear();
        }
        for (key, value) in custom {
            match value {
                Some(value) => own.custom_metadata.insert(key, value),
                None => own.custom_metadata.remove(&key),
            };
        }
    }
    check_custom_metadata(&own.custom_metadata)?;
    settings::put_secret_settings(&state, &env, address.folder.as_str(), &own).await?;
    Ok(no_content())
}

/// `DELETE MOUNT/metadata/PATH`: every version destroyed, every key deleted,
/// the settings dropped (needs `delete` and `destroy` on every key).
pub async fn metadata_delete(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Path((mount, path)): MountPath,
) -> Result<Response, ApiError> {
    let address = locate(&note, &mount, &path)?;
    authorize_under_uniform(&caller, Capability::Destroy, address.resource())?;
    authorize_under_uniform(&caller, Capability::Delete, address.resource())?;
    let env = match environment(&state, &address).await {
        Err(e) if e.status() == StatusCode::NOT_FOUND => return Ok(no_content()),
        other => other?,
    };
    let folder = Folder::load(&state, &env, &address).await?;
    let all: Vec<i64> = folder.versions.iter().map(|v| v.number).collect();
    let targets = folder.destroy_targets(&all);
    for key in &folder.keys {
        authorize_uniform(&caller, Capability::Destroy, key_resource(&address, key.path.as_str()))?;
    }
    apply(&state, &caller, &address, false, |folder, _| {
        Ok(Plan {
            ops: folder.plan_delete(),
            trim: Vec::new(),
        })
    })
    .await?;
    for (path, numbers) in &targets {
        service::destroy(&state, &env, path, Some(numbers)).await?;
    }
    settings::delete_secret_settings(&state, &env, address.folder.as_str()).await?;
    Ok(no_content())
}

/// `GET MOUNT/subkeys/PATH?version=N`: the keys of a version without values
/// (each `null`), filtered by `list`.
pub async fn subkeys(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Extension(id): Extension<RequestId>,
    Path((mount, path)): MountPath,
    Query(q): Query<VersionQuery>,
) -> Result<Response, ApiError> {
    let address = locate(&note, &mount, &path)?;
    authorize_under_uniform(&caller, Capability::List, address.resource())?;
    let number = version_number(&q)?;
    if q.depth.as_deref().is_some_and(|d| d.parse::<u32>().is_err()) {
        return Err(ApiError::bad_request("depth must be a whole number"));
    }
    let env = environment(&state, &address).await?;
    let folder = Folder::load(&state, &env, &address).await?;
    let effective = effective(&state, &env, &address).await?;
    let Some(v) = chosen(&folder, number, &effective).filter(|_| folder.exists()) else {
        return Ok(empty_not_found());
    };
    let metadata = version_metadata(&folder, v, &effective.custom_metadata);
    if folder.deletion_of(v).is_some() || v.destroyed {
        let mut response = data(&id, json!({ "subkeys": null, "metadata": metadata }));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return Ok(response);
    }
    let visible = Visibility::new(
        &caller,
        address.project.as_str(),
        address.env.as_str(),
        &[Capability::List],
    );
    let subkeys: serde_json::Map<String, Value> = folder
        .keys_at(&state, &env, v)
        .await?
        .into_iter()
        .filter(|(path, _)| visible.shows(path.as_str()))
        .map(|(path, _)| (path.key().to_owned(), Value::Null))
        .collect();
    Ok(data(&id, json!({ "subkeys": subkeys, "metadata": metadata })))
}

/// `GET MOUNT/config`: the mount's KV settings.
pub async fn config_read(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Extension(id): Extension<RequestId>,
    Path(mount): Path<String>,
) -> Result<Response, ApiError> {
    note.update(|n| n.project = Some(mount.clone()));
    let project = leash_core::names::ProjectName::parse(&mount)?;
    authorize_under_uniform(&caller, Capability::List, Resource::Project(project.as_str()))?;
    let (_, row) = service::project(&state, project.as_str()).await?;
    let config = settings::mount_config(&state, &row).await?;
    Ok(data(
        &id,
        json!({
            "max_versions": config.max_versions,
            "cas_required": config.cas_required,
            "delete_version_after": "0s",
        }),
    ))
}

#[derive(Deserialize, Default)]
pub struct ConfigBody {
    max_versions: Option<Int>,
    cas_required: Option<bool>,
    delete_version_after: Option<Value>,
}

fn max_versions(Int(n): Int) -> Result<u32, ApiError> {
    u32::try_from(n).map_err(|_| ApiError::bad_request("max_versions must be 0 (keep all) or more"))
}

/// `POST MOUNT/config`: needs `admin` on the project.
pub async fn config_write(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Path(mount): Path<String>,
    VaultJson(body): VaultJson<ConfigBody>,
) -> Result<Response, ApiError> {
    note.update(|n| n.project = Some(mount.clone()));
    let project = leash_core::names::ProjectName::parse(&mount)?;
    authorize_uniform(&caller, Capability::Admin, Resource::Project(project.as_str()))?;
    check_delete_version_after(body.delete_version_after.as_ref())?;
    let (_, row) = service::project(&state, project.as_str()).await?;
    let mut config = settings::mount_config(&state, &row).await?;
    if let Some(n) = body.max_versions {
        config.max_versions = max_versions(n)?;
    }
    if let Some(required) = body.cas_required {
        config.cas_required = required;
    }
    settings::put_mount_config(&state, &row, &config).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_entries_are_secrets_and_folders() {
        let paths = ["db/password", "db/user", "stripe/api/key", "TOP", "db/x/y"].map(String::from);
        assert_eq!(entries("", paths.clone().into_iter()), vec!["db", "db/", "stripe/"]);
        assert_eq!(entries("stripe", paths.clone().into_iter()), vec!["api"]);
        assert_eq!(entries("db", paths.clone().into_iter()), vec!["x"]);
        assert!(entries("none", paths.into_iter()).is_empty());
    }

    #[test]
    fn values_are_text() {
        assert_eq!(text_value("k", json!("s")).unwrap().as_str(), "s");
        assert_eq!(text_value("k", json!(5432)).unwrap().as_str(), "5432");
        assert_eq!(text_value("k", json!(true)).unwrap().as_str(), "true");
        assert!(text_value("k", json!({"a": 1})).is_err());
        assert!(text_value("k", json!(null)).is_err());
    }
}
