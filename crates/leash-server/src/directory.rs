//! The in-memory directory that authorization reads on every request:
//! parsed policies, and each identity's name, metadata and policy names (its
//! own plus its groups'). It is rebuilt from storage after every change to
//! identities, groups or policies, so a request never queries storage to
//! authorize and a change is in force for the next request.
//!
//! It holds no credential: no password hash, no client secret hash.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use leash_core::policy::{IdentityContext, Policy};
use leash_store::Storage;

use crate::auth::AccessEpoch;
use crate::cluster::AccessChange;
use crate::error::ApiError;

/// What authorization needs to know about one identity.
#[derive(Debug, Clone)]
pub struct IdentityEntry {
    pub name: String,
    /// `user` or `service`.
    pub kind: String,
    pub metadata: BTreeMap<String, String>,
    /// Own policies first, then each group's.
    pub policies: Vec<String>,
    pub groups: Vec<String>,
    /// Where each of `policies` comes from (the first source, in that order).
    pub sources: BTreeMap<String, PolicySource>,
}

/// Why an identity has a policy: its own list, or a group it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    Own,
    Group(String),
}

/// One consistent snapshot.
#[derive(Default)]
pub struct Snapshot {
    pub policies: HashMap<String, Arc<Policy>>,
    pub identities: HashMap<i64, IdentityEntry>,
}

impl Snapshot {
    /// The parsed policies among `names` (unknown names, e.g. deleted policies, are skipped).
    pub fn resolve(&self, names: &[String]) -> Vec<Arc<Policy>> {
        names.iter().filter_map(|n| self.policies.get(n).cloned()).collect()
    }

    /// The context templates see: the identity's name and metadata.
    pub fn context(&self, identity_id: Option<i64>, fallback_name: &str) -> IdentityContext {
        match identity_id.and_then(|id| self.identities.get(&id)) {
            Some(entry) => IdentityContext {
                name: entry.name.clone(),
                metadata: entry.metadata.clone(),
            },
            None => IdentityContext {
                name: fallback_name.to_owned(),
                metadata: BTreeMap::new(),
            },
        }
    }
}

/// The shared, swappable snapshot.
#[derive(Default)]
pub struct Directory {
    current: RwLock<Arc<Snapshot>>,
    epoch: AccessEpoch,
}

impl Directory {
    /// A directory that bumps `epoch` after every reload.
    pub fn new(epoch: AccessEpoch) -> Self {
        Self {
            current: RwLock::default(),
            epoch,
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads identities, groups and policies from storage after a change
    /// made on this node, and announces it to the other nodes.
    pub async fn reload(&self, store: &dyn Storage) -> Result<(), ApiError> {
        self.refresh(store).await?;
        self.epoch.changed(AccessChange::Directory);
        Ok(())
    }

    /// Re-reads identities, groups and policies from storage (a change another
    /// node announced, or the first load at start).
    pub async fn refresh(&self, store: &dyn Storage) -> Result<(), ApiError> {
        let mut policies = HashMap::new();
        for doc in store.document_list(leash_store::DocumentKind::Policy).await? {
            match Policy::parse(&doc.name, &doc.body) {
                Ok(policy) => {
                    policies.insert(doc.name, Arc::new(policy));
                }
                // Stored policies were validated on write; one that no longer parses grants nothing.
                Err(e) => tracing::error!(policy = %doc.name, error = %e, "stored policy does not parse; ignoring it"),
            }
        }
        let groups = store.group_list().await?;
        let mut identities = HashMap::new();
        for row in store.identity_list().await? {
            let metadata: BTreeMap<String, String> = serde_json::from_str(&row.metadata).unwrap_or_default();
            let member_of: Vec<&leash_store::GroupRow> =
                groups.iter().filter(|g| g.members.contains(&row.name)).collect();
            let mut names: Vec<String> = row.policies.clone();
            let mut seen: BTreeSet<String> = names.iter().cloned().collect();
            let mut sources: BTreeMap<String, PolicySource> =
                names.iter().map(|p| (p.clone(), PolicySource::Own)).collect();
            for group in &member_of {
                for p in &group.policies {
                    if seen.insert(p.clone()) {
                        names.push(p.clone());
                        sources.insert(p.clone(), PolicySource::Group(group.name.clone()));
                    }
                }
            }
            identities.insert(
                row.id,
                IdentityEntry {
                    name: row.name,
                    kind: row.kind,
                    metadata,
                    policies: names,
                    groups: member_of.iter().map(|g| g.name.clone()).collect(),
                    sources,
                },
            );
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Snapshot { policies, identities });
        self.epoch.bump();
        Ok(())
    }
}
