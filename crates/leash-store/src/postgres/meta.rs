//! [`MetaStore`] on PostgreSQL: the `meta` table (one row per part of the key
//! hierarchy, plus the audit keys). Both one-time writes are settled by the
//! table's primary key, so they are race-safe across nodes: `initialize`
//! inserts (never upserts) the hierarchy's rows, and the node whose insert
//! meets another's row gets `AlreadyInitialized` with its whole transaction
//! rolled back; `audit_keys_get_or_put` inserts with `ON CONFLICT DO NOTHING`
//! and then reads whichever row won.

use async_trait::async_trait;
use sqlx::PgConnection;

use super::PostgresStore;
use super::tokens::insert_token;
use crate::error::is_unique_violation;
use crate::model::{KeyHierarchy, NodeRow, TokenRecord};
use crate::rows::meta_keys::{AUDIT_KEYS, KEYRING, ROOT_KEY, SEAL_PARAMS};
use crate::rows::{key_hierarchy_from, params_to_json};
use crate::{MetaStore, Result, Sealed, StoreError};

async fn get(conn: &mut PgConnection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await?)
}

/// Inserts a row that must not exist yet (a unique violation says another node got there first).
async fn insert(conn: &mut PgConnection, key: &str, value: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2)")
        .bind(key)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl MetaStore for PostgresStore {
    async fn key_hierarchy(&self) -> Result<Option<KeyHierarchy>> {
        let mut tx = self.snapshot().await?;
        let params = get(&mut tx, SEAL_PARAMS).await?;
        let root_key = get(&mut tx, ROOT_KEY).await?;
        let keyring = get(&mut tx, KEYRING).await?;
        tx.commit().await?;
        key_hierarchy_from(params, root_key, keyring)
    }

    async fn initialize(&self, keys: &KeyHierarchy, root_token: &TokenRecord) -> Result<()> {
        let mut tx = self.write().await?;
        if get(&mut tx, SEAL_PARAMS).await?.is_some() {
            return Err(StoreError::AlreadyInitialized);
        }
        // Another node initialising at the same time inserts the same keys: the later insert
        // waits for the earlier transaction and fails if it committed.
        let first = |e: sqlx::Error| match e {
            e if is_unique_violation(&e) => StoreError::AlreadyInitialized,
            e => e.into(),
        };
        insert(&mut tx, SEAL_PARAMS, &params_to_json(keys.params))
            .await
            .map_err(first)?;
        insert(&mut tx, ROOT_KEY, keys.root_key.as_bytes())
            .await
            .map_err(first)?;
        insert(&mut tx, KEYRING, keys.keyring.as_bytes()).await.map_err(first)?;
        insert_token(&mut tx, root_token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn keyring_replace(&self, expected: &Sealed, keyring: &Sealed) -> Result<bool> {
        let mut tx = self.write().await?;
        if get(&mut tx, SEAL_PARAMS).await?.is_none() {
            return Err(StoreError::NotFound(
                "the key hierarchy (the store is not initialised)".into(),
            ));
        }
        let done = sqlx::query("UPDATE meta SET value = $1 WHERE key = $2 AND value = $3")
            .bind(keyring.as_bytes())
            .bind(KEYRING)
            .bind(expected.as_bytes())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn audit_keys_get_or_put(&self, candidate: &Sealed) -> Result<Sealed> {
        // Two statements (READ COMMITTED): the insert waits for a concurrent one and does
        // nothing if that committed; the select, a new snapshot, then sees whichever row won.
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(AUDIT_KEYS)
            .bind(candidate.as_bytes())
            .execute(&self.pool)
            .await?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(AUDIT_KEYS)
            .fetch_one(&self.pool)
            .await?;
        Ok(Sealed::from_stored(stored))
    }

    /// Other nodes may share the database.
    fn exclusive(&self) -> bool {
        false
    }

    async fn access_generation(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT n FROM access_generation")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn node_heartbeat(&self, node: &NodeRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO cluster_nodes (node, address, sealed, started_at, seen_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (node) DO UPDATE SET address = excluded.address, sealed = excluded.sealed, \
             started_at = excluded.started_at, seen_at = excluded.seen_at",
        )
        .bind(&node.node)
        .bind(&node.address)
        .bind(node.sealed)
        .bind(node.started_at)
        .bind(node.seen_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn node_list(&self) -> Result<Vec<NodeRow>> {
        Ok(
            sqlx::query_as("SELECT node, address, sealed, started_at, seen_at FROM cluster_nodes ORDER BY node")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn snapshot_into(&self, _dir: &std::path::Path) -> Result<crate::StoreSnapshot> {
        Err(StoreError::Unsupported(
            "a PostgreSQL store is backed up with PostgreSQL's own tools (pg_dump, or base backups with \
             WAL archiving for point-in-time recovery); see docs/operations.md"
                .into(),
        ))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
