//! A Vault secret as a folder of Leash keys, and the changes Vault's KV
//! operations make to it.
//!
//! Versions: every environment revision that wrote a value to a key directly
//! in the folder is one version of the secret, numbered from 1 in revision
//! order. Version `v`'s data is the folder's keys as of that revision (a
//! point-in-time read). The current version is deleted when every key of the
//! folder is deleted (Vault's soft delete of the latest version); a version is
//! destroyed when the key versions its revision wrote are destroyed. Deleting
//! or undeleting is a change of the environment but not a new version, as in Vault.
//!
//! Plans are change sets for `service::write` (after `authz`); nothing here
//! writes or authorizes.

use std::collections::{BTreeMap, BTreeSet};

use leash_core::names::SecretPath;
use leash_store::{SecretHead, Selector, VersionRow};
use zeroize::Zeroizing;

use super::KvAddress;
use crate::barrier::Keys;
use crate::error::{ApiError, ErrorKind};
use crate::service::{self, ChangeSet, EnvRef, WriteOp};
use crate::state::Domain;

/// One key directly in the folder: its state and every version (no ciphertext).
pub struct FolderKey {
    pub path: SecretPath,
    pub head: SecretHead,
    pub versions: Vec<VersionRow>,
}

/// One version of the Vault secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderVersion {
    pub number: i64,
    /// The environment revision that wrote it.
    pub revision: i64,
    pub created_at: i64,
    /// Every key version its revision wrote is destroyed.
    pub destroyed: bool,
}

/// A Vault secret's state, read from storage.
pub struct Folder {
    pub keys: Vec<FolderKey>,
    pub versions: Vec<FolderVersion>,
    /// The keys the current version holds (live at its revision, at the version that is still their latest).
    pub current_keys: BTreeSet<SecretPath>,
}

/// What a Vault read of one version finds.
pub enum VersionRead {
    /// The version's keys and values.
    Data(BTreeMap<String, Zeroizing<String>>),
    /// The version is (soft) deleted, since this time (ms).
    Deleted(i64),
    /// The version's values were destroyed.
    Destroyed,
}

impl Folder {
    /// Reads the keys directly in `address`'s folder and their versions.
    pub async fn load(state: &Domain, env: &EnvRef, address: &KvAddress) -> Result<Folder, ApiError> {
        let paths = state.store.secret_paths(env.row.id).await?;
        let mut keys = Vec::new();
        for path in paths.into_iter().filter(|p| address.holds(p)) {
            if let Some((head, versions)) = state.store.secret_versions(env.row.id, &path).await? {
                keys.push(FolderKey {
                    path: SecretPath::parse(&path)?,
                    head,
                    versions,
                });
            }
        }
        let versions = versions_of(&keys);
        let mut current_keys = BTreeSet::new();
        if let Some(current) = versions.last() {
            for key in &keys {
                let then = state
                    .store
                    .read_version(env.row.id, key.path.as_str(), Selector::AtRevision(current.revision))
                    .await?;
                if then.is_some_and(|row| row.version == key.head.latest_version) {
                    current_keys.insert(key.path.clone());
                }
            }
        }
        Ok(Folder {
            keys,
            versions,
            current_keys,
        })
    }

    /// Whether the secret exists for Vault: some key still has a live or retained version.
    pub fn exists(&self) -> bool {
        self.keys
            .iter()
            .any(|k| !k.head.deleted || k.versions.iter().any(|v| !v.destroyed))
    }

    /// The current version's number (0 when there is none).
    pub fn current_number(&self) -> i64 {
        self.versions.last().map_or(0, |v| v.number)
    }

    pub fn version(&self, number: i64) -> Option<&FolderVersion> {
        self.versions.iter().find(|v| v.number == number)
    }

    /// When the current version was deleted, if it is: every key is deleted.
    pub fn deleted_at(&self) -> Option<i64> {
        let all_deleted = !self.keys.is_empty() && self.keys.iter().all(|k| k.head.deleted);
        all_deleted.then(|| self.keys.iter().map(|k| k.head.updated_at).max().unwrap_or(0))
    }

    /// When version `v` was deleted (only the current version can be).
    pub fn deletion_of(&self, v: &FolderVersion) -> Option<i64> {
        (v.number == self.current_number()).then(|| self.deleted_at()).flatten()
    }

    /// The oldest version still kept under `max_versions` (0: all kept).
    pub fn oldest_kept(&self, max_versions: u32) -> i64 {
        let current = self.current_number();
        match max_versions {
            0 => self.versions.first().map_or(0, |v| v.number),
            max => (current - i64::from(max) + 1).max(1).min(current),
        }
    }

    /// The keys live as of version `v`'s revision, with their version then (no values).
    pub async fn keys_at(
        &self,
        state: &Domain,
        env: &EnvRef,
        v: &FolderVersion,
    ) -> Result<Vec<(SecretPath, VersionRow)>, ApiError> {
        let mut out = Vec::new();
        for key in &self.keys {
            if let Some(row) = state
                .store
                .read_version(env.row.id, key.path.as_str(), Selector::AtRevision(v.revision))
                .await?
            {
                out.push((key.path.clone(), row));
            }
        }
        Ok(out)
    }

    /// Reads version `v`: its data, or why there is none.
    pub async fn read(
        &self,
        state: &Domain,
        keyring: &Keys,
        env: &EnvRef,
        v: &FolderVersion,
    ) -> Result<VersionRead, ApiError> {
        if let Some(at) = self.deletion_of(v) {
            return Ok(VersionRead::Deleted(at));
        }
        if v.destroyed {
            return Ok(VersionRead::Destroyed);
        }
        let mut data = BTreeMap::new();
        for (path, row) in self.keys_at(state, env, v).await? {
            if row.destroyed {
                return Ok(VersionRead::Destroyed);
            }
            data.insert(path.key().to_owned(), service::decrypt(keyring, env, &row)?);
        }
        Ok(VersionRead::Data(data))
    }

    /// The change set of a Vault write of `data`: a new version of every key
    /// given, and the delete of every live key left out (a write replaces the
    /// secret's whole key set).
    pub fn plan_write(
        &self,
        address: &KvAddress,
        data: BTreeMap<String, Zeroizing<String>>,
    ) -> Result<ChangeSet, ApiError> {
        if data.is_empty() {
            return Err(ApiError::bad_request(
                "the secret has no keys: a Vault secret in Leash is the keys of a folder, so give at least one",
            ));
        }
        let mut ops = ChangeSet::new();
        let mut given = BTreeSet::new();
        for (key, value) in data {
            let path = address.key(&key)?;
            given.insert(path.clone());
            ops.push(WriteOp::Set {
                path,
                value,
                description: None,
                origin: None,
            });
        }
        for key in self.keys.iter().filter(|k| !k.head.deleted && !given.contains(&k.path)) {
            ops.push(WriteOp::Delete { path: key.path.clone() });
        }
        Ok(ops)
    }

    /// The change set of a JSON merge patch: a new version of every key given
    /// a value, the delete of every live key given `null`; other keys stay as
    /// they are. Only the current, live version can be patched.
    pub fn plan_patch(
        &self,
        address: &KvAddress,
        patch: BTreeMap<String, Option<Zeroizing<String>>>,
    ) -> Result<ChangeSet, ApiError> {
        if self.current_number() == 0 || self.deleted_at().is_some() || !self.exists() {
            return Err(ApiError::not_found(
                "no live version of this secret to patch; write it first",
            ));
        }
        let mut ops = ChangeSet::new();
        for (key, value) in patch {
            let path = address.key(&key)?;
            match value {
                Some(value) => ops.push(WriteOp::Set {
                    path,
                    value,
                    description: None,
                    origin: None,
                }),
                None => {
                    if self.keys.iter().any(|k| k.path == path && !k.head.deleted) {
                        ops.push(WriteOp::Delete { path });
                    }
                }
            }
        }
        let live_after = self
            .keys
            .iter()
            .filter(|k| !k.head.deleted)
            .filter(|k| {
                !ops.iter()
                    .any(|op| matches!(op, WriteOp::Delete { path } if *path == k.path))
            })
            .count()
            + ops.iter().filter(|op| matches!(op, WriteOp::Set { .. })).count();
        if live_after == 0 {
            return Err(ApiError::bad_request(
                "the patch would remove every key; delete the secret instead",
            ));
        }
        Ok(ops)
    }

    /// The change set that soft-deletes the current version: the delete of
    /// every live key (empty when it is deleted already).
    pub fn plan_delete(&self) -> ChangeSet {
        self.keys
            .iter()
            .filter(|k| !k.head.deleted)
            .map(|k| WriteOp::Delete { path: k.path.clone() })
            .collect()
    }

    /// The change set that undeletes `versions`: only the current version can
    /// be deleted, so only it can be undeleted (the others are no-ops, as in
    /// Vault): its keys come back.
    pub fn plan_undelete(&self, versions: &[i64]) -> ChangeSet {
        if !versions.contains(&self.current_number()) || self.deleted_at().is_none() {
            return ChangeSet::new();
        }
        self.keys
            .iter()
            .filter(|k| k.head.deleted && self.current_keys.contains(&k.path))
            .map(|k| WriteOp::Undelete { path: k.path.clone() })
            .collect()
    }

    /// Checks a `delete/` request: Leash soft-deletes only the current version.
    pub fn check_delete_versions(&self, versions: &[i64]) -> Result<(), ApiError> {
        let current = self.current_number();
        match versions.iter().find(|v| **v != current) {
            Some(v) => Err(ApiError::new(
                ErrorKind::InvalidInput,
                "unsupported",
                format!(
                    "Leash soft-deletes only a secret's current version ({current}), not version {v}: \
                     destroy older versions with destroy/, or delete the current one"
                ),
            )),
            None => Ok(()),
        }
    }

    /// The key versions that destroying `versions` wipes: those their revisions wrote.
    pub fn destroy_targets(&self, versions: &[i64]) -> Vec<(SecretPath, Vec<i64>)> {
        let revisions: BTreeSet<i64> = self
            .versions
            .iter()
            .filter(|v| versions.contains(&v.number))
            .map(|v| v.revision)
            .collect();
        self.keys
            .iter()
            .filter_map(|k| {
                let numbers: Vec<i64> = k
                    .versions
                    .iter()
                    .filter(|v| revisions.contains(&v.revision) && !v.destroyed)
                    .map(|v| v.version)
                    .collect();
                (!numbers.is_empty()).then(|| (k.path.clone(), numbers))
            })
            .collect()
    }

    /// The version numbers below the oldest one `max_versions` keeps, not destroyed yet.
    pub fn beyond(&self, max_versions: u32) -> Vec<i64> {
        if max_versions == 0 {
            return Vec::new();
        }
        let oldest = self.oldest_kept(max_versions);
        self.versions
            .iter()
            .filter(|v| v.number < oldest && !v.destroyed)
            .map(|v| v.number)
            .collect()
    }
}

/// The Vault versions the keys' versions make: one per revision that wrote one of them.
fn versions_of(keys: &[FolderKey]) -> Vec<FolderVersion> {
    let mut by_revision: BTreeMap<i64, (i64, bool)> = BTreeMap::new();
    for row in keys.iter().flat_map(|k| &k.versions) {
        let entry = by_revision.entry(row.revision).or_insert((row.created_at, true));
        entry.0 = entry.0.min(row.created_at);
        entry.1 &= row.destroyed;
    }
    by_revision
        .into_iter()
        .enumerate()
        .map(|(i, (revision, (created_at, destroyed)))| FolderVersion {
            number: i as i64 + 1,
            revision,
            created_at,
            destroyed,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path: &str, version: i64, revision: i64, destroyed: bool) -> VersionRow {
        VersionRow {
            path: path.to_owned(),
            version,
            revision,
            key_id: 1,
            ciphertext: None,
            destroyed,
            actor: "t".to_owned(),
            created_at: revision * 1000,
            description: None,
            e2e: false,
            origin: None,
        }
    }

    fn key(path: &str, deleted: bool, versions: Vec<VersionRow>) -> FolderKey {
        FolderKey {
            path: SecretPath::parse(path).unwrap(),
            head: SecretHead {
                path: path.to_owned(),
                description: None,
                latest_version: versions.last().map_or(0, |v| v.version),
                deleted,
                updated_at: 9000,
                previous_withdrawn_for: None,
            },
            versions,
        }
    }

    fn folder(keys: Vec<FolderKey>) -> Folder {
        let versions = versions_of(&keys);
        let current_keys = keys.iter().map(|k| k.path.clone()).collect();
        Folder {
            keys,
            versions,
            current_keys,
        }
    }

    #[test]
    fn versions_are_the_revisions_that_wrote_a_key() {
        // r2 wrote user+pw, r5 wrote pw, r7 wrote user (r3/r4 were elsewhere in the environment)
        let f = folder(vec![
            key(
                "db/user",
                false,
                vec![row("db/user", 1, 2, false), row("db/user", 2, 7, false)],
            ),
            key(
                "db/pw",
                false,
                vec![row("db/pw", 1, 2, true), row("db/pw", 2, 5, false)],
            ),
        ]);
        let numbers: Vec<_> = f.versions.iter().map(|v| (v.number, v.revision)).collect();
        assert_eq!(numbers, vec![(1, 2), (2, 5), (3, 7)]);
        assert_eq!(f.current_number(), 3);
        // version 1's revision wrote two key versions; only one is destroyed
        assert!(!f.versions[0].destroyed);
        assert_eq!(f.deleted_at(), None);
        assert_eq!(
            f.destroy_targets(&[1]),
            vec![(SecretPath::parse("db/user").unwrap(), vec![1])]
        );
        assert_eq!(f.oldest_kept(2), 2);
        assert_eq!(f.beyond(2), vec![1]);
        assert_eq!(f.oldest_kept(0), 1);
        assert!(f.check_delete_versions(&[3]).is_ok() && f.check_delete_versions(&[1]).is_err());
    }

    #[test]
    fn every_key_deleted_is_the_current_version_deleted() {
        let f = folder(vec![
            key("a", true, vec![row("a", 1, 1, false)]),
            key("b", true, vec![row("b", 1, 1, false)]),
        ]);
        assert_eq!(f.deleted_at(), Some(9000));
        assert!(f.exists());
        assert!(f.plan_delete().is_empty());
        assert_eq!(f.plan_undelete(&[1]).len(), 2);
        assert!(f.plan_undelete(&[2]).is_empty());
        let gone = folder(vec![key("a", true, vec![row("a", 1, 1, true)])]);
        assert!(!gone.exists());
    }

    #[test]
    fn a_write_replaces_the_key_set() {
        let address = KvAddress::parse("kv", "prod/db").unwrap();
        let f = folder(vec![
            key("db/user", false, vec![row("db/user", 1, 1, false)]),
            key("db/old", false, vec![row("db/old", 1, 1, false)]),
            key("db/gone", true, vec![row("db/gone", 1, 1, false)]),
        ]);
        let data = BTreeMap::from([("user".to_owned(), Zeroizing::new("u".to_owned()))]);
        let ops = f.plan_write(&address, data).unwrap();
        let summary: Vec<_> = ops
            .iter()
            .map(|op| (matches!(op, WriteOp::Set { .. }), op.path().as_str().to_owned()))
            .collect();
        assert_eq!(
            summary,
            vec![(true, "db/user".to_owned()), (false, "db/old".to_owned())]
        );
        assert!(f.plan_write(&address, BTreeMap::new()).is_err());
        let patch = BTreeMap::from([("user".to_owned(), None), ("old".to_owned(), None)]);
        assert!(
            f.plan_patch(&address, patch).is_err(),
            "a patch removing every key is refused"
        );
    }
}
