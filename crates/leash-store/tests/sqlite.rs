//! The SQLite backend against the storage conformance suite, alone and behind
//! the hot cache, and what only the SQLite backend can be asked.

mod conformance;

use std::sync::Arc;
use std::time::Duration;

use leash_store::{
    HotCached, MetaStore, NewChange, Op, ProjectStore, Sealed, SecretStore, Selector, SqliteStore, Storage, TokenStore,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).await.unwrap();
    conformance::run_all(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_behind_the_hot_cache_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = HotCached::new(SqliteStore::open_dir(dir.path()).await.unwrap());
    conformance::run_all(store).await;
}

#[tokio::test]
async fn sqlite_reopens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).await.unwrap();
    let project = store.project_create("kept", 1).await.unwrap();
    let audit = Sealed::from_stored(b"audit".to_vec());
    store.audit_keys_get_or_put(&audit).await.unwrap();
    store.close().await;
    let again = SqliteStore::open_dir(dir.path()).await.unwrap();
    assert_eq!(again.project_get("kept").await.unwrap(), Some(project));
    let other = Sealed::from_stored(b"other".to_vec());
    assert_eq!(again.audit_keys_get_or_put(&other).await.unwrap(), audit);
}

/// The server's handle: `Arc<dyn Storage>` reaches every aggregate's methods, upcasts to one
/// aggregate's trait object, and can itself be put behind the cache.
#[tokio::test]
async fn a_dyn_storage_reaches_every_aggregate() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn Storage> = Arc::new(SqliteStore::open_dir(dir.path()).await.unwrap());
    let store: Arc<dyn Storage> = Arc::new(HotCached::from_arc(backend.clone()));
    let audit = Sealed::from_stored(b"audit".to_vec());
    store.audit_keys_get_or_put(&audit).await.unwrap();
    let p = store.project_create("dyn", 1).await.unwrap();
    assert_eq!(store.project_get("dyn").await.unwrap(), Some(p));
    let tokens: &dyn TokenStore = &*store;
    assert_eq!(tokens.token_lookup("none").await.unwrap(), None);
    let meta: Arc<dyn MetaStore> = backend;
    assert_eq!(
        meta.audit_keys_get_or_put(&Sealed::from_stored(b"x".to_vec()))
            .await
            .unwrap(),
        audit
    );
}

fn set(path: &str, version: i64, bytes: &[u8]) -> Op {
    Op::Set {
        path: path.into(),
        version,
        key_id: 1,
        ciphertext: Sealed::from_stored(bytes.to_vec()),
        description: None,
        origin: None,
    }
}

/// Regression: the cache was cleared by the caller's future after the write
/// returned, so a caller that stopped waiting (a dropped request) after its
/// change was queued left the old current version cached for good.
#[tokio::test]
async fn a_write_whose_caller_went_away_still_clears_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = HotCached::new(SqliteStore::open_dir(dir.path()).await.unwrap());
    let p = store.project_create("gone", 1).await.unwrap();
    let env = store.env_create(p.id, "prod", 1).await.unwrap();
    let change = |ops| change_of(env.id, ops);
    store.apply_change(change(vec![set("K", 1, b"one")])).await.unwrap();
    let cached = store.read_version(env.id, "K", Selector::Current).await.unwrap();
    assert_eq!(cached.unwrap().version, 1, "now cached");

    // Start the write, let it be handed over, then stop waiting for it.
    {
        let write = store.apply_change(change(vec![set("K", 2, b"two")]));
        let mut write = std::pin::pin!(write);
        assert!(futures::poll!(write.as_mut()).is_pending());
    }
    // The write still happens (an uncached read shows it) ...
    let mut revision = 1;
    for _ in 0..500 {
        revision = store.list_state(env.id, None, false).await.unwrap().0;
        if revision == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(revision, 2, "the abandoned write was committed");
    // ... and the cache follows it (at once: waiting only gives the write's task its turn).
    let mut version = 1;
    for _ in 0..500 {
        version = store
            .read_version(env.id, "K", Selector::Current)
            .await
            .unwrap()
            .unwrap()
            .version;
        if version == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(version, 2, "the cache still holds the version the write replaced");
}

/// Two nodes' caches over one store, wired as a shared backend wires them: each
/// write's hook clears the other node's cache before the write is answered.
/// Without the hook the second node keeps serving the version it cached.
#[tokio::test]
async fn a_write_hook_clears_another_nodes_cache() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn Storage> = Arc::new(SqliteStore::open_dir(dir.path()).await.unwrap());
    let node_b = HotCached::from_arc(backend.clone());
    let tell_b = node_b.invalidator();
    let node_a = HotCached::from_arc(backend.clone()).with_write_hook(Arc::new(move || tell_b.invalidate()));
    let unhooked = HotCached::from_arc(backend);

    let p = node_a.project_create("shared", 1).await.unwrap();
    let env = node_a.env_create(p.id, "prod", 1).await.unwrap();
    let change = |ops| change_of(env.id, ops);
    node_a.apply_change(change(vec![set("K", 1, b"one")])).await.unwrap();
    assert_eq!(current(&node_b, env.id).await, 1, "node B caches version 1");
    assert_eq!(
        current(&unhooked, env.id).await,
        1,
        "the unhooked node caches version 1"
    );
    node_a.apply_change(change(vec![set("K", 2, b"two")])).await.unwrap();
    assert_eq!(current(&node_b, env.id).await, 2, "node B was told of node A's write");
    assert_eq!(
        current(&unhooked, env.id).await,
        1,
        "a cache nobody tells keeps the old row (the test can fail)"
    );
}

async fn current(node: &HotCached<dyn Storage>, env_id: i64) -> i64 {
    let row = node.read_version(env_id, "K", Selector::Current).await.unwrap();
    row.unwrap().version
}

/// One process per SQLite store: a second open (here, in the same process, as a second
/// server would) is refused while the first is open, so two servers never race on one
/// file or release each other's rotation leases; closing gives the store up.
#[tokio::test]
async fn a_second_open_of_the_same_store_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteStore::open_dir(dir.path()).await.unwrap();
    assert!(first.exclusive());
    match SqliteStore::open_dir(dir.path()).await {
        Err(e @ leash_store::StoreError::InUse(_)) => {
            assert!(e.to_string().contains("in use by another Leash server"), "{e}")
        }
        other => panic!("a second open was not refused: {other:?}"),
    }
    first.close().await;
    let again = SqliteStore::open_dir(dir.path()).await.unwrap();
    again.close().await;
}

fn change_of(env_id: i64, ops: Vec<Op>) -> NewChange {
    NewChange {
        env_id,
        expected_revision: None,
        actor: "t".into(),
        message: None,
        created_at: 1,
        ops,
        e2e_recipients: None,
    }
}
