//! Authentication: turns the `Authorization: Bearer` header into a [`Caller`].
//!
//! A request must send at most one `Authorization` header; two (or a `Bearer`
//! with an empty token, or whitespace inside it) are refused with 400, never
//! resolved by picking one.
//!
//! A handler that takes a `Caller` cannot run for an unauthenticated request.
//! Tokens are checked for shape and checksum first (a typo never reaches
//! storage), then looked up by hash through [`TokenCache`]. The token itself
//! is never logged or echoed back.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use leash_core::policy::{IdentityContext, Policy};
use leash_core::token;
use leash_store::{Storage, TokenRecord};

use crate::cluster::{AccessChange, Cluster, Notice};
use crate::directory::Snapshot;
use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;
use crate::time::now_millis;

/// An authenticated caller with the policies in force for this request.
#[derive(Clone)]
pub struct Caller {
    pub token: Arc<TokenRecord>,
    /// Name and metadata that policy templates see.
    pub context: IdentityContext,
    /// Names of the policies in force: the token's, its identity's, its groups'.
    pub policy_names: Vec<String>,
    /// Those policies, parsed.
    pub policies: Vec<Arc<Policy>>,
    /// The request's audit note, where refusals record their reason.
    pub note: Option<crate::audit::AuditNote>,
}

impl Caller {
    /// Resolves a token's policies against a directory snapshot.
    pub fn new(token: Arc<TokenRecord>, snapshot: &Snapshot) -> Self {
        let mut policy_names = token.policies.clone();
        if let Some(entry) = token.identity_id.and_then(|id| snapshot.identities.get(&id)) {
            for p in &entry.policies {
                if !policy_names.contains(p) {
                    policy_names.push(p.clone());
                }
            }
        }
        let policies = snapshot.resolve(&policy_names);
        let context = snapshot.context(token.identity_id, &token.display_name);
        Self {
            token,
            context,
            policy_names,
            policies,
            note: None,
        }
    }

    /// The name recorded as the actor of a change.
    pub fn actor(&self) -> &str {
        &self.context.name
    }

    pub fn is_root(&self) -> bool {
        self.token.is_root
    }
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(ErrorKind::Unauthorized, code, message)
}

/// The bearer token a request presents (`Authorization: Bearer`, or on the
/// Vault-compatible API `X-Vault-Token`): `Ok(None)` when it sends none, an error (400 `invalid_request`, naming
/// the problem) when the header is ambiguous or malformed: sent more than
/// once, not ASCII, or a `Bearer` with an empty token or one with whitespace
/// inside. Such a request is never authenticated with any of its tokens.
pub fn presented_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let vault = vault_token(parts)?;
    let bearer = authorization_bearer(parts)?;
    match (vault, bearer) {
        (Some(v), Some(b)) if v != b => Err(ApiError::bad_request(
            "the request sends two different tokens (X-Vault-Token and Authorization: Bearer); send one",
        )),
        (v, b) => Ok(v.or(b)),
    }
}

/// The `X-Vault-Token` header, read only on the Vault-compatible API (`/v1/`):
/// exactly one, printable, no whitespace inside.
fn vault_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    if !parts.uri.path().starts_with("/v1/") {
        return Ok(None);
    }
    let mut headers = parts.headers.get_all("x-vault-token").iter();
    let Some(header) = headers.next() else {
        return Ok(None);
    };
    if headers.next().is_some() {
        return Err(ApiError::bad_request(
            "the request has more than one X-Vault-Token header; send one",
        ));
    }
    let value = header
        .to_str()
        .map_err(|_| ApiError::bad_request("the X-Vault-Token header is not printable ASCII"))?
        .trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.contains(char::is_whitespace) {
        return Err(ApiError::bad_request(
            "the X-Vault-Token header contains whitespace; send one token",
        ));
    }
    Ok(Some(value))
}

fn authorization_bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let mut headers = parts.headers.get_all(axum::http::header::AUTHORIZATION).iter();
    let Some(header) = headers.next() else {
        return Ok(None);
    };
    if headers.next().is_some() {
        return Err(ApiError::bad_request(
            "the request has more than one Authorization header; send exactly one `Authorization: Bearer lsh_...`",
        ));
    }
    let header = header
        .to_str()
        .map_err(|_| ApiError::bad_request("the Authorization header is not printable ASCII"))?
        .trim();
    let (scheme, value) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_request(
            "the Authorization header's Bearer token is empty; send `Authorization: Bearer lsh_...`",
        ));
    }
    if value.contains(char::is_whitespace) {
        return Err(ApiError::bad_request(
            "the Authorization header's Bearer token contains whitespace; send one token: `Authorization: Bearer lsh_...`",
        ));
    }
    Ok(Some(value))
}

/// The bearer token of a request, if it presents exactly one well-formed
/// `Authorization: Bearer` header (see [`presented_token`]); `None` otherwise.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    presented_token(parts).ok().flatten()
}

/// How long a looked-up token is trusted without asking storage again.
/// Revocation and renewal through this server invalidate at once; the bound
/// only matters for changes made behind its back.
const CACHE_TTL: Duration = Duration::from_secs(30);
const CACHE_MAX_ENTRIES: usize = 100_000;

/// A counter bumped whenever who may do what may have changed (a token
/// revoked or renewed, an identity, group or policy changed, the server
/// sealed), so long-lived streams re-check their caller at once instead of
/// outliving its rights. A change made on this node is also announced to
/// the other nodes ([`crate::cluster`]), which apply it to their own caches.
#[derive(Clone)]
pub struct AccessEpoch {
    counter: Arc<tokio::sync::watch::Sender<u64>>,
    cluster: Option<Cluster>,
}

impl Default for AccessEpoch {
    fn default() -> Self {
        Self {
            counter: Arc::new(tokio::sync::watch::Sender::new(0)),
            cluster: None,
        }
    }
}

impl AccessEpoch {
    /// An epoch that announces this node's access changes through `cluster`.
    pub fn with_cluster(cluster: Cluster) -> Self {
        Self {
            cluster: Some(cluster),
            ..Self::default()
        }
    }

    /// Something changed here: re-check streams on this node, tell the others.
    pub fn changed(&self, change: AccessChange) {
        self.bump();
        if let Some(cluster) = &self.cluster {
            cluster.announce(Notice::Access(change));
        }
    }

    /// Re-check this node's streams (a change another node announced, or one that is this node's alone).
    pub fn bump(&self) {
        self.counter.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.counter.subscribe()
    }
}

/// Token lookups by hash, cached.
#[derive(Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<String, (Arc<TokenRecord>, Instant)>>,
    epoch: AccessEpoch,
    /// Counts hits and misses.
    metrics: Arc<crate::metrics::Metrics>,
}

impl TokenCache {
    /// A cache that bumps `epoch` whenever it forgets tokens.
    pub fn new(epoch: AccessEpoch, metrics: Arc<crate::metrics::Metrics>) -> Self {
        Self {
            entries: RwLock::default(),
            epoch,
            metrics,
        }
    }

    /// The epoch this cache bumps.
    pub fn epoch(&self) -> &AccessEpoch {
        &self.epoch
    }

    /// The stored token with this hash, if any.
    pub async fn lookup(&self, store: &dyn Storage, hash: &str) -> Result<Option<Arc<TokenRecord>>, ApiError> {
        if let Some((record, at)) = self.entries.read().unwrap_or_else(|p| p.into_inner()).get(hash)
            && at.elapsed() < CACHE_TTL
        {
            self.metrics.token_lookup(true);
            return Ok(Some(record.clone()));
        }
        self.metrics.token_lookup(false);
        let Some(record) = store.token_lookup(hash).await? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash.to_owned(), (record.clone(), Instant::now()));
        Ok(Some(record))
    }

    /// Forgets one token (after revoke or renew).
    pub fn invalidate(&self, hash: &str) {
        self.forget(hash);
        self.epoch.changed(AccessChange::Token(hash.to_owned()));
    }

    /// Forgets one token on this node only (another node announced the change).
    pub fn forget(&self, hash: &str) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).remove(hash);
        self.epoch.bump();
    }

    /// Forgets every token (after an identity's tokens were revoked).
    pub fn clear(&self) {
        self.forget_all();
        self.epoch.changed(AccessChange::AllTokens);
    }

    /// Forgets every token on this node only (another node announced the change).
    pub fn forget_all(&self) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).clear();
        self.epoch.bump();
    }
}

/// Checks a presented token; the error says why it is refused.
pub async fn authenticate(state: &AppState, presented: &str) -> Result<Arc<TokenRecord>, ApiError> {
    if !token::is_well_formed(presented) {
        return Err(unauthorized(
            "invalid_token",
            "the token is not a valid Leash token (wrong shape or checksum)",
        ));
    }
    // On a cluster node: first take in every access change another node acknowledged.
    state.sync_access().await?;
    let hash = token::token_hash(presented);
    match state.tokens.lookup(&*state.store, &hash).await? {
        Some(record) if token::hashes_equal(&record.hash, &hash) => {
            if record.expires_at.is_some_and(|t| t <= now_millis()) {
                return Err(unauthorized("invalid_token", "the token has expired; log in again"));
            }
            Ok(record)
        }
        _ => Err(unauthorized("invalid_token", "the token is unknown or was revoked")),
    }
}

/// Why a caller's rights ended (the final event of a long-lived stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    TokenRevoked,
    TokenExpired,
    IdentityDeleted,
    AccessRemoved,
    Sealed,
}

impl Ended {
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::TokenRevoked => "token_revoked",
            Ended::TokenExpired => "token_expired",
            Ended::IdentityDeleted => "identity_deleted",
            Ended::AccessRemoved => "access_removed",
            Ended::Sealed => "sealed",
        }
    }
}

impl Caller {
    /// The caller as it stands now: its token looked up again, its identity
    /// and policies re-read from the directory. `Err` says why it is no
    /// longer valid. Streams call this whenever [`AccessEpoch`] moves and when
    /// the token expires.
    pub async fn refreshed(&self, state: &AppState) -> Result<Caller, Ended> {
        if state.barrier.keyring().is_err() {
            return Err(Ended::Sealed);
        }
        let record = match state.tokens.lookup(&*state.store, &self.token.hash).await {
            Ok(Some(record)) => record,
            Ok(None) => return Err(Ended::TokenRevoked),
            // storage trouble: keep the stream, the next epoch or expiry checks again
            Err(_) => self.token.clone(),
        };
        if record.expires_at.is_some_and(|t| t <= now_millis()) {
            return Err(Ended::TokenExpired);
        }
        let snapshot = state.directory.snapshot();
        if let Some(id) = record.identity_id
            && !snapshot.identities.contains_key(&id)
        {
            return Err(Ended::IdentityDeleted);
        }
        let mut caller = Caller::new(record, &snapshot);
        caller.note = None;
        Ok(caller)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(presented) = presented_token(parts)? else {
            return Err(unauthorized(
                "missing_token",
                "this route needs a token: send `Authorization: Bearer lsh_...` (set LEASH_TOKEN or run `leash login`)",
            ));
        };
        caller_for_token(parts, state, presented).await
    }
}

/// The caller presenting `presented`: the one path from a token to a
/// [`Caller`], for a bearer token (the extractor above) and for the web UI's
/// session cookie (`crate::ui`), which maps to a real token kept server-side.
/// The same checks ([`authenticate`], [`Caller::new`]) and the same audit
/// note, so policies, expiry, revocation and audit are identical for both.
pub async fn caller_for_token(parts: &Parts, state: &AppState, presented: &str) -> Result<Caller, ApiError> {
    let record = authenticate(state, presented).await?;
    let mut caller = Caller::new(record, &state.directory.snapshot());
    if let Some(note) = parts.extensions.get::<crate::audit::AuditNote>() {
        let token_hmac = state
            .barrier
            .audit_keys()
            .map(|keys| leash_core::audit::hmac_hex(&*keys.hmac, presented.as_bytes()));
        note.update(|n| {
            n.identity = Some(caller.context.name.clone());
            n.auth_method = Some(caller.token.auth_method.clone());
            n.accessor = Some(caller.token.accessor.clone());
            n.token_hmac = token_hmac;
        });
        caller.note = Some(note.clone());
    }
    Ok(caller)
}
