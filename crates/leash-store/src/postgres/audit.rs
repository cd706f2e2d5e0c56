//! [`AuditStore`] on PostgreSQL: `audit_log`, an index of the audit file's
//! records (the file, written by the server first, is the durability point).
//! `(node, seq)` is the table's primary key (one chain per node): a batch that
//! repeats one appends nothing.

use async_trait::async_trait;

use super::PostgresStore;
use crate::model::{AuditFilter, AuditRow};
use crate::{AuditStore, Result};

#[async_trait]
impl AuditStore for PostgresStore {
    async fn audit_append(&self, rows: &[AuditRow]) -> Result<()> {
        // Rows per statement: 10 binds a row, well under PostgreSQL's 65,535.
        const ROWS_PER_INSERT: usize = 1_000;
        let mut tx = self.write().await?;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new(
                "INSERT INTO audit_log (node, seq, time_ms, kind, identity, operation, resource, status, hash, line) ",
            );
            insert.push_values(chunk, |mut b, r| {
                b.push_bind(&r.node)
                    .push_bind(r.seq)
                    .push_bind(r.time_ms)
                    .push_bind(&r.kind)
                    .push_bind(&r.identity)
                    .push_bind(&r.operation)
                    .push_bind(&r.resource)
                    .push_bind(r.status)
                    .push_bind(&r.hash)
                    .push_bind(&r.line);
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_query(&self, f: &AuditFilter) -> Result<Vec<AuditRow>> {
        // An operation ending in `.` is a prefix (`secret.`), matched literally.
        let (op_exact, op_prefix) = match &f.operation {
            Some(op) if op.ends_with('.') => (None, Some(op.as_str())),
            Some(op) => (Some(op.as_str()), None),
            None => (None, None),
        };
        Ok(sqlx::query_as(
            "SELECT node, seq, time_ms, kind, identity, operation, resource, status, hash, line FROM audit_log \
             WHERE kind <> 'checkpoint' \
             AND ($1::TEXT IS NULL OR identity = $1) AND ($2::TEXT IS NULL OR operation = $2) \
             AND ($3::TEXT IS NULL OR starts_with(operation, $3)) \
             AND ($4::BIGINT IS NULL OR status = $4) AND ($5::BIGINT IS NULL OR time_ms >= $5) \
             AND ($6::BIGINT IS NULL OR time_ms <= $6) \
             AND seq < $7 ORDER BY time_ms DESC, seq DESC LIMIT $8",
        )
        .bind(&f.identity)
        .bind(op_exact)
        .bind(op_prefix)
        .bind(f.status)
        .bind(f.since_ms)
        .bind(f.until_ms)
        .bind(f.before_seq.unwrap_or(i64::MAX))
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn audit_scan(&self, node: &str, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
        Ok(sqlx::query_as(
            "SELECT node, seq, time_ms, kind, identity, operation, resource, status, hash, line FROM audit_log \
             WHERE node = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(node)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn audit_last(&self, node: &str, checkpoint: bool) -> Result<Option<AuditRow>> {
        Ok(sqlx::query_as(
            "SELECT node, seq, time_ms, kind, identity, operation, resource, status, hash, line FROM audit_log \
             WHERE node = $1 AND (NOT $2 OR kind = 'checkpoint') ORDER BY seq DESC LIMIT 1",
        )
        .bind(node)
        .bind(checkpoint)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn audit_chains(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT DISTINCT node FROM audit_log ORDER BY node")
            .fetch_all(&self.pool)
            .await?)
    }
}
