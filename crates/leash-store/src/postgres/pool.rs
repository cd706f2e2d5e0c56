//! Connecting to PostgreSQL: the pool, the per-connection durability setting,
//! and the migrations (`migrations/postgres`; sqlx holds an advisory lock while
//! it migrates, so nodes starting together migrate once).

use std::str::FromStr;
use std::time::Duration;

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

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
        })
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
