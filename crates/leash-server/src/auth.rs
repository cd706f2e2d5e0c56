//! Authentication: turns the `Authorization: Bearer` header into a [`Caller`].
//!
//! A handler that takes a `Caller` cannot run for an unauthenticated request.
//! Tokens are checked for shape and checksum first (a typo never reaches
//! storage), then looked up by hash. The token itself is never logged or
//! echoed back.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use leash_core::token;
use leash_store::TokenRecord;

use crate::error::ApiError;
use crate::state::AppState;
use crate::time::now_millis;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: TokenRecord,
}

impl Caller {
    /// The name recorded as the actor of a change.
    pub fn actor(&self) -> &str {
        &self.token.display_name
    }
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// The bearer token of a request, if it sent one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let header = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, value) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(presented) = bearer_token(parts) else {
            return Err(unauthorized(
                "missing_token",
                "this route needs a token: send `Authorization: Bearer lsh_...` (set LEASH_TOKEN or run `leash login`)",
            ));
        };
        if !token::is_well_formed(presented) {
            return Err(unauthorized(
                "invalid_token",
                "the token is not a valid Leash token (wrong shape or checksum)",
            ));
        }
        let hash = token::token_hash(presented);
        let record = state.store.token_lookup(&hash).await?;
        match record {
            Some(record) if token::hashes_equal(&record.hash, &hash) => {
                if record.expires_at.is_some_and(|t| t <= now_millis()) {
                    return Err(unauthorized("invalid_token", "the token has expired"));
                }
                Ok(Caller { token: record })
            }
            _ => Err(unauthorized("invalid_token", "the token is unknown or was revoked")),
        }
    }
}
