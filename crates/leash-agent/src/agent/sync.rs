//! Keeping the agent's copy of the secrets current.
//!
//! One task fetches every readable secret of the environment in one request,
//! then subscribes to the change feed *after the fetched revision*, so a
//! change made between the fetch and the subscription is replayed, not
//! lost. A change event (bursts within [`DEBOUNCE`] are one) triggers a new
//! fetch. When the server cannot be reached the last copy stays published
//! (templates, socket and child keep their values) and the task reconnects
//! with backoff (0.2 s doubling to 10 s); a reconnect is a fetch plus a
//! subscription from the fetched revision, so it catches up with everything
//! that happened meanwhile. With several server addresses (`address =
//! "http://a:8270,http://b:8270"`) the fetch and the subscription fail over
//! like every client request, so a reconnect lands on a live node and
//! resumes from the revision fetched there. A refused token (401) is reported to the auth
//! task and the work resumes with the next token. End-to-end encrypted
//! values are decrypted with the configured age identity as part of the
//! fetch; when that fails before anything was delivered, the agent stops
//! with the error (it renders nothing rather than half), and afterwards it
//! keeps the last copy and logs the error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use leash_client::e2e::Identities;
use tokio::sync::{oneshot, watch};

use super::Backoff;
use super::auth::AuthHandle;
use crate::Error;
use crate::cache::Entry;
use crate::run::fetch;

/// Changes closer together than this are fetched once.
const DEBOUNCE: Duration = Duration::from_millis(50);
const RECONNECT_BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(10));

/// The agent's in-memory copy of one environment (values zeroized on drop).
pub struct Secrets {
    /// The revision the copy reflects.
    pub revision: i64,
    /// Secret path → entry.
    pub entries: BTreeMap<String, Entry>,
}

impl Secrets {
    fn same_values(&self, other: &Secrets) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(other.entries.iter())
                .all(|((pa, a), (pb, b))| pa == pb && a.env_var == b.env_var && a.value.as_str() == b.value.as_str())
    }
}

/// What the agent serves from: `None` until the first fetch succeeds.
pub type Shared = watch::Receiver<Option<Arc<Secrets>>>;

/// Where to read from.
pub struct Scope {
    pub project: String,
    pub env: String,
    pub prefix: Option<String>,
    /// Age identities for end-to-end encrypted values.
    pub identities: Option<Arc<Identities>>,
}

/// Starts the sync task; the receiver sees every copy whose values differ
/// from the last. The one-shot receiver gets the error that stopped the task
/// for good (values that cannot be decrypted before the first delivery).
pub fn spawn(auth: AuthHandle, scope: Scope) -> (Shared, oneshot::Receiver<Error>) {
    let (tx, rx) = watch::channel(None);
    let (fatal_tx, fatal_rx) = oneshot::channel();
    tokio::spawn(async move {
        if let Some(error) = run(auth, scope, tx).await {
            let _ = fatal_tx.send(error);
        }
    });
    (rx, fatal_rx)
}

/// Whether an error is about decrypting end-to-end encrypted values (retrying will not help).
fn is_undecryptable(e: &Error) -> bool {
    matches!(
        e,
        Error::Client(leash_client::Error::E2eNoIdentity { .. } | leash_client::Error::E2eDecrypt { .. })
    )
}

/// Why a round ended.
enum Stop {
    /// The token was refused: wait for a newer one.
    Refused(u64),
    /// End-to-end encrypted values that cannot be decrypted.
    Undecryptable(Error),
    /// Anything else: reconnect after a backoff.
    Failed(String),
}

/// Returns only with an error that ends the agent (or when nobody listens any more).
async fn run(mut auth: AuthHandle, scope: Scope, tx: watch::Sender<Option<Arc<Secrets>>>) -> Option<Error> {
    let mut backoff = Backoff::new(RECONNECT_BACKOFF.0, RECONNECT_BACKOFF.1);
    let mut newer_than = None;
    let mut outage = false;
    loop {
        let session = auth.session(newer_than).await;
        newer_than = None;
        let stop = round(&session, &scope, &tx, &mut backoff, &mut outage).await;
        if tx.is_closed() {
            return None;
        }
        match stop {
            Stop::Undecryptable(e) if tx.borrow().is_none() => {
                tracing::error!(error = %e, "cannot decrypt the end-to-end encrypted secrets; nothing is delivered");
                return Some(e);
            }
            Stop::Undecryptable(e) => {
                let wait = backoff.next();
                tracing::error!(error = %e, retry_in = ?wait, "cannot decrypt the changed secrets; serving the last known ones");
                tokio::time::sleep(wait).await;
            }
            Stop::Refused(generation) => {
                auth.refused(generation);
                newer_than = Some(generation);
            }
            Stop::Failed(reason) => {
                let wait = backoff.next();
                let revision = tx.borrow().as_ref().map(|s| s.revision);
                if outage {
                    tracing::debug!(reason, retry_in = ?wait, "still disconnected from the server");
                } else {
                    tracing::warn!(
                        reason,
                        retry_in = ?wait,
                        last_revision = revision,
                        "lost the server; serving the last known secrets"
                    );
                }
                outage = true;
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// One connection: fetch, subscribe after the fetched revision, re-fetch on every change.
async fn round(
    session: &super::auth::Session,
    scope: &Scope,
    tx: &watch::Sender<Option<Arc<Secrets>>>,
    backoff: &mut Backoff,
    outage: &mut bool,
) -> Stop {
    let client = &session.client;
    let stop = |e: Error| match &e {
        Error::Client(c) if c.status() == Some(401) => Stop::Refused(session.generation),
        _ if is_undecryptable(&e) => Stop::Undecryptable(e),
        _ => Stop::Failed(e.to_string()),
    };
    let mut revision = match refresh(session, scope, tx).await {
        Ok(revision) => revision,
        Err(e) => return stop(e),
    };
    let mut stream = match client
        .watch(&scope.project, &scope.env, scope.prefix.as_deref(), Some(revision))
        .await
    {
        Ok(stream) => stream,
        Err(e) => return stop(e.into()),
    };
    backoff.reset();
    if std::mem::take(outage) {
        tracing::info!(revision, "connected to the server again; caught up");
    } else {
        tracing::info!(revision, "watching for changes");
    }
    loop {
        let mut latest = match stream.next().await {
            Some(Ok(event)) => event.revision,
            Some(Err(e)) => return Stop::Failed(e.to_string()),
            None => return Stop::Failed("the server closed the change stream".to_owned()),
        };
        if latest <= revision {
            continue;
        }
        // Collect a burst into one fetch.
        let deadline = tokio::time::sleep(DEBOUNCE);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                next = stream.next() => match next {
                    Some(Ok(event)) => latest = latest.max(event.revision),
                    Some(Err(e)) => return Stop::Failed(e.to_string()),
                    None => return Stop::Failed("the server closed the change stream".to_owned()),
                },
            }
        }
        tracing::debug!(revision = latest, "change reported");
        match refresh(session, scope, tx).await {
            Ok(fetched) => revision = fetched.max(revision),
            Err(e) => return stop(e),
        }
    }
}

/// Fetches everything and publishes it if any value differs; returns the fetched revision.
async fn refresh(
    session: &super::auth::Session,
    scope: &Scope,
    tx: &watch::Sender<Option<Arc<Secrets>>>,
) -> Result<i64, Error> {
    let snapshot = fetch(
        &session.client,
        &scope.project,
        &scope.env,
        scope.prefix.as_deref(),
        scope.identities.as_deref(),
    )
    .await?;
    let revision = snapshot.revision;
    let secrets = Secrets {
        revision,
        entries: snapshot.entries.into_iter().map(|e| (e.path.clone(), e)).collect(),
    };
    let count = secrets.entries.len();
    tx.send_if_modified(|current| {
        if current.as_ref().is_some_and(|c| c.same_values(&secrets)) {
            return false;
        }
        tracing::info!(revision, secrets = count, "secrets updated");
        *current = Some(Arc::new(secrets));
        true
    });
    Ok(revision)
}
