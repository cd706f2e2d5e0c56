//! The embedded SQLite backend: one file (`leash.db`) in the data directory,
//! and the audit table beside it (`leash-audit.db`).
//!
//! One module per aggregate, each implementing its trait on [`SqliteStore`]:
//! `pool` (opening, file modes, migrations), `meta` ([`crate::MetaStore`]),
//! `tokens`, `identities` (identities, groups, documents), `projects`
//! (projects, environments), `secrets` (reads, destroy, end-to-end updates),
//! `changes` (applying one change set inside a transaction), `group_commit`
//! (the task that commits concurrent change sets together), `rotation`,
//! `audit`. Rows are mapped by sqlx (`FromRow`, by column name). SQL is
//! written out in full, never assembled from column lists; only sqlx's
//! `QueryBuilder` adds placeholders where the number of binds varies
//! (`heads`, `audit_append`).
//!
//! Durability: WAL journal with `synchronous=FULL`, so a commit returns only
//! after the WAL is fsynced. Writes go through a single-connection pool (SQLite
//! allows one writer; queueing in the pool avoids busy-lock failures), reads
//! through a separate read-only pool so they never wait on a write. A method
//! that writes more than one statement does so in one transaction; a method
//! that reads more than one statement does so in one read transaction (one
//! snapshot). It has no cache of its own: wrap it in [`crate::HotCached`].
//!
//! Never logs a value, and no error carries one: errors name rows by name and
//! number, and encrypted data is only ever bound or read as a BLOB.

mod audit;
mod changes;
mod group_commit;
mod identities;
mod meta;
mod pool;
mod projects;
mod rotation;
mod secrets;
mod tokens;

use std::sync::{Arc, Mutex};

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use crate::model::{Applied, NewChange, RotationRow};
use crate::{Result, StoreError};

pub use pool::{AUDIT_DB_FILE, DB_FILE};

/// A [`crate::Storage`] on an SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    /// The audit table lives in its own file (`<name>-audit.db`) with its own
    /// writer, so audit batches never wait for the secrets' writer lock. It
    /// uses `synchronous=NORMAL`: the audit JSON-lines file, fsynced first, is
    /// the durability point, and records it holds that the table lost in a
    /// power failure are copied back at start.
    audit: SqlitePool,
    /// Change sets go through one committer task: concurrent changes share a
    /// transaction (group commit, see `group_commit`).
    commits: mpsc::Sender<group_commit::Job>,
    /// The exclusive lock on `<db>.lock`, held until `close` (or drop): no
    /// second process can open the same store and race this one.
    lock: Arc<Mutex<Option<std::fs::File>>>,
    /// Who hears of each group-commit batch (`observe`).
    observer: crate::observe::ObserverSlot,
}

impl SqliteStore {
    /// Reports each group-commit batch (its size and commit time) to
    /// `observer`. Only the first observer set is kept; returns whether this
    /// one was.
    pub fn observe(&self, observer: std::sync::Arc<dyn crate::StoreObserver>) -> bool {
        self.observer.set(observer)
    }
    /// Hands a change set (with the rotation state of a promotion) to the
    /// committer and waits until its batch is durable.
    async fn commit(&self, change: NewChange, rotation: Option<RotationRow>) -> Result<Applied> {
        let stopped = || StoreError::Commit("the store is closed".into());
        let (ack, done) = oneshot::channel();
        self.commits
            .send(group_commit::Job { change, rotation, ack })
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }
}

impl SqliteStore {
    /// The data and audit pools, for copying every table elsewhere (`migrate`).
    pub(crate) fn pools_for_migration(&self) -> (&SqlitePool, &SqlitePool) {
        (&self.read, &self.audit)
    }
}
