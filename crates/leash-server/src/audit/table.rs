//! The audit table writer: copies batches the file has made durable into the
//! `audit_log` table, in order, behind the responses.
//!
//! The JSON-lines file is the durability point (it is fsynced before any
//! request is answered); the table is its queryable index. Writing the table
//! on its own task lets the next batch's file fsync overlap this batch's
//! table transaction. A failed insert is retried, in order, until it succeeds;
//! records the table lost in a crash are copied back from the file at start
//! (`writer::file_tail`). Readers that must see every acknowledged record
//! (`leash audit list`, `verify`) ask for a [`TableJob::Flush`] first.

use std::sync::Arc;
use std::time::Duration;

use leash_store::{AuditRow, Storage};
use tokio::sync::{mpsc, oneshot};

/// Work for the table writer.
pub(super) enum TableJob {
    /// Rows to insert, after every row sent before them.
    Rows(Vec<AuditRow>),
    /// Answered once every row sent before it is in the table.
    Flush(oneshot::Sender<()>),
}

/// Batches that may wait for the table before the file writer waits too
/// (bounds memory when the table is slower than the file).
const QUEUE: usize = 8;

/// Starts the table writer; it stops when every sender is dropped.
pub(super) fn spawn(store: Arc<dyn Storage>) -> mpsc::Sender<TableJob> {
    let (tx, mut rx) = mpsc::channel::<TableJob>(QUEUE);
    tokio::spawn(async move {
        let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
        while let Some(job) = rx.recv().await {
            let mut rows = Vec::new();
            let mut take = |job: TableJob| match job {
                TableJob::Rows(r) => rows.extend(r),
                TableJob::Flush(ack) => waiting.push(ack),
            };
            take(job);
            // Everything already queued goes into the same transaction.
            while let Ok(job) = rx.try_recv() {
                take(job);
            }
            if !rows.is_empty() {
                insert_until_done(&*store, &rows).await;
            }
            for ack in waiting.drain(..) {
                let _ = ack.send(());
            }
        }
    });
    tx
}

/// Inserts `rows`, retrying with back-off: the records are already durable
/// in the file, so the table must get them eventually and in order.
async fn insert_until_done(store: &dyn Storage, rows: &[AuditRow]) {
    let mut delay = Duration::from_millis(50);
    loop {
        match store.audit_append(rows).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, records = rows.len(), "the audit table refused a batch (it is in the audit file); retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
