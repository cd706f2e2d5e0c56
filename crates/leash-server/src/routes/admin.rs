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
use crate::error::{ApiError, ErrorKind};
use crate::extract::ApiJson;
use crate::grants::{self, Grant, Stage, authorize_grants};
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
    let name = IdentityName::parse(&req.name)?;
    let lock = grants::lock().await;
    let groups = state.store.group_list().await?;
    let new = Grant::named_identity(
        name.as_str(),
        &req.policies,
        req.metadata.clone(),
        &groups,
        Stage::After,
    );
    authorize_grants(&lock, &state, &caller, &[new])?;
    let (row, credentials) = identities::create(&state, req).await?;
    drop(lock);
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
    let lock = grants::lock().await;
    let row = identity_row(&state, &name).await?;
    let groups = state.store.group_list().await?;
    let own = req.policies.clone().unwrap_or_else(|| row.policies.clone());
    let metadata = req.metadata.clone().unwrap_or_else(|| grants::stored_metadata(&row));
    let effects = [
        Grant::identity(&row, &groups, Stage::Now),
        Grant::identity_with(&row, &own, metadata, &groups, Stage::After),
    ];
    authorize_grants(&lock, &state, &caller, &effects)?;
    let row = identities::update(&state, row, req).await?;
    drop(lock);
    Ok(Json(identities::info(&state, &row)))
}

pub async fn delete_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "identities")?;
    let lock = grants::lock().await;
    let row = identity_row(&state, &name).await?;
    let groups = state.store.group_list().await?;
    authorize_grants(&lock, &state, &caller, &[Grant::identity(&row, &groups, Stage::Now)])?;
    identities::delete(&state, &row).await?;
    drop(lock);
    tracing::info!(identity = %row.name, "identity deleted; its tokens are revoked");
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate_identity_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ClientCredentials>, ApiError> {
    admin(&caller, "identities")?;
    let lock = grants::lock().await;
    let row = identity_row(&state, &name).await?;
    let groups = state.store.group_list().await?;
    authorize_grants(&lock, &state, &caller, &[Grant::identity(&row, &groups, Stage::Now)])?;
    let identity = row.name.clone();
    let (client_id, client_secret) = identities::rotate_secret(&state, row).await?;
    drop(lock);
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
    // Not checked against the caller's rights: revoking takes rights away and gives
    // the caller nothing (docs/policies.md#administration).
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

/// Whether `put_group` may replace an existing group.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Put {
    Create,
    Replace,
}

async fn put_group(
    state: &AppState,
    caller: &Caller,
    name: &str,
    req: GroupWrite,
    put: Put,
) -> Result<GroupInfo, ApiError> {
    let name = GroupName::parse(name)?;
    for member in &req.members {
        IdentityName::parse(member)?;
    }
    let lock = grants::lock().await;
    let before = state.store.group_list().await?;
    if put == Put::Create && before.iter().any(|g| g.name == name.as_str()) {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "already_exists",
            format!("group {name} already exists; use PUT to replace it"),
        ));
    }
    let mut after: Vec<GroupRow> = before.iter().filter(|g| g.name != name.as_str()).cloned().collect();
    after.push(GroupRow {
        name: name.as_str().to_owned(),
        policies: req.policies.clone(),
        members: req.members.clone(),
        created_at: 0,
    });
    let identities = state.store.identity_list().await?;
    let effects = grants::group_change(name.as_str(), &before, &after, &identities);
    authorize_grants(&lock, state, caller, &effects)?;
    check_policies(state, &req.policies)?;
    let row = state
        .store
        .group_put(name.as_str(), &req.policies, &req.members, now_millis())
        .await?;
    state.directory.reload(&*state.store).await?;
    drop(lock);
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
    Ok((
        StatusCode::CREATED,
        Json(put_group(&state, &caller, &name, req, Put::Create).await?),
    ))
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
    Ok(Json(put_group(&state, &caller, &name, req, Put::Replace).await?))
}

pub async fn delete_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "groups")?;
    let name = GroupName::parse(&name)?;
    let lock = grants::lock().await;
    let before = state.store.group_list().await?;
    if !before.iter().any(|g| g.name == name.as_str()) {
        return Err(ApiError::not_found(format!("group {name} not found")));
    }
    let after: Vec<GroupRow> = before.iter().filter(|g| g.name != name.as_str()).cloned().collect();
    let identities = state.store.identity_list().await?;
    let effects = grants::group_change(name.as_str(), &before, &after, &identities);
    authorize_grants(&lock, &state, &caller, &effects)?;
    if !state.store.group_delete(name.as_str()).await? {
        return Err(ApiError::not_found(format!("group {name} not found")));
    }
    state.directory.reload(&*state.store).await?;
    drop(lock);
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
        .map_err(|e| ApiError::new(ErrorKind::InvalidInput, "invalid_policy", e.to_string()))?;
    let lock = grants::lock().await;
    let document = Grant::PolicyDocument {
        name: name.as_str().to_owned(),
    };
    authorize_grants(&lock, &state, &caller, &[document])?;
    let doc = state
        .store
        .document_put(DocumentKind::Policy, name.as_str(), &req.policy, now_millis())
        .await?;
    state.directory.reload(&*state.store).await?;
    drop(lock);
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
    let name = PolicyName::parse(&name)?;
    let lock = grants::lock().await;
    let document = Grant::PolicyDocument {
        name: name.as_str().to_owned(),
    };
    authorize_grants(&lock, &state, &caller, &[document])?;
    if !state.store.document_delete(DocumentKind::Policy, name.as_str()).await? {
        return Err(ApiError::not_found(format!("policy {name} not found")));
    }
    state.directory.reload(&*state.store).await?;
    drop(lock);
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

/// Writing or deleting an issuer decides who can log in as the identities bound to it.
async fn authorize_issuer_change(
    lock: &grants::AdminLock,
    state: &AppState,
    caller: &Caller,
    issuer: &str,
) -> Result<(), ApiError> {
    let identities = state.store.identity_list().await?;
    let groups = state.store.group_list().await?;
    authorize_grants(
        lock,
        state,
        caller,
        &grants::bound_to_issuer(issuer, &identities, &groups),
    )
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
        .map_err(|e| ApiError::new(ErrorKind::InvalidInput, "invalid_issuer", e.to_string()))?;
    let body = serde_json::to_string(&issuer).map_err(|e| ApiError::internal("encoding a JWT issuer", e))?;
    let lock = grants::lock().await;
    authorize_issuer_change(&lock, &state, &caller, name.as_str()).await?;
    state
        .store
        .document_put(DocumentKind::JwtIssuer, name.as_str(), &body, now_millis())
        .await?;
    drop(lock);
    Ok(Json(issuer))
}

pub async fn delete_jwt_issuer(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller, "auth")?;
    let lock = grants::lock().await;
    authorize_issuer_change(&lock, &state, &caller, &name).await?;
    if !state.store.document_delete(DocumentKind::JwtIssuer, &name).await? {
        return Err(ApiError::not_found(format!("JWT issuer {name} not found")));
    }
    drop(lock);
    Ok(StatusCode::NO_CONTENT)
}
