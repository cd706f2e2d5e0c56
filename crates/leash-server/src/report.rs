//! The access report: the whole system's access as a matrix (identities ×
//! environments × capabilities, counted over the secrets that exist) and the
//! findings a reviewer wants flagged: `admin` holders and root tokens,
//! wildcards that reach production, service secrets and tokens that never
//! expire, identities unused for N days (from the audit log), and secrets
//! nobody may read.
//!
//! Every verdict is the policy engine's, over the same policies
//! [`crate::review`] resolves for who-can and what-can. It reads metadata
//! only (names, paths, policies, expiry times, audit record times): it must
//! never read a secret value, never return a token or its hash, and it knows
//! nothing about HTTP. Callers authorize first (`read` on `sys/access`).

use std::collections::{BTreeMap, BTreeSet};

use leash_core::api::{AccessReport, Finding, FindingKind, MatrixCell, ReportQuery};
use leash_core::policy::{Capability, Policy, PolicySet, RuleKind, what_can as engine_what_can};
use leash_store::{AuditFilter, TokenRecord};

use crate::error::ApiError;
use crate::review::{EnvSecrets, Reviewed, inventory, reviewed};
use crate::state::Domain;
use crate::time::{now_millis, rfc3339};

/// The window of the `unused` finding unless the query says otherwise.
pub const DEFAULT_UNUSED_DAYS: u32 = 90;
const DAY_MS: i64 = 86_400_000;

/// Whether an environment's name says it is production: `prod`,
/// `production`, `prd`, `live`, or one of those followed by `-`, `_` or `.`
/// (`prod-eu`).
pub fn is_production(env: &str) -> bool {
    const NAMES: [&str; 4] = ["prod", "production", "prd", "live"];
    let env = env.to_ascii_lowercase();
    NAMES.iter().any(|name| {
        env == *name
            || env
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['-', '_', '.']))
    })
}

/// Whether a pattern has a wildcard in its project or environment segment
/// (`*/prod/**`, `payment/*/DB`, `**`): it reaches environments nobody named.
pub fn wildcard_over_envs(pattern: &str) -> bool {
    pattern.split('/').take(2).any(|segment| segment.contains('*'))
}

/// Builds the report.
pub async fn report(state: &Domain, query: ReportQuery) -> Result<AccessReport, ApiError> {
    let unused_days = query.unused_days.unwrap_or(DEFAULT_UNUSED_DAYS);
    if unused_days == 0 {
        return Err(ApiError::bad_request("unused_days must be 1 or more"));
    }
    let snapshot = state.directory.snapshot();
    let (reviewed, _) = reviewed(state, &snapshot).await?;
    let envs = inventory(state, None, None).await?;
    let identities: Vec<&Reviewed> = reviewed.iter().filter(|r| r.accessor.is_none()).collect();

    let mut findings = token_findings(&state.store.token_list().await?, now_millis());
    findings.extend(admin_holders(&identities));
    findings.extend(wildcards_over_prod(&reviewed, &envs));
    findings.extend(unreadable(&reviewed, &envs));
    findings.extend(never_expiring_secrets(state).await?);
    findings.extend(unused(state, unused_days).await?);
    findings.sort_by(|a, b| (a.kind, &a.subject).cmp(&(b.kind, &b.subject)));

    Ok(AccessReport {
        generated_at: rfc3339(now_millis()),
        unused_days,
        matrix: matrix(&identities, &envs),
        findings,
    })
}

fn policy_set(who: &Reviewed) -> (Vec<&Policy>, &leash_core::policy::IdentityContext) {
    (who.policies.iter().map(|p| &**p).collect(), &who.context)
}

/// One cell per identity, environment and capability held on at least one secret there.
fn matrix(identities: &[&Reviewed], envs: &[EnvSecrets]) -> Vec<MatrixCell> {
    let mut cells = Vec::new();
    for who in identities {
        let (refs, context) = policy_set(who);
        let set = PolicySet::new(&refs, context);
        for env in envs {
            let mut held: BTreeMap<usize, usize> = BTreeMap::new();
            for holding in engine_what_can(&set, env.paths.iter().map(String::as_str)) {
                let at = Capability::ALL
                    .iter()
                    .position(|c| *c == holding.capability)
                    .unwrap_or(0);
                *held.entry(at).or_default() += 1;
            }
            cells.extend(held.into_iter().map(|(at, secrets)| MatrixCell {
                identity: who.name.clone(),
                kind: who.kind.clone(),
                project: env.project.clone(),
                env: env.env.clone(),
                capability: Capability::ALL[at].to_string(),
                secrets,
                of: env.paths.len(),
            }));
        }
    }
    cells
}

/// Each allow rule that grants `admin`, per identity holding it.
fn admin_holders(identities: &[&Reviewed]) -> Vec<Finding> {
    let mut out = Vec::new();
    for who in identities {
        for policy in &who.policies {
            for (index, rule) in policy.rules(RuleKind::Allow).iter().enumerate() {
                if !rule.covers(Capability::Admin) {
                    continue;
                }
                let (via, group) = who.via(policy.name().as_str());
                let through = match group {
                    Some(group) => format!("group {group}"),
                    None => via,
                };
                out.push(Finding {
                    kind: FindingKind::Admin,
                    subject: who.name.clone(),
                    detail: format!(
                        "holds admin on {} through policy {} (allow rule {}, {through})",
                        rule.pattern().as_str(),
                        policy.name().as_str(),
                        index + 1
                    ),
                });
            }
        }
    }
    out
}

/// Allow rules that reach a production environment through a wildcard in
/// their project or environment segment, with the environments reached and
/// who holds them (judged with each holder's own context, so templated
/// patterns count too).
fn wildcards_over_prod(reviewed: &[Reviewed], envs: &[EnvSecrets]) -> Vec<Finding> {
    let prod: Vec<&EnvSecrets> = envs.iter().filter(|e| is_production(&e.env)).collect();
    // (policy, rule number) -> (pattern, environments reached, holders)
    type Reach = (String, BTreeSet<String>, BTreeSet<String>);
    let mut rules: BTreeMap<(String, usize), Reach> = BTreeMap::new();
    for who in reviewed {
        for policy in &who.policies {
            for (index, rule) in policy.rules(RuleKind::Allow).iter().enumerate() {
                let pattern = rule.pattern();
                if !wildcard_over_envs(pattern.as_str()) {
                    continue;
                }
                for env in &prod {
                    let env_path = format!("{}/{}", env.project, env.env);
                    let reaches = std::iter::once(&env_path)
                        .chain(&env.paths)
                        .any(|path| pattern.matches(&who.context, path));
                    if reaches {
                        let entry = rules
                            .entry((policy.name().as_str().to_owned(), index + 1))
                            .or_insert_with(|| (pattern.as_str().to_owned(), BTreeSet::new(), BTreeSet::new()));
                        entry.1.insert(env_path);
                        entry.2.insert(who.name.clone());
                    }
                }
            }
        }
    }
    rules
        .into_iter()
        .map(|((policy, number), (pattern, reached, holders))| Finding {
            kind: FindingKind::WildcardOverProd,
            subject: format!("policy {policy} allow rule {number}"),
            detail: format!(
                "{pattern} reaches {} through a wildcard; held by {}",
                reached.into_iter().collect::<Vec<_>>().join(", "),
                holders.into_iter().collect::<Vec<_>>().join(", ")
            ),
        })
        .collect()
}

/// Secrets no identity and no token with policies of its own may read.
fn unreadable(reviewed: &[Reviewed], envs: &[EnvSecrets]) -> Vec<Finding> {
    let sets: Vec<(Vec<&Policy>, &leash_core::policy::IdentityContext)> = reviewed.iter().map(policy_set).collect();
    let sets: Vec<PolicySet<'_>> = sets.iter().map(|(refs, ctx)| PolicySet::new(refs, ctx)).collect();
    envs.iter()
        .flat_map(|env| &env.paths)
        .filter(|path| !sets.iter().any(|set| set.evaluate(path, Capability::Read).allowed))
        .map(|path| Finding {
            kind: FindingKind::Unreadable,
            subject: path.clone(),
            detail: "no identity or token may read it (only a root token can)".to_owned(),
        })
        .collect()
}

/// Service identities whose client secret has no expiry.
async fn never_expiring_secrets(state: &Domain) -> Result<Vec<Finding>, ApiError> {
    Ok(state
        .store
        .identity_list()
        .await?
        .into_iter()
        .filter(|i| i.kind == "service" && i.client_secret_hash.is_some() && i.client_secret_expires_at.is_none())
        .map(|i| Finding {
            kind: FindingKind::SecretNeverExpires,
            subject: i.name,
            detail: "its client secret never expires (an identity created with `--secret-ttl 90d` gets one that does)"
                .to_owned(),
        })
        .collect())
}

/// Live root tokens (they may do anything), and live tokens without an
/// expiry (tokens are made with one, so such a token came from elsewhere:
/// an older version, a restore), by accessor.
fn token_findings(tokens: &[TokenRecord], now: i64) -> Vec<Finding> {
    let live = tokens.iter().filter(|t| t.expires_at.is_none_or(|at| at > now));
    live.filter_map(|t| {
        let expiry = match t.expires_at {
            Some(at) => format!("expires {}", rfc3339(at)),
            None => "never expires".to_owned(),
        };
        if t.is_root {
            Some(Finding {
                kind: FindingKind::RootToken,
                subject: t.accessor.clone(),
                detail: format!("a live root token ({}, {expiry}): it may do anything", t.display_name),
            })
        } else if t.expires_at.is_none() {
            Some(Finding {
                kind: FindingKind::TokenWithoutTtl,
                subject: t.accessor.clone(),
                detail: format!("token {} never expires", t.display_name),
            })
        } else {
            None
        }
    })
    .collect()
}

/// Identities older than the window with no audit record in it (the window
/// ends at the server's clock, which tests may move).
async fn unused(state: &Domain, days: u32) -> Result<Vec<Finding>, ApiError> {
    let since = state.clock.now_ms() - i64::from(days) * DAY_MS;
    let mut out = Vec::new();
    for identity in state.store.identity_list().await? {
        if identity.created_at > since {
            continue;
        }
        let filter = AuditFilter {
            identity: Some(identity.name.clone()),
            since_ms: Some(since),
            limit: 1,
            ..AuditFilter::default()
        };
        if state.store.audit_query(&filter).await?.is_empty() {
            out.push(Finding {
                kind: FindingKind::Unused,
                subject: identity.name.clone(),
                detail: format!(
                    "no request in the audit log for {days} days (created {})",
                    rfc3339(identity.created_at)
                ),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(accessor: &str, is_root: bool, expires_at: Option<i64>) -> TokenRecord {
        TokenRecord {
            hash: String::new(),
            accessor: accessor.into(),
            display_name: accessor.into(),
            policies: Vec::new(),
            is_root,
            created_at: 0,
            expires_at,
            identity_id: None,
            auth_method: "token".into(),
            ttl_ms: None,
            max_expires_at: None,
        }
    }

    #[test]
    fn live_root_tokens_and_tokens_without_an_expiry_are_flagged() {
        let tokens = [
            token("root", true, None),
            token("expired-root", true, Some(50)),
            token("forever", false, None),
            token("hour", false, Some(200)),
        ];
        let found: Vec<(FindingKind, &str)> = token_findings(&tokens, 100)
            .iter()
            .map(|f| {
                (
                    f.kind,
                    tokens
                        .iter()
                        .find(|t| t.accessor == f.subject)
                        .unwrap()
                        .accessor
                        .as_str(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (FindingKind::RootToken, "root"),
                (FindingKind::TokenWithoutTtl, "forever")
            ]
        );
    }

    #[test]
    fn production_names() {
        for yes in [
            "prod",
            "PROD",
            "production",
            "prd",
            "live",
            "prod-eu",
            "prod_2",
            "production.us",
        ] {
            assert!(is_production(yes), "{yes}");
        }
        for no in ["dev", "staging", "product", "preprod", "prodx", "delivery"] {
            assert!(!is_production(no), "{no}");
        }
    }

    #[test]
    fn wildcards_in_the_project_or_env_segment() {
        for yes in ["*/prod/**", "payment/*/DB", "**", "pay*/prod/K"] {
            assert!(wildcard_over_envs(yes), "{yes}");
        }
        for no in ["payment/prod/**", "payment/prod/db/*", "payment/prod/K"] {
            assert!(!wildcard_over_envs(no), "{no}");
        }
    }
}
