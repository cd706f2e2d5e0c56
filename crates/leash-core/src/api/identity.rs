//! JSON shapes of identities, groups, policies, logins and tokens.
//! Durations are strings like `30m`, `1h`, `7d` (humantime syntax).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::REDACTED;

/// `user` (a person with a password) or `service` (client id/secret or JWT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    User,
    Service,
}

/// Binds JWT logins to a service identity: the token must come from `issuer`
/// (a configured issuer's name) and carry every claim in `bound_claims`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JwtBinding {
    pub issuer: String,
    /// Claim name -> required value (strings; arrays in the token match if they contain it).
    #[serde(default)]
    pub bound_claims: BTreeMap<String, String>,
    /// Required `sub`, if any.
    #[serde(default)]
    pub bound_subject: Option<String>,
}

/// Limits on a service identity's client secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClientSecretOptions {
    /// Source networks allowed to log in with the secret (`10.0.0.0/8`); empty = any.
    #[serde(default)]
    pub allowed_cidrs: Vec<String>,
    /// How long the secret stays valid (`90d`); none = until rotated.
    #[serde(default)]
    pub secret_ttl: Option<String>,
    /// How many logins the secret allows; none = unlimited.
    #[serde(default)]
    pub secret_uses: Option<u32>,
}

/// `POST /api/v1/identities`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IdentityCreate {
    pub name: String,
    pub kind: IdentityKind,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Users only: the initial password.
    #[serde(default)]
    pub password: Option<String>,
    /// Services only: issue a client id and secret (default true for services).
    #[serde(default)]
    pub client: Option<ClientSecretOptions>,
    /// Services only: allow JWT/OIDC login.
    #[serde(default)]
    pub jwt: Option<JwtBinding>,
    /// TTL of tokens issued at login (default `1h`).
    #[serde(default)]
    pub token_ttl: Option<String>,
    /// Longest a login token may be renewed to (default `24h`).
    #[serde(default)]
    pub token_max_ttl: Option<String>,
}

/// `PATCH /api/v1/identities/{name}`: fields present are replaced.
#[derive(Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IdentityUpdate {
    #[serde(default)]
    pub policies: Option<Vec<String>>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub jwt: Option<JwtBinding>,
    #[serde(default)]
    pub token_ttl: Option<String>,
    #[serde(default)]
    pub token_max_ttl: Option<String>,
}

/// An identity as listed and shown (never a password or secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentityInfo {
    pub name: String,
    pub kind: IdentityKind,
    pub policies: Vec<String>,
    pub groups: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// Services with a client secret.
    pub client_id: Option<String>,
    pub client_secret_expires_at: Option<String>,
    pub client_secret_uses_left: Option<u32>,
    pub allowed_cidrs: Vec<String>,
    pub jwt: Option<JwtBinding>,
    pub token_ttl: String,
    pub token_max_ttl: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentityList {
    pub identities: Vec<IdentityInfo>,
}

/// Answer to identity creation and secret rotation: the client secret is shown once.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientCredentials {
    pub identity: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Answer to `POST /api/v1/identities`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentityCreated {
    pub identity: IdentityInfo,
    /// For services with a client secret: shown once, stored only hashed.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// `POST /api/v1/groups`, and `PUT /api/v1/groups/{name}` (name ignored there).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupWrite {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupInfo {
    pub name: String,
    pub policies: Vec<String>,
    pub members: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupList {
    pub groups: Vec<GroupInfo>,
}

/// `PUT /api/v1/policies/{name}`: the TOML document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PolicyWrite {
    pub policy: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyInfo {
    pub name: String,
    /// The TOML document as written.
    pub policy: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyList {
    pub policies: Vec<String>,
}

/// `POST /api/v1/policies/check`: would `identity` be allowed `capability` on `path`?
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PolicyCheck {
    pub identity: String,
    /// `project/env/path`.
    pub path: String,
    pub capability: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyCheckResult {
    pub allowed: bool,
    /// Which policy and rule decided, in words.
    pub explanation: String,
    /// The policies that were evaluated.
    pub policies: Vec<String>,
}

/// `POST /api/v1/auth/userpass/login`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserpassLogin {
    pub username: String,
    pub password: String,
}

/// `POST /api/v1/auth/client/login`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClientLogin {
    pub client_id: String,
    pub client_secret: String,
}

/// `POST /api/v1/auth/jwt/login`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JwtLogin {
    /// The service identity to log in as.
    pub identity: String,
    pub jwt: String,
}

/// Answer to every login and to token creation: the token is shown once.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenCreated {
    pub token: String,
    pub accessor: String,
    pub identity: Option<String>,
    pub policies: Vec<String>,
    pub expires_at: Option<String>,
    pub max_expires_at: Option<String>,
}

/// `POST /api/v1/auth/token/create`: a token not tied to a login (discouraged
/// for services: prefer an identity). Needs `admin` on `sys/tokens`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub max_ttl: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `POST /api/v1/auth/token/lookup|renew|revoke`: the token, or its accessor.
#[derive(Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenRef {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub accessor: Option<String>,
    /// Renew only: extend by this much (default: the token's TTL), capped at its max TTL.
    #[serde(default)]
    pub increment: Option<String>,
}

/// `POST /api/v1/auth/token/renew-self`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenRenew {
    #[serde(default)]
    pub increment: Option<String>,
}

/// A configured JWT/OIDC issuer (`PUT /api/v1/auth/jwt/issuers/{name}`).
/// Exactly one key source: `jwks` (inline JSON), `jwks_file`, `jwks_url` or `pem_keys`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JwtIssuer {
    #[serde(default)]
    pub name: String,
    /// Required `iss` claim.
    pub issuer: String,
    /// Accepted `aud` values (at least one).
    pub audiences: Vec<String>,
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    #[serde(default)]
    pub jwks_file: Option<String>,
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default)]
    pub pem_keys: Vec<String>,
    /// Allowed signing algorithms (default: RS256, ES256).
    #[serde(default)]
    pub algorithms: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JwtIssuerList {
    pub issuers: Vec<JwtIssuer>,
}

/// `POST /api/v1/sys/generate-root`: one unseal share per call, or `reset`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GenerateRootRequest {
    #[serde(default)]
    pub share: Option<String>,
    #[serde(default)]
    pub reset: bool,
}

/// Progress of root-token generation; `root_token` once the threshold is met.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GenerateRootStatus {
    pub progress: u8,
    pub threshold: u8,
    pub root_token: Option<String>,
}

impl fmt::Debug for IdentityCreate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityCreate")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("policies", &self.policies)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for IdentityUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityUpdate")
            .field("policies", &self.policies)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish_non_exhaustive()
    }
}

macro_rules! redacted_debug {
    ($($ty:ident),*) => {
        $(impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), " {{ {} }}"), REDACTED)
            }
        })*
    };
}

redacted_debug!(
    ClientCredentials,
    IdentityCreated,
    UserpassLogin,
    ClientLogin,
    JwtLogin,
    TokenCreated,
    TokenRef,
    GenerateRootRequest,
    GenerateRootStatus
);
