//! The seam between the nodes that share one store. A single node (the
//! embedded SQLite default) uses [`LocalNotifier`], which is today's
//! behaviour: every notice reaches this node's own listeners and no other.
//! A shared backend (the PostgreSQL issue) implements [`Notifier`] over its
//! own channel (LISTEN/NOTIFY), and nothing above this module changes.
//!
//! What crosses it ([`Notice`]): committed changes (watch streams follow
//! them), access changes (a token revoked or renewed, the directory of
//! identities, groups and policies changed), which every node must apply to
//! its token cache, its directory and its open streams, and "this node wrote
//! to the store", after which every other node clears its hot cache (only
//! sent when the notifier is shared: a single node has no one to tell).
//! Notices carry ids, revisions, paths and token hashes, never a value or a
//! token.

use std::sync::Arc;

use tokio::sync::broadcast;

/// This node's id in the cluster (fresh per process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeId(Arc<str>);

impl NodeId {
    pub fn generate() -> Self {
        Self(leash_core::token::generate_accessor().into())
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
