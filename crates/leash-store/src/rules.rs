//! The rules of a write that are not SQL, in one place, for every backend.
//!
//! A backend reads the stored state these functions need (an environment's
//! revision and recipients, a secret's head, the retained versions), asks them
//! what is allowed, and writes what they answer, all inside its transaction;
//! it never re-states a rule. So a new backend gets the empty-change and
//! repeated-path checks, CAS, the end-to-end recipient check, version
//! numbering, which versions a destroy names, and what an end-to-end update
//! must include and destroys, by calling these; the conformance suite checks
//! it did.
//!
//! Pure: no IO, no clock, and nothing here sees data (ciphertext is passed
//! through by the backend, never inspected). Errors are [`StoreError`]s that
//! name paths and numbers only.

use std::collections::{HashMap, HashSet};

use crate::model::{Action, AppliedEntry, E2eChange, NewChange, Op, Rewrap};
use crate::{Result, StoreError};

/// An environment as a change is checked against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvState {
    pub revision: i64,
    pub e2e_recipients: Option<Vec<String>>,
}

/// Checks a change set against its environment's stored state and returns the
/// revision the change will have (`revision + 1`). In order: at least one
/// operation, no path twice (`InvalidChange`); the expected revision
/// (`CasMismatch`); new values encrypted to exactly the environment's
/// end-to-end recipients, or ordinary values in an ordinary environment
/// (`E2eMismatch`).
pub(crate) fn check_change(change: &NewChange, env: &EnvState) -> Result<i64> {
    if change.ops.is_empty() {
        return Err(StoreError::InvalidChange(
            "a change must contain at least one operation".into(),
        ));
    }
    let mut seen = HashSet::with_capacity(change.ops.len());
    if let Some(dup) = change.ops.iter().map(Op::path).find(|p| !seen.insert(*p)) {
        return Err(StoreError::InvalidChange(format!(
            "path {dup} appears more than once in one change"
        )));
    }
    check_revision(change.expected_revision, env.revision)?;
    let sets_values = change.ops.iter().any(|op| matches!(op, Op::Set { .. }));
    if sets_values && change.e2e_recipients != env.e2e_recipients {
        return Err(StoreError::E2eMismatch {
            current: env.e2e_recipients.clone(),
        });
    }
    Ok(env.revision + 1)
}

/// `CasMismatch` unless the writer's expected revision (if it gave one) is the stored one.
pub(crate) fn check_revision(expected: Option<i64>, actual: i64) -> Result<()> {
    match expected {
        Some(expected) if expected != actual => Err(StoreError::CasMismatch { expected, actual }),
        _ => Ok(()),
    }
}

/// A secret as one operation sees it; `key` is whatever the backend needs to
/// write it back (a row id, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoredHead<K> {
    pub key: K,
    pub latest_version: i64,
    pub deleted: bool,
}

/// What a backend writes for one operation; every plan also records one
/// change entry ([`OpPlan::entry`]), and a `Set`'s plan (`Create`, `Append`)
/// one new version with the op's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpPlan<K> {
    /// A new secret: insert it with version 1.
    Create,
    /// A new version of the secret `key`: `version` = latest + 1; the secret is live again.
    Append { key: K, version: i64 },
    /// Mark the live secret `key` deleted.
    Delete { key: K },
    /// Mark the deleted secret `key` live; its latest version `version` is current again.
    Undelete { key: K, version: i64 },
}

impl<K> OpPlan<K> {
    /// What the change did to `path`, as its change entry records it.
    pub fn entry(&self, op: &Op) -> AppliedEntry {
        let (action, version) = match self {
            OpPlan::Create => (Action::Set, Some(1)),
            OpPlan::Append { version, .. } => (Action::Set, Some(*version)),
            OpPlan::Delete { .. } => (Action::Delete, None),
            OpPlan::Undelete { version, .. } => (Action::Undelete, Some(*version)),
        };
        let origin = match op {
            Op::Set { origin, .. } => origin.clone(),
            Op::Delete { .. } | Op::Undelete { .. } => None,
        };
        AppliedEntry {
            path: op.path().to_owned(),
            action,
            version,
            origin,
        }
    }
}

/// Decides what `op` does to a secret whose stored head is `head` (`None`: never written).
/// A `Set` must carry exactly the next version number (1 for a new path), else
/// `VersionConflict` (another writer got there first; the caller re-reads and
/// retries). A delete needs a live secret, an undelete a deleted one
/// (`InvalidChange`); both need one that exists (`NotFound`).
pub(crate) fn plan_op<K>(op: &Op, head: Option<StoredHead<K>>) -> Result<OpPlan<K>> {
    let Some(head) = head else {
        return match op {
            Op::Set { version: 1, .. } => Ok(OpPlan::Create),
            Op::Set { path, .. } => Err(StoreError::VersionConflict(path.clone())),
            Op::Delete { path } | Op::Undelete { path } => Err(StoreError::NotFound(format!("secret {path}"))),
        };
    };
    match op {
        Op::Set { version, .. } if head.latest_version + 1 == *version => Ok(OpPlan::Append {
            key: head.key,
            version: *version,
        }),
        Op::Set { path, .. } => Err(StoreError::VersionConflict(path.clone())),
        Op::Delete { .. } if !head.deleted => Ok(OpPlan::Delete { key: head.key }),
        Op::Delete { path } => Err(StoreError::InvalidChange(format!("secret {path} is already deleted"))),
        Op::Undelete { .. } if head.deleted => Ok(OpPlan::Undelete {
            key: head.key,
            version: head.latest_version,
        }),
        Op::Undelete { path } => Err(StoreError::InvalidChange(format!("secret {path} is not deleted"))),
    }
}

/// The version numbers a destroy of `path` (latest version `latest`) names:
/// each given one must exist (`NotFound` otherwise, naming the first that does
/// not), all of them when `None`.
pub(crate) fn destroy_targets(path: &str, latest: i64, versions: Option<&[i64]>) -> Result<Vec<i64>> {
    match versions {
        Some(list) => match list.iter().find(|v| **v < 1 || **v > latest) {
            Some(bad) => Err(StoreError::NotFound(format!("version {bad} of secret {path}"))),
            None => Ok(list.to_vec()),
        },
        None => Ok((1..=latest).collect()),
    }
}

/// One retained (not destroyed) version as an end-to-end update sees it;
/// `key` is whatever the backend needs to write it back (a row id, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetainedVersion<K> {
    pub key: K,
    pub path: String,
    pub version: i64,
    /// The current version of a live secret.
    pub current: bool,
    /// Holds end-to-end ciphertext.
    pub e2e: bool,
}

/// What an end-to-end update writes, once [`plan_e2e_update`] allowed it.
#[derive(Debug)]
pub(crate) struct E2ePlan<'a, K> {
    /// The revision the update is recorded as.
    pub revision: i64,
    /// Each re-encrypted version with the retained row it replaces.
    pub rewrap: Vec<(&'a Rewrap, &'a K)>,
    /// The retained versions to destroy (every one not re-encrypted, under a new recipient set).
    pub destroy: Vec<&'a K>,
}

/// Checks an end-to-end recipient change against the environment's revision
/// and its retained versions, and says what to write. In order: turning e2e
/// off takes no re-encryptions (`InvalidChange`); the expected revision
/// (`CasMismatch`); turning off needs no end-to-end ciphertext retained
/// (`E2eVersionsRetained`); no version re-encrypted twice (`InvalidChange`);
/// each re-encrypted version is retained (`NotFound`); under a new recipient
/// set, the current version of every live secret is re-encrypted
/// (`InvalidChange`), and every other retained version is destroyed, so
/// nothing stays readable by the old recipients.
pub(crate) fn plan_e2e_update<'a, K>(
    change: &'a E2eChange,
    revision: i64,
    retained: &'a [RetainedVersion<K>],
) -> Result<E2ePlan<'a, K>> {
    if change.recipients.is_none() && !change.rewrap.is_empty() {
        return Err(StoreError::InvalidChange(
            "turning end-to-end encryption off re-encrypts nothing".into(),
        ));
    }
    check_revision(Some(change.expected_revision), revision)?;
    if change.recipients.is_none() {
        let e2e = retained.iter().filter(|r| r.e2e).count() as i64;
        if e2e > 0 {
            return Err(StoreError::E2eVersionsRetained(e2e));
        }
    }
    let wanted: HashSet<(&str, i64)> = change.rewrap.iter().map(|r| (r.path.as_str(), r.version)).collect();
    if wanted.len() != change.rewrap.len() {
        return Err(StoreError::InvalidChange(
            "a version appears more than once in the re-encryption".into(),
        ));
    }
    let by_version: HashMap<(&str, i64), &RetainedVersion<K>> =
        retained.iter().map(|r| ((r.path.as_str(), r.version), r)).collect();
    let mut rewrap = Vec::with_capacity(change.rewrap.len());
    for rw in &change.rewrap {
        let Some(row) = by_version.get(&(rw.path.as_str(), rw.version)) else {
            return Err(StoreError::NotFound(format!(
                "retained version {} of secret {}",
                rw.version, rw.path
            )));
        };
        rewrap.push((rw, &row.key));
    }
    let mut destroy = Vec::new();
    if change.recipients.is_some() {
        let kept = |r: &RetainedVersion<K>| wanted.contains(&(r.path.as_str(), r.version));
        if let Some(missing) = retained.iter().find(|r| r.current && !kept(r)) {
            return Err(StoreError::InvalidChange(format!(
                "the re-encryption must include the current version of every secret; version {} of {} is missing",
                missing.version, missing.path
            )));
        }
        // A new recipient set leaves nothing readable by the old one; turning
        // e2e off keeps the (ordinary) versions as they are.
        destroy = retained.iter().filter(|r| !kept(r)).map(|r| &r.key).collect();
    }
    Ok(E2ePlan {
        revision: revision + 1,
        rewrap,
        destroy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sealed;

    fn set(path: &str, version: i64) -> Op {
        Op::Set {
            path: path.into(),
            version,
            key_id: 1,
            ciphertext: Sealed::from_stored(vec![0]),
            description: None,
            origin: None,
        }
    }

    fn change(ops: Vec<Op>) -> NewChange {
        NewChange {
            env_id: 1,
            expected_revision: None,
            actor: "t".into(),
            message: None,
            created_at: 0,
            ops,
            e2e_recipients: None,
        }
    }

    fn env(revision: i64) -> EnvState {
        EnvState {
            revision,
            e2e_recipients: None,
        }
    }

    /// The error's variant name, or `ok` and the value.
    fn outcome<T: std::fmt::Debug>(result: Result<T>) -> String {
        match result {
            Ok(v) => format!("ok {v:?}"),
            Err(e) => format!("{e:?}").split(['(', ' ']).next().unwrap_or_default().to_owned(),
        }
    }

    #[test]
    fn change_checks() {
        let check = |c: NewChange, e: EnvState, expected: &str| {
            assert_eq!(outcome(check_change(&c, &e)), expected, "{c:?}");
        };
        check(change(vec![]), env(0), "InvalidChange");
        check(change(vec![set("A", 1), set("A", 2)]), env(0), "InvalidChange");
        check(
            change(vec![set("A", 1), Op::Delete { path: "A".into() }]),
            env(0),
            "InvalidChange",
        );
        check(change(vec![set("A", 1), set("B", 1)]), env(4), "ok 5");
        check(
            NewChange {
                expected_revision: Some(3),
                ..change(vec![set("A", 1)])
            },
            env(4),
            "CasMismatch",
        );
        check(
            NewChange {
                expected_revision: Some(4),
                ..change(vec![set("A", 1)])
            },
            env(4),
            "ok 5",
        );
        let e2e = EnvState {
            revision: 0,
            e2e_recipients: Some(vec!["age1x".into()]),
        };
        check(change(vec![set("A", 1)]), e2e.clone(), "E2eMismatch");
        check(change(vec![Op::Delete { path: "A".into() }]), e2e.clone(), "ok 1");
        check(
            NewChange {
                e2e_recipients: Some(vec!["age1x".into()]),
                ..change(vec![set("A", 1)])
            },
            e2e,
            "ok 1",
        );
        check(
            NewChange {
                e2e_recipients: Some(vec!["age1x".into()]),
                ..change(vec![set("A", 1)])
            },
            env(0),
            "E2eMismatch",
        );
    }

    #[test]
    fn op_plans() {
        let live = |latest_version| {
            Some(StoredHead {
                key: 'k',
                latest_version,
                deleted: false,
            })
        };
        let deleted = |latest_version| {
            Some(StoredHead {
                key: 'k',
                latest_version,
                deleted: true,
            })
        };
        let check = |op: Op, head: Option<StoredHead<char>>, expected: &str| {
            assert_eq!(outcome(plan_op(&op, head)), expected, "{op:?} on {head:?}");
        };
        check(set("A", 1), None, "ok Create");
        check(set("A", 2), None, "VersionConflict");
        check(set("A", 3), live(2), "ok Append { key: 'k', version: 3 }");
        check(set("A", 3), deleted(2), "ok Append { key: 'k', version: 3 }");
        check(set("A", 2), live(2), "VersionConflict");
        check(set("A", 1), live(2), "VersionConflict");
        check(Op::Delete { path: "A".into() }, live(2), "ok Delete { key: 'k' }");
        check(Op::Delete { path: "A".into() }, deleted(2), "InvalidChange");
        check(Op::Delete { path: "A".into() }, None, "NotFound");
        check(
            Op::Undelete { path: "A".into() },
            deleted(2),
            "ok Undelete { key: 'k', version: 2 }",
        );
        check(Op::Undelete { path: "A".into() }, live(2), "InvalidChange");
        check(Op::Undelete { path: "A".into() }, None, "NotFound");
        let set = Op::Set {
            path: "A".into(),
            version: 1,
            key_id: 1,
            ciphertext: Sealed::from_stored(vec![0]),
            description: None,
            origin: Some("elsewhere".into()),
        };
        assert_eq!(OpPlan::<()>::Create.entry(&set).version, Some(1));
        assert_eq!(OpPlan::<()>::Create.entry(&set).origin.as_deref(), Some("elsewhere"));
        let delete = Op::Delete { path: "A".into() };
        assert_eq!(OpPlan::Delete { key: () }.entry(&delete).action, Action::Delete);
        assert_eq!(
            OpPlan::Undelete { key: (), version: 4 }.entry(&Op::Undelete { path: "A".into() }),
            AppliedEntry {
                path: "A".into(),
                action: Action::Undelete,
                version: Some(4),
                origin: None,
            }
        );
    }

    #[test]
    fn destroy_names_existing_versions_only() {
        assert_eq!(destroy_targets("A", 3, None).unwrap(), [1, 2, 3]);
        assert_eq!(destroy_targets("A", 3, Some(&[3, 1])).unwrap(), [3, 1]);
        assert_eq!(outcome(destroy_targets("A", 3, Some(&[1, 4]))), "NotFound");
        assert_eq!(outcome(destroy_targets("A", 3, Some(&[0]))), "NotFound");
    }

    fn retained(path: &str, version: i64, current: bool, e2e: bool) -> RetainedVersion<(String, i64)> {
        RetainedVersion {
            key: (path.to_owned(), version),
            path: path.into(),
            version,
            current,
            e2e,
        }
    }

    fn rewrap(path: &str, version: i64) -> Rewrap {
        Rewrap {
            path: path.into(),
            version,
            key_id: 1,
            ciphertext: Sealed::from_stored(vec![1]),
        }
    }

    fn e2e_change(recipients: Option<&str>, rewrap: Vec<Rewrap>) -> E2eChange {
        E2eChange {
            env_id: 1,
            expected_revision: 7,
            actor: "t".into(),
            message: None,
            created_at: 0,
            recipients: recipients.map(|r| vec![r.to_owned()]),
            rewrap,
        }
    }

    #[test]
    fn e2e_update_plans() {
        // A1 old, A2 current, B1 of a deleted secret.
        let stored = [
            retained("A", 1, false, false),
            retained("A", 2, true, false),
            retained("B", 1, false, false),
        ];
        let check = |change: E2eChange, revision: i64, rows: &[RetainedVersion<(String, i64)>], expected: &str| {
            let got = plan_e2e_update(&change, revision, rows).map(|p| {
                let rewrap: Vec<_> = p.rewrap.iter().map(|(_, k)| (*k).clone()).collect();
                let destroy: Vec<_> = p.destroy.into_iter().cloned().collect();
                (p.revision, rewrap, destroy)
            });
            assert_eq!(outcome(got), expected, "{change:?}");
        };
        check(
            e2e_change(Some("age1x"), vec![rewrap("A", 2)]),
            7,
            &stored,
            r#"ok (8, [("A", 2)], [("A", 1), ("B", 1)])"#,
        );
        check(
            e2e_change(Some("age1x"), vec![rewrap("A", 2), rewrap("B", 1)]),
            7,
            &stored,
            r#"ok (8, [("A", 2), ("B", 1)], [("A", 1)])"#,
        );
        check(e2e_change(Some("age1x"), vec![]), 7, &stored, "InvalidChange");
        check(
            e2e_change(Some("age1x"), vec![rewrap("A", 1)]),
            7,
            &stored,
            "InvalidChange",
        );
        check(
            e2e_change(Some("age1x"), vec![rewrap("A", 2)]),
            6,
            &stored,
            "CasMismatch",
        );
        check(
            e2e_change(Some("age1x"), vec![rewrap("A", 2), rewrap("A", 2)]),
            7,
            &stored,
            "InvalidChange",
        );
        check(
            e2e_change(Some("age1x"), vec![rewrap("A", 2), rewrap("C", 1)]),
            7,
            &stored,
            "NotFound",
        );
        check(e2e_change(None, vec![rewrap("A", 2)]), 7, &stored, "InvalidChange");
        check(e2e_change(None, vec![]), 7, &stored, "ok (8, [], [])");
        let sealed_e2e = [retained("A", 2, true, true), retained("B", 1, false, true)];
        check(e2e_change(None, vec![]), 7, &sealed_e2e, "E2eVersionsRetained");
        check(e2e_change(Some("age1x"), vec![]), 7, &[], "ok (8, [], [])");
    }
}
