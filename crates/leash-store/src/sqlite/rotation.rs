//! [`RotationStore`] on SQLite: `rotation_state` (one row per policy, the
//! pending value sealed as a BLOB, the lease), `rotation_log`, and the
//! promotion, which goes through the group committer with its row so that
//! the new version and the rotation state commit together.

use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::model::{Applied, DueRotation, Lease, NewChange, RotationLogRow, RotationRow, Sealed};
use crate::rows::{DueDb, RotationDb};
use crate::{Result, RotationStore};

/// Creates or replaces a rotation row on the caller's connection (also used by the group committer).
pub(super) async fn put_rotation(conn: &mut SqliteConnection, r: &RotationRow) -> Result<()> {
    sqlx::query(
        "INSERT OR REPLACE INTO rotation_state (env_id, path, policy, next_due_at, grace_ms, attempt, state, step, \
         pending_key_id, pending_ciphertext, failures, retry_at, last_error, lease_holder, lease_until, \
         last_rotated_at, retire_at, retire_version, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .bind(r.lease.as_ref().map(|l| l.holder.as_str()))
    .bind(r.lease.as_ref().map(|l| l.until))
    .bind(r.last_rotated_at)
    .bind(r.retire_at)
    .bind(r.retire_version)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl RotationStore for SqliteStore {
    async fn rotation_get(&self, env_id: i64, path: &str) -> Result<Option<RotationRow>> {
        let row: Option<RotationDb> = sqlx::query_as(
            "SELECT env_id, path, policy, next_due_at, grace_ms, attempt, state, step, pending_key_id, \
             pending_ciphertext, failures, retry_at, last_error, lease_holder, lease_until, last_rotated_at, \
             retire_at, retire_version, created_at, updated_at FROM rotation_state WHERE env_id = ? AND path = ?",
        )
        .bind(env_id)
        .bind(path)
        .fetch_optional(&self.read)
        .await?;
        row.map(RotationRow::try_from).transpose()
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

    async fn rotation_claim(&self, env_id: i64, path: &str, attempt: i64, lease: &Lease, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE rotation_state SET lease_holder = ?, lease_until = ? WHERE env_id = ? AND path = ? \
             AND attempt = ? AND (lease_until IS NULL OR lease_until <= ?)",
        )
        .bind(&lease.holder)
        .bind(lease.until)
        .bind(env_id)
        .bind(path)
        .bind(attempt)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotation_due(&self, now: i64, limit: i64) -> Result<Vec<DueRotation>> {
        let rows: Vec<DueDb> = sqlx::query_as(
            "SELECT r.env_id, r.path, r.policy, r.next_due_at, r.grace_ms, r.attempt, r.state, r.step, \
             r.pending_key_id, r.pending_ciphertext, r.failures, r.retry_at, r.last_error, r.lease_holder, r.lease_until, \
             r.last_rotated_at, r.retire_at, r.retire_version, r.created_at, r.updated_at, \
             p.name AS project, e.name AS env FROM rotation_state r \
             JOIN environments e ON e.id = r.env_id JOIN projects p ON p.id = e.project_id \
             WHERE (r.lease_until IS NULL OR r.lease_until <= ?1) \
             AND ((r.state = 'failed' AND r.retry_at <= ?1) OR (r.state = 'idle' AND r.next_due_at <= ?1) \
                  OR r.state = 'running' OR r.retire_at <= ?1) \
             ORDER BY MIN(COALESCE(r.next_due_at, ?1), COALESCE(r.retry_at, ?1), COALESCE(r.retire_at, ?1)) LIMIT ?2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(DueRotation::try_from).collect()
    }

    async fn rotation_release_leases(&self) -> Result<()> {
        sqlx::query("UPDATE rotation_state SET lease_holder = NULL, lease_until = NULL WHERE lease_until IS NOT NULL")
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
        Ok(sqlx::query_as(
            "SELECT env_id, path, attempt, trigger, actor, rotator, started_at, finished_at, outcome, step, error, \
             version FROM rotation_log WHERE env_id = ? AND path = ? ORDER BY started_at DESC, attempt DESC LIMIT ?",
        )
        .bind(env_id)
        .bind(path)
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }
}
