//! The audit log: hash-chained records, made durable in the JSON-lines file
//! (fsynced: the durability point) and copied into the database table behind
//! the responses.
//!
//! - [`middleware`] wraps every route: a request that may change something
//!   gets an `intent` record, durable before its handler runs; every request
//!   gets its record (what the handler noted in [`AuditNote`] and the
//!   response). If a needed record cannot be written the client gets 503 and
//!   nothing happens (fail closed), unless `audit_fail_open`.
//! - [`query`] reads the log back (list, checkpoint, verify).
//! - `chain` numbers and links records and knows where the chain resumes.
//! - [`writer`] is the single task that chains records (through `chain`), batches
//!   them (group commit: one file fsync per batch, the durability point),
//!   writes signed checkpoints, and recovers by itself when the file comes back.
//! - [`table`] copies durable batches into the queryable table behind the
//!   responses; queries flush it first.
//!
//! It must never record a secret value, a token, a password or a client
//! secret: tokens appear only as an HMAC under the audit key.

mod chain;
pub mod middleware;
pub mod query;
mod table;
mod writer;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leash_core::audit::{AuditRecord, ChainPoint};
use leash_store::Storage;
use tokio::sync::{mpsc, oneshot};

pub use middleware::{AuditNote, RequestId, audit_layer};

use crate::barrier::Barrier;

/// How the audit log behaves.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The JSON-lines file.
    pub file: PathBuf,
    /// The chain this node writes in the table: `""` for the only node of a
    /// store, the node's name when nodes share one (each keeps its own chain).
    pub chain: String,
    /// Answer requests even when no record can be written (loudly logged).
    pub fail_open: bool,
    /// Write a signed checkpoint after this many records...
    pub checkpoint_every: u64,
    /// ... or after this long with new records.
    pub checkpoint_interval: Duration,
}

/// Why a record could not be made durable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the audit log cannot be written: {0}")]
pub struct AuditError(pub String);

enum Command {
    Append(Box<AuditRecord>, oneshot::Sender<Result<(), AuditError>>),
    /// Writes a checkpoint now (if unsealed) and answers with the latest one.
    Checkpoint(oneshot::Sender<Option<ChainPoint>>),
    /// Answers `true` once the table holds every record acknowledged so far.
    Flush(oneshot::Sender<bool>),
    /// Reopens the file (after external log rotation).
    Reopen,
    /// Writes a final checkpoint and stops.
    Shutdown(oneshot::Sender<()>),
}

/// A handle to the audit writer; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Command>,
    pub file: PathBuf,
    /// This node's chain in the table (see [`AuditConfig::chain`]).
    pub chain: String,
    last_checkpoint: Arc<Mutex<Option<ChainPoint>>>,
}

impl AuditLog {
    /// Resumes the chain from storage (and the file) and starts the writer task.
    pub async fn start(
        store: Arc<dyn Storage>,
        barrier: Arc<Barrier>,
        config: AuditConfig,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Self, AuditError> {
        let (tx, rx) = mpsc::channel(4096);
        let last_checkpoint = Arc::new(Mutex::new(None));
        let file = config.file.clone();
        let chain = config.chain.clone();
        let task = writer::Writer::resume(store, barrier, config, last_checkpoint.clone(), metrics).await?;
        tokio::spawn(task.run(rx));
        Ok(Self {
            tx,
            file,
            chain,
            last_checkpoint,
        })
    }

    /// Makes `record` durable in the file (the table follows behind), or fails.
    pub async fn append(&self, record: AuditRecord) -> Result<(), AuditError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Command::Append(Box::new(record), ack))
            .await
            .map_err(|_| AuditError("the audit writer has stopped".into()))?;
        done.await
            .map_err(|_| AuditError("the audit writer has stopped".into()))?
    }

    /// Queues `record` behind everything queued before it, without waiting
    /// for it to be durable: for the outcome of a request whose intent record
    /// already is. Queries that flush the table see it.
    pub async fn append_queued(&self, record: AuditRecord) -> Result<(), AuditError> {
        let (ack, _unawaited) = oneshot::channel();
        self.tx
            .send(Command::Append(Box::new(record), ack))
            .await
            .map_err(|_| AuditError("the audit writer has stopped".into()))
    }

    /// Writes a checkpoint now and returns the latest one.
    pub async fn checkpoint(&self) -> Option<ChainPoint> {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Command::Checkpoint(ack)).await.is_err() {
            return self.last_checkpoint.lock().unwrap_or_else(|p| p.into_inner()).clone();
        }
        done.await.ok().flatten()
    }

    /// Waits until the table holds every record acknowledged so far (queries
    /// call this so they see their own and everyone's earlier requests).
    pub async fn flush_table(&self) -> Result<(), AuditError> {
        let stopped = || AuditError("the audit writer has stopped".into());
        let (ack, done) = oneshot::channel();
        self.tx.send(Command::Flush(ack)).await.map_err(|_| stopped())?;
        match tokio::time::timeout(Duration::from_secs(10), done).await {
            Ok(Ok(true)) => Ok(()),
            Ok(_) => Err(stopped()),
            Err(_) => Err(AuditError(
                "the audit table is more than 10 s behind the audit file (see the server log)".into(),
            )),
        }
    }

    /// Reopens the file on the next write (SIGHUP after log rotation).
    pub fn reopen(&self) {
        let _ = self.tx.try_send(Command::Reopen);
    }

    /// Writes a final checkpoint and stops the writer.
    pub async fn shutdown(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Command::Shutdown(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}
