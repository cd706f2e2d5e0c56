//! Administration of identities, groups, policies and JWT issuers (`admin` on
//! `sys/...`). Handlers authorize the area and call [`crate::access`], which
//! applies the grant rule, stores the change and refreshes the directory.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leash_core::api::{
    ClientCredentials, ErrorBody, GroupInfo, GroupList, GroupWrite, IdentityCreate, IdentityCreated, IdentityInfo,
    IdentityList, IdentityUpdate, JwtIssuer, JwtIssuerList, PolicyCheck, PolicyCheckResult, PolicyInfo, PolicyList,
    PolicyWrite,
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

/// Every identity (never a password or secret).
#[utoipa::path(
    get,
    path = "/api/v1/identities",
    tag = "identities",
    responses((status = 200, description = "The identities", body = IdentityList))
)]
pub async fn list_identities(State(state): State<AppState>, caller: Caller) -> Result<Json<IdentityList>, ApiError> {
    admin(&caller, "identities")?;
    Ok(Json(access::list_identities(&state).await?))
}

/// Creates a user or service identity; a service's client secret is shown once.
#[utoipa::path(
    post,
    path = "/api/v1/identities",
    tag = "identities",
    request_body = IdentityCreate,
    responses((status = 201, description = "The identity, and its client credentials once", body = IdentityCreated), (status = 409, description = "An identity of that name exists", body = ErrorBody))
)]
pub async fn create_identity(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<IdentityCreate>,
) -> Result<(StatusCode, Json<IdentityCreated>), ApiError> {
    admin(&caller, "identities")?;
    let created = access::create_identity(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One identity.
#[utoipa::path(
    get,
    path = "/api/v1/identities/{name}",
    tag = "identities",
    params(("name" = String, Path, description = "The identity's name")),
    responses((status = 200, description = "The identity", body = IdentityInfo))
)]
pub async fn show_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<IdentityInfo>, ApiError> {
    admin(&caller, "identities")?;
    let name = IdentityName::parse(&name)?;
    Ok(Json(access::show_identity(&state, &name).await?))
}

/// Replaces the fields given of an identity.
#[utoipa::path(
    patch,
    path = "/api/v1/identities/{name}",
    tag = "identities",
    params(("name" = String, Path, description = "The identity's name")),
    request_body = IdentityUpdate,
    responses((status = 200, description = "The identity after the update", body = IdentityInfo))
)]
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

/// Deletes an identity and revokes its tokens.
#[utoipa::path(
    delete,
    path = "/api/v1/identities/{name}",
    tag = "identities",
    params(("name" = String, Path, description = "The identity's name")),
    responses((status = 204, description = "Deleted"))
)]
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

/// Issues a service identity a new client secret (shown once); the old one stops working.
#[utoipa::path(
    post,
    path = "/api/v1/identities/{name}/secret",
    tag = "identities",
    params(("name" = String, Path, description = "The identity's name")),
    responses((status = 200, description = "The new client credentials (shown once)", body = ClientCredentials))
)]
pub async fn rotate_identity_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ClientCredentials>, ApiError> {
    admin(&caller, "identities")?;
    let name = IdentityName::parse(&name)?;
    Ok(Json(access::rotate_identity_secret(&state, &caller, &name).await?))
}

/// Revokes every token of an identity.
#[utoipa::path(
    post,
    path = "/api/v1/identities/{name}/revoke-tokens",
    tag = "identities",
    params(("name" = String, Path, description = "The identity's name")),
    responses((status = 204, description = "Revoked"))
)]
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

/// Every group.
#[utoipa::path(
    get,
    path = "/api/v1/groups",
    tag = "groups",
    responses((status = 200, description = "The groups", body = GroupList))
)]
pub async fn list_groups(State(state): State<AppState>, caller: Caller) -> Result<Json<GroupList>, ApiError> {
    admin(&caller, "groups")?;
    Ok(Json(access::list_groups(&state).await?))
}

/// Creates a group of identities with policies.
#[utoipa::path(
    post,
    path = "/api/v1/groups",
    tag = "groups",
    request_body = GroupWrite,
    responses((status = 201, description = "The group", body = GroupInfo), (status = 409, description = "A group of that name exists", body = ErrorBody))
)]
pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<GroupWrite>,
) -> Result<(StatusCode, Json<GroupInfo>), ApiError> {
    admin(&caller, "groups")?;
    let group = access::create_group(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

/// One group.
#[utoipa::path(
    get,
    path = "/api/v1/groups/{name}",
    tag = "groups",
    params(("name" = String, Path, description = "The group's name")),
    responses((status = 200, description = "The group", body = GroupInfo))
)]
pub async fn show_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<GroupInfo>, ApiError> {
    admin(&caller, "groups")?;
    let name = GroupName::parse(&name)?;
    Ok(Json(access::show_group(&state, &name).await?))
}

/// Replaces a group's policies and members.
#[utoipa::path(
    put,
    path = "/api/v1/groups/{name}",
    tag = "groups",
    params(("name" = String, Path, description = "The group's name")),
    request_body = GroupWrite,
    responses((status = 200, description = "The group after the change", body = GroupInfo))
)]
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

/// Deletes a group.
#[utoipa::path(
    delete,
    path = "/api/v1/groups/{name}",
    tag = "groups",
    params(("name" = String, Path, description = "The group's name")),
    responses((status = 204, description = "Deleted"))
)]
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

/// The names of every policy.
#[utoipa::path(
    get,
    path = "/api/v1/policies",
    tag = "policies",
    responses((status = 200, description = "The policy names", body = PolicyList))
)]
pub async fn list_policies(State(state): State<AppState>, caller: Caller) -> Result<Json<PolicyList>, ApiError> {
    admin(&caller, "policies")?;
    Ok(Json(access::list_policies(&state).await?))
}

/// Creates or replaces a policy (a TOML document).
#[utoipa::path(
    put,
    path = "/api/v1/policies/{name}",
    tag = "policies",
    params(("name" = String, Path, description = "The policy's name")),
    request_body = PolicyWrite,
    responses((status = 200, description = "The policy as stored", body = PolicyInfo))
)]
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

/// One policy, as written.
#[utoipa::path(
    get,
    path = "/api/v1/policies/{name}",
    tag = "policies",
    params(("name" = String, Path, description = "The policy's name")),
    responses((status = 200, description = "The policy", body = PolicyInfo))
)]
pub async fn read_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PolicyInfo>, ApiError> {
    admin(&caller, "policies")?;
    let name = PolicyName::parse(&name)?;
    Ok(Json(access::read_policy(&state, &name).await?))
}

/// Deletes a policy.
#[utoipa::path(
    delete,
    path = "/api/v1/policies/{name}",
    tag = "policies",
    params(("name" = String, Path, description = "The policy's name")),
    responses((status = 204, description = "Deleted"))
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/policies/check",
    tag = "policies",
    request_body = PolicyCheck,
    responses((status = 200, description = "The decision and why", body = PolicyCheckResult))
)]
pub async fn check_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PolicyCheck>,
) -> Result<Json<PolicyCheckResult>, ApiError> {
    admin(&caller, "policies")?;
    Ok(Json(access::check_policy(&state, req).await?))
}

/// Every configured JWT/OIDC issuer.
#[utoipa::path(
    get,
    path = "/api/v1/auth/jwt/issuers",
    tag = "auth",
    responses((status = 200, description = "The issuers", body = JwtIssuerList))
)]
pub async fn list_jwt_issuers(State(state): State<AppState>, caller: Caller) -> Result<Json<JwtIssuerList>, ApiError> {
    admin(&caller, "auth")?;
    Ok(Json(access::list_jwt_issuers(&state).await?))
}

/// Creates or replaces a JWT/OIDC issuer.
#[utoipa::path(
    put,
    path = "/api/v1/auth/jwt/issuers/{name}",
    tag = "auth",
    params(("name" = String, Path, description = "The issuer's name")),
    request_body = JwtIssuer,
    responses((status = 200, description = "The issuer as stored", body = JwtIssuer))
)]
pub async fn write_jwt_issuer(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<JwtIssuer>,
) -> Result<Json<JwtIssuer>, ApiError> {
    admin(&caller, "auth")?;
    Ok(Json(access::write_jwt_issuer(&state, &caller, &name, req).await?))
}

/// Deletes a JWT/OIDC issuer.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/jwt/issuers/{name}",
    tag = "auth",
    params(("name" = String, Path, description = "The issuer's name")),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_jwt_issuer(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "auth")?;
    access::delete_jwt_issuer(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
