//! The environment diff: which secret paths two environments hold, their
//! current versions and last changes, and whether their values are equal.
//!
//! Values are compared here, on the server, by HMAC-SHA256 under a key made
//! fresh for each diff and dropped (zeroized) with it; the key and the MACs
//! never leave this function, and the decrypted values are zeroized as soon
//! as they are MAC'd. The answer carries one verdict per path (`same` or
//! `different`), never a value or a hash of one.
//!
//! Who sees what is decided by the caller's [`DiffAccess`] (built by the
//! route from `authz::Visibility`): a path appears only where the caller may
//! `list` it; its values are compared only when the caller may `read` it in
//! both environments (equality is one bit about both values), else it is
//! `unknown` (`no_read`). End-to-end encrypted values are never compared
//! (`unknown`, `end_to_end`): the server cannot read them, and two age
//! files of one value differ. This module never decides authorization
//! itself and never logs, returns or stores a value.

use std::collections::{BTreeMap, BTreeSet};

use leash_core::api::{DiffEntry, DiffEnv, DiffSide, DiffStatus, EnvDiff, UnknownReason};
use leash_core::audit::hmac_hex;
use leash_core::crypto::Key256;
use leash_core::names::SecretPath;
use leash_store::VersionRow;

use crate::authz::Visibility;
use crate::barrier::Keys;
use crate::error::ApiError;
use crate::service::{self, EnvRef};
use crate::state::Domain;
use crate::time::rfc3339;

/// What the caller may see of one side of a diff.
pub struct SideAccess<'a> {
    /// Paths the caller may `list` there (shown, with versions).
    pub list: Visibility<'a>,
    /// Paths the caller may `read` there (values comparable).
    pub read: Visibility<'a>,
}

/// The caller's access to both sides.
pub struct DiffAccess<'a> {
    pub a: SideAccess<'a>,
    pub b: SideAccess<'a>,
}

/// One environment's live secrets, with their ciphertext.
struct Side<'e> {
    env: &'e EnvRef,
    revision: i64,
    rows: BTreeMap<String, VersionRow>,
}

async fn load<'e>(state: &Domain, env: &'e EnvRef) -> Result<Side<'e>, ApiError> {
    let (revision, rows) = state.store.list_state(env.row.id, None, true).await?;
    let rows = rows.into_iter().map(|r| (r.path.clone(), r)).collect();
    Ok(Side { env, revision, rows })
}

fn side(row: &VersionRow) -> DiffSide {
    DiffSide {
        version: row.version,
        updated_at: rfc3339(row.created_at),
        actor: row.actor.clone(),
    }
}

/// Why one side's current value cannot be compared, if it cannot.
fn incomparable(side: &Side<'_>, row: &VersionRow) -> Option<UnknownReason> {
    if row.e2e || side.env.row.e2e_recipients.is_some() {
        Some(UnknownReason::EndToEnd)
    } else if row.destroyed || row.ciphertext.is_none() {
        Some(UnknownReason::Destroyed)
    } else {
        None
    }
}

/// The MAC of one side's current value under the diff's key.
fn mac(keys: &Keys, key: &Key256, side: &Side<'_>, row: &VersionRow) -> Result<String, ApiError> {
    // `decrypt` answers a zeroizing value, wiped when it drops right after the MAC.
    let value = service::decrypt(keys, side.env, row)?;
    Ok(hmac_hex(key.expose_secret(), value.as_bytes()))
}

/// Compares one path present on both sides (the caller may read it on both).
fn compare(
    keys: &Keys,
    key: &Key256,
    (sa, ra): (&Side<'_>, &VersionRow),
    (sb, rb): (&Side<'_>, &VersionRow),
) -> Result<DiffVerdict, ApiError> {
    if let Some(reason) = incomparable(sa, ra).or_else(|| incomparable(sb, rb)) {
        return Ok((DiffStatus::Unknown, Some(reason)));
    }
    let same = mac(keys, key, sa, ra)? == mac(keys, key, sb, rb)?;
    Ok((if same { DiffStatus::Same } else { DiffStatus::Different }, None))
}

type DiffVerdict = (DiffStatus, Option<UnknownReason>);

fn describe(side: &Side<'_>) -> DiffEnv {
    DiffEnv {
        project: side.env.project.as_str().to_owned(),
        env: side.env.env.as_str().to_owned(),
        revision: side.revision,
        e2e: side.env.row.e2e_recipients.is_some(),
    }
}

/// An environment named by project and name.
pub struct EnvAt<'a> {
    pub project: &'a str,
    pub env: &'a str,
}

/// Diffs environment `a` against `b` (404 naming either if absent) as the caller may see them.
#[tracing::instrument(skip_all, fields(a = %a.env, b = %b.env))]
pub async fn diff(
    state: &Domain,
    keys: &Keys,
    a: EnvAt<'_>,
    b: EnvAt<'_>,
    access: &DiffAccess<'_>,
) -> Result<EnvDiff, ApiError> {
    let env_a = service::environment(state, a.project, a.env).await?;
    let env_b = service::environment(state, b.project, b.env).await?;
    let a = load(state, &env_a).await?;
    let b = load(state, &env_b).await?;
    let key = Key256::generate();
    let paths: BTreeSet<&String> = a
        .rows
        .keys()
        .filter(|p| access.a.list.shows(p))
        .chain(b.rows.keys().filter(|p| access.b.list.shows(p)))
        .collect();
    let mut entries = Vec::with_capacity(paths.len());
    for path in paths {
        let in_a = a.rows.get(path).filter(|_| access.a.list.shows(path));
        let in_b = b.rows.get(path).filter(|_| access.b.list.shows(path));
        let (status, reason) = match (in_a, in_b) {
            (Some(ra), Some(rb)) if access.a.read.shows(path) && access.b.read.shows(path) => {
                compare(keys, &key, (&a, ra), (&b, rb))?
            }
            (Some(_), Some(_)) => (DiffStatus::Unknown, Some(UnknownReason::NoRead)),
            (Some(_), None) if access.b.list.shows(path) => (DiffStatus::OnlyInA, None),
            (None, Some(_)) if access.a.list.shows(path) => (DiffStatus::OnlyInB, None),
            _ => (DiffStatus::Unknown, Some(UnknownReason::NotListed)),
        };
        entries.push(DiffEntry {
            env_var: SecretPath::parse(path)?.env_var_name(),
            path: path.clone(),
            a: in_a.map(side),
            b: in_b.map(side),
            status,
            reason,
        });
    }
    let identical = entries.iter().all(|e| e.status == DiffStatus::Same);
    Ok(EnvDiff {
        a: describe(&a),
        b: describe(&b),
        entries,
        identical,
    })
}
