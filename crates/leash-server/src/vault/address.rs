//! Where a Vault path under a mount points in Leash: project, environment, folder.

use leash_core::names::{EnvName, PathPrefix, ProjectName, SecretPath};

use crate::authz::Resource;
use crate::error::ApiError;

/// A Vault secret's address: `MOUNT/ENV[/FOLDER...]` as Leash's project,
/// environment and folder (empty: the environment's top level).
#[derive(Debug, Clone)]
pub struct KvAddress {
    pub project: ProjectName,
    pub env: EnvName,
    pub folder: PathPrefix,
}

impl KvAddress {
    /// The address of `path` (with or without slashes around it) under mount `mount`.
    pub fn parse(mount: &str, path: &str) -> Result<Self, ApiError> {
        let project = ProjectName::parse(mount)?;
        let path = path.trim_matches('/');
        let (env, folder) = path.split_once('/').unwrap_or((path, ""));
        if env.is_empty() {
            return Err(ApiError::bad_request(format!(
                "a Vault path under mount {project}/ starts with a Leash environment: {project}/ENV[/FOLDER...]"
            )));
        }
        Ok(Self {
            project,
            env: EnvName::parse(env)?,
            folder: PathPrefix::parse(folder)?,
        })
    }

    /// The Leash path of key `key` of this secret; a key is one segment.
    pub fn key(&self, key: &str) -> Result<SecretPath, ApiError> {
        if key.contains('/') {
            return Err(ApiError::bad_request(format!(
                "key {key:?} contains '/': a key of a Vault secret is one name; write {key:?} as its own secret path"
            )));
        }
        let path = match self.folder.as_str() {
            "" => key.to_owned(),
            folder => format!("{folder}/{key}"),
        };
        Ok(SecretPath::parse(&path)?)
    }

    /// The folder as an authorization resource (the environment itself at the top level).
    pub fn resource(&self) -> Resource<'_> {
        Resource::Secret {
            project: self.project.as_str(),
            env: self.env.as_str(),
            path: self.folder.as_str(),
        }
    }

    /// Whether `path` (within the environment) is a key directly in this folder.
    pub fn holds(&self, path: &str) -> bool {
        direct_parent(path) == self.folder.as_str()
    }
}

/// The folder a secret path lies directly in (`""` at the top level).
pub fn direct_parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(mount: &str, path: &str, expected: Option<(&str, &str, &str)>) {
        let got = KvAddress::parse(mount, path)
            .ok()
            .map(|a| (a.project.to_string(), a.env.to_string(), a.folder.as_str().to_owned()));
        let expected = expected.map(|(p, e, f)| (p.to_owned(), e.to_owned(), f.to_owned()));
        assert_eq!(got, expected, "{mount} {path}");
    }

    #[test]
    fn paths_map_to_project_env_and_folder() {
        check("kv", "prod", Some(("kv", "prod", "")));
        check("kv", "prod/", Some(("kv", "prod", "")));
        check("kv", "payment/db", Some(("kv", "payment", "db")));
        check("kv", "/payment/stripe/api/", Some(("kv", "payment", "stripe/api")));
        check("kv", "", None);
        check("kv", "/", None);
        check("kv", "prod/../x", None);
        check("kv", "prod//x", None);
        check("k v", "prod", None);
    }

    #[test]
    fn keys_are_one_segment_in_the_folder() {
        let a = KvAddress::parse("kv", "payment/db").unwrap();
        assert_eq!(a.key("password").unwrap().as_str(), "db/password");
        assert!(a.key("a/b").is_err());
        assert!(a.key("").is_err());
        assert!(a.holds("db/password") && !a.holds("db/x/y") && !a.holds("password"));
        let top = KvAddress::parse("kv", "payment").unwrap();
        assert_eq!(top.key("URL").unwrap().as_str(), "URL");
        assert!(top.holds("URL") && !top.holds("db/URL"));
    }
}
