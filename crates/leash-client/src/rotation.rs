//! Rotation routes: a secret's policy, rotating now, and the attempt history.
//!
//! It owns only the mapping of those routes to typed calls; no value crosses
//! these routes (rotators name other secrets by path).

use leash_core::api::{RotateRequest, RotateResult, RotationHistory, RotationPolicy, RotationStatus};
use reqwest::Method;

use crate::secrets::secret_path;
use crate::{Client, Error};

const NO_BODY: Option<&()> = None;

impl Client {
    /// `PUT .../rotation/{path}`: sets (or replaces) a secret's rotation policy.
    pub async fn set_rotation(
        &self,
        project: &str,
        env: &str,
        path: &str,
        policy: &RotationPolicy,
    ) -> Result<RotationStatus, Error> {
        let url_path = secret_path(project, env, "rotation", path)?;
        self.call(Method::PUT, &url_path, &[], Some(policy)).await
    }

    /// `GET .../rotation/{path}`: the policy and where rotation stands.
    pub async fn rotation_status(&self, project: &str, env: &str, path: &str) -> Result<RotationStatus, Error> {
        let url_path = secret_path(project, env, "rotation", path)?;
        self.call(Method::GET, &url_path, &[], NO_BODY).await
    }

    /// `DELETE .../rotation/{path}`: removes the policy (the value stays).
    pub async fn delete_rotation(&self, project: &str, env: &str, path: &str) -> Result<RotationStatus, Error> {
        let url_path = secret_path(project, env, "rotation", path)?;
        self.call(Method::DELETE, &url_path, &[], NO_BODY).await
    }

    /// `POST .../rotate/{path}`: rotates now (the policy's way, or a one-off generator).
    pub async fn rotate(
        &self,
        project: &str,
        env: &str,
        path: &str,
        request: &RotateRequest,
    ) -> Result<RotateResult, Error> {
        let url_path = secret_path(project, env, "rotate", path)?;
        self.call(Method::POST, &url_path, &[], Some(request)).await
    }

    /// `GET .../rotation-history/{path}?limit=`: attempts, newest first.
    pub async fn rotation_history(
        &self,
        project: &str,
        env: &str,
        path: &str,
        limit: Option<i64>,
    ) -> Result<RotationHistory, Error> {
        let url_path = secret_path(project, env, "rotation-history", path)?;
        let query: Vec<_> = limit.map(|l| ("limit", l.to_string())).into_iter().collect();
        self.call(Method::GET, &url_path, &query, NO_BODY).await
    }
}
