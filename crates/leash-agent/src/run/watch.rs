//! The change feed for `--watch`: one long-lived subscription that survives
//! disconnects.
//!
//! It owns reconnecting with exponential backoff (0.25 s doubling to 30 s,
//! reset once a stream is open) from the last revision seen, so no change
//! is missed or reported twice. With several server addresses the reconnect
//! goes where [`Client::watch`] sends it: the node that last answered, or the
//! next one when that node is unreachable or sealed. It reports revisions only; paths and values
//! stay with the server.

use std::time::Duration;

use leash_client::Client;
use tokio::sync::mpsc;

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Subscribes to `project/env` (under `prefix`) after revision `after` and
/// sends the revision of every change to the returned channel. The task ends
/// when the receiver is dropped.
pub fn spawn(
    client: Client,
    project: String,
    env: String,
    prefix: Option<String>,
    after: i64,
) -> mpsc::UnboundedReceiver<i64> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut last = after;
        let mut backoff = FIRST_BACKOFF;
        let mut failing = false;
        loop {
            let reason = match client.watch(&project, &env, prefix.as_deref(), Some(last)).await {
                Ok(mut stream) => {
                    if failing {
                        eprintln!(
                            "note: watching {project}/{env} again on {} (after revision {last})",
                            stream.addr()
                        );
                    }
                    backoff = FIRST_BACKOFF;
                    loop {
                        match stream.next().await {
                            Some(Ok(event)) => {
                                if event.revision > last {
                                    last = event.revision;
                                    if tx.send(event.revision).is_err() {
                                        return;
                                    }
                                }
                            }
                            Some(Err(e)) => break e.to_string(),
                            None => break "the server closed the stream".to_owned(),
                        }
                    }
                }
                Err(e) => e.to_string(),
            };
            if tx.is_closed() {
                return;
            }
            eprintln!(
                "warning: the watch of {project}/{env} stopped ({reason}); reconnecting in {}",
                humantime::format_duration(backoff)
            );
            failing = true;
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = tx.closed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    rx
}
