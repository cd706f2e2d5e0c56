//! The embedded SQLite backend: one file (`leash.db`) in the data directory.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a commit returns only
//! after the WAL is fsynced. Writes go through a single-connection pool (SQLite
//! allows one writer; queueing in the pool avoids busy-lock failures), reads
//! through a separate pool so they never wait on a write.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};

use crate::model::*;
use crate::{Result, Storage, StoreError};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "leash.db";

/// A [`Storage`] on an SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    /// The audit table lives in its own file (`<name>-audit.db`) with its own
    /// writer, so audit batches never wait for the secrets' writer lock. It
    /// uses `synchronous=NORMAL`: the audit JSON-lines file, fsynced first, is
    /// the durability point, and records it holds that the table lost in a
    /// power failure are copied back at start.
    audit: SqlitePool,
    /// Change sets go through one committer task: concurrent changes share a
    /// transaction (group commit, see `group_commit`).
    commits: tokio::sync::mpsc::Sender<crate::group_commit::Job>,
    /// Rows every read needs, kept while nothing changes (see `hot_cache`).
    hot: std::sync::Arc<crate::hot_cache::HotCache>,
}

const VERSION_COLUMNS: &str =
    "s.path, v.version, v.revision, v.key_id, v.ciphertext, v.destroyed, v.actor, v.created_at, s.description, v.e2e";

const ENV_COLUMNS: &str = "id, project_id, name, revision, created_at, e2e_recipients";

/// Recipients are stored one per line (an age or SSH public key holds no newline).
fn join_recipients(recipients: &Option<Vec<String>>) -> Option<String> {
    recipients.as_ref().map(|r| r.join("\n"))
}

fn split_recipients(joined: Option<String>) -> Option<Vec<String>> {
    joined.map(|j| j.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

impl SqliteStore {
    /// Opens (creating if needed) `DIR/leash.db` and brings its schema up to date.
    /// The directory is made private (0700) when created.
    pub async fn open_dir(dir: &Path) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError::Open {
                path: dir.display().to_string(),
                source: sqlx::Error::Io(e),
            })?;
        Self::open_file(&dir.join(DB_FILE)).await
    }

    /// Opens (creating if needed) the database file at `path` and the audit
    /// table's file beside it, each created 0600 whatever the umask.
    pub async fn open_file(path: &Path) -> Result<Self> {
        let audit_path = audit_file_for(path);
        create_private(path)?;
        create_private(&audit_path)?;
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone().read_only(true))
            .await
            .map_err(open_err)?;
        let audit = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .filename(&audit_path)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(false),
            )
            .await
            .map_err(|source| StoreError::Open {
                path: audit_path.display().to_string(),
                source,
            })?;
        sqlx::migrate!("./migrations/sqlite-audit").run(&audit).await?;
        let hot = std::sync::Arc::new(crate::hot_cache::HotCache::default());
        let commits = crate::group_commit::spawn(write.clone(), hot.clone());
        Ok(Self {
            write,
            read,
            audit,
            commits,
            hot,
        })
    }
}

impl SqliteStore {
    /// Hands a change set to the committer and waits until its batch is durable.
    async fn commit(&self, change: NewChange, rotation: Option<RotationRow>) -> Result<Applied> {
        let stopped = || StoreError::Commit("the store is closed".into());
        let (ack, done) = tokio::sync::oneshot::channel();
        self.commits
            .send(crate::group_commit::Job { change, rotation, ack })
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }
}

/// Creates `path` (if absent) readable by its owner only, whatever the
/// umask: SQLite then gives the `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            source: sqlx::Error::Io(e),
        })
}

/// `leash.db` -> `leash-audit.db`, next to it.
fn audit_file_for(path: &Path) -> std::path::PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("leash");
    path.with_file_name(format!("{stem}-audit.db"))
}

fn version_row(row: &SqliteRow) -> Result<VersionRow> {
    Ok(VersionRow {
        path: row.try_get(0)?,
        version: row.try_get(1)?,
        revision: row.try_get(2)?,
        key_id: row.try_get::<i64, _>(3)? as u32,
        ciphertext: row.try_get::<Option<Vec<u8>>, _>(4)?.map(Sealed::from_stored),
        destroyed: row.try_get(5)?,
        actor: row.try_get(6)?,
        created_at: row.try_get(7)?,
        description: row.try_get(8)?,
        e2e: row.try_get(9)?,
    })
}

fn env_row(row: &SqliteRow) -> Result<EnvRow> {
    Ok(EnvRow {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        name: row.try_get(2)?,
        revision: row.try_get(3)?,
        created_at: row.try_get(4)?,
        e2e_recipients: split_recipients(row.try_get(5)?),
    })
}

fn project_row(row: &SqliteRow) -> Result<ProjectRow> {
    Ok(ProjectRow {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        created_at: row.try_get(2)?,
    })
}

const TOKEN_COLUMNS: &str = "hash, accessor, display_name, policies, is_root, created_at, expires_at, identity_id, auth_method, ttl_ms, max_expires_at";

/// Names are restricted to `[A-Za-z0-9_.-]`, so a comma-joined list is unambiguous.
fn split_list(joined: &str) -> Vec<String> {
    joined.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

fn token_row(row: &SqliteRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        hash: row.try_get(0)?,
        accessor: row.try_get(1)?,
        display_name: row.try_get(2)?,
        policies: split_list(row.try_get(3)?),
        is_root: row.try_get(4)?,
        created_at: row.try_get(5)?,
        expires_at: row.try_get(6)?,
        identity_id: row.try_get(7)?,
        auth_method: row.try_get(8)?,
        ttl_ms: row.try_get(9)?,
        max_expires_at: row.try_get(10)?,
    })
}

const IDENTITY_COLUMNS: &str = "id, name, kind, policies, metadata, password_hash, client_id, client_secret_hash, \
     client_secret_expires_at, client_secret_uses_left, allowed_cidrs, jwt_binding, token_ttl_ms, token_max_ttl_ms, created_at";

fn identity_row(row: &SqliteRow) -> Result<IdentityRow> {
    Ok(IdentityRow {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        kind: row.try_get(2)?,
        policies: split_list(row.try_get(3)?),
        metadata: row.try_get(4)?,
        password_hash: row.try_get(5)?,
        client_id: row.try_get(6)?,
        client_secret_hash: row.try_get(7)?,
        client_secret_expires_at: row.try_get(8)?,
        client_secret_uses_left: row.try_get(9)?,
        allowed_cidrs: split_list(row.try_get(10)?),
        jwt_binding: row.try_get(11)?,
        token_ttl_ms: row.try_get(12)?,
        token_max_ttl_ms: row.try_get(13)?,
        created_at: row.try_get(14)?,
    })
}

const AUDIT_COLUMNS: &str = "seq, time_ms, kind, identity, operation, resource, status, hash, line";

fn audit_row(row: &SqliteRow) -> Result<AuditRow> {
    Ok(AuditRow {
        seq: row.try_get(0)?,
        time_ms: row.try_get(1)?,
        kind: row.try_get(2)?,
        identity: row.try_get(3)?,
        operation: row.try_get(4)?,
        resource: row.try_get(5)?,
        status: row.try_get(6)?,
        hash: row.try_get(7)?,
        line: row.try_get(8)?,
    })
}

fn change_row(r: &SqliteRow) -> Result<ChangeRow> {
    Ok(ChangeRow {
        revision: r.try_get(0)?,
        actor: r.try_get(1)?,
        message: r.try_get(2)?,
        created_at: r.try_get(3)?,
        entries: Vec::new(),
    })
}

/// Fills in what each change did to each path.
async fn with_entries(conn: &mut SqliteConnection, env_id: i64, mut changes: Vec<ChangeRow>) -> Result<Vec<ChangeRow>> {
    let revisions = changes.iter().map(|c| c.revision);
    let (Some(low), Some(high)) = (revisions.clone().min(), revisions.max()) else {
        return Ok(changes);
    };
    let entries = sqlx::query(
        "SELECT e.revision, s.path, e.action, e.version FROM change_entries e JOIN secrets s ON s.id = e.secret_id \
         WHERE e.env_id = ? AND e.revision BETWEEN ? AND ? ORDER BY e.revision, s.path",
    )
    .bind(env_id)
    .bind(low)
    .bind(high)
    .fetch_all(conn)
    .await?;
    for e in &entries {
        let revision: i64 = e.try_get(0)?;
        let action: String = e.try_get(2)?;
        let entry = AppliedEntry {
            path: e.try_get(1)?,
            action: Action::parse(&action)
                .ok_or_else(|| StoreError::InvalidChange(format!("unknown action {action:?} in the store")))?,
            version: e.try_get(3)?,
        };
        if let Some(change) = changes.iter_mut().find(|c| c.revision == revision) {
            change.entries.push(entry);
        }
    }
    Ok(changes)
}

fn document_table(kind: DocumentKind) -> (&'static str, &'static str) {
    match kind {
        DocumentKind::Policy => ("policies", "source"),
        DocumentKind::JwtIssuer => ("jwt_issuers", "config"),
    }
}

fn document_row(row: &SqliteRow) -> Result<NamedDocument> {
    Ok(NamedDocument {
        name: row.try_get(0)?,
        body: row.try_get(1)?,
        created_at: row.try_get(2)?,
        updated_at: row.try_get(3)?,
    })
}

async fn group_members(conn: &mut SqliteConnection, group_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT i.name FROM group_members m JOIN identities i ON i.id = m.identity_id WHERE m.group_id = ? ORDER BY i.name",
    )
    .bind(group_id)
    .fetch_all(conn)
    .await?)
}

async fn group_row(conn: &mut SqliteConnection, row: &SqliteRow) -> Result<GroupRow> {
    let id: i64 = row.try_get(0)?;
    Ok(GroupRow {
        name: row.try_get(1)?,
        policies: split_list(row.try_get(2)?),
        created_at: row.try_get(3)?,
        members: group_members(conn, id).await?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

async fn insert_token(conn: &mut SqliteConnection, t: &TokenRecord) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&t.hash)
    .bind(&t.accessor)
    .bind(&t.display_name)
    .bind(t.policies.join(","))
    .bind(t.is_root)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.identity_id)
    .bind(&t.auth_method)
    .bind(t.ttl_ms)
    .bind(t.max_expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The id, latest version and deleted flag of a secret, inside a transaction.
async fn head_in_tx(conn: &mut SqliteConnection, env_id: i64, path: &str) -> Result<Option<(i64, i64, bool)>> {
    let row = sqlx::query("SELECT id, latest_version, deleted FROM secrets WHERE env_id = ? AND path = ?")
        .bind(env_id)
        .bind(path)
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()
}

async fn apply_op(conn: &mut SqliteConnection, change: &NewChange, revision: i64, op: &Op) -> Result<AppliedEntry> {
    let env_id = change.env_id;
    let now = change.created_at;
    let head = head_in_tx(conn, env_id, op.path()).await?;
    let (secret_id, action, version) = match op {
        Op::Set {
            path,
            version,
            key_id,
            ciphertext,
            description,
        } => {
            let secret_id = match head {
                None if *version == 1 => {
                    sqlx::query(
                        "INSERT INTO secrets (env_id, path, description, latest_version, deleted, updated_at) VALUES (?, ?, ?, 1, 0, ?) RETURNING id",
                    )
                    .bind(env_id)
                    .bind(path)
                    .bind(description)
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?
                }
                Some((id, latest, _)) if latest + 1 == *version => {
                    sqlx::query(
                        "UPDATE secrets SET latest_version = ?, deleted = 0, updated_at = ?, description = COALESCE(?, description) WHERE id = ?",
                    )
                    .bind(version)
                    .bind(now)
                    .bind(description)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                    id
                }
                _ => return Err(StoreError::VersionConflict(path.clone())),
            };
            sqlx::query(
                "INSERT INTO versions (secret_id, version, revision, key_id, ciphertext, destroyed, actor, created_at, e2e) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
            )
            .bind(secret_id)
            .bind(version)
            .bind(revision)
            .bind(*key_id as i64)
            .bind(ciphertext.as_bytes())
            .bind(&change.actor)
            .bind(now)
            .bind(change.e2e_recipients.is_some())
            .execute(&mut *conn)
            .await?;
            (secret_id, Action::Set, Some(*version))
        }
        Op::Delete { path } => match head {
            Some((id, _, false)) => {
                set_deleted(conn, id, true, now).await?;
                (id, Action::Delete, None)
            }
            Some((_, _, true)) => return Err(StoreError::InvalidChange(format!("secret {path} is already deleted"))),
            None => return Err(StoreError::NotFound(format!("secret {path}"))),
        },
        Op::Undelete { path } => match head {
            Some((id, latest, true)) => {
                set_deleted(conn, id, false, now).await?;
                (id, Action::Undelete, Some(latest))
            }
            Some((_, _, false)) => return Err(StoreError::InvalidChange(format!("secret {path} is not deleted"))),
            None => return Err(StoreError::NotFound(format!("secret {path}"))),
        },
    };
    sqlx::query("INSERT INTO change_entries (env_id, revision, secret_id, action, version) VALUES (?, ?, ?, ?, ?)")
        .bind(env_id)
        .bind(revision)
        .bind(secret_id)
        .bind(action.as_str())
        .bind(version)
        .execute(&mut *conn)
        .await?;
    Ok(AppliedEntry {
        path: op.path().to_owned(),
        action,
        version,
    })
}

/// An environment's revision and end-to-end recipients, inside a transaction.
async fn env_state(conn: &mut SqliteConnection, env_id: i64) -> Result<(i64, Option<Vec<String>>)> {
    let row = sqlx::query("SELECT revision, e2e_recipients FROM environments WHERE id = ?")
        .bind(env_id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::NotFound("environment".into()))?;
    Ok((row.try_get(0)?, split_recipients(row.try_get(1)?)))
}

async fn set_deleted(conn: &mut SqliteConnection, secret_id: i64, deleted: bool, now: i64) -> Result<()> {
    sqlx::query("UPDATE secrets SET deleted = ?, updated_at = ? WHERE id = ?")
        .bind(deleted)
        .bind(now)
        .bind(secret_id)
        .execute(conn)
        .await?;
    Ok(())
}

const ROTATION_COLUMNS: &str = "r.env_id, r.path, r.policy, r.next_due_at, r.grace_ms, r.attempt, r.state, r.step, \
     r.pending_key_id, r.pending_ciphertext, r.failures, r.retry_at, r.last_error, r.lease_until, r.last_rotated_at, \
     r.retire_at, r.retire_version, r.created_at, r.updated_at";
const ROTATION_COLUMN_COUNT: usize = 19;

fn rotation_row(r: &SqliteRow) -> Result<RotationRow> {
    Ok(RotationRow {
        env_id: r.try_get(0)?,
        path: r.try_get(1)?,
        policy: r.try_get(2)?,
        next_due_at: r.try_get(3)?,
        grace_ms: r.try_get(4)?,
        attempt: r.try_get(5)?,
        state: r.try_get(6)?,
        step: r.try_get(7)?,
        pending_key_id: r.try_get::<Option<i64>, _>(8)?.map(|k| k as u32),
        pending_ciphertext: r.try_get::<Option<Vec<u8>>, _>(9)?.map(Sealed::from_stored),
        failures: r.try_get(10)?,
        retry_at: r.try_get(11)?,
        last_error: r.try_get(12)?,
        lease_until: r.try_get(13)?,
        last_rotated_at: r.try_get(14)?,
        retire_at: r.try_get(15)?,
        retire_version: r.try_get(16)?,
        created_at: r.try_get(17)?,
        updated_at: r.try_get(18)?,
    })
}

pub(crate) async fn put_rotation(conn: &mut SqliteConnection, r: &RotationRow) -> Result<()> {
    sqlx::query(
        "INSERT OR REPLACE INTO rotation_state (env_id, path, policy, next_due_at, grace_ms, attempt, state, step, \
         pending_key_id, pending_ciphertext, failures, retry_at, last_error, lease_until, last_rotated_at, retire_at, \
         retire_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(r.env_id)
    .bind(&r.path)
    .bind(&r.policy)
    .bind(r.next_due_at)
    .bind(r.grace_ms)
    .bind(r.attempt)
    .bind(&r.state)
    .bind(&r.step)
    .bind(r.pending_key_id.map(i64::from))
    .bind(r.pending_ciphertext.as_ref().map(Sealed::as_bytes))
    .bind(r.failures)
    .bind(r.retry_at)
    .bind(&r.last_error)
    .bind(r.lease_until)
    .bind(r.last_rotated_at)
    .bind(r.retire_at)
    .bind(r.retire_version)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records revision `revision` of an environment: who, why, when.
async fn insert_change(
    conn: &mut SqliteConnection,
    env_id: i64,
    revision: i64,
    actor: &str,
    message: &Option<String>,
    created_at: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO changes (env_id, revision, actor, message, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(env_id)
        .bind(revision)
        .bind(actor)
        .bind(message)
        .bind(created_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Applies one change set inside the caller's transaction.
pub(crate) async fn apply_change_in_tx(tx: &mut SqliteConnection, change: &NewChange) -> Result<Applied> {
    if change.ops.is_empty() {
        return Err(StoreError::InvalidChange(
            "a change must contain at least one operation".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = change.ops.iter().map(Op::path).find(|p| !seen.insert(*p)) {
        return Err(StoreError::InvalidChange(format!(
            "path {dup} appears more than once in one change"
        )));
    }
    let (current, recipients) = env_state(&mut *tx, change.env_id).await?;
    if let Some(expected) = change.expected_revision
        && expected != current
    {
        return Err(StoreError::CasMismatch {
            expected,
            actual: current,
        });
    }
    // New values must be encrypted to exactly the environment's recipients
    // (or be ordinary values in an ordinary environment).
    if change.ops.iter().any(|op| matches!(op, Op::Set { .. })) && change.e2e_recipients != recipients {
        return Err(StoreError::E2eMismatch { current: recipients });
    }
    let revision = current + 1;
    insert_change(
        tx,
        change.env_id,
        revision,
        &change.actor,
        &change.message,
        change.created_at,
    )
    .await?;
    let mut entries = Vec::with_capacity(change.ops.len());
    for op in &change.ops {
        entries.push(apply_op(tx, change, revision, op).await?);
    }
    sqlx::query("UPDATE environments SET revision = ? WHERE id = ?")
        .bind(revision)
        .bind(change.env_id)
        .execute(&mut *tx)
        .await?;
    Ok(Applied { revision, entries })
}

/// The uncached reads behind the hot cache, and the writes that change cached
/// rows (the `Storage` methods of the same names call these, then invalidate).
impl SqliteStore {
    async fn env_by_names_uncached(&self, project: &str, env: &str) -> Result<Option<(ProjectRow, Option<EnvRow>)>> {
        let columns = ENV_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = sqlx::query(&format!(
            "SELECT {columns}, p.id, p.name, p.created_at FROM projects p \
             LEFT JOIN environments e ON e.project_id = p.id AND e.name = ? WHERE p.name = ?"
        ))
        .bind(env)
        .bind(project)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let project = ProjectRow {
            id: row.try_get(6)?,
            name: row.try_get(7)?,
            created_at: row.try_get(8)?,
        };
        let env = match row.try_get::<Option<i64>, _>(0)? {
            Some(_) => Some(env_row(&row)?),
            None => None,
        };
        Ok(Some((project, env)))
    }

    async fn read_version_uncached(&self, env_id: i64, path: &str, selector: Selector) -> Result<Option<VersionRow>> {
        let row = match selector {
            Selector::Current => {
                sqlx::query(&format!(
                    "SELECT {VERSION_COLUMNS} FROM secrets s JOIN versions v ON v.secret_id = s.id AND v.version = s.latest_version \
                     WHERE s.env_id = ? AND s.path = ? AND s.deleted = 0"
                ))
                .bind(env_id)
                .bind(path)
                .fetch_optional(&self.read)
                .await?
            }
            Selector::Version(n) => {
                sqlx::query(&format!(
                    "SELECT {VERSION_COLUMNS} FROM secrets s JOIN versions v ON v.secret_id = s.id \
                     WHERE s.env_id = ? AND s.path = ? AND v.version = ?"
                ))
                .bind(env_id)
                .bind(path)
                .bind(n)
                .fetch_optional(&self.read)
                .await?
            }
            Selector::AtRevision(r) => {
                sqlx::query(&format!(
                    "SELECT {VERSION_COLUMNS} FROM secrets s \
                     JOIN change_entries e ON e.secret_id = s.id \
                     JOIN versions v ON v.secret_id = s.id AND v.version = e.version \
                     WHERE s.env_id = ? AND s.path = ? AND e.action <> 'delete' \
                     AND e.revision = (SELECT MAX(revision) FROM change_entries WHERE secret_id = s.id AND revision <= ?)"
                ))
                .bind(env_id)
                .bind(path)
                .bind(r)
                .fetch_optional(&self.read)
                .await?
            }
        };
        row.as_ref().map(version_row).transpose()
    }

    async fn project_delete_uncached(&self, project_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM projects WHERE id = ?")
            .bind(project_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn env_create_uncached(&self, project_id: i64, name: &str, now: i64) -> Result<EnvRow> {
        let row = sqlx::query(
            &format!("INSERT INTO environments (project_id, name, revision, created_at) VALUES (?, ?, 0, ?) RETURNING {ENV_COLUMNS}"),
        )
        .bind(project_id)
        .bind(name)
        .bind(now)
        .fetch_one(&self.write)
        .await
        .map_err(|e| match e {
            e if is_unique_violation(&e) => StoreError::AlreadyExists(format!("environment {name}")),
            e => e.into(),
        })?;
        env_row(&row)
    }

    async fn env_delete_uncached(&self, env_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM environments WHERE id = ?")
            .bind(env_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn destroy_versions_uncached(&self, env_id: i64, path: &str, versions: Option<&[i64]>) -> Result<Vec<i64>> {
        let mut tx = self.write.begin().await?;
        let (secret_id, latest, _) = head_in_tx(&mut tx, env_id, path)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("secret {path}")))?;
        let targets: Vec<i64> = match versions {
            Some(list) => {
                if let Some(bad) = list.iter().find(|v| **v < 1 || **v > latest) {
                    return Err(StoreError::NotFound(format!("version {bad} of secret {path}")));
                }
                list.to_vec()
            }
            None => (1..=latest).collect(),
        };
        let mut destroyed = Vec::new();
        for version in targets {
            let done = sqlx::query(
                "UPDATE versions SET ciphertext = NULL, destroyed = 1 WHERE secret_id = ? AND version = ? AND destroyed = 0",
            )
            .bind(secret_id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                destroyed.push(version);
            }
        }
        tx.commit().await?;
        Ok(destroyed)
    }

    async fn e2e_update_uncached(&self, change: E2eChange) -> Result<E2eApplied> {
        if change.recipients.is_none() && !change.rewrap.is_empty() {
            return Err(StoreError::InvalidChange(
                "turning end-to-end encryption off re-encrypts nothing".into(),
            ));
        }
        let mut tx = self.write.begin().await?;
        let (current, _) = env_state(&mut tx, change.env_id).await?;
        if change.expected_revision != current {
            return Err(StoreError::CasMismatch {
                expected: change.expected_revision,
                actual: current,
            });
        }
        // (secret id, version) of every retained version, with the path and whether it is current.
        let retained = sqlx::query(
            "SELECT s.id, v.version, s.path, (v.version = s.latest_version AND s.deleted = 0), v.e2e \
             FROM secrets s JOIN versions v ON v.secret_id = s.id WHERE s.env_id = ? AND v.destroyed = 0",
        )
        .bind(change.env_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut rows = Vec::with_capacity(retained.len());
        for r in &retained {
            let (id, version, path, current, e2e): (i64, i64, String, bool, bool) = (
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
            );
            rows.push((id, version, path, current, e2e));
        }
        if change.recipients.is_none() {
            let e2e = rows.iter().filter(|r| r.4).count() as i64;
            if e2e > 0 {
                return Err(StoreError::E2eVersionsRetained(e2e));
            }
        }
        let wanted: std::collections::HashSet<(&str, i64)> =
            change.rewrap.iter().map(|r| (r.path.as_str(), r.version)).collect();
        if wanted.len() != change.rewrap.len() {
            return Err(StoreError::InvalidChange(
                "a version appears more than once in the re-encryption".into(),
            ));
        }
        for rw in &change.rewrap {
            let Some(row) = rows.iter().find(|r| r.2 == rw.path && r.1 == rw.version) else {
                return Err(StoreError::NotFound(format!(
                    "retained version {} of secret {}",
                    rw.version, rw.path
                )));
            };
            sqlx::query("UPDATE versions SET ciphertext = ?, key_id = ?, e2e = 1 WHERE secret_id = ? AND version = ?")
                .bind(rw.ciphertext.as_bytes())
                .bind(rw.key_id as i64)
                .bind(row.0)
                .bind(rw.version)
                .execute(&mut *tx)
                .await?;
        }
        if change.recipients.is_some()
            && let Some(missing) = rows.iter().find(|r| r.3 && !wanted.contains(&(r.2.as_str(), r.1)))
        {
            return Err(StoreError::InvalidChange(format!(
                "the re-encryption must include the current version of every secret; version {} of {} is missing",
                missing.1, missing.2
            )));
        }
        let mut destroyed = 0;
        // Turning e2e off keeps the (ordinary) versions as they are; a new
        // recipient set leaves nothing readable by the old one.
        let to_destroy = rows
            .iter()
            .filter(|r| change.recipients.is_some() && !wanted.contains(&(r.2.as_str(), r.1)));
        for r in to_destroy {
            sqlx::query("UPDATE versions SET ciphertext = NULL, destroyed = 1 WHERE secret_id = ? AND version = ?")
                .bind(r.0)
                .bind(r.1)
                .execute(&mut *tx)
                .await?;
            destroyed += 1;
        }
        let revision = current + 1;
        insert_change(
            &mut tx,
            change.env_id,
            revision,
            &change.actor,
            &change.message,
            change.created_at,
        )
        .await?;
        sqlx::query("UPDATE environments SET revision = ?, e2e_recipients = ? WHERE id = ?")
            .bind(revision)
            .bind(join_recipients(&change.recipients))
            .bind(change.env_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(E2eApplied {
            revision,
            rewrapped: change.rewrap.len(),
            destroyed,
        })
    }
}

#[async_trait]
impl Storage for SqliteStore {
    async fn read_version(&self, env_id: i64, path: &str, selector: Selector) -> Result<Option<VersionRow>> {
        if selector != Selector::Current {
            return self.read_version_uncached(env_id, path, selector).await;
        }
        if let Some(hit) = self.hot.current(env_id, path) {
            return Ok(hit);
        }
        let generation = self.hot.generation();
        let row = self.read_version_uncached(env_id, path, selector).await?;
        self.hot.put_current(generation, env_id, path, row.clone());
        Ok(row)
    }

    async fn env_by_names(&self, project: &str, env: &str) -> Result<Option<(ProjectRow, Option<EnvRow>)>> {
        if let Some(hit) = self.hot.env(project, env) {
            return Ok(Some(hit));
        }
        let generation = self.hot.generation();
        let found = self.env_by_names_uncached(project, env).await?;
        // Only existing projects are kept (an absent one needs no fast path).
        if let Some(found) = &found {
            self.hot.put_env(generation, project, env, found.clone());
        }
        Ok(found)
    }

    async fn project_delete(&self, project_id: i64) -> Result<()> {
        let result = self.project_delete_uncached(project_id).await;
        self.hot.invalidate();
        result
    }

    async fn env_create(&self, project_id: i64, name: &str, now: i64) -> Result<EnvRow> {
        let result = self.env_create_uncached(project_id, name, now).await;
        self.hot.invalidate();
        result
    }

    async fn env_delete(&self, env_id: i64) -> Result<()> {
        let result = self.env_delete_uncached(env_id).await;
        self.hot.invalidate();
        result
    }

    async fn destroy_versions(&self, env_id: i64, path: &str, versions: Option<&[i64]>) -> Result<Vec<i64>> {
        let result = self.destroy_versions_uncached(env_id, path, versions).await;
        self.hot.invalidate();
        result
    }

    async fn e2e_update(&self, change: E2eChange) -> Result<E2eApplied> {
        let result = self.e2e_update_uncached(change).await;
        self.hot.invalidate();
        result
    }

    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn initialize(&self, marker_key: &str, meta: &[(&str, Vec<u8>)], root_token: &TokenRecord) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let existing: Option<i64> = sqlx::query_scalar("SELECT 1 FROM meta WHERE key = ?")
            .bind(marker_key)
            .fetch_optional(&mut *tx)
            .await?;
        if existing.is_some() {
            return Err(StoreError::AlreadyInitialized);
        }
        for (key, value) in meta {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        insert_token(&mut tx, root_token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn token_create(&self, token: &TokenRecord) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        insert_token(&mut conn, token).await
    }

    async fn token_lookup(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?"))
            .bind(hash)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(token_row).transpose()
    }

    async fn token_lookup_by_accessor(&self, accessor: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE accessor = ?"))
            .bind(accessor)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(token_row).transpose()
    }

    async fn token_set_expiry(&self, hash: &str, expires_at: Option<i64>) -> Result<()> {
        sqlx::query("UPDATE tokens SET expires_at = ? WHERE hash = ?")
            .bind(expires_at)
            .bind(hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn token_delete(&self, hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tokens WHERE hash = ?")
            .bind(hash)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn tokens_delete_for_identity(&self, identity_id: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM tokens WHERE identity_id = ?")
            .bind(identity_id)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    async fn identity_create(&self, i: &IdentityRow) -> Result<IdentityRow> {
        let row = sqlx::query(&format!(
            "INSERT INTO identities ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {IDENTITY_COLUMNS}",
            IDENTITY_COLUMNS.trim_start_matches("id, ")
        ))
        .bind(&i.name)
        .bind(&i.kind)
        .bind(i.policies.join(","))
        .bind(&i.metadata)
        .bind(&i.password_hash)
        .bind(&i.client_id)
        .bind(&i.client_secret_hash)
        .bind(i.client_secret_expires_at)
        .bind(i.client_secret_uses_left)
        .bind(i.allowed_cidrs.join(","))
        .bind(&i.jwt_binding)
        .bind(i.token_ttl_ms)
        .bind(i.token_max_ttl_ms)
        .bind(i.created_at)
        .fetch_one(&self.write)
        .await
        .map_err(|e| match e {
            e if is_unique_violation(&e) => StoreError::AlreadyExists(format!("identity {}", i.name)),
            e => e.into(),
        })?;
        identity_row(&row)
    }

    async fn identity_update(&self, i: &IdentityRow) -> Result<()> {
        let done = sqlx::query(
            "UPDATE identities SET policies = ?, metadata = ?, password_hash = ?, client_id = ?, client_secret_hash = ?, \
             client_secret_expires_at = ?, client_secret_uses_left = ?, allowed_cidrs = ?, jwt_binding = ?, \
             token_ttl_ms = ?, token_max_ttl_ms = ? WHERE id = ?",
        )
        .bind(i.policies.join(","))
        .bind(&i.metadata)
        .bind(&i.password_hash)
        .bind(&i.client_id)
        .bind(&i.client_secret_hash)
        .bind(i.client_secret_expires_at)
        .bind(i.client_secret_uses_left)
        .bind(i.allowed_cidrs.join(","))
        .bind(&i.jwt_binding)
        .bind(i.token_ttl_ms)
        .bind(i.token_max_ttl_ms)
        .bind(i.id)
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("identity {}", i.name)));
        }
        Ok(())
    }

    async fn identity_get(&self, name: &str) -> Result<Option<IdentityRow>> {
        let row = sqlx::query(&format!("SELECT {IDENTITY_COLUMNS} FROM identities WHERE name = ?"))
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(identity_row).transpose()
    }

    async fn identity_get_by_client_id(&self, client_id: &str) -> Result<Option<IdentityRow>> {
        let row = sqlx::query(&format!(
            "SELECT {IDENTITY_COLUMNS} FROM identities WHERE client_id = ?"
        ))
        .bind(client_id)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(identity_row).transpose()
    }

    async fn identity_list(&self) -> Result<Vec<IdentityRow>> {
        let rows = sqlx::query(&format!("SELECT {IDENTITY_COLUMNS} FROM identities ORDER BY name"))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(identity_row).collect()
    }

    async fn identity_delete(&self, identity_id: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM tokens WHERE identity_id = ?")
            .bind(identity_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM identities WHERE id = ?")
            .bind(identity_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn client_secret_use(&self, identity_id: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE identities SET client_secret_uses_left = client_secret_uses_left - 1 \
             WHERE id = ? AND (client_secret_uses_left IS NULL OR client_secret_uses_left > 0)",
        )
        .bind(identity_id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn group_put(&self, name: &str, policies: &[String], members: &[String], now: i64) -> Result<GroupRow> {
        let mut tx = self.write.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO groups (name, policies, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET policies = excluded.policies RETURNING id",
        )
        .bind(name)
        .bind(policies.join(","))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM group_members WHERE group_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for member in members {
            let identity: Option<i64> = sqlx::query_scalar("SELECT id FROM identities WHERE name = ?")
                .bind(member)
                .fetch_optional(&mut *tx)
                .await?;
            let identity = identity.ok_or_else(|| StoreError::NotFound(format!("identity {member}")))?;
            sqlx::query("INSERT OR IGNORE INTO group_members (group_id, identity_id) VALUES (?, ?)")
                .bind(id)
                .bind(identity)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query("SELECT id, name, policies, created_at FROM groups WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let group = group_row(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(group)
    }

    async fn group_get(&self, name: &str) -> Result<Option<GroupRow>> {
        let mut conn = self.read.acquire().await?;
        let row = sqlx::query("SELECT id, name, policies, created_at FROM groups WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
        match row {
            Some(row) => Ok(Some(group_row(&mut conn, &row).await?)),
            None => Ok(None),
        }
    }

    async fn group_list(&self) -> Result<Vec<GroupRow>> {
        let mut conn = self.read.acquire().await?;
        let rows = sqlx::query("SELECT id, name, policies, created_at FROM groups ORDER BY name")
            .fetch_all(&mut *conn)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(group_row(&mut conn, row).await?);
        }
        Ok(out)
    }

    async fn group_delete(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM groups WHERE name = ?")
            .bind(name)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn document_put(&self, kind: DocumentKind, name: &str, body: &str, now: i64) -> Result<NamedDocument> {
        let (table, column) = document_table(kind);
        let row = sqlx::query(&format!(
            "INSERT INTO {table} (name, {column}, created_at, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET {column} = excluded.{column}, updated_at = excluded.updated_at \
             RETURNING name, {column}, created_at, updated_at"
        ))
        .bind(name)
        .bind(body)
        .bind(now)
        .bind(now)
        .fetch_one(&self.write)
        .await?;
        document_row(&row)
    }

    async fn document_get(&self, kind: DocumentKind, name: &str) -> Result<Option<NamedDocument>> {
        let (table, column) = document_table(kind);
        let row = sqlx::query(&format!(
            "SELECT name, {column}, created_at, updated_at FROM {table} WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(document_row).transpose()
    }

    async fn document_list(&self, kind: DocumentKind) -> Result<Vec<NamedDocument>> {
        let (table, column) = document_table(kind);
        let rows = sqlx::query(&format!(
            "SELECT name, {column}, created_at, updated_at FROM {table} ORDER BY name"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(document_row).collect()
    }

    async fn document_delete(&self, kind: DocumentKind, name: &str) -> Result<bool> {
        let (table, _) = document_table(kind);
        let done = sqlx::query(&format!("DELETE FROM {table} WHERE name = ?"))
            .bind(name)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn project_create(&self, name: &str, now: i64) -> Result<ProjectRow> {
        let row = sqlx::query("INSERT INTO projects (name, created_at) VALUES (?, ?) RETURNING id, name, created_at")
            .bind(name)
            .bind(now)
            .fetch_one(&self.write)
            .await
            .map_err(|e| match e {
                e if is_unique_violation(&e) => StoreError::AlreadyExists(format!("project {name}")),
                e => e.into(),
            })?;
        project_row(&row)
    }

    async fn project_list(&self) -> Result<Vec<ProjectRow>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM projects ORDER BY name")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(project_row).collect()
    }

    async fn project_get(&self, name: &str) -> Result<Option<ProjectRow>> {
        let row = sqlx::query("SELECT id, name, created_at FROM projects WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(project_row).transpose()
    }

    async fn env_list(&self, project_id: i64) -> Result<Vec<EnvRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENV_COLUMNS} FROM environments WHERE project_id = ? ORDER BY name"
        ))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(env_row).collect()
    }

    async fn env_get(&self, project_id: i64, name: &str) -> Result<Option<EnvRow>> {
        let row = sqlx::query(&format!(
            "SELECT {ENV_COLUMNS} FROM environments WHERE project_id = ? AND name = ?"
        ))
        .bind(project_id)
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(env_row).transpose()
    }

    async fn heads(&self, env_id: i64, paths: &[String]) -> Result<Vec<SecretHead>> {
        let mut out = Vec::with_capacity(paths.len());
        let mut conn = self.read.acquire().await?;
        for path in paths {
            let row = sqlx::query(
                "SELECT path, description, latest_version, deleted, updated_at, previous_withdrawn_for FROM secrets \
                 WHERE env_id = ? AND path = ?",
            )
            .bind(env_id)
            .bind(path)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(r) = row {
                out.push(SecretHead {
                    path: r.try_get(0)?,
                    description: r.try_get(1)?,
                    latest_version: r.try_get(2)?,
                    deleted: r.try_get(3)?,
                    updated_at: r.try_get(4)?,
                    previous_withdrawn_for: r.try_get(5)?,
                });
            }
        }
        Ok(out)
    }

    async fn apply_change(&self, change: NewChange) -> Result<Applied> {
        self.commit(change, None).await
    }

    async fn list_state(
        &self,
        env_id: i64,
        at_revision: Option<i64>,
        with_data: bool,
    ) -> Result<(i64, Vec<VersionRow>)> {
        let columns = if with_data {
            VERSION_COLUMNS.to_owned()
        } else {
            VERSION_COLUMNS.replace("v.ciphertext", "NULL")
        };
        let mut conn = self.read.acquire().await?;
        let current: i64 = sqlx::query_scalar("SELECT revision FROM environments WHERE id = ?")
            .bind(env_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::NotFound("environment".into()))?;
        let rows = match at_revision {
            None => {
                sqlx::query(&format!(
                    "SELECT {columns} FROM secrets s JOIN versions v ON v.secret_id = s.id AND v.version = s.latest_version \
                     WHERE s.env_id = ? AND s.deleted = 0 ORDER BY s.path"
                ))
                .bind(env_id)
                .fetch_all(&mut *conn)
                .await?
            }
            Some(r) => {
                sqlx::query(&format!(
                    "SELECT {columns} FROM secrets s \
                     JOIN change_entries e ON e.secret_id = s.id \
                     JOIN versions v ON v.secret_id = s.id AND v.version = e.version \
                     WHERE s.env_id = ? AND e.action <> 'delete' \
                     AND e.revision = (SELECT MAX(revision) FROM change_entries WHERE secret_id = s.id AND revision <= ?) \
                     ORDER BY s.path"
                ))
                .bind(env_id)
                .bind(r)
                .fetch_all(&mut *conn)
                .await?
            }
        };
        let versions = rows.iter().map(version_row).collect::<Result<_>>()?;
        Ok((at_revision.unwrap_or(current), versions))
    }

    async fn secret_versions(&self, env_id: i64, path: &str) -> Result<Option<(SecretHead, Vec<VersionRow>)>> {
        let mut conn = self.read.acquire().await?;
        let head = sqlx::query(
            "SELECT id, path, description, latest_version, deleted, updated_at, previous_withdrawn_for FROM secrets \
             WHERE env_id = ? AND path = ?",
        )
        .bind(env_id)
        .bind(path)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(head) = head else { return Ok(None) };
        let secret_id: i64 = head.try_get(0)?;
        let head = SecretHead {
            path: head.try_get(1)?,
            description: head.try_get(2)?,
            latest_version: head.try_get(3)?,
            deleted: head.try_get(4)?,
            updated_at: head.try_get(5)?,
            previous_withdrawn_for: head.try_get(6)?,
        };
        let columns = VERSION_COLUMNS.replace("v.ciphertext", "NULL");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM secrets s JOIN versions v ON v.secret_id = s.id WHERE s.id = ? ORDER BY v.version"
        ))
        .bind(secret_id)
        .fetch_all(&mut *conn)
        .await?;
        let versions = rows.iter().map(version_row).collect::<Result<_>>()?;
        Ok(Some((head, versions)))
    }

    async fn audit_append(&self, rows: &[AuditRow]) -> Result<()> {
        // Rows per statement: each statement is one hand-off to the connection's thread, so a
        // batch goes in a few multi-row inserts (9 parameters a row, well under SQLite's limit).
        const ROWS_PER_INSERT: usize = 200;
        let mut tx = self.audit.begin().await?;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO audit_log (seq, time_ms, kind, identity, operation, resource, status, hash, line) ",
            );
            insert.push_values(chunk, |mut b, r| {
                b.push_bind(r.seq)
                    .push_bind(r.time_ms)
                    .push_bind(&r.kind)
                    .push_bind(&r.identity)
                    .push_bind(&r.operation)
                    .push_bind(&r.resource)
                    .push_bind(r.status)
                    .push_bind(&r.hash)
                    .push_bind(&r.line);
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_query(&self, f: &AuditFilter) -> Result<Vec<AuditRow>> {
        let (op_exact, op_prefix) = match &f.operation {
            Some(op) if op.ends_with('.') => (None, Some(format!("{op}%"))),
            Some(op) => (Some(op.clone()), None),
            None => (None, None),
        };
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE kind <> 'checkpoint' \
             AND (? IS NULL OR identity = ?) AND (? IS NULL OR operation = ?) AND (? IS NULL OR operation LIKE ?) \
             AND (? IS NULL OR status = ?) AND (? IS NULL OR time_ms >= ?) AND (? IS NULL OR time_ms <= ?) \
             AND seq < ? ORDER BY seq DESC LIMIT ?"
        ))
        .bind(&f.identity)
        .bind(&f.identity)
        .bind(&op_exact)
        .bind(&op_exact)
        .bind(&op_prefix)
        .bind(&op_prefix)
        .bind(f.status)
        .bind(f.status)
        .bind(f.since_ms)
        .bind(f.since_ms)
        .bind(f.until_ms)
        .bind(f.until_ms)
        .bind(f.before_seq.unwrap_or(i64::MAX))
        .bind(f.limit)
        .fetch_all(&self.audit)
        .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn audit_scan(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.audit)
        .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn audit_last(&self, checkpoint: bool) -> Result<Option<AuditRow>> {
        let row = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE (? = 0 OR kind = 'checkpoint') ORDER BY seq DESC LIMIT 1"
        ))
        .bind(checkpoint)
        .fetch_optional(&self.audit)
        .await?;
        row.as_ref().map(audit_row).transpose()
    }

    /// Closes the pools, checkpointing the WALs.
    async fn rotation_get(&self, env_id: i64, path: &str) -> Result<Option<RotationRow>> {
        let row = sqlx::query(&format!(
            "SELECT {ROTATION_COLUMNS} FROM rotation_state r WHERE r.env_id = ? AND r.path = ?"
        ))
        .bind(env_id)
        .bind(path)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(rotation_row).transpose()
    }

    async fn rotation_put(&self, row: &RotationRow) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        put_rotation(&mut conn, row).await
    }

    async fn rotation_delete(&self, env_id: i64, path: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM rotation_state WHERE env_id = ? AND path = ?")
            .bind(env_id)
            .bind(path)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn rotation_claim(&self, env_id: i64, path: &str, attempt: i64, now: i64, lease_until: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE rotation_state SET lease_until = ? WHERE env_id = ? AND path = ? AND attempt = ? \
             AND (lease_until IS NULL OR lease_until <= ?)",
        )
        .bind(lease_until)
        .bind(env_id)
        .bind(path)
        .bind(attempt)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotation_due(&self, now: i64, limit: i64) -> Result<Vec<DueRotation>> {
        let rows = sqlx::query(&format!(
            "SELECT {ROTATION_COLUMNS}, p.name, e.name FROM rotation_state r \
             JOIN environments e ON e.id = r.env_id JOIN projects p ON p.id = e.project_id \
             WHERE (r.lease_until IS NULL OR r.lease_until <= ?) \
             AND ((r.state = 'failed' AND r.retry_at <= ?) OR (r.state = 'idle' AND r.next_due_at <= ?) \
                  OR r.state = 'running' OR r.retire_at <= ?) \
             ORDER BY MIN(COALESCE(r.next_due_at, ?), COALESCE(r.retry_at, ?), COALESCE(r.retire_at, ?)) LIMIT ?"
        ))
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueRotation {
                    row: rotation_row(r)?,
                    project: r.try_get(ROTATION_COLUMN_COUNT)?,
                    env: r.try_get(ROTATION_COLUMN_COUNT + 1)?,
                })
            })
            .collect()
    }

    async fn rotation_release_leases(&self) -> Result<()> {
        sqlx::query("UPDATE rotation_state SET lease_until = NULL WHERE lease_until IS NOT NULL")
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn rotation_promote(&self, change: NewChange, row: &RotationRow) -> Result<Applied> {
        self.commit(change, Some(row.clone())).await
    }

    async fn secret_withdraw_previous(&self, env_id: i64, path: &str, current_version: i64) -> Result<()> {
        sqlx::query("UPDATE secrets SET previous_withdrawn_for = ? WHERE env_id = ? AND path = ?")
            .bind(current_version)
            .bind(env_id)
            .bind(path)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn rotation_log_put(&self, e: &RotationLogRow) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO rotation_log (env_id, path, attempt, trigger, actor, rotator, started_at, \
             finished_at, outcome, step, error, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.env_id)
        .bind(&e.path)
        .bind(e.attempt)
        .bind(&e.trigger)
        .bind(&e.actor)
        .bind(&e.rotator)
        .bind(e.started_at)
        .bind(e.finished_at)
        .bind(&e.outcome)
        .bind(&e.step)
        .bind(&e.error)
        .bind(e.version)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn rotation_log(&self, env_id: i64, path: &str, limit: i64) -> Result<Vec<RotationLogRow>> {
        let rows = sqlx::query(
            "SELECT env_id, path, attempt, trigger, actor, rotator, started_at, finished_at, outcome, step, error, \
             version FROM rotation_log WHERE env_id = ? AND path = ? ORDER BY started_at DESC, attempt DESC LIMIT ?",
        )
        .bind(env_id)
        .bind(path)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RotationLogRow {
                    env_id: r.try_get(0)?,
                    path: r.try_get(1)?,
                    attempt: r.try_get(2)?,
                    trigger: r.try_get(3)?,
                    actor: r.try_get(4)?,
                    rotator: r.try_get(5)?,
                    started_at: r.try_get(6)?,
                    finished_at: r.try_get(7)?,
                    outcome: r.try_get(8)?,
                    step: r.try_get(9)?,
                    error: r.try_get(10)?,
                    version: r.try_get(11)?,
                })
            })
            .collect()
    }

    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
        self.audit.close().await;
    }

    async fn secret_paths(&self, env_id: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT path FROM secrets WHERE env_id = ? ORDER BY path")
                .bind(env_id)
                .fetch_all(&self.read)
                .await?,
        )
    }

    async fn retained_versions(&self, env_id: i64, current_only: bool) -> Result<(i64, Vec<(VersionRow, bool)>)> {
        // One read transaction: the revision and the rows come from one snapshot.
        let mut tx = self.read.begin().await?;
        let (revision, _) = env_state(&mut tx, env_id).await?;
        let filter = if current_only {
            "AND v.version = s.latest_version AND s.deleted = 0"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS}, (v.version = s.latest_version AND s.deleted = 0) \
             FROM secrets s JOIN versions v ON v.secret_id = s.id \
             WHERE s.env_id = ? AND v.destroyed = 0 {filter} ORDER BY s.path, v.version"
        ))
        .bind(env_id)
        .fetch_all(&mut *tx)
        .await?;
        let versions = rows
            .iter()
            .map(|r| Ok((version_row(r)?, r.try_get(10)?)))
            .collect::<Result<_>>()?;
        tx.commit().await?;
        Ok((revision, versions))
    }

    async fn e2e_version_count(&self, env_id: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM versions v JOIN secrets s ON s.id = v.secret_id \
             WHERE s.env_id = ? AND v.e2e = 1 AND v.destroyed = 0",
        )
        .bind(env_id)
        .fetch_one(&self.read)
        .await?)
    }

    async fn changes_since(&self, env_id: i64, after: i64, limit: i64) -> Result<Vec<ChangeRow>> {
        let mut conn = self.read.acquire().await?;
        let rows = sqlx::query(
            "SELECT revision, actor, message, created_at FROM changes WHERE env_id = ? AND revision > ? ORDER BY revision LIMIT ?",
        )
        .bind(env_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let changes = rows.iter().map(change_row).collect::<Result<Vec<_>>>()?;
        with_entries(&mut conn, env_id, changes).await
    }

    async fn history(&self, env_id: i64, before: Option<i64>, limit: i64) -> Result<Vec<ChangeRow>> {
        let mut conn = self.read.acquire().await?;
        let rows = sqlx::query(
            "SELECT revision, actor, message, created_at FROM changes WHERE env_id = ? AND revision < ? ORDER BY revision DESC LIMIT ?",
        )
        .bind(env_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let changes = rows.iter().map(change_row).collect::<Result<Vec<_>>>()?;
        with_entries(&mut conn, env_id, changes).await
    }
}
