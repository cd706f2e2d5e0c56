//! Secret routes: list, read, write, soft delete, metadata, undelete, destroy.
//!
//! It owns only the mapping of those routes to typed calls and the path
//! checks before them; it must never log, keep or echo a value it sends or
//! receives.

use leash_core::api::{
    ChangeResult, DestroyRequest, DestroyResult, SecretList, SecretMetadata, SecretValue, SecretWrite, UndeleteRequest,
};
use leash_core::names::{PathPrefix, SecretPath};
use reqwest::Method;

use crate::failover::Retry;
use crate::projects::env_path;
use crate::{ApiPath, Client, Error};

const NO_BODY: Option<&()> = None;

/// Options of [`Client::list_secrets`].
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Only secrets in this folder (`stripe` or `stripe/`).
    pub prefix: Option<String>,
    /// Ask for values too (needs `read` on every listed secret).
    pub include_values: bool,
    /// The listing as of this environment revision.
    pub at_revision: Option<i64>,
}

/// Options of [`Client::get_secret`]: the current version when both are `None`.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// A specific version.
    pub version: Option<i64>,
    /// The version that was current at this environment revision.
    pub at_revision: Option<i64>,
    /// A stage: `current`, `previous` (the value before the last rotation, during its grace period) or `pending`.
    pub stage: Option<String>,
}

/// `.../{kind}/{path}`, with the environment and the path checked.
pub(crate) fn secret_path(project: &str, env: &str, kind: &'static str, path: &str) -> Result<ApiPath, Error> {
    let path = SecretPath::parse(path)?;
    Ok(env_path(project, env)?.lit(kind).secret(&path))
}

impl Client {
    /// `GET .../secrets?prefix=&include_values=&at_revision=`.
    pub async fn list_secrets(&self, project: &str, env: &str, options: &ListOptions) -> Result<SecretList, Error> {
        let path = env_path(project, env)?.lit("secrets");
        let mut query = Vec::new();
        if let Some(prefix) = &options.prefix {
            let prefix = PathPrefix::parse(prefix)?;
            if !prefix.as_str().is_empty() {
                query.push(("prefix", prefix.as_str().to_owned()));
            }
        }
        if options.include_values {
            query.push(("include_values", "true".to_owned()));
        }
        if let Some(rev) = options.at_revision {
            query.push(("at_revision", rev.to_string()));
        }
        self.call(Method::GET, &path, &query, NO_BODY).await
    }

    /// `GET .../secrets/{path}?version=&at_revision=&stage=`: one version with its value.
    pub async fn get_secret(
        &self,
        project: &str,
        env: &str,
        path: &str,
        options: &ReadOptions,
    ) -> Result<SecretValue, Error> {
        let url_path = secret_path(project, env, "secrets", path)?;
        let mut query = Vec::new();
        if let Some(version) = options.version {
            query.push(("version", version.to_string()));
        }
        if let Some(rev) = options.at_revision {
            query.push(("at_revision", rev.to_string()));
        }
        if let Some(stage) = &options.stage {
            query.push(("stage", stage.clone()));
        }
        self.call(Method::GET, &url_path, &query, NO_BODY).await
    }

    /// `PUT .../secrets/{path}`: writes a new version of one secret.
    pub async fn put_secret(
        &self,
        project: &str,
        env: &str,
        path: &str,
        write: &SecretWrite,
    ) -> Result<ChangeResult, Error> {
        let url_path = secret_path(project, env, "secrets", path)?;
        self.call_as(Retry::cas(write.cas), Method::PUT, &url_path, &[], Some(write))
            .await
    }

    /// `DELETE .../secrets/{path}?cas=`: soft delete (undeletable).
    pub async fn delete_secret(
        &self,
        project: &str,
        env: &str,
        path: &str,
        cas: Option<i64>,
    ) -> Result<ChangeResult, Error> {
        let url_path = secret_path(project, env, "secrets", path)?;
        let query: Vec<_> = cas.map(|c| ("cas", c.to_string())).into_iter().collect();
        self.call_as(Retry::cas(cas), Method::DELETE, &url_path, &query, NO_BODY)
            .await
    }

    /// `GET .../metadata/{path}`: the versions of a secret, without values.
    pub async fn secret_metadata(&self, project: &str, env: &str, path: &str) -> Result<SecretMetadata, Error> {
        let url_path = secret_path(project, env, "metadata", path)?;
        self.call(Method::GET, &url_path, &[], NO_BODY).await
    }

    /// `POST .../undelete/{path}`: restores a soft-deleted secret.
    pub async fn undelete_secret(
        &self,
        project: &str,
        env: &str,
        path: &str,
        cas: Option<i64>,
    ) -> Result<ChangeResult, Error> {
        let url_path = secret_path(project, env, "undelete", path)?;
        self.call_as(
            Retry::cas(cas),
            Method::POST,
            &url_path,
            &[],
            Some(&UndeleteRequest { cas }),
        )
        .await
    }

    /// `POST .../destroy/{path}`: wipes the data of some or all versions
    /// (metadata is kept). Irreversible.
    pub async fn destroy_secret(
        &self,
        project: &str,
        env: &str,
        path: &str,
        request: &DestroyRequest,
    ) -> Result<DestroyResult, Error> {
        let url_path = secret_path(project, env, "destroy", path)?;
        self.call(Method::POST, &url_path, &[], Some(request)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_paths_keep_folders_as_separators() {
        let p = secret_path("payment", "prod", "secrets", "stripe/API_KEY").unwrap();
        assert_eq!(p.as_str(), "/api/v1/projects/payment/envs/prod/secrets/stripe/API_KEY");
        assert!(secret_path("payment", "prod", "secrets", "a/../b").is_err());
        assert!(secret_path("payment", "prod", "secrets", "a b").is_err());
    }
}
