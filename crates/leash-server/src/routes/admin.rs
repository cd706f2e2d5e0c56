//! Administration of identities, groups and policies (`admin` on `sys/...`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leash_core::api::{
    ClientCredentials, GroupInfo, GroupList, GroupWrite, IdentityCreate, IdentityCreated, IdentityInfo, IdentityList,
    IdentityUpdate, JwtIssuer, JwtIssuerList, PolicyCheck, PolicyCheckResult, PolicyInfo, PolicyList, PolicyWrite,
};
use leash_core::policy::{Capability, Policy, PolicyName, PolicySet};
use leash_store::{DocumentKind, GroupRow, IdentityRow};

use crate::auth::Caller;
use crate::authz::{Resource, authorize};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::identities::{self, GroupName, IdentityName, check_policies};
use crate::state::AppState;
use crate::time::{now_millis, rfc3339};

fn admin(caller: &Caller, area: &str) -> Result<(), ApiError> {
    authorize(caller, Capability::Admin, Resource::System(area))
}

async fn identity_row(state: &AppState, name: &str) -> Result<IdentityRow, ApiError> {
    let name = IdentityName::parse(name)?;
    state
        .store
        .identity_get(name.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("identity {name} not found")))
}

pub async fn list_identities(State(state): State<AppState>, caller: Caller) -> Result<Json<IdentityList>, ApiError> {
    admin(&caller, "identities")?;
    let rows = state.store.identity_list().await?;
    Ok(Json(IdentityList {
        identities: rows.iter().map(|r| identities::info(&state, r)).collect(),
    }))
}

pub async fn create_identity(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<IdentityCreate>,
) -> Result<(StatusCode, Json<IdentityCreated>), ApiError> {
    admin(&caller, "identities")?;
    let (row, credentials) = identities::create(&state, req).await?;
    tracing::info!(identity = %row.name, kind = %row.kind, "identity created");
    let (client_id, client_secret) = credentials.unzip();
    Ok((
        StatusCode::CREATED,
        Json(IdentityCreated {
            identity: identities::info(&state, &row),
            client_id,
            client_secret,
        }),
    ))
}

pub async fn show_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<IdentityInfo>, ApiError> {
    admin(&caller, "identities")?;
    let row = identity_row(&state, &name).await?;
    Ok(Json(identities::info(&state, &row)))
}

pub async fn update_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<IdentityUpdate>,
) -> Result<Json<IdentityInfo>, ApiError> {
    admin(&caller, "identities")?;
    let row = identity_row(&state, &name).await?;
    let row = identities::update(&state, row, req).await?;
    Ok(Json(identities::info(&state, &row)))
}

pub async fn delete_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "identities")?;
    let row = identity_row(&state, &name).await?;
    identities::delete(&state, &row).await?;
    tracing::info!(identity = %row.name, "identity deleted; its tokens are revoked");
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate_identity_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ClientCredentials>, ApiError> {
    admin(&caller, "identities")?;
    let row = identity_row(&state, &name).await?;
    let identity = row.name.clone();
    let (client_id, client_secret) = identities::rotate_secret(&state, row).await?;
    Ok(Json(ClientCredentials {
        identity,
        client_id,
        client_secret,
    }))
}

pub async fn revoke_identity_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "identities")?;
    let row = identity_row(&state, &name).await?;
    let revoked = state.store.tokens_delete_for_identity(row.id).await?;
    state.tokens.clear();
    tracing::info!(identity = %row.name, revoked, "identity's tokens revoked");
    Ok(StatusCode::NO_CONTENT)
}

fn group_info(row: GroupRow) -> GroupInfo {
    GroupInfo {
        name: row.name,
        policies: row.policies,
        members: row.members,
        created_at: rfc3339(row.created_at),
    }
}

async fn put_group(state: &AppState, name: &str, req: GroupWrite) -> Result<GroupInfo, ApiError> {
    let name = GroupName::parse(name)?;
    check_policies(state, &req.policies)?;
    for member in &req.members {
        IdentityName::parse(member)?;
    }
    let row = state
        .store
        .group_put(name.as_str(), &req.policies, &req.members, now_millis())
        .await?;
    state.directory.reload(&*state.store).await?;
    Ok(group_info(row))
}

pub async fn list_groups(State(state): State<AppState>, caller: Caller) -> Result<Json<GroupList>, ApiError> {
    admin(&caller, "groups")?;
    let groups = state.store.group_list().await?.into_iter().map(group_info).collect();
    Ok(Json(GroupList { groups }))
}

pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<GroupWrite>,
) -> Result<(StatusCode, Json<GroupInfo>), ApiError> {
    admin(&caller, "groups")?;
    let name = req.name.clone();
    if state.store.group_get(&name).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!("group {name} already exists; use PUT to replace it"),
        ));
    }
    Ok((StatusCode::CREATED, Json(put_group(&state, &name, req).await?)))
}

pub async fn show_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<GroupInfo>, ApiError> {
    admin(&caller, "groups")?;
    let row = state
        .store
        .group_get(GroupName::parse(&name)?.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("group {name} not found")))?;
    Ok(Json(group_info(row)))
}

pub async fn replace_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<GroupWrite>,
) -> Result<Json<GroupInfo>, ApiError> {
    admin(&caller, "groups")?;
    Ok(Json(put_group(&state, &name, req).await?))
}

pub async fn delete_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "groups")?;
    if !state.store.group_delete(GroupName::parse(&name)?.as_str()).await? {
        return Err(ApiError::not_found(format!("group {name} not found")));
    }
    state.directory.reload(&*state.store).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn policy_info(doc: leash_store::NamedDocument) -> PolicyInfo {
    PolicyInfo {
        name: doc.name,
        policy: doc.body,
        created_at: rfc3339(doc.created_at),
        updated_at: rfc3339(doc.updated_at),
    }
}

pub async fn list_policies(State(state): State<AppState>, caller: Caller) -> Result<Json<PolicyList>, ApiError> {
    admin(&caller, "policies")?;
    let docs = state.store.document_list(DocumentKind::Policy).await?;
    Ok(Json(PolicyList {
        policies: docs.into_iter().map(|d| d.name).collect(),
    }))
}

pub async fn write_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<PolicyWrite>,
) -> Result<Json<PolicyInfo>, ApiError> {
    admin(&caller, "policies")?;
    let name = PolicyName::parse(&name)?;
    if name.as_str() == "root" {
        return Err(ApiError::bad_request("the policy name root is reserved"));
    }
    Policy::parse(name.as_str(), &req.policy)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_policy", e.to_string()))?;
    let doc = state
        .store
        .document_put(DocumentKind::Policy, name.as_str(), &req.policy, now_millis())
        .await?;
    state.directory.reload(&*state.store).await?;
    Ok(Json(policy_info(doc)))
}

pub async fn read_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PolicyInfo>, ApiError> {
    admin(&caller, "policies")?;
    let doc = state
        .store
        .document_get(DocumentKind::Policy, PolicyName::parse(&name)?.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("policy {name} not found")))?;
    Ok(Json(policy_info(doc)))
}

pub async fn delete_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "policies")?;
    if !state
        .store
        .document_delete(DocumentKind::Policy, PolicyName::parse(&name)?.as_str())
        .await?
    {
        return Err(ApiError::not_found(format!("policy {name} not found")));
    }
    state.directory.reload(&*state.store).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Explains whether an identity may do something, for operators debugging access.
pub async fn check_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PolicyCheck>,
) -> Result<Json<PolicyCheckResult>, ApiError> {
    admin(&caller, "policies")?;
    let capability: Capability = req
        .capability
        .parse()
        .map_err(|e: leash_core::Error| ApiError::bad_request(e.to_string()))?;
    let row = identity_row(&state, &req.identity).await?;
    let snapshot = state.directory.snapshot();
    let entry = snapshot
        .identities
        .get(&row.id)
        .ok_or_else(|| ApiError::not_found(format!("identity {} not found", row.name)))?;
    let policies = snapshot.resolve(&entry.policies);
    let refs: Vec<&Policy> = policies.iter().map(|p| &**p).collect();
    let context = snapshot.context(Some(row.id), &row.name);
    let decision = PolicySet::new(&refs, &context).evaluate(&req.path, capability);
    Ok(Json(PolicyCheckResult {
        allowed: decision.allowed,
        explanation: decision.to_string(),
        policies: entry.policies.clone(),
    }))
}

fn issuer_from(doc: leash_store::NamedDocument) -> Result<JwtIssuer, ApiError> {
    let issuer: JwtIssuer =
        serde_json::from_str(&doc.body).map_err(|e| ApiError::internal("reading a JWT issuer", e))?;
    Ok(JwtIssuer {
        name: doc.name,
        ..issuer
    })
}

pub async fn list_jwt_issuers(State(state): State<AppState>, caller: Caller) -> Result<Json<JwtIssuerList>, ApiError> {
    admin(&caller, "auth")?;
    let docs = state.store.document_list(DocumentKind::JwtIssuer).await?;
    let issuers = docs.into_iter().map(issuer_from).collect::<Result<_, _>>()?;
    Ok(Json(JwtIssuerList { issuers }))
}

pub async fn write_jwt_issuer(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<JwtIssuer>,
) -> Result<Json<JwtIssuer>, ApiError> {
    admin(&caller, "auth")?;
    let name = leash_core::names::ProjectName::parse(&name)
        .map_err(|e| ApiError::bad_request(e.to_string().replace("project name", "issuer name")))?;
    let issuer = JwtIssuer {
        name: name.as_str().to_owned(),
        ..req
    };
    crate::jwt::validate_issuer(&issuer)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_issuer", e.to_string()))?;
    let body = serde_json::to_string(&issuer).map_err(|e| ApiError::internal("encoding a JWT issuer", e))?;
    state
        .store
        .document_put(DocumentKind::JwtIssuer, name.as_str(), &body, now_millis())
        .await?;
    Ok(Json(issuer))
}

pub async fn delete_jwt_issuer(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "auth")?;
    if !state.store.document_delete(DocumentKind::JwtIssuer, &name).await? {
        return Err(ApiError::not_found(format!("JWT issuer {name} not found")));
    }
    Ok(StatusCode::NO_CONTENT)
}
