//! `GET .../watch?after=REV&prefix=P`: change events as Server-Sent Events.
//!
//! The stream first replays changes after `after` from storage (or from the
//! `Last-Event-ID` header; from now when neither is given), then follows the
//! live feed. A gap or a lagging receiver is filled from storage, so a
//! watcher sees every change once, in order. Only paths the caller may read
//! (and under the prefix) are reported; a change with none is skipped.
//!
//! A stream never outlives its caller's rights: whenever the access epoch
//! moves (a token revoked, an identity, group or policy changed, the server
//! sealed) and when the token expires, the caller is looked up again; if its
//! token, identity or read access is gone, the stream sends a final
//! `event: closed` with `{"reason": ...}` and ends. Streams also end when the
//! server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use leash_core::api::WatchEvent;
use leash_core::names::{PathPrefix, SecretPath};
use leash_store::ChangeRow;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{Caller, Ended};
use crate::authz::{Capability, Resource, Visibility, authorize_under};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::service;
use crate::state::AppState;

/// Changes read from storage per page while catching up.
const PAGE: i64 = 500;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    after: Option<i64>,
    prefix: Option<String>,
}

/// The event for `paths` that the caller may see, if any.
fn visible(visibility: &Visibility<'_>, prefix: &PathPrefix, revision: i64, paths: &[String]) -> Option<Event> {
    let paths: Vec<String> = paths
        .iter()
        .filter(|p| SecretPath::parse(p).is_ok_and(|sp| sp.is_in(prefix)))
        .filter(|p| visibility.shows(p))
        .cloned()
        .collect();
    if paths.is_empty() {
        return None;
    }
    let data = serde_json::to_string(&WatchEvent { revision, paths }).ok()?;
    Some(Event::default().event("change").id(revision.to_string()).data(data))
}

/// The last event of a stream whose caller lost its rights.
fn closed(reason: Ended) -> Event {
    Event::default()
        .event("closed")
        .data(serde_json::json!({ "reason": reason.as_str() }).to_string())
}

/// The caller as it stands now, if it may still watch `prefix` of the environment.
async fn still_allowed(
    state: &AppState,
    caller: &Caller,
    project: &str,
    env: &str,
    prefix: &PathPrefix,
) -> Result<Caller, Ended> {
    let fresh = caller.refreshed(state).await?;
    let resource = Resource::Secret {
        project,
        env,
        path: prefix.as_str(),
    };
    authorize_under(&fresh, Capability::Read, resource).map_err(|_| Ended::AccessRemoved)?;
    Ok(fresh)
}

/// Sleeps until the token expires (forever for a token without expiry).
async fn until_expiry(expires_at: Option<i64>) {
    match expires_at {
        Some(t) => {
            let left = (t - crate::time::now_millis()).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(left)).await;
        }
        None => std::future::pending().await,
    }
}

fn paths_of(change: &ChangeRow) -> Vec<String> {
    change.entries.iter().map(|e| e.path.clone()).collect()
}

/// Change events of the environment as Server-Sent Events (`event: change`, `id: <revision>`).
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/envs/{env}/watch",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name"), WatchQuery, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this revision (when `after` is not given)")),
    responses((status = 200, description = "A stream of `change` events (data: a WatchEvent), ended by `closed` when the caller loses access", body = WatchEvent, content_type = "text/event-stream"))
)]
pub async fn watch(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<WatchQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let prefix = PathPrefix::parse(q.prefix.as_deref().unwrap_or(""))?;
    authorize_under(
        &caller,
        Capability::Read,
        Resource::Secret {
            project: &project,
            env: &env,
            path: prefix.as_str(),
        },
    )?;
    let env_ref = service::environment(&state, &project, &env).await?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = q.after.or(last_event_id).unwrap_or(env_ref.row.revision);
    if after < 0 {
        return Err(ApiError::bad_request("after must be 0 or more"));
    }
    // subscribe before reading the backlog, so nothing falls between the two
    let mut live = state.changes.subscribe();
    let mut epoch = state.tokens.epoch().subscribe();
    let mut shutdown = state.shutdown.clone();
    // Counted as open until the stream is dropped (the client went away, or it ended).
    let open = state.metrics.watch_stream_opened();
    let env_id = env_ref.row.id;
    let (project, env) = (env_ref.project.as_str().to_owned(), env_ref.env.as_str().to_owned());
    let stream = async_stream::stream! {
        let _open = open;
        let mut caller = caller;
        let mut last = after;
        let mut catch_up = true;
        loop {
            if catch_up {
                match service::changes_since(&state, env_id, last, PAGE).await {
                    Ok(changes) => {
                        let full = changes.len() as i64 == PAGE;
                        let visibility = Visibility::new(&caller, &project, &env, &[Capability::Read]);
                        for change in &changes {
                            last = change.revision;
                            if let Some(event) = visible(&visibility, &prefix, change.revision, &paths_of(change)) {
                                yield Ok(event);
                            }
                        }
                        catch_up = full;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "watch: cannot read the backlog; closing the stream");
                        break;
                    }
                }
            }
            if *shutdown.borrow() {
                break;
            }
            let recheck = tokio::select! {
                changed = shutdown.changed() => if changed.is_err() { break } else { continue },
                changed = epoch.changed() => if changed.is_err() { break } else { true },
                () = until_expiry(caller.token.expires_at) => true,
                message = live.recv() => match message {
                    Ok(change) if change.env_id != env_id || change.revision <= last => false,
                    Ok(change) if change.revision == last + 1 => {
                        last = change.revision;
                        let visibility = Visibility::new(&caller, &project, &env, &[Capability::Read]);
                        if let Some(event) = visible(&visibility, &prefix, change.revision, &change.paths) {
                            yield Ok(event);
                        }
                        false
                    }
                    // a gap (concurrent commits published out of order) or a lagging receiver
                    Ok(_) | Err(RecvError::Lagged(_)) => { catch_up = true; false }
                    Err(RecvError::Closed) => break,
                },
            };
            if recheck {
                match still_allowed(&state, &caller, &project, &env, &prefix).await {
                    Ok(fresh) => caller = fresh,
                    Err(reason) => {
                        yield Ok(closed(reason));
                        break;
                    }
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
