//! [`SecretStore`] on PostgreSQL: `secrets` (one row per path: head,
//! description, deleted flag), `versions` (the sealed data as `BYTEA`),
//! `changes` and `change_entries` (an environment's revisions). Reads of
//! several statements run in one snapshot (`REPEATABLE READ READ ONLY`); a
//! change set, a destroy and an end-to-end update are each one transaction that
//! first locks the environment's row (`changes::lock_env`), with their rules
//! from `rules`.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::PgConnection;

use super::PostgresStore;
use super::changes::{env_revision, lock_env, record_revision};
use crate::model::*;
use crate::rows::{
    ChangeDb, EntryDb, HeadWithIdDb, RetainedDb, RetainedKeyDb, VersionDb, join_recipients, revision_span, with_entries,
};
use crate::rules::{self, RetainedVersion};
use crate::{Result, SecretStore, StoreError};

/// Fills in what each change did to each path (inside the caller's snapshot).
async fn read_entries(conn: &mut PgConnection, env_id: i64, changes: Vec<ChangeDb>) -> Result<Vec<ChangeRow>> {
    let Some((low, high)) = revision_span(&changes) else {
        return Ok(Vec::new());
    };
    let entries: Vec<EntryDb> = sqlx::query_as(
        "SELECT e.revision, s.path, e.action, e.version, e.origin FROM change_entries e JOIN secrets s ON s.id = e.secret_id \
         WHERE e.env_id = $1 AND e.revision BETWEEN $2 AND $3 ORDER BY e.revision, s.path",
    )
    .bind(env_id)
    .bind(low)
    .bind(high)
    .fetch_all(conn)
    .await?;
    with_entries(changes, entries)
}

#[async_trait]
impl SecretStore for PostgresStore {
    async fn heads(&self, env_id: i64, paths: &[String]) -> Result<Vec<SecretHead>> {
        // One statement (one snapshot), the paths bound as one array.
        let mut found: Vec<SecretHead> = sqlx::query_as(
            "SELECT path, description, latest_version, deleted, updated_at, previous_withdrawn_for FROM secrets \
             WHERE env_id = $1 AND path = ANY($2)",
        )
        .bind(env_id)
        .bind(paths)
        .fetch_all(&self.pool)
        .await?;
        let asked: HashMap<&str, usize> = paths.iter().enumerate().map(|(i, p)| (p.as_str(), i)).collect();
        found.sort_by_key(|h| asked.get(h.path.as_str()).copied());
        Ok(found)
    }

    async fn apply_change(&self, change: NewChange) -> Result<Applied> {
        self.commit(change, None).await
    }

    async fn read_version(&self, env_id: i64, path: &str, selector: Selector) -> Result<Option<VersionRow>> {
        let row: Option<VersionDb> = match selector {
            Selector::Current => {
                sqlx::query_as(
                    "SELECT s.path, v.version, v.revision, v.key_id, v.ciphertext, v.destroyed, v.actor, v.created_at, \
                     s.description, v.e2e FROM secrets s \
                     JOIN versions v ON v.secret_id = s.id AND v.version = s.latest_version \
                     WHERE s.env_id = $1 AND s.path = $2 AND NOT s.deleted",
                )
                .bind(env_id)
                .bind(path)
                .fetch_optional(&self.pool)
                .await?
            }
            Selector::Version(n) => {
                sqlx::query_as(
                    "SELECT s.path, v.version, v.revision, v.key_id, v.ciphertext, v.destroyed, v.actor, v.created_at, \
                     s.description, v.e2e FROM secrets s JOIN versions v ON v.secret_id = s.id \
                     WHERE s.env_id = $1 AND s.path = $2 AND v.version = $3",
                )
                .bind(env_id)
                .bind(path)
                .bind(n)
                .fetch_optional(&self.pool)
                .await?
            }
            Selector::AtRevision(r) => {
                sqlx::query_as(
                    "SELECT s.path, v.version, v.revision, v.key_id, v.ciphertext, v.destroyed, v.actor, v.created_at, \
                     s.description, v.e2e FROM secrets s \
                     JOIN change_entries e ON e.secret_id = s.id \
                     JOIN versions v ON v.secret_id = s.id AND v.version = e.version \
                     WHERE s.env_id = $1 AND s.path = $2 AND e.action <> 'delete' \
                     AND e.revision = (SELECT MAX(revision) FROM change_entries WHERE secret_id = s.id AND revision <= $3)",
                )
                .bind(env_id)
                .bind(path)
                .bind(r)
                .fetch_optional(&self.pool)
                .await?
            }
        };
        Ok(row.map(VersionRow::from))
    }

    async fn list_state(
        &self,
        env_id: i64,
        at_revision: Option<i64>,
        with_data: bool,
    ) -> Result<(i64, Vec<VersionRow>)> {
        // One snapshot: the revision and the rows agree.
        let mut tx = self.snapshot().await?;
        let current = env_revision(&mut tx, env_id).await?;
        let rows: Vec<VersionDb> = match at_revision {
            None => {
                sqlx::query_as(
                    "SELECT s.path, v.version, v.revision, v.key_id, CASE WHEN $1 THEN v.ciphertext END AS ciphertext, \
                     v.destroyed, v.actor, v.created_at, s.description, v.e2e FROM secrets s \
                     JOIN versions v ON v.secret_id = s.id AND v.version = s.latest_version \
                     WHERE s.env_id = $2 AND NOT s.deleted ORDER BY s.path",
                )
                .bind(with_data)
                .bind(env_id)
                .fetch_all(&mut *tx)
                .await?
            }
            Some(r) => {
                sqlx::query_as(
                    "SELECT s.path, v.version, v.revision, v.key_id, CASE WHEN $1 THEN v.ciphertext END AS ciphertext, \
                     v.destroyed, v.actor, v.created_at, s.description, v.e2e FROM secrets s \
                     JOIN change_entries e ON e.secret_id = s.id \
                     JOIN versions v ON v.secret_id = s.id AND v.version = e.version \
                     WHERE s.env_id = $2 AND e.action <> 'delete' \
                     AND e.revision = (SELECT MAX(revision) FROM change_entries WHERE secret_id = s.id AND revision <= $3) \
                     ORDER BY s.path",
                )
                .bind(with_data)
                .bind(env_id)
                .bind(r)
                .fetch_all(&mut *tx)
                .await?
            }
        };
        tx.commit().await?;
        let versions = rows.into_iter().map(VersionRow::from).collect();
        Ok((at_revision.unwrap_or(current), versions))
    }

    async fn secret_paths(&self, env_id: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT path FROM secrets WHERE env_id = $1 ORDER BY path")
                .bind(env_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn secret_versions(&self, env_id: i64, path: &str) -> Result<Option<(SecretHead, Vec<VersionRow>)>> {
        let mut tx = self.snapshot().await?;
        let head: Option<HeadWithIdDb> = sqlx::query_as(
            "SELECT id, path, description, latest_version, deleted, updated_at, previous_withdrawn_for FROM secrets \
             WHERE env_id = $1 AND path = $2",
        )
        .bind(env_id)
        .bind(path)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(HeadWithIdDb { id, head }) = head else {
            return Ok(None);
        };
        let rows: Vec<VersionDb> = sqlx::query_as(
            "SELECT s.path, v.version, v.revision, v.key_id, NULL::BYTEA AS ciphertext, v.destroyed, v.actor, \
             v.created_at, s.description, v.e2e, \
             (SELECT e.origin FROM change_entries e WHERE e.secret_id = s.id AND e.revision = v.revision) AS origin \
             FROM secrets s JOIN versions v ON v.secret_id = s.id WHERE s.id = $1 ORDER BY v.version",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some((head, rows.into_iter().map(VersionRow::from).collect())))
    }

    async fn destroy_versions(&self, env_id: i64, path: &str, versions: Option<&[i64]>) -> Result<Vec<i64>> {
        let mut tx = self.write().await?;
        // After the environment's writers (a change adding a version, an end-to-end update re-encrypting one).
        lock_env(&mut tx, env_id).await?;
        let head: Option<(i64, i64)> =
            sqlx::query_as("SELECT id, latest_version FROM secrets WHERE env_id = $1 AND path = $2")
                .bind(env_id)
                .bind(path)
                .fetch_optional(&mut *tx)
                .await?;
        let (secret_id, latest) = head.ok_or_else(|| StoreError::NotFound(format!("secret {path}")))?;
        let mut destroyed = Vec::new();
        for version in rules::destroy_targets(path, latest, versions)? {
            let done = sqlx::query(
                "UPDATE versions SET ciphertext = NULL, destroyed = TRUE \
                 WHERE secret_id = $1 AND version = $2 AND NOT destroyed",
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

    async fn retained_versions(&self, env_id: i64, current_only: bool) -> Result<(i64, Vec<(VersionRow, bool)>)> {
        // One snapshot: the revision and the rows agree.
        let mut tx = self.snapshot().await?;
        let revision = env_revision(&mut tx, env_id).await?;
        let rows: Vec<RetainedDb> = sqlx::query_as(
            "SELECT s.path, v.version, v.revision, v.key_id, v.ciphertext, v.destroyed, v.actor, v.created_at, \
             s.description, v.e2e, (v.version = s.latest_version AND NOT s.deleted) AS current \
             FROM secrets s JOIN versions v ON v.secret_id = s.id \
             WHERE s.env_id = $1 AND NOT v.destroyed \
             AND (NOT $2 OR (v.version = s.latest_version AND NOT s.deleted)) ORDER BY s.path, v.version",
        )
        .bind(env_id)
        .bind(current_only)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let versions = rows.into_iter().map(|r| (r.version.into(), r.current)).collect();
        Ok((revision, versions))
    }

    async fn e2e_version_count(&self, env_id: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM versions v JOIN secrets s ON s.id = v.secret_id \
             WHERE s.env_id = $1 AND v.e2e AND NOT v.destroyed",
        )
        .bind(env_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn e2e_update(&self, change: E2eChange) -> Result<E2eApplied> {
        let mut tx = self.write().await?;
        let revision = lock_env(&mut tx, change.env_id).await?.revision;
        let retained: Vec<RetainedKeyDb> = sqlx::query_as(
            "SELECT s.id AS secret_id, v.version, s.path, (v.version = s.latest_version AND NOT s.deleted) AS current, \
             v.e2e FROM secrets s JOIN versions v ON v.secret_id = s.id WHERE s.env_id = $1 AND NOT v.destroyed",
        )
        .bind(change.env_id)
        .fetch_all(&mut *tx)
        .await?;
        let retained: Vec<RetainedVersion<(i64, i64)>> = retained
            .into_iter()
            .map(|r| RetainedVersion {
                key: (r.secret_id, r.version),
                path: r.path,
                version: r.version,
                current: r.current,
                e2e: r.e2e,
            })
            .collect();
        let plan = rules::plan_e2e_update(&change, revision, &retained)?;
        for (rewrap, (secret_id, version)) in &plan.rewrap {
            sqlx::query(
                "UPDATE versions SET ciphertext = $1, key_id = $2, e2e = TRUE WHERE secret_id = $3 AND version = $4",
            )
            .bind(rewrap.ciphertext.as_bytes())
            .bind(i64::from(rewrap.key_id))
            .bind(secret_id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        for (secret_id, version) in &plan.destroy {
            sqlx::query(
                "UPDATE versions SET ciphertext = NULL, destroyed = TRUE WHERE secret_id = $1 AND version = $2",
            )
            .bind(secret_id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        record_revision(
            &mut tx,
            change.env_id,
            plan.revision,
            &change.actor,
            &change.message,
            change.created_at,
        )
        .await?;
        sqlx::query("UPDATE environments SET e2e_recipients = $1 WHERE id = $2")
            .bind(join_recipients(&change.recipients))
            .bind(change.env_id)
            .execute(&mut *tx)
            .await?;
        let applied = E2eApplied {
            revision: plan.revision,
            rewrapped: plan.rewrap.len(),
            destroyed: plan.destroy.len(),
        };
        tx.commit().await?;
        Ok(applied)
    }

    async fn changes_since(&self, env_id: i64, after: i64, limit: i64) -> Result<Vec<ChangeRow>> {
        let mut tx = self.snapshot().await?;
        let changes: Vec<ChangeDb> = sqlx::query_as(
            "SELECT revision, actor, message, created_at FROM changes WHERE env_id = $1 AND revision > $2 \
             ORDER BY revision LIMIT $3",
        )
        .bind(env_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let changes = read_entries(&mut tx, env_id, changes).await?;
        tx.commit().await?;
        Ok(changes)
    }

    async fn history(&self, env_id: i64, before: Option<i64>, limit: i64) -> Result<Vec<ChangeRow>> {
        let mut tx = self.snapshot().await?;
        let changes: Vec<ChangeDb> = sqlx::query_as(
            "SELECT revision, actor, message, created_at FROM changes WHERE env_id = $1 AND revision < $2 \
             ORDER BY revision DESC LIMIT $3",
        )
        .bind(env_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let changes = read_entries(&mut tx, env_id, changes).await?;
        tx.commit().await?;
        Ok(changes)
    }
}
