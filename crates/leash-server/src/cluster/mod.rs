//! The seam between the nodes that share one store. A single node (the
//! embedded SQLite default, or PostgreSQL without `cluster`) uses
//! [`LocalNotifier`]: every notice reaches this node's own listeners and no
//! other. Nodes of a cluster use [`postgres::PgNotifier`] over the
//! database's LISTEN/NOTIFY channel, and nothing above this module changes.
//!
//! Notices are fast, not guaranteed: a lost one is made up for by
//! [`Notice::Resync`] (watchers catch up from storage) and, for who may do
//! what, by the access generation every request of a cluster node checks
//! first ([`crate::state::Domain::sync_access`]).
//!
//! What crosses it ([`Notice`]): committed changes (watch streams follow
//! them), access changes (a token revoked or renewed, the directory of
//! identities, groups and policies changed), which every node must apply to
//! its token cache, its directory and its open streams, and "this node wrote
//! to the store", after which every other node clears its hot cache (only
//! sent when the notifier is shared: a single node has no one to tell).
//! Notices carry ids, revisions, paths and token hashes, never a value or a
//! token.

pub mod postgres;

use std::sync::Arc;

use tokio::sync::broadcast;

/// This node's id in the cluster (fresh per process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeId(Arc<str>);

impl NodeId {
    pub fn generate() -> Self {
        Self(leash_core::token::generate_accessor().into())
    }

    /// A node named by its configuration (`node_name`, or the id kept in the data directory).
    pub fn named(name: &str) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A committed change of one environment.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    pub env_id: i64,
    pub revision: i64,
    pub paths: Arc<Vec<String>>,
}

/// Who may do what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessChange {
    /// One token (by hash) was revoked or renewed.
    Token(String),
    /// Any token may have changed (an identity's tokens were revoked).
    AllTokens,
    /// Identities, groups or policies changed.
    Directory,
}

/// What one node tells every node.
#[derive(Debug, Clone)]
pub enum Notice {
    Committed(ChangeEvent),
    Access(AccessChange),
    /// The origin node wrote to the shared store: forget cached rows.
    Stored,
    /// Notices may have been lost (the channel's connection dropped): catch
    /// up from storage, forget cached tokens and rows, re-read the directory.
    /// Made by this node's end of the channel, never sent.
    Resync,
}

/// A notice with the node it came from.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub origin: NodeId,
    pub notice: Notice,
}

/// Delivers notices to every node of the cluster, the sending one included.
pub trait Notifier: Send + Sync {
    fn publish(&self, envelope: Envelope);
    fn subscribe(&self) -> broadcast::Receiver<Envelope>;
    /// Whether other nodes share the store (then each write is announced).
    fn shared(&self) -> bool;
}

/// One node: a broadcast channel inside the process.
pub struct LocalNotifier {
    tx: broadcast::Sender<Envelope>,
}

impl Default for LocalNotifier {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(4096).0,
        }
    }
}

impl Notifier for LocalNotifier {
    fn publish(&self, envelope: Envelope) {
        // no receiver is not an error: nobody is watching
        let _ = self.tx.send(envelope);
    }

    fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.tx.subscribe()
    }

    fn shared(&self) -> bool {
        false
    }
}

/// This node's end of the seam; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    pub node: NodeId,
    notifier: Arc<dyn Notifier>,
}

impl Cluster {
    pub fn new(node: NodeId, notifier: Arc<dyn Notifier>) -> Self {
        Self { node, notifier }
    }

    /// A single node.
    pub fn local() -> Self {
        Self::new(NodeId::generate(), Arc::new(LocalNotifier::default()))
    }

    /// Tells every node, this one included.
    pub fn announce(&self, notice: Notice) {
        self.notifier.publish(Envelope {
            origin: self.node.clone(),
            notice,
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.notifier.subscribe()
    }

    /// Whether other nodes share this node's store.
    pub fn shared(&self) -> bool {
        self.notifier.shared()
    }
}

/// A node not heard from for this long is shown as not live (three heartbeats).
pub const LIVE_WITHIN_MS: i64 = 15_000;

/// The nodes serving the store, as the node list shows them; on a single
/// node, this node alone, as it is now.
pub async fn node_list(state: &crate::state::Domain) -> Result<leash_core::api::NodeList, crate::error::ApiError> {
    use crate::time::rfc3339;
    let (this, sealed, now) = (&state.node, state.barrier.status().sealed, crate::time::now_millis());
    let clustered = state.access_sync.is_some();
    let rows = if clustered {
        state.store.node_list().await?
    } else {
        Vec::new()
    };
    let mut nodes: Vec<leash_core::api::NodeInfo> = rows
        .into_iter()
        .map(|r| leash_core::api::NodeInfo {
            this_node: r.node == this.as_str(),
            live: now - r.seen_at <= LIVE_WITHIN_MS,
            node: r.node,
            address: r.address,
            sealed: r.sealed,
            started_at: rfc3339(r.started_at),
            seen_at: rfc3339(r.seen_at),
        })
        .collect();
    if nodes.is_empty() {
        nodes.push(leash_core::api::NodeInfo {
            node: this.as_str().to_owned(),
            address: String::new(),
            sealed,
            started_at: String::new(),
            seen_at: rfc3339(now),
            live: true,
            this_node: true,
        });
    }
    Ok(leash_core::api::NodeList {
        cluster: clustered,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::ChangeFeed;

    /// Two nodes on one notifier, as a shared store's notifier makes them.
    fn two_nodes() -> (Cluster, Cluster) {
        let shared: Arc<dyn Notifier> = Arc::new(LocalNotifier::default());
        (
            Cluster::new(NodeId::generate(), shared.clone()),
            Cluster::new(NodeId::generate(), shared),
        )
    }

    #[tokio::test]
    async fn a_notice_reaches_every_node_with_its_origin() {
        let (a, b) = two_nodes();
        let mut at_b = b.subscribe();
        a.announce(Notice::Access(AccessChange::Token("hash".into())));
        let got = at_b.recv().await.unwrap();
        assert_eq!(got.origin, a.node);
        assert_ne!(got.origin, b.node);
        assert!(matches!(got.notice, Notice::Access(AccessChange::Token(h)) if h == "hash"));
    }

    #[tokio::test]
    async fn the_change_feed_sees_committed_changes_of_every_node_and_nothing_else() {
        let (a, b) = two_nodes();
        let mut watching_b = ChangeFeed::new(b.clone()).subscribe();
        a.announce(Notice::Access(AccessChange::Directory));
        ChangeFeed::new(a).publish(7, 3, vec!["K".into()]);
        let change = watching_b.recv().await.unwrap();
        assert_eq!(
            (change.env_id, change.revision, change.paths.as_slice()),
            (7, 3, &["K".to_owned()][..])
        );
    }
}
