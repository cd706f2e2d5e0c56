//! Access review: who holds a capability on a path (every identity, and every
//! live token with policies of its own), and what one identity may do with
//! the secrets that exist.
//!
//! Every verdict is the policy engine's ([`leash_core::policy::who_can`],
//! [`leash_core::policy::what_can`]) over the policies a request would be
//! judged by: an identity's own and its groups' from the directory, a token's
//! as [`Caller::new`] resolves them. It reads metadata only (names, paths,
//! policies, token accessors): it must never read a secret value, never
//! return a token or its hash, and it knows nothing about HTTP. Callers
//! authorize first (`read` on `sys/access`).

use std::sync::Arc;

use leash_core::api::{AccessEntry, AccessHolder, RootHolder, RuleRef, WhatCan, WhatCanQuery, WhoCan, WhoCanQuery};
use leash_core::names::{EnvName, ProjectName};
use leash_core::policy::{
    Capability, Explanation, IdentityContext, Policy, PolicySet, Subject, evaluate, what_can as engine_what_can,
    who_can as engine_who_can,
};
use leash_store::TokenRecord;

use crate::auth::Caller;
use crate::directory::{IdentityEntry, PolicySource, Snapshot};
use crate::error::ApiError;
use crate::identities::IdentityName;
use crate::state::Domain;
use crate::time::now_millis;

/// Who is reviewed, and how to say where a deciding policy came from.
pub(crate) struct Reviewed {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) accessor: Option<String>,
    /// The token's own policies (tokens only).
    token_policies: Vec<String>,
    identity: Option<IdentityEntry>,
    pub(crate) context: IdentityContext,
    pub(crate) policies: Vec<Arc<Policy>>,
}

impl Reviewed {
    fn identity(entry: &IdentityEntry, snapshot: &Snapshot) -> Self {
        Self {
            name: entry.name.clone(),
            kind: entry.kind.clone(),
            accessor: None,
            token_policies: Vec::new(),
            identity: Some(entry.clone()),
            context: IdentityContext {
                name: entry.name.clone(),
                metadata: entry.metadata.clone(),
            },
            policies: snapshot.resolve(&entry.policies),
        }
    }

    /// A token judged exactly as its requests are ([`Caller::new`]).
    fn token(record: TokenRecord, snapshot: &Snapshot) -> Self {
        let identity = record.identity_id.and_then(|id| snapshot.identities.get(&id)).cloned();
        let caller = Caller::new(Arc::new(record), snapshot);
        Self {
            name: caller.token.display_name.clone(),
            kind: "token".to_owned(),
            accessor: Some(caller.token.accessor.clone()),
            token_policies: caller.token.policies.clone(),
            identity,
            context: caller.context,
            policies: caller.policies,
        }
    }

    /// `(via, group)` of the policy that decided.
    pub(crate) fn via(&self, policy: &str) -> (String, Option<String>) {
        if self.token_policies.iter().any(|p| p == policy) {
            return ("token".to_owned(), None);
        }
        match self.identity.as_ref().and_then(|e| e.sources.get(policy)) {
            Some(PolicySource::Group(group)) => ("group".to_owned(), Some(group.clone())),
            Some(PolicySource::Own) | None => ("own".to_owned(), None),
        }
    }
}

/// The rule an explanation names (`None` for the default deny or an invalid path).
pub(crate) fn rule_ref(explanation: &Explanation) -> Option<RuleRef> {
    match explanation {
        Explanation::Rule {
            policy,
            kind,
            index,
            pattern,
        } => Some(RuleRef {
            policy: policy.clone(),
            kind: kind.to_string(),
            number: *index,
            pattern: pattern.clone(),
        }),
        Explanation::DefaultDeny | Explanation::InvalidResource { .. } => None,
    }
}

fn parse_capability(word: &str) -> Result<Capability, ApiError> {
    word.parse()
        .map_err(|e: leash_core::Error| ApiError::bad_request(e.to_string()))
}

/// Every identity (by name), then every live non-root token with policies of
/// its own (by accessor), and the live root tokens apart.
pub(crate) async fn reviewed(
    state: &Domain,
    snapshot: &Snapshot,
) -> Result<(Vec<Reviewed>, Vec<RootHolder>), ApiError> {
    let mut identities: Vec<&IdentityEntry> = snapshot.identities.values().collect();
    identities.sort_by(|a, b| a.name.cmp(&b.name));
    let mut reviewed: Vec<Reviewed> = identities
        .into_iter()
        .map(|e| Reviewed::identity(e, snapshot))
        .collect();
    let now = now_millis();
    let mut roots = Vec::new();
    for token in state.store.token_list().await? {
        if token.expires_at.is_some_and(|t| t <= now) {
            continue;
        }
        if token.is_root {
            roots.push(RootHolder {
                accessor: token.accessor,
                display_name: token.display_name,
            });
        } else if !token.policies.is_empty() {
            reviewed.push(Reviewed::token(token, snapshot));
        }
    }
    Ok((reviewed, roots))
}

/// The live secrets of one environment, as full `project/env/path` resources.
pub(crate) struct EnvSecrets {
    pub(crate) project: String,
    pub(crate) env: String,
    pub(crate) paths: Vec<String>,
}

/// Every environment (within the filters) with the paths of its live secrets;
/// 404 naming a project filter that matches nothing. Reads paths only.
pub(crate) async fn inventory(
    state: &Domain,
    project: Option<&ProjectName>,
    env: Option<&EnvName>,
) -> Result<Vec<EnvSecrets>, ApiError> {
    let mut projects = state.store.project_list().await?;
    if let Some(wanted) = project {
        projects.retain(|p| p.name == wanted.as_str());
        if projects.is_empty() {
            return Err(ApiError::not_found(format!("project {wanted} not found")));
        }
    }
    let mut out = Vec::new();
    for p in &projects {
        for e in state.store.env_list(p.id).await? {
            if env.is_some_and(|wanted| e.name != wanted.as_str()) {
                continue;
            }
            let (_, live) = state.store.list_state(e.id, None, false).await?;
            out.push(EnvSecrets {
                paths: live
                    .into_iter()
                    .map(|v| format!("{}/{}/{}", p.name, e.name, v.path))
                    .collect(),
                project: p.name.clone(),
                env: e.name.clone(),
            });
        }
    }
    Ok(out)
}

/// Every identity and live token that holds `capability` on `path`, with the
/// rule that grants it; those a deny rule refuses, with that deny; and the
/// live root tokens.
pub async fn who_can(state: &Domain, query: WhoCanQuery) -> Result<WhoCan, ApiError> {
    let capability = parse_capability(&query.capability)?;
    let unchecked = evaluate(&[], &IdentityContext::default(), &query.path, capability);
    if let Explanation::InvalidResource { .. } = unchecked.explanation {
        return Err(ApiError::bad_request(format!(
            "{:?} is not a resource path (project/env/path)",
            query.path
        )));
    }
    let snapshot = state.directory.snapshot();
    let (reviewed, root_tokens) = reviewed(state, &snapshot).await?;
    let subjects: Vec<Subject<'_>> = reviewed
        .iter()
        .map(|r| Subject {
            context: r.context.clone(),
            policies: r.policies.iter().map(|p| &**p).collect(),
        })
        .collect();
    let mut answer = WhoCan {
        path: query.path.clone(),
        capability: capability.to_string(),
        allowed: Vec::new(),
        denied: Vec::new(),
        root_tokens,
    };
    for standing in engine_who_can(&subjects, &query.path, capability) {
        let who = &reviewed[standing.subject];
        let Some(rule) = rule_ref(&standing.decision.explanation) else {
            continue;
        };
        let (via, group) = who.via(&rule.policy);
        let holder = AccessHolder {
            name: who.name.clone(),
            kind: who.kind.clone(),
            accessor: who.accessor.clone(),
            via,
            group,
            rule,
        };
        if standing.decision.allowed {
            answer.allowed.push(holder);
        } else {
            answer.denied.push(holder);
        }
    }
    Ok(answer)
}

/// Every capability `identity` holds on every secret that exists (live
/// secrets, within the filters), with the rule behind each. Reads paths only.
pub async fn what_can(state: &Domain, identity: &IdentityName, query: WhatCanQuery) -> Result<WhatCan, ApiError> {
    let project_filter = query.project.as_deref().map(ProjectName::parse).transpose()?;
    let env_filter = query.env.as_deref().map(EnvName::parse).transpose()?;
    let snapshot = state.directory.snapshot();
    let entry = snapshot
        .identities
        .values()
        .find(|e| e.name == identity.as_str())
        .ok_or_else(|| ApiError::not_found(format!("identity {identity} not found")))?;
    let who = Reviewed::identity(entry, &snapshot);

    let inventory = inventory(state, project_filter.as_ref(), env_filter.as_ref()).await?;
    let paths: Vec<&str> = inventory
        .iter()
        .flat_map(|e| e.paths.iter().map(String::as_str))
        .collect();

    let refs: Vec<&Policy> = who.policies.iter().map(|p| &**p).collect();
    let set = PolicySet::new(&refs, &who.context);
    let entries = engine_what_can(&set, paths)
        .into_iter()
        .filter_map(|held| {
            let rule = rule_ref(&held.explanation)?;
            let (via, group) = who.via(&rule.policy);
            Some(AccessEntry {
                path: held.resource.to_owned(),
                capability: held.capability.to_string(),
                via,
                group,
                rule,
            })
        })
        .collect();
    Ok(WhatCan {
        identity: who.name,
        kind: who.kind,
        entries,
    })
}
