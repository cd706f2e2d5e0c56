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
//! gets 403. Every refusal is noted in the request's audit record with the
//! internal reason, whatever status the caller is answered.
//!
//! Two structures carry the rules that span several paths:
//! - [`Authorized`]: an operation that touches several paths of an environment
//!   (a change set, rollback, end-to-end recipient changes, deleting an
//!   environment) declares each touch with the capability it needs
//!   ([`Touches`]); [`authorize_each`] checks every one and refuses the whole
//!   operation if one fails. The secrets service only applies changes wrapped
//!   in `Authorized`, so no route can apply one it did not check.
//! - [`Visibility`]: the one filter of every listing-like answer (secret
//!   lists, history, watch events, scan fingerprints).

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
    if let Some(note) = &caller.note {
        let reason = format!("denied: {capability} on {path}: {}", decide(caller, capability, path));
        note.update(|n| n.reason = Some(reason));
    }
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

/// [`authorize`] for an API whose contract answers every refusal with 403,
/// as Vault's does: the answer is the same whether the resource exists or
/// not, so it leaks nothing either (the reason is still noted for the audit record).
pub fn authorize_uniform(caller: &Caller, capability: Capability, resource: Resource<'_>) -> Result<(), ApiError> {
    authorize(caller, capability, resource).map_err(|_| uniform(capability, &resource))
}

/// [`authorize_under`], answering every refusal with 403 (see [`authorize_uniform`]).
pub fn authorize_under_uniform(
    caller: &Caller,
    capability: Capability,
    resource: Resource<'_>,
) -> Result<(), ApiError> {
    authorize_under(caller, capability, resource).map_err(|_| uniform(capability, &resource))
}

/// [`authorize_each`], answering every refusal with 403 (see [`authorize_uniform`]).
pub fn authorize_each_uniform<T: Touches>(
    caller: &Caller,
    project: &str,
    env: &str,
    operation: T,
) -> Result<Authorized<T>, ApiError> {
    for (capability, path) in operation.touches() {
        authorize_uniform(caller, capability, Resource::Secret { project, env, path })?;
    }
    Ok(Authorized(operation))
}

/// The uniform refusal (the refused check has noted its reason for the audit record).
fn uniform(capability: Capability, resource: &Resource<'_>) -> ApiError {
    ApiError::forbidden(format!(
        "permission denied: this token may not {capability} {}",
        resource.path()
    ))
}

/// What an operation does to the paths of one environment: each path it
/// touches with the capability that touch needs.
pub trait Touches {
    /// `(capability, path within the environment)` for every path touched.
    fn touches(&self) -> Vec<(Capability, &str)>;
}

/// An operation every one of whose touches was authorized. Only this module
/// makes one ([`authorize_each`]), except [`Authorized::rotation`].
pub struct Authorized<T>(T);

impl<T> Authorized<T> {
    /// A rotation's promotion: authorized by the `rotate` check made when the
    /// rotation was requested (or the policy set, for scheduled runs), not by
    /// the caller's `write`.
    pub fn rotation(operation: T) -> Self {
        Self(operation)
    }

    pub fn get(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }

    /// The part of an authorized operation that is applied (a plan's change
    /// set). `part` must take from the operation, never add touches to it.
    pub fn map<U>(self, part: impl FnOnce(T) -> U) -> Authorized<U> {
        Authorized(part(self.0))
    }
}

/// Authorizes every path `operation` touches in `project/env`; refuses the
/// whole operation (naming the first path refused) if one check fails.
pub fn authorize_each<T: Touches>(
    caller: &Caller,
    project: &str,
    env: &str,
    operation: T,
) -> Result<Authorized<T>, ApiError> {
    for (capability, path) in operation.touches() {
        authorize(caller, capability, Resource::Secret { project, env, path }).map_err(|refused| {
            ApiError::new(
                refused.kind,
                refused.code,
                format!(
                    "{}; the operation would touch it, so nothing was changed",
                    refused.message
                ),
            )
        })?;
    }
    Ok(Authorized(operation))
}

/// Which paths of one environment a listing-like answer may show: those on
/// which the caller holds every one of `needs`. The one filter of secret
/// lists, history, watch events and scan fingerprints.
pub struct Visibility<'a> {
    caller: &'a Caller,
    base: String,
    needs: &'a [Capability],
}

impl<'a> Visibility<'a> {
    pub fn new(caller: &'a Caller, project: &str, env: &str, needs: &'a [Capability]) -> Self {
        Self {
            caller,
            base: format!("{project}/{env}"),
            needs,
        }
    }

    /// Whether `path` (within the environment) may be shown.
    pub fn shows(&self, path: &str) -> bool {
        if self.caller.is_root() {
            return true;
        }
        let full = format!("{}/{path}", self.base);
        self.needs.iter().all(|c| allows(self.caller, *c, &full))
    }
}
