//! `/api/v1/auth/*`: logins (user password, client secret, JWT) and tokens
//! (create, lookup, renew, revoke). Logins are open routes, rate-limited per
//! source address and identity.
//!
//! Every refused login answers the same 401 `login_failed` body, whatever the
//! route and the reason (unknown identity, no binding, a failed JWT check, an
//! issuer that is gone or whose keys cannot be fetched): an unauthenticated
//! caller learns nothing about which identities exist or how they log in.
//! The reason goes to the `leash::audit` log target and the request's audit
//! record, never with the credential. Unknown identities cost about as much
//! as known ones (a dummy password hash, a client secret hashed anyway, a JWT
//! verified against built-in dummy keys).

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use leash_core::api::{
    ClientLogin, ErrorBody, JwtBinding, JwtIssuer, JwtLogin, TokenCreate, TokenCreated, TokenInfo, TokenRef,
    TokenRenew, UserpassLogin,
};
use zeroize::Zeroizing;

use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::authz::{Capability, Resource, authorize};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::identities;
use crate::jwt::JwtErrorClass;
use crate::state::AppState;
use crate::tokens;

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

/// Counts a failed login, logs and notes why (never the credential), and
/// returns the one answer every refused login gets.
pub fn failed_login(
    state: &AppState,
    note: &AuditNote,
    method: &str,
    identity: &str,
    ip: IpAddr,
    reason: &str,
) -> ApiError {
    state.logins.record_failure(ip, identity);
    tracing::warn!(target: "leash::audit", event = "login_failed", method, identity, remote = %ip, reason);
    note.set_reason(reason);
    identities::login_failed()
}

/// Logs a user in with a password.
#[utoipa::path(
    post,
    path = "/api/v1/auth/userpass/login",
    tag = "auth",
    request_body = UserpassLogin,
    responses((status = 200, description = "The login token (shown once)", body = TokenCreated), (status = 401, description = "Refused (`login_failed`, whatever the reason)", body = ErrorBody), (status = 429, description = "Too many failed logins; see `Retry-After`", body = ErrorBody))
)]
pub async fn userpass_login(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    note: AuditNote,
    ApiJson(req): ApiJson<UserpassLogin>,
) -> Result<Json<TokenCreated>, ApiError> {
    let ip = remote.ip();
    begin_login(&state, &note, ip, &req.username, "userpass")?;
    let password = Zeroizing::new(req.password);
    let row = identities::user(&state, &req.username).await?;
    let stored = row.as_ref().and_then(|r| r.password_hash.clone());
    if !identities::verify_password(password, stored).await {
        return Err(failed_login(
            &state,
            &note,
            "userpass",
            &req.username,
            ip,
            "wrong username or password",
        ));
    }
    let row = row.ok_or_else(identities::login_failed)?;
    Ok(Json(identities::issue_login_token(&state, &row, "userpass").await?))
}

/// Logs a service identity in with its client id and secret.
#[utoipa::path(
    post,
    path = "/api/v1/auth/client/login",
    tag = "auth",
    request_body = ClientLogin,
    responses((status = 200, description = "The login token (shown once)", body = TokenCreated), (status = 401, description = "Refused (`login_failed`, whatever the reason)", body = ErrorBody), (status = 429, description = "Too many failed logins; see `Retry-After`", body = ErrorBody))
)]
pub async fn client_login(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    note: AuditNote,
    ApiJson(req): ApiJson<ClientLogin>,
) -> Result<Json<TokenCreated>, ApiError> {
    let ip = remote.ip();
    let secret = Zeroizing::new(req.client_secret);
    let row = identities::by_client_id(&state, &req.client_id).await?;
    let name = row
        .as_ref()
        .map_or(req.client_id.as_str(), |r| r.name.as_str())
        .to_owned();
    begin_login(&state, &note, ip, &name, "client")?;
    let Some(row) = row else {
        identities::hash_client_secret_anyway(&secret);
        return Err(failed_login(&state, &note, "client", &name, ip, "unknown client id"));
    };
    if let Err(reason) = identities::check_client_secret(&row, &secret, ip) {
        return Err(failed_login(&state, &note, "client", &name, ip, reason));
    }
    if !identities::use_client_secret(&state, row.id).await? {
        return Err(failed_login(
            &state,
            &note,
            "client",
            &name,
            ip,
            "the client secret has no uses left",
        ));
    }
    Ok(Json(identities::issue_login_token(&state, &row, "client").await?))
}

/// Logs a service identity in with a JWT from a configured issuer (OIDC).
#[utoipa::path(
    post,
    path = "/api/v1/auth/jwt/login",
    tag = "auth",
    request_body = JwtLogin,
    responses((status = 200, description = "The login token (shown once)", body = TokenCreated), (status = 401, description = "Refused (`login_failed`, whatever the reason)", body = ErrorBody), (status = 429, description = "Too many failed logins; see `Retry-After`", body = ErrorBody))
)]
pub async fn jwt_login(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    note: AuditNote,
    ApiJson(req): ApiJson<JwtLogin>,
) -> Result<Json<TokenCreated>, ApiError> {
    let ip = remote.ip();
    begin_login(&state, &note, ip, &req.identity, "jwt")?;
    let jwt = Zeroizing::new(req.jwt);
    let (row, binding, issuer) = match identities::jwt_identity(&state, &req.identity).await? {
        Ok(found) => found,
        Err(reason) => {
            // As costly as checking a real token, and refused like one.
            let _ = state.jwt.verify(dummy_issuer(), dummy_binding(), &jwt).await;
            return Err(failed_login(&state, &note, "jwt", &req.identity, ip, &reason));
        }
    };
    match state.jwt.verify(&issuer, &binding, &jwt).await {
        Ok(_) => Ok(Json(identities::issue_login_token(&state, &row, "jwt").await?)),
        Err(e) => {
            let reason = match e.class() {
                JwtErrorClass::Rejected => e.to_string(),
                // 401 rather than 503: an outage answer would tell an unauthenticated
                // caller that the identity exists and is bound to a JWKS URL.
                JwtErrorClass::KeysUnavailable => format!("the issuer's keys are unavailable: {e}"),
                JwtErrorClass::Config => {
                    tracing::error!(identity = %row.name, issuer = %issuer.name, error = %e,
                        "JWT login refused: the issuer or the identity's binding is misconfigured");
                    format!("the issuer or the identity's binding is misconfigured: {e}")
                }
            };
            Err(failed_login(&state, &note, "jwt", &row.name, ip, &reason))
        }
    }
}

/// Public keys whose private halves were thrown away when they were made
/// (an RSA 2048 and a P-256 key, for RS256 and ES256 tokens): a JWT login for
/// an identity that has no issuer is verified against them, so that it costs
/// about what a real check costs. Nothing they verify is ever accepted.
const DUMMY_RSA_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnMzGPkTQneUu52O/Nw5e
89lh2YUzr05Z+0J34M2/Q5OKuOqDaEb/xTMCTGik+OWNtuO6/ariOQ0YO3Ay+eG1
TRRDc+EBoj2bFLD6U3+5WlTeM0PEYrU9hzeSipk/LHYEinOdowIgXrq0R1bIF1c+
sSrf6q5p70QsmBluYi/NyvMgImXpBJycTSCpEixq9KIM42rxPg6KKNUCw5RExD7E
NWDzgB+p1s0QF2CxOR2GhsYpemygwzjZvCZmwLrznX2lj/3ffFvyWgASYEvB55YA
e63qzaqZApSQ+4wJluYMOsCnXKOrbjdbyQSIdBhfDZ6iGlFJSrjEpOLNKHyS6dHb
6QIDAQAB
-----END PUBLIC KEY-----
";
const DUMMY_EC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfvx/gb6zL6VhmXzslIBb1FKqv9s+
Pa8yZOfGTLAns8grRPcIDmhCgMeeidllKpWZ9q6IFfGSd01zPS2RcMk61w==
-----END PUBLIC KEY-----
";
const DUMMY_ISSUER: &str = "leash-dummy";

fn dummy_issuer() -> &'static JwtIssuer {
    static ISSUER: std::sync::OnceLock<JwtIssuer> = std::sync::OnceLock::new();
    ISSUER.get_or_init(|| JwtIssuer {
        name: DUMMY_ISSUER.into(),
        issuer: "https://leash.invalid/dummy".into(),
        audiences: vec!["leash.invalid".into()],
        pem_keys: vec![DUMMY_RSA_PEM.into(), DUMMY_EC_PEM.into()],
        ..JwtIssuer::default()
    })
}

fn dummy_binding() -> &'static JwtBinding {
    static BINDING: std::sync::OnceLock<JwtBinding> = std::sync::OnceLock::new();
    BINDING.get_or_init(|| JwtBinding {
        issuer: DUMMY_ISSUER.into(),
        bound_claims: Default::default(),
        bound_subject: Some("nobody".into()),
    })
}

/// The calling token's metadata (never the token itself).
#[utoipa::path(
    get,
    path = "/api/v1/auth/token/lookup-self",
    tag = "auth",
    responses((status = 200, description = "The token", body = TokenInfo))
)]
pub async fn lookup_self(State(state): State<AppState>, caller: Caller) -> Json<TokenInfo> {
    Json(tokens::info(&state, &caller.token))
}

/// Extends the calling token, up to its max TTL (the body is optional).
#[utoipa::path(
    post,
    path = "/api/v1/auth/token/renew-self",
    tag = "auth",
    request_body = Option<TokenRenew>,
    responses((status = 200, description = "The token after renewal", body = TokenInfo))
)]
pub async fn renew_self(
    State(state): State<AppState>,
    caller: Caller,
    body: Option<ApiJson<TokenRenew>>,
) -> Result<Json<TokenInfo>, ApiError> {
    let increment = body.and_then(|ApiJson(b)| b.increment);
    Ok(Json(tokens::renew(&state, &caller.token, increment.as_deref()).await?))
}

/// Revokes the calling token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/token/revoke-self",
    tag = "auth",
    responses((status = 204, description = "Revoked"))
)]
pub async fn revoke_self(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    tokens::revoke(&state, &caller.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates a token not tied to a login.
#[utoipa::path(
    post,
    path = "/api/v1/auth/token/create",
    tag = "auth",
    request_body = TokenCreate,
    responses((status = 201, description = "The new token (shown once)", body = TokenCreated))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TokenCreate>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("tokens"))?;
    let policies = req.policies.clone();
    let (secret, record) = tokens::create(&state, &caller, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(identities::created(secret, &record, None, policies)),
    ))
}

/// Another token's metadata, by token or accessor.
#[utoipa::path(
    post,
    path = "/api/v1/auth/token/lookup",
    tag = "auth",
    request_body = TokenRef,
    responses((status = 200, description = "The token", body = TokenInfo))
)]
pub async fn lookup(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TokenRef>,
) -> Result<Json<TokenInfo>, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("tokens"))?;
    let record = tokens::referenced(&state, &req).await?;
    Ok(Json(tokens::info(&state, &std::sync::Arc::new(record))))
}

/// Extends another token, by token or accessor.
#[utoipa::path(
    post,
    path = "/api/v1/auth/token/renew",
    tag = "auth",
    request_body = TokenRef,
    responses((status = 200, description = "The token after renewal", body = TokenInfo))
)]
pub async fn renew_other(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TokenRef>,
) -> Result<Json<TokenInfo>, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("tokens"))?;
    let record = tokens::referenced(&state, &req).await?;
    Ok(Json(tokens::renew(&state, &record, req.increment.as_deref()).await?))
}

/// Revokes another token, by token or accessor.
#[utoipa::path(
    post,
    path = "/api/v1/auth/token/revoke",
    tag = "auth",
    request_body = TokenRef,
    responses((status = 204, description = "Revoked"))
)]
pub async fn revoke_other(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TokenRef>,
) -> Result<StatusCode, ApiError> {
    authorize(&caller, Capability::Admin, Resource::System("tokens"))?;
    let record = tokens::referenced(&state, &req).await?;
    tokens::revoke(&state, &record).await?;
    Ok(StatusCode::NO_CONTENT)
}
