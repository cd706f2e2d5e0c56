//! An issuer's public keys: parsing JWKS documents and PEM keys into
//! [`KeySet`]s, and the cache of JWKS fetched from URLs or read from files.
//!
//! Keys are checked when they are loaded: RSA keys must have 2048 to 4096
//! bits, EC keys must be on P-256 or P-384, Ed25519 keys must be valid
//! points, and a symmetric (`kty: oct`) key or a private key is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use serde_json::Value;

use super::JwksCacheSettings;
use super::config::{KeySource, alg_name, check_url};
use super::error::JwtError;

const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 4096;
/// A JWKS file is re-read at least this often even if its mtime and size
/// look unchanged (coarse timestamps on some filesystems).
const FILE_RECHECK: Duration = Duration::from_secs(60);

/// What a key is, as far as choosing an algorithm goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa { bits: usize },
    P256,
    P384,
    Ed25519,
}

/// One public key of an issuer.
#[derive(Clone)]
pub(crate) struct VerifyingKey {
    pub kid: Option<String>,
    /// The JWK's `alg`, if it names one: the key is then used for it only.
    pub alg: Option<Algorithm>,
    pub kind: KeyKind,
    pub key: DecodingKey,
}

impl VerifyingKey {
    /// `Ok` if this key can verify `alg` signatures, or why not.
    pub fn supports(&self, alg: Algorithm) -> Result<(), String> {
        if let Some(own) = self.alg
            && own != alg
        {
            return Err(format!("the key is declared for {} only", alg_name(own)));
        }
        let fits = match self.kind {
            KeyKind::Rsa { .. } => matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
            KeyKind::P256 => alg == Algorithm::ES256,
            KeyKind::P384 => alg == Algorithm::ES384,
            KeyKind::Ed25519 => alg == Algorithm::EdDSA,
        };
        if fits {
            Ok(())
        } else {
            Err(format!("it is an {} key", self.kind_name()))
        }
    }

    fn kind_name(&self) -> String {
        match self.kind {
            KeyKind::Rsa { bits } => format!("RSA-{bits}"),
            KeyKind::P256 => "EC P-256".into(),
            KeyKind::P384 => "EC P-384".into(),
            KeyKind::Ed25519 => "Ed25519".into(),
        }
    }

    /// `RSA-2048 key "k1"`, for error messages.
    pub fn describe(&self) -> String {
        match &self.kid {
            Some(kid) => format!("{} key `{}`", self.kind_name(), shorten(kid)),
            None => format!("{} key", self.kind_name()),
        }
    }
}

/// The keys of one issuer.
pub(crate) struct KeySet {
    keys: Vec<VerifyingKey>,
    /// JWKS keys are chosen by the token's `kid`; PEM keys have none, and every
    /// key that fits the algorithm is tried.
    by_kid: bool,
}

impl KeySet {
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        !self.by_kid || self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The keys to try for a token with this `kid` and `alg`. A token without
    /// a `kid` (or an issuer configured with PEM keys) tries every key that
    /// fits the algorithm; with a single key that is simply that key.
    pub fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Result<Vec<&VerifyingKey>, JwtError> {
        if let (Some(kid), true) = (kid, self.by_kid) {
            let named: Vec<_> = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).collect();
            let Some(first) = named.first() else {
                return Err(JwtError::UnknownKid(shorten(kid)));
            };
            let reason = first.supports(alg).err();
            let usable: Vec<_> = named.into_iter().filter(|k| k.supports(alg).is_ok()).collect();
            if usable.is_empty() {
                return Err(JwtError::KeyMismatch {
                    kid: shorten(kid),
                    alg: alg_name(alg),
                    reason: reason.unwrap_or_default(),
                });
            }
            return Ok(usable);
        }
        let usable: Vec<_> = self.keys.iter().filter(|k| k.supports(alg).is_ok()).collect();
        if usable.is_empty() {
            return Err(JwtError::NoKeyForAlgorithm(alg_name(alg)));
        }
        Ok(usable)
    }
}

/// Caps a value taken from a token or a document before it goes into a
/// message, and replaces control characters (no forged log lines).
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

/// Parses a JWKS document (`{"keys": [...]}`). `strict` (an inline JWKS, checked
/// when the issuer is written) refuses any key that cannot be used; otherwise
/// (a JWKS file or URL, published by the platform) such keys are skipped. Keys
/// marked `"use": "enc"` are always skipped, and an HMAC key always refused.
pub(crate) fn parse_jwks(value: &Value, source_name: &str, strict: bool) -> Result<KeySet, JwtError> {
    let invalid = |reason: String| JwtError::InvalidJwks {
        source_name: source_name.to_owned(),
        reason,
    };
    let Some(entries) = value.get("keys").and_then(Value::as_array) else {
        return Err(invalid("expected a JSON object with a `keys` array".into()));
    };
    let mut keys = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match key_from_jwk(entry) {
            Ok(Some(key)) => keys.push(key),
            Ok(None) => {}
            Err(JwkProblem::Refused(reason)) => return Err(invalid(format!("key #{}: {reason}", i + 1))),
            Err(JwkProblem::Unusable(reason)) if strict => {
                return Err(invalid(format!("key #{}: {reason}", i + 1)));
            }
            Err(JwkProblem::Unusable(reason)) => {
                tracing::debug!(source = source_name, key = i + 1, %reason, "skipping a JWKS key");
            }
        }
    }
    if keys.is_empty() {
        return Err(invalid("it holds no usable signing key".into()));
    }
    Ok(KeySet { keys, by_kid: true })
}

enum JwkProblem {
    /// Never acceptable, wherever the JWKS comes from (a shared secret).
    Refused(String),
    /// Not a key Leash can use (unknown type, curve, or malformed).
    Unusable(String),
}

fn key_from_jwk(entry: &Value) -> Result<Option<VerifyingKey>, JwkProblem> {
    use JwkProblem::{Refused, Unusable};
    let jwk: Jwk = serde_json::from_value(entry.clone()).map_err(|e| Unusable(format!("not a JWK ({e})")))?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Ok(None);
    }
    let hmac = "it is a symmetric (shared-secret) key; Leash accepts only asymmetric signatures";
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
        Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
        Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(KeyAlgorithm::HS256 | KeyAlgorithm::HS384 | KeyAlgorithm::HS512) => return Err(Refused(hmac.into())),
        // Encryption keys published next to the signing keys.
        Some(KeyAlgorithm::RSA1_5 | KeyAlgorithm::RSA_OAEP | KeyAlgorithm::RSA_OAEP_256) => return Ok(None),
        Some(_) => {
            let name = entry.get("alg").and_then(Value::as_str).unwrap_or("?");
            return Err(Unusable(format!("unsupported algorithm `{}`", shorten(name))));
        }
    };
    let (kind, key) = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let key = DecodingKey::from_rsa_components(&p.n, &p.e)
                .map_err(|e| Unusable(format!("bad RSA components ({e})")))?;
            let bits = rsa_bits(&key).map_err(Unusable)?;
            (KeyKind::Rsa { bits }, key)
        }
        AlgorithmParameters::EllipticCurve(p) => {
            let kind = match p.curve {
                EllipticCurve::P256 => KeyKind::P256,
                EllipticCurve::P384 => KeyKind::P384,
                _ => return Err(Unusable("unsupported curve: use P-256 or P-384".into())),
            };
            let key = DecodingKey::from_ec_components(&p.x, &p.y)
                .map_err(|e| Unusable(format!("bad EC coordinates ({e})")))?;
            (kind, key)
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            if p.curve != EllipticCurve::Ed25519 {
                return Err(Unusable("unsupported curve: use Ed25519".into()));
            }
            let key = DecodingKey::from_ed_components(&p.x).map_err(|e| Unusable(format!("bad Ed25519 key ({e})")))?;
            (KeyKind::Ed25519, key)
        }
        AlgorithmParameters::OctetKey(_) => return Err(Refused(hmac.into())),
        _ => {
            let kty = entry.get("kty").and_then(Value::as_str).unwrap_or("?");
            return Err(Unusable(format!("unsupported key type `{}`", shorten(kty))));
        }
    };
    check_key(kind, &key).map_err(Unusable)?;
    let key = VerifyingKey {
        kid: jwk.common.key_id.clone(),
        alg,
        kind,
        key,
    };
    if let Some(alg) = alg {
        key.supports(alg)
            .map_err(|_| Unusable(format!("its `alg` {} does not fit its key type", alg_name(alg))))?;
    }
    Ok(Some(key))
}

/// Parses PEM public keys or certificates (RSA, EC P-256/P-384, Ed25519), one
/// PEM block per entry.
pub(crate) fn parse_pem_keys(pems: &[String]) -> Result<KeySet, JwtError> {
    let mut keys = Vec::with_capacity(pems.len());
    for (i, pem) in pems.iter().enumerate() {
        let key = key_from_pem(pem).map_err(|reason| JwtError::InvalidPem { index: i + 1, reason })?;
        keys.push(key);
    }
    Ok(KeySet { keys, by_kid: false })
}

fn key_from_pem(pem: &str) -> Result<VerifyingKey, String> {
    let pem = pem.trim();
    let labels: Vec<&str> = pem
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .map(|l| l.trim_end_matches('-').trim())
        .collect();
    match labels.as_slice() {
        [] => return Err("it holds no PEM block (`-----BEGIN PUBLIC KEY-----`)".into()),
        [label] if label.contains("PRIVATE KEY") => {
            return Err(
                "it is a private key: configure the issuer's public key or certificate, and keep the private key secret"
                    .into(),
            );
        }
        [label] if !matches!(*label, "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE") => {
            return Err(format!(
                "unsupported PEM block `{}`: use PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE",
                shorten(label)
            ));
        }
        [_] => {}
        more => {
            return Err(format!(
                "it holds {} PEM blocks: put each key in its own `pem_keys` entry",
                more.len()
            ));
        }
    }
    let bytes = pem.as_bytes();
    let (kind, key) = if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
        (KeyKind::Rsa { bits: rsa_bits(&key)? }, key)
    } else if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
        // The uncompressed SEC1 point: 0x04 || x || y.
        let kind = match key.try_get_as_bytes().map(<[u8]>::len) {
            Ok(65) => KeyKind::P256,
            Ok(97) => KeyKind::P384,
            _ => return Err("an EC key on an unsupported curve: use P-256 or P-384".into()),
        };
        (kind, key)
    } else if let Ok(key) = DecodingKey::from_ed_pem(bytes) {
        (KeyKind::Ed25519, key)
    } else {
        return Err("not an RSA, EC (P-256, P-384) or Ed25519 public key or certificate".into());
    };
    check_key(kind, &key)?;
    Ok(VerifyingKey {
        kid: None,
        alg: None,
        kind,
        key,
    })
}

/// The size of an RSA public key's modulus, in bits; refuses keys outside 2048..=4096.
fn rsa_bits(key: &DecodingKey) -> Result<usize, String> {
    let n = match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, .. } => n.clone(),
        DecodingKeyKind::SecretOrDer(_) => {
            let jwk = Jwk::from_decoding_key(key, None).map_err(|e| format!("not an RSA public key ({e})"))?;
            let AlgorithmParameters::RSA(p) = jwk.algorithm else {
                return Err("not an RSA public key".into());
            };
            URL_SAFE_NO_PAD
                .decode(p.n.as_bytes())
                .map_err(|e| format!("not an RSA public key ({e})"))?
        }
    };
    let n = match n.iter().position(|b| *b != 0) {
        Some(start) => &n[start..],
        None => return Err("the RSA modulus is zero".into()),
    };
    let bits = n.len() * 8 - n[0].leading_zeros() as usize;
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(format!(
            "an RSA key of {bits} bits: Leash accepts {MIN_RSA_BITS} to {MAX_RSA_BITS} bits"
        ));
    }
    Ok(bits)
}

/// Makes sure an EC or Ed25519 key is a valid point by building a verifier
/// for it (the crypto backend parses the key; the empty signature then fails).
/// RSA keys are parsed only when a signature is checked; `rsa_bits` covers them.
fn check_key(kind: KeyKind, key: &DecodingKey) -> Result<(), String> {
    let alg = match kind {
        KeyKind::Rsa { .. } => return Ok(()),
        KeyKind::P256 => Algorithm::ES256,
        KeyKind::P384 => Algorithm::ES384,
        KeyKind::Ed25519 => Algorithm::EdDSA,
    };
    jsonwebtoken::crypto::verify("", b"", key, alg)
        .map(|_| ())
        .map_err(|_| format!("not a valid {} public key", KeyKind::name(kind)))
}

impl KeyKind {
    fn name(self) -> &'static str {
        match self {
            KeyKind::Rsa { .. } => "RSA",
            KeyKind::P256 => "P-256",
            KeyKind::P384 => "P-384",
            KeyKind::Ed25519 => "Ed25519",
        }
    }
}

/// JWKS fetched from URLs and read from files, shared by every clone of a
/// [`super::JwtVerifier`].
pub(crate) struct KeyCache {
    http: reqwest::Client,
    settings: JwksCacheSettings,
    urls: Mutex<HashMap<String, Arc<tokio::sync::Mutex<UrlState>>>>,
    files: Mutex<HashMap<String, FileEntry>>,
}

#[derive(Default)]
struct UrlState {
    keys: Option<Arc<KeySet>>,
    /// When `keys` were fetched.
    fetched_at: Option<Instant>,
    /// The last request to the URL, successful or not.
    last_attempt: Option<Instant>,
    last_error: Option<JwtError>,
}

struct FileEntry {
    modified: Option<SystemTime>,
    len: u64,
    read_at: Instant,
    keys: Arc<KeySet>,
}

impl KeyCache {
    pub fn new(http: reqwest::Client, settings: JwksCacheSettings) -> Self {
        Self {
            http,
            settings,
            urls: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
        }
    }

    /// The issuer's keys; for a JWKS URL, re-fetched (at most once per
    /// `min_refetch_interval`) when `kid` is not among the cached keys.
    pub async fn keys(&self, source: &KeySource<'_>, kid: Option<&str>) -> Result<Arc<KeySet>, JwtError> {
        match source {
            KeySource::Inline(value) => Ok(Arc::new(parse_jwks(value, "given inline", true)?)),
            KeySource::Pem(pems) => Ok(Arc::new(parse_pem_keys(pems)?)),
            KeySource::File(path) => self.file_keys(path).await,
            KeySource::Url(url) => self.url_keys(url, kid).await,
        }
    }

    async fn file_keys(&self, path: &str) -> Result<Arc<KeySet>, JwtError> {
        let fail = |reason: String| JwtError::JwksFile {
            path: path.to_owned(),
            reason,
        };
        let meta = tokio::fs::metadata(path).await.map_err(|e| fail(e.to_string()))?;
        let modified = meta.modified().ok();
        {
            let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = files.get(path)
                && entry.modified == modified
                && entry.len == meta.len()
                && entry.read_at.elapsed() < FILE_RECHECK
            {
                return Ok(entry.keys.clone());
            }
        }
        if meta.len() > self.settings.max_jwks_bytes as u64 {
            return Err(fail(format!(
                "it is larger than {} bytes",
                self.settings.max_jwks_bytes
            )));
        }
        let bytes = tokio::fs::read(path).await.map_err(|e| fail(e.to_string()))?;
        let source_name = format!("in file {path}");
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| JwtError::InvalidJwks {
            source_name: source_name.clone(),
            reason: format!("not JSON ({e})"),
        })?;
        let keys = Arc::new(parse_jwks(&value, &source_name, false)?);
        self.files.lock().unwrap_or_else(PoisonError::into_inner).insert(
            path.to_owned(),
            FileEntry {
                modified,
                len: meta.len(),
                read_at: Instant::now(),
                keys: keys.clone(),
            },
        );
        Ok(keys)
    }

    async fn url_keys(&self, url: &str, kid: Option<&str>) -> Result<Arc<KeySet>, JwtError> {
        let slot = self
            .urls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(url.to_owned())
            .or_default()
            .clone();
        // One fetch at a time per URL: concurrent logins wait for it and share it.
        let mut state = slot.lock().await;
        let now = Instant::now();
        let s = &self.settings;
        let age = state.fetched_at.map(|t| now.duration_since(t));
        let fresh = age.is_some_and(|a| a < s.ttl);
        let kid_missing = kid.is_some_and(|k| state.keys.as_ref().is_some_and(|set| !set.has_kid(k)));
        if let Some(keys) = &state.keys
            && fresh
            && !kid_missing
        {
            return Ok(keys.clone());
        }
        let may_fetch = state
            .last_attempt
            .is_none_or(|t| now.duration_since(t) >= s.min_refetch_interval);
        let usable_stale = age.is_some_and(|a| a < s.ttl + s.max_stale);
        if !may_fetch {
            if let Some(keys) = &state.keys
                && usable_stale
            {
                return Ok(keys.clone());
            }
            return Err(state.last_error.clone().unwrap_or_else(|| JwtError::JwksFetch {
                url: url.to_owned(),
                reason: "it was fetched moments ago; try again shortly".into(),
            }));
        }
        state.last_attempt = Some(now);
        match self.fetch(url).await {
            Ok(set) => {
                tracing::debug!(url, keys = set.keys.len(), "fetched JWKS");
                let set = Arc::new(set);
                state.keys = Some(set.clone());
                state.fetched_at = Some(Instant::now());
                state.last_error = None;
                Ok(set)
            }
            Err(err) => {
                tracing::warn!(url, error = %err, "cannot refresh an issuer's JWKS");
                state.last_error = Some(err.clone());
                // Keep serving the last good keys through an outage, unless
                // the token needs a key they do not have.
                match &state.keys {
                    Some(keys) if usable_stale && !kid_missing => Ok(keys.clone()),
                    _ => Err(err),
                }
            }
        }
    }

    async fn fetch(&self, url: &str) -> Result<KeySet, JwtError> {
        let fail = |reason: String| JwtError::JwksFetch {
            url: url.to_owned(),
            reason,
        };
        let max = self.settings.max_jwks_bytes;
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.settings.fetch_timeout)
            .send()
            .await
            .map_err(|e| fail(self.describe_http_error(&e)))?;
        // A redirect must not lead away from https (the client follows them).
        if let Err(JwtError::InvalidJwksUrl { reason, .. }) = check_url(response.url().as_str()) {
            return Err(fail(format!("redirected to {}: {reason}", response.url())));
        }
        if !response.status().is_success() {
            return Err(fail(format!("the server answered {}", response.status())));
        }
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(fail(format!("the answer is larger than {max} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(self.describe_http_error(&e)))? {
            if body.len() + chunk.len() > max {
                return Err(fail(format!("the answer is larger than {max} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let value: Value = serde_json::from_slice(&body).map_err(|e| fail(format!("the answer is not JSON ({e})")))?;
        parse_jwks(&value, "", false).map_err(|e| match e {
            JwtError::InvalidJwks { reason, .. } => fail(format!("the answer is not a usable JWKS: {reason}")),
            other => other,
        })
    }

    fn describe_http_error(&self, err: &reqwest::Error) -> String {
        if err.is_timeout() {
            return format!("no answer within {:?}", self.settings.fetch_timeout);
        }
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refuses_hmac_keys_even_when_lenient() {
        let jwks = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]});
        for strict in [true, false] {
            let Err(JwtError::InvalidJwks { reason, .. }) = parse_jwks(&jwks, "given inline", strict) else {
                panic!("an HMAC key was accepted");
            };
            assert!(reason.contains("symmetric"), "{reason}");
        }
        let jwks = json!({"keys": [{"kty": "RSA", "alg": "HS256", "n": "AQAB", "e": "AQAB"}]});
        assert!(parse_jwks(&jwks, "x", false).is_err());
    }

    #[test]
    fn lenient_parsing_skips_unusable_keys_and_encryption_keys() {
        let jwks = json!({"keys": [
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "a"},
            {"kty": "weird", "kid": "b"},
            {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB", "kid": "c"},
        ]});
        let Err(JwtError::InvalidJwks { reason, .. }) = parse_jwks(&jwks, "x", false) else {
            panic!("expected no usable key");
        };
        assert!(reason.contains("no usable signing key"), "{reason}");
        let Err(JwtError::InvalidJwks { reason, .. }) = parse_jwks(&jwks, "x", true) else {
            panic!("strict parsing accepted an unusable key");
        };
        assert!(reason.starts_with("key #1: unsupported curve"), "{reason}");
    }

    #[test]
    fn refuses_small_rsa_keys_and_bad_points() {
        // A 1024-bit modulus (all ones) is too small.
        let n = URL_SAFE_NO_PAD.encode([0xffu8; 128]);
        let jwks = json!({"keys": [{"kty": "RSA", "n": n, "e": "AQAB"}]});
        let Err(JwtError::InvalidJwks { reason, .. }) = parse_jwks(&jwks, "x", true) else {
            panic!("a 1024-bit key was accepted");
        };
        assert!(reason.contains("1024 bits"), "{reason}");
        let zero = URL_SAFE_NO_PAD.encode([0u8; 32]);
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": zero, "y": zero}]});
        let Err(JwtError::InvalidJwks { reason, .. }) = parse_jwks(&jwks, "x", true) else {
            panic!("an invalid point was accepted");
        };
        assert!(reason.contains("not a valid P-256 public key"), "{reason}");
    }

    #[test]
    fn not_a_jwks() {
        for doc in [json!([]), json!({"keys": {}}), json!({"key": []})] {
            assert!(matches!(parse_jwks(&doc, "x", true), Err(JwtError::InvalidJwks { .. })));
        }
        assert!(matches!(
            parse_jwks(&json!({"keys": []}), "x", false),
            Err(JwtError::InvalidJwks { .. })
        ));
    }

    #[test]
    fn pem_problems_are_named() {
        let check = |pem: &str, want: &str| {
            let Err(JwtError::InvalidPem { index, reason }) = parse_pem_keys(&[pem.to_owned()]) else {
                panic!("{pem} was accepted");
            };
            assert_eq!(index, 1);
            assert!(reason.contains(want), "{reason} should contain {want}");
        };
        check("hello", "no PEM block");
        check(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "private key",
        );
        check(
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----",
            "private key",
        );
        check(
            "-----BEGIN FOO-----\nAAAA\n-----END FOO-----",
            "unsupported PEM block `FOO`",
        );
        check(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            "2 PEM blocks",
        );
        check(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            "not an RSA",
        );
    }

    #[test]
    fn shorten_caps_long_values() {
        assert_eq!(shorten("abc"), "abc");
        let long = "x".repeat(500);
        assert_eq!(shorten(&long).chars().count(), 81);
        assert_eq!(shorten(&"y".repeat(80)), "y".repeat(80));
        assert_eq!(shorten("a\nb\u{1b}[31m"), "a\u{fffd}b\u{fffd}[31m");
    }
}
