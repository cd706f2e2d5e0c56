//! Reading the audit log back: filtered listing, checkpoints and
//! verification of both sinks (the table is flushed first, so every answered
//! request is seen). No HTTP here; `routes::audit` authorizes and calls it.

use std::io::{BufRead, BufReader};

use leash_core::api::{AuditCheckpoint, AuditList, AuditVerifyResult, NodeChainReport};
use leash_core::audit::{AuditRecord, ChainPoint, parse_public_key, verify_lines};
use leash_core::policy::{IdentityContext, Pattern};
use leash_store::AuditFilter;
use serde::Deserialize;

use super::AuditLog;
use crate::error::{ApiError, ErrorKind};
use crate::state::Domain;
use crate::time::now_millis;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub identity: Option<String>,
    /// A policy-style pattern over `project/env/path` (`payment/prod/**`).
    pub path: Option<String>,
    pub operation: Option<String>,
    pub status: Option<u16>,
    /// RFC 3339 time, or a duration ago (`24h`).
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<i64>,
    pub before: Option<i64>,
}

/// An RFC 3339 time, or a duration meaning "that long ago", in unix ms.
fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    if let Ok(d) = humantime::parse_duration(text) {
        return Ok(now_millis() - d.as_millis() as i64);
    }
    Err(ApiError::bad_request(format!(
        "{field}: {text:?} is neither an RFC 3339 time (2026-01-31T12:00:00Z) nor a duration ago (24h)"
    )))
}

/// The records `q` asks for, newest first.
pub async fn list(state: &Domain, log: &AuditLog, q: ListQuery) -> Result<AuditList, ApiError> {
    log.flush_table()
        .await
        .map_err(|e| ApiError::new(ErrorKind::Unavailable, "audit_unavailable", e.to_string()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let pattern = q
        .path
        .as_deref()
        .map(|p| Pattern::parse(p).map_err(|e| ApiError::bad_request(format!("path: {e}"))))
        .transpose()?;
    let mut filter = AuditFilter {
        identity: q.identity,
        operation: q.operation,
        status: q.status.map(i64::from),
        since_ms: q.since.as_deref().map(|t| parse_time("since", t)).transpose()?,
        until_ms: q.until.as_deref().map(|t| parse_time("until", t)).transpose()?,
        before_seq: q.before,
        limit: if pattern.is_some() { 500 } else { limit },
    };
    let nobody = IdentityContext::default();
    let mut records = Vec::new();
    let mut next_before = None;
    'pages: loop {
        let rows = state.store.audit_query(&filter).await?;
        let exhausted = (rows.len() as i64) < filter.limit;
        for row in rows {
            filter.before_seq = Some(row.seq);
            if let Some(pattern) = &pattern
                && !row.resource.as_deref().is_some_and(|r| pattern.matches(&nobody, r))
            {
                continue;
            }
            let record = record_of(&row.line)?;
            records.push(record);
            if records.len() as i64 == limit {
                next_before = Some(row.seq as u64);
                break 'pages;
            }
        }
        if exhausted || pattern.is_none() {
            break;
        }
    }
    Ok(AuditList { records, next_before })
}

fn record_of(line: &str) -> Result<AuditRecord, ApiError> {
    #[derive(Deserialize)]
    struct Line {
        record: AuditRecord,
    }
    serde_json::from_str::<Line>(line)
        .map(|l| l.record)
        .map_err(|e| ApiError::internal("reading an audit record", e))
}

/// Writes a checkpoint now and returns it with the public key that checks it.
pub async fn checkpoint(state: &Domain, log: &AuditLog) -> Result<AuditCheckpoint, ApiError> {
    let keys = state.barrier.audit_keys().ok_or_else(ApiError::sealed)?;
    let point = log
        .checkpoint()
        .await
        .ok_or_else(|| ApiError::internal("writing an audit checkpoint", "no checkpoint could be written"))?;
    Ok(AuditCheckpoint {
        seq: point.seq,
        hash: point.hash,
        public_key: keys.public_key(),
    })
}

/// Verifies the database sink and the file, against a fresh checkpoint.
pub async fn verify(state: &Domain, log: &AuditLog) -> Result<AuditVerifyResult, ApiError> {
    let checkpoint = checkpoint(state, log).await?;
    let key = parse_public_key(&checkpoint.public_key).map_err(|e| ApiError::internal("reading the audit key", e))?;
    let tail = ChainPoint {
        seq: checkpoint.seq,
        hash: checkpoint.hash,
    };
    let own = log.chain.clone();
    let lines = chain_lines(state, &own).await?;
    let database = verify_lines(lines.iter().map(String::as_str), Some(&key), Some(&tail));
    let path = log.file.clone();
    let file = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).ok()?;
        let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        Some(verify_lines(lines.iter().map(String::as_str), Some(&key), Some(&tail)))
    })
    .await
    .map_err(|e| ApiError::internal("reading the audit file", e))?;
    // Every other node's chain, up to its own last checkpoint (a dead node's
    // tail after it cannot be told from a truncation, as for any file).
    let mut other_nodes = Vec::new();
    for node in state.store.audit_chains().await? {
        if node == own {
            continue;
        }
        let tail = state.store.audit_last(&node, true).await?.map(|cp| ChainPoint {
            seq: cp.seq as u64,
            hash: cp.hash,
        });
        let lines = chain_lines(state, &node).await?;
        let report = verify_lines(lines.iter().map(String::as_str), Some(&key), tail.as_ref());
        other_nodes.push(NodeChainReport { node, report });
    }
    Ok(AuditVerifyResult {
        database,
        file,
        file_path: Some(log.file.display().to_string()),
        node: own,
        other_nodes,
    })
}

/// Every line of chain `node` in the table, in order.
async fn chain_lines(state: &Domain, node: &str) -> Result<Vec<String>, ApiError> {
    let mut lines = Vec::new();
    let mut after = 0;
    loop {
        let rows = state.store.audit_scan(node, after, 5000).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        lines.extend(rows.into_iter().map(|r| r.line));
    }
    Ok(lines)
}
