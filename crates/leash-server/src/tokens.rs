//! Tokens: made directly (`token create`, with its TTL rules), looked up by
//! value or accessor, renewed within their max TTL, revoked. Every change
//! invalidates the token cache itself (which also ends the streams the token
//! holds open). Login tokens are issued by [`crate::identities`]. No HTTP here.

use std::sync::Arc;

use leash_core::api::{TokenCreate, TokenInfo, TokenRef};
use leash_core::policy::IdentityContext;
use leash_core::token;
use leash_store::TokenRecord;
use zeroize::Zeroizing;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorKind};
use crate::grants::{self, Grant, Stage, authorize_grants};
use crate::identities::{IdentityName, check_policies, parse_duration};
use crate::state::Domain;
use crate::time::{now_millis, rfc3339};

/// Default TTL and max TTL of tokens made with `token create`.
const DIRECT_TOKEN_TTL: &str = "1h";
const DIRECT_TOKEN_MAX_TTL: &str = "32d";

/// `token create` by `caller`: the new token may carry only what the caller
/// could grant (`grants::authorize_grants`, under the admin lock).
pub async fn create(
    state: &Domain,
    caller: &Caller,
    request: TokenCreate,
) -> Result<(Zeroizing<String>, TokenRecord), ApiError> {
    let display_name = request
        .display_name
        .unwrap_or_else(|| format!("token-by-{}", caller.actor()));
    IdentityName::parse(&display_name)?;
    let lock = grants::lock().await;
    let new = Grant::Principal {
        who: "the new token".into(),
        stage: Stage::After,
        policies: request.policies.clone(),
        // What `Caller::new` gives a token without an identity.
        context: IdentityContext::named(&display_name),
    };
    authorize_grants(&lock, state, caller, &[new])?;
    let made = create_direct(
        state,
        display_name,
        request.policies,
        request.ttl.as_deref(),
        request.max_ttl.as_deref(),
    )
    .await?;
    drop(lock);
    Ok(made)
}

/// Makes a token carrying `policies` (which must exist); returns its secret, shown once, and its record.
async fn create_direct(
    state: &Domain,
    display_name: String,
    policies: Vec<String>,
    ttl: Option<&str>,
    max_ttl: Option<&str>,
) -> Result<(Zeroizing<String>, TokenRecord), ApiError> {
    check_policies(state, &policies)?;
    let ttl = parse_duration("ttl", ttl.unwrap_or(DIRECT_TOKEN_TTL))?;
    let max_ttl = parse_duration("max_ttl", max_ttl.unwrap_or(DIRECT_TOKEN_MAX_TTL))?;
    if ttl > max_ttl {
        return Err(ApiError::bad_request("ttl must not be longer than max_ttl"));
    }
    let now = now_millis();
    let secret = token::generate_token();
    let record = TokenRecord {
        hash: token::token_hash(&secret),
        accessor: token::generate_accessor(),
        display_name,
        policies,
        is_root: false,
        created_at: now,
        expires_at: Some(now + ttl),
        identity_id: None,
        auth_method: "token".into(),
        ttl_ms: Some(ttl),
        max_expires_at: Some(now + max_ttl),
    };
    state.store.token_create(&record).await?;
    Ok((secret, record))
}

/// A token record as the API shows it, with the policies in force.
pub fn info(state: &Domain, record: &Arc<TokenRecord>) -> TokenInfo {
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

/// Extends a token by `increment` (its own TTL when `None`), never past its max TTL.
pub async fn renew(state: &Domain, record: &TokenRecord, increment: Option<&str>) -> Result<TokenInfo, ApiError> {
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
            return Err(ApiError::new(ErrorKind::InvalidInput, "max_ttl_exceeded", message));
        }
        renewed.expires_at = Some(wanted);
        state.store.token_set_expiry(&record.hash, renewed.expires_at).await?;
        state.tokens.invalidate(&record.hash);
    }
    Ok(info(state, &Arc::new(renewed)))
}

/// Revokes a token at once.
pub async fn revoke(state: &Domain, record: &TokenRecord) -> Result<(), ApiError> {
    state.store.token_delete(&record.hash).await?;
    state.tokens.invalidate(&record.hash);
    tracing::info!(accessor = %record.accessor, "token revoked");
    Ok(())
}

/// Finds the token a `TokenRef` names (by value or accessor).
pub async fn referenced(state: &Domain, reference: &TokenRef) -> Result<TokenRecord, ApiError> {
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
