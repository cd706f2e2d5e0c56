//! The audit layer around every route, and [`AuditNote`], through which
//! extractors and handlers add what only they know (who the caller is, which
//! version was read).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leash_core::audit::{AuditRecord, RecordKind, hmac_hex};
use leash_core::token;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::time::{now_millis, rfc3339};

/// What handlers add to the request's record.
#[derive(Debug, Default, Clone)]
pub struct NoteData {
    pub identity: Option<String>,
    pub auth_method: Option<String>,
    pub accessor: Option<String>,
    pub version: Option<i64>,
    /// Why a request was refused, when its answer does not say (a failed login).
    pub reason: Option<String>,
}

/// Shared between the layer and the request's extractors and handler.
#[derive(Debug, Default, Clone)]
pub struct AuditNote(Arc<Mutex<NoteData>>);

impl AuditNote {
    pub fn update(&self, f: impl FnOnce(&mut NoteData)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Records why the request was refused, for its audit record only.
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
        crate::routes::route_table()
            .into_iter()
            .map(|r| ((r.method, r.path), r.operation))
            .collect()
    })
}

fn request_id() -> String {
    token::generate_accessor()
}

/// Writes one record per request before the response is sent; 503 when it cannot.
pub async fn audit_layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let method = parts.method.clone();
    let route = parts.extensions.get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let params: Vec<(String, String)> = RawPathParams::from_request_parts(&mut parts, &state)
        .await
        .map(|p| p.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        .unwrap_or_default();
    let remote = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let token_hmac = crate::auth::bearer_token(&parts)
        .zip(state.barrier.audit_keys())
        .map(|(t, keys)| hmac_hex(&*keys.hmac, t.as_bytes()));
    let note = AuditNote::default();
    parts.extensions.insert(note.clone());
    let id = request_id();

    let response = next.run(Request::from_parts(parts, body)).await;

    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let operation = route
        .as_ref()
        .and_then(|r| operations().get(&(method.clone(), r.clone())).copied())
        .unwrap_or("unknown_route");
    let noted = note.take();
    let record = AuditRecord {
        kind: Some(RecordKind::Request),
        time: rfc3339(now_millis()),
        request_id: Some(id.clone()),
        identity: noted.identity,
        auth_method: noted.auth_method,
        accessor: noted.accessor,
        token_hmac,
        remote,
        method: Some(method.to_string()),
        route,
        operation: Some(operation.to_owned()),
        project: param("project"),
        env: param("env"),
        path: param("path").or_else(|| param("name")),
        version: noted.version,
        status: Some(response.status().as_u16()),
        error: response.extensions().get::<ErrorCode>().map(|c| c.0.to_owned()),
        ..Default::default()
    };
    let mut response = match state.audit.append(record).await {
        Ok(()) => response,
        Err(e) => {
            tracing::error!(error = %e, "request refused: its audit record could not be written");
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "the audit log cannot be written, so the server answers nothing (fail closed); the operator must fix the audit sink",
            )
            .into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
