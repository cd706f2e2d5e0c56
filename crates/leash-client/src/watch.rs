//! `GET .../watch`: the change feed of one environment as a stream of
//! [`WatchEvent`]s, parsed from Server-Sent Events by `eventsource-stream`.
//!
//! It owns only the subscription: opening it fails over between nodes like
//! any read, and a stream that ends or breaks is not reopened here;
//! reconnecting (with `after` = the last revision seen, on the node
//! [`Client::watch`] picks then) is the caller's job. Events carry paths, never values.

use std::pin::Pin;

use crate::projects::env_path;
use crate::{Call, Client, Error, Received, error, error_from};
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use leash_core::api::WatchEvent;

type Events = Pin<Box<dyn Stream<Item = Result<eventsource_stream::Event, EventStreamError<reqwest::Error>>> + Send>>;

/// An open watch subscription.
pub struct WatchStream {
    events: Events,
    addr: String,
    route: String,
}

impl Client {
    /// Subscribes to changes of `project/env` (under `prefix`) after revision
    /// `after` (from now when `None`).
    pub async fn watch(
        &self,
        project: &str,
        env: &str,
        prefix: Option<&str>,
        after: Option<i64>,
    ) -> Result<WatchStream, Error> {
        let path = env_path(project, env)?.lit("watch");
        let mut query = Vec::new();
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        if let Some(prefix) = prefix {
            query.push(("prefix", prefix.to_owned()));
        }
        let call = Call::stream(&path, &query, None);
        match self.send(&call).await? {
            Received::Streaming { response, addr } => Ok(WatchStream {
                events: Box::pin(response.bytes_stream().eventsource()),
                addr,
                route: call.route,
            }),
            Received::Whole(answer) => Err(error_from(&answer.addr, &call.route, &answer)),
        }
    }
}

impl WatchStream {
    /// The node this stream is connected to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The next change; `None` when the server closed the stream.
    pub async fn next(&mut self) -> Option<Result<WatchEvent, Error>> {
        loop {
            match self.events.next().await? {
                Ok(event) if event.event == "change" => {
                    return Some(serde_json::from_str(&event.data).map_err(|e| Error::Decode {
                        addr: self.addr.clone(),
                        route: self.route.clone(),
                        reason: error::describe_json_error(&e),
                    }));
                }
                Ok(_) => continue,
                Err(EventStreamError::Transport(e)) => {
                    return Some(Err(Error::Transport {
                        addr: self.addr.clone(),
                        route: self.route.clone(),
                        reason: error::root_cause(&e),
                        source: e,
                    }));
                }
                Err(e) => {
                    return Some(Err(Error::Decode {
                        addr: self.addr.clone(),
                        route: self.route.clone(),
                        reason: format!("malformed event stream: {e}"),
                    }));
                }
            }
        }
    }
}
