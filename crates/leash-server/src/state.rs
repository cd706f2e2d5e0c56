//! What every request handler shares ([`AppState`]), and the part of it the
//! domain services may use ([`Domain`]).

use std::sync::Arc;

use leash_store::Storage;

use crate::audit::AuditLog;
use crate::auth::TokenCache;
use crate::barrier::Barrier;
use crate::changes::ChangeFeed;
use crate::clock::Clock;
use crate::directory::Directory;
use crate::jwt::JwtVerifier;
use crate::ratelimit::LoginLimiter;

/// Limits a request must respect.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest secret value, in bytes (413 above).
    pub max_value_bytes: usize,
    /// Largest request body, in bytes (413 above).
    pub max_request_bytes: usize,
    /// Most operations in one change set (413 above).
    pub max_change_ops: usize,
    /// How long a client may take to send headers, and then a body (408 after it).
    pub request_timeout: std::time::Duration,
}

/// Server-wide rotation settings.
#[derive(Debug, Clone)]
pub struct RotationSettings {
    /// How long a previous value stays readable when a secret's policy does not say.
    pub default_grace: std::time::Duration,
    /// The only directory `command` rotators may run executables from.
    pub commands_dir: Option<std::path::PathBuf>,
    /// Where webhook rotators may send values (`rotation_webhook_allow`; empty = nowhere).
    pub webhook_allow: Arc<leash_rotate::webhook::Allowlist>,
}

/// Shared server state: the domain layer's dependencies ([`Domain`]) plus
/// what only the HTTP edge uses (the audit log the middleware writes, login
/// rate limiting, allowed browser origins, the shutdown signal). Cloned by
/// every extractor of every request, so it is one `Arc` (a clone is one
/// atomic increment, not one per field).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] shares. It derefs to its [`Domain`], so a route hands
/// `&state` to a service, which sees the domain's dependencies and no more.
pub struct SharedState {
    pub domain: Arc<Domain>,
    /// Failed-login counting.
    pub logins: Arc<LoginLimiter>,
    /// The audit log writer.
    pub audit: AuditLog,
    /// Browser origins allowed besides the server's own (`allowed_origins`).
    pub allowed_origins: Vec<String>,
    /// Turns true when the server shuts down (ends watch streams).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// A private directory on the data's disk for the copies a snapshot makes.
    pub scratch_dir: std::path::PathBuf,
}

impl std::ops::Deref for SharedState {
    type Target = Domain;

    fn deref(&self) -> &Domain {
        &self.domain
    }
}

/// The explicit dependencies of the domain services (`service`, `projects`,
/// `identities`, `tokens`, `access`, `review`, `grants`, `e2e`, `rotation`): storage,
/// the barrier, the clock, the change feed, the directory and token cache
/// (which a service that changes access refreshes itself), and the limits
/// and settings the rules need, and the metrics they count. Nothing here knows HTTP; a test
/// (`tests/structure.rs`) keeps `AppState` out of those modules.
pub struct Domain {
    pub store: Arc<dyn Storage>,
    pub barrier: Arc<Barrier>,
    pub limits: Limits,
    /// Identities, groups and parsed policies, for authorization.
    pub directory: Arc<Directory>,
    /// Token lookups.
    pub tokens: Arc<TokenCache>,
    /// JWT/OIDC verification with its JWKS cache.
    pub jwt: Arc<JwtVerifier>,
    /// Committed changes, for watchers.
    pub changes: ChangeFeed,
    /// The time as rotation sees it (movable in tests).
    pub clock: Arc<dyn Clock>,
    pub rotation: RotationSettings,
    /// This node's id in the cluster (rotation leases name it).
    pub node: crate::cluster::NodeId,
    /// This server's metrics (its own registry).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// On a node of a cluster: the last access generation this node's caches
    /// reflect ([`Domain::sync_access`]); `None` on a single node.
    pub access_sync: Option<AccessSync>,
}

/// What a cluster node remembers of the shared access generation.
#[derive(Default)]
pub struct AccessSync {
    seen: std::sync::atomic::AtomicI64,
    /// One refresh at a time; the others wait for it and find it done.
    refreshing: tokio::sync::Mutex<()>,
}

impl Domain {
    /// On a node of a cluster, makes this node's token cache, directory and
    /// keyring reflect every access change another node acknowledged: reads
    /// the store's access generation (moved in the same transaction as each
    /// such change) and, when it moved, forgets every cached token and
    /// re-reads the directory and the keyring before going on. Every
    /// authenticated request calls it first, so a token revoked or a policy
    /// changed on one node is in force on all from the next request on. A
    /// no-op on a single node.
    pub async fn sync_access(&self) -> Result<(), crate::error::ApiError> {
        use std::sync::atomic::Ordering;
        let Some(sync) = &self.access_sync else {
            return Ok(());
        };
        let current = self.store.access_generation().await?;
        if current == sync.seen.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one = sync.refreshing.lock().await;
        if current == sync.seen.load(Ordering::Acquire) {
            return Ok(());
        }
        self.tokens.forget_all();
        self.directory.refresh(&*self.store).await?;
        self.barrier.refresh_keyring().await?;
        sync.seen.store(current, Ordering::Release);
        Ok(())
    }
}
