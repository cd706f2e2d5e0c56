//! The change feed: one notice per committed change, shared by every watcher
//! of every environment (many watchers cost one send, not one query each),
//! carried by the cluster seam ([`crate::cluster`]) so a change committed on
//! any node reaches the watchers of every node. Watchers that fall behind, or
//! see a gap, catch up from storage.
//!
//! Events carry revisions and paths, never values.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

pub use crate::cluster::ChangeEvent;
use crate::cluster::{Cluster, Envelope, Notice};

/// Publishes committed changes; cheap to clone.
#[derive(Clone)]
pub struct ChangeFeed {
    cluster: Cluster,
}

impl ChangeFeed {
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }

    /// Announces a committed change (no-op without watchers).
    pub fn publish(&self, env_id: i64, revision: i64, paths: Vec<String>) {
        self.cluster.announce(Notice::Committed(ChangeEvent {
            env_id,
            revision,
            paths: Arc::new(paths),
        }));
    }

    pub fn subscribe(&self) -> ChangeReceiver {
        ChangeReceiver(self.cluster.subscribe())
    }
}

/// The committed changes of every node, in the order this node learns them.
pub struct ChangeReceiver(broadcast::Receiver<Envelope>);

impl ChangeReceiver {
    /// The next committed change; `Lagged` when some were missed (this
    /// receiver fell behind, or the cluster channel lost messages): catch up
    /// from storage.
    pub async fn recv(&mut self) -> Result<ChangeEvent, RecvError> {
        loop {
            match self.0.recv().await?.notice {
                Notice::Committed(change) => return Ok(change),
                Notice::Resync => return Err(RecvError::Lagged(0)),
                Notice::Access(_) | Notice::Stored => {}
            }
        }
    }
}
