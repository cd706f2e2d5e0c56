//! `/api/v1/sys/*` and token self-lookup: health, init, seal and unseal, keyring.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use leash_core::api::{
    ErrorBody, GenerateRootRequest, GenerateRootStatus, Health, InitRequest, InitResponse, KeyringStatus, NodeList,
    SealStatus, UnsealRequest,
};

use crate::auth::Caller;
use crate::authz::{Capability, Resource, authorize};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// The server's state: 200 unsealed, 503 sealed, 501 not initialised (no token).
#[utoipa::path(
    get,
    path = "/api/v1/sys/health",
    tag = "sys",
    responses((status = 200, description = "Initialised and unsealed", body = Health), (status = 503, description = "Initialised but sealed", body = Health), (status = 501, description = "Not initialised", body = Health))
)]
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

/// Seal state and unseal progress (no token, answered while sealed).
#[utoipa::path(
    get,
    path = "/api/v1/sys/seal-status",
    tag = "sys",
    responses((status = 200, description = "The seal state", body = SealStatus))
)]
pub async fn seal_status(State(state): State<AppState>) -> Json<SealStatus> {
    Json(state.barrier.status())
}

/// Initialises the server: makes the unseal shares and the root token, shown once.
#[utoipa::path(
    post,
    path = "/api/v1/sys/init",
    tag = "sys",
    request_body = InitRequest,
    responses((status = 200, description = "The unseal shares and root token (shown once)", body = InitResponse), (status = 409, description = "Already initialised", body = ErrorBody))
)]
pub async fn init(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<InitRequest>,
) -> Result<Json<InitResponse>, ApiError> {
    Ok(Json(state.barrier.initialize(req.shares, req.threshold).await?))
}

/// Gives one unseal share (or resets the progress); unseals at the threshold.
#[utoipa::path(
    post,
    path = "/api/v1/sys/unseal",
    tag = "sys",
    request_body = UnsealRequest,
    responses((status = 200, description = "The seal state after this share", body = SealStatus), (status = 409, description = "Not initialised yet", body = ErrorBody))
)]
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

/// Seals the server: the keyring is wiped and every open stream ends.
#[utoipa::path(
    post,
    path = "/api/v1/sys/seal",
    tag = "sys",
    responses((status = 200, description = "The seal state (sealed)", body = SealStatus))
)]
pub async fn seal(State(state): State<AppState>, caller: Caller) -> Result<Json<SealStatus>, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("seal"))?;
    state.barrier.seal();
    // open streams end now: a sealed server answers nothing but its seal state
    state.tokens.epoch().bump();
    Ok(Json(state.barrier.status()))
}

/// The keyring's key ids and creation times (never key material).
#[utoipa::path(
    get,
    path = "/api/v1/sys/keyring",
    tag = "sys",
    responses((status = 200, description = "The keyring", body = KeyringStatus))
)]
pub async fn keyring(State(state): State<AppState>, caller: Caller) -> Result<Json<KeyringStatus>, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("keyring"))?;
    Ok(Json(state.barrier.keyring_status()?))
}

/// The nodes of the cluster, their addresses, seal states and last heartbeats.
#[utoipa::path(
    get,
    path = "/api/v1/sys/nodes",
    tag = "sys",
    responses((status = 200, description = "The nodes serving the store", body = NodeList))
)]
pub async fn nodes(State(state): State<AppState>, caller: Caller) -> Result<Json<NodeList>, ApiError> {
    authorize(&caller, Capability::Read, Resource::System("nodes"))?;
    Ok(Json(crate::cluster::node_list(&state).await?))
}

/// Adds a new data key to the keyring; new writes use it.
#[utoipa::path(
    post,
    path = "/api/v1/sys/rotate-key",
    tag = "sys",
    responses((status = 200, description = "The keyring after the rotation", body = KeyringStatus))
)]
pub async fn rotate_key(State(state): State<AppState>, caller: Caller) -> Result<Json<KeyringStatus>, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("keyring"))?;
    Ok(Json(state.barrier.rotate_key().await?))
}

/// An online snapshot of the store and the audit file, as stored: still encrypted, restorable only with the unseal shares.
#[utoipa::path(
    get,
    path = "/api/v1/sys/snapshot",
    tag = "sys",
    responses(
        (status = 200, description = "The snapshot file (format: docs/operations.md); `X-Leash-Snapshot-Sha256` is its checksum", content_type = "application/octet-stream", body = Vec<u8>),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/sys/generate-root",
    tag = "sys",
    request_body = GenerateRootRequest,
    responses((status = 200, description = "Progress; `root_token` once the threshold is met", body = GenerateRootStatus))
)]
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
