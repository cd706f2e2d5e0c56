//! Group commit for SQLite change sets: concurrent `apply_change` (and
//! `rotation_promote`) calls are collected by one task and applied in one
//! transaction (one WAL fsync for the whole batch), each inside its own
//! savepoint so that one failing change (a CAS mismatch, a version conflict)
//! does not undo the others. Each caller is answered only after the batch has
//! committed, so an acknowledged change is as durable as before; only the
//! fsyncs are shared.
//!
//! It owns no rules of its own: every change is checked and applied by
//! `changes::apply_change_in_tx`, exactly as a lone call would be. It knows
//! nothing of the hot cache either: [`crate::HotCached`] invalidates after
//! this task's answer and before its own caller's.

use sqlx::{Connection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::changes::apply_change_in_tx;
use super::rotation::put_rotation;
use crate::model::{Applied, NewChange, RotationRow};
use crate::observe::{ObserverSlot, StoreOperation};
use crate::{Result, StoreError};

/// Most change sets in one transaction.
const MAX_BATCH: usize = 256;

/// One change set waiting to be committed (with the rotation state of a promotion).
pub(super) struct Job {
    pub change: NewChange,
    pub rotation: Option<RotationRow>,
    pub ack: oneshot::Sender<Result<Applied>>,
}

/// Starts the committer on the store's writer pool; it stops when every sender is gone.
/// Each batch's size and commit time go to the store's observer, once one is set.
pub(super) fn spawn(write: SqlitePool, observer: ObserverSlot) -> mpsc::Sender<Job> {
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
            commit(&write, batch).await;
            observer.operation(StoreOperation::Commit, started);
        }
    });
    tx
}

/// One change set (and a promotion's rotation row) inside the batch's savepoint.
async fn apply_one(conn: &mut sqlx::SqliteConnection, job: &Job) -> Result<Applied> {
    let applied = apply_change_in_tx(&mut *conn, &job.change).await?;
    if let Some(row) = &job.rotation {
        put_rotation(conn, row).await?;
    }
    Ok(applied)
}

async fn commit(write: &SqlitePool, batch: Vec<Job>) {
    let mut results: Vec<Result<Applied>> = Vec::with_capacity(batch.len());
    let outcome: Result<()> = async {
        let mut conn = write.acquire().await?;
        let mut tx = conn.begin().await?;
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
