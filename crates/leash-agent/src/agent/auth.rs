//! Auto-auth: getting a token from files, keeping it alive, replacing it.
//!
//! One task owns the token. It logs in (reading the credential file afresh
//! each time, since a Kubernetes projected token rotates), publishes a
//! [`Session`] (a client carrying the token, numbered by generation), renews
//! the token at two thirds of its remaining lifetime, and logs in again when
//! renewal is refused, when the token cannot be extended any more, or when a
//! user of the session reports it refused ([`AuthHandle::refused`]). Failed
//! logins are retried with exponential backoff (1 s doubling to 30 s).
//! Errors are logged by kind and path, never with a credential.

use std::path::Path;
use std::time::Duration;

use leash_client::Client;
use leash_core::api::{ClientLogin, JwtLogin, TokenRenew};
use secrecy::SecretString;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{mpsc, watch};
use zeroize::{Zeroize, Zeroizing};

use super::Backoff;
use super::config::AuthMethod;
use crate::Error;

const LOGIN_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));
/// Renewing or logging in more often than this is pointless churn.
const MIN_WAIT: Duration = Duration::from_secs(1);

/// A client carrying the current token.
#[derive(Clone)]
pub struct Session {
    pub client: Client,
    /// Increases with every new token.
    pub generation: u64,
}

/// The users' side of the auth task.
#[derive(Clone)]
pub struct AuthHandle {
    sessions: watch::Receiver<Option<Session>>,
    refused: mpsc::UnboundedSender<u64>,
}

impl AuthHandle {
    /// The current session, waiting for the first login if needed; with
    /// `newer_than`, waits for a token newer than that generation.
    pub async fn session(&mut self, newer_than: Option<u64>) -> Session {
        let ok = |s: &Option<Session>| s.as_ref().is_some_and(|s| newer_than.is_none_or(|g| s.generation > g));
        let found = self.sessions.wait_for(ok).await.map(|s| s.clone());
        match found {
            Ok(Some(session)) => session,
            // The auth task never ends while the agent runs; if it did, wait forever.
            _ => std::future::pending().await,
        }
    }

    /// Reports that the server refused the token of `generation` (401):
    /// the auth task logs in again.
    pub fn refused(&self, generation: u64) {
        let _ = self.refused.send(generation);
    }
}

/// Starts the auth task for `method` against `base` (a client without token).
pub fn spawn(method: AuthMethod, base: Client) -> AuthHandle {
    let (tx, rx) = watch::channel(None);
    let (refused_tx, refused_rx) = mpsc::unbounded_channel();
    tokio::spawn(maintain(method, base, tx, refused_rx));
    AuthHandle {
        sessions: rx,
        refused: refused_tx,
    }
}

/// A token and what the server said about its lifetime.
struct Obtained {
    token: SecretString,
    expires_at: Option<OffsetDateTime>,
}

async fn maintain(
    method: AuthMethod,
    base: Client,
    tx: watch::Sender<Option<Session>>,
    mut refused: mpsc::UnboundedReceiver<u64>,
) {
    let mut generation = 0u64;
    let mut backoff = Backoff::new(LOGIN_BACKOFF.0, LOGIN_BACKOFF.1);
    loop {
        let obtained = match login(&method, &base).await {
            Ok(obtained) => obtained,
            Err(e) => {
                let wait = backoff.next();
                tracing::warn!(method = method_name(&method), error = %e, retry_in = ?wait, "login failed");
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let client = match base.with_token(Some(obtained.token)) {
            Ok(client) => client,
            Err(e) => {
                let wait = backoff.next();
                tracing::warn!(error = %e, retry_in = ?wait, "the server gave a token that cannot be sent");
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        backoff.reset();
        generation += 1;
        tracing::info!(
            method = method_name(&method),
            generation,
            expires_at = obtained.expires_at.and_then(|t| t.format(&Rfc3339).ok()),
            "logged in"
        );
        tx.send_replace(Some(Session {
            client: client.clone(),
            generation,
        }));
        // Drop reports about older tokens.
        while refused.try_recv().is_ok() {}
        keep_alive(&method, &client, generation, obtained.expires_at, &mut refused).await;
    }
}

/// Renews the token until it must be replaced; returns when a new login is due.
async fn keep_alive(
    method: &AuthMethod,
    client: &Client,
    generation: u64,
    mut expires_at: Option<OffsetDateTime>,
    refused: &mut mpsc::UnboundedReceiver<u64>,
) {
    let mut retry = Backoff::new(LOGIN_BACKOFF.0, LOGIN_BACKOFF.1);
    // Renew at two thirds of the remaining lifetime; `None`: the token does not expire.
    let mut next = expires_at.map(two_thirds);
    loop {
        let sleep = async {
            match next {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            report = refused.recv() => match report {
                Some(g) if g == generation => {
                    if matches!(method, AuthMethod::Token(_)) {
                        tracing::error!("the server refused the token given on the command line; it cannot be replaced");
                        continue;
                    }
                    tracing::warn!(generation, "the server refused the token; logging in again");
                    return;
                }
                Some(_) => continue,
                None => std::future::pending::<()>().await,
            },
        }
        match client.renew_self(&TokenRenew { increment: None }).await {
            Ok(info) => {
                retry.reset();
                let renewed = info.expires_at.as_deref().and_then(parse_time);
                let extended = match (renewed, expires_at) {
                    (Some(new), Some(old)) => new > old + time::Duration::seconds(1),
                    (None, _) => true,
                    (Some(_), None) => true,
                };
                tracing::debug!(generation, "token renewed");
                expires_at = renewed;
                if extended || matches!(method, AuthMethod::Token(_)) {
                    next = expires_at.map(two_thirds);
                } else {
                    // At its maximum lifetime: log in again before it runs out.
                    let wait = expires_at.map(two_thirds).unwrap_or(MIN_WAIT);
                    tracing::info!(generation, "the token reached its maximum lifetime; a new login is due");
                    tokio::time::sleep(wait).await;
                    return;
                }
            }
            Err(e) if e.is_connect() || e.status().is_some_and(|s| s >= 500) || e.status().is_none() => {
                let wait = retry.next();
                tracing::warn!(error = %e, retry_in = ?wait, "cannot renew the token now");
                next = Some(wait);
            }
            Err(e) => {
                if matches!(method, AuthMethod::Token(_)) {
                    tracing::error!(error = %e, "the token given on the command line cannot be renewed");
                    next = None;
                    continue;
                }
                tracing::warn!(error = %e, "token renewal refused; logging in again");
                return;
            }
        }
    }
}

fn method_name(method: &AuthMethod) -> &'static str {
    match method {
        AuthMethod::ClientSecret { .. } => "client",
        AuthMethod::Jwt { .. } => "jwt",
        AuthMethod::TokenFile(_) => "token_file",
        AuthMethod::Token(_) => "token",
    }
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Two thirds of the time left until `t`, at least [`MIN_WAIT`].
fn two_thirds(t: OffsetDateTime) -> Duration {
    let left = t - OffsetDateTime::now_utc();
    let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
    (left * 2 / 3).max(MIN_WAIT)
}

/// Reads a credential file, trimmed.
fn read_credential(what: &'static str, path: &Path) -> Result<Zeroizing<String>, Error> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::io(what, path, e))?);
    let trimmed = Zeroizing::new(text.trim().to_owned());
    if trimmed.is_empty() {
        return Err(Error::Invalid(format!("{} is empty", path.display())));
    }
    Ok(trimmed)
}

async fn login(method: &AuthMethod, base: &Client) -> Result<Obtained, Error> {
    let created = match method {
        AuthMethod::ClientSecret { client_id, secret_file } => {
            let secret = read_credential("cannot read the client secret file", secret_file)?;
            let mut request = ClientLogin {
                client_id: client_id.clone(),
                client_secret: secret.as_str().to_owned(),
            };
            let result = base.login_client(&request).await;
            request.client_secret.zeroize();
            result?
        }
        AuthMethod::Jwt { identity, jwt_file } => {
            let jwt = read_credential("cannot read the JWT file", jwt_file)?;
            let mut request = JwtLogin {
                identity: identity.clone(),
                jwt: jwt.as_str().to_owned(),
            };
            let result = base.login_jwt(&request).await;
            request.jwt.zeroize();
            result?
        }
        AuthMethod::TokenFile(path) => {
            let token = read_credential("cannot read the token file", path)?;
            return adopt(base, SecretString::from(token.as_str().to_owned())).await;
        }
        AuthMethod::Token(token) => return adopt(base, token.clone()).await,
    };
    let expires_at = created.expires_at.as_deref().and_then(parse_time);
    Ok(Obtained {
        token: SecretString::from(created.token),
        expires_at,
    })
}

/// A token obtained elsewhere: looked up to check it and learn its expiry.
async fn adopt(base: &Client, token: SecretString) -> Result<Obtained, Error> {
    let client = base.with_token(Some(token.clone()))?;
    let info = client.lookup_self().await?;
    Ok(Obtained {
        token,
        expires_at: info.expires_at.as_deref().and_then(parse_time),
    })
}
