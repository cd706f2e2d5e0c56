//! The SQLite backend against the storage conformance suite.

mod conformance;

use leash_store::SqliteStore;

#[tokio::test]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).await.unwrap();
    conformance::run_all(store).await;
}

#[tokio::test]
async fn sqlite_reopens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).await.unwrap();
    use leash_store::Storage;
    store.meta_put("k", b"v").await.unwrap();
    store.close().await;
    let again = SqliteStore::open_dir(dir.path()).await.unwrap();
    assert_eq!(again.meta_get("k").await.unwrap(), Some(b"v".to_vec()));
}
