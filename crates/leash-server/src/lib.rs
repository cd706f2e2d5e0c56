//! `leash-server`: the Leash HTTP server.
//!
//! It owns the HTTP API ([`routes`]), authentication ([`auth`]), the single
//! authorization function ([`authz`]), the barrier that does all encryption
//! and holds the seal state ([`barrier`]), and the secrets service that turns
//! requests into storage change sets ([`service`]).
//!
//! Invariants: plaintext values exist only between the barrier and the HTTP
//! response; they never reach storage, logs or errors. Every data route takes
//! an authenticated caller and calls `authz::authorize` before it acts.
#![forbid(unsafe_code)]

pub mod access;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod barrier;
pub mod changes;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod connections;
pub mod diff;
pub mod directory;
pub mod e2e;
pub mod error;
pub mod extract;
pub mod grants;
pub mod hardening;
pub mod identities;
pub mod jwt;
pub mod metrics;
pub mod projects;
pub mod ratelimit;
pub mod relocate;
pub mod report;
pub mod review;
pub mod rotation;
pub mod routes;
pub mod service;
pub mod snapshot;
pub mod state;
pub mod time;
pub mod tls;
pub mod tokens;
pub mod ui;
pub mod vault;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use leash_store::{CacheInvalidator, HotCached, PostgresStore, SqliteStore, Storage};
use zeroize::Zeroizing;

pub use config::ServerConfig;
pub use routes::app;
pub use state::{AppState, Limits, RotationSettings};

use barrier::Barrier;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot open storage: {0}")]
    Store(#[from] leash_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("cannot load the TLS certificate {cert} or key {key}: {source}")]
    Tls {
        cert: String,
        key: String,
        source: std::io::Error,
    },
    #[error("cannot use the client CA file {path}: {reason}")]
    TlsClientCa { path: String, reason: String },
    #[error("cannot read the unseal key file {path}: {reason}")]
    UnsealFile { path: String, reason: String },
    /// Names only the URL's scheme: the rest may hold a password.
    #[error("unsupported storage URL scheme {0:?}: use sqlite:///path/to/leash.db or postgres://user@host/db")]
    StorageUrl(String),
    #[error("{0}")]
    Startup(String),
}

/// A running server.
pub struct Server {
    /// The address it listens on (useful with port 0).
    pub local_addr: SocketAddr,
    /// The address of the separate metrics listener (`metrics_listen`), if any.
    pub metrics_addr: Option<SocketAddr>,
    /// Whether it serves HTTPS.
    pub tls: bool,
    /// The root token of a `--dev` server; `None` otherwise.
    pub dev_root_token: Option<Zeroizing<String>>,
    state: AppState,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    metrics_task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dev_dir: Option<tempfile::TempDir>,
}

impl Server {
    /// The base URL clients use.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// The shared state (for tests that drive internals).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting connections, lets in-flight requests finish, writes a
    /// final audit checkpoint, and returns.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        let result = self.task.await.map_err(std::io::Error::other)?;
        if let Some(task) = self.metrics_task {
            task.await.map_err(std::io::Error::other)??;
        }
        self.state.audit.shutdown().await;
        self.state.store_close().await;
        result
    }

    /// Reopens the audit file (SIGHUP, after external log rotation).
    pub fn reopen_audit_file(&self) {
        self.state.audit.reopen();
    }
}

impl AppState {
    async fn store_close(&self) {
        self.store.close().await;
    }
}

/// Opens the backend behind the hot cache. On a shared store every write is
/// announced to the other nodes, which clear their caches (the returned
/// invalidator is this node's end of that).
async fn open_store(
    config: &ServerConfig,
    dev_dir: Option<&Path>,
    cluster: &cluster::Cluster,
    metrics: &Arc<metrics::Metrics>,
) -> Result<(Arc<dyn Storage>, CacheInvalidator), ServerError> {
    let observer = metrics.store_observer();
    Ok(match (dev_dir, &config.storage) {
        (Some(dir), _) => {
            let store = SqliteStore::open_dir(dir).await?;
            store.observe(observer.clone());
            behind_cache(store, cluster, observer)
        }
        (None, Some(url)) if config.on_postgres() => {
            // Other nodes may share the database: every node reads it itself,
            // as no hot cache could know at once what another node changed.
            let store = PostgresStore::connect(url).await?;
            store.observe(observer);
            (Arc::new(store), CacheInvalidator::detached())
        }
        (None, Some(url)) => {
            let path = url.strip_prefix("sqlite://").ok_or_else(|| {
                let scheme = url.split_once("://").map_or("(none)", |(scheme, _)| scheme);
                ServerError::StorageUrl(format!("{scheme}://"))
            })?;
            let store = SqliteStore::open_file(Path::new(path)).await?;
            store.observe(observer.clone());
            behind_cache(store, cluster, observer)
        }
        (None, None) => {
            let store = SqliteStore::open_dir(&config.data_dir).await?;
            store.observe(observer.clone());
            behind_cache(store, cluster, observer)
        }
    })
}

/// `store` behind the hot cache (timed by `observer`); on a shared store,
/// every write announced to the other nodes.
fn behind_cache<S: Storage>(
    store: S,
    cluster: &cluster::Cluster,
    observer: Arc<dyn leash_store::StoreObserver>,
) -> (Arc<dyn Storage>, CacheInvalidator) {
    let mut cached = HotCached::new(store).with_observer(observer);
    if cluster.shared() {
        let cluster = cluster.clone();
        cached = cached.with_write_hook(Arc::new(move || cluster.announce(cluster::Notice::Stored)));
    }
    let invalidator = cached.invalidator();
    (Arc::new(cached), invalidator)
}

/// A client has `timeout` to send a request's headers (hyper closes the
/// connection after it; the body's own deadline is `extract::BodyDeadline`).
fn slow_clients_time_out(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout);
}

/// Starts the separate plain-HTTP metrics listener on `addr` (only `GET
/// /metrics`, no token; see `routes::metrics`); it stops with the server.
async fn serve_metrics(
    addr: &str,
    state: AppState,
) -> Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>), ServerError> {
    let fail = |source| ServerError::Listen {
        addr: addr.to_owned(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(fail)?;
    let local = listener.local_addr().map_err(fail)?;
    let mut shutdown = state.shutdown.clone();
    let router = routes::metrics::listener(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await
    });
    Ok((local, task))
}

/// Reads unseal shares from a file: one per line, blank lines and `#` comments skipped.
fn read_unseal_file(path: &Path) -> Result<Vec<Zeroizing<String>>, ServerError> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |reason: String| ServerError::UnsealFile {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            file = %path.display(),
            "the unseal key file is readable by group or others; restrict it to mode 0600"
        );
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?);
    let shares: Vec<_> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| Zeroizing::new(l.to_owned()))
        .collect();
    if shares.is_empty() {
        return Err(fail("it holds no unseal share".into()));
    }
    Ok(shares)
}

/// Applies what other nodes announce: access changes to this node's token
/// cache and directory (which also re-checks its open streams), their writes
/// to its hot cache. A lagging receiver forgets every cached token and row
/// and re-reads the directory.
fn apply_remote_notices(state: AppState, cluster: cluster::Cluster, cache: CacheInvalidator) {
    use cluster::{AccessChange, Notice};
    use tokio::sync::broadcast::error::RecvError;
    let mut notices = cluster.subscribe();
    let mut shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        loop {
            let change = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                received = notices.recv() => match received {
                    Ok(envelope) if envelope.origin == cluster.node => continue,
                    Ok(envelope) => match envelope.notice {
                        Notice::Access(change) => Some(change),
                        Notice::Committed(_) | Notice::Stored => {
                            cache.invalidate();
                            continue;
                        }
                        Notice::Resync => {
                            cache.invalidate();
                            None
                        }
                    },
                    Err(RecvError::Lagged(_)) => {
                        cache.invalidate();
                        None
                    }
                    Err(RecvError::Closed) => return,
                },
            };
            match change {
                Some(AccessChange::Token(hash)) => state.tokens.forget(&hash),
                Some(AccessChange::AllTokens) => state.tokens.forget_all(),
                Some(AccessChange::Directory) | None => {
                    if change.is_none() {
                        state.tokens.forget_all();
                        if let Err(e) = state.barrier.refresh_keyring().await {
                            tracing::error!(error = %e.message, "cannot re-read the keyring after missing cluster notices");
                        }
                    }
                    if let Err(e) = state.directory.refresh(&*state.store).await {
                        tracing::error!(error = %e.message, "cannot re-read the directory after another node changed it");
                    }
                }
            }
        }
    });
}

/// This node's name in a cluster: `node_name`, else the id kept in
/// DATA_DIR/node-id (made at first start, so a restarted node continues its
/// audit chain).
fn node_name(config: &ServerConfig) -> Result<String, ServerError> {
    if let Some(name) = &config.node_name {
        return Ok(name.clone());
    }
    let file = config.data_dir.join("node-id");
    let fail =
        |e: std::io::Error| ServerError::Startup(format!("cannot keep this node's id in {}: {e}", file.display()));
    match std::fs::read_to_string(&file) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    std::fs::create_dir_all(&config.data_dir).map_err(fail)?;
    let id = format!("node-{}", leash_core::token::generate_accessor().to_lowercase());
    std::fs::write(&file, format!("{id}\n")).map_err(fail)?;
    Ok(id)
}

/// How often a cluster node refreshes its row in the node list.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Keeps this node's row in the node list fresh until the server stops:
/// every few seconds, and at once when it is sealed or unsealed.
fn heartbeat(state: AppState, node: cluster::NodeId, address: String) {
    let started_at = time::now_millis();
    let mut shutdown = state.shutdown.clone();
    let mut seal = state.barrier.seal_changes();
    tokio::spawn(async move {
        loop {
            let row = leash_store::NodeRow {
                node: node.as_str().to_owned(),
                address: address.clone(),
                sealed: state.barrier.status().sealed,
                started_at,
                seen_at: time::now_millis(),
            };
            if let Err(e) = state.store.node_heartbeat(&row).await {
                tracing::warn!(error = %e, "cannot record this node in the cluster's node list");
            }
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                changed = seal.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(HEARTBEAT) => {}
            }
        }
    });
}

/// Where a snapshot makes its copies: beside the SQLite file (its directory
/// is the data's disk and as private), else the data directory.
fn scratch_dir(config: &ServerConfig, dev_dir: Option<&Path>) -> std::path::PathBuf {
    if let Some(dir) = dev_dir {
        return dir.to_owned();
    }
    match config.storage.as_deref().and_then(|url| url.strip_prefix("sqlite://")) {
        Some(file) => Path::new(file)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| std::path::PathBuf::from("."), Path::to_owned),
        None => config.data_dir.clone(),
    }
}

/// Opens storage, prepares the barrier and starts serving. With `dev`, the
/// store is a throwaway temp directory, initialised and unsealed, and the
/// root token is returned in [`Server::dev_root_token`].
pub async fn start(config: ServerConfig, dev: bool) -> Result<Server, ServerError> {
    start_with_clock(config, dev, Arc::new(clock::SystemClock)).await
}

/// [`start`] with the clock rotation reads (tests move a [`clock::ManualClock`]).
pub async fn start_with_clock(
    config: ServerConfig,
    dev: bool,
    clock: Arc<dyn clock::Clock>,
) -> Result<Server, ServerError> {
    config.validate()?;
    let webhook_allow = Arc::new(config.rotation_webhook_allow()?);
    let dev_dir = if dev {
        Some(
            tempfile::Builder::new()
                .prefix("leash-dev-")
                .tempdir()
                .map_err(|e| ServerError::Startup(format!("cannot create a temporary directory for --dev: {e}")))?,
        )
    } else {
        None
    };
    if dev_dir.is_none() {
        match &config.storage {
            Some(url) => {
                if let Some(path) = url.strip_prefix("sqlite://") {
                    hardening::warn_if_exposed(Path::new(path), "store file");
                }
            }
            None => {
                hardening::warn_if_exposed(&config.data_dir, "data directory");
                hardening::warn_if_exposed(&config.data_dir.join(leash_store::DB_FILE), "store file");
            }
        }
    }
    // One node on its own store (SQLite); the nodes on one PostgreSQL database talk on its channel.
    let (cluster, notifier) = match (&config.storage, config.on_postgres() && dev_dir.is_none()) {
        (Some(url), true) => {
            let node = cluster::NodeId::named(&node_name(&config)?);
            let notifier = cluster::postgres::PgNotifier::connect(url, node.clone()).await?;
            (cluster::Cluster::new(node, notifier.clone()), Some(notifier))
        }
        _ => (cluster::Cluster::local(), None),
    };
    let metrics = Arc::new(metrics::Metrics::new());
    let (store, cache) = open_store(&config, dev_dir.as_ref().map(|d| d.path()), &cluster, &metrics).await?;
    if let Some(notifier) = &notifier {
        notifier.listen(store.clone());
    }
    let barrier = Arc::new(
        Barrier::load(store.clone())
            .await
            .map_err(|e| ServerError::Startup(e.message))?,
    );
    let mut dev_root_token = None;
    if dev {
        let init = barrier
            .initialize(1, 1)
            .await
            .map_err(|e| ServerError::Startup(e.message))?;
        barrier
            .unseal_with_shares(&[Zeroizing::new(init.unseal_shares[0].clone())])
            .await
            .map_err(|e| ServerError::Startup(e.message))?;
        dev_root_token = Some(Zeroizing::new(init.root_token));
    } else if let Some(file) = &config.unseal_key_file {
        tracing::warn!(
            file = %file.display(),
            "auto-unsealing from a key file: anyone who can read this file and the data directory can decrypt every secret"
        );
        let shares = read_unseal_file(file)?;
        barrier
            .unseal_with_shares(&shares)
            .await
            .map_err(|e| ServerError::UnsealFile {
                path: file.display().to_string(),
                reason: e.message,
            })?;
    }
    let epoch = auth::AccessEpoch::with_cluster(cluster.clone());
    let directory = Arc::new(directory::Directory::new(epoch.clone()));
    directory
        .refresh(&*store)
        .await
        .map_err(|e| ServerError::Startup(e.message))?;
    let audit_file = match (&config.audit_file, dev_dir.as_ref()) {
        (Some(file), _) => file.clone(),
        (None, Some(dir)) => dir.path().join("audit.jsonl"),
        (None, None) => config.data_dir.join("audit.jsonl"),
    };
    hardening::warn_if_exposed(&audit_file, "audit file");
    if config.audit_fail_open {
        tracing::warn!("audit_fail_open is set: requests will be answered even when their audit record is lost");
    }
    let audit = audit::AuditLog::start(
        store.clone(),
        barrier.clone(),
        audit::AuditConfig {
            file: audit_file,
            chain: if notifier.is_some() {
                cluster.node.as_str().to_owned()
            } else {
                String::new()
            },
            fail_open: config.audit_fail_open,
            checkpoint_every: 256,
            checkpoint_interval: Duration::from_secs(5),
        },
        metrics.clone(),
    )
    .await
    .map_err(|e| ServerError::Startup(e.to_string()))?;
    // The first record proves the audit file can be written: a server that
    // could not audit its first request does not start.
    audit
        .append(leash_core::audit::AuditRecord {
            kind: Some(leash_core::audit::RecordKind::Event),
            time: time::rfc3339(time::now_millis()),
            identity: Some("leash-server".into()),
            operation: Some("server.start".into()),
            ..Default::default()
        })
        .await
        .map_err(|e| {
            ServerError::Startup(format!(
                "{e}; fix the audit file (audit_file) or its disk and start again"
            ))
        })?;
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    // A store only this process can open: no other node can hold a rotation
    // lease, so one left by a crash is stale and its attempt resumes now. On a
    // shared store, other nodes' leases are live; a dead node's expire.
    if store.exclusive() {
        store.rotation_release_leases().await?;
    }
    let domain = Arc::new(state::Domain {
        clock,
        rotation: RotationSettings {
            default_grace: config.rotation_grace(),
            commands_dir: config.rotation_commands_dir.clone(),
            webhook_allow,
        },
        changes: changes::ChangeFeed::new(cluster.clone()),
        node: cluster.node.clone(),
        store,
        barrier,
        limits: Limits {
            max_value_bytes: config.max_value_bytes,
            max_request_bytes: config.max_request_bytes,
            max_change_ops: config.max_change_ops,
            request_timeout: config.request_timeout(),
        },
        directory,
        tokens: Arc::new(auth::TokenCache::new(epoch, metrics.clone())),
        metrics,
        access_sync: notifier.is_some().then(state::AccessSync::default),
        jwt: Arc::new(jwt::JwtVerifier::new(
            reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| ServerError::Startup(format!("cannot build the HTTP client for JWKS: {e}")))?,
        )),
    });
    let state = AppState::new(state::SharedState {
        domain,
        shutdown: shutdown_rx.clone(),
        audit,
        allowed_origins: config.allowed_origins.clone(),
        logins: Arc::default(),
        scratch_dir: scratch_dir(&config, dev_dir.as_ref().map(|d| d.path())),
    });
    let heartbeat_node = notifier.is_some().then(|| cluster.node.clone());
    apply_remote_notices(state.clone(), cluster, cache);
    let listener = std::net::TcpListener::bind(&config.listen).map_err(|source| ServerError::Listen {
        addr: config.listen.clone(),
        source,
    })?;
    listener.set_nonblocking(true).map_err(|source| ServerError::Listen {
        addr: config.listen.clone(),
        source,
    })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Listen {
        addr: config.listen.clone(),
        source,
    })?;
    let mut shutdown_rx = shutdown_rx;
    let tls = config.tls_cert.is_some();
    let router = app(state.clone()).layer(axum::Extension(ui::UiTls(tls)));
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = shutdown_rx.wait_for(|stop| *stop).await;
        stopper.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    let listen_error = |source| ServerError::Listen {
        addr: config.listen.clone(),
        source,
    };
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let timeout = config.request_timeout();
    let limits = connections::LimitAcceptor::new(connections::ConnectionLimits {
        total: config.max_connections,
        per_source: config.max_connections_per_source,
    });
    let plain = axum_server::from_tcp(listener).map_err(listen_error)?.handle(handle);
    let task = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let tls_config = tls::rustls_config(cert, key, config.tls_client_ca.as_deref())?;
            let tls_acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls_config).acceptor(limits);
            let mut server = plain.acceptor(tls_acceptor);
            slow_clients_time_out(server.http_builder(), timeout);
            tokio::spawn(async move { server.serve(service).await })
        }
        _ => {
            let mut server = plain.acceptor(limits);
            slow_clients_time_out(server.http_builder(), timeout);
            tokio::spawn(async move { server.serve(service).await })
        }
    };
    let (metrics_addr, metrics_task) = match &config.metrics_listen {
        Some(addr) => {
            let (local, task) = serve_metrics(addr, state.clone()).await?;
            (Some(local), Some(task))
        }
        None => (None, None),
    };
    rotation::scheduler::spawn(state.clone(), config.rotation_interval());
    if let Some(node) = heartbeat_node {
        let scheme = if tls { "https" } else { "http" };
        let address = config
            .advertise_address
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{local_addr}"));
        heartbeat(state.clone(), node, address);
    }
    Ok(Server {
        local_addr,
        metrics_addr,
        metrics_task,
        tls,
        dev_root_token,
        state,
        shutdown,
        task,
        _dev_dir: dev_dir,
    })
}
