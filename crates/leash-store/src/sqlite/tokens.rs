//! [`TokenStore`] on SQLite: the `tokens` table (hashes only; policies comma-joined).

use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::error::exists_or;
use crate::model::TokenRecord;
use crate::rows::{TokenDb, join_list};
use crate::{Result, TokenStore};

/// Inserts a token on the caller's connection (also used by `initialize`);
/// `AlreadyExists` if its hash or accessor is taken.
pub(super) async fn insert_token(conn: &mut SqliteConnection, t: &TokenRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO tokens (hash, accessor, display_name, policies, is_root, created_at, expires_at, identity_id, \
         auth_method, ttl_ms, max_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&t.hash)
    .bind(&t.accessor)
    .bind(&t.display_name)
    .bind(join_list(&t.policies))
    .bind(t.is_root)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.identity_id)
    .bind(&t.auth_method)
    .bind(t.ttl_ms)
    .bind(t.max_expires_at)
    .execute(conn)
    .await
    .map_err(exists_or(|| format!("token {}", t.accessor)))?;
    Ok(())
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn token_create(&self, token: &TokenRecord) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        insert_token(&mut conn, token).await
    }

    async fn token_lookup(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let row: Option<TokenDb> = sqlx::query_as(
            "SELECT hash, accessor, display_name, policies, is_root, created_at, expires_at, identity_id, auth_method, \
             ttl_ms, max_expires_at FROM tokens WHERE hash = ?",
        )
        .bind(hash)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(TokenRecord::from))
    }

    async fn token_lookup_by_accessor(&self, accessor: &str) -> Result<Option<TokenRecord>> {
        let row: Option<TokenDb> = sqlx::query_as(
            "SELECT hash, accessor, display_name, policies, is_root, created_at, expires_at, identity_id, auth_method, \
             ttl_ms, max_expires_at FROM tokens WHERE accessor = ?",
        )
        .bind(accessor)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(TokenRecord::from))
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

    async fn token_list(&self) -> Result<Vec<TokenRecord>> {
        let rows: Vec<TokenDb> = sqlx::query_as(
            "SELECT hash, accessor, display_name, policies, is_root, created_at, expires_at, identity_id, auth_method, \
             ttl_ms, max_expires_at FROM tokens ORDER BY accessor",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(TokenRecord::from).collect())
    }
}
