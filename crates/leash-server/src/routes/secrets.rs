//! Secrets of one environment: read, list, write, change sets, delete,
//! undelete, destroy, history and rollback. Handlers validate, authorize and
//! delegate to [`crate::service`]; they hold no storage or crypto logic.

use axum::Json;
use axum::extract::{Path, State};
use leash_core::api::{
    ChangeKind, ChangeRequest, ChangeResult, DestroyRequest, DestroyResult, ErrorBody, History, RollbackRequest,
    SecretList, SecretMetadata, SecretValue, SecretWrite, UndeleteRequest,
};
use leash_core::names::{PathPrefix, SecretPath};
use leash_store::Selector;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::authz::{Capability, Resource, Visibility, authorize, authorize_each, authorize_under};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::rotation::stages::{self, Stage};
use crate::service::{self, ChangeSet, WriteMeta, WriteOp};
use crate::state::AppState;

type EnvPath = Path<(String, String)>;
type SecretAt = Path<(String, String, String)>;

fn secret<'a>(project: &'a str, env: &'a str, path: &'a str) -> Resource<'a> {
    Resource::Secret { project, env, path }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    version: Option<i64>,
    at_revision: Option<i64>,
    /// `current` (the default), `previous` or `pending`.
    stage: Option<String>,
}

/// One version of a secret with its value: current by default, or by version, stage or revision.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/envs/{env}/secrets/{path}",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ("path" = String, Path, description = "The secret's path: optional folders and a key (`stripe/API_KEY`); may contain `/`"), ReadQuery),
    responses((status = 200, description = "The version and its value", body = SecretValue), (status = 410, description = "That version was destroyed", body = ErrorBody))
)]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Path((project, env, path)): SecretAt,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> Result<Json<SecretValue>, ApiError> {
    let path = SecretPath::parse(&path)?;
    authorize(&caller, Capability::Read, secret(&project, &env, path.as_str()))?;
    let stage = q.stage.as_deref().map(Stage::parse).transpose()?;
    let selector = match (q.version, q.at_revision, stage) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give one of version, at_revision or stage"));
        }
        (Some(v), None, None) if v < 1 => return Err(ApiError::bad_request("version must be 1 or more")),
        (Some(v), None, None) => Some(Selector::Version(v)),
        (None, Some(r), None) => Some(Selector::AtRevision(r)),
        (None, None, None | Some(Stage::Current)) => Some(Selector::Current),
        (None, None, Some(Stage::Previous | Stage::Pending)) => None,
    };
    let env = service::environment(&state, &project, &env).await?;
    let keyring = state.barrier.keyring()?;
    let selector = match (selector, stage) {
        (Some(s), _) => s,
        (None, Some(Stage::Pending)) => {
            return Ok(Json(stages::pending_value(&state, &keyring, &env, &path).await?));
        }
        (None, _) => Selector::Version(stages::previous_version(&state, &env, &path).await?),
    };
    let value = service::read(&state, &keyring, &env, &path, selector).await?;
    note.update(|n| n.version = Some(value.version));
    Ok(Json(value))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    include_values: bool,
    #[serde(default)]
    at_revision: Option<i64>,
}

/// The secrets the caller may list, optionally with values and as of a revision.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/envs/{env}/secrets",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ListQuery),
    responses((status = 200, description = "The secrets", body = SecretList))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): EnvPath,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<SecretList>, ApiError> {
    let prefix = PathPrefix::parse(q.prefix.as_deref().unwrap_or(""))?;
    // A secret is listed when it may be listed; with values, when it may also be read.
    let needs: &[Capability] = if q.include_values {
        &[Capability::List, Capability::Read]
    } else {
        &[Capability::List]
    };
    for capability in needs {
        authorize_under(&caller, *capability, secret(&project, &env, prefix.as_str()))?;
    }
    let env = service::environment(&state, &project, &env).await?;
    let keyring = state.barrier.keyring()?;
    let with_values = q.include_values.then_some(&keyring);
    let visible = Visibility::new(&caller, env.project.as_str(), env.env.as_str(), needs);
    let (revision, secrets) = service::list(&state, with_values, &env, &prefix, q.at_revision, &visible).await?;
    Ok(Json(SecretList { revision, secrets }))
}

/// Writes a new version of a secret.
#[utoipa::path(
    put,
    path = "/api/v1/projects/{project}/envs/{env}/secrets/{path}",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ("path" = String, Path, description = "The secret's path: optional folders and a key (`stripe/API_KEY`); may contain `/`")),
    request_body = SecretWrite,
    responses((status = 200, description = "The new revision", body = ChangeResult), (status = 409, description = "`cas` did not match the revision, or the e2e recipients changed", body = ErrorBody), (status = 413, description = "The value is over `max_value_bytes`", body = ErrorBody))
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Path((project, env, path)): SecretAt,
    ApiJson(req): ApiJson<SecretWrite>,
) -> Result<Json<ChangeResult>, ApiError> {
    let path = SecretPath::parse(&path)?;
    let op: ChangeSet = vec![WriteOp::Set {
        path,
        value: Zeroizing::new(req.value),
        description: req.description,
        origin: None,
    }];
    let op = authorize_each(&caller, &project, &env, op)?;
    let env = service::environment(&state, &project, &env).await?;
    let keyring = state.barrier.keyring()?;
    let meta = WriteMeta {
        actor: caller.actor(),
        message: None,
        cas: req.cas,
        e2e_recipients: req.e2e_recipients,
    };
    let result = service::write(&state, &keyring, &env, op, meta).await?;
    note.update(|n| n.version = result.entries.first().and_then(|e| e.version));
    Ok(Json(result))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CasQuery {
    #[serde(default)]
    cas: Option<i64>,
}

/// Soft-deletes a secret (its versions can be undeleted).
#[utoipa::path(
    delete,
    path = "/api/v1/projects/{project}/envs/{env}/secrets/{path}",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ("path" = String, Path, description = "The secret's path: optional folders and a key (`stripe/API_KEY`); may contain `/`"), CasQuery),
    responses((status = 200, description = "The new revision", body = ChangeResult), (status = 409, description = "`cas` did not match the revision", body = ErrorBody))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, path)): SecretAt,
    ApiQuery(q): ApiQuery<CasQuery>,
) -> Result<Json<ChangeResult>, ApiError> {
    let path = SecretPath::parse(&path)?;
    let op = authorize_each(&caller, &project, &env, vec![WriteOp::Delete { path }])?;
    let env = service::environment(&state, &project, &env).await?;
    let keyring = state.barrier.keyring()?;
    let meta = WriteMeta {
        actor: caller.actor(),
        message: None,
        cas: q.cas,
        e2e_recipients: None,
    };
    Ok(Json(service::write(&state, &keyring, &env, op, meta).await?))
}

/// Restores a soft-deleted secret (the body is optional).
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/envs/{env}/undelete/{path}",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ("path" = String, Path, description = "The secret's path: optional folders and a key (`stripe/API_KEY`); may contain `/`")),
    request_body = Option<UndeleteRequest>,
    responses((status = 200, description = "The new revision", body = ChangeResult), (status = 409, description = "`cas` did not match the revision", body = ErrorBody))
)]
pub async fn undelete(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, path)): SecretAt,
    body: Option<ApiJson<UndeleteRequest>>,
) -> Result<Json<ChangeResult>, ApiError> {
    let path = SecretPath::parse(&path)?;
    let op = authorize_each(&caller, &project, &env, vec![WriteOp::Undelete { path }])?;
    let env = service::environment(&state, &project, &env).await?;
    let keyring = state.barrier.keyring()?;
    let meta = WriteMeta {
        actor: caller.actor(),
        message: None,
        cas: body.map(|ApiJson(b)| b).unwrap_or_default().cas,
        e2e_recipients: None,
    };
    Ok(Json(service::write(&state, &keyring, &env, op, meta).await?))
}

/// Wipes the data of some or all versions of a secret for good (the body is optional).
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/envs/{env}/destroy/{path}",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ("path" = String, Path, description = "The secret's path: optional folders and a key (`stripe/API_KEY`); may contain `/`")),
    request_body = Option<DestroyRequest>,
    responses((status = 200, description = "The versions destroyed", body = DestroyResult))
)]
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, path)): SecretAt,
    body: Option<ApiJson<DestroyRequest>>,
) -> Result<Json<DestroyResult>, ApiError> {
    let path = SecretPath::parse(&path)?;
    authorize(&caller, Capability::Destroy, secret(&project, &env, path.as_str()))?;
    let env = service::environment(&state, &project, &env).await?;
    let req = body.map(|ApiJson(b)| b).unwrap_or_default();
    Ok(Json(
        service::destroy(&state, &env, &path, req.versions.as_deref()).await?,
    ))
}

/// A secret's versions, without values.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/envs/{env}/metadata/{path}",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ("path" = String, Path, description = "The secret's path: optional folders and a key (`stripe/API_KEY`); may contain `/`")),
    responses((status = 200, description = "The versions", body = SecretMetadata))
)]
pub async fn metadata(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, path)): SecretAt,
) -> Result<Json<SecretMetadata>, ApiError> {
    let path = SecretPath::parse(&path)?;
    authorize(&caller, Capability::List, secret(&project, &env, path.as_str()))?;
    let env = service::environment(&state, &project, &env).await?;
    Ok(Json(service::metadata(&state, &env, &path).await?))
}

/// Applies several writes and deletes as one atomic change.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/envs/{env}/changes",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name")),
    request_body = ChangeRequest,
    responses((status = 200, description = "The new revision", body = ChangeResult), (status = 409, description = "`cas` did not match the revision, or the e2e recipients changed", body = ErrorBody), (status = 413, description = "Too many operations or a value over the limit", body = ErrorBody))
)]
pub async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): EnvPath,
    ApiJson(req): ApiJson<ChangeRequest>,
) -> Result<Json<ChangeResult>, ApiError> {
    if req.changes.len() > state.limits.max_change_ops {
        return Err(ApiError::too_large(format!(
            "the change has {} operations; the limit is {} (max_change_ops)",
            req.changes.len(),
            state.limits.max_change_ops
        )));
    }
    let mut ops: ChangeSet = Vec::with_capacity(req.changes.len());
    for change in req.changes {
        let path = SecretPath::parse(&change.path)?;
        ops.push(match change.kind {
            ChangeKind::Set { value, description } => WriteOp::Set {
                path,
                value: Zeroizing::new(value),
                description,
                origin: None,
            },
            ChangeKind::Delete => WriteOp::Delete { path },
        });
    }
    let ops = authorize_each(&caller, &project, &env, ops)?;
    let env = service::environment(&state, &project, &env).await?;
    let keyring = state.barrier.keyring()?;
    let meta = WriteMeta {
        actor: caller.actor(),
        message: req.message,
        cas: req.cas,
        e2e_recipients: req.e2e_recipients,
    };
    Ok(Json(service::write(&state, &keyring, &env, ops, meta).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    before: Option<i64>,
}

/// The environment's changes, newest first, limited to paths the caller may list.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/envs/{env}/history",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), HistoryQuery),
    responses((status = 200, description = "The changes", body = History))
)]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): EnvPath,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    authorize_under(&caller, Capability::List, secret(&project, &env, ""))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let env = service::environment(&state, &project, &env).await?;
    let visible = Visibility::new(&caller, env.project.as_str(), env.env.as_str(), &[Capability::List]);
    Ok(Json(service::history(&state, &env, q.before, limit, &visible).await?))
}

/// Sets the environment back to a revision, as a new change.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/envs/{env}/rollback",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name")),
    request_body = RollbackRequest,
    responses((status = 200, description = "The new revision", body = ChangeResult), (status = 409, description = "`cas` did not match the revision", body = ErrorBody))
)]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): EnvPath,
    ApiJson(req): ApiJson<RollbackRequest>,
) -> Result<Json<ChangeResult>, ApiError> {
    authorize_under(&caller, Capability::Write, secret(&project, &env, ""))?;
    let env = service::environment(&state, &project, &env).await?;
    let keyring = state.barrier.keyring()?;
    let plan = service::plan_rollback(&state, &keyring, &env, req.to).await?;
    let plan = authorize_each(&caller, env.project.as_str(), env.env.as_str(), plan)?;
    let meta = WriteMeta {
        actor: caller.actor(),
        message: req.message,
        cas: req.cas,
        e2e_recipients: None,
    };
    Ok(Json(service::rollback(&state, &keyring, &env, plan, meta).await?))
}
