//! Who may do what, as stored: identity, group, policy and JWT-issuer records.
//!
//! Each change here applies the grant rule first ([`grants::authorize_grants`]:
//! a partial administrator hands out only what it holds), holding
//! [`grants::lock`] from reading the state the rule judges until the change is
//! stored and the directory reloaded, so two concurrent changes cannot each
//! pass on the state the other is about to change. A change to identities,
//! groups or policies refreshes the directory itself, and one that affects
//! tokens (deleting an identity, revoking its tokens) the token cache too, so
//! it is in force for the next request. JWT issuers are not in the directory:
//! logins read them from storage.
//!
//! Callers decide first whether the caller may administer the area at all
//! (`authz::authorize` with `admin` on `sys/<area>`); this module decides
//! whether what the change leaves behind stays within the caller's rights.
//! It knows nothing about HTTP and returns no status codes (failures are
//! [`ApiError`]s carrying an [`ErrorKind`]), and it never logs a credential:
//! passwords and client secrets pass through [`identities`], which stores
//! only their hashes, and reach the caller only in the creating answer.

use leash_core::api::{
    ClientCredentials, GroupInfo, GroupList, GroupWrite, IdentityCreate, IdentityCreated, IdentityInfo, IdentityList,
    IdentityUpdate, JwtIssuer, JwtIssuerList, PolicyCheck, PolicyCheckResult, PolicyInfo, PolicyList, PolicyWrite,
};
use leash_core::policy::{Capability, Policy, PolicyName, PolicySet};
use leash_store::{DocumentKind, GroupRow, IdentityRow, NamedDocument};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorKind};
use crate::grants::{self, Grant, Stage, authorize_grants};
use crate::identities::{self, GroupName, IdentityName, check_policies};
use crate::state::Domain;
use crate::time::{now_millis, rfc3339};

// ---- identities ----

/// The stored identity called `name` (not found if there is none).
async fn identity_row(state: &Domain, name: &IdentityName) -> Result<IdentityRow, ApiError> {
    state
        .store
        .identity_get(name.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("identity {name} not found")))
}

/// Every identity.
pub async fn list_identities(state: &Domain) -> Result<IdentityList, ApiError> {
    let rows = state.store.identity_list().await?;
    Ok(IdentityList {
        identities: rows.iter().map(|r| identities::info(state, r)).collect(),
    })
}

/// Creates a user or service, if the caller may hand out its policies; a
/// service's client id and secret come back once.
pub async fn create_identity(
    state: &Domain,
    caller: &Caller,
    req: IdentityCreate,
) -> Result<IdentityCreated, ApiError> {
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
    authorize_grants(&lock, state, caller, &[new])?;
    let (row, credentials) = identities::create(state, req).await?;
    drop(lock);
    tracing::info!(identity = %row.name, kind = %row.kind, "identity created");
    let (client_id, client_secret) = credentials.unzip();
    Ok(IdentityCreated {
        identity: identities::info(state, &row),
        client_id,
        client_secret,
    })
}

/// One identity.
pub async fn show_identity(state: &Domain, name: &IdentityName) -> Result<IdentityInfo, ApiError> {
    let row = identity_row(state, name).await?;
    Ok(identities::info(state, &row))
}

/// Changes an identity, if the caller may manage it as it is and as it will be.
pub async fn update_identity(
    state: &Domain,
    caller: &Caller,
    name: &IdentityName,
    req: IdentityUpdate,
) -> Result<IdentityInfo, ApiError> {
    let lock = grants::lock().await;
    let row = identity_row(state, name).await?;
    let groups = state.store.group_list().await?;
    let own = req.policies.clone().unwrap_or_else(|| row.policies.clone());
    let metadata = req.metadata.clone().unwrap_or_else(|| grants::stored_metadata(&row));
    let effects = [
        Grant::identity(&row, &groups, Stage::Now),
        Grant::identity_with(&row, &own, metadata, &groups, Stage::After),
    ];
    authorize_grants(&lock, state, caller, &effects)?;
    let row = identities::update(state, row, req).await?;
    drop(lock);
    Ok(identities::info(state, &row))
}

/// Deletes an identity and revokes its tokens, if the caller may manage it.
pub async fn delete_identity(state: &Domain, caller: &Caller, name: &IdentityName) -> Result<(), ApiError> {
    let lock = grants::lock().await;
    let row = identity_row(state, name).await?;
    let groups = state.store.group_list().await?;
    authorize_grants(&lock, state, caller, &[Grant::identity(&row, &groups, Stage::Now)])?;
    identities::delete(state, &row).await?;
    drop(lock);
    tracing::info!(identity = %row.name, "identity deleted; its tokens are revoked");
    Ok(())
}

/// Gives a service a new client secret (returned once), if the caller may manage it.
pub async fn rotate_identity_secret(
    state: &Domain,
    caller: &Caller,
    name: &IdentityName,
) -> Result<ClientCredentials, ApiError> {
    let lock = grants::lock().await;
    let row = identity_row(state, name).await?;
    let groups = state.store.group_list().await?;
    authorize_grants(&lock, state, caller, &[Grant::identity(&row, &groups, Stage::Now)])?;
    let identity = row.name.clone();
    let (client_id, client_secret) = identities::rotate_secret(state, row).await?;
    drop(lock);
    Ok(ClientCredentials {
        identity,
        client_id,
        client_secret,
    })
}

/// Revokes every token of an identity at once. Not judged by the grant rule:
/// revoking takes rights away and gives the caller nothing
/// (docs/policies.md#administration).
pub async fn revoke_identity_tokens(state: &Domain, name: &IdentityName) -> Result<(), ApiError> {
    let row = identity_row(state, name).await?;
    let revoked = state.store.tokens_delete_for_identity(row.id).await?;
    state.tokens.clear();
    tracing::info!(identity = %row.name, revoked, "identity's tokens revoked");
    Ok(())
}

/// Whether an identity may do something, and why: for operators debugging access.
pub async fn check_policy(state: &Domain, req: PolicyCheck) -> Result<PolicyCheckResult, ApiError> {
    let capability: Capability = req
        .capability
        .parse()
        .map_err(|e: leash_core::Error| ApiError::bad_request(e.to_string()))?;
    let row = identity_row(state, &IdentityName::parse(&req.identity)?).await?;
    let snapshot = state.directory.snapshot();
    let entry = snapshot
        .identities
        .get(&row.id)
        .ok_or_else(|| ApiError::not_found(format!("identity {} not found", row.name)))?;
    let policies = snapshot.resolve(&entry.policies);
    let refs: Vec<&Policy> = policies.iter().map(|p| &**p).collect();
    let context = snapshot.context(Some(row.id), &row.name);
    let decision = PolicySet::new(&refs, &context).evaluate(&req.path, capability);
    Ok(PolicyCheckResult {
        allowed: decision.allowed,
        explanation: decision.to_string(),
        policies: entry.policies.clone(),
    })
}

// ---- groups ----

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
    state: &Domain,
    caller: &Caller,
    name: &GroupName,
    req: GroupWrite,
    put: Put,
) -> Result<GroupInfo, ApiError> {
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

/// Every group.
pub async fn list_groups(state: &Domain) -> Result<GroupList, ApiError> {
    let groups = state.store.group_list().await?.into_iter().map(group_info).collect();
    Ok(GroupList { groups })
}

/// Creates the group `req.name` (a conflict if it exists), if the caller may
/// hand out its policies to its members.
pub async fn create_group(state: &Domain, caller: &Caller, req: GroupWrite) -> Result<GroupInfo, ApiError> {
    let name = GroupName::parse(&req.name)?;
    put_group(state, caller, &name, req, Put::Create).await
}

/// Creates or replaces the group `name` (`req.name` is not read), if the
/// caller may manage it and its members as they are and as they will be.
pub async fn replace_group(
    state: &Domain,
    caller: &Caller,
    name: &GroupName,
    req: GroupWrite,
) -> Result<GroupInfo, ApiError> {
    put_group(state, caller, name, req, Put::Replace).await
}

/// One group.
pub async fn show_group(state: &Domain, name: &GroupName) -> Result<GroupInfo, ApiError> {
    let row = state
        .store
        .group_get(name.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("group {name} not found")))?;
    Ok(group_info(row))
}

/// Deletes a group, if the caller may manage it and what its members lose.
pub async fn delete_group(state: &Domain, caller: &Caller, name: &GroupName) -> Result<(), ApiError> {
    let lock = grants::lock().await;
    let before = state.store.group_list().await?;
    if !before.iter().any(|g| g.name == name.as_str()) {
        return Err(ApiError::not_found(format!("group {name} not found")));
    }
    let after: Vec<GroupRow> = before.iter().filter(|g| g.name != name.as_str()).cloned().collect();
    let identities = state.store.identity_list().await?;
    let effects = grants::group_change(name.as_str(), &before, &after, &identities);
    authorize_grants(&lock, state, caller, &effects)?;
    if !state.store.group_delete(name.as_str()).await? {
        return Err(ApiError::not_found(format!("group {name} not found")));
    }
    state.directory.reload(&*state.store).await?;
    drop(lock);
    Ok(())
}

// ---- policies ----

fn policy_info(doc: NamedDocument) -> PolicyInfo {
    PolicyInfo {
        name: doc.name,
        policy: doc.body,
        created_at: rfc3339(doc.created_at),
        updated_at: rfc3339(doc.updated_at),
    }
}

/// The names of every policy.
pub async fn list_policies(state: &Domain) -> Result<PolicyList, ApiError> {
    let docs = state.store.document_list(DocumentKind::Policy).await?;
    Ok(PolicyList {
        policies: docs.into_iter().map(|d| d.name).collect(),
    })
}

/// Writes a policy (`root` is reserved; the body must parse), unless it is in
/// force for the caller.
pub async fn write_policy(
    state: &Domain,
    caller: &Caller,
    name: &PolicyName,
    req: PolicyWrite,
) -> Result<PolicyInfo, ApiError> {
    if name.as_str() == "root" {
        return Err(ApiError::bad_request("the policy name root is reserved"));
    }
    Policy::parse(name.as_str(), &req.policy)
        .map_err(|e| ApiError::new(ErrorKind::InvalidInput, "invalid_policy", e.to_string()))?;
    let lock = grants::lock().await;
    let document = Grant::PolicyDocument {
        name: name.as_str().to_owned(),
    };
    authorize_grants(&lock, state, caller, &[document])?;
    let doc = state
        .store
        .document_put(DocumentKind::Policy, name.as_str(), &req.policy, now_millis())
        .await?;
    state.directory.reload(&*state.store).await?;
    drop(lock);
    Ok(policy_info(doc))
}

/// One policy, as written.
pub async fn read_policy(state: &Domain, name: &PolicyName) -> Result<PolicyInfo, ApiError> {
    let doc = state
        .store
        .document_get(DocumentKind::Policy, name.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("policy {name} not found")))?;
    Ok(policy_info(doc))
}

/// Deletes a policy, unless it is in force for the caller.
pub async fn delete_policy(state: &Domain, caller: &Caller, name: &PolicyName) -> Result<(), ApiError> {
    let lock = grants::lock().await;
    let document = Grant::PolicyDocument {
        name: name.as_str().to_owned(),
    };
    authorize_grants(&lock, state, caller, &[document])?;
    if !state.store.document_delete(DocumentKind::Policy, name.as_str()).await? {
        return Err(ApiError::not_found(format!("policy {name} not found")));
    }
    state.directory.reload(&*state.store).await?;
    drop(lock);
    Ok(())
}

// ---- JWT issuers ----

fn issuer_from(doc: NamedDocument) -> Result<JwtIssuer, ApiError> {
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
    state: &Domain,
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

/// Every JWT issuer.
pub async fn list_jwt_issuers(state: &Domain) -> Result<JwtIssuerList, ApiError> {
    let docs = state.store.document_list(DocumentKind::JwtIssuer).await?;
    let issuers = docs.into_iter().map(issuer_from).collect::<Result<_, _>>()?;
    Ok(JwtIssuerList { issuers })
}

/// Writes the JWT issuer `name` (named like a project; `req.name` is not
/// read), if the caller may manage every identity bound to it.
pub async fn write_jwt_issuer(
    state: &Domain,
    caller: &Caller,
    name: &str,
    req: JwtIssuer,
) -> Result<JwtIssuer, ApiError> {
    let name = leash_core::names::ProjectName::parse(name)
        .map_err(|e| ApiError::bad_request(e.to_string().replace("project name", "issuer name")))?;
    let issuer = JwtIssuer {
        name: name.as_str().to_owned(),
        ..req
    };
    crate::jwt::validate_issuer(&issuer)
        .map_err(|e| ApiError::new(ErrorKind::InvalidInput, "invalid_issuer", e.to_string()))?;
    let body = serde_json::to_string(&issuer).map_err(|e| ApiError::internal("encoding a JWT issuer", e))?;
    let lock = grants::lock().await;
    authorize_issuer_change(&lock, state, caller, name.as_str()).await?;
    state
        .store
        .document_put(DocumentKind::JwtIssuer, name.as_str(), &body, now_millis())
        .await?;
    drop(lock);
    Ok(issuer)
}

/// Deletes the JWT issuer `name`, if the caller may manage every identity bound to it.
pub async fn delete_jwt_issuer(state: &Domain, caller: &Caller, name: &str) -> Result<(), ApiError> {
    let lock = grants::lock().await;
    authorize_issuer_change(&lock, state, caller, name).await?;
    if !state.store.document_delete(DocumentKind::JwtIssuer, name).await? {
        return Err(ApiError::not_found(format!("JWT issuer {name} not found")));
    }
    drop(lock);
    Ok(())
}
