//! Secrets of one environment: read, list, write, change sets, delete,
//! undelete, destroy, history and rollback. Handlers validate, authorize and
//! delegate to [`crate::service`]; they hold no storage or crypto logic.

use axum::Json;
use axum::extract::{Path, State};
use leash_core::api::{
    ChangeKind, ChangeRequest, ChangeResult, DestroyRequest, DestroyResult, History, RollbackRequest, SecretList,
    SecretMetadata, SecretValue, SecretWrite, UndeleteRequest,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    version: Option<i64>,
    at_revision: Option<i64>,
    /// `current` (the default), `previous` or `pending`.
    stage: Option<String>,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    include_values: bool,
    #[serde(default)]
    at_revision: Option<i64>,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasQuery {
    #[serde(default)]
    cas: Option<i64>,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    before: Option<i64>,
}

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
