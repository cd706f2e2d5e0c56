//! Administration of identities, groups, policies and JWT issuers (`admin` on
//! `sys/...`). Handlers authorize the area and call [`crate::access`], which
//! applies the grant rule, stores the change and refreshes the directory.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leash_core::api::{
    ClientCredentials, GroupInfo, GroupList, GroupWrite, IdentityCreate, IdentityCreated, IdentityInfo, IdentityList,
    IdentityUpdate, JwtIssuer, JwtIssuerList, PolicyCheck, PolicyCheckResult, PolicyInfo, PolicyList, PolicyWrite,
};
use leash_core::policy::{Capability, PolicyName};

use crate::access;
use crate::auth::Caller;
use crate::authz::{Resource, authorize};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::identities::{GroupName, IdentityName};
use crate::state::AppState;

fn admin(caller: &Caller, area: &str) -> Result<(), ApiError> {
    authorize(caller, Capability::Admin, Resource::System(area))
}

pub async fn list_identities(State(state): State<AppState>, caller: Caller) -> Result<Json<IdentityList>, ApiError> {
    admin(&caller, "identities")?;
    Ok(Json(access::list_identities(&state).await?))
}

pub async fn create_identity(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<IdentityCreate>,
) -> Result<(StatusCode, Json<IdentityCreated>), ApiError> {
    admin(&caller, "identities")?;
    let created = access::create_identity(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn show_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<IdentityInfo>, ApiError> {
    admin(&caller, "identities")?;
    let name = IdentityName::parse(&name)?;
    Ok(Json(access::show_identity(&state, &name).await?))
}

pub async fn update_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<IdentityUpdate>,
) -> Result<Json<IdentityInfo>, ApiError> {
    admin(&caller, "identities")?;
    let name = IdentityName::parse(&name)?;
    Ok(Json(access::update_identity(&state, &caller, &name, req).await?))
}

pub async fn delete_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "identities")?;
    let name = IdentityName::parse(&name)?;
    access::delete_identity(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate_identity_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ClientCredentials>, ApiError> {
    admin(&caller, "identities")?;
    let name = IdentityName::parse(&name)?;
    Ok(Json(access::rotate_identity_secret(&state, &caller, &name).await?))
}

pub async fn revoke_identity_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "identities")?;
    let name = IdentityName::parse(&name)?;
    access::revoke_identity_tokens(&state, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_groups(State(state): State<AppState>, caller: Caller) -> Result<Json<GroupList>, ApiError> {
    admin(&caller, "groups")?;
    Ok(Json(access::list_groups(&state).await?))
}

pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<GroupWrite>,
) -> Result<(StatusCode, Json<GroupInfo>), ApiError> {
    admin(&caller, "groups")?;
    let group = access::create_group(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

pub async fn show_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<GroupInfo>, ApiError> {
    admin(&caller, "groups")?;
    let name = GroupName::parse(&name)?;
    Ok(Json(access::show_group(&state, &name).await?))
}

pub async fn replace_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<GroupWrite>,
) -> Result<Json<GroupInfo>, ApiError> {
    admin(&caller, "groups")?;
    let name = GroupName::parse(&name)?;
    Ok(Json(access::replace_group(&state, &caller, &name, req).await?))
}

pub async fn delete_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "groups")?;
    let name = GroupName::parse(&name)?;
    access::delete_group(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_policies(State(state): State<AppState>, caller: Caller) -> Result<Json<PolicyList>, ApiError> {
    admin(&caller, "policies")?;
    Ok(Json(access::list_policies(&state).await?))
}

pub async fn write_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<PolicyWrite>,
) -> Result<Json<PolicyInfo>, ApiError> {
    admin(&caller, "policies")?;
    let name = PolicyName::parse(&name)?;
    Ok(Json(access::write_policy(&state, &caller, &name, req).await?))
}

pub async fn read_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PolicyInfo>, ApiError> {
    admin(&caller, "policies")?;
    let name = PolicyName::parse(&name)?;
    Ok(Json(access::read_policy(&state, &name).await?))
}

pub async fn delete_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "policies")?;
    let name = PolicyName::parse(&name)?;
    access::delete_policy(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Explains whether an identity may do something, for operators debugging access.
pub async fn check_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PolicyCheck>,
) -> Result<Json<PolicyCheckResult>, ApiError> {
    admin(&caller, "policies")?;
    Ok(Json(access::check_policy(&state, req).await?))
}

pub async fn list_jwt_issuers(State(state): State<AppState>, caller: Caller) -> Result<Json<JwtIssuerList>, ApiError> {
    admin(&caller, "auth")?;
    Ok(Json(access::list_jwt_issuers(&state).await?))
}

pub async fn write_jwt_issuer(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<JwtIssuer>,
) -> Result<Json<JwtIssuer>, ApiError> {
    admin(&caller, "auth")?;
    Ok(Json(access::write_jwt_issuer(&state, &caller, &name, req).await?))
}

pub async fn delete_jwt_issuer(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "auth")?;
    access::delete_jwt_issuer(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
