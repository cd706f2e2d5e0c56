//! Applying one change set inside the caller's transaction (the group
//! committer's savepoint): read the environment and each secret's head, ask
//! `rules` what is allowed, write what it answers. Also the helpers the other
//! writers of an environment's revision share (`env_state`, `insert_change`).

use sqlx::SqliteConnection;

use crate::model::{Applied, NewChange, Op};
use crate::rows::{StoredHeadDb, split_recipients};
use crate::rules::{self, EnvState, OpPlan, StoredHead};
use crate::{Result, StoreError};

/// An environment's revision and end-to-end recipients, inside a transaction;
/// `NotFound` if there is no such environment.
pub(super) async fn env_state(conn: &mut SqliteConnection, env_id: i64) -> Result<EnvState> {
    let row: Option<(i64, Option<String>)> =
        sqlx::query_as("SELECT revision, e2e_recipients FROM environments WHERE id = ?")
            .bind(env_id)
            .fetch_optional(conn)
            .await?;
    let (revision, recipients) = row.ok_or_else(|| StoreError::NotFound("environment".into()))?;
    Ok(EnvState {
        revision,
        e2e_recipients: split_recipients(recipients),
    })
}

/// Records revision `revision` of an environment (who, why, when) and moves
/// the environment to it, inside the caller's transaction.
pub(super) async fn record_revision(
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
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE environments SET revision = ? WHERE id = ?")
        .bind(revision)
        .bind(env_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn stored_head(conn: &mut SqliteConnection, env_id: i64, path: &str) -> Result<Option<StoredHead<i64>>> {
    let row: Option<StoredHeadDb> =
        sqlx::query_as("SELECT id, latest_version, deleted FROM secrets WHERE env_id = ? AND path = ?")
            .bind(env_id)
            .bind(path)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|h| StoredHead {
        key: h.id,
        latest_version: h.latest_version,
        deleted: h.deleted,
    }))
}

/// Applies one change set inside the caller's transaction; on `Err` the
/// caller rolls the transaction (savepoint) back.
pub(super) async fn apply_change_in_tx(tx: &mut SqliteConnection, change: &NewChange) -> Result<Applied> {
    let env = env_state(&mut *tx, change.env_id).await?;
    let revision = rules::check_change(change, &env)?;
    record_revision(
        &mut *tx,
        change.env_id,
        revision,
        &change.actor,
        &change.message,
        change.created_at,
    )
    .await?;
    let mut entries = Vec::with_capacity(change.ops.len());
    for op in &change.ops {
        let head = stored_head(&mut *tx, change.env_id, op.path()).await?;
        let plan = rules::plan_op(op, head)?;
        let entry = plan.entry(op);
        let secret_id = write_secret(&mut *tx, change, op, plan).await?;
        if let Op::Set {
            version,
            key_id,
            ciphertext,
            ..
        } = op
        {
            sqlx::query(
                "INSERT INTO versions (secret_id, version, revision, key_id, ciphertext, destroyed, actor, created_at, e2e) \
                 VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
            )
            .bind(secret_id)
            .bind(version)
            .bind(revision)
            .bind(i64::from(*key_id))
            .bind(ciphertext.as_bytes())
            .bind(&change.actor)
            .bind(change.created_at)
            .bind(change.e2e_recipients.is_some())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO change_entries (env_id, revision, secret_id, action, version, origin) VALUES (?, ?, ?, ?, ?, ?)",
        )
            .bind(change.env_id)
            .bind(revision)
            .bind(secret_id)
            .bind(entry.action.as_str())
            .bind(entry.version)
            .bind(&entry.origin)
            .execute(&mut *tx)
            .await?;
        entries.push(entry);
    }
    Ok(Applied { revision, entries })
}

/// Writes the `secrets` row as `plan` says; returns the secret's id.
async fn write_secret(conn: &mut SqliteConnection, change: &NewChange, op: &Op, plan: OpPlan<i64>) -> Result<i64> {
    let now = change.created_at;
    let description = match op {
        Op::Set { description, .. } => description.as_deref(),
        Op::Delete { .. } | Op::Undelete { .. } => None,
    };
    let set_deleted = |id: i64, deleted: bool| {
        sqlx::query("UPDATE secrets SET deleted = ?, updated_at = ? WHERE id = ?")
            .bind(deleted)
            .bind(now)
            .bind(id)
    };
    match plan {
        OpPlan::Create => Ok(sqlx::query_scalar(
            "INSERT INTO secrets (env_id, path, description, latest_version, deleted, updated_at) \
             VALUES (?, ?, ?, 1, 0, ?) RETURNING id",
        )
        .bind(change.env_id)
        .bind(op.path())
        .bind(description)
        .bind(now)
        .fetch_one(conn)
        .await?),
        OpPlan::Append { key, version } => {
            sqlx::query(
                "UPDATE secrets SET latest_version = ?, deleted = 0, updated_at = ?, \
                 description = COALESCE(?, description) WHERE id = ?",
            )
            .bind(version)
            .bind(now)
            .bind(description)
            .bind(key)
            .execute(conn)
            .await?;
            Ok(key)
        }
        OpPlan::Delete { key } => {
            set_deleted(key, true).execute(conn).await?;
            Ok(key)
        }
        OpPlan::Undelete { key, .. } => {
            set_deleted(key, false).execute(conn).await?;
            Ok(key)
        }
    }
}
