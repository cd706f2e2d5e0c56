//! [`TokenStore`] on PostgreSQL: the `tokens` table (hashes only; policies comma-joined).

use async_trait::async_trait;
use sqlx::PgConnection;

use super::PostgresStore;
use crate::error::exists_or;
use crate::model::TokenRecord;
use crate::rows::{TokenDb, join_list};
use crate::{Result, TokenStore};

/// Inserts a token on the caller's connection (also used by `initialize`);
/// `AlreadyExists` if its hash or accessor is taken.
pub(super) async fn insert_token(conn: &mut PgConnection, t: &TokenRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO tokens (hash, accessor, display_name, policies, is_root, created_at, expires_at, identity_id, \
         auth_method, ttl_ms, max_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
impl TokenStore for PostgresStore {
    async fn token_create(&self, token: &TokenRecord) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_token(&mut conn, token).await
    }

    async fn token_lookup(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let row: Option<TokenDb> = sqlx::query_as(
            "SELECT hash, accessor, display_name, policies, is_root, created_at, expires_at, identity_id, auth_method, \
             ttl_ms, max_expires_at FROM tokens WHERE hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(TokenRecord::from))
    }

    async fn token_lookup_by_accessor(&self, accessor: &str) -> Result<Option<TokenRecord>> {
        let row: Option<TokenDb> = sqlx::query_as(
            "SELECT hash, accessor, display_name, policies, is_root, created_at, expires_at, identity_id, auth_method, \
             ttl_ms, max_expires_at FROM tokens WHERE accessor = $1",
        )
        .bind(accessor)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(TokenRecord::from))
    }

    async fn token_set_expiry(&self, hash: &str, expires_at: Option<i64>) -> Result<()> {
        sqlx::query("UPDATE tokens SET expires_at = $1 WHERE hash = $2")
            .bind(expires_at)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn token_delete(&self, hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tokens WHERE hash = $1")
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn tokens_delete_for_identity(&self, identity_id: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM tokens WHERE identity_id = $1")
            .bind(identity_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn token_list(&self) -> Result<Vec<TokenRecord>> {
        let rows: Vec<TokenDb> = sqlx::query_as(
            "SELECT hash, accessor, display_name, policies, is_root, created_at, expires_at, identity_id, auth_method, \
             ttl_ms, max_expires_at FROM tokens ORDER BY accessor COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(TokenRecord::from).collect())
    }
}
