//! [`HotCached`]: a decorator over any backend that keeps in memory the rows
//! every secret read needs (the environment by name, and the current version
//! of a path), so a read costs no database round trip when nothing changed.
//! The profile in BENCHMARKS.md shows why: each SQLite query is a hand-off to
//! a connection thread and back, and on a small machine those context
//! switches, not SQL, bound the read rate.
//!
//! Correctness rule (ARCHITECTURE.md invariant 8, "a cached row is never
//! older than an acknowledged change"):
//! - every method that writes projects, environments, secrets or versions
//!   runs the backend's write and then [`HotCache::invalidate`] in one task
//!   of its own ([`HotCached::write`]), and the caller is answered only after
//!   both; the task is not cancelled with the caller, so a write that commits
//!   is always followed by an invalidation, even when its caller went away
//!   (a dropped HTTP request) or the backend panicked;
//! - a reader fills the cache only if no invalidation happened since it took
//!   the generation, before its database read (the generation check). A fill
//!   that lands is therefore either cleared by the invalidation that follows a
//!   concurrent write, or was read after that write committed: no fill can
//!   resurrect a row a write replaced once that write is answered.
//!
//! The backend knows nothing of the cache: its group committer answers a
//! change after the batch commits, and the invalidation happens between that
//! answer and the caller's. The cache holds only what the backend returned
//! (ciphertext envelopes, never plaintext), and is per process. On a store
//! shared by several nodes, each node's cache must also forget what another
//! node wrote: [`HotCached::with_write_hook`] tells the other nodes after
//! every write of this one (the server announces it through its cluster
//! seam), and a node that hears of another's write calls
//! [`CacheInvalidator::invalidate`]. Closing the window between the other
//! node's answer and this node hearing of it is the shared backend's job
//! (see ARCHITECTURE.md, "Cluster seams").

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tracing::Instrument;

use crate::model::*;
use crate::observe::{ObserverSlot, StoreObserver, StoreOperation};
use crate::{
    AuditStore, IdentityStore, MetaStore, ProjectStore, Result, RotationStore, SecretStore, Storage, StoreError,
    TokenStore,
};

/// Entries kept before the cache starts over (bounds memory: values are at most `max_value_bytes`).
const MAX_ENTRIES: usize = 10_000;

/// A [`Storage`] with a hot cache in front of `S`: reads of the current
/// version and of an environment by name are answered from memory while
/// nothing changed; every other call goes straight to `S`.
pub struct HotCached<S: ?Sized> {
    cache: Arc<HotCache>,
    inner: Arc<S>,
    /// Run after every write and its invalidation (`with_write_hook`).
    on_write: Option<WriteHook>,
    /// Who hears how long backend calls take (`with_observer`).
    observer: ObserverSlot,
}

/// What [`HotCached`] runs after each write it made, once its own cache is
/// cleared: on a shared store, how the other nodes learn of the write.
pub type WriteHook = Arc<dyn Fn() + Send + Sync>;

/// A handle that clears a [`HotCached`]'s memory from outside: for a node
/// that hears another node wrote to the shared store. Cheap to clone.
#[derive(Clone)]
pub struct CacheInvalidator(Arc<HotCache>);

impl CacheInvalidator {
    /// The invalidator of no cache, for a store used without one (a node of
    /// a cluster reads every row from the shared database).
    pub fn detached() -> Self {
        Self(Arc::new(HotCache::default()))
    }

    /// Forgets every cached row and refuses the fills of reads already running.
    pub fn invalidate(&self) {
        self.0.invalidate();
    }
}

impl<S: ?Sized> std::fmt::Debug for HotCached<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotCached").finish_non_exhaustive()
    }
}

impl<S: Storage> HotCached<S> {
    /// Puts a cache in front of `inner`.
    pub fn new(inner: S) -> Self {
        Self::from_arc(Arc::new(inner))
    }
}

impl<S: Storage + ?Sized> HotCached<S> {
    /// Puts a cache in front of a shared backend (`Arc<dyn Storage>` included).
    /// Every write to the backend must go through this decorator.
    pub fn from_arc(inner: Arc<S>) -> Self {
        Self {
            cache: Arc::new(HotCache::default()),
            inner,
            on_write: None,
            observer: ObserverSlot::default(),
        }
    }

    /// Reports how long the backend's reads, listings, token lookups and
    /// writes take to `observer` (cache hits are not backend calls and are
    /// not reported).
    pub fn with_observer(self, observer: Arc<dyn StoreObserver>) -> Self {
        self.observer.set(observer);
        self
    }

    /// Runs one backend call, reporting its time as `kind`.
    async fn timed<T>(&self, kind: StoreOperation, call: impl Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let result = call.await;
        self.observer.operation(kind, started);
        result
    }

    /// Runs `hook` after every write (and this cache's invalidation), before
    /// the write is answered.
    pub fn with_write_hook(mut self, hook: WriteHook) -> Self {
        self.on_write = Some(hook);
        self
    }

    /// A handle that clears this cache (for writes other nodes made).
    pub fn invalidator(&self) -> CacheInvalidator {
        CacheInvalidator(self.cache.clone())
    }

    /// Runs one write of the backend and then invalidates the cache, in a task
    /// of its own so that neither is cut short by a caller that stops waiting;
    /// answers when both are done (a panic of the backend is passed on, after
    /// the invalidation).
    async fn write<T, F, Fut>(&self, write: F) -> Result<T>
    where
        F: FnOnce(Arc<S>) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let started = std::time::Instant::now();
        let pending = write(self.inner.clone());
        let invalidate = InvalidateOnDrop(self.cache.clone(), self.on_write.clone());
        let task = tokio::spawn(
            async move {
                // Dropped when the write is done or unwinds: the cache is cleared either way.
                let _invalidate = invalidate;
                pending.await
            }
            .in_current_span(),
        );
        let outcome = task.await;
        self.observer.operation(StoreOperation::Write, started);
        match outcome {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Commit("the store is shutting down".into())),
        }
    }
}

struct InvalidateOnDrop(Arc<HotCache>, Option<WriteHook>);

impl Drop for InvalidateOnDrop {
    fn drop(&mut self) {
        self.0.invalidate();
        if let Some(hook) = &self.1 {
            hook();
        }
    }
}

/// The cached rows, under one lock with the generation that guards fills.
#[derive(Debug, Default)]
struct HotCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    envs: HashMap<(String, String), (ProjectRow, Option<EnvRow>)>,
    current: HashMap<(i64, String), Option<VersionRow>>,
}

impl HotCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Taken before a database read whose result may be cached.
    fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn env(&self, project: &str, env: &str) -> Option<(ProjectRow, Option<EnvRow>)> {
        self.lock().envs.get(&(project.to_owned(), env.to_owned())).cloned()
    }

    fn put_env(&self, generation: u64, project: &str, env: &str, value: (ProjectRow, Option<EnvRow>)) {
        let mut inner = self.lock();
        if inner.generation == generation && inner.envs.len() < MAX_ENTRIES {
            inner.envs.insert((project.to_owned(), env.to_owned()), value);
        }
    }

    fn current(&self, env_id: i64, path: &str) -> Option<Option<VersionRow>> {
        self.lock().current.get(&(env_id, path.to_owned())).cloned()
    }

    fn put_current(&self, generation: u64, env_id: i64, path: &str, value: Option<VersionRow>) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.current.len() >= MAX_ENTRIES {
            inner.current.clear();
        }
        inner.current.insert((env_id, path.to_owned()), value);
    }

    /// Forgets everything and refuses the fills of reads that started before.
    fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.envs.clear();
        inner.current.clear();
    }
}

#[async_trait]
impl<S: Storage + ?Sized> ProjectStore for HotCached<S> {
    async fn project_create(&self, name: &str, now: i64) -> Result<ProjectRow> {
        let name = name.to_owned();
        self.write(move |s| async move { s.project_create(&name, now).await })
            .await
    }

    async fn project_list(&self) -> Result<Vec<ProjectRow>> {
        self.inner.project_list().await
    }

    async fn project_get(&self, name: &str) -> Result<Option<ProjectRow>> {
        self.inner.project_get(name).await
    }

    async fn project_delete(&self, project_id: i64) -> Result<()> {
        self.write(move |s| async move { s.project_delete(project_id).await })
            .await
    }

    async fn env_create(&self, project_id: i64, name: &str, now: i64) -> Result<EnvRow> {
        // Needed: `env_by_names` caches "the project has no such environment" too.
        let name = name.to_owned();
        self.write(move |s| async move { s.env_create(project_id, &name, now).await })
            .await
    }

    async fn env_list(&self, project_id: i64) -> Result<Vec<EnvRow>> {
        self.inner.env_list(project_id).await
    }

    async fn env_get(&self, project_id: i64, name: &str) -> Result<Option<EnvRow>> {
        self.inner.env_get(project_id, name).await
    }

    async fn env_by_names(&self, project: &str, env: &str) -> Result<Option<(ProjectRow, Option<EnvRow>)>> {
        if let Some(hit) = self.cache.env(project, env) {
            return Ok(Some(hit));
        }
        let generation = self.cache.generation();
        let found = self.inner.env_by_names(project, env).await?;
        // Only existing projects are kept (an absent one needs no fast path).
        if let Some(found) = &found {
            self.cache.put_env(generation, project, env, found.clone());
        }
        Ok(found)
    }

    async fn env_delete(&self, env_id: i64) -> Result<()> {
        self.write(move |s| async move { s.env_delete(env_id).await }).await
    }
}

#[async_trait]
impl<S: Storage + ?Sized> SecretStore for HotCached<S> {
    async fn heads(&self, env_id: i64, paths: &[String]) -> Result<Vec<SecretHead>> {
        self.inner.heads(env_id, paths).await
    }

    async fn apply_change(&self, change: NewChange) -> Result<Applied> {
        self.write(move |s| async move { s.apply_change(change).await }).await
    }

    async fn read_version(&self, env_id: i64, path: &str, selector: Selector) -> Result<Option<VersionRow>> {
        if selector != Selector::Current {
            return self
                .timed(StoreOperation::Read, self.inner.read_version(env_id, path, selector))
                .await;
        }
        if let Some(hit) = self.cache.current(env_id, path) {
            return Ok(hit);
        }
        let generation = self.cache.generation();
        let row = self
            .timed(StoreOperation::Read, self.inner.read_version(env_id, path, selector))
            .await?;
        self.cache.put_current(generation, env_id, path, row.clone());
        Ok(row)
    }

    async fn list_state(
        &self,
        env_id: i64,
        at_revision: Option<i64>,
        with_data: bool,
    ) -> Result<(i64, Vec<VersionRow>)> {
        self.timed(
            StoreOperation::List,
            self.inner.list_state(env_id, at_revision, with_data),
        )
        .await
    }

    async fn secret_paths(&self, env_id: i64) -> Result<Vec<String>> {
        self.inner.secret_paths(env_id).await
    }

    async fn secret_versions(&self, env_id: i64, path: &str) -> Result<Option<(SecretHead, Vec<VersionRow>)>> {
        self.inner.secret_versions(env_id, path).await
    }

    async fn destroy_versions(&self, env_id: i64, path: &str, versions: Option<&[i64]>) -> Result<Vec<i64>> {
        let path = path.to_owned();
        let versions = versions.map(<[i64]>::to_vec);
        self.write(move |s| async move { s.destroy_versions(env_id, &path, versions.as_deref()).await })
            .await
    }

    async fn retained_versions(&self, env_id: i64, current_only: bool) -> Result<(i64, Vec<(VersionRow, bool)>)> {
        self.inner.retained_versions(env_id, current_only).await
    }

    async fn e2e_version_count(&self, env_id: i64) -> Result<i64> {
        self.inner.e2e_version_count(env_id).await
    }

    async fn e2e_update(&self, change: E2eChange) -> Result<E2eApplied> {
        self.write(move |s| async move { s.e2e_update(change).await }).await
    }

    async fn changes_since(&self, env_id: i64, after: i64, limit: i64) -> Result<Vec<ChangeRow>> {
        self.timed(StoreOperation::List, self.inner.changes_since(env_id, after, limit))
            .await
    }

    async fn history(&self, env_id: i64, before: Option<i64>, limit: i64) -> Result<Vec<ChangeRow>> {
        self.timed(StoreOperation::List, self.inner.history(env_id, before, limit))
            .await
    }
}

#[async_trait]
impl<S: Storage + ?Sized> RotationStore for HotCached<S> {
    async fn rotation_get(&self, env_id: i64, path: &str) -> Result<Option<RotationRow>> {
        self.inner.rotation_get(env_id, path).await
    }

    async fn rotation_put(&self, row: &RotationRow) -> Result<()> {
        self.inner.rotation_put(row).await
    }

    async fn rotation_delete(&self, env_id: i64, path: &str) -> Result<bool> {
        self.inner.rotation_delete(env_id, path).await
    }

    async fn rotation_claim(&self, env_id: i64, path: &str, attempt: i64, lease: &Lease, now: i64) -> Result<bool> {
        self.inner.rotation_claim(env_id, path, attempt, lease, now).await
    }

    async fn rotation_due(&self, now: i64, limit: i64) -> Result<Vec<DueRotation>> {
        self.inner.rotation_due(now, limit).await
    }

    async fn rotation_release_leases(&self) -> Result<()> {
        self.inner.rotation_release_leases().await
    }

    async fn rotation_promote(&self, change: NewChange, row: &RotationRow) -> Result<Applied> {
        let row = row.clone();
        self.write(move |s| async move { s.rotation_promote(change, &row).await })
            .await
    }

    async fn secret_withdraw_previous(&self, env_id: i64, path: &str, current_version: i64) -> Result<()> {
        // Writes `secrets`, though no cached row holds the withdrawal: every write there invalidates.
        let path = path.to_owned();
        self.write(move |s| async move { s.secret_withdraw_previous(env_id, &path, current_version).await })
            .await
    }

    async fn rotation_log_put(&self, entry: &RotationLogRow) -> Result<()> {
        self.inner.rotation_log_put(entry).await
    }

    async fn rotation_log(&self, env_id: i64, path: &str, limit: i64) -> Result<Vec<RotationLogRow>> {
        self.inner.rotation_log(env_id, path, limit).await
    }
}

#[async_trait]
impl<S: Storage + ?Sized> MetaStore for HotCached<S> {
    async fn key_hierarchy(&self) -> Result<Option<KeyHierarchy>> {
        self.inner.key_hierarchy().await
    }

    async fn initialize(&self, keys: &KeyHierarchy, root_token: &TokenRecord) -> Result<()> {
        self.inner.initialize(keys, root_token).await
    }

    async fn keyring_replace(&self, expected: &Sealed, keyring: &Sealed) -> Result<bool> {
        self.inner.keyring_replace(expected, keyring).await
    }

    async fn audit_keys_get_or_put(&self, candidate: &Sealed) -> Result<Sealed> {
        self.inner.audit_keys_get_or_put(candidate).await
    }

    fn exclusive(&self) -> bool {
        self.inner.exclusive()
    }

    async fn access_generation(&self) -> Result<i64> {
        self.inner.access_generation().await
    }

    async fn node_heartbeat(&self, node: &NodeRow) -> Result<()> {
        self.inner.node_heartbeat(node).await
    }

    async fn node_list(&self) -> Result<Vec<NodeRow>> {
        self.inner.node_list().await
    }

    async fn snapshot_into(&self, dir: &std::path::Path) -> Result<crate::StoreSnapshot> {
        self.inner.snapshot_into(dir).await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}

#[async_trait]
impl<S: Storage + ?Sized> TokenStore for HotCached<S> {
    async fn token_create(&self, token: &TokenRecord) -> Result<()> {
        self.inner.token_create(token).await
    }

    async fn token_lookup(&self, hash: &str) -> Result<Option<TokenRecord>> {
        self.timed(StoreOperation::TokenLookup, self.inner.token_lookup(hash))
            .await
    }

    async fn token_lookup_by_accessor(&self, accessor: &str) -> Result<Option<TokenRecord>> {
        self.inner.token_lookup_by_accessor(accessor).await
    }

    async fn token_set_expiry(&self, hash: &str, expires_at: Option<i64>) -> Result<()> {
        self.inner.token_set_expiry(hash, expires_at).await
    }

    async fn token_delete(&self, hash: &str) -> Result<bool> {
        self.inner.token_delete(hash).await
    }

    async fn tokens_delete_for_identity(&self, identity_id: i64) -> Result<u64> {
        self.inner.tokens_delete_for_identity(identity_id).await
    }

    async fn token_list(&self) -> Result<Vec<TokenRecord>> {
        self.inner.token_list().await
    }
}

#[async_trait]
impl<S: Storage + ?Sized> IdentityStore for HotCached<S> {
    async fn identity_create(&self, identity: &IdentityRow) -> Result<IdentityRow> {
        self.inner.identity_create(identity).await
    }

    async fn identity_update(&self, identity: &IdentityRow) -> Result<()> {
        self.inner.identity_update(identity).await
    }

    async fn identity_get(&self, name: &str) -> Result<Option<IdentityRow>> {
        self.inner.identity_get(name).await
    }

    async fn identity_get_by_client_id(&self, client_id: &str) -> Result<Option<IdentityRow>> {
        self.inner.identity_get_by_client_id(client_id).await
    }

    async fn identity_list(&self) -> Result<Vec<IdentityRow>> {
        self.inner.identity_list().await
    }

    async fn identity_delete(&self, identity_id: i64) -> Result<()> {
        self.inner.identity_delete(identity_id).await
    }

    async fn client_secret_use(&self, identity_id: i64) -> Result<bool> {
        self.inner.client_secret_use(identity_id).await
    }

    async fn group_put(&self, name: &str, policies: &[String], members: &[String], now: i64) -> Result<GroupRow> {
        self.inner.group_put(name, policies, members, now).await
    }

    async fn group_get(&self, name: &str) -> Result<Option<GroupRow>> {
        self.inner.group_get(name).await
    }

    async fn group_list(&self) -> Result<Vec<GroupRow>> {
        self.inner.group_list().await
    }

    async fn group_delete(&self, name: &str) -> Result<bool> {
        self.inner.group_delete(name).await
    }

    async fn document_put(&self, kind: DocumentKind, name: &str, body: &str, now: i64) -> Result<NamedDocument> {
        self.inner.document_put(kind, name, body, now).await
    }

    async fn document_get(&self, kind: DocumentKind, name: &str) -> Result<Option<NamedDocument>> {
        self.inner.document_get(kind, name).await
    }

    async fn document_list(&self, kind: DocumentKind) -> Result<Vec<NamedDocument>> {
        self.inner.document_list(kind).await
    }

    async fn document_delete(&self, kind: DocumentKind, name: &str) -> Result<bool> {
        self.inner.document_delete(kind, name).await
    }
}

#[async_trait]
impl<S: Storage + ?Sized> AuditStore for HotCached<S> {
    async fn audit_append(&self, rows: &[AuditRow]) -> Result<()> {
        self.inner.audit_append(rows).await
    }

    async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>> {
        self.inner.audit_query(filter).await
    }

    async fn audit_scan(&self, node: &str, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
        self.inner.audit_scan(node, after, limit).await
    }

    async fn audit_last(&self, node: &str, checkpoint: bool) -> Result<Option<AuditRow>> {
        self.inner.audit_last(node, checkpoint).await
    }

    async fn audit_chains(&self) -> Result<Vec<String>> {
        self.inner.audit_chains().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> ProjectRow {
        ProjectRow {
            id: 1,
            name: "p".into(),
            created_at: 0,
        }
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let cache = HotCache::default();
        let before = cache.generation();
        cache.invalidate(); // a write committed while the reader was at the database
        cache.put_env(before, "p", "e", (project(), None));
        cache.put_current(before, 1, "K", None);
        assert_eq!(cache.env("p", "e"), None);
        assert_eq!(cache.current(1, "K"), None);
        let now = cache.generation();
        cache.put_current(now, 1, "K", None);
        assert_eq!(cache.current(1, "K"), Some(None));
        cache.invalidate();
        assert_eq!(cache.current(1, "K"), None);
    }
}
