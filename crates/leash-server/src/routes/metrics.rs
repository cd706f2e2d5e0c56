//! `GET /metrics`: the server's metrics as OpenMetrics text.
//!
//! On the main listener it is an administration route: the caller needs
//! `read` on `sys/metrics` (root, or a policy that grants it), and a sealed
//! server answers 503 as it does for every other such route. On the separate
//! `metrics_listen` address, [`listener`] serves this one route without a
//! token, sealed or not (so the `leash_sealed` gauge can raise an alert);
//! that listener serves nothing else.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::auth::Caller;
use crate::authz::{Capability, Resource, authorize};
use crate::error::ApiError;
use crate::metrics::CONTENT_TYPE;
use crate::state::AppState;

/// The metrics text of this server.
fn exposition(state: &AppState) -> impl IntoResponse + use<> {
    let text = state.metrics.render(&state.barrier.status());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}

/// The server's metrics in the OpenMetrics text format (`read` on `sys/metrics`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "sys",
    responses((status = 200, description = "OpenMetrics text: counters, gauges and histograms named leash_*", content_type = "application/openmetrics-text", body = String))
)]
pub async fn metrics(State(state): State<AppState>, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    authorize(&caller, Capability::Read, Resource::System("metrics"))?;
    Ok(exposition(&state))
}

/// The router of the separate metrics listener: `GET /metrics`, no token; everything else 404.
pub fn listener(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { exposition(&state) }),
        )
        .fallback(|| async { ApiError::not_found("this listener serves only GET /metrics") })
        .with_state(state)
}
