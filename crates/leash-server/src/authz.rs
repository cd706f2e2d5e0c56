//! Authorization: the one function every route calls before it acts.
//!
//! Today only the root token exists (identities and policies come with the
//! policy engine); a non-root token is denied everything. Handlers name the
//! capability and resource they need, so the policy engine plugs in here and
//! nowhere else.

use crate::auth::Caller;
use crate::error::ApiError;

/// What a caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Read,
    List,
    Write,
    Delete,
    Destroy,
    Admin,
}

/// What the caller wants to do it to.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// Server-wide operations (seal, key rotation).
    System,
    /// The list of projects, or one project.
    Project(Option<&'a str>),
    /// An environment, or the list of a project's environments.
    Environment { project: &'a str, env: Option<&'a str> },
    /// A secret path (or folder) in an environment.
    Secret {
        project: &'a str,
        env: &'a str,
        path: &'a str,
    },
}

/// Allows or denies `capability` on `resource` for `caller`.
pub fn authorize(caller: &Caller, capability: Capability, resource: Resource<'_>) -> Result<(), ApiError> {
    if caller.token.is_root {
        return Ok(());
    }
    tracing::debug!(?capability, ?resource, accessor = %caller.token.accessor, "denied");
    Err(ApiError::forbidden(format!(
        "this token may not {} here",
        format!("{capability:?}").to_lowercase()
    )))
}
