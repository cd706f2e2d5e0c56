//! The storage conformance suite: every backend must pass every check here.
//! A backend's test file builds a fresh, empty store and calls [`run_all`].

use leash_store::*;

fn set(path: &str, version: i64, bytes: &[u8]) -> Op {
    set_from(path, version, bytes, None)
}

fn set_from(path: &str, version: i64, bytes: &[u8], origin: Option<&str>) -> Op {
    Op::Set {
        path: path.into(),
        version,
        key_id: 1,
        ciphertext: Sealed::from_stored(bytes.to_vec()),
        description: None,
        origin: origin.map(str::to_owned),
    }
}

fn change(env_id: i64, ops: Vec<Op>) -> NewChange {
    NewChange {
        env_id,
        expected_revision: None,
        actor: "tester".into(),
        message: None,
        created_at: 1_000,
        ops,
        e2e_recipients: None,
    }
}

async fn fresh_env<S: Storage>(store: &S, project: &str) -> EnvRow {
    let p = store.project_create(project, 1).await.unwrap();
    store.env_create(p.id, "prod", 1).await.unwrap()
}

pub async fn run_all<S: Storage>(store: S) {
    meta_and_initialize(&store).await;
    tokens(&store).await;
    projects_and_envs(&store).await;
    versions_and_revisions(&store).await;
    many_paths(&store).await;
    point_in_time(&store).await;
    delete_undelete_destroy(&store).await;
    concurrency_checks(&store).await;
    bad_changes_change_nothing(&store).await;
    identities_groups_documents(&store).await;
    audit_log(&store).await;
    cluster_nodes(&store).await;
    rotation_state(&store).await;
    concurrent_changes(&store).await;
    end_to_end_recipients(&store).await;
    reads_follow_every_write(&store).await;
    change_rules(&store).await;
    e2e_update_rules(&store).await;
    reads_are_snapshots(&store).await;
}

/// A backend may keep hot rows in memory (and [`HotCached`] does): every read
/// right after any write must still see it. Each step reads first, so a row
/// is cached (where caching happens) before the write that must replace it.
async fn reads_follow_every_write<S: Storage>(store: &S) {
    let names = || store.env_by_names("follow", "prod");
    let data = |v: Option<VersionRow>| v.and_then(|v| v.ciphertext).map(|c| c.as_bytes().to_vec());

    assert_eq!(names().await.unwrap(), None);
    let p = store.project_create("follow", 1).await.unwrap();
    assert_eq!(names().await.unwrap(), Some((p.clone(), None)), "project_create");
    let env = store.env_create(p.id, "prod", 1).await.unwrap();
    assert_eq!(
        names().await.unwrap(),
        Some((p.clone(), Some(env.clone()))),
        "env_create"
    );
    let current = |path: &'static str| store.read_version(env.id, path, Selector::Current);
    let revision = || async { names().await.unwrap().unwrap().1.unwrap().revision };

    assert_eq!(current("K").await.unwrap(), None);
    store
        .apply_change(change(env.id, vec![set("K", 1, b"one")]))
        .await
        .unwrap();
    assert_eq!(data(current("K").await.unwrap()), Some(b"one".to_vec()), "apply_change");
    store
        .apply_change(change(env.id, vec![set("K", 2, b"two")]))
        .await
        .unwrap();
    assert_eq!(data(current("K").await.unwrap()), Some(b"two".to_vec()), "apply_change");
    assert_eq!(revision().await, 2, "the environment's revision is current too");

    store.destroy_versions(env.id, "K", Some(&[2])).await.unwrap();
    assert!(current("K").await.unwrap().unwrap().destroyed, "destroy_versions");

    let row = rotation_row(env.id, "K", Some(5_000));
    store.rotation_put(&row).await.unwrap();
    store
        .rotation_promote(change(env.id, vec![set("K", 3, b"three")]), &row)
        .await
        .unwrap();
    assert_eq!(
        data(current("K").await.unwrap()),
        Some(b"three".to_vec()),
        "rotation_promote"
    );
    assert_eq!(revision().await, 3, "rotation_promote");

    assert_eq!(
        store.heads(env.id, &["K".into()]).await.unwrap()[0].previous_withdrawn_for,
        None
    );
    store.secret_withdraw_previous(env.id, "K", 3).await.unwrap();
    assert_eq!(
        store.heads(env.id, &["K".into()]).await.unwrap()[0].previous_withdrawn_for,
        Some(3),
        "secret_withdraw_previous"
    );

    assert_eq!(data(current("K").await.unwrap()), Some(b"three".to_vec()));
    assert_eq!(revision().await, 3);
    let recipients = Some(vec!["age1follow".to_owned()]);
    store
        .e2e_update(E2eChange {
            env_id: env.id,
            expected_revision: 3,
            actor: "admin".into(),
            message: None,
            created_at: 2_000,
            recipients: recipients.clone(),
            rewrap: vec![Rewrap {
                path: "K".into(),
                version: 3,
                key_id: 9,
                ciphertext: Sealed::from_stored(b"THREE".to_vec()),
            }],
        })
        .await
        .unwrap();
    let k = current("K").await.unwrap().unwrap();
    assert_eq!((k.key_id, k.e2e), (9, true), "e2e_update");
    assert_eq!(data(Some(k)), Some(b"THREE".to_vec()), "e2e_update");
    let (_, e) = names().await.unwrap().unwrap();
    assert_eq!(
        e.map(|e| (e.revision, e.e2e_recipients)),
        Some((4, recipients)),
        "e2e_update"
    );

    store
        .apply_change(change(env.id, vec![Op::Delete { path: "K".into() }]))
        .await
        .unwrap();
    assert_eq!(current("K").await.unwrap(), None, "a delete");
    assert_eq!(revision().await, 5);
    store.env_delete(env.id).await.unwrap();
    assert_eq!(names().await.unwrap(), Some((p.clone(), None)), "env_delete");
    store.project_delete(p.id).await.unwrap();
    assert_eq!(names().await.unwrap(), None, "project_delete");
}

/// The variant of a storage error, for tables of expected refusals.
fn kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::NotFound(_) => "NotFound",
        StoreError::AlreadyExists(_) => "AlreadyExists",
        StoreError::AlreadyInitialized => "AlreadyInitialized",
        StoreError::CasMismatch { .. } => "CasMismatch",
        StoreError::VersionConflict(_) => "VersionConflict",
        StoreError::InvalidChange(_) => "InvalidChange",
        StoreError::E2eMismatch { .. } => "E2eMismatch",
        StoreError::E2eVersionsRetained(_) => "E2eVersionsRetained",
        _ => "other",
    }
}

/// Everything a refused change could have touched, for before/after comparisons.
async fn env_snapshot<S: Storage>(store: &S, env_id: i64) -> impl PartialEq + std::fmt::Debug {
    (
        store.list_state(env_id, None, true).await.unwrap(),
        store.retained_versions(env_id, false).await.unwrap(),
        store.history(env_id, None, 1_000).await.unwrap(),
        store.secret_paths(env_id).await.unwrap(),
        store.rotation_get(env_id, "R").await.unwrap(),
    )
}

/// The rules of a change set (the crate's `rules`, which every backend must
/// call): each refused change is refused with its error, through
/// `apply_change` and through `rotation_promote` alike, and changes nothing.
async fn change_rules<S: Storage>(store: &S) {
    let env = fresh_env(store, "rules").await;
    // A at version 2, D deleted at version 1: revision 3.
    for ops in [
        vec![set("A", 1, b"a1"), set("D", 1, b"d1")],
        vec![set("A", 2, b"a2")],
        vec![Op::Delete { path: "D".into() }],
    ] {
        store.apply_change(change(env.id, ops)).await.unwrap();
    }
    let row = rotation_row(env.id, "R", None);
    store.rotation_put(&row).await.unwrap();
    let promoted = RotationRow {
        state: "promoted".into(),
        ..row.clone()
    };
    let del = |p: &str| Op::Delete { path: p.into() };
    let undel = |p: &str| Op::Undelete { path: p.into() };
    let check = |name: &'static str, change: NewChange, expected: &'static str| {
        let promoted = promoted.clone();
        async move {
            let before = env_snapshot(store, env.id).await;
            let applied = store.apply_change(change.clone()).await;
            assert_eq!(
                applied.as_ref().map_err(kind).err(),
                Some(expected),
                "{name}: {applied:?}"
            );
            let promote = store.rotation_promote(change, &promoted).await;
            assert_eq!(
                promote.as_ref().map_err(kind).err(),
                Some(expected),
                "{name} (promotion): {promote:?}"
            );
            assert_eq!(env_snapshot(store, env.id).await, before, "{name} changed something");
        }
    };
    check("no operation", change(env.id, vec![]), "InvalidChange").await;
    check(
        "a path twice",
        change(env.id, vec![set("B", 1, b"b"), del("B")]),
        "InvalidChange",
    )
    .await;
    check(
        "the same set twice",
        change(env.id, vec![set("A", 3, b"a3"), set("A", 3, b"a3")]),
        "InvalidChange",
    )
    .await;
    check(
        "a version skipped",
        change(env.id, vec![set("A", 4, b"a4")]),
        "VersionConflict",
    )
    .await;
    check(
        "a version written again",
        change(env.id, vec![set("A", 2, b"a2")]),
        "VersionConflict",
    )
    .await;
    check(
        "a new path not at 1",
        change(env.id, vec![set("N", 2, b"n")]),
        "VersionConflict",
    )
    .await;
    check(
        "a deleted path written at its old number",
        change(env.id, vec![set("D", 1, b"d")]),
        "VersionConflict",
    )
    .await;
    check(
        "a good op before a bad one",
        change(env.id, vec![set("N", 1, b"n"), set("A", 9, b"a9")]),
        "VersionConflict",
    )
    .await;
    check(
        "a delete of a deleted secret",
        change(env.id, vec![del("D")]),
        "InvalidChange",
    )
    .await;
    check(
        "an undelete of a live secret",
        change(env.id, vec![undel("A")]),
        "InvalidChange",
    )
    .await;
    check("a delete of nothing", change(env.id, vec![del("N")]), "NotFound").await;
    check("an undelete of nothing", change(env.id, vec![undel("N")]), "NotFound").await;
    check(
        "a stale expected revision",
        NewChange {
            expected_revision: Some(2),
            ..change(env.id, vec![set("A", 3, b"a3")])
        },
        "CasMismatch",
    )
    .await;
    check(
        "end-to-end values in an ordinary environment",
        NewChange {
            e2e_recipients: Some(vec!["age1x".into()]),
            ..change(env.id, vec![set("A", 3, b"a3")])
        },
        "E2eMismatch",
    )
    .await;

    // What the rules allow: the next number revives a deleted secret; an undelete restores its latest.
    let applied = store
        .apply_change(NewChange {
            expected_revision: Some(3),
            ..change(env.id, vec![set("D", 2, b"d2"), set("A", 3, b"a3")])
        })
        .await
        .unwrap();
    assert_eq!(applied.revision, 4);
    assert_eq!(
        applied
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.action, e.version))
            .collect::<Vec<_>>(),
        [("D", Action::Set, Some(2)), ("A", Action::Set, Some(3))],
        "entries in the change's order"
    );
    store.apply_change(change(env.id, vec![del("D")])).await.unwrap();
    let undeleted = store
        .rotation_promote(change(env.id, vec![undel("D")]), &promoted)
        .await
        .unwrap();
    assert_eq!(
        (
            undeleted.revision,
            undeleted.entries[0].action,
            undeleted.entries[0].version
        ),
        (6, Action::Undelete, Some(2))
    );
    assert_eq!(store.rotation_get(env.id, "R").await.unwrap(), Some(promoted));

    // A destroy that names a version the secret never had destroys nothing.
    let before = env_snapshot(store, env.id).await;
    let err = store.destroy_versions(env.id, "A", Some(&[1, 9])).await.unwrap_err();
    assert_eq!(kind(&err), "NotFound", "{err:?}");
    let err = store.destroy_versions(env.id, "A", Some(&[0])).await.unwrap_err();
    assert_eq!(kind(&err), "NotFound", "{err:?}");
    assert_eq!(
        env_snapshot(store, env.id).await,
        before,
        "a refused destroy changed something"
    );
}

/// The rules of an end-to-end recipient change: each refused one is refused
/// with its error and changes nothing (no data replaced, nothing destroyed,
/// no revision, the recipients kept).
async fn e2e_update_rules<S: Storage>(store: &S) {
    let env = fresh_env(store, "e2e-rules").await;
    // A: 1, 2 (current); B: 1 (deleted); C: 1 destroyed, 2 (current). Revision 5.
    for ops in [
        vec![set("A", 1, b"a1"), set("B", 1, b"b1"), set("C", 1, b"c1")],
        vec![set("A", 2, b"a2")],
        vec![Op::Delete { path: "B".into() }],
        vec![set("C", 2, b"c2")],
    ] {
        store.apply_change(change(env.id, ops)).await.unwrap();
    }
    store.destroy_versions(env.id, "C", Some(&[1])).await.unwrap();
    let revision = store.list_state(env.id, None, false).await.unwrap().0;
    let rewrap = |path: &str, version: i64| Rewrap {
        path: path.into(),
        version,
        key_id: 2,
        ciphertext: Sealed::from_stored(format!("{path}{version}-e2e").into_bytes()),
    };
    let update = |expected_revision: i64, recipients: Option<&str>, rewrap: Vec<Rewrap>| E2eChange {
        env_id: env.id,
        expected_revision,
        actor: "admin".into(),
        message: None,
        created_at: 3_000,
        recipients: recipients.map(|r| vec![r.to_owned()]),
        rewrap,
    };
    let recipients = || async {
        store
            .env_get(env.project_id, "prod")
            .await
            .unwrap()
            .unwrap()
            .e2e_recipients
    };
    let check = |name: &'static str, change: E2eChange, expected: &'static str| async move {
        let before = (env_snapshot(store, env.id).await, recipients().await);
        let result = store.e2e_update(change).await;
        assert_eq!(
            result.as_ref().map_err(kind).err(),
            Some(expected),
            "{name}: {result:?}"
        );
        assert_eq!(
            (env_snapshot(store, env.id).await, recipients().await),
            before,
            "{name} changed something"
        );
    };
    let both = || vec![rewrap("A", 2), rewrap("C", 2)];
    check(
        "a current version left out",
        update(revision, Some("age1x"), vec![rewrap("A", 2)]),
        "InvalidChange",
    )
    .await;
    check(
        "an old version instead of the current one",
        update(revision, Some("age1x"), vec![rewrap("A", 1), rewrap("C", 2)]),
        "InvalidChange",
    )
    .await;
    check(
        "a version twice",
        update(revision, Some("age1x"), [both(), vec![rewrap("A", 2)]].concat()),
        "InvalidChange",
    )
    .await;
    check(
        "a destroyed version",
        update(revision, Some("age1x"), [both(), vec![rewrap("C", 1)]].concat()),
        "NotFound",
    )
    .await;
    check(
        "a version that never was",
        update(revision, Some("age1x"), [both(), vec![rewrap("A", 7)]].concat()),
        "NotFound",
    )
    .await;
    check(
        "a stale revision",
        update(revision - 1, Some("age1x"), both()),
        "CasMismatch",
    )
    .await;
    check(
        "turning off with re-encryptions",
        update(revision, None, both()),
        "InvalidChange",
    )
    .await;

    // Allowed: the current versions (and, if wanted, others) re-encrypted; every other retained version destroyed.
    let applied = store
        .e2e_update(update(revision, Some("age1x"), [both(), vec![rewrap("B", 1)]].concat()))
        .await
        .unwrap();
    assert_eq!(
        (applied.revision, applied.rewrapped, applied.destroyed),
        (revision + 1, 3, 1)
    );
    let (_, retained) = store.retained_versions(env.id, false).await.unwrap();
    assert_eq!(
        retained
            .iter()
            .map(|(v, current)| (v.path.as_str(), v.version, v.e2e, *current))
            .collect::<Vec<_>>(),
        [("A", 2, true, true), ("B", 1, true, false), ("C", 2, true, true)]
    );
    // Off is refused while end-to-end ciphertext is retained, and changes nothing.
    check(
        "turning off over e2e ciphertext",
        update(revision + 1, None, vec![]),
        "E2eVersionsRetained",
    )
    .await;
}

/// A read of several rows answers from one snapshot: under concurrent writes
/// that each add one live secret, every listing has exactly as many secrets
/// as the revision it reports.
async fn reads_are_snapshots<S: Storage>(store: &S) {
    const WRITES: usize = 120;
    let env = fresh_env(store, "snapshots").await;
    let writes = async {
        for i in 0..WRITES {
            store
                .apply_change(change(env.id, vec![set(&format!("K{i:03}"), 1, b"v")]))
                .await
                .unwrap();
        }
    };
    let reads = async {
        let mut seen = 0;
        while seen < WRITES as i64 {
            let (revision, live) = store.list_state(env.id, None, false).await.unwrap();
            assert_eq!(live.len() as i64, revision, "list_state mixed two states");
            let (revision, retained) = store.retained_versions(env.id, false).await.unwrap();
            assert_eq!(retained.len() as i64, revision, "retained_versions mixed two states");
            seen = revision;
            tokio::task::yield_now().await;
        }
    };
    tokio::join!(writes, reads);
}

/// Many change sets at once (a backend may commit them together): each is
/// applied exactly once with its own revision, and a failing one (CAS, stale
/// version) fails alone without undoing the others.
async fn concurrent_changes<S: Storage>(store: &S) {
    let env = fresh_env(store, "concurrent").await;
    let writes = (0..40).map(|i| store.apply_change(change(env.id, vec![set(&format!("K{i}"), 1, b"v")])));
    let stale_cas = (0..5).map(|_| {
        store.apply_change(NewChange {
            expected_revision: Some(0),
            ..change(env.id, vec![set("CAS", 1, b"c")])
        })
    });
    let stale_version = (0..5).map(|_| store.apply_change(change(env.id, vec![set("K0", 1, b"again")])));
    let (ok, cas, stale) = tokio::join!(
        futures::future::join_all(writes),
        futures::future::join_all(stale_cas),
        futures::future::join_all(stale_version)
    );
    // The six writers of K0 version 1 race (a decorator may run them in any order): exactly one wins.
    let mut ok = ok.into_iter();
    let k0 = ok.next().into_iter().chain(stale);
    let (k0_wins, k0_refused): (Vec<_>, Vec<_>) = k0.partition(Result::is_ok);
    assert_eq!(k0_wins.len(), 1, "exactly one write of K0 version 1 succeeds");
    assert!(
        k0_refused
            .iter()
            .all(|r| matches!(r, Err(StoreError::VersionConflict(_)))),
        "every other write of the same version number is refused as stale"
    );
    let mut revisions: Vec<i64> = ok.map(|r| r.unwrap().revision).collect();
    revisions.extend(k0_wins.into_iter().map(|r| r.unwrap().revision));
    let cas_wins: Vec<i64> = cas.into_iter().filter_map(|r| r.ok()).map(|a| a.revision).collect();
    assert!(
        cas_wins.len() <= 1,
        "CAS lets at most one of the same expected revision through"
    );
    revisions.extend(cas_wins);
    revisions.sort();
    let n = revisions.len() as i64;
    assert_eq!(revisions, (1..=n).collect::<Vec<_>>(), "one revision each, no gaps");
    let (revision, live) = store.list_state(env.id, None, true).await.unwrap();
    assert_eq!(revision, n);
    assert_eq!(live.len() as i64, n);
    assert!(live.iter().all(|v| v.version == 1), "no refused change left a trace");
}

fn rotation_row(env_id: i64, path: &str, next_due_at: Option<i64>) -> RotationRow {
    RotationRow {
        next_due_at,
        ..RotationRow::new(env_id, path, r#"{"every":"30d"}"#.into(), 3_600_000, 1)
    }
}

async fn rotation_state<S: Storage>(store: &S) {
    let env = fresh_env(store, "rotation").await;
    assert_eq!(store.rotation_get(env.id, "K").await.unwrap(), None);
    store
        .rotation_put(&rotation_row(env.id, "K", Some(5_000)))
        .await
        .unwrap();
    store
        .rotation_put(&rotation_row(env.id, "LATER", Some(9_000)))
        .await
        .unwrap();
    store.rotation_put(&rotation_row(env.id, "MANUAL", None)).await.unwrap();
    assert_eq!(
        store.rotation_get(env.id, "K").await.unwrap().unwrap(),
        rotation_row(env.id, "K", Some(5_000))
    );

    // Due: only rows whose time has come, with their environment's names.
    assert!(store.rotation_due(4_999, 10).await.unwrap().is_empty());
    let due = store.rotation_due(5_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].project.as_str(), due[0].env.as_str(), due[0].row.path.as_str()),
        ("rotation", "prod", "K")
    );

    // One claim wins (even the same node's second one); a live lease hides the row from `due`
    // and from other claims, and the row names its holder.
    let lease = |holder: &str, until: i64| Lease {
        holder: holder.into(),
        until,
    };
    assert!(
        store
            .rotation_claim(env.id, "K", 0, &lease("node-a", 8_000), 5_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .rotation_claim(env.id, "K", 0, &lease("node-b", 8_000), 5_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .rotation_claim(env.id, "K", 0, &lease("node-a", 8_000), 5_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .rotation_claim(env.id, "K", 7, &lease("node-b", 12_000), 9_000)
            .await
            .unwrap(),
        "attempt moved on"
    );
    assert_eq!(
        store.rotation_get(env.id, "K").await.unwrap().unwrap().lease,
        Some(lease("node-a", 8_000))
    );
    assert!(store.rotation_due(6_000, 10).await.unwrap().is_empty());
    // An expired lease can be taken over.
    let mut running = store.rotation_get(env.id, "K").await.unwrap().unwrap();
    running.state = "running".into();
    running.attempt = 1;
    running.pending_key_id = Some(1);
    running.pending_ciphertext = Some(Sealed::from_stored(b"sealed-pending".to_vec()));
    store.rotation_put(&running).await.unwrap();
    let due = store.rotation_due(8_000, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.row.path.as_str()).collect::<Vec<_>>(),
        ["K"],
        "a stale running attempt"
    );
    // The node whose lease expired lost it: another takes the attempt over.
    assert!(
        store
            .rotation_claim(env.id, "K", 1, &lease("node-b", 11_000), 8_000)
            .await
            .unwrap()
    );
    store.rotation_release_leases().await.unwrap();
    assert_eq!(store.rotation_get(env.id, "K").await.unwrap().unwrap().lease, None);
    assert!(
        store
            .rotation_claim(env.id, "K", 1, &lease("node-c", 9_000), 6_000)
            .await
            .unwrap()
    );

    // A promotion writes the value and the rotation state together, or neither.
    store
        .apply_change(change(env.id, vec![set("K", 1, b"v1")]))
        .await
        .unwrap();
    let mut promoted = running.clone();
    promoted.state = "idle".into();
    promoted.pending_ciphertext = None;
    promoted.lease = None;
    promoted.next_due_at = Some(99_000);
    let conflict = store
        .rotation_promote(change(env.id, vec![set("K", 1, b"stale")]), &promoted)
        .await;
    assert!(matches!(conflict, Err(StoreError::VersionConflict(_))), "{conflict:?}");
    assert_eq!(store.rotation_get(env.id, "K").await.unwrap().unwrap().state, "running");
    let applied = store
        .rotation_promote(change(env.id, vec![set("K", 2, b"v2")]), &promoted)
        .await
        .unwrap();
    assert_eq!(applied.entries[0].version, Some(2));
    assert_eq!(store.rotation_get(env.id, "K").await.unwrap().unwrap(), promoted);

    // Withdrawing `previous` is remembered for the current version.
    store.secret_withdraw_previous(env.id, "K", 2).await.unwrap();
    let heads = store.heads(env.id, &["K".into()]).await.unwrap();
    assert_eq!(heads[0].previous_withdrawn_for, Some(2));

    // History: newest first, replaced by attempt.
    let mut entry = RotationLogRow {
        env_id: env.id,
        path: "K".into(),
        attempt: 1,
        trigger: "schedule".into(),
        actor: "leash-scheduler".into(),
        rotator: "generator".into(),
        started_at: 5_000,
        finished_at: None,
        outcome: "running".into(),
        step: None,
        error: None,
        version: None,
    };
    store.rotation_log_put(&entry).await.unwrap();
    entry.outcome = "succeeded".into();
    entry.version = Some(2);
    store.rotation_log_put(&entry).await.unwrap();
    let second = RotationLogRow {
        attempt: 2,
        started_at: 6_000,
        trigger: "manual".into(),
        ..entry.clone()
    };
    store.rotation_log_put(&second).await.unwrap();
    assert_eq!(store.rotation_log(env.id, "K", 10).await.unwrap(), [second, entry]);

    assert!(store.rotation_delete(env.id, "K").await.unwrap());
    assert!(!store.rotation_delete(env.id, "K").await.unwrap());
    // Deleting the environment takes its rotation rows with it.
    store.env_delete(env.id).await.unwrap();
    assert_eq!(store.rotation_get(env.id, "LATER").await.unwrap(), None);
}

async fn end_to_end_recipients<S: Storage>(store: &S) {
    let env = fresh_env(store, "e2e").await;
    assert_eq!(env.e2e_recipients, None);
    store
        .apply_change(change(env.id, vec![set("A", 1, b"a1")]))
        .await
        .unwrap();
    store
        .apply_change(change(env.id, vec![set("A", 2, b"a2")]))
        .await
        .unwrap();
    store
        .apply_change(change(env.id, vec![set("B", 1, b"b1")]))
        .await
        .unwrap();
    store
        .apply_change(change(env.id, vec![Op::Delete { path: "B".into() }]))
        .await
        .unwrap();
    let recipients = Some(vec!["age1one".to_owned(), "ssh-ed25519 AAAA".to_owned()]);
    let rewrap = |path: &str, version: i64, bytes: &[u8]| Rewrap {
        path: path.into(),
        version,
        key_id: 2,
        ciphertext: Sealed::from_stored(bytes.to_vec()),
    };
    let update = |expected_revision: i64, recipients: Option<Vec<String>>, rewrap: Vec<Rewrap>| E2eChange {
        env_id: env.id,
        expected_revision,
        actor: "admin".into(),
        message: Some("e2e".into()),
        created_at: 2_000,
        recipients,
        rewrap,
    };
    // the current version of every live secret must be re-encrypted
    let err = store
        .e2e_update(update(4, recipients.clone(), vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidChange(_)), "{err:?}");
    let err = store
        .e2e_update(update(3, recipients.clone(), vec![rewrap("A", 2, b"A2")]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::CasMismatch { .. }), "{err:?}");
    let applied = store
        .e2e_update(update(
            4,
            recipients.clone(),
            vec![rewrap("A", 2, b"A2"), rewrap("B", 1, b"B1")],
        ))
        .await
        .unwrap();
    assert_eq!((applied.revision, applied.rewrapped, applied.destroyed), (5, 2, 1));
    let env = store.env_get(env.project_id, "prod").await.unwrap().unwrap();
    assert_eq!((env.revision, env.e2e_recipients.clone()), (5, recipients.clone()));
    let a = store
        .read_version(env.id, "A", Selector::Current)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.ciphertext.as_ref().map(Sealed::as_bytes), a.key_id, a.e2e),
        (Some(&b"A2"[..]), 2, true)
    );
    let a1 = store
        .read_version(env.id, "A", Selector::Version(1))
        .await
        .unwrap()
        .unwrap();
    assert!(a1.destroyed && a1.ciphertext.is_none(), "not re-encrypted: destroyed");
    let b = store
        .read_version(env.id, "B", Selector::Version(1))
        .await
        .unwrap()
        .unwrap();
    assert!(b.e2e && !b.destroyed);
    assert_eq!(store.e2e_version_count(env.id).await.unwrap(), 2);
    let (revision, retained) = store.retained_versions(env.id, false).await.unwrap();
    assert_eq!((revision, retained.len()), (5, 2));
    let (_, current) = store.retained_versions(env.id, true).await.unwrap();
    assert_eq!(
        current.iter().map(|(v, c)| (v.path.as_str(), *c)).collect::<Vec<_>>(),
        [("A", true)]
    );
    assert_eq!(
        retained
            .iter()
            .map(|(v, c)| (v.path.as_str(), v.version, *c))
            .collect::<Vec<_>>(),
        [("A", 2, true), ("B", 1, false)]
    );

    // writes must declare exactly the environment's recipients
    let err = store
        .apply_change(change(env.id, vec![set("C", 1, b"plain")]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::E2eMismatch { current } if current == &recipients),
        "{err:?}"
    );
    let mut stale = change(env.id, vec![set("C", 1, b"c")]);
    stale.e2e_recipients = Some(vec!["age1one".to_owned()]);
    assert!(matches!(
        store.apply_change(stale).await,
        Err(StoreError::E2eMismatch { .. })
    ));
    let mut fitting = change(env.id, vec![set("C", 1, b"c")]);
    fitting.e2e_recipients = recipients.clone();
    store.apply_change(fitting).await.unwrap();
    assert!(
        store
            .read_version(env.id, "C", Selector::Current)
            .await
            .unwrap()
            .unwrap()
            .e2e
    );
    // a delete carries no value and needs no recipients
    store
        .apply_change(change(env.id, vec![Op::Delete { path: "C".into() }]))
        .await
        .unwrap();

    // off only once no end-to-end ciphertext is retained
    let err = store.e2e_update(update(7, None, vec![])).await.unwrap_err();
    assert!(matches!(err, StoreError::E2eVersionsRetained(3)), "{err:?}");
    for path in ["A", "B", "C"] {
        store.destroy_versions(env.id, path, None).await.unwrap();
    }
    let applied = store.e2e_update(update(7, None, vec![])).await.unwrap();
    assert_eq!(applied.revision, 8);
    let env = store.env_get(env.project_id, "prod").await.unwrap().unwrap();
    assert_eq!(env.e2e_recipients, None);
    store
        .apply_change(change(env.id, vec![set("D", 1, b"plain")]))
        .await
        .unwrap();
}

async fn audit_log<S: Storage>(store: &S) {
    assert_eq!(store.audit_last("", false).await.unwrap(), None);
    let row = |seq: i64, kind: &str, identity: &str, operation: &str, status: i64| AuditRow {
        node: String::new(),
        seq,
        time_ms: seq * 1000,
        kind: kind.into(),
        identity: Some(identity.into()),
        operation: Some(operation.into()),
        resource: Some("p/e/K".into()),
        status: Some(status),
        hash: format!("h{seq}"),
        line: format!("line {seq}"),
    };
    store
        .audit_append(&[
            row(1, "request", "alice", "secret.read", 200),
            row(2, "request", "bob", "secret.write", 403),
            row(3, "checkpoint", "", "", 0),
            row(4, "request", "alice", "auth.login.userpass", 401),
        ])
        .await
        .unwrap();
    assert!(
        store.audit_append(&[row(4, "request", "x", "y", 1)]).await.is_err(),
        "seq is unique"
    );
    let q = |f: AuditFilter| async move {
        store
            .audit_query(&AuditFilter { limit: 10, ..f })
            .await
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        q(AuditFilter::default()).await,
        vec![4, 2, 1],
        "requests only, newest first"
    );
    assert_eq!(
        q(AuditFilter {
            identity: Some("alice".into()),
            ..Default::default()
        })
        .await,
        vec![4, 1]
    );
    assert_eq!(
        q(AuditFilter {
            operation: Some("secret.".into()),
            ..Default::default()
        })
        .await,
        vec![2, 1]
    );
    assert_eq!(
        q(AuditFilter {
            status: Some(403),
            ..Default::default()
        })
        .await,
        vec![2]
    );
    assert_eq!(
        q(AuditFilter {
            since_ms: Some(2000),
            until_ms: Some(3000),
            ..Default::default()
        })
        .await,
        vec![2]
    );
    assert_eq!(
        q(AuditFilter {
            before_seq: Some(2),
            ..Default::default()
        })
        .await,
        vec![1]
    );
    assert_eq!(
        store
            .audit_scan("", 1, 2)
            .await
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert_eq!(store.audit_last("", false).await.unwrap().unwrap().seq, 4);
    assert_eq!(store.audit_last("", true).await.unwrap().unwrap().seq, 3);

    // A second node's chain: its own numbering, next to the first; each read names its chain.
    let other = |seq: i64, kind: &str| AuditRow {
        node: "node-b".into(),
        time_ms: 10_000 + seq,
        ..row(seq, kind, "carol", "secret.read", 200)
    };
    store
        .audit_append(&[other(1, "request"), other(2, "checkpoint"), other(3, "request")])
        .await
        .unwrap();
    assert!(
        store.audit_append(&[other(3, "request")]).await.is_err(),
        "(node, seq) is unique"
    );
    assert_eq!(store.audit_chains().await.unwrap(), ["", "node-b"]);
    assert_eq!(store.audit_last("node-b", false).await.unwrap().unwrap().seq, 3);
    assert_eq!(store.audit_last("node-b", true).await.unwrap().unwrap().seq, 2);
    assert_eq!(
        store.audit_last("", false).await.unwrap().unwrap().seq,
        4,
        "chains apart"
    );
    let scanned = store.audit_scan("node-b", 0, 10).await.unwrap();
    assert!(scanned.iter().all(|r| r.node == "node-b") && scanned.len() == 3);
    let newest = store
        .audit_query(&AuditFilter {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        newest.iter().map(|r| (r.node.as_str(), r.seq)).collect::<Vec<_>>(),
        [("node-b", 3), ("node-b", 1)],
        "every chain, newest first by time"
    );
}

async fn cluster_nodes<S: Storage>(store: &S) {
    let node = |name: &str, sealed: bool, seen_at: i64| NodeRow {
        node: name.into(),
        address: format!("http://{name}:8270"),
        sealed,
        started_at: 1,
        seen_at,
    };
    store.node_heartbeat(&node("b", true, 10)).await.unwrap();
    store.node_heartbeat(&node("a", false, 20)).await.unwrap();
    store.node_heartbeat(&node("b", false, 30)).await.unwrap();
    assert_eq!(
        store.node_list().await.unwrap(),
        [node("a", false, 20), node("b", false, 30)]
    );
    let generation = store.access_generation().await.unwrap();
    if store.exclusive() {
        assert_eq!(generation, 0, "an exclusive store has nobody to tell");
    } else {
        // A token renewed moves it, in the same transaction; a new token does not.
        let token = TokenRecord {
            hash: "generation-hash".into(),
            accessor: "generation-accessor".into(),
            display_name: "t".into(),
            policies: Vec::new(),
            is_root: false,
            created_at: 1,
            expires_at: Some(2),
            identity_id: None,
            auth_method: "token".into(),
            ttl_ms: None,
            max_expires_at: None,
        };
        store.token_create(&token).await.unwrap();
        assert_eq!(store.access_generation().await.unwrap(), generation);
        store.token_set_expiry(&token.hash, Some(3)).await.unwrap();
        assert!(store.access_generation().await.unwrap() > generation);
    }
}

fn identity(name: &str) -> IdentityRow {
    IdentityRow {
        id: 0,
        name: name.into(),
        kind: "service".into(),
        policies: vec!["p1".into(), "p2".into()],
        metadata: r#"{"team":"pay"}"#.into(),
        password_hash: None,
        client_id: Some(format!("cid-{name}")),
        client_secret_hash: Some("hash".into()),
        client_secret_expires_at: None,
        client_secret_uses_left: Some(2),
        allowed_cidrs: vec!["10.0.0.0/8".into()],
        jwt_binding: None,
        token_ttl_ms: 1000,
        token_max_ttl_ms: 5000,
        created_at: 7,
    }
}

async fn identities_groups_documents<S: Storage>(store: &S) {
    let a = store.identity_create(&identity("svc-a")).await.unwrap();
    assert!(a.id > 0);
    assert_eq!(IdentityRow { id: 0, ..a.clone() }, identity("svc-a"));
    assert!(matches!(
        store.identity_create(&identity("svc-a")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        store.identity_get_by_client_id("cid-svc-a").await.unwrap(),
        Some(a.clone())
    );
    // limited client secret: two uses, then none
    assert!(store.client_secret_use(a.id).await.unwrap());
    assert!(store.client_secret_use(a.id).await.unwrap());
    assert!(!store.client_secret_use(a.id).await.unwrap());
    let mut changed = store.identity_get("svc-a").await.unwrap().unwrap();
    changed.policies = vec!["p3".into()];
    store.identity_update(&changed).await.unwrap();
    assert_eq!(
        store.identity_get("svc-a").await.unwrap().unwrap().policies,
        vec!["p3".to_string()]
    );

    let b = store.identity_create(&identity("svc-b")).await.unwrap();
    let group = store
        .group_put("team", &["gp".into()], &["svc-a".into(), "svc-b".into()], 9)
        .await
        .unwrap();
    assert_eq!(group.members, vec!["svc-a".to_string(), "svc-b".to_string()]);
    assert!(matches!(
        store.group_put("team", &[], &["ghost".into()], 9).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.group_get("team").await.unwrap().unwrap().members.len(),
        2,
        "a failed put changes nothing"
    );

    let token = |hash: &str, identity_id| TokenRecord {
        hash: hash.into(),
        accessor: format!("acc-{hash}"),
        display_name: "svc-b".into(),
        policies: vec![],
        is_root: false,
        created_at: 1,
        expires_at: None,
        identity_id,
        auth_method: "client".into(),
        ttl_ms: None,
        max_expires_at: None,
    };
    store.token_create(&token("tb1", Some(b.id))).await.unwrap();
    store.token_create(&token("tb2", Some(b.id))).await.unwrap();
    store.token_create(&token("ta1", Some(a.id))).await.unwrap();
    assert_eq!(store.tokens_delete_for_identity(a.id).await.unwrap(), 1);
    store.identity_delete(b.id).await.unwrap();
    assert_eq!(
        store.token_lookup("tb1").await.unwrap(),
        None,
        "deleting an identity revokes its tokens"
    );
    assert_eq!(
        store.group_get("team").await.unwrap().unwrap().members,
        vec!["svc-a".to_string()]
    );
    assert!(store.group_delete("team").await.unwrap());
    assert!(store.group_list().await.unwrap().is_empty());

    for kind in [
        DocumentKind::Policy,
        DocumentKind::JwtIssuer,
        DocumentKind::VaultSettings,
    ] {
        let first = store.document_put(kind, "doc", "v1", 10).await.unwrap();
        let second = store.document_put(kind, "doc", "v2", 20).await.unwrap();
        assert_eq!(
            (second.created_at, second.updated_at, second.body.as_str()),
            (first.created_at, 20, "v2")
        );
        assert_eq!(store.document_list(kind).await.unwrap().len(), 1);
        assert!(store.document_delete(kind, "doc").await.unwrap());
        assert_eq!(store.document_get(kind, "doc").await.unwrap(), None);
    }
}

async fn meta_and_initialize<S: Storage>(store: &S) {
    let sealed = |b: &[u8]| Sealed::from_stored(b.to_vec());
    assert_eq!(store.key_hierarchy().await.unwrap(), None);
    assert!(
        matches!(
            store.keyring_replace(&sealed(b"none"), &sealed(b"early")).await,
            Err(StoreError::NotFound(_))
        ),
        "a keyring cannot be stored before the hierarchy"
    );
    assert_eq!(store.key_hierarchy().await.unwrap(), None);
    let root = TokenRecord {
        hash: "h-root".into(),
        accessor: "acc-root".into(),
        display_name: "root".into(),
        policies: vec!["root".into()],
        is_root: true,
        created_at: 5,
        expires_at: None,
        identity_id: None,
        auth_method: "root".into(),
        ttl_ms: None,
        max_expires_at: None,
    };
    let first = KeyHierarchy {
        params: SealParams {
            shares: 5,
            threshold: 3,
        },
        root_key: sealed(b"root-under-unseal"),
        keyring: sealed(b"ring-under-root"),
    };
    store.initialize(&first, &root).await.unwrap();
    let other = KeyHierarchy {
        params: SealParams {
            shares: 1,
            threshold: 1,
        },
        root_key: sealed(b"other-root"),
        keyring: sealed(b"other-ring"),
    };
    let mut other_root = root.clone();
    other_root.hash = "h-other".into();
    other_root.accessor = "acc-other".into();
    assert!(matches!(
        store.initialize(&other, &other_root).await,
        Err(StoreError::AlreadyInitialized)
    ));
    assert_eq!(store.key_hierarchy().await.unwrap(), Some(first.clone()));
    assert_eq!(store.token_lookup("h-root").await.unwrap(), Some(root));
    assert_eq!(
        store.token_lookup("h-other").await.unwrap(),
        None,
        "a refused init writes no token"
    );

    // A rotation replaces the keyring it read; one based on a keyring another node already
    // replaced writes nothing (that node's new key is kept).
    assert!(
        store
            .keyring_replace(&first.keyring, &sealed(b"ring-rotated"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .keyring_replace(&first.keyring, &sealed(b"ring-stale"))
            .await
            .unwrap()
    );
    let rotated = store.key_hierarchy().await.unwrap().unwrap();
    assert_eq!(rotated.keyring, sealed(b"ring-rotated"));
    assert_eq!((rotated.params, rotated.root_key), (first.params, first.root_key));

    // The first audit keys stored win; a later candidate (another node's) gets them back.
    assert_eq!(
        store.audit_keys_get_or_put(&sealed(b"audit-a")).await.unwrap(),
        sealed(b"audit-a")
    );
    assert_eq!(
        store.audit_keys_get_or_put(&sealed(b"audit-b")).await.unwrap(),
        sealed(b"audit-a")
    );
}

async fn tokens<S: Storage>(store: &S) {
    let t = TokenRecord {
        hash: "h1".into(),
        accessor: "a1".into(),
        display_name: "ci".into(),
        policies: vec!["a".into(), "b".into()],
        is_root: false,
        created_at: 1,
        expires_at: Some(99),
        identity_id: None,
        auth_method: "token".into(),
        ttl_ms: Some(50),
        max_expires_at: Some(200),
    };
    let before = store.token_list().await.unwrap();
    store.token_create(&t).await.unwrap();
    let second = TokenRecord {
        hash: "h0".into(),
        accessor: "a0".into(),
        identity_id: None,
        ..t.clone()
    };
    store.token_create(&second).await.unwrap();
    let mut expected = before.clone();
    expected.extend([t.clone(), second.clone()]);
    expected.sort_by(|a, b| a.accessor.cmp(&b.accessor));
    assert_eq!(
        store.token_list().await.unwrap(),
        expected,
        "every token, sorted by accessor"
    );
    assert!(store.token_delete("h0").await.unwrap());
    assert_eq!(store.token_lookup("h1").await.unwrap(), Some(t.clone()));
    assert_eq!(store.token_lookup_by_accessor("a1").await.unwrap(), Some(t.clone()));
    store.token_set_expiry("h1", Some(150)).await.unwrap();
    assert_eq!(store.token_lookup("h1").await.unwrap().unwrap().expires_at, Some(150));
    assert!(store.token_delete("h1").await.unwrap());
    assert!(!store.token_delete("h1").await.unwrap());
    assert_eq!(store.token_lookup("h1").await.unwrap(), None);
    assert_eq!(
        store.token_list().await.unwrap(),
        before,
        "deleted tokens are not listed"
    );
}

async fn projects_and_envs<S: Storage>(store: &S) {
    let p = store.project_create("alpha", 10).await.unwrap();
    assert!(matches!(
        store.project_create("alpha", 11).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.project_get("alpha").await.unwrap(), Some(p.clone()));
    let e = store.env_create(p.id, "dev", 12).await.unwrap();
    assert_eq!(e.revision, 0);
    assert!(matches!(
        store.env_create(p.id, "dev", 13).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.env_list(p.id).await.unwrap(), vec![e.clone()]);
    assert_eq!(
        store.env_by_names("alpha", "dev").await.unwrap(),
        Some((p.clone(), Some(e.clone())))
    );
    assert_eq!(
        store.env_by_names("alpha", "nope").await.unwrap(),
        Some((p.clone(), None))
    );
    assert_eq!(store.env_by_names("nope", "dev").await.unwrap(), None);
    store
        .apply_change(change(e.id, vec![set("K", 1, b"c1")]))
        .await
        .unwrap();
    store.env_delete(e.id).await.unwrap();
    assert_eq!(store.env_get(p.id, "dev").await.unwrap(), None);
    store.env_create(p.id, "dev", 14).await.unwrap();
    store.project_delete(p.id).await.unwrap();
    assert_eq!(store.project_get("alpha").await.unwrap(), None);
    assert!(!store.project_list().await.unwrap().iter().any(|p| p.name == "alpha"));
}

async fn versions_and_revisions<S: Storage>(store: &S) {
    let env = fresh_env(store, "versions").await;
    let a = store
        .apply_change(change(env.id, vec![set("A", 1, b"a1"), set("db/URL", 1, b"u1")]))
        .await
        .unwrap();
    assert_eq!(a.revision, 1);
    assert_eq!(a.entries.len(), 2);
    let b = store
        .apply_change(change(env.id, vec![set("A", 2, b"a2")]))
        .await
        .unwrap();
    assert_eq!(b.revision, 2);
    let cur = store
        .read_version(env.id, "A", Selector::Current)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (cur.version, cur.revision, cur.ciphertext.as_ref().map(Sealed::as_bytes)),
        (2, 2, Some(&b"a2"[..]))
    );
    let v1 = store
        .read_version(env.id, "A", Selector::Version(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v1.ciphertext.as_ref().map(Sealed::as_bytes), Some(&b"a1"[..]));
    assert_eq!(
        store.read_version(env.id, "A", Selector::Version(3)).await.unwrap(),
        None
    );
    let (rev, list) = store.list_state(env.id, None, true).await.unwrap();
    assert_eq!(rev, 2);
    assert_eq!(
        list.iter().map(|v| (v.path.as_str(), v.version)).collect::<Vec<_>>(),
        vec![("A", 2), ("db/URL", 1)]
    );
    let (_, bare) = store.list_state(env.id, None, false).await.unwrap();
    assert!(bare.iter().all(|v| v.ciphertext.is_none()));
    let hist = store.history(env.id, None, 10).await.unwrap();
    assert_eq!(hist.iter().map(|c| c.revision).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(hist[1].entries.len(), 2);
    let since = store.changes_since(env.id, 0, 10).await.unwrap();
    assert_eq!(
        since.iter().map(|c| c.revision).collect::<Vec<_>>(),
        vec![1, 2],
        "oldest first"
    );
    assert_eq!(since[0].entries.len(), 2);
    assert_eq!(store.changes_since(env.id, 1, 10).await.unwrap().len(), 1);
    assert!(store.changes_since(env.id, 2, 10).await.unwrap().is_empty());
    let page = store.history(env.id, Some(2), 10).await.unwrap();
    assert_eq!(page.iter().map(|c| c.revision).collect::<Vec<_>>(), vec![1]);
    let (head, versions) = store.secret_versions(env.id, "A").await.unwrap().unwrap();
    assert_eq!(head.latest_version, 2);
    assert_eq!(versions.len(), 2);
    assert!(versions.iter().all(|v| v.ciphertext.is_none()));
    let heads = store.heads(env.id, &["A".into(), "missing".into()]).await.unwrap();
    assert_eq!(heads.len(), 1);
    let heads = store.heads(env.id, &["db/URL".into(), "A".into()]).await.unwrap();
    assert_eq!(
        heads.iter().map(|h| h.path.as_str()).collect::<Vec<_>>(),
        ["db/URL", "A"],
        "in the order asked"
    );
    // A moved value's entry keeps where it came from, in the answer and in the history.
    let moved = store
        .apply_change(change(
            env.id,
            vec![
                set_from("B", 1, b"a2", Some(r#"{"from":"A"}"#)),
                Op::Delete { path: "A".into() },
            ],
        ))
        .await
        .unwrap();
    let origins = |entries: &[AppliedEntry]| {
        entries
            .iter()
            .map(|e| (e.path.clone(), e.origin.clone()))
            .collect::<Vec<_>>()
    };
    let expected = vec![
        ("B".to_owned(), Some(r#"{"from":"A"}"#.to_owned())),
        ("A".to_owned(), None),
    ];
    assert_eq!(origins(&moved.entries), expected);
    let hist = store.history(env.id, None, 1).await.unwrap();
    let mut stored = origins(&hist[0].entries);
    stored.sort();
    let mut expected = expected;
    expected.sort();
    assert_eq!(stored, expected, "the history keeps the origin");
}

/// Large change sets and large lookups (more paths than one SQL statement may bind).
async fn many_paths<S: Storage>(store: &S) {
    const N: usize = 1_200;
    let env = fresh_env(store, "many").await;
    let paths: Vec<String> = (0..N).map(|i| format!("dir/K{i:04}")).collect();
    let ops = paths.iter().map(|p| set(p, 1, b"v")).collect();
    let applied = store.apply_change(change(env.id, ops)).await.unwrap();
    assert_eq!(applied.entries.len(), N);
    let mut asked: Vec<String> = paths.iter().rev().cloned().collect();
    asked.insert(N / 2, "dir/missing".into());
    let heads = store.heads(env.id, &asked).await.unwrap();
    assert_eq!(
        heads.iter().map(|h| h.path.clone()).collect::<Vec<_>>(),
        paths.iter().rev().cloned().collect::<Vec<_>>()
    );
    assert_eq!(store.list_state(env.id, None, false).await.unwrap().1.len(), N);
    assert_eq!(store.secret_paths(env.id).await.unwrap(), paths);
}

async fn point_in_time<S: Storage>(store: &S) {
    let env = fresh_env(store, "pit").await;
    store
        .apply_change(change(env.id, vec![set("A", 1, b"a1")]))
        .await
        .unwrap();
    store
        .apply_change(change(env.id, vec![set("B", 1, b"b1")]))
        .await
        .unwrap();
    store
        .apply_change(change(env.id, vec![set("A", 2, b"a2")]))
        .await
        .unwrap();
    store
        .apply_change(change(env.id, vec![Op::Delete { path: "B".into() }]))
        .await
        .unwrap();
    let at = |r| store.read_version(env.id, "A", Selector::AtRevision(r));
    assert_eq!(at(0).await.unwrap(), None);
    assert_eq!(at(1).await.unwrap().unwrap().version, 1);
    assert_eq!(at(2).await.unwrap().unwrap().version, 1);
    assert_eq!(at(3).await.unwrap().unwrap().version, 2);
    assert!(
        store
            .read_version(env.id, "B", Selector::AtRevision(3))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .read_version(env.id, "B", Selector::AtRevision(4))
            .await
            .unwrap()
            .is_none()
    );
    let names = |list: Vec<VersionRow>| list.into_iter().map(|v| (v.path, v.version)).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_state(env.id, Some(2), true).await.unwrap().1),
        vec![("A".into(), 1), ("B".into(), 1)]
    );
    assert_eq!(
        names(store.list_state(env.id, Some(4), true).await.unwrap().1),
        vec![("A".into(), 2)]
    );
}

async fn delete_undelete_destroy<S: Storage>(store: &S) {
    let env = fresh_env(store, "lifecycle").await;
    store
        .apply_change(change(env.id, vec![set("K", 1, b"k1")]))
        .await
        .unwrap();
    store
        .apply_change(change(env.id, vec![set("K", 2, b"k2")]))
        .await
        .unwrap();
    let del = store
        .apply_change(change(env.id, vec![Op::Delete { path: "K".into() }]))
        .await
        .unwrap();
    assert_eq!(del.entries[0].action, Action::Delete);
    assert_eq!(store.read_version(env.id, "K", Selector::Current).await.unwrap(), None);
    assert!(
        store
            .read_version(env.id, "K", Selector::Version(1))
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        store
            .apply_change(change(env.id, vec![Op::Delete { path: "K".into() }]))
            .await,
        Err(StoreError::InvalidChange(_))
    ));
    let und = store
        .apply_change(change(env.id, vec![Op::Undelete { path: "K".into() }]))
        .await
        .unwrap();
    assert_eq!(und.entries[0].version, Some(2));
    assert_eq!(
        store
            .read_version(env.id, "K", Selector::Current)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert_eq!(store.destroy_versions(env.id, "K", Some(&[1])).await.unwrap(), vec![1]);
    assert_eq!(
        store.destroy_versions(env.id, "K", Some(&[1])).await.unwrap(),
        Vec::<i64>::new()
    );
    let v1 = store
        .read_version(env.id, "K", Selector::Version(1))
        .await
        .unwrap()
        .unwrap();
    assert!(v1.destroyed && v1.ciphertext.is_none());
    assert!(matches!(
        store.destroy_versions(env.id, "K", Some(&[7])).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.destroy_versions(env.id, "K", None).await.unwrap(), vec![2]);
    assert!(matches!(
        store.destroy_versions(env.id, "nope", None).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn concurrency_checks<S: Storage>(store: &S) {
    let env = fresh_env(store, "cas").await;
    let mut c = change(env.id, vec![set("A", 1, b"x")]);
    c.expected_revision = Some(0);
    store.apply_change(c).await.unwrap();
    let mut stale = change(env.id, vec![set("A", 2, b"y")]);
    stale.expected_revision = Some(0);
    assert!(matches!(
        store.apply_change(stale).await,
        Err(StoreError::CasMismatch { expected: 0, actual: 1 })
    ));
    assert!(matches!(
        store.apply_change(change(env.id, vec![set("A", 5, b"z")])).await,
        Err(StoreError::VersionConflict(_))
    ));
    assert!(matches!(
        store.apply_change(change(env.id, vec![set("NEW", 2, b"z")])).await,
        Err(StoreError::VersionConflict(_))
    ));
}

async fn bad_changes_change_nothing<S: Storage>(store: &S) {
    let env = fresh_env(store, "atomic").await;
    store
        .apply_change(change(env.id, vec![set("A", 1, b"a1")]))
        .await
        .unwrap();
    let before = store.list_state(env.id, None, true).await.unwrap();
    // the first op is fine, the second conflicts: neither may land
    let bad = change(env.id, vec![set("B", 1, b"b1"), set("A", 9, b"a9")]);
    assert!(store.apply_change(bad).await.is_err());
    let dup = change(env.id, vec![set("C", 1, b"c"), set("C", 1, b"c")]);
    assert!(matches!(
        store.apply_change(dup).await,
        Err(StoreError::InvalidChange(_))
    ));
    assert!(matches!(
        store.apply_change(change(env.id, vec![])).await,
        Err(StoreError::InvalidChange(_))
    ));
    assert!(matches!(
        store
            .apply_change(change(env.id, vec![Op::Delete { path: "nope".into() }]))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list_state(env.id, None, true).await.unwrap(), before);
    assert_eq!(store.history(env.id, None, 10).await.unwrap().len(), 1);
}
