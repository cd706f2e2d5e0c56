//! Applying one change set inside the caller's transaction: lock the
//! environment's row, read the heads of its paths, ask `rules` what each
//! operation may do, write what it answers. The statements do not grow with
//! the change: each kind of row is written by one statement over arrays
//! (`UNNEST`), however many paths the change names. Also the helpers the other writers of an
//! environment share (`lock_env`, `record_revision`).

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::model::{Applied, NewChange, Op};
use crate::rows::{StoredHeadDb, split_recipients};
use crate::rules::{self, EnvState, OpPlan, StoredHead};
use crate::{Result, StoreError};

/// Locks an environment's row for the rest of the caller's transaction and
/// reads its revision and end-to-end recipients; `NotFound` if there is no such
/// environment. Every writer of an environment's secrets, versions or changes
/// calls this first, so they run one after another (see the module docs of `postgres`).
pub(super) async fn lock_env(conn: &mut PgConnection, env_id: i64) -> Result<EnvState> {
    let row: Option<(i64, Option<String>)> =
        sqlx::query_as("SELECT revision, e2e_recipients FROM environments WHERE id = $1 FOR NO KEY UPDATE")
            .bind(env_id)
            .fetch_optional(conn)
            .await?;
    let (revision, recipients) = row.ok_or_else(|| StoreError::NotFound("environment".into()))?;
    Ok(EnvState {
        revision,
        e2e_recipients: split_recipients(recipients),
    })
}

/// An environment's revision inside the caller's (read) transaction; `NotFound` if there is none.
pub(super) async fn env_revision(conn: &mut PgConnection, env_id: i64) -> Result<i64> {
    let revision: Option<i64> = sqlx::query_scalar("SELECT revision FROM environments WHERE id = $1")
        .bind(env_id)
        .fetch_optional(conn)
        .await?;
    revision.ok_or_else(|| StoreError::NotFound("environment".into()))
}

/// Records revision `revision` of an environment (who, why, when) and moves
/// the environment to it, inside the caller's transaction (which holds the
/// environment's lock).
pub(super) async fn record_revision(
    conn: &mut PgConnection,
    env_id: i64,
    revision: i64,
    actor: &str,
    message: &Option<String>,
    created_at: i64,
) -> Result<()> {
    sqlx::query(
        "WITH recorded AS (INSERT INTO changes (env_id, revision, actor, message, created_at) \
         VALUES ($1, $2, $3, $4, $5)) UPDATE environments SET revision = $2 WHERE id = $1",
    )
    .bind(env_id)
    .bind(revision)
    .bind(actor)
    .bind(message)
    .bind(created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A secret's head with its path, as a change set reads it.
#[derive(sqlx::FromRow)]
struct PathHeadDb {
    path: String,
    #[sqlx(flatten)]
    head: StoredHeadDb,
}

/// The stored heads of `paths` in an environment, by path (one statement).
async fn stored_heads(
    conn: &mut PgConnection,
    env_id: i64,
    paths: &[&str],
) -> Result<HashMap<String, StoredHead<i64>>> {
    let rows: Vec<PathHeadDb> =
        sqlx::query_as("SELECT id, path, latest_version, deleted FROM secrets WHERE env_id = $1 AND path = ANY($2)")
            .bind(env_id)
            .bind(paths)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let head = StoredHead {
                key: r.head.id,
                latest_version: r.head.latest_version,
                deleted: r.head.deleted,
            };
            (r.path, head)
        })
        .collect())
}

/// Applies one change set inside the caller's transaction; on `Err` the
/// caller rolls the transaction (savepoint) back.
pub(super) async fn apply_change_in_tx(tx: &mut PgConnection, change: &NewChange) -> Result<Applied> {
    let env = lock_env(&mut *tx, change.env_id).await?;
    let revision = rules::check_change(change, &env)?;
    let paths: Vec<&str> = change.ops.iter().map(Op::path).collect();
    let heads = stored_heads(&mut *tx, change.env_id, &paths).await?;
    // Every operation's plan first: a refused one fails the change before anything is written.
    let plans = change
        .ops
        .iter()
        .map(|op| rules::plan_op(op, heads.get(op.path()).copied()))
        .collect::<Result<Vec<OpPlan<i64>>>>()?;
    record_revision(
        &mut *tx,
        change.env_id,
        revision,
        &change.actor,
        &change.message,
        change.created_at,
    )
    .await?;
    let created = create_secrets(&mut *tx, change, &plans).await?;
    update_secrets(&mut *tx, change, &plans).await?;
    let secret_id = |op: &Op, plan: &OpPlan<i64>| -> Result<i64> {
        match plan {
            OpPlan::Create => created
                .get(op.path())
                .copied()
                .ok_or_else(|| StoreError::Commit(format!("secret {} was not created", op.path()))),
            OpPlan::Append { key, .. } | OpPlan::Delete { key } | OpPlan::Undelete { key, .. } => Ok(*key),
        }
    };

    // The new versions (one per `Set`) and one entry per operation.
    let (mut v_secret, mut v_version, mut v_key, mut v_data) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut e_secret, mut e_action, mut e_version, mut e_origin) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut entries = Vec::with_capacity(change.ops.len());
    for (op, plan) in change.ops.iter().zip(&plans) {
        let id = secret_id(op, plan)?;
        if let Op::Set {
            version,
            key_id,
            ciphertext,
            ..
        } = op
        {
            v_secret.push(id);
            v_version.push(*version);
            v_key.push(i64::from(*key_id));
            v_data.push(ciphertext.as_bytes());
        }
        let entry = plan.entry(op);
        e_secret.push(id);
        e_action.push(entry.action.as_str());
        e_version.push(entry.version);
        e_origin.push(entry.origin.clone());
        entries.push(entry);
    }
    if !v_secret.is_empty() {
        sqlx::query(
            "INSERT INTO versions (secret_id, version, revision, key_id, ciphertext, destroyed, actor, created_at, e2e) \
             SELECT t.secret_id, t.version, $1, t.key_id, t.ciphertext, FALSE, $2, $3, $4 \
             FROM UNNEST($5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BYTEA[]) AS t(secret_id, version, key_id, ciphertext)",
        )
        .bind(revision)
        .bind(&change.actor)
        .bind(change.created_at)
        .bind(change.e2e_recipients.is_some())
        .bind(&v_secret)
        .bind(&v_version)
        .bind(&v_key)
        .bind(&v_data)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO change_entries (env_id, revision, secret_id, action, version, origin) \
         SELECT $1, $2, t.secret_id, t.action, t.version, t.origin \
         FROM UNNEST($3::BIGINT[], $4::TEXT[], $5::BIGINT[], $6::TEXT[]) AS t(secret_id, action, version, origin)",
    )
    .bind(change.env_id)
    .bind(revision)
    .bind(&e_secret)
    .bind(&e_action)
    .bind(&e_version)
    .bind(&e_origin)
    .execute(&mut *tx)
    .await?;
    Ok(Applied { revision, entries })
}

/// The `Set` description of an operation (`None`: keep the stored one).
fn description(op: &Op) -> Option<&str> {
    match op {
        Op::Set { description, .. } => description.as_deref(),
        Op::Delete { .. } | Op::Undelete { .. } => None,
    }
}

/// Inserts the secrets the plans create (at version 1, live); their ids by path.
async fn create_secrets(
    conn: &mut PgConnection,
    change: &NewChange,
    plans: &[OpPlan<i64>],
) -> Result<HashMap<String, i64>> {
    let new: Vec<&Op> = change
        .ops
        .iter()
        .zip(plans)
        .filter(|(_, plan)| matches!(plan, OpPlan::Create))
        .map(|(op, _)| op)
        .collect();
    if new.is_empty() {
        return Ok(HashMap::new());
    }
    let paths: Vec<&str> = new.iter().map(|op| op.path()).collect();
    let descriptions: Vec<Option<&str>> = new.iter().map(|op| description(op)).collect();
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "INSERT INTO secrets (env_id, path, description, latest_version, deleted, updated_at) \
         SELECT $1, t.path, t.description, 1, FALSE, $2 FROM UNNEST($3::TEXT[], $4::TEXT[]) AS t(path, description) \
         RETURNING id, path",
    )
    .bind(change.env_id)
    .bind(change.created_at)
    .bind(&paths)
    .bind(&descriptions)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id, path)| (path, id)).collect())
}

/// Updates the stored secrets as the plans say: a new latest version (live
/// again, the description replaced when given), or deleted / live again.
async fn update_secrets(conn: &mut PgConnection, change: &NewChange, plans: &[OpPlan<i64>]) -> Result<()> {
    let (mut a_id, mut a_version, mut a_description) = (Vec::new(), Vec::new(), Vec::new());
    let (mut d_id, mut d_deleted) = (Vec::new(), Vec::new());
    for (op, plan) in change.ops.iter().zip(plans) {
        match plan {
            OpPlan::Create => {}
            OpPlan::Append { key, version } => {
                a_id.push(*key);
                a_version.push(*version);
                a_description.push(description(op));
            }
            OpPlan::Delete { key } => {
                d_id.push(*key);
                d_deleted.push(true);
            }
            OpPlan::Undelete { key, .. } => {
                d_id.push(*key);
                d_deleted.push(false);
            }
        }
    }
    if !a_id.is_empty() {
        sqlx::query(
            "UPDATE secrets s SET latest_version = t.version, deleted = FALSE, updated_at = $1, \
             description = COALESCE(t.description, s.description) \
             FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::TEXT[]) AS t(id, version, description) WHERE s.id = t.id",
        )
        .bind(change.created_at)
        .bind(&a_id)
        .bind(&a_version)
        .bind(&a_description)
        .execute(&mut *conn)
        .await?;
    }
    if !d_id.is_empty() {
        sqlx::query(
            "UPDATE secrets s SET deleted = t.deleted, updated_at = $1 \
             FROM UNNEST($2::BIGINT[], $3::BOOLEAN[]) AS t(id, deleted) WHERE s.id = t.id",
        )
        .bind(change.created_at)
        .bind(&d_id)
        .bind(&d_deleted)
        .execute(conn)
        .await?;
    }
    Ok(())
}
