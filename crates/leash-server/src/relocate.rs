//! Moving and copying secrets on the server, without the value ever leaving
//! it: the current version of each source is decrypted here, in memory
//! (zeroizing), and sealed again under its new address (the barrier binds a
//! ciphertext to its project, environment, path and version, so a copy of
//! the bytes would not open elsewhere).
//!
//! A move is one change of its environment: a new version at each
//! destination (with the origin it came from, kept in the history) and a
//! delete of each source. A copy is one change of the destination
//! environment. A folder form (`db/` to `database/`) takes every live secret
//! under the folder that the caller may `list`.
//!
//! This module plans; it never decides authorization (the route checks the
//! plan's touches through `authz`, and only an `Authorized` change set is
//! written) and never logs, returns or stores a value in plaintext.

use std::collections::BTreeSet;

use leash_core::api::{ChangeResult, Origin, OriginKind};
use leash_core::e2e::Recipients;
use leash_core::names::{PathPrefix, SecretPath};
use leash_store::VersionRow;

use crate::authz::{Authorized, Capability, Touches, Visibility};
use crate::barrier::Keys;
use crate::error::ApiError;
use crate::service::{self, ChangeSet, EnvRef, WriteMeta, WriteOp};
use crate::state::Domain;

/// What to relocate: one secret, or every secret under a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    One { from: SecretPath, to: SecretPath },
    Folder { from: PathPrefix, to: PathPrefix },
}

impl Selection {
    /// Parses `from` and `to`: both end with `/` (folders) or neither does (one secret).
    pub fn parse(from: &str, to: &str) -> Result<Self, ApiError> {
        match (from.ends_with('/'), to.ends_with('/')) {
            (true, true) => Ok(Selection::Folder {
                from: PathPrefix::parse(from)?,
                to: PathPrefix::parse(to)?,
            }),
            (false, false) => Ok(Selection::One {
                from: SecretPath::parse(from)?,
                to: SecretPath::parse(to)?,
            }),
            _ => Err(ApiError::bad_request(format!(
                "{from:?} and {to:?}: end both with `/` to relocate a folder, or neither for one secret"
            ))),
        }
    }

    /// The path (or folder) the caller names as the source, for the audit record.
    pub fn source(&self) -> &str {
        match self {
            Selection::One { from, .. } => from.as_str(),
            Selection::Folder { from, .. } => from.as_str(),
        }
    }

    /// Where `path` (a source under this selection) goes.
    fn destination(&self, path: &SecretPath) -> Result<SecretPath, ApiError> {
        match self {
            Selection::One { to, .. } => Ok(to.clone()),
            Selection::Folder { from, to } => {
                let rest = match from.as_str() {
                    "" => path.as_str(),
                    f => &path.as_str()[f.len() + 1..],
                };
                Ok(SecretPath::parse(&match to.as_str() {
                    "" => rest.to_owned(),
                    t => format!("{t}/{rest}"),
                })?)
            }
        }
    }

    fn covers(&self, path: &SecretPath) -> bool {
        match self {
            Selection::One { from, .. } => path == from,
            // The folder's own name is a secret beside it, not in it.
            Selection::Folder { from, .. } => path.is_in(from) && path.as_str() != from.as_str(),
        }
    }

    /// Refuses a relocation onto itself, or (in one environment) between
    /// nested folders, where a destination could also be a source.
    fn check_within_one_env(&self) -> Result<(), ApiError> {
        let nested = match self {
            Selection::One { from, to } => from == to,
            Selection::Folder { from, to } => {
                let (f, t) = (from.as_str(), to.as_str());
                let inside = |a: &str, b: &str| b.is_empty() || a == b || a.starts_with(&format!("{b}/"));
                inside(f, t) || inside(t, f)
            }
        };
        if nested {
            return Err(ApiError::bad_request(format!(
                "{} cannot be relocated into itself or a folder nested with it in the same environment",
                self.source()
            )));
        }
        Ok(())
    }
}

/// Whether the secrets leave their paths (move) or stay (copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Move,
    Copy,
}

/// A planned relocation: the change set for the destination environment
/// (for a move, also the deletes of the sources), and the sources' revision.
pub struct Plan {
    pub ops: ChangeSet,
    /// The source environment's revision the values were read at.
    pub planned_at: i64,
    /// The source paths, for the `read` check of a copy.
    pub sources: Vec<SecretPath>,
    /// The end-to-end recipients the values are encrypted to (`None`: ordinary values).
    pub e2e_recipients: Option<Vec<String>>,
}

impl Touches for Plan {
    fn touches(&self) -> Vec<(Capability, &str)> {
        self.ops.touches()
    }
}

/// The `read` a copy needs on each source (in the source environment).
pub struct CopySources<'a>(pub &'a [SecretPath]);

impl Touches for CopySources<'_> {
    fn touches(&self) -> Vec<(Capability, &str)> {
        self.0.iter().map(|p| (Capability::Read, p.as_str())).collect()
    }
}

/// Where the relocated secrets come from and go to.
pub struct Ends<'a> {
    pub source: &'a EnvRef,
    pub dest: &'a EnvRef,
}

impl Ends<'_> {
    fn same_env(&self) -> bool {
        self.source.row.id == self.dest.row.id
    }
}

/// The recipients the destination write declares: the values are copied as
/// stored, so end-to-end values may only go where the same recipients hold.
fn destination_recipients(ends: &Ends<'_>, rows: &[&VersionRow]) -> Result<Option<Vec<String>>, ApiError> {
    let source = ends.source.row.e2e_recipients.as_ref();
    let dest = ends.dest.row.e2e_recipients.as_ref();
    let any_e2e = rows.iter().any(|r| r.e2e);
    let same = |a: &Vec<String>, b: &Vec<String>| Recipients::parse(a).ok() == Recipients::parse(b).ok();
    match (any_e2e, source, dest) {
        (false, _, None) => Ok(None),
        (true, Some(s), Some(d)) if rows.iter().all(|r| r.e2e) && same(s, d) => Ok(Some(d.clone())),
        (true, _, _) => Err(ApiError::bad_request(format!(
            "the values in {}/{} are end-to-end encrypted and {}/{} does not have the same recipients: \
             the server cannot re-encrypt them; copy them with a client that holds an identity \
             (`leash export` then `leash import`); nothing was changed",
            ends.source.project, ends.source.env, ends.dest.project, ends.dest.env
        ))),
        (false, _, Some(_)) => Err(ApiError::bad_request(format!(
            "{}/{} is end-to-end encrypted: the server cannot encrypt values to its recipients; \
             copy them with a client (`leash export` then `leash import`); nothing was changed",
            ends.dest.project, ends.dest.env
        ))),
    }
}

/// Plans relocating `selection` from `ends.source` to `ends.dest`: reads the
/// current version of the named secret, or of each secret under the folder
/// that the caller may `list` (`listed`), and checks the destinations.
/// Nothing is written.
pub async fn plan(
    state: &Domain,
    keys: &Keys,
    ends: &Ends<'_>,
    selection: &Selection,
    mode: Mode,
    overwrite: bool,
    listed: &Visibility<'_>,
) -> Result<Plan, ApiError> {
    if ends.same_env() {
        selection.check_within_one_env()?;
    }
    let (planned_at, rows) = state.store.list_state(ends.source.row.id, None, true).await?;
    let mut chosen: Vec<(SecretPath, &VersionRow)> = Vec::new();
    for row in &rows {
        let path = SecretPath::parse(&row.path)?;
        // One secret is named (and its touches authorized) by the caller; a
        // folder takes only what the caller may list in it.
        let named = matches!(selection, Selection::One { .. });
        if selection.covers(&path) && (named || listed.shows(path.as_str())) {
            chosen.push((path, row));
        }
    }
    if chosen.is_empty() {
        let what = match selection {
            Selection::One { from, .. } => format!("secret {from}"),
            Selection::Folder { from, .. } => format!("no secret under {}/", from.as_str()),
        };
        return Err(ApiError::not_found(format!(
            "{what} not found in {}/{}",
            ends.source.project, ends.source.env
        )));
    }
    let destinations: Vec<SecretPath> = chosen
        .iter()
        .map(|(path, _)| selection.destination(path))
        .collect::<Result<_, _>>()?;
    check_destinations(state, ends, &destinations, overwrite).await?;
    if mode == Mode::Move {
        check_no_rotation(state, ends.source, &chosen).await?;
    }
    let e2e_recipients = destination_recipients(ends, &chosen.iter().map(|(_, r)| *r).collect::<Vec<_>>())?;
    let kind = match mode {
        Mode::Move => OriginKind::Moved,
        Mode::Copy => OriginKind::Copied,
    };
    let mut ops = Vec::with_capacity(chosen.len() * 2);
    for ((path, row), to) in chosen.iter().zip(destinations) {
        if row.destroyed || row.ciphertext.is_none() {
            return Err(ApiError::conflict(format!(
                "the current version ({}) of {path} was destroyed; there is no value to relocate",
                row.version
            )));
        }
        ops.push(WriteOp::Set {
            path: to,
            value: service::decrypt(keys, ends.source, row)?,
            description: row.description.clone(),
            origin: Some(Origin {
                kind,
                project: ends.source.project.as_str().to_owned(),
                env: ends.source.env.as_str().to_owned(),
                path: path.as_str().to_owned(),
                version: row.version,
            }),
        });
    }
    if mode == Mode::Move {
        ops.extend(chosen.iter().map(|(path, _)| WriteOp::Delete { path: path.clone() }));
    }
    Ok(Plan {
        ops,
        planned_at,
        sources: chosen.into_iter().map(|(path, _)| path).collect(),
        e2e_recipients,
    })
}

/// Refuses destinations that hold a live secret, unless `overwrite`.
async fn check_destinations(
    state: &Domain,
    ends: &Ends<'_>,
    destinations: &[SecretPath],
    overwrite: bool,
) -> Result<(), ApiError> {
    let mut seen = BTreeSet::new();
    for to in destinations {
        if !seen.insert(to.as_str()) {
            return Err(ApiError::bad_request(format!("two secrets would be relocated to {to}")));
        }
    }
    if overwrite {
        return Ok(());
    }
    let paths: Vec<String> = destinations.iter().map(|p| p.as_str().to_owned()).collect();
    let heads = state.store.heads(ends.dest.row.id, &paths).await?;
    if let Some(live) = heads.iter().find(|h| !h.deleted) {
        return Err(ApiError::conflict(format!(
            "secret {} already exists in {}/{}; pass overwrite (`--overwrite`) to replace it; nothing was changed",
            live.path, ends.dest.project, ends.dest.env
        )));
    }
    Ok(())
}

/// A moved secret would leave its rotation policy behind: refuse, naming it.
async fn check_no_rotation(state: &Domain, env: &EnvRef, chosen: &[(SecretPath, &VersionRow)]) -> Result<(), ApiError> {
    for (path, _) in chosen {
        if state.store.rotation_get(env.row.id, path.as_str()).await?.is_some() {
            return Err(ApiError::conflict(format!(
                "secret {path} has a rotation policy; remove it (`leash rotation remove {path}`), move the secret, \
                 and set the policy on the new path; nothing was changed"
            )));
        }
    }
    Ok(())
}

/// Writes an authorized plan into `dest` as one change. A move also checks
/// that its environment is still at the revision the values were read at
/// (so the paths authorized and read are the paths changed).
pub async fn apply(
    state: &Domain,
    keys: &Keys,
    ends: &Ends<'_>,
    plan: Authorized<Plan>,
    meta: WriteMeta<'_>,
) -> Result<ChangeResult, ApiError> {
    let same_env = ends.same_env();
    let planned_at = plan.get().planned_at;
    let e2e_recipients = plan.get().e2e_recipients.clone();
    let cas = if same_env {
        if let Some(cas) = meta.cas
            && cas != planned_at
        {
            return Err(leash_store::StoreError::CasMismatch {
                expected: cas,
                actual: planned_at,
            }
            .into());
        }
        Some(planned_at)
    } else {
        meta.cas
    };
    let meta = WriteMeta {
        cas,
        e2e_recipients,
        ..meta
    };
    service::write(state, keys, ends.dest, plan.map(|p| p.ops), meta).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> SecretPath {
        SecretPath::parse(s).unwrap()
    }

    #[test]
    fn folders_and_single_paths_are_told_apart() {
        assert!(matches!(
            Selection::parse("db/", "database/"),
            Ok(Selection::Folder { .. })
        ));
        assert!(matches!(Selection::parse("A", "B"), Ok(Selection::One { .. })));
        assert!(Selection::parse("db/", "B").is_err());
        assert!(Selection::parse("A", "b/").is_err());
        assert!(Selection::parse("../x", "B").is_err());
    }

    #[test]
    fn folder_destinations_keep_the_rest_of_the_path() {
        let s = Selection::parse("db/", "database/main/").unwrap();
        assert!(s.covers(&path("db/URL")));
        assert!(s.covers(&path("db/replica/URL")));
        assert!(!s.covers(&path("dbx/URL")));
        assert!(!s.covers(&path("db")), "a secret named like the folder is beside it");
        assert_eq!(
            s.destination(&path("db/replica/URL")).unwrap(),
            path("database/main/replica/URL")
        );
        let whole = Selection::parse("/", "/").unwrap();
        assert!(whole.covers(&path("A")));
        assert_eq!(whole.destination(&path("x/A")).unwrap(), path("x/A"));
        let up = Selection::parse("legacy/", "/").unwrap();
        assert_eq!(up.destination(&path("legacy/A")).unwrap(), path("A"));
    }

    #[test]
    fn nested_folders_in_one_environment_are_refused() {
        for (from, to) in [
            ("db/", "db/old/"),
            ("db/old/", "db/"),
            ("db/", "db/"),
            ("/", "x/"),
            ("A", "A"),
        ] {
            let s = Selection::parse(from, to).unwrap();
            assert!(s.check_within_one_env().is_err(), "{from} -> {to}");
        }
        for (from, to) in [("db/", "dbx/"), ("db/", "database/"), ("A", "B")] {
            assert!(
                Selection::parse(from, to).unwrap().check_within_one_env().is_ok(),
                "{from} -> {to}"
            );
        }
    }
}
