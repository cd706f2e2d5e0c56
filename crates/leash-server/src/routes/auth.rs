//! `/api/v1/auth/*`: logins (user password, client secret, JWT) and tokens
//! (create, lookup, renew, revoke). Logins are open routes, rate-limited per
//! source address and identity; failed logins are logged on the
//! `leash::audit` target without the credential.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use leash_core::api::{
    ClientLogin, JwtBinding, JwtIssuer, JwtLogin, TokenCreate, TokenCreated, TokenInfo, TokenRef, TokenRenew,
    UserpassLogin,
};
use leash_core::policy::IdentityContext;
use leash_core::token;
use leash_store::DocumentKind;
use leash_store::TokenRecord;
use zeroize::Zeroizing;

use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::authz::{Capability, Resource, authorize};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::grants::{self, Grant, Stage, authorize_grants};
use crate::identities::{self, check_policies, parse_duration};
use crate::jwt::JwtErrorClass;
use crate::state::AppState;
use crate::time::{now_millis, rfc3339};

/// Default TTL and max TTL of tokens made with `token create`.
const DIRECT_TOKEN_TTL: &str = "1h";
const DIRECT_TOKEN_MAX_TTL: &str = "32d";

/// Notes who is trying to log in (for the audit record) and refuses the
/// attempt while its address or identity is blocked.
fn begin_login(state: &AppState, note: &AuditNote, ip: IpAddr, identity: &str, method: &str) -> Result<(), ApiError> {
    note.update(|n| {
        n.identity = Some(identity.to_owned());
        n.auth_method = Some(method.to_owned());
    });
    check_rate(state, ip, identity)
}

/// Refuses the attempt while its address or identity is blocked.
fn check_rate(state: &AppState, ip: IpAddr, identity: &str) -> Result<(), ApiError> {
    state.logins.check(ip, identity).map_err(|blocked| {
        let secs = blocked.retry_after.as_secs().max(1);
        ApiError::too_many_requests(secs, format!("too many failed logins; try again in {secs} s"))
    })
}

/// Counts a failed login and reports it (the audit trail hooks in here).
pub fn failed_login(state: &AppState, method: &str, identity: &str, ip: IpAddr, reason: &str) -> ApiError {
    state.logins.record_failure(ip, identity);
    tracing::warn!(target: "leash::audit", event = "login_failed", method, identity, remote = %ip, reason);
    identities::login_failed()
}

pub async fn userpass_login(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    note: AuditNote,
    ApiJson(req): ApiJson<UserpassLogin>,
) -> Result<Json<TokenCreated>, ApiError> {
    let ip = remote.ip();
    begin_login(&state, &note, ip, &req.username, "userpass")?;
    let password = Zeroizing::new(req.password);
    let row = state
        .store
        .identity_get(&req.username)
        .await?
        .filter(|r| r.kind == "user");
    let stored = row.as_ref().and_then(|r| r.password_hash.clone());
    if !identities::verify_password(password, stored).await {
        return Err(failed_login(
            &state,
            "userpass",
            &req.username,
            ip,
            "wrong username or password",
        ));
    }
    let row = row.ok_or_else(identities::login_failed)?;
    Ok(Json(identities::issue_login_token(&state, &row, "userpass").await?))
}

pub async fn client_login(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    note: AuditNote,
    ApiJson(req): ApiJson<ClientLogin>,
) -> Result<Json<TokenCreated>, ApiError> {
    let ip = remote.ip();
    let secret = Zeroizing::new(req.client_secret);
    let row = state.store.identity_get_by_client_id(&req.client_id).await?;
    let name = row
        .as_ref()
        .map_or(req.client_id.as_str(), |r| r.name.as_str())
        .to_owned();
    begin_login(&state, &note, ip, &name, "client")?;
    let Some(row) = row else {
        return Err(failed_login(&state, "client", &name, ip, "unknown client id"));
    };
    if let Err(reason) = identities::check_client_secret(&row, &secret, ip) {
        return Err(failed_login(&state, "client", &name, ip, reason));
    }
    if !state.store.client_secret_use(row.id).await? {
        return Err(failed_login(
            &state,
            "client",
            &name,
            ip,
            "the client secret has no uses left",
        ));
    }
    Ok(Json(identities::issue_login_token(&state, &row, "client").await?))
}

pub async fn jwt_login(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    note: AuditNote,
    ApiJson(req): ApiJson<JwtLogin>,
) -> Result<Json<TokenCreated>, ApiError> {
    let ip = remote.ip();
    begin_login(&state, &note, ip, &req.identity, "jwt")?;
    let jwt = Zeroizing::new(req.jwt);
    let row = state.store.identity_get(&req.identity).await?;
    let Some((row, binding)) = row.and_then(|r| {
        let binding: JwtBinding = serde_json::from_str(r.jwt_binding.as_deref()?).ok()?;
        Some((r, binding))
    }) else {
        return Err(failed_login(
            &state,
            "jwt",
            &req.identity,
            ip,
            "no such identity with a JWT binding",
        ));
    };
    let issuer = state
        .store
        .document_get(DocumentKind::JwtIssuer, &binding.issuer)
        .await?
        .and_then(|doc| {
            serde_json::from_str::<JwtIssuer>(&doc.body)
                .ok()
                .map(|i| JwtIssuer { name: doc.name, ..i })
        })
        .ok_or_else(|| {
            ApiError::internal(
                "logging in with a JWT",
                format!(
                    "identity {} names JWT issuer {}, which is not configured",
                    row.name, binding.issuer
                ),
            )
        })?;
    match state.jwt.verify(&issuer, &binding, &jwt).await {
        Ok(_) => Ok(Json(identities::issue_login_token(&state, &row, "jwt").await?)),
        Err(e) => match e.class() {
            JwtErrorClass::Rejected => {
                let reason = e.to_string();
                failed_login(&state, "jwt", &row.name, ip, &reason);
                Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "login_failed",
                    format!("JWT login failed: {reason}"),
                ))
            }
            JwtErrorClass::KeysUnavailable => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "jwks_unavailable",
                format!("cannot check the JWT right now: {e}"),
            )),
            JwtErrorClass::Config => Err(ApiError::internal("logging in with a JWT", e)),
        },
    }
}

/// A token record as the API shows it, with the policies in force.
pub fn token_info(state: &AppState, record: &std::sync::Arc<TokenRecord>) -> TokenInfo {
    let snapshot = state.directory.snapshot();
    let caller = Caller::new(record.clone(), &snapshot);
    let identity = record
        .identity_id
        .and_then(|id| snapshot.identities.get(&id))
        .map(|e| e.name.clone());
    TokenInfo {
        accessor: record.accessor.clone(),
        display_name: record.display_name.clone(),
        policies: record.policies.clone(),
        root: record.is_root,
        created_at: rfc3339(record.created_at),
        expires_at: record.expires_at.map(rfc3339),
        identity,
        auth_method: record.auth_method.clone(),
        max_expires_at: record.max_expires_at.map(rfc3339),
        effective_policies: if record.is_root {
            vec!["root".into()]
        } else {
            caller.policy_names
        },
    }
}

pub async fn lookup_self(State(state): State<AppState>, caller: Caller) -> Json<TokenInfo> {
    Json(token_info(&state, &caller.token))
}

pub async fn renew_self(
    State(state): State<AppState>,
    caller: Caller,
    body: Option<ApiJson<TokenRenew>>,
) -> Result<Json<TokenInfo>, ApiError> {
    let increment = body.and_then(|ApiJson(b)| b.increment);
    Ok(Json(renew(&state, &caller.token, increment.as_deref()).await?))
}

pub async fn revoke_self(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    revoke(&state, &caller.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn renew(state: &AppState, record: &TokenRecord, increment: Option<&str>) -> Result<TokenInfo, ApiError> {
    let mut renewed = record.clone();
    if record.expires_at.is_some() {
        let now = now_millis();
        let increment = match increment {
            Some(text) => parse_duration("increment", text)?,
            None => record.ttl_ms.unwrap_or(60 * 60 * 1000),
        };
        let wanted = now + increment;
        if let Some(max) = record.max_expires_at
            && wanted > max
        {
            let message = if now >= max {
                format!("the token reached its max TTL at {}; log in again", rfc3339(max))
            } else {
                format!(
                    "renewing by that much would pass the token's max TTL ({}); the largest increment now is {}",
                    rfc3339(max),
                    humantime::format_duration(std::time::Duration::from_secs(((max - now) / 1000).max(0) as u64))
                )
            };
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "max_ttl_exceeded", message));
        }
        renewed.expires_at = Some(wanted);
        state.store.token_set_expiry(&record.hash, renewed.expires_at).await?;
        state.tokens.invalidate(&record.hash);
    }
    Ok(token_info(state, &std::sync::Arc::new(renewed)))
}

async fn revoke(state: &AppState, record: &TokenRecord) -> Result<(), ApiError> {
    state.store.token_delete(&record.hash).await?;
    state.tokens.invalidate(&record.hash);
    tracing::info!(accessor = %record.accessor, "token revoked");
    Ok(())
}

/// Finds the token a `TokenRef` names (by value or accessor).
async fn referenced(state: &AppState, reference: &TokenRef) -> Result<TokenRecord, ApiError> {
    let found = match (&reference.token, &reference.accessor) {
        (Some(t), None) => {
            if !token::is_well_formed(t) {
                return Err(ApiError::bad_request("`token` is not a valid Leash token"));
            }
            state.store.token_lookup(&token::token_hash(t)).await?
        }
        (None, Some(a)) => state.store.token_lookup_by_accessor(a).await?,
        _ => return Err(ApiError::bad_request("give exactly one of `token` or `accessor`")),
    };
    found.ok_or_else(|| ApiError::not_found("no such token (it may have expired or been revoked)"))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TokenCreate>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("tokens"))?;
    let display_name = req
        .display_name
        .unwrap_or_else(|| format!("token-by-{}", caller.actor()));
    identities::IdentityName::parse(&display_name)?;
    let lock = grants::lock().await;
    let new = Grant::Principal {
        who: "the new token".into(),
        stage: Stage::After,
        policies: req.policies.clone(),
        // What `Caller::new` gives a token without an identity.
        context: IdentityContext::named(&display_name),
    };
    authorize_grants(&lock, &state, &caller, &[new])?;
    check_policies(&state, &req.policies)?;
    let ttl = parse_duration("ttl", req.ttl.as_deref().unwrap_or(DIRECT_TOKEN_TTL))?;
    let max_ttl = parse_duration("max_ttl", req.max_ttl.as_deref().unwrap_or(DIRECT_TOKEN_MAX_TTL))?;
    if ttl > max_ttl {
        return Err(ApiError::bad_request("ttl must not be longer than max_ttl"));
    }
    let now = now_millis();
    let secret = token::generate_token();
    let record = TokenRecord {
        hash: token::token_hash(&secret),
        accessor: token::generate_accessor(),
        display_name,
        policies: req.policies.clone(),
        is_root: false,
        created_at: now,
        expires_at: Some(now + ttl),
        identity_id: None,
        auth_method: "token".into(),
        ttl_ms: Some(ttl),
        max_expires_at: Some(now + max_ttl),
    };
    state.store.token_create(&record).await?;
    drop(lock);
    Ok((
        StatusCode::CREATED,
        Json(identities::created(secret, &record, None, req.policies)),
    ))
}

pub async fn lookup(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TokenRef>,
) -> Result<Json<TokenInfo>, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("tokens"))?;
    let record = referenced(&state, &req).await?;
    Ok(Json(token_info(&state, &std::sync::Arc::new(record))))
}

pub async fn renew_other(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TokenRef>,
) -> Result<Json<TokenInfo>, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("tokens"))?;
    let record = referenced(&state, &req).await?;
    Ok(Json(renew(&state, &record, req.increment.as_deref()).await?))
}

pub async fn revoke_other(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TokenRef>,
) -> Result<StatusCode, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("tokens"))?;
    let record = referenced(&state, &req).await?;
    revoke(&state, &record).await?;
    Ok(StatusCode::NO_CONTENT)
}
