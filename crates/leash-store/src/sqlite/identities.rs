//! [`IdentityStore`] on SQLite: `identities` (credentials as hashes; policies
//! and CIDRs comma-joined), `groups` with `group_members`, and the two tables
//! of named documents (`policies.source`, `jwt_issuers.config`).

use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::error::exists_or;
use crate::model::{DocumentKind, GroupRow, IdentityRow, NamedDocument};
use crate::rows::{GroupDb, IdentityDb, groups_with_members, join_list};
use crate::{IdentityStore, Result, StoreError};

/// The member names of one group, sorted.
async fn group_members(conn: &mut SqliteConnection, group_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT i.name FROM group_members m JOIN identities i ON i.id = m.identity_id WHERE m.group_id = ? ORDER BY i.name",
    )
    .bind(group_id)
    .fetch_all(conn)
    .await?)
}

async fn group_by_id(conn: &mut SqliteConnection, id: i64) -> Result<Option<GroupRow>> {
    let group: Option<GroupDb> = sqlx::query_as("SELECT id, name, policies, created_at FROM groups WHERE id = ?")
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
    put: "INSERT INTO policies (name, source, created_at, updated_at) VALUES (?, ?, ?, ?) \
          ON CONFLICT (name) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at \
          RETURNING name, source AS body, created_at, updated_at",
    get: "SELECT name, source AS body, created_at, updated_at FROM policies WHERE name = ?",
    list: "SELECT name, source AS body, created_at, updated_at FROM policies ORDER BY name",
    delete: "DELETE FROM policies WHERE name = ?",
};

const JWT_ISSUER_SQL: DocumentSql = DocumentSql {
    put: "INSERT INTO jwt_issuers (name, config, created_at, updated_at) VALUES (?, ?, ?, ?) \
          ON CONFLICT (name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at \
          RETURNING name, config AS body, created_at, updated_at",
    get: "SELECT name, config AS body, created_at, updated_at FROM jwt_issuers WHERE name = ?",
    list: "SELECT name, config AS body, created_at, updated_at FROM jwt_issuers ORDER BY name",
    delete: "DELETE FROM jwt_issuers WHERE name = ?",
};

const VAULT_SETTINGS_SQL: DocumentSql = DocumentSql {
    put: "INSERT INTO vault_settings (name, body, created_at, updated_at) VALUES (?, ?, ?, ?) \
          ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at \
          RETURNING name, body, created_at, updated_at",
    get: "SELECT name, body, created_at, updated_at FROM vault_settings WHERE name = ?",
    list: "SELECT name, body, created_at, updated_at FROM vault_settings ORDER BY name",
    delete: "DELETE FROM vault_settings WHERE name = ?",
};

fn document_sql(kind: DocumentKind) -> &'static DocumentSql {
    match kind {
        DocumentKind::Policy => &POLICY_SQL,
        DocumentKind::JwtIssuer => &JWT_ISSUER_SQL,
        DocumentKind::VaultSettings => &VAULT_SETTINGS_SQL,
    }
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn identity_create(&self, i: &IdentityRow) -> Result<IdentityRow> {
        let row: IdentityDb = sqlx::query_as(
            "INSERT INTO identities (name, kind, policies, metadata, password_hash, client_id, client_secret_hash, \
             client_secret_expires_at, client_secret_uses_left, allowed_cidrs, jwt_binding, token_ttl_ms, \
             token_max_ttl_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
        .fetch_one(&self.write)
        .await
        .map_err(exists_or(|| format!("identity {}", i.name)))?;
        Ok(row.into())
    }

    async fn identity_update(&self, i: &IdentityRow) -> Result<()> {
        let done = sqlx::query(
            "UPDATE identities SET policies = ?, metadata = ?, password_hash = ?, client_id = ?, client_secret_hash = ?, \
             client_secret_expires_at = ?, client_secret_uses_left = ?, allowed_cidrs = ?, jwt_binding = ?, \
             token_ttl_ms = ?, token_max_ttl_ms = ? WHERE id = ?",
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
        .execute(&self.write)
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
             token_max_ttl_ms, created_at FROM identities WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(IdentityRow::from))
    }

    async fn identity_get_by_client_id(&self, client_id: &str) -> Result<Option<IdentityRow>> {
        let row: Option<IdentityDb> = sqlx::query_as(
            "SELECT id, name, kind, policies, metadata, password_hash, client_id, client_secret_hash, \
             client_secret_expires_at, client_secret_uses_left, allowed_cidrs, jwt_binding, token_ttl_ms, \
             token_max_ttl_ms, created_at FROM identities WHERE client_id = ?",
        )
        .bind(client_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(IdentityRow::from))
    }

    async fn identity_list(&self) -> Result<Vec<IdentityRow>> {
        let rows: Vec<IdentityDb> = sqlx::query_as(
            "SELECT id, name, kind, policies, metadata, password_hash, client_id, client_secret_hash, \
             client_secret_expires_at, client_secret_uses_left, allowed_cidrs, jwt_binding, token_ttl_ms, \
             token_max_ttl_ms, created_at FROM identities ORDER BY name",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(IdentityRow::from).collect())
    }

    async fn identity_delete(&self, identity_id: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM tokens WHERE identity_id = ?")
            .bind(identity_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM identities WHERE id = ?")
            .bind(identity_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn client_secret_use(&self, identity_id: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE identities SET client_secret_uses_left = client_secret_uses_left - 1 \
             WHERE id = ? AND (client_secret_uses_left IS NULL OR client_secret_uses_left > 0)",
        )
        .bind(identity_id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn group_put(&self, name: &str, policies: &[String], members: &[String], now: i64) -> Result<GroupRow> {
        let mut tx = self.write.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO groups (name, policies, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET policies = excluded.policies RETURNING id",
        )
        .bind(name)
        .bind(join_list(policies))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM group_members WHERE group_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for member in members {
            let identity: Option<i64> = sqlx::query_scalar("SELECT id FROM identities WHERE name = ?")
                .bind(member)
                .fetch_optional(&mut *tx)
                .await?;
            let identity = identity.ok_or_else(|| StoreError::NotFound(format!("identity {member}")))?;
            sqlx::query("INSERT OR IGNORE INTO group_members (group_id, identity_id) VALUES (?, ?)")
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
        let mut tx = self.read.begin().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM groups WHERE name = ?")
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
        let mut tx = self.read.begin().await?;
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
        let done = sqlx::query("DELETE FROM groups WHERE name = ?")
            .bind(name)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn document_put(&self, kind: DocumentKind, name: &str, body: &str, now: i64) -> Result<NamedDocument> {
        Ok(sqlx::query_as(document_sql(kind).put)
            .bind(name)
            .bind(body)
            .bind(now)
            .bind(now)
            .fetch_one(&self.write)
            .await?)
    }

    async fn document_get(&self, kind: DocumentKind, name: &str) -> Result<Option<NamedDocument>> {
        Ok(sqlx::query_as(document_sql(kind).get)
            .bind(name)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn document_list(&self, kind: DocumentKind) -> Result<Vec<NamedDocument>> {
        Ok(sqlx::query_as(document_sql(kind).list).fetch_all(&self.read).await?)
    }

    async fn document_delete(&self, kind: DocumentKind, name: &str) -> Result<bool> {
        let done = sqlx::query(document_sql(kind).delete)
            .bind(name)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
