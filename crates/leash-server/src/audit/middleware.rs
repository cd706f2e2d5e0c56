//! The audit layer around every route, and [`AuditNote`], through which
//! extractors and handlers add what only they know (who the caller is, which
//! version was read, why a request was refused).
//!
//! Order is the rule: a request that may change something (any method but
//! GET, HEAD and OPTIONS) first gets an `intent` record, durable before the
//! handler runs, so no change can commit without a record of it; if the
//! intent cannot be written the handler never runs (503). The `request`
//! record with the outcome is queued behind it before the response leaves
//! and made durable with the next batch, without holding the answer (the
//! intent already is the durable record; a crash in between leaves an intent
//! without an outcome). If the outcome fails, the client still gets the true
//! answer. A read's record is durable before its answer leaves, or the read
//! gets 503.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leash_core::audit::{AuditRecord, RecordKind, hmac_hex};
use leash_core::token;

use crate::error::{ApiError, ErrorCode, ErrorKind};
use crate::state::AppState;
use crate::time::{now_millis, rfc3339};

/// What handlers add to the request's record.
#[derive(Debug, Default, Clone)]
pub struct NoteData {
    pub identity: Option<String>,
    pub auth_method: Option<String>,
    pub accessor: Option<String>,
    pub version: Option<i64>,
    /// The path acted on, when the route's own parameters do not name it
    /// (a move or copy names its source in the body).
    pub path: Option<String>,
    /// The destination of a move or copy.
    pub target: Option<String>,
    /// The project and environment acted on, when the route's parameters do
    /// not name them (a Vault-compatible path names a mount and a path).
    pub project: Option<String>,
    pub env: Option<String>,
    /// The operation, when one route serves several (a Vault `GET` of
    /// `metadata/` is a read or a list): one of the native operation names.
    pub operation: Option<&'static str>,
    /// Why the request was refused or failed (the server's words, no values).
    pub reason: Option<String>,
    /// The HMAC of a token presented another way than the `Authorization`
    /// header (the web UI's session token), as `token_hmac` records it.
    pub token_hmac: Option<String>,
}

/// Shared between the layer and the request's extractors and handler.
#[derive(Debug, Default, Clone)]
pub struct AuditNote(Arc<Mutex<NoteData>>);

impl AuditNote {
    pub fn update(&self, f: impl FnOnce(&mut NoteData)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Records why the request was refused or failed (kept for the audit record).
    pub fn set_reason(&self, reason: &str) {
        self.update(|n| n.reason = Some(reason.to_owned()));
    }

    fn take(&self) -> NoteData {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuditNote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<AuditNote>().cloned().unwrap_or_default())
    }
}

/// Operation names by (method, route pattern), from the route table.
fn operations() -> &'static HashMap<(Method, String), &'static str> {
    static OPS: OnceLock<HashMap<(Method, String), &'static str>> = OnceLock::new();
    OPS.get_or_init(|| {
        crate::routes::all_routes()
            .into_iter()
            .map(|r| ((r.method, r.path), r.operation))
            .chain(
                crate::ui::route_table()
                    .into_iter()
                    .map(|r| ((r.method, r.path), r.operation)),
            )
            .collect()
    })
}

/// A request's id, made once by the router's outermost layer and kept in the
/// request's extensions: the audit records, the log span and the
/// `X-Request-Id` header carry the same one.
#[derive(Debug, Clone)]
pub struct RequestId(String);

impl RequestId {
    /// A new random id.
    pub fn new() -> Self {
        RequestId(token::generate_accessor())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a request of this method may change state (and so needs an intent record first).
pub fn may_change(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn unavailable(e: &super::AuditError) -> Response {
    tracing::error!(error = %e, "request refused: its audit record could not be written");
    ApiError::new(
            ErrorKind::Unavailable,
        "audit_unavailable",
        "the audit log cannot be written, so the server answers nothing (fail closed); the operator must fix the audit sink",
    )
    .into_response()
}

fn with_request_id(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Writes an intent record before a request that may change state, and one
/// record per request before the response is sent; 503 when it cannot.
pub async fn audit_layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let method = parts.method.clone();
    let route = parts.extensions.get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let params: Vec<(String, String)> = RawPathParams::from_request_parts(&mut parts, &state)
        .await
        .map(|p| p.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        .unwrap_or_default();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let operation = route
        .as_ref()
        .and_then(|r| operations().get(&(method.clone(), r.clone())).copied())
        .unwrap_or("unknown_route");
    let id = parts.extensions.get::<RequestId>().cloned().unwrap_or_default().0;
    let base = AuditRecord {
        kind: Some(RecordKind::Request),
        request_id: Some(id.clone()),
        token_hmac: crate::auth::bearer_token(&parts)
            .zip(state.barrier.audit_keys())
            .map(|(t, keys)| hmac_hex(&*keys.hmac, t.as_bytes())),
        remote: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string()),
        method: Some(method.to_string()),
        route: route.clone(),
        operation: Some(operation.to_owned()),
        project: param("project"),
        env: param("env"),
        path: param("path").or_else(|| param("name")),
        ..Default::default()
    };
    let note = AuditNote::default();
    parts.extensions.insert(note.clone());

    let intent = may_change(&method);
    if intent {
        let record = AuditRecord {
            kind: Some(RecordKind::Intent),
            time: rfc3339(now_millis()),
            ..base.clone()
        };
        if let Err(e) = state.audit.append(record).await {
            return with_request_id(unavailable(&e), &id);
        }
    }

    let response = next.run(Request::from_parts(parts, body)).await;

    let noted = note.take();
    let record = AuditRecord {
        time: rfc3339(now_millis()),
        identity: noted.identity,
        auth_method: noted.auth_method,
        accessor: noted.accessor,
        version: noted.version,
        path: noted.path.or(base.path.clone()),
        target: noted.target,
        project: noted.project.or(base.project.clone()),
        env: noted.env.or(base.env.clone()),
        operation: noted.operation.map(str::to_owned).or(base.operation.clone()),
        status: Some(response.status().as_u16()),
        error: response.extensions().get::<ErrorCode>().map(|c| c.0.to_owned()),
        reason: noted.reason,
        token_hmac: noted.token_hmac.or(base.token_hmac.clone()),
        ..base
    };
    let response = if intent {
        // The intent is durable, so the answer need not wait for the outcome's fsync; and if
        // the outcome cannot be written, the change (if any) still happened: tell the truth.
        if let Err(e) = state.audit.append_queued(record).await {
            tracing::error!(error = %e, request_id = %id, "the outcome record of a request could not be written; its intent record stands");
        }
        response
    } else {
        match state.audit.append(record).await {
            Ok(()) => response,
            Err(e) => unavailable(&e),
        }
    };
    with_request_id(response, &id)
}
