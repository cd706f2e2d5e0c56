//! [`ProjectStore`] on SQLite: `projects` and `environments` (deleting either
//! cascades to secrets, versions, changes and rotation state).

use async_trait::async_trait;

use super::SqliteStore;
use crate::error::exists_or;
use crate::model::{EnvRow, ProjectRow};
use crate::rows::{EnvDb, ProjectEnvDb};
use crate::{ProjectStore, Result};

#[async_trait]
impl ProjectStore for SqliteStore {
    async fn project_create(&self, name: &str, now: i64) -> Result<ProjectRow> {
        Ok(
            sqlx::query_as("INSERT INTO projects (name, created_at) VALUES (?, ?) RETURNING id, name, created_at")
                .bind(name)
                .bind(now)
                .fetch_one(&self.write)
                .await
                .map_err(exists_or(|| format!("project {name}")))?,
        )
    }

    async fn project_list(&self) -> Result<Vec<ProjectRow>> {
        Ok(
            sqlx::query_as("SELECT id, name, created_at FROM projects ORDER BY name")
                .fetch_all(&self.read)
                .await?,
        )
    }

    async fn project_get(&self, name: &str) -> Result<Option<ProjectRow>> {
        Ok(
            sqlx::query_as("SELECT id, name, created_at FROM projects WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    async fn project_delete(&self, project_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM projects WHERE id = ?")
            .bind(project_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn env_create(&self, project_id: i64, name: &str, now: i64) -> Result<EnvRow> {
        let row: EnvDb = sqlx::query_as(
            "INSERT INTO environments (project_id, name, revision, created_at) VALUES (?, ?, 0, ?) \
             RETURNING id, project_id, name, revision, created_at, e2e_recipients",
        )
        .bind(project_id)
        .bind(name)
        .bind(now)
        .fetch_one(&self.write)
        .await
        .map_err(exists_or(|| format!("environment {name}")))?;
        Ok(row.into())
    }

    async fn env_list(&self, project_id: i64) -> Result<Vec<EnvRow>> {
        let rows: Vec<EnvDb> = sqlx::query_as(
            "SELECT id, project_id, name, revision, created_at, e2e_recipients FROM environments \
             WHERE project_id = ? ORDER BY name",
        )
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(EnvRow::from).collect())
    }

    async fn env_get(&self, project_id: i64, name: &str) -> Result<Option<EnvRow>> {
        let row: Option<EnvDb> = sqlx::query_as(
            "SELECT id, project_id, name, revision, created_at, e2e_recipients FROM environments \
             WHERE project_id = ? AND name = ?",
        )
        .bind(project_id)
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(EnvRow::from))
    }

    async fn env_by_names(&self, project: &str, env: &str) -> Result<Option<(ProjectRow, Option<EnvRow>)>> {
        let row: Option<ProjectEnvDb> = sqlx::query_as(
            "SELECT p.id AS p_id, p.name AS p_name, p.created_at AS p_created_at, e.id AS e_id, e.name AS e_name, \
             e.revision AS e_revision, e.created_at AS e_created_at, e.e2e_recipients AS e_recipients \
             FROM projects p LEFT JOIN environments e ON e.project_id = p.id AND e.name = ? WHERE p.name = ?",
        )
        .bind(env)
        .bind(project)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(ProjectEnvDb::split))
    }

    async fn env_delete(&self, env_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM environments WHERE id = ?")
            .bind(env_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
