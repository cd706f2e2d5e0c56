//! The channel the nodes of one database talk on: PostgreSQL `LISTEN` /
//! `NOTIFY` on one channel name, text payloads only. It carries what the
//! server puts in it (ids, revisions, paths, token hashes), never a value.
//!
//! Notifications are transient: one sent while a listener's connection is
//! down is lost for it. So the listener reports [`Heard::Gap`] whenever its
//! connection was lost (and again every second while it cannot reconnect),
//! and its user catches up from the store; nothing here retries a message.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;

use crate::Result;

/// The channel's name in PostgreSQL.
const CHANNEL: &str = "leash_cluster";
/// PostgreSQL refuses payloads of 8000 bytes or more.
pub const MAX_PAYLOAD: usize = 7900;

/// What the listener hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A payload some node (this one included) sent.
    Message(String),
    /// Messages may have been missed: the connection was lost (or is still down).
    Gap,
}

/// Sends on, and listens to, the nodes' channel of one database.
#[derive(Clone, Debug)]
pub struct NotifyChannel {
    url: String,
    pool: PgPool,
}

impl NotifyChannel {
    /// Connects a small pool for sending (listening opens its own connection).
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
        Ok(Self {
            url: url.to_owned(),
            pool,
        })
    }

    /// Sends `payload` to every listener (at most [`MAX_PAYLOAD`] bytes).
    pub async fn send(&self, payload: &str) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Listens until the receiver is dropped: every payload, and a
    /// [`Heard::Gap`] after each lost connection. The first item is
    /// `Gap` too once listening has started, so the user catches up on what
    /// was sent before.
    pub fn listen(&self) -> mpsc::Receiver<Heard> {
        let (tx, rx) = mpsc::channel(4096);
        let url = self.url.clone();
        tokio::spawn(async move {
            loop {
                match listen_once(&url, &tx).await {
                    Ok(()) => return, // the receiver is gone
                    Err(e) => {
                        tracing::warn!(error = %e, "the cluster notification connection is down; catching up from the store");
                        if tx.send(Heard::Gap).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        rx
    }
}

/// One listening connection: `Ok` when the receiver is gone, `Err` when the connection failed.
async fn listen_once(url: &str, tx: &mpsc::Sender<Heard>) -> std::result::Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    if tx.send(Heard::Gap).await.is_err() {
        return Ok(());
    }
    loop {
        let heard = match listener.try_recv().await? {
            Some(notification) => Heard::Message(notification.payload().to_owned()),
            // the connection was lost; the next `try_recv` reconnects
            None => Heard::Gap,
        };
        if tx.send(heard).await.is_err() {
            return Ok(());
        }
    }
}
