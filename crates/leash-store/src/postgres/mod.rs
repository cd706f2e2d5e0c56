//! The PostgreSQL backend: one database shared by every node of a cluster.
//!
//! One module per aggregate, each implementing its trait on [`PostgresStore`],
//! like `sqlite/`: `pool` (connecting, migrations), `channel` (the nodes'
//! LISTEN/NOTIFY channel), `meta`, `tokens`,
//! `identities`, `projects`, `secrets`, `changes` (one change set inside a
//! transaction, by `rules`), `group_commit` (the tasks that commit concurrent
//! change sets together), `rotation`, `audit`. Rows are mapped by sqlx
//! (`FromRow`, the structs of `rows`, shared with SQLite: the columns and their
//! encodings are the same). SQL is written out in full; a list of paths is
//! bound as one array (`= ANY($2)`), the rows a change set writes as one array
//! per column (`UNNEST`), and only `audit_append` adds placeholders (sqlx's
//! `QueryBuilder`, one row of binds per record).
//!
//! Isolation. Several nodes write at once, so nothing here relies on being
//! alone:
//! - A method that reads more than one statement runs in one `REPEATABLE READ
//!   READ ONLY` transaction (one snapshot); a single statement is a snapshot
//!   of its own.
//! - Every write that depends on an environment's state (a change set, a
//!   promotion, a destroy, an end-to-end update) runs in a `READ COMMITTED`
//!   transaction that first locks the environment's row (`SELECT ... FOR NO
//!   KEY UPDATE`, `changes::lock_env`). Writers of one environment thus run
//!   one after another (a batch of the group committer locks all of its
//!   environments at once, in id order), and each reads the state its
//!   predecessor committed: the same order SQLite's single writer gives, so
//!   the rules (CAS, version numbering, recipients) decide exactly as they do
//!   there. `NO KEY` leaves foreign-key checks of other tables (a rotation
//!   row, say) unblocked.
//! - Writers that lock several rows take them in one order everywhere
//!   (environments by id; memberships before identities), so concurrent
//!   writers on any nodes queue, never deadlock.
//! - One-row writes are one statement (an `UPDATE ... WHERE` that re-checks its
//!   condition on the locked row, an upsert); races on a unique key (two nodes
//!   initialising, storing audit keys, creating a project) are settled by the
//!   key itself.
//!
//! Durability: a commit returns after PostgreSQL's WAL flush
//! (`synchronous_commit`; `pool` raises a connection's `off` to `on`). Change
//! sets are group-committed (`group_commit`): writers of one environment hold
//! its lock until their commit, so batching them is what shares the flush. No
//! cache of its own: wrap it in [`crate::HotCached`].
//!
//! Never logs a value, and no error carries one: errors name rows by name and
//! number, and encrypted data is only ever bound or read as `BYTEA`.

mod audit;
mod changes;
mod channel;
mod group_commit;
mod identities;
mod meta;
mod pool;
mod projects;
mod rotation;
mod secrets;
mod tokens;

pub use channel::{Heard, MAX_PAYLOAD as MAX_NOTIFY_PAYLOAD, NotifyChannel};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::oneshot;

use crate::model::{Applied, NewChange, RotationRow};
use crate::{Result, StoreError};

/// A [`crate::Storage`] on a PostgreSQL database that other nodes may share.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// Change sets go through the committers: concurrent changes share a
    /// transaction (group commit, see `group_commit`).
    commits: group_commit::Committers,
    /// Who hears of each group-commit batch (`observe`).
    observer: crate::observe::ObserverSlot,
}

impl PostgresStore {
    /// Reports each group-commit batch (its size and commit time) to
    /// `observer`. Only the first observer set is kept; returns whether this
    /// one was.
    pub fn observe(&self, observer: std::sync::Arc<dyn crate::StoreObserver>) -> bool {
        self.observer.set(observer)
    }
    /// Hands a change set (with the rotation state of a promotion) to the
    /// committers and waits until its batch is durable.
    async fn commit(&self, change: NewChange, rotation: Option<RotationRow>) -> Result<Applied> {
        let stopped = || StoreError::Commit("the store is closed".into());
        let (ack, done) = oneshot::channel();
        self.commits
            .send(group_commit::Job { change, rotation, ack })
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    /// A read transaction: one snapshot for every statement in it.
    async fn snapshot(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?)
    }

    /// A write transaction (`READ COMMITTED`; writers of an environment lock its row first).
    async fn write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

impl PostgresStore {
    /// The pool, for copying a store into this database (`migrate`).
    pub(crate) fn pool_for_migration(&self) -> &PgPool {
        &self.pool
    }
}
