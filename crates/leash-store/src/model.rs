//! Row types that cross the [`crate::Storage`] boundary. Times are unix
//! milliseconds. Nothing here holds a plaintext value: encrypted data is a
//! [`Sealed`] envelope, which only the server's barrier can make.
//!
//! The types whose fields are plain columns derive `sqlx::FromRow` (mapped by
//! column name), so every sqlx backend reads them the same way; the others
//! (lists, recipients, sealed data, key ids) are mapped by each backend's own
//! row structs.

pub use leash_core::crypto::Sealed;

/// How the unseal key was split: `threshold` of `shares` open it. Stored in
/// clear (it is not secret; a sealed server shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealParams {
    pub shares: u8,
    pub threshold: u8,
}

/// The key hierarchy as stored: what unsealing reads. Both keys are sealed
/// by the barrier; storage never sees the unseal key or the root key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHierarchy {
    pub params: SealParams,
    /// The root key, sealed under the unseal key (rebuilt from the shares).
    pub root_key: Sealed,
    /// The keyring (the data keys), sealed under the root key.
    pub keyring: Sealed,
}

/// A stored token: only the hash of the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub hash: String,
    pub accessor: String,
    pub display_name: String,
    /// Policies attached to the token itself (an identity's come on top).
    pub policies: Vec<String>,
    pub is_root: bool,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    /// The identity it was issued to; deleting the identity deletes the token.
    pub identity_id: Option<i64>,
    /// `root`, `token`, `userpass`, `client` or `jwt`.
    pub auth_method: String,
    /// Default renewal increment.
    pub ttl_ms: Option<i64>,
    /// Renewals never extend past this.
    pub max_expires_at: Option<i64>,
}

/// A user or service identity. Credentials are hashes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRow {
    /// 0 until stored.
    pub id: i64,
    pub name: String,
    /// `user` or `service`.
    pub kind: String,
    pub policies: Vec<String>,
    /// JSON object of string metadata.
    pub metadata: String,
    /// Argon2id PHC string (users).
    pub password_hash: Option<String>,
    pub client_id: Option<String>,
    /// SHA-256 hex of the client secret (services).
    pub client_secret_hash: Option<String>,
    pub client_secret_expires_at: Option<i64>,
    pub client_secret_uses_left: Option<i64>,
    pub allowed_cidrs: Vec<String>,
    /// JSON of the JWT binding, if JWT login is allowed.
    pub jwt_binding: Option<String>,
    pub token_ttl_ms: i64,
    pub token_max_ttl_ms: i64,
    pub created_at: i64,
}

/// A group of identities that carries policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub name: String,
    pub policies: Vec<String>,
    /// Member identity names, sorted.
    pub members: Vec<String>,
    pub created_at: i64,
}

/// A named document (policy source, JWT issuer configuration).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NamedDocument {
    pub name: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which table of named documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Policy,
    JwtIssuer,
    /// Settings of the Vault-compatible API: a mount's KV configuration and
    /// a Vault secret's metadata (`max_versions`, `cas_required`,
    /// `custom_metadata`), as JSON; never a secret value.
    VaultSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvRow {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    /// Latest revision; 0 before the first change.
    pub revision: i64,
    pub created_at: i64,
    /// `Some(recipients)` when the environment is end-to-end encrypted
    /// (docs/e2e.md): every value is an age file encrypted client-side to
    /// these age recipients, which the server cannot decrypt. Server-side
    /// generators and rotators must refuse such an environment.
    pub e2e_recipients: Option<Vec<String>>,
}

/// The current state of one secret.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretHead {
    pub path: String,
    pub description: Option<String>,
    /// Highest version written; the current one unless `deleted`.
    pub latest_version: i64,
    pub deleted: bool,
    pub updated_at: i64,
    /// The `previous` stage is withdrawn while `latest_version` equals this
    /// (emergency rotation, or the rotator retired the old value).
    pub previous_withdrawn_for: Option<i64>,
}

/// One version of one secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub path: String,
    pub version: i64,
    /// The revision that wrote it.
    pub revision: i64,
    pub key_id: u32,
    /// `None` when destroyed, or when data was not asked for.
    pub ciphertext: Option<Sealed>,
    pub destroyed: bool,
    pub actor: String,
    pub created_at: i64,
    pub description: Option<String>,
    /// The data is end-to-end ciphertext (an age file), not a value the server can read.
    pub e2e: bool,
    /// Where the version's value was moved or copied from (see [`Op::Set`]);
    /// filled by [`crate::SecretStore::secret_versions`] only.
    pub origin: Option<String>,
}

/// Which version a read wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// The current version (none if deleted).
    Current,
    /// A version by number, deleted or not.
    Version(i64),
    /// The version that was current right after revision R.
    AtRevision(i64),
}

/// One operation of a change set.
#[derive(Debug, Clone)]
pub enum Op {
    /// Writes version `version` of `path`, which must be exactly one more than
    /// the path's latest version (1 for a new path), else
    /// [`crate::StoreError::VersionConflict`]. `description: None` keeps the old one.
    Set {
        path: String,
        version: i64,
        key_id: u32,
        ciphertext: Sealed,
        description: Option<String>,
        /// Where the value came from, when it was moved or copied from another
        /// path: opaque to the store (the server's words), kept with the change entry.
        origin: Option<String>,
    },
    /// Soft-deletes a live secret.
    Delete { path: String },
    /// Restores a deleted secret's latest version.
    Undelete { path: String },
}

impl Op {
    pub fn path(&self) -> &str {
        match self {
            Op::Set { path, .. } | Op::Delete { path } | Op::Undelete { path } => path,
        }
    }
}

/// An atomic change set on one environment. What makes one valid (at least one
/// operation, no path twice, the expected revision, the recipients, version
/// numbering) is checked by every backend through the crate's `rules` module;
/// [`crate::SecretStore::apply_change`] lists the errors.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub env_id: i64,
    /// Optimistic concurrency: the revision the writer saw; `CasMismatch` if it moved.
    pub expected_revision: Option<i64>,
    pub actor: String,
    pub message: Option<String>,
    pub created_at: i64,
    pub ops: Vec<Op>,
    /// For changes with a `Set`: the end-to-end recipients the new values are
    /// encrypted to (`None`: ordinary values). Checked against the
    /// environment's recipients inside the write transaction
    /// ([`crate::StoreError::E2eMismatch`]); the new versions are marked `e2e`.
    pub e2e_recipients: Option<Vec<String>>,
}

/// One retained version re-encrypted to a new recipient set: its stored data is replaced.
#[derive(Debug, Clone)]
pub struct Rewrap {
    pub path: String,
    pub version: i64,
    pub key_id: u32,
    pub ciphertext: Sealed,
}

/// A change of an environment's end-to-end recipients; see [`crate::SecretStore::e2e_update`].
#[derive(Debug, Clone)]
pub struct E2eChange {
    pub env_id: i64,
    /// The revision the client read the values at; `CasMismatch` if it moved.
    pub expected_revision: i64,
    pub actor: String,
    pub message: Option<String>,
    pub created_at: i64,
    /// The new recipients; `None` turns end-to-end encryption off.
    pub recipients: Option<Vec<String>>,
    /// Versions whose data is replaced (re-encrypted to `recipients`).
    pub rewrap: Vec<Rewrap>,
}

/// What [`crate::SecretStore::e2e_update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E2eApplied {
    pub revision: i64,
    pub rewrapped: usize,
    pub destroyed: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Set,
    Delete,
    Undelete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Set => "set",
            Action::Delete => "delete",
            Action::Undelete => "undelete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "set" => Some(Action::Set),
            "delete" => Some(Action::Delete),
            "undelete" => Some(Action::Undelete),
            _ => None,
        }
    }
}

/// What a change did to one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedEntry {
    pub path: String,
    pub action: Action,
    /// The version current after the change; `None` after a delete.
    pub version: Option<i64>,
    /// Where a set's value came from (see [`Op::Set`]).
    pub origin: Option<String>,
}

/// The outcome of [`crate::SecretStore::apply_change`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub revision: i64,
    pub entries: Vec<AppliedEntry>,
}

/// One revision of an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub revision: i64,
    pub actor: String,
    pub message: Option<String>,
    pub created_at: i64,
    pub entries: Vec<AppliedEntry>,
}

/// A node serving the store, as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NodeRow {
    pub node: String,
    /// Where it serves (`host:port`, or a URL).
    pub address: String,
    pub sealed: bool,
    pub started_at: i64,
    /// Its last heartbeat (unix ms).
    pub seen_at: i64,
}

/// One audit record as the database sink keeps it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    /// The chain the record belongs to: the node that wrote it (`""` for the only node of a store).
    pub node: String,
    pub seq: i64,
    pub time_ms: i64,
    /// `request` or `checkpoint`.
    pub kind: String,
    pub identity: Option<String>,
    pub operation: Option<String>,
    /// `project/env/path` (or a prefix of it) the request named.
    pub resource: Option<String>,
    pub status: Option<i64>,
    /// The record's hash (chain head after it).
    pub hash: String,
    /// The exact JSON line.
    pub line: String,
}

/// Filters of an audit query; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub identity: Option<String>,
    /// Exact operation name, or a prefix ending in `.` (`secret.`).
    pub operation: Option<String>,
    pub status: Option<i64>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only records with `seq < before` (paging, newest first).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// A secret's rotation policy and where rotation stands. The pending value is
/// the barrier's envelope, like every other value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRow {
    pub env_id: i64,
    pub path: String,
    /// The policy as JSON (`leash_core::api::RotationPolicy`).
    pub policy: String,
    pub next_due_at: Option<i64>,
    pub grace_ms: i64,
    /// Number of the latest attempt.
    pub attempt: i64,
    /// `idle`, `running` or `failed`.
    pub state: String,
    /// The last step the latest attempt reached.
    pub step: Option<String>,
    pub pending_key_id: Option<u32>,
    pub pending_ciphertext: Option<Sealed>,
    /// Consecutive failed attempts.
    pub failures: i64,
    pub retry_at: Option<i64>,
    pub last_error: Option<String>,
    /// The node running an attempt, and until when; `None` when no attempt runs.
    pub lease: Option<Lease>,
    pub last_rotated_at: Option<i64>,
    /// When the rotator's `retire` step is due for `retire_version`.
    pub retire_at: Option<i64>,
    pub retire_version: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl RotationRow {
    /// A new policy's row: idle, never rotated, nothing due until the caller sets `next_due_at`.
    pub fn new(env_id: i64, path: &str, policy: String, grace_ms: i64, now: i64) -> Self {
        Self {
            env_id,
            path: path.to_owned(),
            policy,
            next_due_at: None,
            grace_ms,
            attempt: 0,
            state: "idle".into(),
            step: None,
            pending_key_id: None,
            pending_ciphertext: None,
            failures: 0,
            retry_at: None,
            last_error: None,
            lease: None,
            last_rotated_at: None,
            retire_at: None,
            retire_version: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A node's hold on a rotation row while it runs an attempt. Another node
/// may take the row over only once `until` has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The id of the node (server process) holding it.
    pub holder: String,
    /// Unix milliseconds.
    pub until: i64,
}

impl Lease {
    /// Whether the lease still holds at `now`.
    pub fn live_at(&self, now: i64) -> bool {
        self.until > now
    }
}

/// A rotation that is due, with the names of its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRotation {
    pub project: String,
    pub env: String,
    pub row: RotationRow,
}

/// One rotation attempt, as `leash rotation history` shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RotationLogRow {
    pub env_id: i64,
    pub path: String,
    pub attempt: i64,
    /// `manual`, `schedule`, `retry` or `retire`.
    pub trigger: String,
    pub actor: String,
    pub rotator: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// `running`, `succeeded` or `failed`.
    pub outcome: String,
    pub step: Option<String>,
    pub error: Option<String>,
    pub version: Option<i64>,
}
