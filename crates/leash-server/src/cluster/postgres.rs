//! [`Notifier`] for the nodes of a cluster, over the database's LISTEN/NOTIFY
//! channel ([`leash_store::NotifyChannel`]).
//!
//! A notice reaches this node's own listeners at once (a local broadcast)
//! and the other nodes through the channel, as a small JSON message: ids,
//! revisions, paths and token hashes, never a value or a token. A committed
//! change whose paths do not fit in one message is sent without them, and
//! the receiving node reads them from storage. When the channel's connection
//! drops, this node hears [`Notice::Resync`] (once on each loss, and every
//! second while it stays down): watchers then catch up from storage, so a
//! lost message delays a watcher but never hides a change from it.

use std::sync::Arc;

use leash_store::{Heard, MAX_NOTIFY_PAYLOAD, NotifyChannel, Storage};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::{AccessChange, ChangeEvent, Envelope, NodeId, Notice, Notifier};

/// A notice as it travels between nodes.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    /// The node that sent it.
    origin: String,
    #[serde(flatten)]
    notice: WireNotice,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WireNotice {
    Committed {
        env_id: i64,
        revision: i64,
        /// `None` when they did not fit: read them from storage.
        paths: Option<Vec<String>>,
    },
    Token {
        hash: String,
    },
    AllTokens,
    Directory,
    Stored,
}

impl WireNotice {
    /// `None` for what never crosses nodes.
    fn of(notice: &Notice) -> Option<Self> {
        Some(match notice {
            Notice::Committed(c) => WireNotice::Committed {
                env_id: c.env_id,
                revision: c.revision,
                paths: Some(c.paths.to_vec()),
            },
            Notice::Access(AccessChange::Token(hash)) => WireNotice::Token { hash: hash.clone() },
            Notice::Access(AccessChange::AllTokens) => WireNotice::AllTokens,
            Notice::Access(AccessChange::Directory) => WireNotice::Directory,
            Notice::Stored => WireNotice::Stored,
            Notice::Resync => return None,
        })
    }
}

/// The message for `envelope`, within the channel's size limit.
fn encode(envelope: &Envelope) -> Option<String> {
    let mut wire = Wire {
        origin: envelope.origin.as_str().to_owned(),
        notice: WireNotice::of(&envelope.notice)?,
    };
    let text = serde_json::to_string(&wire).ok()?;
    if text.len() <= MAX_NOTIFY_PAYLOAD {
        return Some(text);
    }
    if let WireNotice::Committed { paths, .. } = &mut wire.notice {
        *paths = None;
    }
    serde_json::to_string(&wire).ok()
}

/// The nodes' channel, seen from this node.
pub struct PgNotifier {
    node: NodeId,
    local: broadcast::Sender<Envelope>,
    channel: NotifyChannel,
}

impl PgNotifier {
    /// Connects the channel; [`PgNotifier::listen`] starts hearing the other nodes.
    pub async fn connect(url: &str, node: NodeId) -> Result<Arc<Self>, leash_store::StoreError> {
        Ok(Arc::new(Self {
            node,
            local: broadcast::channel(4096).0,
            channel: NotifyChannel::connect(url).await?,
        }))
    }

    /// Hears the other nodes until the process ends, reading from `store`
    /// the paths of a change whose message could not carry them.
    pub fn listen(self: &Arc<Self>, store: Arc<dyn Storage>) {
        let mut heard = self.channel.listen();
        let this = self.clone();
        tokio::spawn(async move {
            while let Some(item) = heard.recv().await {
                let envelope = match item {
                    Heard::Gap => Envelope {
                        origin: NodeId::named("(channel)"),
                        notice: Notice::Resync,
                    },
                    Heard::Message(text) => match this.decode(&text, &*store).await {
                        Some(envelope) => envelope,
                        None => continue,
                    },
                };
                let _ = this.local.send(envelope);
            }
        });
    }

    /// Another node's notice (`None`: this node's own, or unreadable).
    async fn decode(&self, text: &str, store: &dyn Storage) -> Option<Envelope> {
        let wire: Wire = serde_json::from_str(text)
            .inspect_err(|e| tracing::warn!(error = %e, "an unreadable cluster notice was ignored"))
            .ok()?;
        if wire.origin == self.node.as_str() {
            return None;
        }
        let notice = match wire.notice {
            WireNotice::Committed {
                env_id,
                revision,
                paths,
            } => {
                let paths = match paths {
                    Some(paths) => paths,
                    None => match store.changes_since(env_id, revision - 1, 1).await {
                        Ok(changes) => changes
                            .into_iter()
                            .find(|c| c.revision == revision)
                            .map(|c| c.entries.into_iter().map(|e| e.path).collect())
                            .unwrap_or_default(),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read a change another node announced; watchers resync");
                            return Some(Envelope {
                                origin: NodeId::named(&wire.origin),
                                notice: Notice::Resync,
                            });
                        }
                    },
                };
                Notice::Committed(ChangeEvent {
                    env_id,
                    revision,
                    paths: Arc::new(paths),
                })
            }
            WireNotice::Token { hash } => Notice::Access(AccessChange::Token(hash)),
            WireNotice::AllTokens => Notice::Access(AccessChange::AllTokens),
            WireNotice::Directory => Notice::Access(AccessChange::Directory),
            WireNotice::Stored => Notice::Stored,
        };
        Some(Envelope {
            origin: NodeId::named(&wire.origin),
            notice,
        })
    }
}

impl Notifier for PgNotifier {
    fn publish(&self, envelope: Envelope) {
        let message = encode(&envelope);
        let _ = self.local.send(envelope);
        if let Some(message) = message {
            let channel = self.channel.clone();
            tokio::spawn(async move {
                if let Err(e) = channel.send(&message).await {
                    // the others catch up: their requests check the access generation, their watchers resync
                    tracing::warn!(error = %e, "a cluster notice could not be sent");
                }
            });
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.local.subscribe()
    }

    fn shared(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(paths: Vec<String>) -> Envelope {
        Envelope {
            origin: NodeId::named("a"),
            notice: Notice::Committed(ChangeEvent {
                env_id: 7,
                revision: 3,
                paths: Arc::new(paths),
            }),
        }
    }

    #[test]
    fn a_change_too_big_for_one_message_goes_without_its_paths() {
        let small = encode(&committed(vec!["K".into()])).unwrap();
        assert!(small.contains("\"paths\":[\"K\"]"), "{small}");
        let many: Vec<String> = (0..2_000).map(|i| format!("folder/KEY_{i}")).collect();
        let big = encode(&committed(many)).unwrap();
        assert!(
            big.len() <= MAX_NOTIFY_PAYLOAD && big.contains("\"paths\":null"),
            "{}",
            big.len()
        );
        let resync = Envelope {
            origin: NodeId::named("a"),
            notice: Notice::Resync,
        };
        assert_eq!(encode(&resync), None, "a resync is never sent");
    }
}
