//! One node's audit chain: where it resumes at start (the table's last
//! record, or the file's when the table lost its last batches, which are
//! copied back) and how new records are numbered and linked. The only code
//! that sets a record's `seq` and `prev_hash`.
//!
//! Nodes that share a store each keep a chain of their own (their own file,
//! their own sequence), and the table names the chain of every row (`node`;
//! `""` for the only node of a store), so verification checks each and names
//! the node of a broken link.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use leash_core::audit::{AuditRecord, GENESIS, RecordKind, seal_line};
use leash_store::{AuditRow, Storage};

use super::AuditError;
use crate::time::now_millis;

/// The next sequence number and the hash of the last record.
pub(super) struct Chain {
    /// The chain's name in the table (the node's; `""` for the only node).
    name: String,
    next_seq: u64,
    head: String,
}

/// A place in the chain to go back to when a batch could not be written.
pub(super) struct Position(u64, String);

impl Chain {
    /// Continues where storage (or a file ahead of it) left off.
    pub(super) async fn resume(store: &dyn Storage, file: &Path, name: &str) -> Result<Self, AuditError> {
        let db_err = |e: leash_store::StoreError| AuditError(format!("reading the audit table: {e}"));
        let last = store.audit_last(name, false).await.map_err(db_err)?;
        let (mut seq, mut head) = last.map_or((0, GENESIS.to_owned()), |r| (r.seq as u64, r.hash));
        let (missing, file_last) = file_tail(file, seq, name);
        if let Some((file_seq, file_hash)) = file_last
            && file_seq > seq
        {
            // the table lost its last batches (a power failure after the file's fsync): copy them back
            tracing::warn!(
                file_seq,
                db_seq = seq,
                "the audit table is behind the audit file; copying the missing records back"
            );
            store.audit_append(&missing).await.map_err(db_err)?;
            seq = file_seq;
            head = file_hash;
        }
        Ok(Self {
            name: name.to_owned(),
            next_seq: seq + 1,
            head,
        })
    }

    /// The sequence number the next record gets and the hash it links to.
    pub(super) fn next(&self) -> (u64, &str) {
        (self.next_seq, &self.head)
    }

    /// Numbers and links `record`, seals it, and moves the chain on; returns its line and hash.
    pub(super) fn link(&mut self, record: &mut AuditRecord) -> (String, String) {
        record.seq = self.next_seq;
        record.prev_hash = self.head.clone();
        let (line, hash) = seal_line(record);
        self.head = hash.clone();
        self.next_seq += 1;
        (line, hash)
    }

    /// The chain's name in the table.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn position(&self) -> Position {
        Position(self.next_seq, self.head.clone())
    }

    /// Forgets every record linked since `position` (their batch was not written).
    pub(super) fn rewind(&mut self, position: Position) {
        self.next_seq = position.0;
        self.head = position.1;
    }
}

/// The database row of a sealed record.
pub(super) fn row_of(chain: &str, record: &AuditRecord, hash: String, line: String, time_ms: i64) -> AuditRow {
    let resource = match (&record.project, &record.env, &record.path) {
        (Some(p), Some(e), Some(path)) => Some(format!("{p}/{e}/{path}")),
        (Some(p), Some(e), None) => Some(format!("{p}/{e}")),
        (Some(p), None, _) => Some(p.clone()),
        _ => None,
    };
    AuditRow {
        node: chain.to_owned(),
        seq: record.seq as i64,
        time_ms,
        kind: record.kind.unwrap_or(RecordKind::Request).as_str().into(),
        identity: record.identity.clone(),
        operation: record.operation.clone(),
        resource,
        status: record.status.map(i64::from),
        hash,
        line,
    }
}

/// The records of the file after `after_seq`, as database rows (to copy back
/// what the table lost), and the file's last (seq, hash).
fn file_tail(path: &Path, after_seq: u64, chain: &str) -> (Vec<AuditRow>, Option<(u64, String)>) {
    // Only a regular file has a tail to resume from (a device like /dev/full reads forever).
    let Ok(file) = File::open(path).and_then(|f| {
        if f.metadata()?.is_file() {
            Ok(f)
        } else {
            Err(std::io::Error::other("not a regular file"))
        }
    }) else {
        return (Vec::new(), None);
    };
    let mut rows = Vec::new();
    let mut last = None;
    for line in BufReader::new(file).lines().map_while(Result::ok) {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let (Some(hash), Ok(record)) = (
            value["hash"].as_str().map(str::to_owned),
            serde_json::from_value::<AuditRecord>(value["record"].clone()),
        ) else {
            continue;
        };
        last = Some((record.seq, hash.clone()));
        if record.seq > after_seq {
            let time_ms = time::OffsetDateTime::parse(&record.time, &time::format_description::well_known::Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .unwrap_or_else(|_| now_millis());
            rows.push(row_of(chain, &record, hash, line, time_ms));
        }
    }
    (rows, last)
}
