//! Test support (feature `testing`): a fresh PostgreSQL database per test,
//! dropped afterwards, for the tests of this crate and of the crates above it.
//!
//! The server is `postgres://postgres@127.0.0.1:5432/postgres`, or
//! `LEASH_TEST_POSTGRES` (an admin URL: its user must be allowed to create
//! databases). Never compiled into a release build.

use std::hash::{BuildHasher, Hasher};

use sqlx::Connection;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The admin URL tests create their databases with.
pub fn admin_url() -> String {
    std::env::var("LEASH_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A fresh database (`leash_test_<pid>_<random>`), dropped with its
/// connections ended when this is dropped, also when the test panics.
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// Creates the database; panics with a hint when PostgreSQL is unreachable.
    pub async fn create() -> Self {
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let name = format!("leash_test_{}_{random:016x}", std::process::id());
        let admin = admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL (set LEASH_TEST_POSTGRES): {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        conn.close().await.ok();
        let url = with_database(&admin, &name);
        Self { name, url }
    }

    /// The database's URL (`postgres://…/leash_test_…`).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    /// Runs on its own thread and runtime: a drop may happen inside the test's
    /// runtime, during a panic included.
    fn drop(&mut self) {
        let (admin, name) = (admin_url(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// `admin` with its database replaced by `name` (query parameters kept).
fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = admin.split_once('?').map_or((admin, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").expect("a postgres:// URL");
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}
