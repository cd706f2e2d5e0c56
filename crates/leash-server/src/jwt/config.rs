//! Checking a [`JwtIssuer`] and an identity's [`JwtBinding`] before use.

use std::path::Path;

use jsonwebtoken::Algorithm;
use leash_core::api::{JwtBinding, JwtIssuer};

use super::error::JwtError;
use super::keys::{self, KeySet};

/// Algorithm names an issuer may allow (JOSE names, case-sensitive).
pub const SUPPORTED_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Allowed when an issuer lists no algorithms.
pub const DEFAULT_ALGORITHMS: &[&str] = &["RS256", "ES256"];

/// Where an issuer's keys come from.
pub(crate) enum KeySource<'a> {
    Inline(&'a serde_json::Value),
    File(&'a str),
    Url(&'a str),
    Pem(&'a [String]),
}

/// An issuer that passed the cheap checks (no key parsing, no IO).
pub(crate) struct CheckedIssuer<'a> {
    pub algorithms: Vec<Algorithm>,
    pub source: KeySource<'a>,
}

/// The JOSE name of an algorithm.
pub(crate) fn alg_name(alg: Algorithm) -> String {
    // `Algorithm`'s variant names are the JOSE names (`RS256`, `EdDSA`).
    format!("{alg:?}")
}

pub(crate) fn alg_list(algs: &[Algorithm]) -> String {
    algs.iter().map(|a| alg_name(*a)).collect::<Vec<_>>().join(", ")
}

/// Parses one configured algorithm name: asymmetric signatures only.
pub(crate) fn parse_algorithm(name: &str) -> Result<Algorithm, JwtError> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        other => {
            let upper = other.to_ascii_uppercase();
            return Err(if upper == "NONE" || upper.starts_with("HS") {
                JwtError::ForbiddenAlgorithm(other.to_owned())
            } else {
                JwtError::UnknownAlgorithm(other.to_owned())
            });
        }
    })
}

/// The checks that need no key parsing and no IO; run on every login.
pub(crate) fn check(issuer: &JwtIssuer) -> Result<CheckedIssuer<'_>, JwtError> {
    if issuer.issuer.trim().is_empty() {
        return Err(JwtError::EmptyIssuer);
    }
    if issuer.audiences.is_empty() {
        return Err(JwtError::NoAudience);
    }
    if let Some(i) = issuer.audiences.iter().position(|a| a.trim().is_empty()) {
        return Err(JwtError::EmptyAudience(i + 1));
    }

    let mut sources = Vec::new();
    if let Some(jwks) = &issuer.jwks {
        sources.push(("jwks", KeySource::Inline(jwks)));
    }
    if let Some(file) = &issuer.jwks_file {
        sources.push(("jwks_file", KeySource::File(file)));
    }
    if let Some(url) = &issuer.jwks_url {
        sources.push(("jwks_url", KeySource::Url(url)));
    }
    if !issuer.pem_keys.is_empty() {
        sources.push(("pem_keys", KeySource::Pem(&issuer.pem_keys)));
    }
    if sources.len() > 1 {
        let names: Vec<_> = sources.iter().map(|(n, _)| *n).collect();
        return Err(JwtError::SeveralKeySources(names.join(", ")));
    }
    let Some((_, source)) = sources.pop() else {
        return Err(JwtError::NoKeySource);
    };
    match &source {
        KeySource::Url(url) => check_url(url)?,
        KeySource::File(path) => check_file(path)?,
        KeySource::Inline(_) | KeySource::Pem(_) => {}
    }

    let mut algorithms = Vec::new();
    let names: Vec<&str> = if issuer.algorithms.is_empty() {
        DEFAULT_ALGORITHMS.to_vec()
    } else {
        issuer.algorithms.iter().map(String::as_str).collect()
    };
    for name in names {
        let alg = parse_algorithm(name)?;
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    Ok(CheckedIssuer { algorithms, source })
}

/// Keys are fetched over HTTPS; plain HTTP only from this machine (where no
/// one can tamper with the answer on the way).
pub(crate) fn check_url(url: &str) -> Result<(), JwtError> {
    let fail = |reason: &str| JwtError::InvalidJwksUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| fail(&format!("not a URL ({e})")))?;
    let Some(host) = parsed.host_str() else {
        return Err(fail("it has no host"));
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback =
        bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(fail(
                "keys must be fetched over https (plain http is allowed only for localhost)",
            ));
        }
        other => return Err(fail(&format!("unsupported scheme `{other}`: use https"))),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(fail("it must not carry credentials"));
    }
    Ok(())
}

fn check_file(path: &str) -> Result<(), JwtError> {
    if !Path::new(path).is_absolute() {
        return Err(JwtError::InvalidJwksFile {
            path: path.to_owned(),
            reason: "use an absolute path".into(),
        });
    }
    Ok(())
}

/// Checks an issuer before it is stored (`PUT /api/v1/auth/jwt/issuers/{name}`):
/// `issuer` and `audiences` set, exactly one key source, known asymmetric
/// algorithms, and (for inline JWKS and PEM keys) keys that parse and can
/// verify at least one allowed algorithm. A `jwks_url` or `jwks_file` is not
/// read here: it may not be reachable yet.
pub fn validate_issuer(issuer: &JwtIssuer) -> Result<(), JwtError> {
    let checked = check(issuer)?;
    let set = match checked.source {
        KeySource::Inline(value) => keys::parse_jwks(value, "given inline", true)?,
        KeySource::Pem(pems) => keys::parse_pem_keys(pems)?,
        KeySource::Url(_) | KeySource::File(_) => return Ok(()),
    };
    ensure_usable(&set, &checked.algorithms)
}

/// At least one key must verify at least one allowed algorithm.
pub(crate) fn ensure_usable(set: &KeySet, algorithms: &[Algorithm]) -> Result<(), JwtError> {
    if set
        .keys()
        .iter()
        .any(|k| algorithms.iter().any(|a| k.supports(*a).is_ok()))
    {
        return Ok(());
    }
    Err(JwtError::NoUsableKey {
        keys: set.keys().iter().map(|k| k.describe()).collect::<Vec<_>>().join(", "),
        algorithms: alg_list(algorithms),
    })
}

/// Checks an identity's JWT binding: it names an issuer and binds at least
/// one claim (`bound_subject` or `bound_claims`). Without a bound claim,
/// every token the issuer ever signs for the audience (every workflow on
/// GitHub, every pod in the cluster) would log in as the identity.
pub fn validate_binding(binding: &JwtBinding) -> Result<(), JwtError> {
    if binding.issuer.trim().is_empty() {
        return Err(JwtError::BindingNoIssuer);
    }
    if binding.bound_subject.is_none() && binding.bound_claims.is_empty() {
        return Err(JwtError::UnboundBinding);
    }
    if binding.bound_subject.as_deref().is_some_and(|s| s.is_empty()) {
        return Err(JwtError::EmptyBoundValue("sub".into()));
    }
    for (name, value) in &binding.bound_claims {
        if name.is_empty() {
            return Err(JwtError::EmptyBoundClaimName);
        }
        if value.is_empty() {
            return Err(JwtError::EmptyBoundValue(name.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> JwtIssuer {
        JwtIssuer {
            name: "gh".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            audiences: vec!["leash".into()],
            jwks_url: Some("https://token.actions.githubusercontent.com/.well-known/jwks".into()),
            ..Default::default()
        }
    }

    fn check_err(f: impl FnOnce(&mut JwtIssuer)) -> JwtError {
        let mut i = issuer();
        f(&mut i);
        match check(&i) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults_to_rs256_and_es256() {
        let i = issuer();
        let c = check(&i).unwrap();
        assert_eq!(c.algorithms, vec![Algorithm::RS256, Algorithm::ES256]);
    }

    #[test]
    fn rejects_bad_configs_with_specific_errors() {
        assert_eq!(check_err(|i| i.issuer = " ".into()), JwtError::EmptyIssuer);
        assert_eq!(check_err(|i| i.audiences.clear()), JwtError::NoAudience);
        assert_eq!(
            check_err(|i| i.audiences.push(String::new())),
            JwtError::EmptyAudience(2)
        );
        assert_eq!(check_err(|i| i.jwks_url = None), JwtError::NoKeySource);
        assert_eq!(
            check_err(|i| i.pem_keys = vec!["x".into()]),
            JwtError::SeveralKeySources("jwks_url, pem_keys".into())
        );
        assert_eq!(
            check_err(|i| i.algorithms = vec!["none".into()]),
            JwtError::ForbiddenAlgorithm("none".into())
        );
        assert_eq!(
            check_err(|i| i.algorithms = vec!["HS256".into()]),
            JwtError::ForbiddenAlgorithm("HS256".into())
        );
        assert_eq!(
            check_err(|i| i.algorithms = vec!["ES512".into()]),
            JwtError::UnknownAlgorithm("ES512".into())
        );
        assert!(matches!(
            check_err(|i| i.jwks_url = Some("http://example.com/jwks".into())),
            JwtError::InvalidJwksUrl { .. }
        ));
        assert!(matches!(
            check_err(|i| i.jwks_url = Some("ftp://example.com/jwks".into())),
            JwtError::InvalidJwksUrl { .. }
        ));
        assert!(matches!(
            check_err(|i| {
                i.jwks_url = None;
                i.jwks_file = Some("keys/jwks.json".into());
            }),
            JwtError::InvalidJwksFile { .. }
        ));
        for e in [
            JwtError::EmptyIssuer,
            JwtError::NoKeySource,
            JwtError::UnknownAlgorithm("x".into()),
        ] {
            assert!(e.is_config_error(), "{e}");
        }
    }

    #[test]
    fn accepts_every_supported_algorithm_and_http_on_loopback() {
        let mut i = issuer();
        i.algorithms = SUPPORTED_ALGORITHMS.iter().map(|s| s.to_string()).collect();
        assert_eq!(check(&i).unwrap().algorithms.len(), SUPPORTED_ALGORITHMS.len());
        for url in [
            "http://127.0.0.1:8080/jwks",
            "http://localhost/jwks",
            "http://[::1]:9/k",
        ] {
            i.jwks_url = Some(url.into());
            assert!(check(&i).is_ok(), "{url}");
        }
    }

    #[test]
    fn bindings_must_bind_something() {
        let mut b = JwtBinding {
            issuer: "gh".into(),
            ..Default::default()
        };
        assert_eq!(validate_binding(&b), Err(JwtError::UnboundBinding));
        b.bound_claims.insert("repository".into(), "org/payment".into());
        assert_eq!(validate_binding(&b), Ok(()));
        b.bound_claims.insert("ref".into(), String::new());
        assert_eq!(validate_binding(&b), Err(JwtError::EmptyBoundValue("ref".into())));
        b.bound_claims.clear();
        b.bound_subject = Some("repo:org/payment:ref:refs/heads/main".into());
        assert_eq!(validate_binding(&b), Ok(()));
        b.issuer.clear();
        assert_eq!(validate_binding(&b), Err(JwtError::BindingNoIssuer));
    }
}
