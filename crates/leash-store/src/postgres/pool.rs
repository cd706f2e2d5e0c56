//! Connecting to PostgreSQL: the pool, the per-connection durability setting,
//! and the migrations (`migrations/postgres`; sqlx holds an advisory lock while
//! it migrates, so nodes starting together migrate once).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::Mutex;

use super::{PostgresStore, group_commit};
use crate::observe::ObserverSlot;
use crate::{Result, StoreError};

impl PostgresStore {
    /// Connections per node unless the caller says otherwise.
    pub const DEFAULT_CONNECTIONS: u32 = 16;

    /// Connects to the database at `url` (`postgres://user@host/db`) with at
    /// most [`Self::DEFAULT_CONNECTIONS`] connections and brings its schema up to
    /// date. The database must exist; other nodes may be connected to it
    /// already. A server that is not up yet is waited for (up to 30 s).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, Self::DEFAULT_CONNECTIONS).await
    }

    /// [`PostgresStore::connect`] with at most `connections` connections (at
    /// least 1; the group committers use up to four of them at once, the
    /// reads and other writes the rest). Every node counts against the
    /// server's `max_connections`.
    pub async fn connect_with(url: &str, connections: u32) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|source| open_error(url, source))?;
        let pool = PgPoolOptions::new()
            .max_connections(connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // A commit is acknowledged only once it is durable: never run with
                    // `synchronous_commit = off`, whatever the database's default.
                    let setting: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
                        .fetch_one(&mut *conn)
                        .await?;
                    if setting == "off" {
                        conn.execute("SET synchronous_commit = on").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|source| open_error(url, source))?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let observer = ObserverSlot::default();
        let commits = group_commit::Committers::spawn(&pool, &observer);
        Ok(Self {
            pool,
            commits,
            observer,
            only_node: None,
            cluster_lock: None,
        })
    }

    /// [`PostgresStore::connect`] for a server that must be the only node on
    /// the database: takes a session advisory lock on a connection of its own
    /// and holds it until [`crate::MetaStore::close`] (the database drops it
    /// when the process dies), or fails with [`StoreError::InUse`] when
    /// another node holds it. [`crate::MetaStore::exclusive`] is then true.
    ///
    /// This is how a server runs on PostgreSQL until several nodes on one
    /// database are supported: every part of the server that assumes it is
    /// alone (the audit chain's numbering, the in-process caches, releasing
    /// rotation leases at start) stays right.
    pub async fn connect_as_only_node(url: &str) -> Result<Self> {
        let mut store = Self::connect(url).await?;
        store.only_node = Some(Arc::new(OnlyNodeLock::take(url, LockMode::Exclusive).await?));
        Ok(store)
    }

    /// [`PostgresStore::connect`] for one node of several on the database:
    /// holds the same advisory lock *shared*, so cluster nodes run together
    /// but never beside a node that runs as the only one (each refuses to
    /// start while the other kind holds it: [`StoreError::InUse`]).
    /// [`crate::MetaStore::exclusive`] stays false.
    pub async fn connect_as_cluster_node(url: &str) -> Result<Self> {
        let mut store = Self::connect(url).await?;
        store.cluster_lock = Some(Arc::new(OnlyNodeLock::take(url, LockMode::Shared).await?));
        Ok(store)
    }
}

/// The advisory lock key of "one node uses this database" (`leash_n1` in ASCII).
const ONLY_NODE_LOCK_KEY: i64 = 0x6c65_6173_685f_6e31;
/// How often the lock's connection is checked (and the lock taken again if the connection was lost).
const ONLY_NODE_CHECK: Duration = Duration::from_secs(5);

/// How a node holds the lock: alone, or beside other cluster nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LockMode {
    Exclusive,
    Shared,
}

/// The held advisory lock: its connection, and the task that keeps it.
pub(super) struct OnlyNodeLock {
    conn: Arc<Mutex<Option<PgConnection>>>,
    keeper: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for OnlyNodeLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnlyNodeLock")
    }
}

impl OnlyNodeLock {
    async fn take(url: &str, mode: LockMode) -> Result<Self> {
        let conn = Arc::new(Mutex::new(Some(lock_connection(url, mode).await?)));
        let keeper = tokio::spawn(keep(url.to_owned(), conn.clone(), mode));
        Ok(Self { conn, keeper })
    }

    /// Stops the keeper and gives the lock up.
    pub(super) async fn release(&self) {
        self.keeper.abort();
        if let Some(mut conn) = self.conn.lock().await.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut conn).await;
            let _ = conn.close().await;
        }
    }
}

/// A new connection holding the lock, or `InUse`.
async fn lock_connection(url: &str, mode: LockMode) -> Result<PgConnection> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|source| open_error(url, source))?;
    let statement = match mode {
        LockMode::Exclusive => "SELECT pg_try_advisory_lock($1)",
        LockMode::Shared => "SELECT pg_try_advisory_lock_shared($1)",
    };
    let taken: bool = sqlx::query_scalar(statement)
        .bind(ONLY_NODE_LOCK_KEY)
        .fetch_one(&mut conn)
        .await?;
    if taken {
        Ok(conn)
    } else {
        let _ = conn.close().await;
        Err(StoreError::InUse(match mode {
            LockMode::Exclusive => format!(
                "{} (other nodes use it: start this one with --cluster too, or stop them)",
                redacted(url)
            ),
            LockMode::Shared => format!(
                "{} (a node runs on it as the only one, without --cluster: stop it, or start every node without --cluster, one at a time)",
                redacted(url)
            ),
        }))
    }
}

/// Checks the lock's connection every few seconds; when the database lost it
/// (a restart, a dropped connection), takes the lock again on a new one, and
/// says loudly when another node took it meanwhile.
async fn keep(url: String, conn: Arc<Mutex<Option<PgConnection>>>, mode: LockMode) {
    loop {
        tokio::time::sleep(ONLY_NODE_CHECK).await;
        let mut held = conn.lock().await;
        let alive = match held.as_mut() {
            Some(c) => sqlx::query("SELECT 1").execute(&mut *c).await.is_ok(),
            None => return,
        };
        if alive {
            continue;
        }
        match lock_connection(&url, mode).await {
            Ok(new) => {
                tracing::warn!(
                    "the connection holding the only-node lock on PostgreSQL was lost; the lock is held again"
                );
                *held = Some(new);
            }
            Err(e) => tracing::error!(
                error = %e,
                "the only-node lock on PostgreSQL was lost and cannot be taken again; stop this server if another one runs on the database"
            ),
        }
    }
}

/// The URL without its password (`postgres://user:***@host/db`, a `password=`
/// parameter likewise), for errors. Errs on the side of hiding: everything
/// between the first `:` and the last `@` after the scheme goes.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "the configured PostgreSQL URL".into();
    };
    let (user, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => match userinfo.split_once(':') {
            Some((user, _password)) => (format!("{user}:***@"), rest),
            None => (format!("{userinfo}@"), rest),
        },
        None => (String::new(), rest),
    };
    let rest = match rest.split_once('?') {
        Some((path, query)) => {
            let params: Vec<&str> = query
                .split('&')
                .map(|p| if p.starts_with("password=") { "password=***" } else { p })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => rest.to_owned(),
    };
    format!("{scheme}://{user}{rest}")
}

fn open_error(url: &str, source: sqlx::Error) -> StoreError {
    StoreError::Open {
        path: redacted(url),
        source,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_url_in_an_error_has_no_password() {
        let check = |url: &str, expected: &str| assert_eq!(super::redacted(url), expected);
        check(
            "postgres://leash:s3cret@db:5432/leash", // leash:allow (a made-up password the redaction test hides)
            "postgres://leash:***@db:5432/leash",
        );
        check(
            "postgres://leash@db/leash?sslmode=require",
            "postgres://leash@db/leash?sslmode=require",
        );
        check("postgres://db/leash", "postgres://db/leash");
        check("postgres://u:p@ss@db/x", "postgres://u:***@db/x");
        check("postgres://u:pa/ss?@db/x", "postgres://u:***@db/x");
        check(
            "postgres://db/x?sslmode=require&password=s3cret",
            "postgres://db/x?sslmode=require&password=***",
        );
        check("not a url", "the configured PostgreSQL URL");
    }
}
