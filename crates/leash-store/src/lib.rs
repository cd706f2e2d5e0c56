//! `leash-store`: where Leash keeps its data.
//!
//! It owns the [`Storage`] trait, the row types that cross it, and the
//! backends (SQLite today; PostgreSQL for clusters). Storage is *untrusted*:
//! it only ever sees ciphertext produced by the server's barrier and the
//! metadata needed to find it (names, versions, revisions, actors, times).
//!
//! It must never see, hold or log a plaintext secret value or key, and never
//! decides who may do what: authentication and authorization live above it.
//! Every backend must pass the conformance suite in `tests/conformance/`.
#![forbid(unsafe_code)]

mod error;
mod group_commit;
mod hot_cache;
mod model;
mod sqlite;

pub use error::StoreError;
pub use model::*;
pub use sqlite::{DB_FILE, SqliteStore};

use async_trait::async_trait;

/// The result type of every storage call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What the server needs from a backend. Every method is one transaction:
/// it either happens completely and durably before it returns `Ok`, or not at all.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// A server-internal value (seal configuration, encrypted root key and keyring, ...).
    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Inserts or replaces a server-internal value.
    async fn meta_put(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Writes the initial meta values and the root token, once. Fails with
    /// [`StoreError::AlreadyInitialized`] if `marker_key` is already set.
    async fn initialize(&self, marker_key: &str, meta: &[(&str, Vec<u8>)], root_token: &TokenRecord) -> Result<()>;

    async fn token_create(&self, token: &TokenRecord) -> Result<()>;
    async fn token_lookup(&self, hash: &str) -> Result<Option<TokenRecord>>;
    async fn token_lookup_by_accessor(&self, accessor: &str) -> Result<Option<TokenRecord>>;
    /// Moves a token's expiry (renewal).
    async fn token_set_expiry(&self, hash: &str, expires_at: Option<i64>) -> Result<()>;
    async fn token_delete(&self, hash: &str) -> Result<bool>;
    /// Deletes every token issued to an identity; returns how many.
    async fn tokens_delete_for_identity(&self, identity_id: i64) -> Result<u64>;

    /// Stores a new identity; fails with `AlreadyExists` on a taken name or client id.
    async fn identity_create(&self, identity: &IdentityRow) -> Result<IdentityRow>;
    /// Replaces every field of the identity with id `identity.id`.
    async fn identity_update(&self, identity: &IdentityRow) -> Result<()>;
    async fn identity_get(&self, name: &str) -> Result<Option<IdentityRow>>;
    async fn identity_get_by_client_id(&self, client_id: &str) -> Result<Option<IdentityRow>>;
    async fn identity_list(&self) -> Result<Vec<IdentityRow>>;
    /// Deletes the identity, its tokens and its group memberships.
    async fn identity_delete(&self, identity_id: i64) -> Result<()>;
    /// Counts one use of a limited client secret; `false` when none is left.
    async fn client_secret_use(&self, identity_id: i64) -> Result<bool>;

    /// Creates or replaces a group with these members (identity names that must exist).
    async fn group_put(&self, name: &str, policies: &[String], members: &[String], now: i64) -> Result<GroupRow>;
    async fn group_get(&self, name: &str) -> Result<Option<GroupRow>>;
    async fn group_list(&self) -> Result<Vec<GroupRow>>;
    async fn group_delete(&self, name: &str) -> Result<bool>;

    /// Creates or replaces a named document.
    async fn document_put(&self, kind: DocumentKind, name: &str, body: &str, now: i64) -> Result<NamedDocument>;
    async fn document_get(&self, kind: DocumentKind, name: &str) -> Result<Option<NamedDocument>>;
    async fn document_list(&self, kind: DocumentKind) -> Result<Vec<NamedDocument>>;
    async fn document_delete(&self, kind: DocumentKind, name: &str) -> Result<bool>;

    async fn project_create(&self, name: &str, now: i64) -> Result<ProjectRow>;
    async fn project_list(&self) -> Result<Vec<ProjectRow>>;
    async fn project_get(&self, name: &str) -> Result<Option<ProjectRow>>;
    /// Deletes a project with its environments, secrets and history.
    async fn project_delete(&self, project_id: i64) -> Result<()>;

    async fn env_create(&self, project_id: i64, name: &str, now: i64) -> Result<EnvRow>;
    async fn env_list(&self, project_id: i64) -> Result<Vec<EnvRow>>;
    async fn env_get(&self, project_id: i64, name: &str) -> Result<Option<EnvRow>>;
    /// A project and (if it exists) its environment `env`, by name, in one lookup:
    /// `None` when the project does not exist.
    async fn env_by_names(&self, project: &str, env: &str) -> Result<Option<(ProjectRow, Option<EnvRow>)>>;
    /// Deletes an environment with its secrets and history.
    async fn env_delete(&self, env_id: i64) -> Result<()>;

    /// The current state of the named secrets that exist (deleted ones included).
    async fn heads(&self, env_id: i64, paths: &[String]) -> Result<Vec<SecretHead>>;
    /// Applies one atomic change set; see [`NewChange`] for the checks it makes.
    async fn apply_change(&self, change: NewChange) -> Result<Applied>;
    /// One version of one secret, chosen by `selector`; `None` if there is none
    /// (never written, deleted at that point, or no such version).
    async fn read_version(&self, env_id: i64, path: &str, selector: Selector) -> Result<Option<VersionRow>>;
    /// Every live secret of an environment at `at_revision` (latest when `None`),
    /// with the revision the answer reflects. Ciphertext only when `with_data`.
    async fn list_state(
        &self,
        env_id: i64,
        at_revision: Option<i64>,
        with_data: bool,
    ) -> Result<(i64, Vec<VersionRow>)>;
    /// Every secret path of an environment, deleted secrets' included, sorted.
    async fn secret_paths(&self, env_id: i64) -> Result<Vec<String>>;
    /// A secret's head and all its versions (no ciphertext), oldest first.
    async fn secret_versions(&self, env_id: i64, path: &str) -> Result<Option<(SecretHead, Vec<VersionRow>)>>;
    /// Wipes the data of the given versions (all when `None`); returns those newly destroyed.
    async fn destroy_versions(&self, env_id: i64, path: &str, versions: Option<&[i64]>) -> Result<Vec<i64>>;
    /// Every retained (not destroyed) version of an environment with its data,
    /// deleted secrets' included, with the revision it reflects (read in one
    /// snapshot), each with whether it is the current version of a live secret.
    /// With `current_only`, just the current versions of live secrets.
    async fn retained_versions(&self, env_id: i64, current_only: bool) -> Result<(i64, Vec<(VersionRow, bool)>)>;
    /// Counts an environment's retained versions that hold end-to-end ciphertext.
    async fn e2e_version_count(&self, env_id: i64) -> Result<i64>;
    /// Changes an environment's end-to-end recipients in one transaction, recorded
    /// as a new revision (with no entries): checks the revision (`CasMismatch`);
    /// replaces the data of every `rewrap` version (marking it e2e; each must be
    /// retained, else `NotFound`); requires the current version of every live
    /// secret among them (`InvalidChange`); destroys every other retained version
    /// of the environment; sets the recipients. Turning e2e off (`recipients:
    /// None`) takes no rewraps and fails with `E2eVersionsRetained` while
    /// end-to-end ciphertext is retained.
    async fn e2e_update(&self, change: E2eChange) -> Result<E2eApplied>;
    /// An environment's changes with revision `> after`, oldest first, at most `limit`.
    async fn changes_since(&self, env_id: i64, after: i64, limit: i64) -> Result<Vec<ChangeRow>>;
    /// An environment's changes, newest first, with revision `< before` when given.
    async fn history(&self, env_id: i64, before: Option<i64>, limit: i64) -> Result<Vec<ChangeRow>>;

    /// A secret's rotation state, if it has a policy.
    async fn rotation_get(&self, env_id: i64, path: &str) -> Result<Option<RotationRow>>;
    /// Creates or replaces a rotation row (every field).
    async fn rotation_put(&self, row: &RotationRow) -> Result<()>;
    async fn rotation_delete(&self, env_id: i64, path: &str) -> Result<bool>;
    /// Takes the lease of a rotation row until `lease_until`, if its attempt is
    /// still `attempt` and no other lease is live at `now`. `false` = someone else has it.
    async fn rotation_claim(&self, env_id: i64, path: &str, attempt: i64, now: i64, lease_until: i64) -> Result<bool>;
    /// Rows with no live lease at `now` whose schedule, retry or retirement is due, oldest first.
    async fn rotation_due(&self, now: i64, limit: i64) -> Result<Vec<DueRotation>>;
    /// Drops every lease (start-up of a single-node store: no other node can hold one).
    async fn rotation_release_leases(&self) -> Result<()>;
    /// Applies `change` and writes `row` in one transaction: a promotion.
    async fn rotation_promote(&self, change: NewChange, row: &RotationRow) -> Result<Applied>;
    /// Withdraws the `previous` stage of a secret while `current_version` is its current version.
    async fn secret_withdraw_previous(&self, env_id: i64, path: &str, current_version: i64) -> Result<()>;
    /// Creates or replaces one attempt's history entry.
    async fn rotation_log_put(&self, entry: &RotationLogRow) -> Result<()>;
    /// A secret's rotation attempts, newest first.
    async fn rotation_log(&self, env_id: i64, path: &str, limit: i64) -> Result<Vec<RotationLogRow>>;

    /// Appends audit records (already hash-chained) in one transaction.
    async fn audit_append(&self, rows: &[AuditRow]) -> Result<()>;
    /// Audit records matching `filter`, newest first.
    async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>>;
    /// Audit records with `seq > after`, oldest first, at most `limit` (for verification).
    async fn audit_scan(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>>;
    /// The last audit record, and the last checkpoint record.
    async fn audit_last(&self, checkpoint: bool) -> Result<Option<AuditRow>>;

    /// Flushes and closes connections; called once at shutdown.
    async fn close(&self);
}
