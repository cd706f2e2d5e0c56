//! Projects and environments: create, list, delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leash_core::api::{CreateNamed, EnvInfo, EnvList, ProjectInfo, ProjectList};
use leash_core::names::{EnvName, ProjectName};

use crate::auth::Caller;
use crate::authz::{Capability, Resource, Touches, allows_under, authorize, authorize_each, authorize_under};
use crate::error::{ApiError, ErrorKind};
use crate::extract::ApiJson;
use crate::service;
use crate::state::AppState;
use crate::time::{now_millis, rfc3339};

/// Deleting an environment wipes every secret in it: each path needs `destroy`.
struct Teardown(Vec<String>);

impl Touches for Teardown {
    fn touches(&self) -> Vec<(Capability, &str)> {
        self.0.iter().map(|p| (Capability::Destroy, p.as_str())).collect()
    }
}

/// Refuses unless the caller may destroy every secret of the environment.
async fn authorize_teardown(
    state: &AppState,
    caller: &Caller,
    project: &str,
    env: &leash_store::EnvRow,
) -> Result<(), ApiError> {
    let paths = state.store.secret_paths(env.id).await?;
    authorize_each(caller, project, &env.name, Teardown(paths))?;
    Ok(())
}

fn env_info(row: leash_store::EnvRow) -> EnvInfo {
    EnvInfo {
        name: row.name,
        revision: row.revision,
        created_at: rfc3339(row.created_at),
        e2e_recipients: row.e2e_recipients,
    }
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<ProjectList>, ApiError> {
    let projects = state
        .store
        .project_list()
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

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateNamed>,
) -> Result<(StatusCode, Json<ProjectInfo>), ApiError> {
    let name = ProjectName::parse(&req.name)?;
    if name.as_str() == "sys" {
        return Err(ApiError::new(
            ErrorKind::InvalidInput,
            "invalid_name",
            "the project name sys is reserved for server administration policies",
        ));
    }
    authorize(&caller, Capability::Admin, Resource::Project(name.as_str()))?;
    let row = state.store.project_create(name.as_str(), now_millis()).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProjectInfo {
            name: row.name,
            created_at: rfc3339(row.created_at),
        }),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<StatusCode, ApiError> {
    authorize(&caller, Capability::Admin, Resource::Project(&project))?;
    let (name, row) = service::project(&state, &project).await?;
    for env in state.store.env_list(row.id).await? {
        authorize(
            &caller,
            Capability::Admin,
            Resource::Environment {
                project: name.as_str(),
                env: &env.name,
            },
        )?;
        authorize_teardown(&state, &caller, name.as_str(), &env).await?;
    }
    state.store.project_delete(row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_envs(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<EnvList>, ApiError> {
    authorize_under(&caller, Capability::List, Resource::Project(&project))?;
    let (_, row) = service::project(&state, &project).await?;
    let envs = state
        .store
        .env_list(row.id)
        .await?
        .into_iter()
        .filter(|e| allows_under(&caller, Capability::List, &format!("{project}/{}", e.name)))
        .map(env_info)
        .collect();
    Ok(Json(EnvList { envs }))
}

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
    let (_, row) = service::project(&state, &project).await?;
    let env = state.store.env_create(row.id, name.as_str(), now_millis()).await?;
    Ok((StatusCode::CREATED, Json(env_info(env))))
}

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
    let env = service::environment(&state, &project, &env).await?;
    authorize_teardown(&state, &caller, env.project.as_str(), &env.row).await?;
    state.store.env_delete(env.row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
