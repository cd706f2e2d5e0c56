//! Projects and environments: create, list, delete. Handlers authorize and
//! call [`crate::projects`]; they hold no storage logic.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leash_core::api::{CreateNamed, EnvInfo, EnvList, ErrorBody, ProjectInfo, ProjectList};
use leash_core::names::{EnvName, ProjectName};

use crate::auth::Caller;
use crate::authz::{Capability, Resource, allows_under, authorize, authorize_each, authorize_under};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::projects;
use crate::state::AppState;
use crate::time::rfc3339;

fn env_info(row: leash_store::EnvRow) -> EnvInfo {
    EnvInfo {
        name: row.name,
        revision: row.revision,
        created_at: rfc3339(row.created_at),
        e2e_recipients: row.e2e_recipients,
    }
}

/// The projects the caller may list something in.
#[utoipa::path(
    get,
    path = "/api/v1/projects",
    tag = "projects",
    responses((status = 200, description = "The projects", body = ProjectList))
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<ProjectList>, ApiError> {
    let projects = projects::list(&state)
        .await?
        .into_iter()
        .filter(|p| allows_under(&caller, Capability::List, &p.name))
        .map(|p| ProjectInfo {
            name: p.name,
            created_at: rfc3339(p.created_at),
        })
        .collect();
    Ok(Json(ProjectList { projects }))
}

/// Creates a project.
#[utoipa::path(
    post,
    path = "/api/v1/projects",
    tag = "projects",
    request_body = CreateNamed,
    responses((status = 201, description = "The project", body = ProjectInfo), (status = 409, description = "A project of that name exists", body = ErrorBody))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateNamed>,
) -> Result<(StatusCode, Json<ProjectInfo>), ApiError> {
    let name = ProjectName::parse(&req.name)?;
    authorize(&caller, Capability::Admin, Resource::Project(name.as_str()))?;
    let row = projects::create(&state, &name).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProjectInfo {
            name: row.name,
            created_at: rfc3339(row.created_at),
        }),
    ))
}

/// Deletes a project with its environments and secrets.
#[utoipa::path(
    delete,
    path = "/api/v1/projects/{project}",
    tag = "projects",
    params(("project" = String, Path, description = "The project's name")),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<StatusCode, ApiError> {
    authorize(&caller, Capability::Admin, Resource::Project(&project))?;
    let (name, row, envs) = projects::environments(&state, &project).await?;
    let mut authorized = Vec::with_capacity(envs.len());
    for env in envs {
        authorize(
            &caller,
            Capability::Admin,
            Resource::Environment {
                project: name.as_str(),
                env: &env.name,
            },
        )?;
        let teardown = projects::plan_teardown(&state, env).await?;
        let env_name = teardown.env.name.clone();
        authorized.push(authorize_each(&caller, name.as_str(), &env_name, teardown)?);
    }
    projects::delete(&state, &row, authorized).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The environments of a project the caller may list something in.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/envs",
    tag = "projects",
    params(("project" = String, Path, description = "The project's name")),
    responses((status = 200, description = "The environments", body = EnvList))
)]
pub async fn list_envs(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<EnvList>, ApiError> {
    authorize_under(&caller, Capability::List, Resource::Project(&project))?;
    let (_, _, envs) = projects::environments(&state, &project).await?;
    let envs = envs
        .into_iter()
        .filter(|e| allows_under(&caller, Capability::List, &format!("{project}/{}", e.name)))
        .map(env_info)
        .collect();
    Ok(Json(EnvList { envs }))
}

/// Creates an environment in a project.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/envs",
    tag = "projects",
    params(("project" = String, Path, description = "The project's name")),
    request_body = CreateNamed,
    responses((status = 201, description = "The environment", body = EnvInfo), (status = 409, description = "An environment of that name exists", body = ErrorBody))
)]
pub async fn create_env(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    ApiJson(req): ApiJson<CreateNamed>,
) -> Result<(StatusCode, Json<EnvInfo>), ApiError> {
    let name = EnvName::parse(&req.name)?;
    authorize(
        &caller,
        Capability::Admin,
        Resource::Environment {
            project: &project,
            env: name.as_str(),
        },
    )?;
    let env = projects::create_env(&state, &project, &name).await?;
    Ok((StatusCode::CREATED, Json(env_info(env))))
}

/// Deletes an environment with its secrets.
#[utoipa::path(
    delete,
    path = "/api/v1/projects/{project}/envs/{env}",
    tag = "projects",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name")),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_env(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    authorize(
        &caller,
        Capability::Admin,
        Resource::Environment {
            project: &project,
            env: &env,
        },
    )?;
    let env = projects::environment(&state, &project, &env).await?;
    let teardown = projects::plan_teardown(&state, env.row).await?;
    let teardown = authorize_each(&caller, env.project.as_str(), env.env.as_str(), teardown)?;
    projects::delete_env(&state, teardown).await?;
    Ok(StatusCode::NO_CONTENT)
}
