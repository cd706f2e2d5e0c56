//! Project and environment routes: create, list, delete, history, rollback
//! and atomic change sets.
//!
//! It owns only the mapping of those routes to typed calls and the name
//! checks that come before them; it must never send a request with a name
//! that [`leash_core::names`] rejects.

use leash_core::api::{
    ChangeRequest, ChangeResult, CreateNamed, EnvInfo, EnvList, History, ProjectInfo, ProjectList, RollbackRequest,
};
use leash_core::names::{EnvName, ProjectName};
use reqwest::Method;

use crate::failover::Retry;
use crate::{ApiPath, Client, Error};

const NO_BODY: Option<&()> = None;

/// `/api/v1/projects/{p}`, with `p` checked.
pub(crate) fn project_path(project: &str) -> Result<ApiPath, Error> {
    let project = ProjectName::parse(project)?;
    Ok(ApiPath::api().lit("projects").seg(project.as_str()))
}

/// `/api/v1/projects/{p}/envs/{e}`, with both checked.
pub(crate) fn env_path(project: &str, env: &str) -> Result<ApiPath, Error> {
    let env = EnvName::parse(env)?;
    Ok(project_path(project)?.lit("envs").seg(env.as_str()))
}

impl Client {
    /// `GET /api/v1/projects`.
    pub async fn list_projects(&self) -> Result<ProjectList, Error> {
        let path = ApiPath::api().lit("projects");
        self.call(Method::GET, &path, &[], NO_BODY).await
    }

    /// `POST /api/v1/projects`.
    pub async fn create_project(&self, name: &str) -> Result<ProjectInfo, Error> {
        let name = ProjectName::parse(name)?;
        let body = CreateNamed {
            name: name.as_str().to_owned(),
        };
        let path = ApiPath::api().lit("projects");
        self.call(Method::POST, &path, &[], Some(&body)).await
    }

    /// `DELETE /api/v1/projects/{p}`: deletes its environments and secrets.
    pub async fn delete_project(&self, name: &str) -> Result<(), Error> {
        let path = project_path(name)?;
        self.call_empty(Method::DELETE, &path, NO_BODY).await
    }

    /// `GET /api/v1/projects/{p}/envs`.
    pub async fn list_envs(&self, project: &str) -> Result<EnvList, Error> {
        let path = project_path(project)?.lit("envs");
        self.call(Method::GET, &path, &[], NO_BODY).await
    }

    /// `POST /api/v1/projects/{p}/envs`.
    pub async fn create_env(&self, project: &str, name: &str) -> Result<EnvInfo, Error> {
        let name = EnvName::parse(name)?;
        let body = CreateNamed {
            name: name.as_str().to_owned(),
        };
        let path = project_path(project)?.lit("envs");
        self.call(Method::POST, &path, &[], Some(&body)).await
    }

    /// `DELETE /api/v1/projects/{p}/envs/{e}`.
    pub async fn delete_env(&self, project: &str, env: &str) -> Result<(), Error> {
        let path = env_path(project, env)?;
        self.call_empty(Method::DELETE, &path, NO_BODY).await
    }

    /// `GET .../history?limit=&before=`: changes, newest first. `before`
    /// pages back from a revision.
    pub async fn history(
        &self,
        project: &str,
        env: &str,
        limit: Option<u32>,
        before: Option<i64>,
    ) -> Result<History, Error> {
        let path = env_path(project, env)?.lit("history");
        let mut query = Vec::new();
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(before) = before {
            query.push(("before", before.to_string()));
        }
        self.call(Method::GET, &path, &query, NO_BODY).await
    }

    /// `POST .../rollback`: a new revision restoring the state at `request.to`.
    pub async fn rollback(&self, project: &str, env: &str, request: &RollbackRequest) -> Result<ChangeResult, Error> {
        let path = env_path(project, env)?.lit("rollback");
        self.call_as(Retry::cas(request.cas), Method::POST, &path, &[], Some(request))
            .await
    }

    /// `POST .../changes`: an atomic change set (all or nothing). Every path
    /// in it is checked first.
    pub async fn apply_changes(
        &self,
        project: &str,
        env: &str,
        request: &ChangeRequest,
    ) -> Result<ChangeResult, Error> {
        for op in &request.changes {
            leash_core::names::SecretPath::parse(&op.path)?;
        }
        let path = env_path(project, env)?.lit("changes");
        self.call_as(Retry::cas(request.cas), Method::POST, &path, &[], Some(request))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_paths_check_names() {
        assert_eq!(
            env_path("payment", "prod").unwrap().as_str(),
            "/api/v1/projects/payment/envs/prod"
        );
        assert!(matches!(env_path("pay/ment", "prod"), Err(Error::InvalidName(_))));
        assert!(matches!(env_path("payment", ".."), Err(Error::InvalidName(_))));
    }
}
