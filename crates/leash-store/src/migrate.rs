//! Copying a stopped SQLite store into an empty PostgreSQL database
//! (`leash operator migrate`): every table row by row, as stored. Sealed data
//! is copied as the bytes it is, so nothing is decrypted and the same unseal
//! shares open the copy.
//!
//! The two schemas hold the same columns in the same encodings (see
//! `migrations/postgres/0001_init.sql`); only how a flag is stored differs
//! (SQLite `INTEGER` 0/1, PostgreSQL `BOOLEAN`), so each value is read as a
//! [`Cell`] and bound as the target column's type. Afterwards each table's
//! rows are counted and hashed on both sides (SHA-256 over the rows sorted
//! by value, flags as 0/1), and any difference fails the migration. It refuses
//! a target that already holds data, and the source is opened with its
//! lock, so a server still running on it makes the migration fail.

use std::path::Path;

use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, PgPool, Row, SqlitePool, TypeInfo, ValueRef};

use crate::{MetaStore, PostgresStore, Result, SqliteStore, StoreError};

/// The tables copied, parents before children; `true` when the table lives
/// in SQLite's audit file.
const TABLES: &[(&str, bool)] = &[
    ("meta", false),
    ("identities", false),
    ("tokens", false),
    ("groups", false),
    ("group_members", false),
    ("policies", false),
    ("jwt_issuers", false),
    ("vault_settings", false),
    ("projects", false),
    ("environments", false),
    ("changes", false),
    ("secrets", false),
    ("versions", false),
    ("change_entries", false),
    ("rotation_state", false),
    ("rotation_log", false),
    ("audit_log", true),
];

/// Tables with an identity column whose sequence must continue after the copied ids.
const IDENTITY_COLUMNS: &[(&str, &str)] = &[
    ("identities", "id"),
    ("groups", "id"),
    ("projects", "id"),
    ("environments", "id"),
    ("secrets", "id"),
];

/// One table as copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    pub rows: u64,
    /// SHA-256 (hex) of the table's rows, the same on both sides.
    pub checksum: String,
}

/// A value as both backends can give it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Cell {
    fn hash_into(&self, hasher: &mut Sha256) {
        match self {
            Cell::Null => hasher.update([0]),
            Cell::Int(n) => {
                hasher.update([1]);
                hasher.update(n.to_be_bytes());
            }
            Cell::Text(t) => {
                hasher.update([2]);
                hasher.update((t.len() as u64).to_be_bytes());
                hasher.update(t.as_bytes());
            }
            Cell::Bytes(b) => {
                hasher.update([3]);
                hasher.update((b.len() as u64).to_be_bytes());
                hasher.update(b);
            }
        }
    }
}

fn sqlite_cell(row: &SqliteRow, i: usize) -> Result<Cell> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let kind = raw.type_info().name().to_ascii_uppercase();
    Ok(match kind.as_str() {
        "INTEGER" | "BOOLEAN" | "INT" | "BIGINT" => Cell::Int(row.try_get(i)?),
        "TEXT" => Cell::Text(row.try_get(i)?),
        "BLOB" => Cell::Bytes(row.try_get(i)?),
        other => {
            return Err(StoreError::Copy(format!(
                "column {} holds a value of type {other}, which the migration does not know",
                row.column(i).name()
            )));
        }
    })
}

fn pg_cell(row: &PgRow, i: usize) -> Result<Cell> {
    let kind = row.column(i).type_info().name().to_ascii_uppercase();
    Ok(match kind.as_str() {
        "INT8" | "INT4" => row.try_get::<Option<i64>, _>(i)?.map_or(Cell::Null, Cell::Int),
        "BOOL" => row
            .try_get::<Option<bool>, _>(i)?
            .map_or(Cell::Null, |b| Cell::Int(i64::from(b))),
        "TEXT" | "VARCHAR" => row.try_get::<Option<String>, _>(i)?.map_or(Cell::Null, Cell::Text),
        "BYTEA" => row.try_get::<Option<Vec<u8>>, _>(i)?.map_or(Cell::Null, Cell::Bytes),
        other => {
            return Err(StoreError::Copy(format!(
                "column {} is of type {other}, which the migration does not know",
                row.column(i).name()
            )));
        }
    })
}

/// The target's columns of `table`, in order, with their PostgreSQL types.
async fn target_columns(pg: &PgPool, table: &str) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(pg)
    .await?)
}

/// Checks that no table of the target holds a row.
async fn check_empty(pg: &PgPool) -> Result<()> {
    for (table, _) in TABLES {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(pg)
            .await?;
        if rows > 0 {
            return Err(StoreError::Copy(format!(
                "the target database already holds data (table {table} has {rows} rows): \
                 migrate only into an empty database; nothing was written"
            )));
        }
    }
    Ok(())
}

/// The checksum of a table's rows (sorted, so both sides' orders agree) and their count.
fn checksum(rows: &[Vec<Cell>]) -> (u64, String) {
    let mut hasher = Sha256::new();
    for row in rows {
        hasher.update((row.len() as u64).to_be_bytes());
        for cell in row {
            cell.hash_into(&mut hasher);
        }
    }
    (rows.len() as u64, hex::encode(hasher.finalize()))
}

/// Every row of `table` in SQLite, sorted by value (the table order keeps
/// parents before children; ids keep every reference).
async fn read_sqlite(pool: &SqlitePool, table: &str, columns: &[(String, String)]) -> Result<Vec<Vec<Cell>>> {
    let list = columns.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ");
    let rows = sqlx::query(&format!("SELECT {list} FROM {table}"))
        .fetch_all(pool)
        .await?;
    let mut cells = rows
        .iter()
        .map(|row| (0..columns.len()).map(|i| sqlite_cell(row, i)).collect())
        .collect::<Result<Vec<Vec<Cell>>>>()?;
    cells.sort();
    Ok(cells)
}

/// Every row of `table` in PostgreSQL, sorted as [`read_sqlite`] sorts.
async fn read_pg(pool: &PgPool, table: &str, columns: &[(String, String)]) -> Result<Vec<Vec<Cell>>> {
    let list = columns.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ");
    let rows = sqlx::query(&format!("SELECT {list} FROM {table}"))
        .fetch_all(pool)
        .await?;
    let mut cells = rows
        .iter()
        .map(|row| (0..columns.len()).map(|i| pg_cell(row, i)).collect())
        .collect::<Result<Vec<Vec<Cell>>>>()?;
    cells.sort();
    Ok(cells)
}

/// Inserts `rows` into `table` in one transaction's statements, binding each
/// cell as its target column's type.
async fn write_pg(
    tx: &mut sqlx::PgConnection,
    table: &str,
    columns: &[(String, String)],
    rows: &[Vec<Cell>],
) -> Result<()> {
    const ROWS_PER_INSERT: usize = 500;
    let list = columns.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ");
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!("INSERT INTO {table} ({list}) "));
        let mut bad = None;
        insert.push_values(chunk, |mut b, row| {
            for ((column, kind), cell) in columns.iter().zip(row) {
                match (kind.as_str(), cell) {
                    ("boolean", Cell::Int(n)) => b.push_bind(Some(*n != 0)),
                    ("boolean", Cell::Null) => b.push_bind(None::<bool>),
                    ("bigint" | "integer", Cell::Int(n)) => b.push_bind(Some(*n)),
                    ("bigint" | "integer", Cell::Null) => b.push_bind(None::<i64>),
                    ("text", Cell::Text(t)) => b.push_bind(Some(t.clone())),
                    ("text", Cell::Null) => b.push_bind(None::<String>),
                    ("bytea", Cell::Bytes(v)) => b.push_bind(Some(v.clone())),
                    ("bytea", Cell::Null) => b.push_bind(None::<Vec<u8>>),
                    _ => {
                        bad.get_or_insert(format!(
                            "{table}.{column} ({kind}) cannot take the value stored in SQLite"
                        ));
                        b.push_bind(None::<String>)
                    }
                };
            }
        });
        if let Some(message) = bad {
            return Err(StoreError::Copy(message));
        }
        insert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Copies the SQLite store at `sqlite_file` (stopped: its lock is taken) into
/// the empty PostgreSQL database at `pg_url`, in one transaction, and checks
/// every table's count and checksum on both sides.
pub async fn sqlite_to_postgres(sqlite_file: &Path, pg_url: &str) -> Result<Vec<TableReport>> {
    let source = SqliteStore::open_file(sqlite_file).await?;
    let target = PostgresStore::connect(pg_url).await?;
    let result = copy(&source, &target).await;
    target.close().await;
    source.close().await;
    result
}

async fn copy(source: &SqliteStore, target: &PostgresStore) -> Result<Vec<TableReport>> {
    let (data, audit) = source.pools_for_migration();
    let pg = target.pool_for_migration();
    check_empty(pg).await?;
    let mut planned = Vec::new();
    let mut tx = pg.begin().await?;
    for (table, in_audit) in TABLES {
        let columns = target_columns(pg, table).await?;
        if columns.is_empty() {
            return Err(StoreError::Copy(format!("the target has no table {table}")));
        }
        let from = if *in_audit { audit } else { data };
        let rows = read_sqlite(from, table, &columns).await?;
        write_pg(&mut tx, table, &columns, &rows).await?;
        planned.push((table, columns, checksum(&rows)));
    }
    for (table, column) in IDENTITY_COLUMNS {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
        ))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let mut reports = Vec::new();
    for (table, columns, (rows, sum)) in planned {
        let copied = read_pg(pg, table, &columns).await?;
        let (copied_rows, copied_sum) = checksum(&copied);
        if (copied_rows, &copied_sum) != (rows, &sum) {
            return Err(StoreError::Copy(format!(
                "table {table} differs after the copy: {rows} rows (checksum {sum}) in SQLite, \
                 {copied_rows} rows (checksum {copied_sum}) in PostgreSQL"
            )));
        }
        reports.push(TableReport {
            table,
            rows,
            checksum: sum,
        });
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checksum_tells_apart_what_differs_and_not_how_a_flag_was_stored() {
        let row = |v: Vec<Cell>| vec![v];
        let base = checksum(&row(vec![Cell::Int(1), Cell::Text("a".into()), Cell::Null]));
        assert_eq!(
            base,
            checksum(&row(vec![Cell::Int(1), Cell::Text("a".into()), Cell::Null]))
        );
        for other in [
            vec![Cell::Int(0), Cell::Text("a".into()), Cell::Null],
            vec![Cell::Int(1), Cell::Bytes(b"a".to_vec()), Cell::Null],
            vec![Cell::Int(1), Cell::Text("a".into()), Cell::Text(String::new())],
            vec![Cell::Int(1), Cell::Text("a".into())],
        ] {
            assert_ne!(base, checksum(&row(other.clone())), "{other:?}");
        }
        assert_eq!(checksum(&[]).0, 0);
    }
}
