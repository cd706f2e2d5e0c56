//! Group commit for PostgreSQL change sets: concurrent `apply_change` (and
//! `rotation_promote`) calls are collected by committer tasks, each applying a
//! batch in one transaction (one WAL flush for the batch), every change inside
//! its own savepoint so that one failing change (a CAS mismatch, a version
//! conflict) does not undo the others. Each caller is answered only after its
//! batch has committed.
//!
//! Why: writers of one environment hold its row lock until they commit
//! (`changes::lock_env`), so without batching they would wait for each
//! other's WAL flush one by one. An environment's changes always go to the
//! same committer (by its id), so they batch; other environments' go to the
//! others, whose statements run in parallel. Deadlocks: a batch locks all its
//! environments' rows at its start, in ascending id order, as does every other
//! writer that locks more than one (`project_delete`); the others lock one.
//! Several nodes batching at once therefore queue behind each other, never in
//! a cycle.
//!
//! It owns no rules of its own: every change is checked and applied by
//! `changes::apply_change_in_tx`, exactly as a lone call would be.

use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use super::changes::apply_change_in_tx;
use super::rotation::put_rotation;
use crate::model::{Applied, NewChange, RotationRow};
use crate::observe::{ObserverSlot, StoreOperation};
use crate::{Result, StoreError};

/// Most change sets in one transaction.
const MAX_BATCH: usize = 128;

/// Committer tasks per node.
const COMMITTERS: usize = 4;

/// One change set waiting to be committed (with the rotation state of a promotion).
pub(super) struct Job {
    pub change: NewChange,
    pub rotation: Option<RotationRow>,
    pub ack: oneshot::Sender<Result<Applied>>,
}

/// The committers' queues: an environment's change sets go to one of them, by its id.
#[derive(Clone, Debug)]
pub(super) struct Committers(Vec<mpsc::Sender<Job>>);

impl Committers {
    /// Starts the committers on the pool; they stop when every sender is gone.
    /// Each batch's size and commit time go to the store's observer, once one is set.
    pub fn spawn(pool: &PgPool, observer: &ObserverSlot) -> Self {
        Self(
            (0..COMMITTERS)
                .map(|_| spawn_one(pool.clone(), observer.clone()))
                .collect(),
        )
    }

    /// Queues a job with the committer of its environment.
    pub async fn send(&self, job: Job) -> Result<(), mpsc::error::SendError<Job>> {
        let at = job.change.env_id.rem_euclid(self.0.len() as i64) as usize;
        self.0[at].send(job).await
    }
}

fn spawn_one(pool: PgPool, observer: ObserverSlot) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(4096);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            if let Some(observer) = observer.get() {
                observer.commit_batch(batch.len());
            }
            let started = std::time::Instant::now();
            commit(&pool, batch).await;
            observer.operation(StoreOperation::Commit, started);
        }
    });
    tx
}

/// One change set (and a promotion's rotation row) inside the caller's transaction or savepoint.
async fn apply_one(conn: &mut PgConnection, job: &Job) -> Result<Applied> {
    let applied = apply_change_in_tx(&mut *conn, &job.change).await?;
    if let Some(row) = &job.rotation {
        put_rotation(conn, row).await?;
    }
    Ok(applied)
}

async fn commit(pool: &PgPool, batch: Vec<Job>) {
    let mut results: Vec<Result<Applied>> = Vec::with_capacity(batch.len());
    let outcome: Result<()> = async {
        let mut tx = pool.begin().await?;
        if let [job] = &batch[..] {
            // Alone: no savepoint; a refused change rolls the transaction back.
            match apply_one(&mut tx, job).await {
                Ok(applied) => {
                    tx.commit().await?;
                    results.push(Ok(applied));
                }
                Err(e) => {
                    tx.rollback().await?;
                    results.push(Err(e));
                }
            }
            return Ok(());
        }
        let mut envs: Vec<i64> = batch.iter().map(|j| j.change.env_id).collect();
        envs.sort_unstable();
        envs.dedup();
        sqlx::query("SELECT id FROM environments WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
            .bind(&envs)
            .execute(&mut *tx)
            .await?;
        for job in &batch {
            // A nested transaction is a savepoint: a failing change rolls back alone.
            let mut one = tx.begin().await?;
            match apply_one(&mut one, job).await {
                Ok(applied) => {
                    one.commit().await?;
                    results.push(Ok(applied));
                }
                Err(e) => {
                    one.rollback().await?;
                    results.push(Err(e));
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => {
            for (job, result) in batch.into_iter().zip(results) {
                let _ = job.ack.send(result);
            }
        }
        Err(e) => {
            // Nothing of the batch was committed: every caller gets the reason.
            let reason = e.to_string();
            for job in batch {
                let _ = job.ack.send(Err(StoreError::Commit(reason.clone())));
            }
        }
    }
}
