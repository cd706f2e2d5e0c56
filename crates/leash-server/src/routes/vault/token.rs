//! Vault's `auth/` routes: the token endpoints and the AppRole, JWT and
//! Kubernetes logins, each the native handler behind Vault's shapes.
//!
//! AppRole's `role_id`/`secret_id` are a service identity's client id and
//! client secret; a JWT or Kubernetes login's `role` is the Leash identity
//! bound to a JWT issuer. Failed logins are refused, rate-limited and
//! recorded exactly as on `/api/v1/auth/*/login`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::response::Response;
use leash_core::api::{ClientLogin, JwtLogin, TokenCreate, TokenCreated, TokenRef, TokenRenew};
use leash_store::TokenRecord;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{data, envelope, no_content};
use crate::audit::{AuditNote, RequestId};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiJson, VaultJson};
use crate::state::AppState;
use crate::time::{now_millis, rfc3339};

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// A token as Vault's `lookup` shows it. `id` is the token itself, only when
/// the caller presented it.
fn lookup_data(state: &AppState, record: &Arc<TokenRecord>, id: Option<&str>) -> Value {
    let info = crate::tokens::info(state, record);
    let ttl = record.expires_at.map_or(0, |t| secs(t - now_millis()).max(0));
    let creation_ttl = record.expires_at.map_or(0, |t| secs(t - record.created_at).max(0));
    let path = match record.auth_method.as_str() {
        "client" => "auth/approle/login",
        "jwt" => "auth/jwt/login",
        "userpass" => "auth/userpass/login",
        _ => "auth/token/create",
    };
    json!({
        "accessor": record.accessor,
        "creation_time": secs(record.created_at),
        "creation_ttl": creation_ttl,
        "display_name": record.display_name,
        "entity_id": "",
        "expire_time": record.expires_at.map(rfc3339),
        "explicit_max_ttl": record.max_expires_at.map_or(0, |t| secs(t - record.created_at).max(0)),
        "id": id.unwrap_or(""),
        "issue_time": rfc3339(record.created_at),
        "meta": info.identity.map(|name| json!({ "identity": name })),
        "num_uses": 0,
        "orphan": true,
        "path": path,
        "policies": info.effective_policies,
        "renewable": record.expires_at.is_some() && !record.is_root,
        "ttl": ttl,
        "type": "service",
    })
}

/// Vault's `auth` block for a new token.
fn auth_block(created: &TokenCreated, lease_seconds: i64) -> Value {
    json!({
        "client_token": created.token,
        "accessor": created.accessor,
        "policies": created.policies,
        "token_policies": created.policies,
        "metadata": created.identity.as_ref().map(|name| json!({ "identity": name })),
        "lease_duration": lease_seconds,
        "renewable": created.expires_at.is_some(),
        "entity_id": "",
        "token_type": "service",
        "orphan": true,
        "num_uses": 0,
    })
}

fn lease_of(created: &TokenCreated) -> i64 {
    let expires = created
        .expires_at
        .as_deref()
        .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok());
    expires.map_or(0, |t| (t.unix_timestamp() - now_millis() / 1000).max(0))
}

fn login_answer(id: &RequestId, created: TokenCreated) -> Response {
    let lease = lease_of(&created);
    envelope(id, None, Some(auth_block(&created, lease)))
}

/// The caller's own token (GET, or POST without a body).
pub async fn lookup_self(
    State(state): State<AppState>,
    caller: Caller,
    parts: Parts,
    Extension(id): Extension<RequestId>,
) -> Response {
    data(
        &id,
        lookup_data(&state, &caller.token, crate::auth::bearer_token(&parts)),
    )
}

#[derive(Deserialize, Default)]
pub struct Renew {
    increment: Option<Value>,
}

/// Vault's `increment`: seconds as a number, or a duration string (`1h`).
fn increment_text(increment: Option<Value>) -> Result<Option<String>, ApiError> {
    match increment {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|s| Some(format!("{s}s")))
            .ok_or_else(|| ApiError::bad_request("increment must be a whole number of seconds")),
        Some(Value::String(s)) if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => Ok(Some(format!("{s}s"))),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(
            "increment must be seconds or a duration such as 1h",
        )),
    }
}

/// Extends the caller's token (the native renew-self).
pub async fn renew_self(
    State(state): State<AppState>,
    caller: Caller,
    parts: Parts,
    Extension(id): Extension<RequestId>,
    VaultJson(req): VaultJson<Renew>,
) -> Result<Response, ApiError> {
    let increment = increment_text(req.increment)?;
    let record = caller.token.clone();
    let body = increment.map(|increment| {
        ApiJson(TokenRenew {
            increment: Some(increment),
        })
    });
    let axum::Json(info) = super::super::auth::renew_self(State(state.clone()), caller, body).await?;
    let lease = info
        .expires_at
        .as_deref()
        .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        .map_or(0, |t| (t.unix_timestamp() - now_millis() / 1000).max(0));
    let auth = json!({
        "client_token": crate::auth::bearer_token(&parts).unwrap_or(""),
        "accessor": record.accessor,
        "entity_id": "",
        "metadata": null,
        "policies": info.effective_policies,
        "token_policies": info.policies,
        "lease_duration": lease,
        "renewable": info.expires_at.is_some() && !info.root,
        "token_type": "service",
        "orphan": true,
    });
    Ok(envelope(&id, None, Some(auth)))
}

pub async fn revoke_self(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    super::super::auth::revoke_self(State(state), caller).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
pub struct VaultTokenCreate {
    policies: Option<Vec<String>>,
    ttl: Option<Value>,
    explicit_max_ttl: Option<Value>,
    display_name: Option<String>,
    num_uses: Option<u32>,
    period: Option<Value>,
    renewable: Option<bool>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `ttl`-like values: seconds as a number or a duration string.
fn duration_text(what: &str, v: Option<Value>) -> Result<Option<String>, ApiError> {
    increment_text(v).map_err(|_| ApiError::bad_request(format!("{what} must be seconds or a duration such as 1h")))
}

/// Creates a token (the native create, with its `admin` on `sys/tokens` check
/// and its grant rule: only policies the caller holds).
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Extension(id): Extension<RequestId>,
    VaultJson(req): VaultJson<VaultTokenCreate>,
) -> Result<Response, ApiError> {
    if req.num_uses.is_some_and(|n| n > 0) {
        return Err(ApiError::bad_request(
            "num_uses is not supported: Leash tokens are limited by TTL",
        ));
    }
    if req.period.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(ApiError::bad_request(
            "periodic tokens are not supported: give ttl (and explicit_max_ttl)",
        ));
    }
    if req.renewable == Some(false) {
        return Err(ApiError::bad_request(
            "Leash tokens with a TTL are always renewable up to their max TTL",
        ));
    }
    if req.kind.as_deref().is_some_and(|k| k != "service") {
        return Err(ApiError::bad_request("only service tokens are supported"));
    }
    let policies: Vec<String> = req
        .policies
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p != "default")
        .collect();
    let create = TokenCreate {
        policies,
        ttl: duration_text("ttl", req.ttl)?,
        max_ttl: duration_text("explicit_max_ttl", req.explicit_max_ttl)?,
        display_name: req.display_name,
    };
    let (_, axum::Json(created)) = super::super::auth::create(State(state), caller, ApiJson(create)).await?;
    Ok(login_answer(&id, created))
}

#[derive(Deserialize, Default)]
pub struct VaultTokenRef {
    token: Option<String>,
    accessor: Option<String>,
}

fn token_ref(req: VaultTokenRef) -> Result<TokenRef, ApiError> {
    if req.token.is_none() && req.accessor.is_none() {
        return Err(ApiError::bad_request("give token (or accessor)"));
    }
    Ok(TokenRef {
        token: req.token,
        accessor: req.accessor,
        increment: None,
    })
}

/// Another token's metadata (needs `admin` on `sys/tokens`, as natively).
pub async fn lookup(
    State(state): State<AppState>,
    caller: Caller,
    Extension(id): Extension<RequestId>,
    VaultJson(req): VaultJson<VaultTokenRef>,
) -> Result<Response, ApiError> {
    let given = req.token.clone();
    let reference = token_ref(req)?;
    // the native lookup authorizes; the record is then read for Vault's fields
    let _authorized = super::super::auth::lookup(State(state.clone()), caller, ApiJson(reference.clone())).await?;
    let record = Arc::new(crate::tokens::referenced(&state, &reference).await?);
    Ok(data(&id, lookup_data(&state, &record, given.as_deref())))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    VaultJson(req): VaultJson<VaultTokenRef>,
) -> Result<Response, ApiError> {
    super::super::auth::revoke_other(State(state), caller, ApiJson(token_ref(req)?)).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
pub struct AppRoleLogin {
    role_id: Option<String>,
    secret_id: Option<String>,
}

/// AppRole login: `role_id` is a service identity's client id, `secret_id` its client secret.
pub async fn approle_login(
    State(state): State<AppState>,
    remote: ConnectInfo<SocketAddr>,
    note: AuditNote,
    Extension(id): Extension<RequestId>,
    VaultJson(req): VaultJson<AppRoleLogin>,
) -> Result<Response, ApiError> {
    let (Some(client_id), Some(client_secret)) = (req.role_id, req.secret_id) else {
        return Err(ApiError::bad_request(
            "give role_id (a service identity's client id) and secret_id (its client secret)",
        ));
    };
    let login = ClientLogin {
        client_id,
        client_secret,
    };
    let axum::Json(created) = super::super::auth::client_login(State(state), remote, note, ApiJson(login)).await?;
    Ok(login_answer(&id, created))
}

#[derive(Deserialize, Default)]
pub struct RoleJwtLogin {
    role: Option<String>,
    jwt: Option<String>,
}

/// JWT and Kubernetes logins: `role` is the Leash identity bound to a JWT issuer.
pub async fn jwt_login(
    State(state): State<AppState>,
    remote: ConnectInfo<SocketAddr>,
    note: AuditNote,
    Extension(id): Extension<RequestId>,
    VaultJson(req): VaultJson<RoleJwtLogin>,
) -> Result<Response, ApiError> {
    let (Some(identity), Some(jwt)) = (req.role, req.jwt) else {
        return Err(ApiError::bad_request(
            "give role (the Leash identity bound to the JWT's issuer) and jwt",
        ));
    };
    let login = JwtLogin { identity, jwt };
    let axum::Json(created) = super::super::auth::jwt_login(State(state), remote, note, ApiJson(login)).await?;
    Ok(login_answer(&id, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_are_seconds_or_durations() {
        assert_eq!(increment_text(Some(json!(3600))).unwrap().as_deref(), Some("3600s"));
        assert_eq!(increment_text(Some(json!("60"))).unwrap().as_deref(), Some("60s"));
        assert_eq!(increment_text(Some(json!("1h"))).unwrap().as_deref(), Some("1h"));
        assert_eq!(increment_text(None).unwrap(), None);
        assert!(increment_text(Some(json!(-1))).is_err());
        assert!(increment_text(Some(json!([1]))).is_err());
    }
}
