//! The audit record, its hash chain, checkpoint signatures and verification.
//!
//! Every record is one JSON line: `{"hash":"<hex>","record":{...}}`, where
//! `hash` is SHA-256 of the exact bytes of `record`, and `record.prev_hash`
//! is the hash of the line before (64 zeros for the first record ever).
//! Records are numbered by `seq` without gaps. A *checkpoint* record carries an
//! Ed25519 signature over its `seq` and `prev_hash` (the chain head before it),
//! made with a key that lives behind the server's barrier: someone who can
//! edit the file but cannot unseal the server cannot forge a consistent chain.
//!
//! Verification works on the raw line bytes, never on re-serialised JSON, so
//! it does not depend on field order or formatting of any JSON library.
//! Nothing here may ever hold a secret value: records carry metadata and, for
//! tokens, an HMAC computed by the server.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// One HTTP request.
    Request,
    /// A signed chain head.
    Checkpoint,
    /// Something the server did on its own (a scheduled rotation step).
    Event,
    /// A change about to be made: written durably before the change may
    /// commit, so no change is ever durable without a record of it. The
    /// `request` (or `event`) record with the same `request_id` follows with
    /// the outcome; an intent without one means the server stopped before
    /// answering (the change may or may not have committed).
    Intent,
}

impl RecordKind {
    /// The name stored in the audit table's `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Request => "request",
            RecordKind::Checkpoint => "checkpoint",
            RecordKind::Event => "event",
            RecordKind::Intent => "intent",
        }
    }
}

/// One audit record. Optional fields are omitted from the JSON when absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: Option<RecordKind>,
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    /// The token's public accessor (never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accessor: Option<String>,
    /// HMAC-SHA256 of the presented token under the server's audit key
    /// (`leash audit hash TOKEN` computes the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_hmac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The route pattern (`/api/v1/projects/{project}/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// A stable operation name (`secret.read`, `auth.login.client`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The destination of a move or copy: a path (or folder, ending in `/`),
    /// prefixed with its environment when that is not `env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The error code of a failed request (`forbidden`, `sealed`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the server refused or failed it, in its own words (a denied request
    /// names the capability, the path and the deciding rule, even when the
    /// caller was answered 404). Never a value or a credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Checkpoints: base64 Ed25519 signature over [`checkpoint_message`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    pub prev_hash: String,
}

/// One line as stored: the hash and the exact record bytes.
#[derive(Deserialize)]
struct StoredLine<'a> {
    hash: String,
    #[serde(borrow)]
    record: &'a RawValue,
}

/// Serialises a record into its line and returns the line and its hash.
pub fn seal_line(record: &AuditRecord) -> (String, String) {
    let body = serde_json::to_string(record).expect("an audit record always serialises");
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    (format!("{{\"hash\":\"{hash}\",\"record\":{body}}}"), hash)
}

/// What a checkpoint signs.
pub fn checkpoint_message(seq: u64, prev_hash: &str) -> Vec<u8> {
    format!("leash-audit-checkpoint\0{seq}\0{prev_hash}").into_bytes()
}

/// Signs a checkpoint; returns base64.
pub fn sign_checkpoint(key: &SigningKey, seq: u64, prev_hash: &str) -> String {
    B64.encode(key.sign(&checkpoint_message(seq, prev_hash)).to_bytes())
}

/// HMAC-SHA256 of `value` under `key`, hex. Used for tokens in records and by `leash audit hash`.
pub fn hmac_hex(key: &[u8], value: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(value);
    hex::encode(mac.finalize().into_bytes())
}

/// Parses a base64 Ed25519 public key.
pub fn parse_public_key(b64: &str) -> Result<VerifyingKey, String> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| "the public key is not base64".to_owned())?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "an Ed25519 public key is 32 bytes".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 public key".to_owned())
}

/// A point the log must reach: the server's latest checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPoint {
    pub seq: u64,
    pub hash: String,
}

/// The outcome of verifying a log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyReport {
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// The hash of the last record.
    pub head: Option<String>,
    pub checkpoints: u64,
    /// Checkpoints whose signature was checked against a public key.
    pub signatures_checked: u64,
    /// `None` when the log is intact.
    pub problem: Option<Problem>,
    /// Remarks that are not failures (a rotated file starting mid-chain, unchecked signatures).
    pub notes: Vec<String>,
}

/// The first thing found wrong, with where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// 1-based line number in the file (or position in the listing).
    pub line: u64,
    pub seq: Option<u64>,
    pub message: String,
}

impl VerifyReport {
    pub fn intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verifies lines of an audit log in order. `public_key` checks checkpoint
/// signatures; `expected_tail` (the server's latest checkpoint) detects a
/// truncated tail.
pub fn verify_lines<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    public_key: Option<&VerifyingKey>,
    expected_tail: Option<&ChainPoint>,
) -> VerifyReport {
    let mut report = VerifyReport::default();
    let mut prev: Option<(u64, String)> = None;
    let mut seen_tail = false;
    for (index, line) in lines.into_iter().enumerate() {
        let line_no = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fail = |report: &mut VerifyReport, seq: Option<u64>, message: String| {
            report.problem = Some(Problem {
                line: line_no,
                seq,
                message,
            });
        };
        let Ok(stored) = serde_json::from_str::<StoredLine>(line) else {
            fail(
                &mut report,
                None,
                format!("line {line_no} is not an audit record (edited or corrupted)"),
            );
            return report;
        };
        let actual = hex::encode(Sha256::digest(stored.record.get().as_bytes()));
        let Ok(record) = serde_json::from_str::<AuditRecord>(stored.record.get()) else {
            fail(
                &mut report,
                None,
                format!("line {line_no} holds a malformed record (edited)"),
            );
            return report;
        };
        let seq = record.seq;
        if actual != stored.hash {
            fail(
                &mut report,
                Some(seq),
                format!("line {line_no} (record {seq}) was edited: its content does not match its hash"),
            );
            return report;
        }
        match &prev {
            None if seq == 1 && record.prev_hash != GENESIS => {
                fail(
                    &mut report,
                    Some(seq),
                    format!("line {line_no}: record 1 does not start a chain"),
                );
                return report;
            }
            None if seq != 1 => report.notes.push(format!(
                "the log starts at record {seq}, continuing an earlier file (rotated log)"
            )),
            None => {}
            Some((prev_seq, prev_hash)) => {
                if seq != prev_seq + 1 {
                    fail(
                        &mut report,
                        Some(seq),
                        format!(
                            "line {line_no}: record {seq} follows record {prev_seq}: records were deleted, inserted or reordered here"
                        ),
                    );
                    return report;
                }
                if &record.prev_hash != prev_hash {
                    fail(
                        &mut report,
                        Some(seq),
                        format!(
                            "line {line_no} (record {seq}) does not chain to the record before it: a record was replaced here"
                        ),
                    );
                    return report;
                }
            }
        }
        if record.kind == Some(RecordKind::Checkpoint) {
            report.checkpoints += 1;
            if let Some(key) = public_key {
                let valid = record
                    .signature
                    .as_deref()
                    .and_then(|s| B64.decode(s).ok())
                    .and_then(|b| Signature::from_slice(&b).ok())
                    .is_some_and(|sig| key.verify(&checkpoint_message(seq, &record.prev_hash), &sig).is_ok());
                if !valid {
                    fail(
                        &mut report,
                        Some(seq),
                        format!("line {line_no}: checkpoint {seq} has no valid signature from this server's audit key"),
                    );
                    return report;
                }
                report.signatures_checked += 1;
            }
        }
        if let Some(tail) = expected_tail
            && tail.seq == seq
        {
            if tail.hash != actual {
                fail(
                    &mut report,
                    Some(seq),
                    format!("line {line_no}: record {seq} differs from the server's checkpoint of it"),
                );
                return report;
            }
            seen_tail = true;
        }
        report.records += 1;
        report.first_seq.get_or_insert(seq);
        report.last_seq = Some(seq);
        report.head = Some(actual.clone());
        prev = Some((seq, actual));
    }
    if let Some(tail) = expected_tail
        && !seen_tail
        && report.first_seq.is_none_or(|first| first <= tail.seq)
    {
        report.problem = Some(Problem {
            line: report.records + 1,
            seq: report.last_seq,
            message: format!(
                "the log ends at record {} but the server's latest checkpoint is record {}: the tail was truncated",
                report.last_seq.unwrap_or(0),
                tail.seq
            ),
        });
    }
    if public_key.is_none() && report.checkpoints > 0 {
        report
            .notes
            .push("checkpoint signatures were not checked (no public key)".to_owned());
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64, key: &SigningKey) -> Vec<String> {
        let mut prev = GENESIS.to_owned();
        let mut out = Vec::new();
        for seq in 1..=n {
            let checkpoint = seq % 4 == 0;
            let record = AuditRecord {
                seq,
                kind: Some(if checkpoint {
                    RecordKind::Checkpoint
                } else {
                    RecordKind::Request
                }),
                time: "2026-01-01T00:00:00Z".into(),
                path: Some(format!("DB_{seq}")),
                status: Some(200),
                signature: checkpoint.then(|| sign_checkpoint(key, seq, &prev)),
                prev_hash: prev.clone(),
                ..Default::default()
            };
            let (line, hash) = seal_line(&record);
            out.push(line);
            prev = hash;
        }
        out
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn check(lines: &[String], expected: Option<&str>) {
        let public = key().verifying_key();
        let report = verify_lines(lines.iter().map(String::as_str), Some(&public), None);
        match (expected, &report.problem) {
            (None, None) => {}
            (Some(fragment), Some(p)) => assert!(p.message.contains(fragment), "{} lacks {fragment}", p.message),
            _ => panic!("expected {expected:?}, got {report:?}"),
        }
    }

    #[test]
    fn intact_chain_verifies_with_signatures() {
        let lines = chain(9, &key());
        check(&lines, None);
        let report = verify_lines(lines.iter().map(String::as_str), Some(&key().verifying_key()), None);
        assert_eq!(
            (report.records, report.checkpoints, report.signatures_checked),
            (9, 2, 2)
        );
    }

    #[test]
    fn each_kind_of_tampering_is_named_with_its_position() {
        let lines = chain(9, &key());
        let mut edited = lines.clone();
        edited[2] = edited[2].replace("DB_3", "DB_X");
        check(&edited, Some("line 3 (record 3) was edited"));
        let mut deleted = lines.clone();
        deleted.remove(4);
        check(&deleted, Some("line 5: record 6 follows record 4"));
        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        check(&swapped, Some("line 2: record 3 follows record 1"));
        let mut inserted = lines.clone();
        inserted.insert(3, lines[3].clone());
        check(&inserted, Some("line 5: record 4 follows record 4"));
        let mut garbage = lines.clone();
        garbage[6] = "not json".into();
        check(&garbage, Some("line 7 is not an audit record"));
    }

    #[test]
    fn a_rebuilt_chain_without_the_key_fails_at_the_first_checkpoint() {
        let forged = chain(9, &SigningKey::from_bytes(&[9u8; 32]));
        check(&forged, Some("checkpoint 4 has no valid signature"));
    }

    #[test]
    fn truncation_is_found_against_the_servers_checkpoint() {
        let lines = chain(9, &key());
        let (_, head8) = {
            let report = verify_lines(lines[..8].iter().map(String::as_str), None, None);
            (report.last_seq, report.head.unwrap())
        };
        let tail = ChainPoint { seq: 8, hash: head8 };
        let truncated = verify_lines(lines[..6].iter().map(String::as_str), None, Some(&tail));
        assert!(truncated.problem.unwrap().message.contains("tail was truncated"));
        assert!(verify_lines(lines.iter().map(String::as_str), None, Some(&tail)).intact());
    }

    #[test]
    fn hmac_is_stable_and_keyed() {
        assert_eq!(hmac_hex(b"k", b"v"), hmac_hex(b"k", b"v"));
        assert_ne!(hmac_hex(b"k", b"v"), hmac_hex(b"k2", b"v"));
        assert_eq!(hmac_hex(b"k", b"v").len(), 64);
    }
}
