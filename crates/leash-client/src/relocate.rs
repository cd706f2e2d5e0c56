//! Moving, copying and comparing secrets on the server: the value never
//! reaches this client (`POST .../move`, `.../copy`, `GET .../diff/{other}`).
//!
//! It owns only the mapping of those routes to typed calls; names are
//! checked before a request is sent.

use leash_core::api::{ChangeResult, CopyRequest, DiffQuery, EnvDiff, MoveRequest};
use leash_core::names::EnvName;
use reqwest::Method;

use crate::failover::Retry;
use crate::projects::env_path;
use crate::{Client, Error};

const NO_BODY: Option<&()> = None;

impl Client {
    /// `POST .../move`: renames a secret (or a folder, both ending in `/`) in one change.
    pub async fn move_secrets(&self, project: &str, env: &str, request: &MoveRequest) -> Result<ChangeResult, Error> {
        let path = env_path(project, env)?.lit("move");
        self.call_as(Retry::cas(request.cas), Method::POST, &path, &[], Some(request))
            .await
    }

    /// `POST .../copy`: copies a secret (or a folder) here or to `request.to_env`.
    pub async fn copy_secrets(&self, project: &str, env: &str, request: &CopyRequest) -> Result<ChangeResult, Error> {
        if let Some(to_env) = &request.to_env {
            EnvName::parse(to_env)?;
        }
        let path = env_path(project, env)?.lit("copy");
        self.call_as(Retry::cas(request.cas), Method::POST, &path, &[], Some(request))
            .await
    }

    /// `GET .../envs/{a}/diff/{b}`: which keys each side holds and whether values match (never the values).
    pub async fn env_diff(&self, project: &str, a: &str, b: &str, query: &DiffQuery) -> Result<EnvDiff, Error> {
        let b = EnvName::parse(b)?;
        let path = env_path(project, a)?.lit("diff").seg(b.as_str());
        let mut params = Vec::new();
        if let Some(other) = &query.other_project {
            leash_core::names::ProjectName::parse(other)?;
            params.push(("other_project", other.clone()));
        }
        self.call(Method::GET, &path, &params, NO_BODY).await
    }
}
