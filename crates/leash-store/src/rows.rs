//! The stored form of rows, shared by the SQL backends (`sqlite/`, `postgres/`).
//!
//! Both backends keep the same columns in the same encodings (lists
//! comma-joined, recipients one per line, the seal parameters as JSON, sealed
//! data as bytes), so a row reads the same from either and a copy between them
//! is column for column. The structs derive `sqlx::FromRow`, which is generic
//! over the database: each backend's SQL names the columns, these map them.
//! Structs that hold ciphertext have no `Debug`.

use std::collections::HashMap;

use crate::model::*;
use crate::{Result, StoreError};

/// Names are restricted to `[A-Za-z0-9_.-]`, so a comma-joined list is unambiguous.
pub(crate) fn join_list(items: &[String]) -> String {
    items.join(",")
}

pub(crate) fn split_list(joined: &str) -> Vec<String> {
    joined.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

/// Recipients are stored one per line (an age or SSH public key holds no newline).
pub(crate) fn join_recipients(recipients: &Option<Vec<String>>) -> Option<String> {
    recipients.as_ref().map(|r| r.join("\n"))
}

pub(crate) fn split_recipients(joined: Option<String>) -> Option<Vec<String>> {
    joined.map(|j| j.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

/// The `meta` row keys; the names are the stored format (older data directories use them too).
pub(crate) mod meta_keys {
    pub const SEAL_PARAMS: &str = "seal_config";
    pub const ROOT_KEY: &str = "root_key";
    pub const KEYRING: &str = "keyring";
    pub const AUDIT_KEYS: &str = "audit_keys";
}

/// The stored form of [`SealParams`]: `{"shares":N,"threshold":M}`.
pub(crate) fn params_to_json(params: SealParams) -> Vec<u8> {
    serde_json::json!({ "shares": params.shares, "threshold": params.threshold })
        .to_string()
        .into_bytes()
}

pub(crate) fn params_from_json(bytes: &[u8]) -> Result<SealParams> {
    let corrupt = |reason: String| StoreError::Corrupt(format!("stored seal parameters: {reason}"));
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    let field = |name: &str| {
        value
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| corrupt(format!("`{name}` is missing or not a number from 0 to 255")))
    };
    Ok(SealParams {
        shares: field("shares")?,
        threshold: field("threshold")?,
    })
}

/// The key hierarchy from its three `meta` rows (`None` before initialisation).
pub(crate) fn key_hierarchy_from(
    params: Option<Vec<u8>>,
    root_key: Option<Vec<u8>>,
    keyring: Option<Vec<u8>>,
) -> Result<Option<KeyHierarchy>> {
    let Some(params) = params else {
        return Ok(None);
    };
    let missing = |key: &str| StoreError::Corrupt(format!("the key hierarchy has no `{key}` row"));
    let root_key = root_key.ok_or_else(|| missing(meta_keys::ROOT_KEY))?;
    let keyring = keyring.ok_or_else(|| missing(meta_keys::KEYRING))?;
    Ok(Some(KeyHierarchy {
        params: params_from_json(&params)?,
        root_key: Sealed::from_stored(root_key),
        keyring: Sealed::from_stored(keyring),
    }))
}

/// A `tokens` row.
#[derive(sqlx::FromRow)]
pub(crate) struct TokenDb {
    hash: String,
    accessor: String,
    display_name: String,
    policies: String,
    is_root: bool,
    created_at: i64,
    expires_at: Option<i64>,
    identity_id: Option<i64>,
    auth_method: String,
    ttl_ms: Option<i64>,
    max_expires_at: Option<i64>,
}

impl From<TokenDb> for TokenRecord {
    fn from(t: TokenDb) -> Self {
        TokenRecord {
            hash: t.hash,
            accessor: t.accessor,
            display_name: t.display_name,
            policies: split_list(&t.policies),
            is_root: t.is_root,
            created_at: t.created_at,
            expires_at: t.expires_at,
            identity_id: t.identity_id,
            auth_method: t.auth_method,
            ttl_ms: t.ttl_ms,
            max_expires_at: t.max_expires_at,
        }
    }
}

/// An `identities` row.
#[derive(sqlx::FromRow)]
pub(crate) struct IdentityDb {
    id: i64,
    name: String,
    kind: String,
    policies: String,
    metadata: String,
    password_hash: Option<String>,
    client_id: Option<String>,
    client_secret_hash: Option<String>,
    client_secret_expires_at: Option<i64>,
    client_secret_uses_left: Option<i64>,
    allowed_cidrs: String,
    jwt_binding: Option<String>,
    token_ttl_ms: i64,
    token_max_ttl_ms: i64,
    created_at: i64,
}

impl From<IdentityDb> for IdentityRow {
    fn from(i: IdentityDb) -> Self {
        IdentityRow {
            id: i.id,
            name: i.name,
            kind: i.kind,
            policies: split_list(&i.policies),
            metadata: i.metadata,
            password_hash: i.password_hash,
            client_id: i.client_id,
            client_secret_hash: i.client_secret_hash,
            client_secret_expires_at: i.client_secret_expires_at,
            client_secret_uses_left: i.client_secret_uses_left,
            allowed_cidrs: split_list(&i.allowed_cidrs),
            jwt_binding: i.jwt_binding,
            token_ttl_ms: i.token_ttl_ms,
            token_max_ttl_ms: i.token_max_ttl_ms,
            created_at: i.created_at,
        }
    }
}

/// A `groups` row (members come from `group_members`).
#[derive(sqlx::FromRow)]
pub(crate) struct GroupDb {
    pub id: i64,
    name: String,
    policies: String,
    created_at: i64,
}

impl GroupDb {
    pub fn with_members(self, members: Vec<String>) -> GroupRow {
        GroupRow {
            name: self.name,
            policies: split_list(&self.policies),
            members,
            created_at: self.created_at,
        }
    }
}

/// Every group with its members, from the `groups` rows and the `(group id, member name)` pairs.
pub(crate) fn groups_with_members(groups: Vec<GroupDb>, memberships: Vec<(i64, String)>) -> Vec<GroupRow> {
    let mut members: HashMap<i64, Vec<String>> = HashMap::new();
    for (group_id, name) in memberships {
        members.entry(group_id).or_default().push(name);
    }
    groups
        .into_iter()
        .map(|g| {
            let of_group = members.remove(&g.id).unwrap_or_default();
            g.with_members(of_group)
        })
        .collect()
}

/// An `environments` row.
#[derive(sqlx::FromRow)]
pub(crate) struct EnvDb {
    id: i64,
    project_id: i64,
    name: String,
    revision: i64,
    created_at: i64,
    e2e_recipients: Option<String>,
}

impl From<EnvDb> for EnvRow {
    fn from(e: EnvDb) -> Self {
        EnvRow {
            id: e.id,
            project_id: e.project_id,
            name: e.name,
            revision: e.revision,
            created_at: e.created_at,
            e2e_recipients: split_recipients(e.e2e_recipients),
        }
    }
}

/// A project left-joined with one of its environments (all `e_` columns NULL when it has no such environment).
#[derive(sqlx::FromRow)]
pub(crate) struct ProjectEnvDb {
    p_id: i64,
    p_name: String,
    p_created_at: i64,
    e_id: Option<i64>,
    e_name: Option<String>,
    e_revision: Option<i64>,
    e_created_at: Option<i64>,
    e_recipients: Option<String>,
}

impl ProjectEnvDb {
    pub fn split(self) -> (ProjectRow, Option<EnvRow>) {
        let project = ProjectRow {
            id: self.p_id,
            name: self.p_name,
            created_at: self.p_created_at,
        };
        let env = match (self.e_id, self.e_name, self.e_revision, self.e_created_at) {
            (Some(id), Some(name), Some(revision), Some(created_at)) => Some(EnvRow {
                id,
                project_id: project.id,
                name,
                revision,
                created_at,
                e2e_recipients: split_recipients(self.e_recipients),
            }),
            _ => None,
        };
        (project, env)
    }
}

/// A secret's id and head, as an operation of a change set sees it.
#[derive(sqlx::FromRow)]
pub(crate) struct StoredHeadDb {
    pub id: i64,
    pub latest_version: i64,
    pub deleted: bool,
}

/// One version of one secret, with its secret's path and description.
#[derive(sqlx::FromRow)]
pub(crate) struct VersionDb {
    path: String,
    version: i64,
    revision: i64,
    #[sqlx(try_from = "i64")]
    key_id: u32,
    ciphertext: Option<Vec<u8>>,
    destroyed: bool,
    actor: String,
    created_at: i64,
    description: Option<String>,
    e2e: bool,
    /// Selected by `secret_versions` only.
    #[sqlx(default)]
    origin: Option<String>,
}

impl From<VersionDb> for VersionRow {
    fn from(v: VersionDb) -> Self {
        VersionRow {
            path: v.path,
            version: v.version,
            revision: v.revision,
            key_id: v.key_id,
            ciphertext: v.ciphertext.map(Sealed::from_stored),
            destroyed: v.destroyed,
            actor: v.actor,
            created_at: v.created_at,
            description: v.description,
            e2e: v.e2e,
            origin: v.origin,
        }
    }
}

/// A retained version and whether it is the current version of a live secret.
#[derive(sqlx::FromRow)]
pub(crate) struct RetainedDb {
    #[sqlx(flatten)]
    pub version: VersionDb,
    pub current: bool,
}

/// A secret's head with its id.
#[derive(sqlx::FromRow)]
pub(crate) struct HeadWithIdDb {
    pub id: i64,
    #[sqlx(flatten)]
    pub head: SecretHead,
}

/// A `changes` row (its entries are read separately).
#[derive(sqlx::FromRow)]
pub(crate) struct ChangeDb {
    revision: i64,
    actor: String,
    message: Option<String>,
    created_at: i64,
}

/// A `change_entries` row with its secret's path.
#[derive(sqlx::FromRow)]
pub(crate) struct EntryDb {
    revision: i64,
    path: String,
    action: String,
    version: Option<i64>,
    origin: Option<String>,
}

/// The revisions `(lowest, highest)` of `changes`, whose entries
/// [`with_entries`] needs; `None` when there are none.
pub(crate) fn revision_span(changes: &[ChangeDb]) -> Option<(i64, i64)> {
    let revisions = changes.iter().map(|c| c.revision);
    Some((revisions.clone().min()?, revisions.max()?))
}

/// The changes with what each did to each path (`entries`: every entry of
/// the changes' revisions, in order).
pub(crate) fn with_entries(changes: Vec<ChangeDb>, entries: Vec<EntryDb>) -> Result<Vec<ChangeRow>> {
    let mut changes: Vec<ChangeRow> = changes
        .into_iter()
        .map(|c| ChangeRow {
            revision: c.revision,
            actor: c.actor,
            message: c.message,
            created_at: c.created_at,
            entries: Vec::new(),
        })
        .collect();
    let at: HashMap<i64, usize> = changes.iter().enumerate().map(|(i, c)| (c.revision, i)).collect();
    for e in entries {
        let action = Action::parse(&e.action)
            .ok_or_else(|| StoreError::InvalidChange(format!("unknown action {:?} in the store", e.action)))?;
        if let Some(&i) = at.get(&e.revision) {
            changes[i].entries.push(AppliedEntry {
                path: e.path,
                action,
                version: e.version,
                origin: e.origin,
            });
        }
    }
    Ok(changes)
}

/// What the end-to-end update reads of each retained version.
#[derive(sqlx::FromRow)]
pub(crate) struct RetainedKeyDb {
    pub secret_id: i64,
    pub version: i64,
    pub path: String,
    pub current: bool,
    pub e2e: bool,
}

/// A `rotation_state` row. No `Debug`: it holds the pending value's ciphertext.
#[derive(sqlx::FromRow)]
pub(crate) struct RotationDb {
    env_id: i64,
    path: String,
    policy: String,
    next_due_at: Option<i64>,
    grace_ms: i64,
    attempt: i64,
    state: String,
    step: Option<String>,
    pending_key_id: Option<i64>,
    pending_ciphertext: Option<Vec<u8>>,
    failures: i64,
    retry_at: Option<i64>,
    last_error: Option<String>,
    lease_holder: Option<String>,
    lease_until: Option<i64>,
    last_rotated_at: Option<i64>,
    retire_at: Option<i64>,
    retire_version: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<RotationDb> for RotationRow {
    type Error = StoreError;

    fn try_from(r: RotationDb) -> Result<Self> {
        let pending_key_id = r
            .pending_key_id
            .map(u32::try_from)
            .transpose()
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?;
        Ok(RotationRow {
            env_id: r.env_id,
            path: r.path,
            policy: r.policy,
            next_due_at: r.next_due_at,
            grace_ms: r.grace_ms,
            attempt: r.attempt,
            state: r.state,
            step: r.step,
            pending_key_id,
            pending_ciphertext: r.pending_ciphertext.map(Sealed::from_stored),
            failures: r.failures,
            retry_at: r.retry_at,
            last_error: r.last_error,
            lease: match (r.lease_holder, r.lease_until) {
                (Some(holder), Some(until)) => Some(Lease { holder, until }),
                // A lease taken before leases named their holder (SQLite schema 0005).
                (None, Some(until)) => Some(Lease {
                    holder: String::new(),
                    until,
                }),
                (_, None) => None,
            },
            last_rotated_at: r.last_rotated_at,
            retire_at: r.retire_at,
            retire_version: r.retire_version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A due rotation row with its environment's names.
#[derive(sqlx::FromRow)]
pub(crate) struct DueDb {
    #[sqlx(flatten)]
    row: RotationDb,
    project: String,
    env: String,
}

impl TryFrom<DueDb> for DueRotation {
    type Error = StoreError;

    fn try_from(d: DueDb) -> Result<Self> {
        Ok(DueRotation {
            project: d.project,
            env: d.env,
            row: d.row.try_into()?,
        })
    }
}
