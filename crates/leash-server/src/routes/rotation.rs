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
use leash_core::api::{ErrorBody, RotateRequest, RotateResult, RotationHistory, RotationPolicy, RotationStatus};
use leash_core::names::SecretPath;
use serde::Deserialize;

use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::authz::{Capability, Resource, authorize, authorize_each};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::rotation::engine::Trigger;
use crate::rotation::policy::{CheckedPolicy, PolicyChange, stored_sends_values_out};
use crate::rotation::{admin, rotate};
use crate::service;
use crate::state::AppState;

type SecretAt = Path<(String, String, String)>;

fn secret<'a>(project: &'a str, env: &'a str, path: &'a str) -> Resource<'a> {
    Resource::Secret { project, env, path }
}

/// Sets a secret's rotation policy.
#[utoipa::path(
    put,
    path = "/api/v1/projects/{project}/envs/{env}/rotation/{path}",
    tag = "rotation",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ("path" = String, Path, description = "The secret's path: optional folders and a key (`stripe/API_KEY`); may contain `/`")),
    request_body = RotationPolicy,
    responses((status = 200, description = "The rotation status", body = RotationStatus))
)]
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
    let existing = admin::stored(&state, &env, &path).await?;
    // A rotator acts with the secrets it names, and one that sends values out of Leash
    // (or replacing one) is as good as reading the secret: see `PolicyChange`.
    let change = PolicyChange {
        path: &path,
        new: Some(&checked),
        stored_sends_values_out: existing.as_ref().is_some_and(|r| stored_sends_values_out(&r.policy)),
    };
    authorize_each(&caller, env.project.as_str(), env.env.as_str(), change)?;
    Ok(Json(admin::set(&state, &env, &path, checked, existing).await?))
}

/// A secret's rotation policy and where rotation stands.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/envs/{env}/rotation/{path}",
    tag = "rotation",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ("path" = String, Path, description = "The secret's path: optional folders and a key (`stripe/API_KEY`); may contain `/`")),
    responses((status = 200, description = "The rotation status", body = RotationStatus))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, path)): SecretAt,
) -> Result<Json<RotationStatus>, ApiError> {
    let path = SecretPath::parse(&path)?;
    authorize(&caller, Capability::List, secret(&project, &env, path.as_str()))?;
    let env = service::environment(&state, &project, &env).await?;
    Ok(Json(admin::show(&state, &env, &path).await?))
}

/// Removes a secret's rotation policy.
#[utoipa::path(
    delete,
    path = "/api/v1/projects/{project}/envs/{env}/rotation/{path}",
    tag = "rotation",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ("path" = String, Path, description = "The secret's path: optional folders and a key (`stripe/API_KEY`); may contain `/`")),
    responses((status = 200, description = "The rotation status", body = RotationStatus))
)]
pub async fn delete_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, path)): SecretAt,
) -> Result<Json<RotationStatus>, ApiError> {
    let path = SecretPath::parse(&path)?;
    authorize(&caller, Capability::Rotate, secret(&project, &env, path.as_str()))?;
    let env = service::environment(&state, &project, &env).await?;
    let Some(stored) = admin::stored(&state, &env, &path).await? else {
        return Err(ApiError::not_found(format!("{path} has no rotation policy")));
    };
    // Removing a rotator that sends values out is for those who may read the secret.
    let change = PolicyChange {
        path: &path,
        new: None,
        stored_sends_values_out: stored_sends_values_out(&stored.policy),
    };
    authorize_each(&caller, env.project.as_str(), env.env.as_str(), change)?;
    Ok(Json(admin::remove(&state, &env, &path, &stored).await?))
}

/// Rotates a secret now (the body is optional).
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/envs/{env}/rotate/{path}",
    tag = "rotation",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ("path" = String, Path, description = "The secret's path: optional folders and a key (`stripe/API_KEY`); may contain `/`")),
    request_body = Option<RotateRequest>,
    responses((status = 200, description = "The new version", body = RotateResult), (status = 409, description = "A rotation is running or waiting for its retry", body = ErrorBody), (status = 502, description = "The rotator's target failed", body = ErrorBody))
)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default)]
    limit: Option<i64>,
}

/// A secret's rotation attempts, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/envs/{env}/rotation-history/{path}",
    tag = "rotation",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ("path" = String, Path, description = "The secret's path: optional folders and a key (`stripe/API_KEY`); may contain `/`"), HistoryQuery),
    responses((status = 200, description = "The attempts", body = RotationHistory))
)]
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
    Ok(Json(admin::history(&state, &env, &path, limit).await?))
}
