//! Verifying one token: header, key, signature, registered claims, binding.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use leash_core::api::{JwtBinding, JwtIssuer};
use serde_json::{Map, Value};

use super::JwtVerifier;
use super::config::{self, SUPPORTED_ALGORITHMS, alg_list, alg_name};
use super::error::JwtError;
use super::keys::{VerifyingKey, shorten};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub(crate) const LEEWAY_SECS: u64 = 60;

/// A token that verified and satisfied the identity's binding.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedJwt {
    /// The `sub` claim, if it is a string.
    pub subject: Option<String>,
    /// Every claim of the token.
    pub claims: Map<String, Value>,
}

impl JwtVerifier {
    /// Verifies `jwt` against `issuer` and enforces `binding`, in this order:
    /// the issuer's configuration; the header's `alg` (one the issuer allows,
    /// never `none` or HMAC) and `crit`; the key (by `kid`, re-fetching a
    /// JWKS URL once for an unknown `kid`); the signature; `exp` (required),
    /// `nbf`, `iss` and `aud` with a 60 s leeway; then `bound_subject` and
    /// `bound_claims`.
    ///
    /// The JWT is never logged and never appears in the error.
    #[tracing::instrument(skip_all, fields(issuer = %issuer.name))]
    pub async fn verify(&self, issuer: &JwtIssuer, binding: &JwtBinding, jwt: &str) -> Result<VerifiedJwt, JwtError> {
        let checked = config::check(issuer)?;
        config::validate_binding(binding)?;
        if !issuer.name.is_empty() && binding.issuer != issuer.name {
            return Err(JwtError::BindingIssuer {
                bound: binding.issuer.clone(),
                issuer: issuer.name.clone(),
            });
        }
        let header = read_header(jwt.trim(), &checked.algorithms)?;
        let alg = header.alg;
        let kid = header.kid.as_deref();
        let keys = self.cache.keys(&checked.source, kid).await?;
        let candidates = keys.candidates(kid, alg)?;
        let claims = verify_signature_and_claims(jwt.trim(), alg, &candidates, issuer)?;
        enforce_binding(binding, &claims)?;
        Ok(VerifiedJwt {
            subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
            claims,
        })
    }
}

/// Reads the (not yet trusted) header and checks its algorithm.
fn read_header(jwt: &str, allowed: &[Algorithm]) -> Result<Header, JwtError> {
    let header = match jsonwebtoken::decode_header(jwt) {
        Ok(header) => header,
        Err(err) => {
            // `jsonwebtoken` has no `none` algorithm, so such a header fails to
            // parse: read its `alg` for a clear message (rejection path only).
            if let Some(alg) = peek_alg(jwt)
                && !SUPPORTED_ALGORITHMS.contains(&alg.as_str())
            {
                return Err(JwtError::AlgorithmNotAllowed {
                    alg: shorten(&alg),
                    allowed: alg_list(allowed),
                });
            }
            return Err(JwtError::Malformed(describe_format_error(err.kind(), "header")));
        }
    };
    if !allowed.contains(&header.alg) {
        return Err(JwtError::AlgorithmNotAllowed {
            alg: alg_name(header.alg),
            allowed: alg_list(allowed),
        });
    }
    if let Some(crit) = header.crit.as_ref().filter(|c| !c.is_empty()) {
        return Err(JwtError::CriticalHeader(shorten(&crit.join(", "))));
    }
    Ok(header)
}

/// The `alg` of a header that `jsonwebtoken` refused, for the error message.
fn peek_alg(jwt: &str) -> Option<String> {
    let first = jwt.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(first.trim_end_matches('=')).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    Some(value.get("alg")?.as_str()?.to_owned())
}

fn describe_format_error(kind: &ErrorKind, part: &str) -> String {
    match kind {
        ErrorKind::InvalidToken => "it is not three base64url parts separated by dots".into(),
        ErrorKind::Base64(_) => format!("its {part} is not valid base64url"),
        ErrorKind::Utf8(_) => format!("its {part} is not UTF-8"),
        ErrorKind::Json(e) => format!("its {part} is not the expected JSON ({e})"),
        other => format!("{other:?}"),
    }
}

/// Tries each candidate key; the first whose signature matches decides.
fn verify_signature_and_claims(
    jwt: &str,
    alg: Algorithm,
    candidates: &[&VerifyingKey],
    issuer: &JwtIssuer,
) -> Result<Map<String, Value>, JwtError> {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.set_issuer(&[&issuer.issuer]);
    validation.set_audience(&issuer.audiences);

    for candidate in candidates {
        match jsonwebtoken::decode::<Map<String, Value>>(jwt, &candidate.key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(err) => match err.kind() {
                ErrorKind::InvalidSignature => continue,
                // Keys are checked when loaded; a key the backend still refuses
                // is skipped like one whose signature does not match.
                ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidEddsaKey
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::InvalidKeyFormat => {
                    tracing::warn!(key = %candidate.describe(), "the crypto backend refused an issuer key");
                    continue;
                }
                ErrorKind::Base64(_) => {
                    return Err(JwtError::Malformed(
                        "its signature or claims are not valid base64url".into(),
                    ));
                }
                // Every other failure comes after the signature matched.
                kind => return Err(claims_error(kind, jwt, issuer)),
            },
        }
    }
    Err(JwtError::BadSignature)
}

/// Turns a claim-validation failure into its specific error. Only called once
/// the signature has verified, so reading the claims for the message is safe.
fn claims_error(kind: &ErrorKind, jwt: &str, issuer: &JwtIssuer) -> JwtError {
    let claims: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(jwt).unwrap_or_default();
    let time = |name: &str| match claims.get(name).and_then(Value::as_f64) {
        Some(secs) => crate::time::rfc3339((secs * 1000.0) as i64),
        None => "an unreadable time".into(),
    };
    match kind {
        ErrorKind::ExpiredSignature => JwtError::Expired(time("exp")),
        ErrorKind::ImmatureSignature => JwtError::NotYetValid(time("nbf")),
        ErrorKind::InvalidIssuer => JwtError::WrongIssuer {
            actual: claims.get("iss").map(render_plain).unwrap_or_default(),
            expected: issuer.issuer.clone(),
        },
        ErrorKind::InvalidAudience => JwtError::WrongAudience {
            actual: claims.get("aud").map(render_list).unwrap_or_default(),
            expected: render_list(&Value::from(issuer.audiences.clone())),
        },
        // `jsonwebtoken` reports a required claim of the wrong type as missing.
        ErrorKind::MissingRequiredClaim(claim) if claims.contains_key(claim) => {
            JwtError::InvalidClaimType(claim.clone())
        }
        ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim(claim.clone()),
        ErrorKind::InvalidClaimFormat(claim) => JwtError::InvalidClaimType(claim.clone()),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            JwtError::Malformed(describe_format_error(kind, "claims set (it must be a JSON object)"))
        }
        other => JwtError::Malformed(describe_format_error(other, "claims set")),
    }
}

/// A claim as a plain string when it is one, as JSON otherwise.
fn render_plain(value: &Value) -> String {
    match value {
        Value::String(s) => shorten(s),
        other => shorten(&other.to_string()),
    }
}

/// `[a, b]` for an array or a single value.
fn render_list(value: &Value) -> String {
    let items: Vec<String> = match value {
        Value::Array(items) => items.iter().map(render_plain).collect(),
        other => vec![render_plain(other)],
    };
    format!("[{}]", items.join(", "))
}

/// A claim in a mismatch message: `` `text` `` for a string, JSON otherwise.
fn render_actual(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{}`", shorten(s)),
        other => shorten(&other.to_string()),
    }
}

/// Enforces `bound_subject` and every `bound_claims` entry.
pub(crate) fn enforce_binding(binding: &JwtBinding, claims: &Map<String, Value>) -> Result<(), JwtError> {
    if let Some(expected) = &binding.bound_subject {
        match claims.get("sub") {
            Some(Value::String(sub)) if sub == expected => {}
            Some(other) => {
                return Err(JwtError::WrongSubject {
                    actual: render_plain(other),
                    expected: expected.clone(),
                });
            }
            None => return Err(JwtError::MissingSubject(expected.clone())),
        }
    }
    for (name, expected) in &binding.bound_claims {
        match lookup_claim(claims, name) {
            Some(value) if claim_matches(value, expected) => {}
            Some(value) => {
                return Err(JwtError::ClaimMismatch {
                    claim: name.clone(),
                    actual: render_actual(value),
                    expected: expected.clone(),
                });
            }
            None => {
                return Err(JwtError::ClaimMissing {
                    claim: name.clone(),
                    expected: expected.clone(),
                });
            }
        }
    }
    Ok(())
}

/// A claim by name: the literal top-level key first; if there is none and the
/// name has `/`, the path through nested objects (`kubernetes.io/namespace`
/// finds `{"kubernetes.io": {"namespace": …}}`).
pub(crate) fn lookup_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    if !name.contains('/') {
        return None;
    }
    let mut segments = name.split('/');
    let mut current = claims.get(segments.next()?)?;
    for segment in segments {
        current = current.as_object()?.get(segment)?;
    }
    Some(current)
}

/// A string equal to `expected`, an array holding it, or a number or boolean
/// whose JSON text is `expected`.
fn claim_matches(value: &Value, expected: &str) -> bool {
    match value {
        Value::String(s) => s == expected,
        Value::Array(items) => items.iter().any(|item| item.as_str() == Some(expected)),
        Value::Bool(b) => expected == if *b { "true" } else { "false" },
        Value::Number(n) => {
            let text = n.to_string();
            text == expected
        }
        Value::Null | Value::Object(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn binding(pairs: &[(&str, &str)], sub: Option<&str>) -> JwtBinding {
        JwtBinding {
            issuer: "i".into(),
            bound_claims: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            bound_subject: sub.map(str::to_owned),
        }
    }

    #[test]
    fn lookup_prefers_the_literal_key_then_walks_slashes() {
        let c = claims(json!({
            "kubernetes.io/serviceaccount/namespace": "legacy",
            "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "api"}},
            "a": {"b": 1},
        }));
        assert_eq!(
            lookup_claim(&c, "kubernetes.io/serviceaccount/namespace"),
            Some(&json!("legacy"))
        );
        assert_eq!(lookup_claim(&c, "kubernetes.io/namespace"), Some(&json!("payments")));
        assert_eq!(
            lookup_claim(&c, "kubernetes.io/serviceaccount/name"),
            Some(&json!("api"))
        );
        assert_eq!(lookup_claim(&c, "a/b"), Some(&json!(1)));
        assert_eq!(lookup_claim(&c, "a/b/c"), None);
        assert_eq!(lookup_claim(&c, "a.b"), None);
        assert_eq!(lookup_claim(&c, "/a"), None);
        assert_eq!(lookup_claim(&c, "missing"), None);
    }

    #[test]
    fn binding_checks() {
        let c = claims(json!({
            "sub": "repo:org/payment:ref:refs/heads/main",
            "repository": "org/payment",
            "groups": ["dev", "ops"],
            "run_attempt": 2,
            "verified": true,
            "nested": {"x": "y"},
        }));
        let check = |pairs: &[(&str, &str)], sub: Option<&str>| enforce_binding(&binding(pairs, sub), &c);
        assert_eq!(check(&[("repository", "org/payment")], None), Ok(()));
        assert_eq!(check(&[("groups", "ops")], None), Ok(()));
        assert_eq!(check(&[("run_attempt", "2"), ("verified", "true")], None), Ok(()));
        assert_eq!(check(&[], Some("repo:org/payment:ref:refs/heads/main")), Ok(()));
        assert_eq!(
            check(&[("repository", "org/shipping")], None).unwrap_err().to_string(),
            "claim `repository` is `org/payment`, but the identity requires `org/shipping`"
        );
        assert_eq!(
            check(&[("groups", "admin")], None).unwrap_err().to_string(),
            "claim `groups` is [\"dev\",\"ops\"], but the identity requires `admin`"
        );
        assert!(matches!(
            check(&[("nested", "y")], None),
            Err(JwtError::ClaimMismatch { .. })
        ));
        assert_eq!(
            check(&[("environment", "prod")], None).unwrap_err().to_string(),
            "claim `environment` is missing, but the identity requires `prod`"
        );
        assert_eq!(
            check(&[], Some("repo:org/payment:ref:refs/heads/dev")),
            Err(JwtError::WrongSubject {
                actual: "repo:org/payment:ref:refs/heads/main".into(),
                expected: "repo:org/payment:ref:refs/heads/dev".into(),
            })
        );
        let no_sub = claims(json!({"repository": "org/payment"}));
        assert_eq!(
            enforce_binding(&binding(&[], Some("x")), &no_sub),
            Err(JwtError::MissingSubject("x".into()))
        );
    }

    #[test]
    fn peeks_alg_of_unparseable_headers_only_for_messages() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let jwt = format!("{header}.e30.");
        assert_eq!(peek_alg(&jwt).as_deref(), Some("none"));
        assert_eq!(
            read_header(&jwt, &[Algorithm::RS256]).unwrap_err(),
            JwtError::AlgorithmNotAllowed {
                alg: "none".into(),
                allowed: "RS256".into()
            }
        );
        assert!(matches!(
            read_header("not-a-jwt", &[Algorithm::RS256]),
            Err(JwtError::Malformed(_))
        ));
    }

    #[test]
    fn critical_headers_are_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","crit":["b64"],"b64":false}"#);
        let jwt = format!("{header}.e30.sig");
        assert_eq!(
            read_header(&jwt, &[Algorithm::RS256]),
            Err(JwtError::CriticalHeader("b64".into()))
        );
    }
}
