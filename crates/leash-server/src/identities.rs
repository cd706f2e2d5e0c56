//! Identities and their credentials: creating and updating users and
//! services, hashing passwords (Argon2id) and client secrets (SHA-256 of a
//! 256-bit random secret), checking them at login, and issuing login tokens.
//!
//! Passwords and client secrets exist in plaintext only while a request is
//! handled; only their hashes are stored, and neither is ever logged or echoed.

use std::collections::BTreeMap;
use std::net::IpAddr;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use leash_core::api::{
    ClientSecretOptions, IdentityCreate, IdentityInfo, IdentityKind, IdentityUpdate, JwtBinding, JwtIssuer,
    TokenCreated,
};
use leash_core::names::{Name, NameKind};
use leash_core::token;
use leash_store::{DocumentKind, IdentityRow, TokenRecord};
use zeroize::Zeroizing;

use crate::error::{ApiError, ErrorKind};
use crate::state::Domain;
use crate::time::{now_millis, rfc3339};

/// Marker for identity names (same charset as project names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity;
impl NameKind for Identity {
    const KIND: &'static str = "identity name";
}

/// Marker for group names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group;
impl NameKind for Group {
    const KIND: &'static str = "group name";
}

pub type IdentityName = Name<Identity>;
pub type GroupName = Name<Group>;

/// Default TTL of login tokens, and how far renewals may take them.
const DEFAULT_TOKEN_TTL: &str = "1h";
const DEFAULT_TOKEN_MAX_TTL: &str = "24h";
const MIN_PASSWORD_LEN: usize = 8;
const MAX_METADATA_VALUE: usize = 256;

/// Parses a duration such as `30m`, `1h`, `7d` into milliseconds.
pub fn parse_duration(field: &str, text: &str) -> Result<i64, ApiError> {
    let d = humantime::parse_duration(text)
        .map_err(|e| ApiError::bad_request(format!("{field}: {text:?} is not a duration like 30m, 1h or 7d ({e})")))?;
    if d.is_zero() {
        return Err(ApiError::bad_request(format!("{field} must be longer than zero")));
    }
    i64::try_from(d.as_millis()).map_err(|_| ApiError::bad_request(format!("{field} is too long")))
}

fn format_duration(ms: i64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(ms.max(0) as u64)).to_string()
}

/// Hashes a password with Argon2id (default parameters: 19 MiB, 2 passes), off the async threads.
pub async fn hash_password(password: Zeroizing<String>) -> Result<String, ApiError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::bad_request(format!(
            "the password is too short: use at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal("hashing a password", e))
    })
    .await
    .map_err(|e| ApiError::internal("hashing a password", e))?
}

/// A hash of a random password nobody knows, so checking an unknown user
/// costs as much as checking a known one (no user enumeration by timing).
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            let random = token::generate_token();
            Argon2::default()
                .hash_password(random.as_bytes(), &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

/// Checks a password against a stored hash (or the dummy hash), off the async threads.
pub async fn verify_password(password: Zeroizing<String>, stored: Option<String>) -> bool {
    let known = stored.is_some();
    let ok = tokio::task::spawn_blocking(move || {
        let hash = stored.unwrap_or_else(dummy_hash);
        PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    ok && known
}

/// Checks that every named policy exists (and none is the reserved `root`).
pub fn check_policies(state: &Domain, names: &[String]) -> Result<(), ApiError> {
    let snapshot = state.directory.snapshot();
    for name in names {
        if name == "root" {
            return Err(ApiError::bad_request(
                "the root policy cannot be attached; use `leash operator generate-root` for a root token",
            ));
        }
        if !snapshot.policies.contains_key(name) {
            return Err(ApiError::bad_request(format!(
                "policy {name} does not exist; write it first with `leash policy write {name} FILE`"
            )));
        }
    }
    Ok(())
}

fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<String, ApiError> {
    for (key, value) in metadata {
        leash_core::names::ProjectName::parse(key).map_err(|_| {
            ApiError::bad_request(format!("metadata key {key:?} must use letters, digits, '_', '-', '.'"))
        })?;
        if value.len() > MAX_METADATA_VALUE || value.chars().any(char::is_control) {
            return Err(ApiError::bad_request(format!(
                "metadata {key}: values are at most {MAX_METADATA_VALUE} printable characters"
            )));
        }
    }
    serde_json::to_string(metadata).map_err(|e| ApiError::internal("encoding metadata", e))
}

fn check_cidrs(cidrs: &[String]) -> Result<(), ApiError> {
    for cidr in cidrs {
        cidr.parse::<ipnet::IpNet>()
            .map_err(|_| ApiError::bad_request(format!("{cidr:?} is not a network like 10.0.0.0/8 or fd00::/8")))?;
    }
    Ok(())
}

async fn check_jwt_binding(state: &Domain, binding: &Option<JwtBinding>) -> Result<Option<String>, ApiError> {
    let Some(b) = binding else { return Ok(None) };
    crate::jwt::validate_binding(b).map_err(|e| ApiError::bad_request(format!("jwt: {e}")))?;
    if state
        .store
        .document_get(leash_store::DocumentKind::JwtIssuer, &b.issuer)
        .await?
        .is_none()
    {
        return Err(ApiError::bad_request(format!(
            "jwt: issuer {} is not configured; add it with `leash jwt issuer write {} ...`",
            b.issuer, b.issuer
        )));
    }
    serde_json::to_string(b)
        .map(Some)
        .map_err(|e| ApiError::internal("encoding a JWT binding", e))
}

/// A fresh client id and secret, and the secret's hash and limits for storage.
struct NewSecret {
    client_id: String,
    secret: Zeroizing<String>,
}

fn new_client_secret(row: &mut IdentityRow, options: &ClientSecretOptions, now: i64) -> Result<NewSecret, ApiError> {
    check_cidrs(&options.allowed_cidrs)?;
    let client_id = row
        .client_id
        .clone()
        .unwrap_or_else(|| format!("cid_{}", token::generate_accessor()));
    let secret = token::generate_client_secret();
    row.client_id = Some(client_id.clone());
    row.client_secret_hash = Some(token::token_hash(&secret));
    row.client_secret_expires_at = options
        .secret_ttl
        .as_deref()
        .map(|ttl| parse_duration("secret_ttl", ttl).map(|ms| now + ms))
        .transpose()?;
    row.client_secret_uses_left = options.secret_uses.map(i64::from);
    row.allowed_cidrs = options.allowed_cidrs.clone();
    Ok(NewSecret { client_id, secret })
}

/// Validates a creation request and stores the identity; returns the client
/// id and secret (shown once) for services.
pub async fn create(state: &Domain, req: IdentityCreate) -> Result<(IdentityRow, Option<(String, String)>), ApiError> {
    let name = IdentityName::parse(&req.name)?;
    check_policies(state, &req.policies)?;
    let metadata = check_metadata(&req.metadata)?;
    let jwt_binding = check_jwt_binding(state, &req.jwt).await?;
    let now = now_millis();
    let mut row = IdentityRow {
        id: 0,
        name: name.as_str().to_owned(),
        kind: String::new(),
        policies: req.policies.clone(),
        metadata,
        password_hash: None,
        client_id: None,
        client_secret_hash: None,
        client_secret_expires_at: None,
        client_secret_uses_left: None,
        allowed_cidrs: Vec::new(),
        jwt_binding,
        token_ttl_ms: parse_duration("token_ttl", req.token_ttl.as_deref().unwrap_or(DEFAULT_TOKEN_TTL))?,
        token_max_ttl_ms: parse_duration(
            "token_max_ttl",
            req.token_max_ttl.as_deref().unwrap_or(DEFAULT_TOKEN_MAX_TTL),
        )?,
        created_at: now,
    };
    if row.token_ttl_ms > row.token_max_ttl_ms {
        return Err(ApiError::bad_request("token_ttl must not be longer than token_max_ttl"));
    }
    let mut credentials = None;
    match req.kind {
        IdentityKind::User => {
            row.kind = "user".into();
            if req.client.is_some() || req.jwt.is_some() {
                return Err(ApiError::bad_request(
                    "users log in with a password; client secrets and JWT bindings are for services",
                ));
            }
            let password = req
                .password
                .ok_or_else(|| ApiError::bad_request("a user needs a password"))?;
            row.password_hash = Some(hash_password(Zeroizing::new(password)).await?);
        }
        IdentityKind::Service => {
            row.kind = "service".into();
            if req.password.is_some() {
                return Err(ApiError::bad_request(
                    "services have no password; they log in with a client secret or JWT",
                ));
            }
            let wants_secret = req.client.is_some() || req.jwt.is_none();
            if wants_secret {
                let secret = new_client_secret(&mut row, &req.client.unwrap_or_default(), now)?;
                credentials = Some((secret.client_id, secret.secret.to_string()));
            }
        }
    }
    let stored = state.store.identity_create(&row).await?;
    state.directory.reload(&*state.store).await?;
    Ok((stored, credentials))
}

/// Applies an update request to a stored identity.
pub async fn update(state: &Domain, mut row: IdentityRow, req: IdentityUpdate) -> Result<IdentityRow, ApiError> {
    if let Some(policies) = req.policies {
        check_policies(state, &policies)?;
        row.policies = policies;
    }
    if let Some(metadata) = req.metadata {
        row.metadata = check_metadata(&metadata)?;
    }
    if let Some(password) = req.password {
        if row.kind != "user" {
            return Err(ApiError::bad_request("only users have a password"));
        }
        row.password_hash = Some(hash_password(Zeroizing::new(password)).await?);
    }
    if req.jwt.is_some() {
        if row.kind != "service" {
            return Err(ApiError::bad_request("only services log in with JWT"));
        }
        row.jwt_binding = check_jwt_binding(state, &req.jwt).await?;
    }
    if let Some(ttl) = req.token_ttl {
        row.token_ttl_ms = parse_duration("token_ttl", &ttl)?;
    }
    if let Some(ttl) = req.token_max_ttl {
        row.token_max_ttl_ms = parse_duration("token_max_ttl", &ttl)?;
    }
    if row.token_ttl_ms > row.token_max_ttl_ms {
        return Err(ApiError::bad_request("token_ttl must not be longer than token_max_ttl"));
    }
    state.store.identity_update(&row).await?;
    state.directory.reload(&*state.store).await?;
    Ok(row)
}

/// Replaces a service's client secret (keeping its limits); the old one stops working.
pub async fn rotate_secret(state: &Domain, mut row: IdentityRow) -> Result<(String, String), ApiError> {
    if row.kind != "service" {
        return Err(ApiError::bad_request("only services have a client secret"));
    }
    let now = now_millis();
    let ttl_ms = row
        .client_secret_expires_at
        .zip(row.client_id.as_ref())
        .map(|(expires, _)| expires - now);
    let options = ClientSecretOptions {
        allowed_cidrs: row.allowed_cidrs.clone(),
        secret_ttl: ttl_ms.filter(|ms| *ms > 0).map(format_duration),
        secret_uses: None,
    };
    let secret = new_client_secret(&mut row, &options, now)?;
    state.store.identity_update(&row).await?;
    Ok((secret.client_id, secret.secret.to_string()))
}

/// An identity as the API shows it.
pub fn info(state: &Domain, row: &IdentityRow) -> IdentityInfo {
    let snapshot = state.directory.snapshot();
    let groups = snapshot
        .identities
        .get(&row.id)
        .map(|e| e.groups.clone())
        .unwrap_or_default();
    IdentityInfo {
        name: row.name.clone(),
        kind: if row.kind == "user" {
            IdentityKind::User
        } else {
            IdentityKind::Service
        },
        policies: row.policies.clone(),
        groups,
        metadata: serde_json::from_str(&row.metadata).unwrap_or_default(),
        client_id: row.client_id.clone(),
        client_secret_expires_at: row.client_secret_expires_at.map(rfc3339),
        client_secret_uses_left: row.client_secret_uses_left.map(|n| n.max(0) as u32),
        allowed_cidrs: row.allowed_cidrs.clone(),
        jwt: row.jwt_binding.as_deref().and_then(|j| serde_json::from_str(j).ok()),
        token_ttl: format_duration(row.token_ttl_ms),
        token_max_ttl: format_duration(row.token_max_ttl_ms),
        created_at: rfc3339(row.created_at),
    }
}

/// Hashes a presented client secret for nothing, so a login with an unknown
/// client id costs what a wrong secret for a known one costs.
pub fn hash_client_secret_anyway(presented: &str) {
    let dummy = token::token_hash("lsc_dummy");
    std::hint::black_box(
        token::is_well_formed_client_secret(presented) && token::hashes_equal(&dummy, &token::token_hash(presented)),
    );
}

/// Why a client-secret login is refused (all map to the same 401 for the caller).
pub fn check_client_secret(row: &IdentityRow, presented: &str, source: IpAddr) -> Result<(), &'static str> {
    let Some(stored) = &row.client_secret_hash else {
        return Err("the identity has no client secret");
    };
    if !token::is_well_formed_client_secret(presented) || !token::hashes_equal(stored, &token::token_hash(presented)) {
        return Err("wrong client secret");
    }
    if row.client_secret_expires_at.is_some_and(|t| t <= now_millis()) {
        return Err("the client secret has expired");
    }
    if !row.allowed_cidrs.is_empty()
        && !row
            .allowed_cidrs
            .iter()
            .filter_map(|c| c.parse::<ipnet::IpNet>().ok())
            .any(|net| net.contains(&source))
    {
        return Err("the source address is not in the identity's allowed networks");
    }
    Ok(())
}

/// Stores and returns a new login token for `row`.
pub async fn issue_login_token(state: &Domain, row: &IdentityRow, method: &str) -> Result<TokenCreated, ApiError> {
    let now = now_millis();
    let secret = token::generate_token();
    let record = TokenRecord {
        hash: token::token_hash(&secret),
        accessor: token::generate_accessor(),
        display_name: row.name.clone(),
        policies: Vec::new(),
        is_root: false,
        created_at: now,
        expires_at: Some(now + row.token_ttl_ms),
        identity_id: Some(row.id),
        auth_method: method.to_owned(),
        ttl_ms: Some(row.token_ttl_ms),
        max_expires_at: Some(now + row.token_max_ttl_ms),
    };
    state.store.token_create(&record).await?;
    let snapshot = state.directory.snapshot();
    let policies = snapshot
        .identities
        .get(&row.id)
        .map(|e| e.policies.clone())
        .unwrap_or_default();
    Ok(created(secret, &record, Some(row.name.clone()), policies))
}

/// The API answer for a newly created token.
pub fn created(
    secret: Zeroizing<String>,
    record: &TokenRecord,
    identity: Option<String>,
    policies: Vec<String>,
) -> TokenCreated {
    TokenCreated {
        token: secret.to_string(),
        accessor: record.accessor.clone(),
        identity,
        policies,
        expires_at: record.expires_at.map(rfc3339),
        max_expires_at: record.max_expires_at.map(rfc3339),
    }
}

/// The 401 every failed login answers with, whatever the reason.
pub fn login_failed() -> ApiError {
    ApiError::new(
        ErrorKind::Unauthorized,
        "login_failed",
        "login failed: wrong or unknown credentials",
    )
}

/// Deletes an identity and everything tied to it.
pub async fn delete(state: &Domain, row: &IdentityRow) -> Result<(), ApiError> {
    state.store.identity_delete(row.id).await?;
    state.tokens.clear();
    state.directory.reload(&*state.store).await?;
    Ok(())
}

/// The user (not service) identity with this name, if any.
pub async fn user(state: &Domain, name: &str) -> Result<Option<IdentityRow>, ApiError> {
    Ok(state.store.identity_get(name).await?.filter(|r| r.kind == "user"))
}

/// The service identity with this client id, if any.
pub async fn by_client_id(state: &Domain, client_id: &str) -> Result<Option<IdentityRow>, ApiError> {
    Ok(state.store.identity_get_by_client_id(client_id).await?)
}

/// Counts one use of an identity's client secret; `false` when it has none left.
pub async fn use_client_secret(state: &Domain, identity_id: i64) -> Result<bool, ApiError> {
    Ok(state.store.client_secret_use(identity_id).await?)
}

/// The identity a JWT login names, its binding and its issuer; or why there is none.
pub async fn jwt_identity(
    state: &Domain,
    name: &str,
) -> Result<Result<(leash_store::IdentityRow, JwtBinding, JwtIssuer), String>, ApiError> {
    let Some(row) = state.store.identity_get(name).await? else {
        return Ok(Err("no such identity".into()));
    };
    let Some(text) = row.jwt_binding.as_deref() else {
        return Ok(Err("the identity has no JWT binding".into()));
    };
    let binding: JwtBinding = match serde_json::from_str(text) {
        Ok(binding) => binding,
        Err(e) => {
            tracing::error!(identity = %row.name, error = %e, "stored JWT binding does not parse");
            return Ok(Err("the identity's stored JWT binding does not parse".into()));
        }
    };
    let Some(doc) = state
        .store
        .document_get(DocumentKind::JwtIssuer, &binding.issuer)
        .await?
    else {
        tracing::error!(identity = %row.name, issuer = %binding.issuer,
            "JWT login refused: the identity's issuer is not configured");
        return Ok(Err(format!("JWT issuer {} is not configured", binding.issuer)));
    };
    let issuer = match serde_json::from_str::<JwtIssuer>(&doc.body) {
        Ok(issuer) => JwtIssuer {
            name: doc.name,
            ..issuer
        },
        Err(e) => {
            tracing::error!(issuer = %doc.name, error = %e, "stored JWT issuer does not parse");
            return Ok(Err(format!("JWT issuer {} does not parse", doc.name)));
        }
    };
    Ok(Ok((row, binding, issuer)))
}
