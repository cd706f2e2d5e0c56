//! JWT/OIDC verification for service-identity login (`POST /api/v1/auth/jwt/login`).
//!
//! A service (a GitHub Actions job, a Kubernetes pod) logs in with a JWT that
//! its platform signed. This module decides whether such a token proves the
//! identity it claims: it owns
//!
//! - checking a configured [`JwtIssuer`] ([`validate_issuer`], also run when
//!   an issuer is written, so a bad config is a clear 400 and never a
//!   surprise at login),
//! - the issuer's public keys ([`keys`]): an inline JWKS, a JWKS file (re-read
//!   when its modification time or size changes), a JWKS URL (fetched with a
//!   timeout, cached, re-fetched once when a token names an unknown `kid`, with
//!   a minimum interval between forced re-fetches), or PEM public keys and
//!   certificates,
//! - verifying a token ([`JwtVerifier::verify`]): allowed algorithm, key
//!   selection by `kid`, signature, `exp` (required), `nbf`, `iss`, `aud`
//!   (60 s leeway for clock skew), then the identity's [`JwtBinding`].
//!
//! All signature and token parsing is done by the `jsonwebtoken` crate (the
//! RustCrypto backend); nothing here implements crypto.
//!
//! This module must never:
//! - log, store, or put into an error message a JWT (only its claims, which
//!   the caller already holds, may appear in errors);
//! - accept an unsigned token (`alg: none`) or an HMAC token (`HS256`…): those
//!   would need a shared secret, and a JWKS that holds one (`kty: oct`) is a
//!   configuration error;
//! - let the token choose its key source (`jku`, `x5u`, `jwk` header fields
//!   are ignored: keys come only from the issuer's configuration).
//!
//! # Claim names in bindings
//!
//! A `bound_claims` name is first looked up as a literal top-level claim
//! (`repository`, or the flat `kubernetes.io/serviceaccount/namespace` of
//! legacy Kubernetes tokens). Only if that key is absent and the name contains
//! `/` is it walked as a path through nested objects:
//! `kubernetes.io/namespace` finds `{"kubernetes.io": {"namespace": …}}` in a
//! projected service-account token, `kubernetes.io/serviceaccount/name`
//! finds the service account's name. A claim matches when it is a string equal
//! to the bound value, an array containing that string, or a number or boolean
//! whose JSON text equals it (`true`, `42`).
//!
//! # Errors
//!
//! [`JwtError::class`] tells the route what went wrong: a
//! [`JwtErrorClass::Config`] error is the operator's to fix (400 when an
//! issuer is written), [`JwtErrorClass::KeysUnavailable`] means the issuer's
//! JWKS could not be fetched, and [`JwtErrorClass::Rejected`] means the token
//! does not prove the identity. At login every class answers the same 401
//! `login_failed` (an unauthenticated caller learns nothing about the
//! identity); the error itself goes to the log and the audit record.
//!
//! [`JwtIssuer`]: leash_core::api::JwtIssuer
//! [`JwtBinding`]: leash_core::api::JwtBinding

mod config;
mod error;
mod keys;
mod verify;

use std::sync::Arc;
use std::time::Duration;

pub use config::{DEFAULT_ALGORITHMS, SUPPORTED_ALGORITHMS, validate_binding, validate_issuer};
pub use error::{JwtError, JwtErrorClass};
pub use verify::VerifiedJwt;

/// How the JWKS cache behaves. [`Default`] is what the server uses.
#[derive(Debug, Clone)]
pub struct JwksCacheSettings {
    /// How long a fetched JWKS is used before it is fetched again.
    pub ttl: Duration,
    /// The least time between two fetches of one URL, whether forced by an
    /// unknown `kid` or retried after a failure: a flood of tokens with bogus
    /// `kid`s makes at most one request per interval to the issuer.
    pub min_refetch_interval: Duration,
    /// Timeout of one JWKS request (connect and body).
    pub fetch_timeout: Duration,
    /// How long past `ttl` the last good JWKS is still used while re-fetching
    /// it fails (an issuer's outage should not stop every login at once).
    pub max_stale: Duration,
    /// The largest JWKS document accepted, in bytes.
    pub max_jwks_bytes: usize,
}

impl Default for JwksCacheSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(600),
            min_refetch_interval: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
            max_stale: Duration::from_secs(3600),
            max_jwks_bytes: 1024 * 1024,
        }
    }
}

/// Verifies JWT logins against configured issuers. Cheap to clone: clones
/// share one key cache.
#[derive(Clone)]
pub struct JwtVerifier {
    cache: Arc<keys::KeyCache>,
}

impl JwtVerifier {
    /// A verifier with the default cache settings, fetching JWKS URLs with `http`.
    pub fn new(http: reqwest::Client) -> Self {
        Self::with_settings(http, JwksCacheSettings::default())
    }

    /// A verifier with explicit cache settings (tests use short intervals).
    pub fn with_settings(http: reqwest::Client, settings: JwksCacheSettings) -> Self {
        Self {
            cache: Arc::new(keys::KeyCache::new(http, settings)),
        }
    }
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_is_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<JwtVerifier>();
    }
}
