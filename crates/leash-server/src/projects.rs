//! Projects and environments: list, create, delete. It owns the rules that
//! are not storage's: the reserved project name `sys`, and that deleting an
//! environment wipes every secret in it, so a delete is planned first as a
//! [`Teardown`] whose every path the caller must be authorized to destroy.
//! It never decides who may act (that is `authz`) and knows nothing of HTTP.

use leash_core::names::{EnvName, ProjectName};
use leash_store::{EnvRow, ProjectRow};

use crate::authz::{Authorized, Capability, Touches};
use crate::error::{ApiError, ErrorKind};
use crate::service::{self, EnvRef};
use crate::state::Domain;
use crate::time::now_millis;

/// Deleting one environment: every secret path in it is destroyed.
pub struct Teardown {
    pub env: EnvRow,
    paths: Vec<String>,
}

impl Touches for Teardown {
    fn touches(&self) -> Vec<(Capability, &str)> {
        self.paths.iter().map(|p| (Capability::Destroy, p.as_str())).collect()
    }
}

/// Every project.
pub async fn list(state: &Domain) -> Result<Vec<ProjectRow>, ApiError> {
    Ok(state.store.project_list().await?)
}

/// Creates a project (409 if it exists; `sys` is reserved).
pub async fn create(state: &Domain, name: &ProjectName) -> Result<ProjectRow, ApiError> {
    if name.as_str() == "sys" {
        return Err(ApiError::new(
            ErrorKind::InvalidInput,
            "invalid_name",
            "the project name sys is reserved for server administration policies",
        ));
    }
    Ok(state.store.project_create(name.as_str(), now_millis()).await?)
}

/// The environments of a project (404 if the project does not exist).
pub async fn environments(state: &Domain, project: &str) -> Result<(ProjectName, ProjectRow, Vec<EnvRow>), ApiError> {
    let (name, row) = service::project(state, project).await?;
    let envs = state.store.env_list(row.id).await?;
    Ok((name, row, envs))
}

/// Creates an environment in a project.
pub async fn create_env(state: &Domain, project: &str, name: &EnvName) -> Result<EnvRow, ApiError> {
    let (_, row) = service::project(state, project).await?;
    Ok(state.store.env_create(row.id, name.as_str(), now_millis()).await?)
}

/// What deleting `env` would destroy; nothing is changed.
pub async fn plan_teardown(state: &Domain, env: EnvRow) -> Result<Teardown, ApiError> {
    let paths = state.store.secret_paths(env.id).await?;
    Ok(Teardown { env, paths })
}

/// Deletes an environment whose teardown was authorized.
pub async fn delete_env(state: &Domain, teardown: Authorized<Teardown>) -> Result<(), ApiError> {
    Ok(state.store.env_delete(teardown.get().env.id).await?)
}

/// Deletes a project once the teardown of each of its environments was
/// authorized (refused if one is missing: an environment created meanwhile).
pub async fn delete(state: &Domain, project: &ProjectRow, envs: Vec<Authorized<Teardown>>) -> Result<(), ApiError> {
    let now = state.store.env_list(project.id).await?;
    let covered = |e: &EnvRow| envs.iter().any(|t| t.get().env.id == e.id);
    if let Some(missed) = now.iter().find(|e| !covered(e)) {
        return Err(ApiError::conflict(format!(
            "environment {} was created while project {} was being deleted; try again",
            missed.name, project.name
        )));
    }
    Ok(state.store.project_delete(project.id).await?)
}

/// An environment by its names (404 naming which is absent).
pub async fn environment(state: &Domain, project: &str, env: &str) -> Result<EnvRef, ApiError> {
    service::environment(state, project, env).await
}
