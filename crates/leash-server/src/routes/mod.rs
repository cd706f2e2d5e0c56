//! The HTTP router: every route of the native API and the layers around it.
//!
//! Routes under `/api/v1/projects` additionally pass [`require_unsealed`], so a
//! sealed server answers 503 before any handler runs. Every other route is
//! listed in `OPEN_ROUTES` or takes a [`crate::auth::Caller`].

mod projects;
mod secrets;
mod sys;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

/// Routes that need no token: health, seal status, init and unseal.
pub const OPEN_ROUTES: &[&str] = &[
    "/api/v1/sys/health",
    "/api/v1/sys/seal-status",
    "/api/v1/sys/init",
    "/api/v1/sys/unseal",
];

const ENV: &str = "/api/v1/projects/{project}/envs/{env}";

/// The whole application.
pub fn app(state: AppState) -> Router {
    let system = Router::new()
        .route("/api/v1/sys/health", get(sys::health))
        .route("/api/v1/sys/seal-status", get(sys::seal_status))
        .route("/api/v1/sys/init", post(sys::init))
        .route("/api/v1/sys/unseal", post(sys::unseal))
        .route("/api/v1/sys/seal", post(sys::seal))
        .route("/api/v1/sys/keyring", get(sys::keyring))
        .route("/api/v1/sys/rotate-key", post(sys::rotate_key))
        .route("/api/v1/auth/token/lookup-self", get(sys::lookup_self));
    let data = Router::new()
        .route("/api/v1/projects", get(projects::list).post(projects::create))
        .route("/api/v1/projects/{project}", axum::routing::delete(projects::delete))
        .route(
            "/api/v1/projects/{project}/envs",
            get(projects::list_envs).post(projects::create_env),
        )
        .route(
            "/api/v1/projects/{project}/envs/{env}",
            axum::routing::delete(projects::delete_env),
        )
        .route(&format!("{ENV}/history"), get(secrets::history))
        .route(&format!("{ENV}/rollback"), post(secrets::rollback))
        .route(&format!("{ENV}/changes"), post(secrets::changes))
        .route(&format!("{ENV}/secrets"), get(secrets::list))
        .route(
            &format!("{ENV}/secrets/{{*path}}"),
            get(secrets::read).put(secrets::put).delete(secrets::delete),
        )
        .route(&format!("{ENV}/metadata/{{*path}}"), get(secrets::metadata))
        .route(&format!("{ENV}/undelete/{{*path}}"), post(secrets::undelete))
        .route(&format!("{ENV}/destroy/{{*path}}"), post(secrets::destroy))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_unsealed));
    let body_limit = state.limits.max_request_bytes;
    system
        .merge(data)
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Answers 503 (sealed) or 501 (not initialised) before any data route runs.
async fn require_unsealed(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.barrier.keyring() {
        Ok(_) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

async fn no_route() -> ApiError {
    ApiError::not_found("no such route; see docs/api.md")
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method; see docs/api.md",
    )
}
