//! `leash-store`: where Leash keeps its data.
//!
//! It owns the storage traits, the row types that cross them, the rules of a
//! change that every backend applies, the hot cache, and the backends (SQLite,
//! embedded, one process; PostgreSQL, shared by the nodes of a cluster).
//! Storage is *untrusted*: it only ever sees ciphertext produced by the
//! server's barrier (as [`Sealed`]) and the metadata needed to find it
//! (names, versions, revisions, actors, times). It must never see, hold or log
//! a plaintext secret value or key, and never decides who may do what:
//! authentication and authorization live above it.
//!
//! # Layout
//!
//! - The traits below, one per aggregate ([`MetaStore`], [`TokenStore`],
//!   [`IdentityStore`], [`ProjectStore`], [`SecretStore`], [`RotationStore`],
//!   [`AuditStore`]), and [`Storage`], which is all of them (a blanket impl: a
//!   type that implements the seven is a `Storage`, and `dyn Storage` calls
//!   every method of every one of them).
//! - `rules`: the checks of a change that are not SQL (an empty or repeated
//!   path, version numbering, CAS, end-to-end recipients, what an end-to-end
//!   update must include). Every backend calls them inside its transaction,
//!   so a new backend applies the same rules without writing them again.
//! - [`HotCached`]: a decorator over any backend that keeps the rows every read
//!   needs in memory and forgets them after each write, before that write is
//!   answered.
//! - [`SqliteStore`] (`sqlite/`): the embedded backend, one module per aggregate.
//! - [`PostgresStore`] (`postgres/`): the shared backend for several nodes on one
//!   PostgreSQL database, one module per aggregate; writers of an environment
//!   lock its row, reads of several statements share one snapshot.
//! - `rows`: the stored form of rows both SQL backends map (`FromRow` structs and
//!   column encodings; the two schemas are the same column for column).
//!
//! # The contract every method keeps
//!
//! **One method = one transaction**: a method that writes either happens
//! completely and durably before it returns `Ok` (SQLite: the WAL is fsynced;
//! PostgreSQL: the commit's WAL is flushed), or not at all; a method that
//! reads answers from one consistent snapshot, never a mix of states before and after a concurrent write. Errors name rows
//! by their names and numbers, never by content. Every backend must pass the
//! conformance suite in `tests/conformance/`, and so must [`HotCached`] over it.
#![forbid(unsafe_code)]

mod error;
mod hot_cache;
pub mod migrate;
mod model;
mod observe;
mod postgres;
mod rows;
mod rules;
pub mod snapshot;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::StoreError;
pub use hot_cache::{CacheInvalidator, HotCached, WriteHook};
pub use model::*;
pub use observe::{StoreObserver, StoreOperation};
pub use postgres::{Heard, MAX_NOTIFY_PAYLOAD, NotifyChannel, PostgresStore};
pub use sqlite::{AUDIT_DB_FILE, DB_FILE, SqliteStore};

/// The files a backend copied for a snapshot.
#[derive(Debug, Clone)]
pub struct StoreSnapshot {
    /// The backend's name in the snapshot manifest (`sqlite`).
    pub backend: &'static str,
    pub parts: Vec<snapshot::SnapshotPart>,
}

use async_trait::async_trait;

/// The result type of every storage call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything the server needs from a backend: the seven aggregate traits.
///
/// Implemented for every type that implements them all, so `Arc<dyn Storage>`
/// is the one handle the server holds, and `store.method()` reaches the method
/// of whichever trait declares it (a trait object's supertrait methods are
/// callable on it like its own). A part of the server that needs one aggregate
/// only can take `&dyn TokenStore` etc. (`&dyn Storage` coerces to it).
pub trait Storage:
    MetaStore + TokenStore + IdentityStore + ProjectStore + SecretStore + RotationStore + AuditStore
{
}

impl<T> Storage for T where
    T: MetaStore + TokenStore + IdentityStore + ProjectStore + SecretStore + RotationStore + AuditStore
{
}

/// The barrier's own state (the seal parameters, the sealed root key and
/// keyring, the sealed audit keys), the one-time initialisation, and the
/// store's lifetime. Every key arrives and leaves as [`Sealed`].
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// The stored key hierarchy; `None` before initialisation.
    async fn key_hierarchy(&self) -> Result<Option<KeyHierarchy>>;
    /// Writes the key hierarchy and the root token, once, together. Fails
    /// with [`StoreError::AlreadyInitialized`] (writing nothing) if a key
    /// hierarchy is already stored.
    async fn initialize(&self, keys: &KeyHierarchy, root_token: &TokenRecord) -> Result<()>;
    /// Replaces the sealed keyring (after a key rotation) if the stored one is
    /// still `expected`; `false` (nothing written) when another node replaced
    /// it first, so no node's new key is ever overwritten. `NotFound` before
    /// initialisation.
    async fn keyring_replace(&self, expected: &Sealed, keyring: &Sealed) -> Result<bool>;
    /// The sealed audit keys: the stored ones, or else `candidate`, stored
    /// now. Whichever node asks first decides; every later caller gets that one.
    async fn audit_keys_get_or_put(&self, candidate: &Sealed) -> Result<Sealed>;
    /// Whether this process is the only one that can use the data (SQLite
    /// holds a lock on its file for the store's lifetime). A shared backend
    /// answers `false`: other nodes may be running, holding leases.
    fn exclusive(&self) -> bool;
    /// A number that moves, in the same transaction, with every change of
    /// who may do what: a token revoked or renewed, an identity, group,
    /// policy or JWT issuer changed, the key hierarchy replaced. A node on a
    /// shared store compares it with the last one it saw before it trusts
    /// its token cache, directory and keyring. An exclusive store answers 0
    /// always (no other process changes anything).
    async fn access_generation(&self) -> Result<i64>;
    /// Records that `node` is serving (and whether it is sealed) now.
    async fn node_heartbeat(&self, node: &NodeRow) -> Result<()>;
    /// Every node that has served this store, by id.
    async fn node_list(&self) -> Result<Vec<NodeRow>>;
    /// Copies the store's files, as stored and from one consistent moment
    /// each, into the empty directory `dir` while the store keeps serving,
    /// for a snapshot ([`snapshot`]). The data file is copied before the
    /// audit table, so the table never holds records of a change the data
    /// lacks. [`StoreError::Unsupported`] for a backend that is backed up by
    /// its own tools (PostgreSQL).
    async fn snapshot_into(&self, dir: &std::path::Path) -> Result<StoreSnapshot>;
    /// Flushes and closes connections (and gives up an exclusive lock);
    /// called once at shutdown, after every other call.
    async fn close(&self);
}

/// Tokens, stored only as the hash of the token.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Stores a new token; fails if its hash or accessor is taken.
    async fn token_create(&self, token: &TokenRecord) -> Result<()>;
    /// The token with this hash, if any (expired ones included: expiry is the caller's rule).
    async fn token_lookup(&self, hash: &str) -> Result<Option<TokenRecord>>;
    /// The token with this accessor, if any.
    async fn token_lookup_by_accessor(&self, accessor: &str) -> Result<Option<TokenRecord>>;
    /// Moves a token's expiry (renewal); nothing happens if there is no such token.
    async fn token_set_expiry(&self, hash: &str, expires_at: Option<i64>) -> Result<()>;
    /// Deletes a token; `false` if there was none.
    async fn token_delete(&self, hash: &str) -> Result<bool>;
    /// Deletes every token issued to an identity; returns how many.
    async fn tokens_delete_for_identity(&self, identity_id: i64) -> Result<u64>;
    /// Every token (expired ones included: expiry is the caller's rule), sorted by accessor.
    async fn token_list(&self) -> Result<Vec<TokenRecord>>;
}

/// Identities, groups of identities, and named documents (policies, JWT issuers).
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// Stores a new identity and returns it with its id; fails with
    /// `AlreadyExists` on a taken name or client id.
    async fn identity_create(&self, identity: &IdentityRow) -> Result<IdentityRow>;
    /// Replaces every field of the identity with id `identity.id` but its name,
    /// kind and creation time; `NotFound` if there is none.
    async fn identity_update(&self, identity: &IdentityRow) -> Result<()>;
    /// The identity with this name, if any.
    async fn identity_get(&self, name: &str) -> Result<Option<IdentityRow>>;
    /// The service identity with this client id, if any.
    async fn identity_get_by_client_id(&self, client_id: &str) -> Result<Option<IdentityRow>>;
    /// Every identity, sorted by name.
    async fn identity_list(&self) -> Result<Vec<IdentityRow>>;
    /// Deletes the identity, its tokens and its group memberships together
    /// (nothing happens if there is no such identity).
    async fn identity_delete(&self, identity_id: i64) -> Result<()>;
    /// Counts one use of a limited client secret; `false` when none is left
    /// (always `true` for an unlimited one).
    async fn client_secret_use(&self, identity_id: i64) -> Result<bool>;

    /// Creates or replaces a group with exactly these policies and members
    /// (identity names that must exist: `NotFound` and nothing changes otherwise);
    /// a replaced group keeps its creation time.
    async fn group_put(&self, name: &str, policies: &[String], members: &[String], now: i64) -> Result<GroupRow>;
    /// The group with this name and its members, if any.
    async fn group_get(&self, name: &str) -> Result<Option<GroupRow>>;
    /// Every group with its members, sorted by name.
    async fn group_list(&self) -> Result<Vec<GroupRow>>;
    /// Deletes a group and its memberships; `false` if there was none.
    async fn group_delete(&self, name: &str) -> Result<bool>;

    /// Creates or replaces a named document; a replaced one keeps its creation time.
    async fn document_put(&self, kind: DocumentKind, name: &str, body: &str, now: i64) -> Result<NamedDocument>;
    /// The document of this kind and name, if any.
    async fn document_get(&self, kind: DocumentKind, name: &str) -> Result<Option<NamedDocument>>;
    /// Every document of this kind, sorted by name.
    async fn document_list(&self, kind: DocumentKind) -> Result<Vec<NamedDocument>>;
    /// Deletes a document; `false` if there was none.
    async fn document_delete(&self, kind: DocumentKind, name: &str) -> Result<bool>;
}

/// Projects and their environments (the containers of secrets).
#[async_trait]
pub trait ProjectStore: Send + Sync + 'static {
    /// Creates a project; `AlreadyExists` on a taken name.
    async fn project_create(&self, name: &str, now: i64) -> Result<ProjectRow>;
    /// Every project, sorted by name.
    async fn project_list(&self) -> Result<Vec<ProjectRow>>;
    /// The project with this name, if any.
    async fn project_get(&self, name: &str) -> Result<Option<ProjectRow>>;
    /// Deletes a project with its environments, secrets, history and rotation
    /// state (nothing happens if there is no such project).
    async fn project_delete(&self, project_id: i64) -> Result<()>;

    /// Creates an environment at revision 0, not end-to-end encrypted;
    /// `AlreadyExists` on a name taken in the project.
    async fn env_create(&self, project_id: i64, name: &str, now: i64) -> Result<EnvRow>;
    /// A project's environments, sorted by name.
    async fn env_list(&self, project_id: i64) -> Result<Vec<EnvRow>>;
    /// The environment of this project with this name, if any.
    async fn env_get(&self, project_id: i64, name: &str) -> Result<Option<EnvRow>>;
    /// A project and (if it exists) its environment `env`, by name, in one lookup:
    /// `None` when the project does not exist.
    async fn env_by_names(&self, project: &str, env: &str) -> Result<Option<(ProjectRow, Option<EnvRow>)>>;
    /// Deletes an environment with its secrets, history and rotation state
    /// (nothing happens if there is no such environment).
    async fn env_delete(&self, env_id: i64) -> Result<()>;
}

/// Secrets, their versions, the changes (revisions) of an environment, and
/// end-to-end encrypted environments. The rules every change obeys are in
/// `rules` (see [`NewChange`], [`Op`] and [`SecretStore::e2e_update`]).
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// The current state of those of the named secrets that exist (deleted
    /// ones included), each once, in the order asked, read in one snapshot.
    async fn heads(&self, env_id: i64, paths: &[String]) -> Result<Vec<SecretHead>>;
    /// Applies one atomic change set as a new revision (`current + 1`), durable
    /// when it returns, or changes nothing. Refused with `InvalidChange` when it
    /// has no operation or names a path twice, deletes a deleted secret or
    /// undeletes a live one; `NotFound` for a delete or undelete of a path never
    /// written; `CasMismatch` when `expected_revision` is not the environment's
    /// revision; `E2eMismatch` when it sets values and its `e2e_recipients` are
    /// not the environment's; `VersionConflict` when a `Set`'s version is not
    /// the path's latest + 1 (1 for a new path).
    async fn apply_change(&self, change: NewChange) -> Result<Applied>;
    /// One version of one secret, chosen by `selector`; `None` if there is none
    /// (never written, deleted at that point, or no such version).
    async fn read_version(&self, env_id: i64, path: &str, selector: Selector) -> Result<Option<VersionRow>>;
    /// Every live secret of an environment at `at_revision` (latest when
    /// `None`), sorted by path, with the revision the answer reflects, read in
    /// one snapshot. Ciphertext only when `with_data`. `NotFound` if there is
    /// no such environment.
    async fn list_state(
        &self,
        env_id: i64,
        at_revision: Option<i64>,
        with_data: bool,
    ) -> Result<(i64, Vec<VersionRow>)>;
    /// Every secret path of an environment, deleted secrets' included, sorted.
    async fn secret_paths(&self, env_id: i64) -> Result<Vec<String>>;
    /// A secret's head and all its versions (no ciphertext), oldest first, read in one snapshot.
    async fn secret_versions(&self, env_id: i64, path: &str) -> Result<Option<(SecretHead, Vec<VersionRow>)>>;
    /// Wipes the data of the given versions (all when `None`) and returns those
    /// newly destroyed; `NotFound` (destroying nothing) for an unknown secret
    /// or a version number it never had. Not a revision.
    async fn destroy_versions(&self, env_id: i64, path: &str, versions: Option<&[i64]>) -> Result<Vec<i64>>;
    /// Every retained (not destroyed) version of an environment with its data,
    /// deleted secrets' included, sorted by path and version, with the revision
    /// it reflects (read in one snapshot), each with whether it is the current
    /// version of a live secret. With `current_only`, just the current versions
    /// of live secrets. `NotFound` if there is no such environment.
    async fn retained_versions(&self, env_id: i64, current_only: bool) -> Result<(i64, Vec<(VersionRow, bool)>)>;
    /// Counts an environment's retained versions that hold end-to-end ciphertext.
    async fn e2e_version_count(&self, env_id: i64) -> Result<i64>;
    /// Changes an environment's end-to-end recipients in one transaction, recorded
    /// as a new revision (with no entries): checks the revision (`CasMismatch`);
    /// replaces the data of every `rewrap` version (marking it e2e; each must be
    /// retained, else `NotFound`, and named once, else `InvalidChange`); requires
    /// the current version of every live secret among them (`InvalidChange`);
    /// destroys every other retained version of the environment; sets the
    /// recipients. Turning e2e off (`recipients: None`) takes no rewraps
    /// (`InvalidChange`), destroys nothing, and fails with `E2eVersionsRetained`
    /// while end-to-end ciphertext is retained.
    async fn e2e_update(&self, change: E2eChange) -> Result<E2eApplied>;
    /// An environment's changes with revision `> after`, oldest first, at most
    /// `limit`, each with its entries (read in one snapshot).
    async fn changes_since(&self, env_id: i64, after: i64, limit: i64) -> Result<Vec<ChangeRow>>;
    /// An environment's changes, newest first, with revision `< before` when
    /// given, at most `limit`, each with its entries (read in one snapshot).
    async fn history(&self, env_id: i64, before: Option<i64>, limit: i64) -> Result<Vec<ChangeRow>>;
}

/// Rotation policies and where each rotation stands, the promotion of a
/// rotated value, and the history of attempts.
#[async_trait]
pub trait RotationStore: Send + Sync + 'static {
    /// A secret's rotation state, if it has a policy.
    async fn rotation_get(&self, env_id: i64, path: &str) -> Result<Option<RotationRow>>;
    /// Creates or replaces a rotation row (every field).
    async fn rotation_put(&self, row: &RotationRow) -> Result<()>;
    /// Deletes a rotation row; `false` if there was none.
    async fn rotation_delete(&self, env_id: i64, path: &str) -> Result<bool>;
    /// Takes `lease` on a rotation row, if its attempt is still `attempt` and
    /// no lease (this node's or another's) is live at `now`. `false` =
    /// someone else has it, or the attempt moved on.
    async fn rotation_claim(&self, env_id: i64, path: &str, attempt: i64, lease: &Lease, now: i64) -> Result<bool>;
    /// Rows with no live lease at `now` whose schedule, retry or retirement is
    /// due (or whose attempt was left running), oldest first, at most `limit`.
    async fn rotation_due(&self, now: i64, limit: i64) -> Result<Vec<DueRotation>>;
    /// Drops every lease, whoever holds it. Only for a store no other process
    /// can open ([`MetaStore::exclusive`]): at its start, any lease is a
    /// crashed predecessor's. A shared store's leases expire instead.
    async fn rotation_release_leases(&self) -> Result<()>;
    /// A promotion: applies `change` exactly as [`SecretStore::apply_change`]
    /// does (same checks, same errors) and writes `row`, in one transaction;
    /// on any error neither is written.
    async fn rotation_promote(&self, change: NewChange, row: &RotationRow) -> Result<Applied>;
    /// Withdraws the `previous` stage of a secret while `current_version` is
    /// its current version (nothing happens if there is no such secret).
    async fn secret_withdraw_previous(&self, env_id: i64, path: &str, current_version: i64) -> Result<()>;
    /// Creates or replaces one attempt's history entry.
    async fn rotation_log_put(&self, entry: &RotationLogRow) -> Result<()>;
    /// A secret's rotation attempts, newest first, at most `limit`.
    async fn rotation_log(&self, env_id: i64, path: &str, limit: i64) -> Result<Vec<RotationLogRow>>;
}

/// The audit table: an index of the audit file's records (the file, written
/// by the server first, is the durability point).
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends audit records (already numbered and hash-chained, each naming
    /// its chain) in one transaction; fails, appending none, if a `(node,
    /// seq)` is already stored.
    async fn audit_append(&self, rows: &[AuditRow]) -> Result<()>;
    /// Request records (no checkpoints) matching `filter`, of every chain,
    /// newest first.
    async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>>;
    /// Records (checkpoints included) of chain `node` with `seq > after`,
    /// oldest first, at most `limit` (for verification).
    async fn audit_scan(&self, node: &str, after: i64, limit: i64) -> Result<Vec<AuditRow>>;
    /// The last record of chain `node`, or with `checkpoint` its last checkpoint record.
    async fn audit_last(&self, node: &str, checkpoint: bool) -> Result<Option<AuditRow>>;
    /// The chains the table holds (one per node that wrote records), sorted.
    async fn audit_chains(&self) -> Result<Vec<String>>;
}
