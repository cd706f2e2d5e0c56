//! What an administrator may hand out: the rule that keeps a partial
//! administrator (`admin` on one `sys/...` area) from minting rights it does
//! not hold itself (docs/policies.md#administration).
//!
//! `authz::authorize` decides whether a caller may use an administration
//! route at all; [`authorize_grants`] decides whether what the request would
//! leave behind stays within the caller's own rights. Every route that
//! attaches policies, changes an identity or a group, or rewrites a policy or
//! a JWT issuer describes its effect as a list of [`Grant`]s (each principal
//! and group as it is now and as it would be) and calls it, holding
//! [`AdminLock`] from the check until the change is stored and the directory
//! reloaded, so two concurrent requests cannot each pass on the state the
//! other is about to change.
//!
//! The rule compares policies **by name**: it never tries to decide whether
//! one policy's rules are contained in another's. Root tokens, and callers
//! that hold `admin` on `**` without any deny rule (they can already do
//! everything a policy can grant), are unrestricted.
//!
//! It knows nothing about HTTP beyond the 403 it answers with, and reads only
//! the directory snapshot and the rows the route passes in.

use std::collections::{BTreeMap, BTreeSet};

use leash_core::policy::{Capability, IdentityContext, Policy};
use leash_store::{GroupRow, IdentityRow};

use crate::auth::Caller;
use crate::directory::Snapshot;
use crate::error::ApiError;
use crate::state::Domain;

/// Whether a [`Grant`] describes the state before the change or after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// As it is: the caller must be able to grant this already, or it may not touch it.
    Now,
    /// As the request would leave it.
    After,
}

/// One effect of an administrative request, as [`authorize_grants`] judges it.
#[derive(Debug, Clone)]
pub enum Grant {
    /// An identity or token holding `policies` (its effective policies: own
    /// and groups') with the template values `context`.
    Principal {
        /// How the refusal names it: `identity bob`, `the new token`.
        who: String,
        stage: Stage,
        policies: Vec<String>,
        context: IdentityContext,
    },
    /// A group carrying `policies`.
    Group {
        name: String,
        stage: Stage,
        policies: Vec<String>,
    },
    /// A policy document being written or deleted.
    PolicyDocument { name: String },
}

impl Grant {
    /// An identity as stored, with the groups that list it.
    pub fn identity(row: &IdentityRow, groups: &[GroupRow], stage: Stage) -> Grant {
        Grant::identity_with(row, &row.policies, stored_metadata(row), groups, stage)
    }

    /// An identity named like `row` with these own policies and metadata.
    pub fn identity_with(
        row: &IdentityRow,
        own: &[String],
        metadata: BTreeMap<String, String>,
        groups: &[GroupRow],
        stage: Stage,
    ) -> Grant {
        Grant::named_identity(&row.name, own, metadata, groups, stage)
    }

    /// An identity called `name` (existing or about to be created).
    pub fn named_identity(
        name: &str,
        own: &[String],
        metadata: BTreeMap<String, String>,
        groups: &[GroupRow],
        stage: Stage,
    ) -> Grant {
        Grant::Principal {
            who: format!("identity {name}"),
            stage,
            policies: effective_policies(name, own, groups),
            context: IdentityContext {
                name: name.to_owned(),
                metadata,
            },
        }
    }
}

/// The effects of replacing the group list `before` by `after` (one group
/// created, replaced or deleted): the group as it was and as it will be, and
/// every identity whose effective policies change, as it is and as it will be.
pub fn group_change(name: &str, before: &[GroupRow], after: &[GroupRow], identities: &[IdentityRow]) -> Vec<Grant> {
    let mut grants = Vec::new();
    let mut named: BTreeSet<&str> = BTreeSet::new();
    for (groups, stage) in [(before, Stage::Now), (after, Stage::After)] {
        if let Some(group) = groups.iter().find(|g| g.name == name) {
            grants.push(Grant::Group {
                name: name.to_owned(),
                stage,
                policies: group.policies.clone(),
            });
            named.extend(group.members.iter().map(String::as_str));
        }
    }
    for row in identities.iter().filter(|r| named.contains(r.name.as_str())) {
        let set = |groups: &[GroupRow]| -> BTreeSet<String> {
            effective_policies(&row.name, &row.policies, groups)
                .into_iter()
                .collect()
        };
        if set(before) != set(after) {
            grants.push(Grant::identity(row, before, Stage::Now));
            grants.push(Grant::identity(row, after, Stage::After));
        }
    }
    grants
}

/// The identities bound to JWT issuer `issuer`, as they are: rewriting or
/// deleting the issuer decides who can log in as them.
pub fn bound_to_issuer(issuer: &str, identities: &[IdentityRow], groups: &[GroupRow]) -> Vec<Grant> {
    identities
        .iter()
        .filter(|row| {
            row.jwt_binding
                .as_deref()
                .and_then(|b| serde_json::from_str::<leash_core::api::JwtBinding>(b).ok())
                .is_some_and(|b| b.issuer == issuer)
        })
        .map(|row| match Grant::identity(row, groups, Stage::Now) {
            Grant::Principal {
                who,
                stage,
                policies,
                context,
            } => Grant::Principal {
                who: format!("{who} (bound to JWT issuer {issuer})"),
                stage,
                policies,
                context,
            },
            other => other,
        })
        .collect()
}

/// An identity's metadata as the directory reads it.
pub fn stored_metadata(row: &IdentityRow) -> BTreeMap<String, String> {
    // Same reading as `Directory::reload`, so the rule sees what authorization sees.
    serde_json::from_str(&row.metadata).unwrap_or_default()
}

/// Own policies first, then those of each group that lists `name`, without repeats
/// (the order `Directory::reload` uses).
pub fn effective_policies(name: &str, own: &[String], groups: &[GroupRow]) -> Vec<String> {
    let mut names = Vec::new();
    let mut seen = BTreeSet::new();
    let group_policies = groups
        .iter()
        .filter(|g| g.members.iter().any(|m| m == name))
        .flat_map(|g| g.policies.iter());
    for policy in own.iter().chain(group_policies) {
        if seen.insert(policy.as_str()) {
            names.push(policy.clone());
        }
    }
    names
}

/// Held while an administrative change is checked and stored (one per process:
/// the single-node store has one writer; several nodes would need a lock in the store).
pub struct AdminLock {
    _guard: tokio::sync::MutexGuard<'static, ()>,
}

/// Serializes administrative changes: take it before reading the state a
/// [`Grant`] describes, drop it after the change is stored and the directory reloaded.
pub async fn lock() -> AdminLock {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    AdminLock {
        _guard: LOCK.lock().await,
    }
}

/// Whether the caller can already do everything a policy can grant: root, or
/// `admin` on `**` with no deny rule in any policy in force for it.
fn unrestricted(caller: &Caller) -> bool {
    caller.is_root()
        || (caller.policies.iter().all(|p| p.deny_rules().is_empty())
            && caller.policies.iter().any(|p| {
                p.allow_rules()
                    .iter()
                    .any(|r| r.pattern().as_str() == "**" && r.covers(Capability::Admin))
            }))
}

fn uses_templates(policy: &Policy) -> bool {
    policy
        .allow_rules()
        .iter()
        .chain(policy.deny_rules())
        .any(|r| r.pattern().has_templates())
}

const SEE: &str = "see docs/policies.md#administration";

/// Refuses (403, naming the policy and the identity, group or token) a
/// request whose effects would hand out rights the caller does not hold:
///
/// 1. every policy a principal or group holds, now and after, is in force
///    for the caller;
/// 2. every policy in force for the caller that has deny rules is held by
///    each principal, now and after (what is denied to the caller stays
///    denied to what it manages);
/// 3. a principal whose template values (name, metadata) differ from the
///    caller's holds no policy that uses templates;
/// 4. no policy document that is in force for the caller is written or deleted.
///
/// Root tokens and callers with `admin` on `**` and no deny rule pass. The
/// caller's policies are read again from the directory under `_lock`, so a
/// change that took them away a moment ago counts.
pub fn authorize_grants(_lock: &AdminLock, state: &Domain, caller: &Caller, grants: &[Grant]) -> Result<(), ApiError> {
    let snapshot = state.directory.snapshot();
    let caller = Caller::new(caller.token.clone(), &snapshot);
    if unrestricted(&caller) {
        return Ok(());
    }
    let held = |name: &str| caller.policy_names.iter().any(|p| p == name);
    let denying: Vec<&str> = caller
        .policies
        .iter()
        .filter(|p| !p.deny_rules().is_empty())
        .map(|p| p.name().as_str())
        .collect();
    for grant in grants {
        match grant {
            Grant::Principal {
                who,
                stage,
                policies,
                context,
            } => check_principal(&snapshot, &caller, &held, &denying, who, *stage, policies, context)?,
            Grant::Group { name, stage, policies } => {
                if let Some(p) = policies.iter().find(|p| !held(p)) {
                    return Err(ApiError::forbidden(match stage {
                        Stage::Now => format!(
                            "cannot manage group {name}: it carries policy {p}, which is not in force for this token ({SEE})"
                        ),
                        Stage::After => {
                            format!("cannot give policy {p} to group {name}: it is not in force for this token ({SEE})")
                        }
                    }));
                }
            }
            Grant::PolicyDocument { name } => {
                if held(name) {
                    return Err(ApiError::forbidden(format!(
                        "cannot change policy {name}: it is in force for this token, and a token may not rewrite its own rights ({SEE})"
                    )));
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check_principal(
    snapshot: &Snapshot,
    caller: &Caller,
    held: &dyn Fn(&str) -> bool,
    denying: &[&str],
    who: &str,
    stage: Stage,
    policies: &[String],
    context: &IdentityContext,
) -> Result<(), ApiError> {
    let refuse = |now: String, after: String| {
        Err(ApiError::forbidden(match stage {
            Stage::Now => format!("cannot manage {who}: {now} ({SEE})"),
            Stage::After => format!("{after} ({SEE})"),
        }))
    };
    if let Some(p) = policies.iter().find(|p| !held(p)) {
        return refuse(
            format!("it holds policy {p}, which is not in force for this token"),
            format!("cannot give policy {p} to {who}: it is not in force for this token"),
        );
    }
    if *context != caller.context
        && let Some(p) = policies
            .iter()
            .find(|p| snapshot.policies.get(p.as_str()).is_some_and(|p| uses_templates(p)))
    {
        return refuse(
            format!(
                "it holds policy {p}, which uses identity templates and so grants {who} other paths than it grants this token"
            ),
            format!(
                "cannot give policy {p} to {who}: it uses identity templates, so it would grant {who} other paths than it grants this token"
            ),
        );
    }
    if let Some(d) = denying.iter().find(|d| !policies.iter().any(|p| p == *d)) {
        return refuse(
            format!(
                "it does not hold policy {d}, whose deny rules bind this token, so it may do what this token may not"
            ),
            format!("cannot leave {who} without policy {d}: its deny rules bind this token, so {who} must hold it too"),
        );
    }
    Ok(())
}
