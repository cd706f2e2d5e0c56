//! `/api/v1/audit/*`: query, checkpoint, verify, hash (`admin` on `sys/audit`).
//! Handlers authorize and call [`crate::audit::query`].

use axum::Json;
use axum::extract::State;
use leash_core::api::{AuditCheckpoint, AuditHash, AuditHashRequest, AuditList, AuditVerifyResult};
use leash_core::audit::hmac_hex;
use zeroize::Zeroizing;

use crate::audit::query::{self, ListQuery};
use crate::auth::Caller;
use crate::authz::{Capability, Resource, authorize};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

fn admin(caller: &Caller) -> Result<(), ApiError> {
    authorize(caller, Capability::Admin, Resource::System("audit"))
}

/// Audit records, newest first, filtered; `next_before` pages on.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(ListQuery),
    responses((status = 200, description = "The records", body = AuditList))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<AuditList>, ApiError> {
    admin(&caller)?;
    Ok(Json(query::list(&state, &state.audit, q).await?))
}

/// Signs the chain head now and returns it with the public key.
#[utoipa::path(
    post,
    path = "/api/v1/audit/checkpoint",
    tag = "audit",
    responses((status = 200, description = "The signed checkpoint", body = AuditCheckpoint))
)]
pub async fn checkpoint(State(state): State<AppState>, caller: Caller) -> Result<Json<AuditCheckpoint>, ApiError> {
    admin(&caller)?;
    Ok(Json(query::checkpoint(&state, &state.audit).await?))
}

/// Verifies the database sink and the file, against a fresh checkpoint.
#[utoipa::path(
    post,
    path = "/api/v1/audit/verify",
    tag = "audit",
    responses((status = 200, description = "What each sink's check found", body = AuditVerifyResult))
)]
pub async fn verify(State(state): State<AppState>, caller: Caller) -> Result<Json<AuditVerifyResult>, ApiError> {
    admin(&caller)?;
    Ok(Json(query::verify(&state, &state.audit).await?))
}

/// HMAC of a value under the audit key, to match `token_hmac` fields.
#[utoipa::path(
    post,
    path = "/api/v1/audit/hash",
    tag = "audit",
    request_body = AuditHashRequest,
    responses((status = 200, description = "The HMAC", body = AuditHash))
)]
pub async fn hash(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AuditHashRequest>,
) -> Result<Json<AuditHash>, ApiError> {
    admin(&caller)?;
    let keys = state.barrier.audit_keys().ok_or_else(ApiError::sealed)?;
    let value = Zeroizing::new(req.value);
    Ok(Json(AuditHash {
        hmac: hmac_hex(&*keys.hmac, value.as_bytes()),
    }))
}
