//! [`MetaStore`] on SQLite: the `meta` table, the one-time initialisation
//! (meta values and the root token in one transaction), closing the pools.

use async_trait::async_trait;

use super::SqliteStore;
use super::tokens::insert_token;
use crate::model::TokenRecord;
use crate::{MetaStore, Result, StoreError};

#[async_trait]
impl MetaStore for SqliteStore {
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

    /// Closes the pools, checkpointing the WALs.
    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
        self.audit.close().await;
    }
}
