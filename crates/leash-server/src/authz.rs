//! Authorization: the one function every route calls before it acts.
//!
//! Resources are paths in one namespace: `project`, `project/env`,
//! `project/env/secret/path`, and `sys/<area>` for server administration
//! (the project name `sys` is reserved). A root token may do anything; any
//! other caller is judged by the policy engine (`leash_core::policy`) over the
//! policies in force for its token.
//!
//! No existence leak: a denied caller that may not `list` the parent gets the
//! same 404 whether the resource exists or not; one that may list the parent
//! gets 403.

pub use leash_core::policy::Capability;
use leash_core::policy::{Decision, Policy, PolicySet};

use crate::auth::Caller;
use crate::error::ApiError;

/// What the caller wants to act on.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// Server administration: `sys/<area>` (`seal`, `keyring`, `identities`, `policies`, ...).
    System(&'a str),
    /// One project.
    Project(&'a str),
    /// One environment.
    Environment { project: &'a str, env: &'a str },
    /// A secret path (or folder) in an environment; empty `path` = the environment itself.
    Secret {
        project: &'a str,
        env: &'a str,
        path: &'a str,
    },
}

impl Resource<'_> {
    /// The resource's path in the policy namespace.
    pub fn path(&self) -> String {
        match self {
            Resource::System(area) => format!("sys/{area}"),
            Resource::Project(p) => (*p).to_owned(),
            Resource::Environment { project, env } => format!("{project}/{env}"),
            Resource::Secret { project, env, path: "" } => format!("{project}/{env}"),
            Resource::Secret { project, env, path } => format!("{project}/{env}/{path}"),
        }
    }
}

fn policy_refs(caller: &Caller) -> Vec<&Policy> {
    caller.policies.iter().map(|p| &**p).collect()
}

/// The policy engine's verdict for a non-root caller (root callers are always allowed).
pub fn decide(caller: &Caller, capability: Capability, path: &str) -> Decision {
    let refs = policy_refs(caller);
    PolicySet::new(&refs, &caller.context).evaluate(path, capability)
}

/// Whether the caller holds `capability` on `path` (root: always).
pub fn allows(caller: &Caller, capability: Capability, path: &str) -> bool {
    caller.is_root() || decide(caller, capability, path).allowed
}

/// Whether the caller could hold `capability` on something at or under `prefix`.
pub fn allows_under(caller: &Caller, capability: Capability, prefix: &str) -> bool {
    if caller.is_root() {
        return true;
    }
    let refs = policy_refs(caller);
    PolicySet::new(&refs, &caller.context).may_access_under(prefix, capability)
}

fn refusal(caller: &Caller, capability: Capability, path: &str) -> ApiError {
    tracing::debug!(%capability, %path, accessor = %caller.token.accessor, "denied");
    let parent = path.rsplit_once('/').map(|(parent, _)| parent);
    match parent {
        Some(parent) if allows_under(caller, Capability::List, parent) => {
            ApiError::forbidden(format!("this token may not {capability} {path}"))
        }
        _ => ApiError::not_found(format!("{path} not found, or this token may not see it")),
    }
}

/// Allows or refuses `capability` on `resource` for `caller`.
pub fn authorize(caller: &Caller, capability: Capability, resource: Resource<'_>) -> Result<(), ApiError> {
    let path = resource.path();
    if allows(caller, capability, &path) {
        Ok(())
    } else {
        Err(refusal(caller, capability, &path))
    }
}

/// Like [`authorize`], for listings: allowed when the caller could hold
/// `capability` on anything at or under the resource (the listing is then filtered).
pub fn authorize_under(caller: &Caller, capability: Capability, resource: Resource<'_>) -> Result<(), ApiError> {
    let path = resource.path();
    if allows_under(caller, capability, &path) {
        Ok(())
    } else {
        Err(refusal(caller, capability, &path))
    }
}
