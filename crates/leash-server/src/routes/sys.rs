//! `/api/v1/sys/*` and token self-lookup: health, init, seal and unseal, keyring.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use leash_core::api::{
    GenerateRootRequest, GenerateRootStatus, Health, InitRequest, KeyringStatus, SealStatus, UnsealRequest,
};

use crate::auth::Caller;
use crate::authz::{Capability, Resource, authorize};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> Response {
    let status = state.barrier.status();
    let code = match (status.initialized, status.sealed) {
        (false, _) => StatusCode::NOT_IMPLEMENTED,
        (true, true) => StatusCode::SERVICE_UNAVAILABLE,
        (true, false) => StatusCode::OK,
    };
    let body = Health {
        initialized: status.initialized,
        sealed: status.sealed,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    (code, Json(body)).into_response()
}

pub async fn seal_status(State(state): State<AppState>) -> Json<SealStatus> {
    Json(state.barrier.status())
}

pub async fn init(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<InitRequest>,
) -> Result<Json<leash_core::api::InitResponse>, ApiError> {
    Ok(Json(state.barrier.initialize(req.shares, req.threshold).await?))
}

pub async fn unseal(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<UnsealRequest>,
) -> Result<Json<SealStatus>, ApiError> {
    if req.reset {
        return Ok(Json(state.barrier.reset_progress()));
    }
    let share = req
        .share
        .ok_or_else(|| ApiError::bad_request("give `share` (one unseal share) or `reset: true`"))?;
    Ok(Json(state.barrier.submit_share(&share).await?))
}

pub async fn seal(State(state): State<AppState>, caller: Caller) -> Result<Json<SealStatus>, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("seal"))?;
    state.barrier.seal();
    // open streams end now: a sealed server answers nothing but its seal state
    state.tokens.epoch().bump();
    Ok(Json(state.barrier.status()))
}

pub async fn keyring(State(state): State<AppState>, caller: Caller) -> Result<Json<KeyringStatus>, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("keyring"))?;
    Ok(Json(state.barrier.keyring_status()?))
}

pub async fn rotate_key(State(state): State<AppState>, caller: Caller) -> Result<Json<KeyringStatus>, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("keyring"))?;
    Ok(Json(state.barrier.rotate_key().await?))
}

/// An online snapshot of the store and the audit file, as stored (see `crate::snapshot`).
pub async fn snapshot(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("snapshot"))?;
    let taken = crate::snapshot::take(&state, &state.audit.file, &state.scratch_dir).await?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(taken.file)));
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        (header::CONTENT_LENGTH, taken.bytes.to_string()),
        (
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"leash.snapshot\"".to_owned(),
        ),
        (header::HeaderName::from_static("x-leash-snapshot-sha256"), taken.sha256),
    ];
    Ok((headers, body).into_response())
}

/// Rebuilds a root token from a threshold of unseal shares (after the root token was revoked).
pub async fn generate_root(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<GenerateRootRequest>,
) -> Result<Json<GenerateRootStatus>, ApiError> {
    if req.share.is_none() && !req.reset {
        return Err(ApiError::bad_request(
            "give `share` (one unseal share) or `reset: true`",
        ));
    }
    Ok(Json(
        state.barrier.generate_root(req.share.as_deref(), req.reset).await?,
    ))
}
