//! The PostgreSQL rotator: changes a role's password with `ALTER ROLE`
//! through an admin connection.
//!
//! **Owns**: the passwords of the one or two roles it is configured with, and
//! nothing else. It connects with the admin URL (no pool: one connection per
//! step, closed at its end) and runs exactly one kind of statement,
//! `ALTER ROLE <role> WITH LOGIN PASSWORD <SCRAM verifier>`, on a configured
//! role; `test` connects as the new credentials and runs `SELECT current_user`.
//!
//! **Must never**: alter a role that is not configured; put a password, a
//! verifier or SQL text into an error, a log line or sqlx's statement log
//! (statement logging is off on every connection, and sqlx errors are mapped
//! to fixed messages that cannot carry SQL); send a plaintext password to the
//! server (the SCRAM-SHA-256 verifier is computed here, as psql's `\password`
//! does, so the server's statement log and `pg_stat_statements` never see it).
//!
//! Two strategies:
//! - **one role**: `set` replaces the role's password. A PostgreSQL role has
//!   one password, so the old one stops working at `set`: there is *no grace
//!   period*, and `retire` has nothing left to do.
//! - **alternating users** (two roles): each rotation sets the password of the
//!   role that is *not* in use, so the current credential keeps working until
//!   `retire`, which gives the previous role a random password nobody knows.
//!   At every moment at least one credential works. The value must then carry
//!   the user name, so only the URL format is allowed.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use leash_core::generate::Generator;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use zeroize::Zeroizing;

use crate::{Error, Result, Rotator, Step, Target};

/// How long connecting to PostgreSQL may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole step (connect and statements) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// The throwaway password `retire` gives the previous role: never stored, never shown.
const RETIRED_PASSWORD: &str = "bytes:48:base64url";

/// Everything but RFC 3986's unreserved characters is percent-encoded in the
/// user name and password of a value URL. Encoding more than the userinfo rule
/// requires is always safe; `%` itself must be encoded (the `url` crate would
/// leave it alone, taking it for an existing escape).
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// What the secret's value holds. Spelled `url` or `password` in
/// configuration (serde and [`str::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    /// A full connection URL: the admin URL's scheme, host, port, database and
    /// query (less `user` and `password` parameters), with the role and its
    /// new password as user and password.
    Url,
    /// The password alone (one role only).
    Password,
}

impl ValueFormat {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueFormat::Url => "url",
            ValueFormat::Password => "password",
        }
    }
}

impl fmt::Display for ValueFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ValueFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "url" => Ok(ValueFormat::Url),
            "password" => Ok(ValueFormat::Password),
            other => Err(config_error(format!("format: {other:?} is not url or password"))),
        }
    }
}

/// The configuration of a [`PostgresRotator`].
pub struct PostgresConfig {
    /// `postgres://…` URL of a role allowed to `ALTER ROLE` the configured
    /// roles (a superuser, or one with `CREATEROLE` and, from PostgreSQL 16,
    /// the `ADMIN` option on them). Usually stored as another secret.
    pub admin_url: Zeroizing<String>,
    /// One role, or two for the alternating-users strategy.
    pub roles: Vec<String>,
    pub format: ValueFormat,
    /// Makes new passwords: a `password`, `bytes` or `uuid` generator.
    pub generator: Generator,
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("admin_url", &"<redacted>")
            .field("roles", &self.roles)
            .field("format", &self.format)
            .field("generator", &self.generator)
            .finish()
    }
}

/// Rotates the password of a PostgreSQL role (or of two, alternating).
pub struct PostgresRotator {
    /// The admin connection; statement logging off.
    admin: PgConnectOptions,
    roles: Vec<String>,
    format: ValueFormat,
    generator: Generator,
    /// `postgres` or `postgresql`, as in the admin URL.
    scheme: String,
    /// A value URL after its userinfo: `host[:port][/database][?query]`,
    /// without `user` and `password` query parameters. Holds no secret.
    location: String,
}

impl fmt::Debug for PostgresRotator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresRotator")
            .field("roles", &self.roles)
            .field("format", &self.format)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl PostgresRotator {
    /// Checks the configuration. Errors name the field and never contain the
    /// admin URL (it carries a password).
    pub fn new(config: PostgresConfig) -> Result<Self> {
        let PostgresConfig {
            admin_url,
            roles,
            format,
            generator,
        } = config;
        if roles.is_empty() || roles.len() > 2 {
            return Err(config_error(format!(
                "roles: give one role, or two for the alternating-users strategy (got {})",
                roles.len()
            )));
        }
        if let Some(bad) = roles.iter().find(|r| r.is_empty() || r.contains('\0')) {
            return Err(config_error(format!("roles: {bad:?} is not a role name")));
        }
        if roles.len() == 2 && roles[0] == roles[1] {
            return Err(config_error("roles: the two alternating roles must differ"));
        }
        if format == ValueFormat::Password && roles.len() == 2 {
            return Err(config_error(
                "format: `password` works with one role only; with alternating users the user name changes, so use `url`",
            ));
        }
        if !matches!(
            generator,
            Generator::Password(_) | Generator::Bytes(_) | Generator::Uuid
        ) {
            return Err(config_error(format!(
                "generator: {generator} does not make a password; use a password, bytes or uuid generator"
            )));
        }

        // `url::ParseError` describes the problem without quoting the input.
        let url =
            url::Url::parse(&admin_url).map_err(|e| config_error(format!("admin_url is not a valid URL ({e})")))?;
        let scheme = url.scheme().to_owned();
        if scheme != "postgres" && scheme != "postgresql" {
            return Err(config_error("admin_url must start with postgres:// or postgresql://"));
        }
        let host = url.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(config_error(
                "admin_url must name a host (for a unix socket: postgres://localhost/db?host=/socket/dir)",
            ));
        }
        let mut location = host.to_owned();
        if let Some(port) = url.port() {
            location.push_str(&format!(":{port}"));
        }
        location.push_str(url.path());
        if let Some(query) = url.query() {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|pair| {
                    let key = pair.split('=').next().unwrap_or_default();
                    let key = percent_decode_str(key).decode_utf8_lossy();
                    !pair.is_empty() && key != "user" && key != "password"
                })
                .collect();
            if !kept.is_empty() {
                location.push('?');
                location.push_str(&kept.join("&"));
            }
        }
        drop(url);

        // sqlx's parse errors could quote the URL: never shown.
        let admin = PgConnectOptions::from_str(&admin_url)
            .map_err(|_| config_error("admin_url is not a PostgreSQL connection URL sqlx can use"))?
            .application_name("leash-rotate")
            .disable_statement_logging();

        Ok(Self {
            admin,
            roles,
            format,
            generator,
            scheme,
            location,
        })
    }

    fn alternating(&self) -> bool {
        self.roles.len() == 2
    }

    /// The role `create` rotates in: the only one, or in alternating mode the
    /// one that is not the current value's user.
    fn next_role(&self, current: Option<&str>) -> &str {
        if !self.alternating() {
            return &self.roles[0];
        }
        match current.and_then(url_user) {
            Some(user) if user == self.roles[0] => &self.roles[1],
            _ => &self.roles[0],
        }
    }

    /// A value URL for `role` with `password`, built in one zeroized buffer.
    fn value_url(&self, role: &str, password: &str) -> Zeroizing<String> {
        let capacity = self.scheme.len() + 3 + 3 * role.len() + 1 + 3 * password.len() + 1 + self.location.len();
        let mut url = Zeroizing::new(String::with_capacity(capacity));
        url.push_str(&self.scheme);
        url.push_str("://");
        url.extend(utf8_percent_encode(role, USERINFO));
        url.push(':');
        url.extend(utf8_percent_encode(password, USERINFO));
        url.push('@');
        url.push_str(&self.location);
        url
    }

    /// The role and password a value holds. The role must be configured.
    fn credentials<'v>(&'v self, step: Step, value: &'v str) -> Result<(&'v str, Zeroizing<String>)> {
        match self.format {
            ValueFormat::Password => Ok((&self.roles[0], Zeroizing::new(value.to_owned()))),
            ValueFormat::Url => {
                let (user, password) = url_credentials(value).ok_or_else(|| {
                    step_error(
                        step,
                        "the value is not a postgres:// URL with a user name and a password",
                    )
                })?;
                let role = self.configured(&user).ok_or_else(|| {
                    step_error(
                        step,
                        format!("the value's user {user:?} is not one of the configured roles"),
                    )
                })?;
                Ok((role, password))
            }
        }
    }

    fn configured(&self, user: &str) -> Option<&str> {
        self.roles.iter().find(|r| *r == user).map(String::as_str)
    }

    /// Connects with the admin URL and sets `role`'s password.
    async fn alter_password(&self, step: Step, role: &str, password: &str) -> Result<()> {
        let verifier = Zeroizing::new(postgres_protocol::password::scram_sha_256(password.as_bytes()));
        within(step, async {
            let conn = connect(step, &self.admin, "the admin role").await?;
            alter_role(conn, role, &verifier)
                .await
                .map_err(|e| step_error(step, format!("ALTER ROLE {role:?} failed: {}", describe(&e))))
        })
        .await
    }
}

#[async_trait]
impl Rotator for PostgresRotator {
    async fn create(&self, _target: &Target, current: Option<&str>) -> Result<Zeroizing<String>> {
        let role = self.next_role(current);
        let password = self.generator.generate()?.into_parts().0;
        Ok(match self.format {
            ValueFormat::Url => self.value_url(role, &password),
            ValueFormat::Password => password,
        })
    }

    async fn set(&self, _target: &Target, current: Option<&str>, pending: &str) -> Result<()> {
        let (role, password) = self.credentials(Step::Set, pending)?;
        if self.alternating() && current.and_then(url_user).as_deref() == Some(role) {
            return Err(step_error(
                Step::Set,
                format!(
                    "the pending value uses role {role:?}, which the current value uses too; alternating users must switch roles"
                ),
            ));
        }
        self.alter_password(Step::Set, role, &password).await
    }

    async fn test(&self, _target: &Target, pending: &str) -> Result<()> {
        let (role, password) = self.credentials(Step::Test, pending)?;
        let options = match self.format {
            ValueFormat::Url => PgConnectOptions::from_str(pending)
                .map_err(|_| step_error(Step::Test, "the value is not a PostgreSQL connection URL sqlx can use"))?
                .application_name("leash-rotate")
                .disable_statement_logging(),
            ValueFormat::Password => self.admin.clone().username(role).password(&password),
        };
        within(Step::Test, async {
            let mut conn = connect(Step::Test, &options, &format!("role {role:?} with the new password")).await?;
            let user: std::result::Result<String, sqlx::Error> = sqlx::query_scalar("SELECT current_user::text")
                .fetch_one(&mut conn)
                .await;
            let _ = conn.close().await;
            let user =
                user.map_err(|e| step_error(Step::Test, format!("SELECT current_user failed: {}", describe(&e))))?;
            if user != role {
                return Err(step_error(
                    Step::Test,
                    format!("logged in as {user:?}, expected {role:?}"),
                ));
            }
            Ok(())
        })
        .await
    }

    async fn promote(&self, _target: &Target, _pending: &str) -> Result<()> {
        // Nothing changes in PostgreSQL: the new password already works.
        Ok(())
    }

    async fn retire(&self, _target: &Target, previous: &str) -> Result<()> {
        if !self.alternating() {
            // One role has one password: the old one stopped working at `set`.
            return Ok(());
        }
        let user = url_user(previous).ok_or_else(|| {
            step_error(
                Step::Retire,
                "the previous value is not a postgres:// URL with a user name; nothing retired",
            )
        })?;
        let role = self.configured(&user).ok_or_else(|| {
            step_error(
                Step::Retire,
                format!("the previous value's user {user:?} is not one of the configured roles; nothing retired"),
            )
        })?;
        let throwaway = RETIRED_PASSWORD.parse::<Generator>()?.generate()?.into_parts().0;
        self.alter_password(Step::Retire, role, &throwaway).await
    }
}

/// Sets `role`'s password to `password` (a SCRAM verifier or plaintext),
/// then closes the connection.
///
/// `ALTER ROLE` is a utility statement: PostgreSQL does not accept bind
/// parameters in it. Rather than quote here, the server quotes: `format()`
/// with `%I` (identifier) and `%L` (literal) returns the statement text,
/// which is then run as is. The text is never logged (statement logging is
/// off) nor prepared and cached (it is sent as a simple query).
///
/// Takes the connection by value: sqlx's executor traits on a borrowed
/// connection do not satisfy `async_trait`'s `Send` bound.
async fn alter_role(mut conn: PgConnection, role: &str, password: &str) -> std::result::Result<(), sqlx::Error> {
    let result = async {
        let statement: String =
            sqlx::query_scalar("SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text)")
                .bind(role)
                .bind(password)
                .fetch_one(&mut conn)
                .await?;
        let statement = Zeroizing::new(statement);
        // Without arguments sqlx sends a simple query: nothing is prepared or cached.
        sqlx::Executor::execute(&mut conn, statement.as_str()).await?;
        Ok(())
    }
    .await;
    // Closing politely is best effort; the outcome is the statement's.
    let _ = conn.close().await;
    result
}

async fn connect(step: Step, options: &PgConnectOptions, who: &str) -> Result<PgConnection> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(step_error(
            step,
            format!("connecting to PostgreSQL as {who}: {}", describe(&e)),
        )),
        Err(_) => Err(step_error(
            step,
            format!(
                "connecting to PostgreSQL as {who}: no answer within {}s",
                CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// Runs a step's database work under [`STEP_TIMEOUT`].
async fn within<T>(step: Step, work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(STEP_TIMEOUT, work).await.unwrap_or_else(|_| {
        Err(step_error(
            step,
            format!("PostgreSQL did not finish within {}s", STEP_TIMEOUT.as_secs()),
        ))
    })
}

/// A fixed description of an sqlx error. Server messages and sqlx's own
/// strings are not passed on: a syntax error quotes SQL, and SQL here holds a
/// password verifier.
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default().into_owned();
            let what = match code.as_str() {
                "42704" => "the role does not exist",
                "42501" => "permission denied (the admin role may not alter this role)",
                "28P01" => "password authentication failed",
                "28000" => "the server refused the login (pg_hba.conf or a role without LOGIN)",
                "3D000" => "the database does not exist",
                "53300" => "too many connections",
                "57P03" => "the server is starting up or shutting down",
                "0A000" => "the server does not support this",
                "25006" => "the server is read-only (a standby?)",
                _ => "the server refused",
            };
            format!("{what} (SQLSTATE {code})")
        }
        sqlx::Error::Io(e) => format!("cannot reach the server: {e}"),
        sqlx::Error::Tls(_) => "the TLS handshake failed".to_owned(),
        sqlx::Error::Protocol(_) => "PostgreSQL protocol error".to_owned(),
        sqlx::Error::Configuration(_) => "invalid connection settings".to_owned(),
        sqlx::Error::RowNotFound => "the query returned no row".to_owned(),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            "the connection failed".to_owned()
        }
        _ => "unexpected database client error".to_owned(),
    }
}

/// The percent-decoded user name of a `postgres://` value, if it has one.
fn url_user(value: &str) -> Option<String> {
    let url = url::Url::parse(value).ok()?;
    if url.scheme() != "postgres" && url.scheme() != "postgresql" {
        return None;
    }
    let user = percent_decode_str(url.username()).decode_utf8().ok()?.into_owned();
    (!user.is_empty()).then_some(user)
}

/// The percent-decoded user name and password of a `postgres://` value.
fn url_credentials(value: &str) -> Option<(String, Zeroizing<String>)> {
    let user = url_user(value)?;
    let url = url::Url::parse(value).ok()?;
    let password = Zeroizing::new(percent_decode_str(url.password()?).decode_utf8().ok()?.into_owned());
    (!password.is_empty()).then_some((user, password))
}

fn config_error(message: impl Into<String>) -> Error {
    Error::Config(message.into())
}

fn step_error(step: Step, message: impl Into<String>) -> Error {
    Error::Step {
        step,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests;
