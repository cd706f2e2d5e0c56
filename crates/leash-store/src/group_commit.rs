//! Group commit for SQLite change sets: concurrent `apply_change` calls are
//! collected by one task and applied in one transaction (one WAL fsync for
//! the whole batch), each inside its own savepoint so that one failing
//! change (a CAS mismatch, a version conflict) does not undo the others.
//! Each caller is answered only after the batch has committed, so an
//! acknowledged change is as durable as before; only the fsyncs are shared.
//!
//! It owns no rules of its own: every change is checked and applied by
//! `sqlite::apply_change_in_tx`, exactly as a lone call would be.

use std::sync::Arc;

use sqlx::{Connection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::hot_cache::HotCache;
use crate::model::{Applied, NewChange, RotationRow};
use crate::sqlite::{apply_change_in_tx, put_rotation};
use crate::{Result, StoreError};

/// Most change sets in one transaction.
const MAX_BATCH: usize = 256;

/// One change set waiting to be committed (with the rotation state of a promotion).
pub(crate) struct Job {
    pub change: NewChange,
    pub rotation: Option<RotationRow>,
    pub ack: oneshot::Sender<Result<Applied>>,
}

/// Starts the committer on the store's writer pool; it stops when every sender is gone.
pub(crate) fn spawn(write: SqlitePool, hot: Arc<HotCache>) -> mpsc::Sender<Job> {
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
            commit(&write, &hot, batch).await;
        }
    });
    tx
}

async fn commit(write: &SqlitePool, hot: &HotCache, batch: Vec<Job>) {
    let mut results: Vec<Option<Result<Applied>>> = Vec::with_capacity(batch.len());
    let outcome: Result<()> = async {
        let mut conn = write.acquire().await?;
        let mut tx = conn.begin().await?;
        for job in &batch {
            // A nested transaction is a savepoint: a failing change rolls back alone.
            let mut one = tx.begin().await?;
            let applied = match apply_change_in_tx(&mut one, &job.change).await {
                Ok(applied) => match &job.rotation {
                    Some(row) => put_rotation(&mut one, row).await.map(|()| applied),
                    None => Ok(applied),
                },
                Err(e) => Err(e),
            };
            match applied {
                Ok(applied) => {
                    one.commit().await?;
                    results.push(Some(Ok(applied)));
                }
                Err(e) => {
                    one.rollback().await?;
                    results.push(Some(Err(e)));
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    // Before anyone is told: a caller that reads right after its answer must not see cached rows from before.
    hot.invalidate();
    match outcome {
        Ok(()) => {
            for (job, result) in batch.into_iter().zip(results) {
                let _ = job
                    .ack
                    .send(result.unwrap_or_else(|| Err(StoreError::Commit("no result".into()))));
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
