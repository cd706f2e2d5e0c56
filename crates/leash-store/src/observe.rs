//! [`StoreObserver`]: how storage reports what its operations cost (how long
//! a read, a write or a group-commit batch took, how many change sets a batch
//! held) to whoever listens; the server turns these into metrics.
//!
//! It owns only the reporting seam. It never sees a row, a name or a value:
//! an observation is an operation kind, a duration or a count. It knows
//! nothing of metric formats or HTTP.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What storage reports. Called on the storage's own tasks: implementations
/// must be cheap and must not block.
pub trait StoreObserver: Send + Sync {
    /// One storage operation of `kind` took `elapsed`.
    fn operation(&self, kind: StoreOperation, elapsed: Duration);
    /// A group commit wrote `changes` change sets in one transaction.
    fn commit_batch(&self, changes: usize);
}

/// The kinds of storage operation that are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOperation {
    /// A secret read that went to the backend (the hot cache missed).
    Read,
    /// A listing or change-feed read (`list_state`, `changes_since`, `history`).
    List,
    /// A token lookup that went to the backend.
    TokenLookup,
    /// A write through [`crate::HotCached`], from the call to its invalidation.
    Write,
    /// One group-commit transaction (every change set of a batch, one fsync).
    Commit,
}

impl StoreOperation {
    /// The name metrics label it with.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreOperation::Read => "read",
            StoreOperation::List => "list",
            StoreOperation::TokenLookup => "token_lookup",
            StoreOperation::Write => "write",
            StoreOperation::Commit => "commit",
        }
    }
}

/// Where a backend's tasks find the observer: set once, after the backend is
/// open (its committer task is already running), read on every report.
#[derive(Clone, Default)]
pub(crate) struct ObserverSlot(Arc<OnceLock<Arc<dyn StoreObserver>>>);

impl ObserverSlot {
    /// Sets the observer; a second call is ignored (returns false).
    pub(crate) fn set(&self, observer: Arc<dyn StoreObserver>) -> bool {
        self.0.set(observer).is_ok()
    }

    pub(crate) fn get(&self) -> Option<&Arc<dyn StoreObserver>> {
        self.0.get()
    }

    /// Reports `kind` as having taken the time since `started`.
    pub(crate) fn operation(&self, kind: StoreOperation, started: std::time::Instant) {
        if let Some(observer) = self.get() {
            observer.operation(kind, started.elapsed());
        }
    }
}

impl std::fmt::Debug for ObserverSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserverSlot")
            .field("set", &self.get().is_some())
            .finish()
    }
}
