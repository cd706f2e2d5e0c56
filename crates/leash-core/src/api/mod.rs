//! JSON shapes of the native HTTP API (`/api/v1`), shared by the server and
//! the client so the two cannot drift apart. Times are RFC 3339 strings in UTC.
//!
//! Values appear only in the types that exist to carry them
//! ([`SecretWrite`], [`ChangeOp`], [`SecretValue`], [`SecretSummary`]);
//! everything else is metadata.

mod diff;
mod identity;
mod relocate;
mod review;
mod rotation;

pub use diff::*;
pub use identity::*;
pub use relocate::*;
pub use review::*;
pub use rotation::*;

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Stands in for a secret value, share or token in `Debug` output.
pub(crate) const REDACTED: &str = "<redacted>";

/// Body of every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Error))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code (`not_found`, `sealed`, `cas_mismatch`, ...).
    pub code: String,
    /// What went wrong, in words a user can act on. Never contains a secret value.
    pub message: String,
}

/// `GET /api/v1/sys/health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub initialized: bool,
    pub sealed: bool,
    pub version: String,
}

/// One node serving the store, as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeInfo {
    pub node: String,
    /// Where clients reach it.
    pub address: String,
    pub sealed: bool,
    /// Started (RFC 3339).
    pub started_at: String,
    /// Its last heartbeat (RFC 3339).
    pub seen_at: String,
    /// Heard from within the last three heartbeats.
    pub live: bool,
    /// The node that answered.
    pub this_node: bool,
}

/// `GET /api/v1/sys/nodes`: the nodes of the cluster (one, on a single node).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeList {
    /// Several nodes share the store.
    pub cluster: bool,
    pub nodes: Vec<NodeInfo>,
}

/// `GET /api/v1/sys/seal-status`, and the answer to `POST /api/v1/sys/unseal`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SealStatus {
    pub initialized: bool,
    pub sealed: bool,
    /// Shares made at init (0 before init).
    pub shares: u8,
    /// Shares needed to unseal (0 before init).
    pub threshold: u8,
    /// Distinct shares given so far towards the next unseal.
    pub progress: u8,
}

/// `POST /api/v1/sys/init`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitRequest {
    #[serde(default = "default_shares")]
    pub shares: u8,
    #[serde(default = "default_threshold")]
    pub threshold: u8,
}

fn default_shares() -> u8 {
    5
}
fn default_threshold() -> u8 {
    3
}

/// Answer to `POST /api/v1/sys/init`: shown once, never stored.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitResponse {
    pub unseal_shares: Vec<String>,
    pub threshold: u8,
    pub root_token: String,
}

/// `POST /api/v1/sys/unseal`: one share, or `reset` to discard the shares given so far.
#[derive(Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnsealRequest {
    #[serde(default)]
    pub share: Option<String>,
    #[serde(default)]
    pub reset: bool,
}

/// `GET /api/v1/sys/keyring` and the answer to `POST /api/v1/sys/rotate-key`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyringStatus {
    pub active_key_id: u32,
    pub keys: Vec<KeyInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyInfo {
    pub id: u32,
    pub created_at: String,
}

/// `GET /api/v1/auth/token/lookup-self` and the other token lookups.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub accessor: String,
    pub display_name: String,
    /// Policies attached to the token itself.
    pub policies: Vec<String>,
    pub root: bool,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// The identity the token was issued to, if any.
    #[serde(default)]
    pub identity: Option<String>,
    /// How the token was obtained: `root`, `token`, `userpass`, `client`, `jwt`.
    #[serde(default)]
    pub auth_method: String,
    /// The latest time renewals may extend the token to.
    #[serde(default)]
    pub max_expires_at: Option<String>,
    /// Every policy in force for this token: its own, its identity's and its groups'.
    #[serde(default)]
    pub effective_policies: Vec<String>,
}

/// `POST /api/v1/projects` and `POST /api/v1/projects/{p}/envs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateNamed {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectInfo {
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectList {
    pub projects: Vec<ProjectInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvInfo {
    pub name: String,
    /// The environment's latest revision (0 before the first change).
    pub revision: i64,
    pub created_at: String,
    /// The age recipients of an end-to-end encrypted environment (docs/e2e.md);
    /// absent for an ordinary one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_recipients: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvList {
    pub envs: Vec<EnvInfo>,
}

/// `PUT /api/v1/projects/{p}/envs/{e}/secrets/{path}`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretWrite {
    pub value: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The environment revision the writer expects; 409 if it moved on.
    #[serde(default)]
    pub cas: Option<i64>,
    /// End-to-end encrypted environments: the recipients `value` was encrypted
    /// to, which must be the environment's current set (409 otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_recipients: Option<Vec<String>>,
}

/// One operation of an atomic change set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeOp {
    pub path: String,
    #[serde(flatten)]
    pub kind: ChangeKind,
}

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ChangeKind {
    /// Writes a new version.
    Set {
        value: String,
        #[serde(default)]
        description: Option<String>,
    },
    /// Soft-deletes the secret (its versions are kept and can be undeleted).
    Delete,
}

/// `POST /api/v1/projects/{p}/envs/{e}/changes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeRequest {
    pub changes: Vec<ChangeOp>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub cas: Option<i64>,
    /// End-to-end encrypted environments: the recipients every `set` value was
    /// encrypted to, which must be the environment's current set (409 otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_recipients: Option<Vec<String>>,
}

/// `POST /api/v1/projects/{p}/envs/{e}/rollback`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RollbackRequest {
    pub to: i64,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub cas: Option<i64>,
}

/// What one change did to one path.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeEntry {
    pub path: String,
    /// `set`, `delete` or `undelete`.
    pub action: String,
    /// The version the path points at after the change (`None` after a delete).
    pub version: Option<i64>,
    /// Where a set's value came from, when it was moved or copied from another path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// The result of any write: the new revision and what changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeResult {
    pub revision: i64,
    pub entries: Vec<ChangeEntry>,
}

/// One revision of an environment, as listed by `GET .../history`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    pub revision: i64,
    pub actor: String,
    pub message: Option<String>,
    pub created_at: String,
    pub entries: Vec<ChangeEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct History {
    pub changes: Vec<Change>,
}

/// `GET .../secrets/{path}`: one version with its value.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretValue {
    pub path: String,
    pub env_var: String,
    pub version: i64,
    /// The revision that wrote this version.
    pub revision: i64,
    /// The value; for an end-to-end encrypted version, the ASCII-armored age file.
    /// Zeroized when dropped, on both sides of the wire.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub value: Zeroizing<String>,
    pub description: Option<String>,
    pub created_at: String,
    /// Present when `value` is end-to-end encrypted: the recipients it is encrypted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_recipients: Option<Vec<String>>,
}

/// One secret in a listing; `value` only with `include_values=true`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretSummary {
    pub path: String,
    pub env_var: String,
    pub version: i64,
    pub description: Option<String>,
    pub updated_at: String,
    /// With `include_values`; zeroized when dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub value: Option<Zeroizing<String>>,
    /// Present when `value` is end-to-end encrypted: the recipients it is encrypted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_recipients: Option<Vec<String>>,
}

/// `GET .../secrets?prefix=&include_values=&at_revision=`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretList {
    /// The revision this listing reflects.
    pub revision: i64,
    pub secrets: Vec<SecretSummary>,
}

/// `GET .../metadata/{path}`: a secret's versions, without values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretMetadata {
    pub path: String,
    pub env_var: String,
    pub description: Option<String>,
    /// `None` while the secret is deleted.
    pub current_version: Option<i64>,
    pub versions: Vec<VersionInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    pub version: i64,
    pub revision: i64,
    pub actor: String,
    pub created_at: String,
    pub current: bool,
    pub destroyed: bool,
    /// Where this version's value was moved or copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// `POST .../undelete/{path}` (the body is optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UndeleteRequest {
    #[serde(default)]
    pub cas: Option<i64>,
}

/// `POST .../destroy/{path}`: `versions` to wipe, or every version when absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DestroyRequest {
    #[serde(default)]
    pub versions: Option<Vec<i64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DestroyResult {
    pub path: String,
    pub destroyed: Vec<i64>,
}

/// `GET .../e2e`: whether an environment is end-to-end encrypted, and to whom.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct E2eStatus {
    pub enabled: bool,
    /// The age recipients every value is encrypted to (empty when not enabled).
    pub recipients: Vec<String>,
    /// The environment's revision.
    pub revision: i64,
    /// How many retained (not destroyed) versions hold end-to-end ciphertext.
    pub e2e_versions: i64,
}

/// `GET .../e2e/values?all_versions=`: the retained values a client must
/// re-encrypt to change the recipients (or to enable end-to-end encryption).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct E2eValues {
    /// The revision the answer reflects: pass it as `cas` to `PUT .../e2e`.
    pub revision: i64,
    /// The current recipients; `None` when the environment is not end-to-end encrypted.
    pub recipients: Option<Vec<String>>,
    pub values: Vec<E2eStoredValue>,
}

/// One retained version in [`E2eValues`].
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct E2eStoredValue {
    pub path: String,
    pub version: i64,
    /// Whether it is the current version of a live secret.
    pub current: bool,
    /// Whether `value` is end-to-end ciphertext (else plaintext, before enabling).
    pub e2e: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub value: Zeroizing<String>,
}

/// `PUT .../e2e`: set an environment's recipients (enabling end-to-end
/// encryption), with every retained value it keeps re-encrypted to them.
///
/// One atomic change: the recipient list is replaced, each listed version's
/// stored value is replaced by its new ciphertext, and every other retained
/// version is destroyed. The current version of every live secret must be listed.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct E2eUpdate {
    pub recipients: Vec<String>,
    /// The revision the values were read at (from `GET .../e2e/values`); 409 if it moved on.
    pub cas: i64,
    #[serde(default)]
    pub values: Vec<E2eRewrap>,
    #[serde(default)]
    pub message: Option<String>,
}

/// One version re-encrypted by the client.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct E2eRewrap {
    pub path: String,
    pub version: i64,
    /// The ASCII-armored age file, encrypted to the new recipients.
    pub value: String,
}

/// The answer to `PUT .../e2e` and `DELETE .../e2e`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct E2eResult {
    pub revision: i64,
    /// The recipients now in force (empty after disabling).
    pub recipients: Vec<String>,
    /// How many versions were re-encrypted.
    pub rewrapped: usize,
    /// How many versions were destroyed because they were not re-encrypted.
    pub destroyed: usize,
}

// Types that carry values, shares or tokens print them redacted.

impl fmt::Debug for E2eStoredValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("E2eStoredValue")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("current", &self.current)
            .field("e2e", &self.e2e)
            .field("value", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for E2eRewrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("E2eRewrap")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("value", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for E2eUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("E2eUpdate")
            .field("recipients", &self.recipients)
            .field("cas", &self.cas)
            .field("values", &self.values)
            .field("message", &self.message)
            .finish()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValue")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("revision", &self.revision)
            .field("value", &REDACTED)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SecretSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSummary")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("value", &self.value.as_ref().map(|_| REDACTED))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SecretWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretWrite")
            .field("value", &REDACTED)
            .field("description", &self.description)
            .field("cas", &self.cas)
            .finish()
    }
}

impl fmt::Debug for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChangeKind::Set { description, .. } => f
                .debug_struct("Set")
                .field("value", &REDACTED)
                .field("description", description)
                .finish(),
            ChangeKind::Delete => f.write_str("Delete"),
        }
    }
}

impl fmt::Debug for InitResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitResponse")
            .field("unseal_shares", &vec![REDACTED; self.unseal_shares.len()])
            .field("threshold", &self.threshold)
            .field("root_token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for UnsealRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsealRequest")
            .field("share", &self.share.as_ref().map(|_| REDACTED))
            .field("reset", &self.reset)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_values_shares_and_tokens() {
        let write = SecretWrite {
            value: "hunter2".into(),
            description: None,
            cas: None,
            e2e_recipients: None,
        };
        let init = InitResponse {
            unseal_shares: vec!["share-one".into()],
            threshold: 1,
            root_token: "lsh_secret".into(),
        };
        let change = ChangeRequest {
            changes: vec![ChangeOp {
                path: "K".into(),
                kind: ChangeKind::Set {
                    value: "hunter2".into(),
                    description: None,
                },
            }],
            message: None,
            cas: None,
            e2e_recipients: None,
        };
        for text in [format!("{write:?}"), format!("{init:?}"), format!("{change:?}")] {
            assert!(
                !text.contains("hunter2") && !text.contains("share-one") && !text.contains("lsh_secret"),
                "{text}"
            );
        }
    }
}

/// `GET /api/v1/audit`: records, newest first; `next_before` pages on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditList {
    pub records: Vec<crate::audit::AuditRecord>,
    pub next_before: Option<u64>,
}

/// `POST /api/v1/audit/checkpoint`: the newest signed chain head and the key to check it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditCheckpoint {
    pub seq: u64,
    pub hash: String,
    /// Base64 Ed25519 public key of this server's checkpoint signatures.
    pub public_key: String,
}

/// `POST /api/v1/audit/verify`: the server checks its own sinks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditVerifyResult {
    /// This node's chain in the database.
    pub database: crate::audit::VerifyReport,
    pub file: Option<crate::audit::VerifyReport>,
    pub file_path: Option<String>,
    /// This node's name in the cluster (`""` for the only node of a store).
    #[serde(default)]
    pub node: String,
    /// The chains of the other nodes that share the store, each checked up to
    /// its last checkpoint; empty on a single node.
    #[serde(default)]
    pub other_nodes: Vec<NodeChainReport>,
}

/// One other node's audit chain, as the verifying node found it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeChainReport {
    pub node: String,
    pub report: crate::audit::VerifyReport,
}

/// `POST /api/v1/audit/hash`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditHashRequest {
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditHash {
    pub hmac: String,
}

impl fmt::Debug for AuditHashRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditHashRequest").field("value", &REDACTED).finish()
    }
}

/// One change event of `GET .../watch` (SSE `event: change`, `id: <revision>`).
/// Carries the paths the caller may read that the change touched; never values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchEvent {
    pub revision: i64,
    pub paths: Vec<String>,
}

/// `GET /api/v1/scan/fingerprints?project=&env=`: keyed fingerprints of the
/// current and previous values the caller may read, for `leash scan --known`.
/// The key is fresh for every answer, so fingerprints cannot be linked across
/// requests; values shorter than `min_length` are left out.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FingerprintList {
    /// Base64 of the 32-byte HMAC-SHA256 key.
    pub key: String,
    pub min_length: usize,
    /// Hex HMAC-SHA256(key, value) of each value.
    pub fingerprints: Vec<String>,
}

impl fmt::Debug for FingerprintList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FingerprintList")
            .field("key", &REDACTED)
            .field("fingerprints", &self.fingerprints.len())
            .finish()
    }
}
