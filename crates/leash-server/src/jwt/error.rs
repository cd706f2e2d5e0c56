//! Why a JWT login or an issuer configuration failed. No message here ever
//! contains the JWT itself; claim values may appear (the caller holds them).

/// How the HTTP layer should treat a [`JwtError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtErrorClass {
    /// The issuer's configuration (or the identity's binding) is wrong: 400
    /// when an issuer is written; at login, logged as an error (the caller
    /// gets the 401 every refused login gets).
    Config,
    /// The issuer's keys could not be obtained right now (the JWKS URL did not
    /// answer, or answered with something that is not a JWKS); at login, the
    /// caller gets the 401 every refused login gets.
    KeysUnavailable,
    /// The token does not prove the identity (401 at login).
    Rejected,
}

/// One variant per reason a token is refused or an issuer is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    // --- issuer configuration ---
    #[error("the issuer's `issuer` (the required `iss` claim) is empty")]
    EmptyIssuer,
    #[error("the issuer has no audiences: set at least one accepted `aud` value in `audiences`")]
    NoAudience,
    #[error("the issuer's audience #{0} is empty")]
    EmptyAudience(usize),
    #[error("the issuer has no key source: set exactly one of `jwks`, `jwks_file`, `jwks_url` or `pem_keys`")]
    NoKeySource,
    #[error(
        "the issuer has several key sources ({0}): set exactly one of `jwks`, `jwks_file`, `jwks_url` or `pem_keys`"
    )]
    SeveralKeySources(String),
    #[error("unknown algorithm `{0}`: use one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA")]
    UnknownAlgorithm(String),
    #[error(
        "algorithm `{0}` cannot be allowed: Leash accepts only asymmetric signatures (no `none`, no HMAC shared secrets)"
    )]
    ForbiddenAlgorithm(String),
    #[error("the JWKS {source_name} is invalid: {reason}")]
    InvalidJwks { source_name: String, reason: String },
    #[error("PEM key #{index} of the issuer is invalid: {reason}")]
    InvalidPem { index: usize, reason: String },
    #[error("none of the issuer's keys ({keys}) can verify its allowed algorithms ({algorithms})")]
    NoUsableKey { keys: String, algorithms: String },
    #[error("the issuer's jwks_url `{url}` is not usable: {reason}")]
    InvalidJwksUrl { url: String, reason: String },
    #[error("the issuer's jwks_file `{path}` is not usable: {reason}")]
    InvalidJwksFile { path: String, reason: String },
    #[error("cannot read the JWKS file {path}: {reason}")]
    JwksFile { path: String, reason: String },
    #[error("the identity's JWT binding names issuer `{bound}`, but the token was checked against issuer `{issuer}`")]
    BindingIssuer { bound: String, issuer: String },
    #[error("the identity's JWT binding names no issuer")]
    BindingNoIssuer,
    #[error(
        "the identity's JWT binding binds no claim: set `bound_subject` or `bound_claims`, otherwise every token the issuer signs for the audience would log in as this identity"
    )]
    UnboundBinding,
    #[error("the identity's JWT binding has a bound claim with an empty name")]
    EmptyBoundClaimName,
    #[error("the identity's JWT binding requires an empty value for `{0}`")]
    EmptyBoundValue(String),

    // --- keys unavailable ---
    #[error("cannot fetch JWKS from {url}: {reason}")]
    JwksFetch { url: String, reason: String },

    // --- the token ---
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("algorithm {alg} is not allowed (the issuer allows {allowed})")]
    AlgorithmNotAllowed { alg: String, allowed: String },
    #[error("the token's header marks `{0}` as critical, and Leash does not understand any critical header")]
    CriticalHeader(String),
    #[error("no key with kid `{0}` in the issuer's JWKS")]
    UnknownKid(String),
    #[error("the key with kid `{kid}` cannot verify {alg} signatures: {reason}")]
    KeyMismatch { kid: String, alg: String, reason: String },
    #[error("none of the issuer's keys can verify {0} signatures")]
    NoKeyForAlgorithm(String),
    #[error("signature verification failed")]
    BadSignature,
    #[error("the token expired at {0}")]
    Expired(String),
    #[error("the token is not valid before {0}")]
    NotYetValid(String),
    #[error("the token has no `{0}` claim, which is required")]
    MissingClaim(String),
    #[error("the token's `{0}` claim has the wrong type")]
    InvalidClaimType(String),
    #[error("the token was issued by {actual}, not by the configured issuer {expected}")]
    WrongIssuer { actual: String, expected: String },
    #[error("the token's audience {actual} is not one of the issuer's audiences {expected}")]
    WrongAudience { actual: String, expected: String },
    #[error("the token's subject is `{actual}`, but the identity requires `{expected}`")]
    WrongSubject { actual: String, expected: String },
    #[error("the token has no `sub` claim, but the identity requires `{0}`")]
    MissingSubject(String),
    #[error("claim `{claim}` is {actual}, but the identity requires `{expected}`")]
    ClaimMismatch {
        claim: String,
        actual: String,
        expected: String,
    },
    #[error("claim `{claim}` is missing, but the identity requires `{expected}`")]
    ClaimMissing { claim: String, expected: String },
}

impl JwtError {
    /// How the HTTP layer should answer this error.
    pub fn class(&self) -> JwtErrorClass {
        use JwtError::*;
        match self {
            EmptyIssuer
            | NoAudience
            | EmptyAudience(_)
            | NoKeySource
            | SeveralKeySources(_)
            | UnknownAlgorithm(_)
            | ForbiddenAlgorithm(_)
            | InvalidJwks { .. }
            | InvalidPem { .. }
            | NoUsableKey { .. }
            | InvalidJwksUrl { .. }
            | InvalidJwksFile { .. }
            | JwksFile { .. }
            | BindingIssuer { .. }
            | BindingNoIssuer
            | UnboundBinding
            | EmptyBoundClaimName
            | EmptyBoundValue(_) => JwtErrorClass::Config,
            JwksFetch { .. } => JwtErrorClass::KeysUnavailable,
            Malformed(_)
            | AlgorithmNotAllowed { .. }
            | CriticalHeader(_)
            | UnknownKid(_)
            | KeyMismatch { .. }
            | NoKeyForAlgorithm(_)
            | BadSignature
            | Expired(_)
            | NotYetValid(_)
            | MissingClaim(_)
            | InvalidClaimType(_)
            | WrongIssuer { .. }
            | WrongAudience { .. }
            | WrongSubject { .. }
            | MissingSubject(_)
            | ClaimMismatch { .. }
            | ClaimMissing { .. } => JwtErrorClass::Rejected,
        }
    }

    /// Whether the issuer's configuration (not the token) is at fault.
    pub fn is_config_error(&self) -> bool {
        self.class() == JwtErrorClass::Config
    }
}
