//! The PostgreSQL backend against the storage conformance suite, alone and
//! behind the hot cache, and what only a shared backend is asked: two nodes
//! on one database see each other's writes, and one-time writes (initialise,
//! audit keys, migrations) have exactly one winner when nodes race.
//!
//! Each test runs on a fresh database (`leash_test_<random>`) that is dropped
//! afterwards, also when the test fails. The server is
//! `postgres://postgres@127.0.0.1:5432/postgres`, or `LEASH_TEST_POSTGRES`
//! (an admin URL: the user must be allowed to create databases).

mod conformance;

use leash_store::testing::{TestDb, admin_url};
use leash_store::*;

/// Enough for the group committers and a few readers.
const CONNECTIONS_PER_NODE: u32 = 6;

/// A node on a test database, with a small pool: tests run in parallel
/// against one server's `max_connections`.
async fn connect(db: &TestDb) -> PostgresStore {
    PostgresStore::connect_with(db.url(), CONNECTIONS_PER_NODE)
        .await
        .expect("connect to the test database")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_suite() {
    let db = TestDb::create().await;
    let store = connect(&db).await;
    assert!(!store.exclusive(), "other nodes may share a PostgreSQL store");
    conformance::run_all(store.clone()).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_behind_the_hot_cache_passes_the_conformance_suite() {
    let db = TestDb::create().await;
    let store = HotCached::new(connect(&db).await);
    conformance::run_all(store).await;
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

fn change(env_id: i64, ops: Vec<Op>) -> NewChange {
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

fn token(hash: &str) -> TokenRecord {
    TokenRecord {
        hash: hash.into(),
        accessor: format!("acc-{hash}"),
        display_name: "root".into(),
        policies: vec!["root".into()],
        is_root: true,
        created_at: 1,
        expires_at: None,
        identity_id: None,
        auth_method: "root".into(),
        ttl_ms: None,
        max_expires_at: None,
    }
}

async fn current(store: &impl SecretStore, env_id: i64, path: &str) -> Option<Vec<u8>> {
    let row = store.read_version(env_id, path, Selector::Current).await.unwrap();
    row.and_then(|v| v.ciphertext).map(|c| c.as_bytes().to_vec())
}

/// Two nodes (two stores, each its own pool) on one database: each sees what
/// the other wrote as soon as the write returned, and their writes to one
/// environment serialize (one revision each, a stale one refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_see_each_others_writes() {
    let db = TestDb::create().await;
    // Both start at once on a fresh database: the migrations run once.
    let (a, b) = tokio::join!(connect(&db), connect(&db));

    let p = a.project_create("shared", 1).await.unwrap();
    let env = a.env_create(p.id, "prod", 1).await.unwrap();
    assert_eq!(
        b.env_by_names("shared", "prod").await.unwrap(),
        Some((p, Some(env.clone())))
    );
    a.apply_change(change(env.id, vec![set("K", 1, b"from-a")]))
        .await
        .unwrap();
    assert_eq!(current(&b, env.id, "K").await.as_deref(), Some(&b"from-a"[..]));
    b.apply_change(change(env.id, vec![set("K", 2, b"from-b")]))
        .await
        .unwrap();
    assert_eq!(current(&a, env.id, "K").await.as_deref(), Some(&b"from-b"[..]));
    assert!(matches!(
        a.apply_change(change(env.id, vec![set("K", 2, b"stale")])).await,
        Err(StoreError::VersionConflict(_))
    ));

    // The same version written from both nodes at once, many times over: one wins each time.
    for round in 3..13 {
        let (x, y) = tokio::join!(
            a.apply_change(change(env.id, vec![set("K", round, b"a")])),
            b.apply_change(change(env.id, vec![set("K", round, b"b")])),
        );
        assert!(
            x.is_ok() != y.is_ok(),
            "round {round}: exactly one node wins ({x:?}, {y:?})"
        );
        let refused = if x.is_ok() { y } else { x };
        assert!(matches!(refused, Err(StoreError::VersionConflict(_))), "{refused:?}");
    }
    let (revision, live) = b.list_state(env.id, None, false).await.unwrap();
    assert_eq!((revision, live[0].version), (12, 12));

    // Tokens and revocation: a token made on one node is found (and gone) on the other.
    a.token_create(&token("t-a")).await.unwrap();
    assert!(b.token_lookup("t-a").await.unwrap().is_some());
    assert!(b.token_delete("t-a").await.unwrap());
    assert_eq!(a.token_lookup("t-a").await.unwrap(), None);

    // A rotation row claimed by one node is not claimable by the other.
    a.rotation_put(&RotationRow::new(env.id, "K", "{}".into(), 0, 1))
        .await
        .unwrap();
    let lease = |holder: &str| Lease {
        holder: holder.into(),
        until: 10_000,
    };
    let (lease_a, lease_b) = (lease("node-a"), lease("node-b"));
    let (x, y) = tokio::join!(
        a.rotation_claim(env.id, "K", 0, &lease_a, 5_000),
        b.rotation_claim(env.id, "K", 0, &lease_b, 5_000),
    );
    assert!(x.unwrap() != y.unwrap(), "exactly one node holds the lease");

    a.close().await;
    b.close().await;
}

/// Batches of change sets over many environments, from two nodes at once, and
/// a project deleted under them: every lock is taken in one order, so nothing
/// deadlocks (PostgreSQL would abort one side with an error); each change
/// either lands or finds its environment gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_batching_over_many_environments_never_deadlock() {
    const ENVS: usize = 8;
    const CHANGES: usize = 96;
    let db = TestDb::create().await;
    let (a, b) = (connect(&db).await, connect(&db).await);
    let mut envs = Vec::new();
    for project in ["kept", "doomed"] {
        let p = a.project_create(project, 1).await.unwrap();
        for e in 0..ENVS {
            envs.push((project, a.env_create(p.id, &format!("e{e}"), 1).await.unwrap().id));
        }
    }
    let doomed = a.project_get("doomed").await.unwrap().unwrap();
    let writes = |node: &PostgresStore, tag: &'static str| {
        let node = node.clone();
        let envs = envs.clone();
        (0..CHANGES).map(move |i| {
            let node = node.clone();
            // Each change names a different environment than the last, in no particular order.
            let (project, env_id) = envs[(i * 7 + tag.len()) % envs.len()];
            async move {
                let result = node
                    .apply_change(change(env_id, vec![set(&format!("{tag}{i}"), 1, b"v")]))
                    .await;
                (project, result)
            }
        })
    };
    let (from_a, from_b, deleted) = tokio::join!(
        futures::future::join_all(writes(&a, "a")),
        futures::future::join_all(writes(&b, "bb")),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            b.project_delete(doomed.id).await
        },
    );
    deleted.unwrap();
    for (project, result) in from_a.into_iter().chain(from_b) {
        match (project, result) {
            (_, Ok(_)) | ("doomed", Err(StoreError::NotFound(_))) => {}
            (project, Err(e)) => panic!("a change in {project} failed: {e}"),
        }
    }
    for (project, env_id) in envs.iter().filter(|(p, _)| *p == "kept") {
        let history = a.history(*env_id, None, 1_000).await.unwrap();
        let revisions: Vec<i64> = history.iter().rev().map(|c| c.revision).collect();
        assert_eq!(
            revisions,
            (1..=revisions.len() as i64).collect::<Vec<_>>(),
            "{project}: no gaps"
        );
    }
    assert_eq!(a.project_get("doomed").await.unwrap(), None);
    a.close().await;
    b.close().await;
}

/// Two nodes' hot caches over their own connections to one database, wired
/// as the server wires a shared store: node A's write hook clears node B's
/// cache before A's write is answered, so B never serves the replaced row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_hook_clears_another_nodes_cache_over_postgres() {
    let db = TestDb::create().await;
    let node_b = HotCached::new(connect(&db).await);
    let tell_b = node_b.invalidator();
    let node_a = HotCached::new(connect(&db).await).with_write_hook(std::sync::Arc::new(move || tell_b.invalidate()));

    let p = node_a.project_create("cached", 1).await.unwrap();
    let env = node_a.env_create(p.id, "prod", 1).await.unwrap();
    node_a
        .apply_change(change(env.id, vec![set("K", 1, b"one")]))
        .await
        .unwrap();
    assert_eq!(
        current(&node_b, env.id, "K").await.as_deref(),
        Some(&b"one"[..]),
        "B caches version 1"
    );
    node_a
        .apply_change(change(env.id, vec![set("K", 2, b"two")]))
        .await
        .unwrap();
    assert_eq!(
        current(&node_b, env.id, "K").await.as_deref(),
        Some(&b"two"[..]),
        "B was told"
    );
    node_a.close().await;
    node_b.close().await;
}

/// Nodes initialising one fresh store at once: exactly one wins, every other
/// gets `AlreadyInitialized`, and only the winner's keys and root token exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_initialize_has_exactly_one_winner() {
    const NODES: usize = 6;
    let db = TestDb::create().await;
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(connect(&db).await);
    }
    let hierarchy = |i: usize| KeyHierarchy {
        params: SealParams {
            shares: 5,
            threshold: 3,
        },
        root_key: Sealed::from_stored(format!("root-{i}").into_bytes()),
        keyring: Sealed::from_stored(format!("ring-{i}").into_bytes()),
    };
    let attempts = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| async move { node.initialize(&hierarchy(i), &token(&format!("root-{i}"))).await });
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<usize> = (0..NODES).filter(|i| results[*i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one node initialises: {results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::AlreadyInitialized))),
        "{results:?}"
    );
    let winner = winners[0];
    for node in &nodes {
        assert_eq!(node.key_hierarchy().await.unwrap(), Some(hierarchy(winner)));
        for i in 0..NODES {
            let found = node.token_lookup(&format!("root-{i}")).await.unwrap();
            assert_eq!(found.is_some(), i == winner, "only the winner's root token is stored");
        }
    }

    // The audit keys: whichever node stores first, every node gets that one.
    let candidates = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| async move { node.audit_keys_get_or_put(&Sealed::from_stored(vec![i as u8])).await });
    let keys: Vec<Sealed> = futures::future::join_all(candidates)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] == w[1]),
        "one set of audit keys for every node"
    );
    assert_eq!(
        nodes[0]
            .audit_keys_get_or_put(&Sealed::from_stored(b"late".to_vec()))
            .await
            .unwrap(),
        keys[0]
    );
    for node in &nodes {
        node.close().await;
    }
}

/// A store reconnects to its data (the schema is migrated once, then kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reconnects_with_its_data() {
    let db = TestDb::create().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let project = store.project_create("kept", 1).await.unwrap();
    store.close().await;
    let again = connect(&db).await;
    assert_eq!(again.project_get("kept").await.unwrap(), Some(project));
    again.close().await;
}

/// A connection error names the server, never the password of the URL (here
/// the server refuses a user that does not exist, at once).
#[tokio::test]
async fn a_connection_error_does_not_show_the_password() {
    let admin = admin_url();
    let (scheme, rest) = admin.split_once("://").expect("a postgres:// URL");
    let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let url = format!("{scheme}://leash_no_such_user:hunter2-secret@{host_and_db}");
    let err = PostgresStore::connect(&url).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2-secret"), "{shown}");
    assert!(shown.contains("leash_no_such_user:***@"), "{shown}");
}

/// The nodes' channel: a listener first hears a gap (catch up on what came
/// before), then every message any node sends, its own included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notify_channel_carries_messages_between_nodes() {
    let db = TestDb::create().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    assert!(!store.exclusive(), "other nodes may share a PostgreSQL store");
    let a = NotifyChannel::connect(db.url()).await.unwrap();
    let b = NotifyChannel::connect(db.url()).await.unwrap();
    let mut heard = b.listen();
    async fn next(heard: &mut tokio::sync::mpsc::Receiver<Heard>) -> Heard {
        let wait = tokio::time::timeout(std::time::Duration::from_secs(10), heard.recv());
        wait.await
            .expect("heard nothing within 10 s")
            .expect("the listener stopped")
    }
    assert_eq!(next(&mut heard).await, Heard::Gap, "listening starts with a gap");
    a.send("from a").await.unwrap();
    b.send("from b").await.unwrap();
    assert_eq!(next(&mut heard).await, Heard::Message("from a".into()));
    assert_eq!(next(&mut heard).await, Heard::Message("from b".into()));
    store.close().await;
}
