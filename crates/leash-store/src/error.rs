//! The one error type of `leash-store`. Messages name rows by their names and
//! numbers, never by content.

/// Everything a storage call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("the store is already initialised")]
    AlreadyInitialized,
    /// The environment moved on since the revision the writer expected.
    #[error("environment is at revision {actual}, but the change expected revision {expected}")]
    CasMismatch { expected: i64, actual: i64 },
    /// Another writer wrote `path` between reading its head and applying the change;
    /// the caller re-reads and retries.
    #[error("secret {0} was written concurrently")]
    VersionConflict(String),
    /// A change set that cannot be applied as given (duplicate path, delete of a deleted secret, ...).
    #[error("{0}")]
    InvalidChange(String),
    /// A write's end-to-end recipients are not the environment's (it changed
    /// since the writer looked, or the writer did not encrypt at all).
    #[error("the environment's end-to-end recipients are not the ones the change was encrypted to")]
    E2eMismatch {
        /// The environment's recipients (`None`: not end-to-end encrypted).
        current: Option<Vec<String>>,
    },
    /// Turning end-to-end encryption off while versions still hold age ciphertext.
    #[error("{0} retained versions hold end-to-end ciphertext")]
    E2eVersionsRetained(i64),
    /// Stored data that does not have the form this version writes (names the row, never its content).
    #[error("the store holds damaged data: {0}")]
    Corrupt(String),
    /// Another process holds the lock of an SQLite store.
    #[error(
        "the store at {0} is in use by another Leash server (one process per SQLite data directory; \
         run several nodes on PostgreSQL)"
    )]
    InUse(String),
    /// A snapshot file that cannot be written or read back: damaged, foreign,
    /// of a newer format, or its files unreadable. Names the part, never content.
    #[error("snapshot: {0}")]
    Snapshot(String),
    /// The backend cannot do this; the message says what to use instead.
    #[error("{0}")]
    Unsupported(String),
    /// A migration between backends refused to start or found the copy
    /// different from its source; names tables and counts, never content.
    #[error("migration: {0}")]
    Copy(String),
    #[error("cannot open the store at {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot migrate the store schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("storage error: {0}")]
    Database(#[from] sqlx::Error),
    /// A batch of change sets could not be committed; none of it was written.
    #[error("storage error: the change could not be committed: {0}")]
    Commit(String),
}

/// Whether a database error is a unique-key violation (any sqlx backend).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// `AlreadyExists(what)` for a unique violation, the database error otherwise.
pub(crate) fn exists_or(what: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match e {
        e if is_unique_violation(&e) => StoreError::AlreadyExists(what()),
        e => e.into(),
    }
}
