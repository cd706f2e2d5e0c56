//! The change feed: one broadcast per committed change, shared by every
//! watcher of every environment (many watchers cost one send, not one query
//! each). Watchers that fall behind, or see a gap, catch up from storage.
//!
//! Events carry revisions and paths, never values.

use std::sync::Arc;

use tokio::sync::broadcast;

/// A committed change.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    pub env_id: i64,
    pub revision: i64,
    pub paths: Arc<Vec<String>>,
}

/// The broadcast sender; cheap to clone.
#[derive(Clone)]
pub struct ChangeFeed {
    tx: broadcast::Sender<ChangeEvent>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(4096).0,
        }
    }
}

impl ChangeFeed {
    /// Announces a committed change (no-op without watchers).
    pub fn publish(&self, env_id: i64, revision: i64, paths: Vec<String>) {
        let _ = self.tx.send(ChangeEvent {
            env_id,
            revision,
            paths: Arc::new(paths),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.tx.subscribe()
    }
}
