//! The audit routes: query, checkpoint, verify, hash.
//!
//! It owns only the mapping of those routes to typed calls; it must never log
//! the value it asks the server to hash.

use leash_core::api::{AuditCheckpoint, AuditHash, AuditHashRequest, AuditList, AuditVerifyResult};
use reqwest::Method;

use crate::failover::Retry;
use crate::{ApiPath, Client, Error};

const NO_BODY: Option<&()> = None;

/// Filters of `GET /api/v1/audit`; all optional.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub identity: Option<String>,
    /// Policy-style pattern over `project/env/path`.
    pub path: Option<String>,
    pub operation: Option<String>,
    pub status: Option<u16>,
    /// RFC 3339 time or a duration ago (`24h`).
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<i64>,
    pub before: Option<u64>,
}

impl Client {
    /// `GET /api/v1/audit`: records newest first.
    pub async fn audit_list(&self, q: &AuditQuery) -> Result<AuditList, Error> {
        let mut query: Vec<(&str, String)> = Vec::new();
        let text = [
            ("identity", &q.identity),
            ("path", &q.path),
            ("operation", &q.operation),
            ("since", &q.since),
            ("until", &q.until),
        ];
        for (key, value) in text {
            if let Some(v) = value {
                query.push((key, v.clone()));
            }
        }
        if let Some(s) = q.status {
            query.push(("status", s.to_string()));
        }
        if let Some(l) = q.limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(b) = q.before {
            query.push(("before", b.to_string()));
        }
        self.call(Method::GET, &ApiPath::api().lit("audit"), &query, NO_BODY)
            .await
    }

    /// `POST /api/v1/audit/checkpoint`: writes a signed checkpoint now.
    pub async fn audit_checkpoint(&self) -> Result<AuditCheckpoint, Error> {
        self.call(Method::POST, &ApiPath::api().lit("audit/checkpoint"), &[], NO_BODY)
            .await
    }

    /// `POST /api/v1/audit/verify`: the server verifies its database and file.
    pub async fn audit_verify(&self) -> Result<AuditVerifyResult, Error> {
        self.call_as(
            Retry::Read,
            Method::POST,
            &ApiPath::api().lit("audit/verify"),
            &[],
            NO_BODY,
        )
        .await
    }

    /// `POST /api/v1/audit/hash`: HMAC of a value under the audit key.
    pub async fn audit_hash(&self, value: &str) -> Result<AuditHash, Error> {
        let body = AuditHashRequest {
            value: value.to_owned(),
        };
        self.call_as(
            Retry::Read,
            Method::POST,
            &ApiPath::api().lit("audit/hash"),
            &[],
            Some(&body),
        )
        .await
    }
}
