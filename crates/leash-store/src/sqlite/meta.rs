//! [`MetaStore`] on SQLite: the `meta` table (one row per part of the key
//! hierarchy, plus the audit keys), the one-time initialisation (the key
//! hierarchy and the root token in one transaction), closing the pools.

use async_trait::async_trait;
use sqlx::{Sqlite, Transaction};

use super::SqliteStore;
use super::tokens::insert_token;
use crate::model::{KeyHierarchy, NodeRow, TokenRecord};
use crate::rows::meta_keys::{AUDIT_KEYS, KEYRING, ROOT_KEY, SEAL_PARAMS};
use crate::rows::{key_hierarchy_from, params_to_json};
use crate::{MetaStore, Result, Sealed, StoreError};

async fn get(tx: &mut Transaction<'_, Sqlite>, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
        .bind(key)
        .fetch_optional(&mut **tx)
        .await?)
}

async fn put(tx: &mut Transaction<'_, Sqlite>, key: &str, value: &[u8]) -> Result<()> {
    sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl MetaStore for SqliteStore {
    async fn key_hierarchy(&self) -> Result<Option<KeyHierarchy>> {
        let mut tx = self.read.begin().await?;
        let params = get(&mut tx, SEAL_PARAMS).await?;
        let root_key = get(&mut tx, ROOT_KEY).await?;
        let keyring = get(&mut tx, KEYRING).await?;
        tx.commit().await?;
        key_hierarchy_from(params, root_key, keyring)
    }

    async fn initialize(&self, keys: &KeyHierarchy, root_token: &TokenRecord) -> Result<()> {
        let mut tx = self.write.begin().await?;
        if get(&mut tx, SEAL_PARAMS).await?.is_some() {
            return Err(StoreError::AlreadyInitialized);
        }
        put(&mut tx, SEAL_PARAMS, &params_to_json(keys.params)).await?;
        put(&mut tx, ROOT_KEY, keys.root_key.as_bytes()).await?;
        put(&mut tx, KEYRING, keys.keyring.as_bytes()).await?;
        insert_token(&mut tx, root_token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn keyring_replace(&self, expected: &Sealed, keyring: &Sealed) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        if get(&mut tx, SEAL_PARAMS).await?.is_none() {
            return Err(StoreError::NotFound(
                "the key hierarchy (the store is not initialised)".into(),
            ));
        }
        let done = sqlx::query("UPDATE meta SET value = ? WHERE key = ? AND value = ?")
            .bind(keyring.as_bytes())
            .bind(KEYRING)
            .bind(expected.as_bytes())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn audit_keys_get_or_put(&self, candidate: &Sealed) -> Result<Sealed> {
        let mut tx = self.write.begin().await?;
        if let Some(stored) = get(&mut tx, AUDIT_KEYS).await? {
            return Ok(Sealed::from_stored(stored));
        }
        put(&mut tx, AUDIT_KEYS, candidate.as_bytes()).await?;
        tx.commit().await?;
        Ok(candidate.clone())
    }

    fn exclusive(&self) -> bool {
        true
    }

    async fn access_generation(&self) -> Result<i64> {
        Ok(0)
    }

    async fn node_heartbeat(&self, node: &NodeRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO cluster_nodes (node, address, sealed, started_at, seen_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (node) DO UPDATE SET address = excluded.address, sealed = excluded.sealed, \
             started_at = excluded.started_at, seen_at = excluded.seen_at",
        )
        .bind(&node.node)
        .bind(&node.address)
        .bind(node.sealed)
        .bind(node.started_at)
        .bind(node.seen_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn node_list(&self) -> Result<Vec<NodeRow>> {
        Ok(
            sqlx::query_as("SELECT node, address, sealed, started_at, seen_at FROM cluster_nodes ORDER BY node")
                .fetch_all(&self.read)
                .await?,
        )
    }

    /// `VACUUM INTO` a copy of each file: a read transaction of its own, so
    /// writers go on meanwhile; the data file first, then the audit table.
    async fn snapshot_into(&self, dir: &std::path::Path) -> Result<crate::StoreSnapshot> {
        let mut parts = Vec::new();
        for (name, pool) in [(super::DB_FILE, &self.read), (super::AUDIT_DB_FILE, &self.audit)] {
            let path = dir.join(name);
            let target = path.to_str().ok_or_else(|| {
                StoreError::Snapshot(format!("the snapshot directory {} is not UTF-8", dir.display()))
            })?;
            sqlx::query("VACUUM INTO ?").bind(target).execute(pool).await?;
            parts.push(crate::snapshot::SnapshotPart {
                name: name.to_owned(),
                path,
            });
        }
        Ok(crate::StoreSnapshot {
            backend: "sqlite",
            parts,
        })
    }

    /// Closes the pools, checkpointing the WALs, then gives up the lock.
    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
        self.audit.close().await;
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}
