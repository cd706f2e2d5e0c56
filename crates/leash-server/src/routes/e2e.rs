//! End-to-end encryption of one environment: status, the values to
//! re-encrypt, setting the recipients (enable / add / remove) and turning it
//! off. Handlers validate, authorize and delegate to [`crate::e2e`].
//!
//! Reading the status needs `list` or `write` under the environment (writers
//! must learn whom to encrypt to); everything else needs `admin` on it.

use axum::Json;
use axum::extract::{Path, State};
use leash_core::api::{E2eResult, E2eStatus, E2eUpdate, E2eValues, ErrorBody};
use serde::Deserialize;

use crate::auth::Caller;
use crate::authz::{Capability, Resource, allows_under, authorize, authorize_each, authorize_under};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::service;
use crate::state::AppState;

type EnvPath = Path<(String, String)>;

fn environment<'a>(project: &'a str, env: &'a str) -> Resource<'a> {
    Resource::Environment { project, env }
}

/// Whether the environment is end-to-end encrypted, and to whom.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/envs/{env}/e2e",
    tag = "e2e",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name")),
    responses((status = 200, description = "The status", body = E2eStatus))
)]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): EnvPath,
) -> Result<Json<E2eStatus>, ApiError> {
    let resource = environment(&project, &env);
    if !allows_under(&caller, Capability::Write, &resource.path()) {
        authorize_under(&caller, Capability::List, resource)?;
    }
    let env = service::environment(&state, &project, &env).await?;
    Ok(Json(crate::e2e::status(&state, &env).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ValuesQuery {
    #[serde(default)]
    all_versions: bool,
}

/// The retained values a client must re-encrypt to change the recipients.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/envs/{env}/e2e/values",
    tag = "e2e",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), ValuesQuery),
    responses((status = 200, description = "The values", body = E2eValues))
)]
pub async fn values(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): EnvPath,
    ApiQuery(q): ApiQuery<ValuesQuery>,
) -> Result<Json<E2eValues>, ApiError> {
    authorize(&caller, Capability::Admin, environment(&project, &env))?;
    let env = service::environment(&state, &project, &env).await?;
    let keyring = state.barrier.keyring()?;
    let values = crate::e2e::values(&state, &keyring, &env, q.all_versions).await?;
    // All or nothing: a client re-encrypts every retained value or none.
    let values = authorize_each(&caller, env.project.as_str(), env.env.as_str(), values)?;
    Ok(Json(values.into_inner()))
}

/// Sets the recipients, with every retained value re-encrypted to them, as one change.
#[utoipa::path(
    put,
    path = "/api/v1/projects/{project}/envs/{env}/e2e",
    tag = "e2e",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name")),
    request_body = E2eUpdate,
    responses((status = 200, description = "What changed", body = E2eResult), (status = 409, description = "`cas` did not match the revision", body = ErrorBody))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): EnvPath,
    ApiJson(request): ApiJson<E2eUpdate>,
) -> Result<Json<E2eResult>, ApiError> {
    authorize(&caller, Capability::Admin, environment(&project, &env))?;
    let env = service::environment(&state, &project, &env).await?;
    let keyring = state.barrier.keyring()?;
    let change = crate::e2e::plan_update(&state, &env, request).await?;
    let change = authorize_each(&caller, env.project.as_str(), env.env.as_str(), change)?;
    Ok(Json(
        crate::e2e::update(&state, &keyring, &env, change, caller.actor()).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CasQuery {
    #[serde(default)]
    cas: Option<i64>,
}

/// Turns end-to-end encryption off (refused while any version holds age ciphertext).
#[utoipa::path(
    delete,
    path = "/api/v1/projects/{project}/envs/{env}/e2e",
    tag = "e2e",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), CasQuery),
    responses((status = 200, description = "What changed", body = E2eResult), (status = 409, description = "`cas` did not match, or versions hold e2e ciphertext", body = ErrorBody))
)]
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): EnvPath,
    ApiQuery(q): ApiQuery<CasQuery>,
) -> Result<Json<E2eResult>, ApiError> {
    authorize(&caller, Capability::Admin, environment(&project, &env))?;
    let env = service::environment(&state, &project, &env).await?;
    Ok(Json(crate::e2e::disable(&state, &env, q.cas, caller.actor()).await?))
}
