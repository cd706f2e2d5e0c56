//! The audit writer task: numbering, chaining, batching, checkpoints, sinks.
//!
//! Every batch goes to the file (written and fsynced): that is when its
//! requests are answered. The batch's rows then go to the table writer
//! ([`super::table`]), which inserts them behind the responses while the next
//! batch is being fsynced. If the file write fails, the file is cut back to
//! its last good length and reopened on the next batch, so a full or
//! read-only disk that recovers needs no restart.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use leash_core::audit::{AuditRecord, ChainPoint, RecordKind, sign_checkpoint};
use leash_store::{AuditRow, Storage};
use tokio::sync::mpsc;

use super::chain::{Chain, row_of};
use super::table::TableJob;
use super::{AuditConfig, AuditError, Command};
use crate::barrier::Barrier;
use crate::time::{now_millis, rfc3339};

/// A record waiting to be written, with whom to tell when it is durable.
type Pending = (Box<AuditRecord>, tokio::sync::oneshot::Sender<Result<(), AuditError>>);

/// Most records in one batch.
const MAX_BATCH: usize = 1024;

/// The JSON-lines file sink.
struct FileSink {
    path: PathBuf,
    file: Option<File>,
    /// Length of the file after the last batch that both sinks took.
    good_len: u64,
    /// Reopen (and cut back to `good_len`) before the next write.
    reopen: bool,
}

impl FileSink {
    fn open(&mut self) -> std::io::Result<&mut File> {
        if self.reopen || self.file.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)?;
            let len = file.metadata()?.len();
            if self.reopen && self.file.is_some() && len > self.good_len {
                // a failed batch left bytes behind: drop them (best effort on devices)
                let _ = file.set_len(self.good_len);
            }
            self.good_len = file.metadata().map(|m| m.len()).unwrap_or(self.good_len);
            self.file = Some(file);
            self.reopen = false;
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Appends and fsyncs `bytes`; on failure marks the file for repair.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let result = self.open().and_then(|f| {
            f.write_all(bytes)?;
            f.sync_data()
        });
        match result {
            Ok(()) => {
                self.good_len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.cut_back();
                Err(e)
            }
        }
    }

    fn cut_back(&mut self) {
        if let Some(f) = &self.file {
            let _ = f.set_len(self.good_len);
        }
        self.reopen = true;
    }
}

pub(super) struct Writer {
    table: mpsc::Sender<TableJob>,
    barrier: Arc<Barrier>,
    config: AuditConfig,
    file: FileSink,
    chain: Chain,
    since_checkpoint: u64,
    last_checkpoint: Arc<Mutex<Option<ChainPoint>>>,
    /// Counts records written and batches that failed.
    metrics: Arc<crate::metrics::Metrics>,
}

impl Writer {
    /// Continues the chain where storage (or a file ahead of it) left off.
    pub(super) async fn resume(
        store: Arc<dyn Storage>,
        barrier: Arc<Barrier>,
        config: AuditConfig,
        last_checkpoint: Arc<Mutex<Option<ChainPoint>>>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Self, AuditError> {
        let chain = Chain::resume(&*store, &config.file, &config.chain).await?;
        if let Some(cp) = store
            .audit_last(&config.chain, true)
            .await
            .map_err(|e| AuditError(format!("reading the audit table: {e}")))?
        {
            *last_checkpoint.lock().unwrap_or_else(|p| p.into_inner()) = Some(ChainPoint {
                seq: cp.seq as u64,
                hash: cp.hash,
            });
        }
        let file = FileSink {
            path: config.file.clone(),
            file: None,
            good_len: 0,
            reopen: false,
        };
        Ok(Self {
            table: super::table::spawn(store),
            barrier,
            config,
            file,
            chain,
            since_checkpoint: 0,
            last_checkpoint,
            metrics,
        })
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut ticker = tokio::time::interval(self.config.checkpoint_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let command = tokio::select! {
                command = rx.recv() => command,
                _ = ticker.tick() => {
                    if self.since_checkpoint > 0 {
                        self.write_batch(Vec::new(), true).await;
                    }
                    continue;
                }
            };
            let Some(command) = command else { break };
            let mut batch = Vec::new();
            let mut follow_ups = Vec::new();
            match command {
                Command::Append(record, ack) => batch.push((record, ack)),
                other => follow_ups.push(other),
            }
            // Batch the appends queued before the next other command, and no
            // further: a `Reopen` or `Flush` applies to everything queued after it.
            while batch.len() < MAX_BATCH && follow_ups.is_empty() {
                match rx.try_recv() {
                    Ok(Command::Append(record, ack)) => batch.push((record, ack)),
                    Ok(other) => follow_ups.push(other),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                let checkpoint = self.since_checkpoint + batch.len() as u64 >= self.config.checkpoint_every;
                self.write_batch(batch, checkpoint).await;
            }
            for command in follow_ups {
                match command {
                    Command::Checkpoint(ack) => {
                        self.write_batch(Vec::new(), true).await;
                        let point = self.last_checkpoint.lock().unwrap_or_else(|p| p.into_inner()).clone();
                        // Answer once the table holds everything up to the checkpoint (verify reads it).
                        let flushed = self.flush_table();
                        tokio::spawn(async move {
                            let _ = flushed.await;
                            let _ = ack.send(point);
                        });
                    }
                    Command::Flush(ack) => {
                        let flushed = self.flush_table();
                        tokio::spawn(async move {
                            let _ = ack.send(flushed.await.is_ok());
                        });
                    }
                    Command::Reopen => {
                        tracing::info!(file = %self.file.path.display(), "reopening the audit file");
                        self.file.reopen = true;
                        self.file.file = None;
                    }
                    Command::Shutdown(ack) => {
                        if self.since_checkpoint > 0 {
                            self.write_batch(Vec::new(), true).await;
                        }
                        let _ = self.flush_table().await;
                        let _ = ack.send(());
                        return;
                    }
                    Command::Append(..) => unreachable!("appends are batched above"),
                }
            }
        }
    }

    /// Chains, writes and acknowledges one batch (plus a checkpoint if asked and unsealed).
    async fn write_batch(&mut self, batch: Vec<Pending>, checkpoint: bool) {
        let start = self.chain.position();
        let mut text = String::new();
        let mut rows = Vec::with_capacity(batch.len() + 1);
        let mut acks = Vec::with_capacity(batch.len());
        let mut checkpoint_point = None;
        for (mut record, ack) in batch {
            self.push(&mut record, &mut text, &mut rows);
            acks.push(ack);
        }
        let keys = self.barrier.audit_keys();
        if let (true, Some(keys)) = (checkpoint, keys) {
            let (seq, head) = self.chain.next();
            let mut record = AuditRecord {
                kind: Some(RecordKind::Checkpoint),
                time: rfc3339(now_millis()),
                signature: Some(sign_checkpoint(&keys.signing, seq, head)),
                ..Default::default()
            };
            let hash = self.push(&mut record, &mut text, &mut rows);
            checkpoint_point = Some(ChainPoint { seq: record.seq, hash });
        }
        if rows.is_empty() {
            return;
        }
        let records = rows.len();
        let result = self.persist(text, rows).await;
        match &result {
            Ok(()) => {
                self.metrics.audit_written(records);
                self.since_checkpoint = if checkpoint_point.is_some() {
                    0
                } else {
                    self.since_checkpoint + acks.len() as u64
                };
                if let Some(point) = checkpoint_point {
                    *self.last_checkpoint.lock().unwrap_or_else(|p| p.into_inner()) = Some(point);
                }
            }
            Err(e) => {
                self.metrics.audit_failed();
                self.chain.rewind(start);
                if self.config.fail_open {
                    tracing::error!(error = %e, lost = acks.len(), "AUDIT RECORDS LOST: answering anyway because audit_fail_open is set");
                } else {
                    tracing::error!(error = %e, "audit log unavailable: failing requests closed until it recovers");
                }
            }
        }
        let answer = match result {
            Err(_) if self.config.fail_open => Ok(()),
            other => other,
        };
        for ack in acks {
            let _ = ack.send(answer.clone());
        }
    }

    /// Links `record` into the chain and adds its line and row to the batch; returns its hash.
    fn push(&mut self, record: &mut AuditRecord, text: &mut String, rows: &mut Vec<AuditRow>) -> String {
        let (line, hash) = self.chain.link(record);
        text.push_str(&line);
        text.push('\n');
        rows.push(row_of(self.chain.name(), record, hash.clone(), line, now_millis()));
        hash
    }

    /// A receiver answered once the table holds every row sent so far.
    fn flush_table(&self) -> tokio::sync::oneshot::Receiver<()> {
        let (ack, done) = tokio::sync::oneshot::channel();
        let table = self.table.clone();
        tokio::spawn(async move {
            let _ = table.send(TableJob::Flush(ack)).await;
        });
        done
    }

    /// The file (written and fsynced: the durability point), then the rows to the table writer.
    async fn persist(&mut self, text: String, rows: Vec<AuditRow>) -> Result<(), AuditError> {
        let mut sink = std::mem::replace(
            &mut self.file,
            FileSink {
                path: PathBuf::new(),
                file: None,
                good_len: 0,
                reopen: false,
            },
        );
        let (sink_back, written) = tokio::task::spawn_blocking(move || {
            let r = sink.append(text.as_bytes());
            (sink, r)
        })
        .await
        .map_err(|e| AuditError(format!("the audit file task failed: {e}")))?;
        self.file = sink_back;
        written.map_err(|e| AuditError(format!("writing {}: {e}", self.file.path.display())))?;
        // Waits only when the table writer is QUEUE batches behind.
        let _ = self.table.send(TableJob::Rows(rows)).await;
        Ok(())
    }
}
