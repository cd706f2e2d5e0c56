//! Opening the SQLite store: the files (created 0600 in a 0700 directory), the
//! connection pools (one writer, read-only readers, the audit file's writer)
//! with WAL and `synchronous=FULL`, and the migrations of both files.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{SqliteStore, group_commit};
use crate::observe::ObserverSlot;
use crate::{Result, StoreError};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "leash.db";
/// File name of the audit table's database beside [`DB_FILE`] (`<stem>-audit.db`).
pub const AUDIT_DB_FILE: &str = "leash-audit.db";

/// Readers in the read-only pool.
const READERS: u32 = 8;

impl SqliteStore {
    /// Opens (creating if needed) `DIR/leash.db` and brings its schema up to date.
    /// The directory is made private (0700) when created.
    pub async fn open_dir(dir: &Path) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| open_error(dir, sqlx::Error::Io(e)))?;
        Self::open_file(&dir.join(DB_FILE)).await
    }

    /// Opens (creating if needed) the database file at `path` and the audit
    /// table's file beside it, each created 0600 whatever the umask, and
    /// brings both schemas up to date.
    pub async fn open_file(path: &Path) -> Result<Self> {
        let lock = lock_exclusively(path)?;
        let audit_path = audit_file_for(path);
        create_private(path)?;
        create_private(&audit_path)?;
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| open_error(path, source))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = pool(1, options.clone(), path).await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = pool(READERS, options.clone().read_only(true), path).await?;
        let audit_options = options
            .filename(&audit_path)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(false);
        let audit = pool(1, audit_options, &audit_path).await?;
        sqlx::migrate!("./migrations/sqlite-audit").run(&audit).await?;
        let observer = ObserverSlot::default();
        let commits = group_commit::spawn(write.clone(), observer.clone());
        Ok(Self {
            write,
            read,
            audit,
            commits,
            observer,
            lock: Arc::new(Mutex::new(Some(lock))),
        })
    }
}

/// Opens `<db>.lock` (0600) and locks it for this process, or fails with
/// [`StoreError::InUse`] when another process (or another open store in this
/// one) holds it. The OS drops the lock if the process dies.
fn lock_exclusively(db: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| open_error(&path, sqlx::Error::Io(e)))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(db.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => Err(open_error(&path, sqlx::Error::Io(e))),
    }
}

async fn pool(connections: u32, options: SqliteConnectOptions, path: &Path) -> Result<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(connections)
        .connect_with(options)
        .await
        .map_err(|source| open_error(path, source))
}

fn open_error(path: &Path, source: sqlx::Error) -> StoreError {
    StoreError::Open {
        path: path.display().to_string(),
        source,
    }
}

/// Creates `path` (if absent) readable by its owner only, whatever the
/// umask: SQLite then gives the `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| open_error(path, sqlx::Error::Io(e)))
}

/// `leash.db` -> `leash-audit.db`, next to it.
fn audit_file_for(path: &Path) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("leash");
    path.with_file_name(format!("{stem}-audit.db"))
}
