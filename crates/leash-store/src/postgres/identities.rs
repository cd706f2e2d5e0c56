//! [`IdentityStore`] on PostgreSQL: `identities` (credentials as hashes;
//! policies and CIDRs comma-joined), `groups` with `group_members`, and the two
//! tables of named documents (`policies.source`, `jwt_issuers.config`).

use async_trait::async_trait;
use sqlx::PgConnection;

use super::PostgresStore;
use crate::error::exists_or;
use crate::model::{DocumentKind, GroupRow, IdentityRow, NamedDocument};
use crate::rows::{GroupDb, IdentityDb, groups_with_members, join_list};
use crate::{IdentityStore, Result, StoreError};

/// The member names of one group, sorted.
async fn group_members(conn: &mut PgConnection, group_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT i.name FROM group_members m JOIN identities i ON i.id = m.identity_id WHERE m.group_id = $1 \
         ORDER BY i.name",
    )
    .bind(group_id)
    .fetch_all(conn)
    .await?)
}

async fn group_by_id(conn: &mut PgConnection, id: i64) -> Result<Option<GroupRow>> {
    let group: Option<GroupDb> = sqlx::query_as("SELECT id, name, policies, created_at FROM groups WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match group {
        Some(group) => {
            let members = group_members(conn, group.id).await?;
            Ok(Some(group.with_members(members)))
        }
        None => Ok(None),
    }
}

/// The statements of one table of named documents (the body column is read as `body`).
struct DocumentSql {
    put: &'static str,
    get: &'static str,
    list: &'static str,
    delete: &'static str,
}

const POLICY_SQL: DocumentSql = DocumentSql {
    put: "INSERT INTO policies (name, source, created_at, updated_at) VALUES ($1, $2, $3, $4) \
          ON CONFLICT (name) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at \
          RETURNING name, source AS body, created_at, updated_at",
    get: "SELECT name, source AS body, created_at, updated_at FROM policies WHERE name = $1",
    list: "SELECT name, source AS body, created_at, updated_at FROM policies ORDER BY name",
    delete: "DELETE FROM policies WHERE name = $1",
};

const JWT_ISSUER_SQL: DocumentSql = DocumentSql {
    put: "INSERT INTO jwt_issuers (name, config, created_at, updated_at) VALUES ($1, $2, $3, $4) \
          ON CONFLICT (name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at \
          RETURNING name, config AS body, created_at, updated_at",
    get: "SELECT name, config AS body, created_at, updated_at FROM jwt_issuers WHERE name = $1",
    list: "SELECT name, config AS body, created_at, updated_at FROM jwt_issuers ORDER BY name",
    delete: "DELETE FROM jwt_issuers WHERE name = $1",
};

const VAULT_SETTINGS_SQL: DocumentSql = DocumentSql {
    put: "INSERT INTO vault_settings (name, body, created_at, updated_at) VALUES ($1, $2, $3, $4) \
          ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at \
          RETURNING name, body, created_at, updated_at",
    get: "SELECT name, body, created_at, updated_at FROM vault_settings WHERE name = $1",
    list: "SELECT name, body, created_at, updated_at FROM vault_settings ORDER BY name",
    delete: "DELETE FROM vault_settings WHERE name = $1",
};

fn document_sql(kind: DocumentKind) -> &'static DocumentSql {
    match kind {
        DocumentKind::Policy => &POLICY_SQL,
        DocumentKind::JwtIssuer => &JWT_ISSUER_SQL,
        DocumentKind::VaultSettings => &VAULT_SETTINGS_SQL,
    }
}

#[async_trait]
impl IdentityStore for PostgresStore {
    async fn identity_create(&self, i: &IdentityRow) -> Result<IdentityRow> {
        let row: IdentityDb = sqlx::query_as(
            "INSERT INTO identities (name, kind, policies, metadata, password_hash, client_id, client_secret_hash, \
             client_secret_expires_at, client_secret_uses_left, allowed_cidrs, jwt_binding, token_ttl_ms, \
             token_max_ttl_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             RETURNING id, name, kind, policies, metadata, password_hash, client_id, client_secret_hash, \
             client_secret_expires_at, client_secret_uses_left, allowed_cidrs, jwt_binding, token_ttl_ms, \
             token_max_ttl_ms, created_at",
        )
        .bind(&i.name)
        .bind(&i.kind)
        .bind(join_list(&i.policies))
        .bind(&i.metadata)
        .bind(&i.password_hash)
        .bind(&i.client_id)
        .bind(&i.client_secret_hash)
        .bind(i.client_secret_expires_at)
        .bind(i.client_secret_uses_left)
        .bind(join_list(&i.allowed_cidrs))
        .bind(&i.jwt_binding)
        .bind(i.token_ttl_ms)
        .bind(i.token_max_ttl_ms)
        .bind(i.created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(exists_or(|| format!("identity {}", i.name)))?;
        Ok(row.into())
    }

    async fn identity_update(&self, i: &IdentityRow) -> Result<()> {
        let done = sqlx::query(
            "UPDATE identities SET policies = $1, metadata = $2, password_hash = $3, client_id = $4, \
             client_secret_hash = $5, client_secret_expires_at = $6, client_secret_uses_left = $7, \
             allowed_cidrs = $8, jwt_binding = $9, token_ttl_ms = $10, token_max_ttl_ms = $11 WHERE id = $12",
        )
        .bind(join_list(&i.policies))
        .bind(&i.metadata)
        .bind(&i.password_hash)
        .bind(&i.client_id)
        .bind(&i.client_secret_hash)
        .bind(i.client_secret_expires_at)
        .bind(i.client_secret_uses_left)
        .bind(join_list(&i.allowed_cidrs))
        .bind(&i.jwt_binding)
        .bind(i.token_ttl_ms)
        .bind(i.token_max_ttl_ms)
        .bind(i.id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("identity {}", i.name)));
        }
        Ok(())
    }

    async fn identity_get(&self, name: &str) -> Result<Option<IdentityRow>> {
        let row: Option<IdentityDb> = sqlx::query_as(
            "SELECT id, name, kind, policies, metadata, password_hash, client_id, client_secret_hash, \
             client_secret_expires_at, client_secret_uses_left, allowed_cidrs, jwt_binding, token_ttl_ms, \
             token_max_ttl_ms, created_at FROM identities WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(IdentityRow::from))
    }

    async fn identity_get_by_client_id(&self, client_id: &str) -> Result<Option<IdentityRow>> {
        let row: Option<IdentityDb> = sqlx::query_as(
            "SELECT id, name, kind, policies, metadata, password_hash, client_id, client_secret_hash, \
             client_secret_expires_at, client_secret_uses_left, allowed_cidrs, jwt_binding, token_ttl_ms, \
             token_max_ttl_ms, created_at FROM identities WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(IdentityRow::from))
    }

    async fn identity_list(&self) -> Result<Vec<IdentityRow>> {
        let rows: Vec<IdentityDb> = sqlx::query_as(
            "SELECT id, name, kind, policies, metadata, password_hash, client_id, client_secret_hash, \
             client_secret_expires_at, client_secret_uses_left, allowed_cidrs, jwt_binding, token_ttl_ms, \
             token_max_ttl_ms, created_at FROM identities ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(IdentityRow::from).collect())
    }

    async fn identity_delete(&self, identity_id: i64) -> Result<()> {
        let mut tx = self.write().await?;
        // Memberships before the identity, in the order `group_put` locks them
        // (memberships, then the identity its insert checks): never a cycle.
        sqlx::query("DELETE FROM group_members WHERE identity_id = $1")
            .bind(identity_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM tokens WHERE identity_id = $1")
            .bind(identity_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM identities WHERE id = $1")
            .bind(identity_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn client_secret_use(&self, identity_id: i64) -> Result<bool> {
        // One statement: the row lock makes concurrent uses count one at a time.
        let done = sqlx::query(
            "UPDATE identities SET client_secret_uses_left = client_secret_uses_left - 1 \
             WHERE id = $1 AND (client_secret_uses_left IS NULL OR client_secret_uses_left > 0)",
        )
        .bind(identity_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn group_put(&self, name: &str, policies: &[String], members: &[String], now: i64) -> Result<GroupRow> {
        let mut tx = self.write().await?;
        // The upsert locks the group's row until commit, so concurrent puts of one group take turns.
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO groups (name, policies, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET policies = excluded.policies RETURNING id",
        )
        .bind(name)
        .bind(join_list(policies))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM group_members WHERE group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for member in members {
            let identity: Option<i64> = sqlx::query_scalar("SELECT id FROM identities WHERE name = $1")
                .bind(member)
                .fetch_optional(&mut *tx)
                .await?;
            let identity = identity.ok_or_else(|| StoreError::NotFound(format!("identity {member}")))?;
            sqlx::query("INSERT INTO group_members (group_id, identity_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(identity)
                .execute(&mut *tx)
                .await?;
        }
        let group = group_by_id(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("group {name}")))?;
        tx.commit().await?;
        Ok(group)
    }

    async fn group_get(&self, name: &str) -> Result<Option<GroupRow>> {
        let mut tx = self.snapshot().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let group = match id {
            Some(id) => group_by_id(&mut tx, id).await?,
            None => None,
        };
        tx.commit().await?;
        Ok(group)
    }

    async fn group_list(&self) -> Result<Vec<GroupRow>> {
        let mut tx = self.snapshot().await?;
        let groups: Vec<GroupDb> = sqlx::query_as("SELECT id, name, policies, created_at FROM groups ORDER BY name")
            .fetch_all(&mut *tx)
            .await?;
        let memberships: Vec<(i64, String)> = sqlx::query_as(
            "SELECT m.group_id, i.name FROM group_members m JOIN identities i ON i.id = m.identity_id ORDER BY i.name",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(groups_with_members(groups, memberships))
    }

    async fn group_delete(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM groups WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn document_put(&self, kind: DocumentKind, name: &str, body: &str, now: i64) -> Result<NamedDocument> {
        Ok(sqlx::query_as(document_sql(kind).put)
            .bind(name)
            .bind(body)
            .bind(now)
            .bind(now)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn document_get(&self, kind: DocumentKind, name: &str) -> Result<Option<NamedDocument>> {
        Ok(sqlx::query_as(document_sql(kind).get)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn document_list(&self, kind: DocumentKind) -> Result<Vec<NamedDocument>> {
        Ok(sqlx::query_as(document_sql(kind).list).fetch_all(&self.pool).await?)
    }

    async fn document_delete(&self, kind: DocumentKind, name: &str) -> Result<bool> {
        let done = sqlx::query(document_sql(kind).delete)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
