//! The local listener: a unix socket through which an app reads its secrets
//! without holding a token.
//!
//! HTTP/1.1 (axum) over a unix socket whose file has the configured mode
//! (0600 by default), so only processes allowed to open it can read. The
//! socket is bound under a temporary name, given its mode, then renamed into
//! place: there is no moment when it exists with looser permissions.
//! Answers come from the agent's in-memory copy, so they keep working while
//! the server is unreachable. Routes:
//!
//! - `GET /v1/secrets`: JSON object, environment-variable name → value;
//! - `GET /v1/secrets/{path}`: the value of one secret, as text;
//! - `GET /v1/health`: `{"ready": bool, "revision": n}`.
//!
//! 503 until the first fetch, 404 for an unknown path. Requests are not
//! logged (paths are not secret, but there is nothing to learn from them).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::UnixListener;

use super::config::Listener;
use super::sync::Shared;
use crate::Error;

/// A bound socket; its file is removed when this is dropped.
pub struct Bound {
    listener: Option<UnixListener>,
    path: PathBuf,
}

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the socket at `config.socket` with `config.mode`, replacing a stale socket file.
pub fn bind(config: &Listener) -> Result<Bound, Error> {
    let path = &config.socket;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("the socket path {} has no file name", path.display())))?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp).map_err(|e| Error::io("cannot listen on", &tmp, e))?;
    let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(config.mode))
        .map_err(|e| Error::io("cannot set the mode of", &tmp, e))
        .and_then(|()| match std::fs::symlink_metadata(path) {
            Ok(meta) if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => Err(Error::Invalid(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ))),
            _ => std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot move the socket to", path, e)),
        });
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(Bound {
        listener: Some(listener),
        path: path.clone(),
    })
}

/// Serves reads on `bound` until the agent ends.
pub fn serve(bound: &mut Bound, secrets: Shared) {
    let listener = bound.listener.take().expect("serve is called once per bound socket");
    let app = Router::new()
        .route("/v1/secrets", get(all))
        .route("/v1/secrets/{*path}", get(one))
        .route("/v1/health", get(health))
        .with_state(secrets);
    let path = bound.path.clone();
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(socket = %path.display(), error = %e, "the local listener stopped");
        }
    });
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    json(status, body.to_string().into_bytes())
}

fn not_ready() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        "the agent has not fetched the secrets yet",
    )
}

async fn all(State(secrets): State<Shared>) -> Response {
    let Some(current) = secrets.borrow().clone() else {
        return not_ready();
    };
    let map: BTreeMap<&str, &str> = current
        .entries
        .values()
        .map(|e| (e.env_var.as_str(), e.value.as_str()))
        .collect();
    match serde_json::to_vec(&map) {
        Ok(body) => json(StatusCode::OK, body),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "cannot encode the secrets",
        ),
    }
}

async fn one(State(secrets): State<Shared>, UrlPath(path): UrlPath<String>) -> Response {
    let Some(current) = secrets.borrow().clone() else {
        return not_ready();
    };
    match current.entries.get(&path) {
        Some(entry) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            entry.value.as_str().to_owned(),
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "no such secret"),
    }
}

async fn health(State(secrets): State<Shared>) -> Response {
    let revision = secrets.borrow().as_ref().map(|s| s.revision);
    let body = serde_json::json!({"ready": revision.is_some(), "revision": revision});
    json(StatusCode::OK, body.to_string().into_bytes())
}
