//! JWT/OIDC login verification with keys and tokens made here: inline JWKS,
//! PEM keys and certificates, JWKS files and URLs (with key rotation), and
//! every way a token is refused, each with its specific error.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use leash_core::api::{JwtBinding, JwtIssuer};
use leash_server::jwt::{JwksCacheSettings, JwtError, JwtErrorClass, JwtVerifier, validate_issuer};
use serde_json::{Value, json};

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const K8S: &str = "https://kubernetes.default.svc.cluster.local";

/// A signing key and its public forms.
struct TestKey {
    alg: Algorithm,
    encoding: EncodingKey,
    /// The public key as a JWK (no kid).
    jwk: Jwk,
    /// The public key (SPKI) in PEM.
    public_pem: String,
}

impl TestKey {
    fn jwk_with_kid(&self, kid: &str) -> Value {
        let mut jwk = self.jwk.clone();
        jwk.common.key_id = Some(kid.to_owned());
        serde_json::to_value(jwk).unwrap()
    }

    fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

fn rsa_key() -> TestKey {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let pem = private.to_pkcs1_pem(LineEnding::LF).unwrap();
    let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).unwrap();
    let public_pem = private.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let mut jwk = jwk;
    jwk.common.key_algorithm = None;
    TestKey {
        alg: Algorithm::RS256,
        encoding,
        jwk,
        public_pem,
    }
}

fn rcgen_key(rcgen_alg: &'static rcgen::SignatureAlgorithm, alg: Algorithm) -> (TestKey, rcgen::KeyPair) {
    let pair = rcgen::KeyPair::generate_for(rcgen_alg).unwrap();
    let private_pem = pair.serialize_pem();
    let encoding = match alg {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap(),
    };
    let public_pem = pair.public_key_pem();
    let decoding = match alg {
        Algorithm::EdDSA => DecodingKey::from_ed_pem(public_pem.as_bytes()).unwrap(),
        _ => DecodingKey::from_ec_pem(public_pem.as_bytes()).unwrap(),
    };
    let jwk = Jwk::from_decoding_key(&decoding, None).unwrap();
    let key = TestKey {
        alg,
        encoding,
        jwk,
        public_pem,
    };
    (key, pair)
}

/// RSA keys are slow to generate: two per test binary, shared.
fn rsa_keys() -> &'static (TestKey, TestKey) {
    static KEYS: OnceLock<(TestKey, TestKey)> = OnceLock::new();
    KEYS.get_or_init(|| (rsa_key(), rsa_key()))
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn github_claims() -> Value {
    let now = now();
    json!({
        "iss": GITHUB,
        "aud": "leash",
        "sub": "repo:org/payment:ref:refs/heads/main",
        "repository": "org/payment",
        "repository_owner": "org",
        "ref": "refs/heads/main",
        "workflow": "deploy",
        "job_workflow_ref": "org/payment/.github/workflows/deploy.yml@refs/heads/main",
        "run_attempt": "1",
        "iat": now,
        "nbf": now - 5,
        "exp": now + 300,
    })
}

fn kubernetes_claims() -> Value {
    let now = now();
    json!({
        "iss": K8S,
        "aud": [K8S, "leash"],
        "sub": "system:serviceaccount:payments:api",
        "kubernetes.io": {
            "namespace": "payments",
            "pod": {"name": "api-7d9f", "uid": "0b1c"},
            "serviceaccount": {"name": "api", "uid": "9a8b"},
        },
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    })
}

fn github_issuer(jwks: Value) -> JwtIssuer {
    JwtIssuer {
        name: "github".into(),
        issuer: GITHUB.into(),
        audiences: vec!["leash".into()],
        jwks: Some(jwks),
        ..Default::default()
    }
}

fn github_binding() -> JwtBinding {
    JwtBinding {
        issuer: "github".into(),
        bound_claims: BTreeMap::from([
            ("repository".to_owned(), "org/payment".to_owned()),
            ("ref".to_owned(), "refs/heads/main".to_owned()),
        ]),
        bound_subject: None,
    }
}

fn kubernetes_binding() -> JwtBinding {
    JwtBinding {
        issuer: "k8s".into(),
        bound_claims: BTreeMap::from([
            ("kubernetes.io/namespace".to_owned(), "payments".to_owned()),
            ("kubernetes.io/serviceaccount/name".to_owned(), "api".to_owned()),
        ]),
        bound_subject: Some("system:serviceaccount:payments:api".into()),
    }
}

fn verifier() -> JwtVerifier {
    JwtVerifier::new(reqwest::Client::new())
}

fn with(mut claims: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    f(claims.as_object_mut().unwrap());
    claims
}

#[tokio::test]
async fn github_actions_token_with_inline_jwks_logs_in() {
    let (key, other) = rsa_keys();
    let issuer = github_issuer(json!({"keys": [key.jwk_with_kid("k1"), other.jwk_with_kid("k2")]}));
    validate_issuer(&issuer).unwrap();
    let jwt = key.sign(Some("k1"), &github_claims());
    let verified = verifier().verify(&issuer, &github_binding(), &jwt).await.unwrap();
    assert_eq!(
        verified.subject.as_deref(),
        Some("repo:org/payment:ref:refs/heads/main")
    );
    assert_eq!(verified.claims["repository"], "org/payment");

    let mut by_subject = github_binding();
    by_subject.bound_claims.clear();
    by_subject.bound_subject = Some("repo:org/payment:ref:refs/heads/main".into());
    verifier().verify(&issuer, &by_subject, &jwt).await.unwrap();

    // Without a kid, every key that fits the algorithm is tried.
    let jwt = other.sign(None, &github_claims());
    verifier().verify(&issuer, &github_binding(), &jwt).await.unwrap();
}

#[tokio::test]
async fn kubernetes_token_with_pem_keys_logs_in() {
    let (key, pair) = rcgen_key(&rcgen::PKCS_ECDSA_P256_SHA256, Algorithm::ES256);
    let (_, rsa_other) = rsa_keys();
    let mut issuer = JwtIssuer {
        name: "k8s".into(),
        issuer: K8S.into(),
        audiences: vec!["leash".into()],
        pem_keys: vec![rsa_other.public_pem.clone(), key.public_pem.clone()],
        ..Default::default()
    };
    validate_issuer(&issuer).unwrap();
    // A kid in the token does not matter with PEM keys.
    let jwt = key.sign(Some("whatever"), &kubernetes_claims());
    let verified = verifier().verify(&issuer, &kubernetes_binding(), &jwt).await.unwrap();
    assert_eq!(verified.subject.as_deref(), Some("system:serviceaccount:payments:api"));

    // A certificate works as well as a bare public key.
    let cert = rcgen::CertificateParams::new(vec!["issuer.test".to_owned()])
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    issuer.pem_keys = vec![cert.pem()];
    validate_issuer(&issuer).unwrap();
    verifier().verify(&issuer, &kubernetes_binding(), &jwt).await.unwrap();

    // Another namespace is refused, naming the nested claim.
    let other_ns = with(kubernetes_claims(), |c| {
        c["kubernetes.io"]["namespace"] = json!("shipping");
        c["sub"] = json!("system:serviceaccount:shipping:api");
    });
    let mut binding = kubernetes_binding();
    binding.bound_subject = None;
    let err = verifier()
        .verify(&issuer, &binding, &key.sign(None, &other_ns))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "claim `kubernetes.io/namespace` is `shipping`, but the identity requires `payments`"
    );
}

#[tokio::test]
async fn legacy_kubernetes_token_with_flat_claim_names() {
    let (key, _) = rsa_keys();
    let issuer = JwtIssuer {
        name: "k8s".into(),
        issuer: "kubernetes/serviceaccount".into(),
        audiences: vec!["leash".into()],
        pem_keys: vec![key.public_pem.clone()],
        ..Default::default()
    };
    let binding = JwtBinding {
        issuer: "k8s".into(),
        bound_claims: BTreeMap::from([(
            "kubernetes.io/serviceaccount/namespace".to_owned(),
            "payments".to_owned(),
        )]),
        bound_subject: None,
    };
    let claims = json!({
        "iss": "kubernetes/serviceaccount",
        "aud": "leash",
        "sub": "system:serviceaccount:payments:api",
        "kubernetes.io/serviceaccount/namespace": "payments",
        "exp": now() + 60,
    });
    verifier()
        .verify(&issuer, &binding, &key.sign(None, &claims))
        .await
        .unwrap();
    // Real legacy tokens never expire: Leash requires `exp`.
    let no_exp = with(claims, |c| {
        c.remove("exp");
    });
    let err = verifier()
        .verify(&issuer, &binding, &key.sign(None, &no_exp))
        .await
        .unwrap_err();
    assert_eq!(err, JwtError::MissingClaim("exp".into()));
}

#[tokio::test]
async fn other_algorithms_verify() {
    let (es384, _) = rcgen_key(&rcgen::PKCS_ECDSA_P384_SHA384, Algorithm::ES384);
    let (ed, _) = rcgen_key(&rcgen::PKCS_ED25519, Algorithm::EdDSA);
    let (rsa, _) = rsa_keys();
    let mut issuer = github_issuer(json!({"keys": [
        es384.jwk_with_kid("p384"), ed.jwk_with_kid("ed"), rsa.jwk_with_kid("rsa"),
    ]}));
    issuer.algorithms = vec!["ES384".into(), "EdDSA".into(), "PS256".into()];
    validate_issuer(&issuer).unwrap();
    let v = verifier();
    v.verify(&issuer, &github_binding(), &es384.sign(Some("p384"), &github_claims()))
        .await
        .unwrap();
    v.verify(&issuer, &github_binding(), &ed.sign(Some("ed"), &github_claims()))
        .await
        .unwrap();
    let mut header = Header::new(Algorithm::PS256);
    header.kid = Some("rsa".into());
    let ps = jsonwebtoken::encode(&header, &github_claims(), &rsa.encoding).unwrap();
    v.verify(&issuer, &github_binding(), &ps).await.unwrap();
    // RS256 is not in this issuer's list.
    let err = v
        .verify(&issuer, &github_binding(), &rsa.sign(Some("rsa"), &github_claims()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        JwtError::AlgorithmNotAllowed {
            alg: "RS256".into(),
            allowed: "ES384, EdDSA, PS256".into()
        }
    );
}

/// Every way a token is refused, each with its own error, none quoting the token.
#[tokio::test]
async fn refused_tokens_say_why() {
    let (key, attacker) = rsa_keys();
    let (ec, _) = rcgen_key(&rcgen::PKCS_ECDSA_P256_SHA256, Algorithm::ES256);
    let issuer = github_issuer(json!({"keys": [key.jwk_with_kid("k1"), ec.jwk_with_kid("ec")]}));
    let v = verifier();
    let now = now();

    let none_token = {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(github_claims().to_string());
        format!("{header}.{claims}.")
    };
    let hs256_token = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, &github_claims(), &EncodingKey::from_secret(b"shared")).unwrap()
    };
    let tampered = {
        // A valid token whose claims were swapped after signing.
        let good = key.sign(Some("k1"), &github_claims());
        let parts: Vec<&str> = good.split('.').collect();
        let evil = with(github_claims(), |c| c["repository"] = json!("org/evil"));
        format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(evil.to_string()), parts[2])
    };

    let cases: Vec<(&str, String, JwtError, &str)> = vec![
        (
            "wrong audience",
            key.sign(
                Some("k1"),
                &with(github_claims(), |c| c["aud"] = json!("https://github.com/org")),
            ),
            JwtError::WrongAudience {
                actual: "[https://github.com/org]".into(),
                expected: "[leash]".into(),
            },
            "the token's audience [https://github.com/org] is not one of the issuer's audiences [leash]",
        ),
        (
            "wrong issuer",
            key.sign(
                Some("k1"),
                &with(github_claims(), |c| c["iss"] = json!("https://evil.example")),
            ),
            JwtError::WrongIssuer {
                actual: "https://evil.example".into(),
                expected: GITHUB.into(),
            },
            "the token was issued by https://evil.example, not by the configured issuer https://token.actions.githubusercontent.com",
        ),
        (
            "expired",
            key.sign(Some("k1"), &with(github_claims(), |c| c["exp"] = json!(1_000_000_000))),
            JwtError::Expired("2001-09-09T01:46:40Z".into()),
            "the token expired at 2001-09-09T01:46:40Z",
        ),
        (
            "expired beyond the leeway",
            key.sign(Some("k1"), &with(github_claims(), |c| c["exp"] = json!(now - 120))),
            JwtError::Expired(leash_server::time::rfc3339((now - 120) * 1000)),
            "the token expired at",
        ),
        (
            "not yet valid",
            key.sign(
                Some("k1"),
                &with(github_claims(), |c| c["nbf"] = json!(4_000_000_000i64)),
            ),
            JwtError::NotYetValid("2096-10-02T07:06:40Z".into()),
            "the token is not valid before 2096-10-02T07:06:40Z",
        ),
        (
            "nbf of the wrong type",
            key.sign(Some("k1"), &with(github_claims(), |c| c["nbf"] = json!("99999999999"))),
            JwtError::InvalidClaimType("nbf".into()),
            "the token's `nbf` claim has the wrong type",
        ),
        (
            "exp of the wrong type",
            key.sign(Some("k1"), &with(github_claims(), |c| c["exp"] = json!("never"))),
            JwtError::InvalidClaimType("exp".into()),
            "the token's `exp` claim has the wrong type",
        ),
        (
            "no audience",
            key.sign(
                Some("k1"),
                &with(github_claims(), |c| {
                    c.remove("aud");
                }),
            ),
            JwtError::MissingClaim("aud".into()),
            "the token has no `aud` claim, which is required",
        ),
        (
            "signed by another key",
            attacker.sign(Some("k1"), &github_claims()),
            JwtError::BadSignature,
            "signature verification failed",
        ),
        (
            "claims changed after signing",
            tampered,
            JwtError::BadSignature,
            "signature verification failed",
        ),
        (
            "bound claim with another value",
            key.sign(
                Some("k1"),
                &with(github_claims(), |c| c["repository"] = json!("org/other")),
            ),
            JwtError::ClaimMismatch {
                claim: "repository".into(),
                actual: "`org/other`".into(),
                expected: "org/payment".into(),
            },
            "claim `repository` is `org/other`, but the identity requires `org/payment`",
        ),
        (
            "bound claim missing",
            key.sign(
                Some("k1"),
                &with(github_claims(), |c| {
                    c.remove("ref");
                }),
            ),
            JwtError::ClaimMissing {
                claim: "ref".into(),
                expected: "refs/heads/main".into(),
            },
            "claim `ref` is missing, but the identity requires `refs/heads/main`",
        ),
        (
            "alg none",
            none_token,
            JwtError::AlgorithmNotAllowed {
                alg: "none".into(),
                allowed: "RS256, ES256".into(),
            },
            "algorithm none is not allowed",
        ),
        (
            "HS256",
            hs256_token,
            JwtError::AlgorithmNotAllowed {
                alg: "HS256".into(),
                allowed: "RS256, ES256".into(),
            },
            "algorithm HS256 is not allowed",
        ),
        (
            "unknown kid",
            key.sign(Some("k9"), &github_claims()),
            JwtError::UnknownKid("k9".into()),
            "no key with kid `k9` in the issuer's JWKS",
        ),
        (
            "kid of a key of another type",
            ec.sign(Some("k1"), &github_claims()),
            JwtError::KeyMismatch {
                kid: "k1".into(),
                alg: "ES256".into(),
                reason: "it is an RSA-2048 key".into(),
            },
            "the key with kid `k1` cannot verify ES256 signatures: it is an RSA-2048 key",
        ),
        (
            "not a JWT",
            "not-a-jwt".into(),
            JwtError::Malformed("it is not three base64url parts separated by dots".into()),
            "the token is not a well-formed JWT",
        ),
    ];

    for (what, jwt, expected, message) in cases {
        let err = v.verify(&issuer, &github_binding(), &jwt).await.unwrap_err();
        assert_eq!(err, expected, "{what}");
        let text = err.to_string();
        assert!(
            text.starts_with(message),
            "{what}: {text:?} should start with {message:?}"
        );
        assert_eq!(err.class(), JwtErrorClass::Rejected, "{what}");
        assert!(!err.is_config_error(), "{what}");
        if let Some(signature) = jwt.rsplit('.').next().filter(|s| s.len() > 8) {
            assert!(!text.contains(signature), "{what}: the error quotes the token");
        }
        assert!(!text.contains(&jwt), "{what}: the error quotes the token");
    }

    // Subject binding.
    let mut binding = github_binding();
    binding.bound_subject = Some("repo:org/payment:environment:prod".into());
    let err = v
        .verify(&issuer, &binding, &key.sign(Some("k1"), &github_claims()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the token's subject is `repo:org/payment:ref:refs/heads/main`, but the identity requires `repo:org/payment:environment:prod`"
    );
}

#[tokio::test]
async fn a_token_within_the_leeway_is_accepted() {
    let (key, _) = rsa_keys();
    let issuer = github_issuer(json!({"keys": [key.jwk_with_kid("k1")]}));
    let now = now();
    let claims = with(github_claims(), |c| {
        c["exp"] = json!(now - 20);
        c["nbf"] = json!(now + 20);
    });
    verifier()
        .verify(&issuer, &github_binding(), &key.sign(Some("k1"), &claims))
        .await
        .unwrap();
}

#[tokio::test]
async fn configuration_problems_are_config_errors() {
    let (key, _) = rsa_keys();
    let jwt = key.sign(Some("k1"), &github_claims());
    let good = github_issuer(json!({"keys": [key.jwk_with_kid("k1")]}));

    // The binding names another issuer.
    let mut binding = github_binding();
    binding.issuer = "gitlab".into();
    let err = verifier().verify(&good, &binding, &jwt).await.unwrap_err();
    assert!(matches!(err, JwtError::BindingIssuer { .. }), "{err}");
    assert!(err.is_config_error());

    // A binding that binds nothing would let any token of the issuer in.
    let mut binding = github_binding();
    binding.bound_claims.clear();
    let err = verifier().verify(&good, &binding, &jwt).await.unwrap_err();
    assert_eq!(err, JwtError::UnboundBinding);
    assert!(err.is_config_error());

    let mut broken = good.clone();
    broken.audiences.clear();
    let err = verifier().verify(&broken, &github_binding(), &jwt).await.unwrap_err();
    assert_eq!(err, JwtError::NoAudience);
    assert_eq!(err.class(), JwtErrorClass::Config);
}

#[tokio::test]
async fn validate_issuer_rejects_bad_configs() {
    let (key, _) = rsa_keys();
    let (ec, ec_pair) = rcgen_key(&rcgen::PKCS_ECDSA_P256_SHA256, Algorithm::ES256);
    let good = github_issuer(json!({"keys": [key.jwk_with_kid("k1")]}));
    validate_issuer(&good).unwrap();

    let check = |f: &dyn Fn(&mut JwtIssuer), want: &str| {
        let mut issuer = good.clone();
        f(&mut issuer);
        let err = validate_issuer(&issuer).unwrap_err();
        assert!(err.is_config_error(), "{err}");
        assert!(err.to_string().contains(want), "{err:?} should contain {want:?}");
    };
    check(&|i| i.audiences.clear(), "no audiences");
    check(&|i| i.issuer.clear(), "`issuer`");
    check(
        &|i| i.pem_keys = vec![key.public_pem.clone()],
        "several key sources (jwks, pem_keys)",
    );
    check(&|i| i.jwks = None, "no key source");
    check(&|i| i.algorithms = vec!["RS257".into()], "unknown algorithm `RS257`");
    check(
        &|i| i.algorithms = vec!["HS256".into()],
        "algorithm `HS256` cannot be allowed",
    );
    check(
        &|i| i.algorithms = vec!["none".into()],
        "algorithm `none` cannot be allowed",
    );
    check(
        &|i| i.jwks = Some(json!({"keys": "nope"})),
        "the JWKS given inline is invalid",
    );
    check(
        &|i| i.jwks = Some(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
        "symmetric",
    );
    check(
        &|i| i.jwks = Some(json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]})),
        "key #1: an RSA key of 17 bits: Leash accepts 2048 to 4096 bits",
    );
    // An EC-only JWKS with only RSA algorithms allowed can never verify anything.
    check(
        &|i| {
            i.jwks = Some(json!({"keys": [ec.jwk_with_kid("ec")]}));
            i.algorithms = vec!["RS256".into()];
        },
        "none of the issuer's keys (EC P-256 key `ec`) can verify its allowed algorithms (RS256)",
    );
    let pem = |i: &mut JwtIssuer, pem: &str| {
        i.jwks = None;
        i.pem_keys = vec![pem.to_owned()];
    };
    check(
        &|i| pem(i, "not a pem"),
        "PEM key #1 of the issuer is invalid: it holds no PEM block",
    );
    check(&|i| pem(i, &ec_pair.serialize_pem()), "it is a private key");
    check(
        &|i| pem(i, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        "not an RSA, EC (P-256, P-384) or Ed25519 public key",
    );
    check(
        &|i| {
            i.jwks = None;
            i.jwks_url = Some("http://issuer.example/jwks".into());
        },
        "keys must be fetched over https",
    );
    check(
        &|i| {
            i.jwks = None;
            i.jwks_file = Some("relative/jwks.json".into());
        },
        "use an absolute path",
    );

    // Good PEM, URL and file configs pass without being read.
    let mut ok = good.clone();
    pem(&mut ok, &ec.public_pem);
    validate_issuer(&ok).unwrap();
    ok.pem_keys.clear();
    ok.jwks_url = Some("https://token.actions.githubusercontent.com/.well-known/jwks".into());
    validate_issuer(&ok).unwrap();
    ok.jwks_url = None;
    ok.jwks_file = Some("/var/run/leash/jwks.json".into());
    validate_issuer(&ok).unwrap();
}

/// A local JWKS endpoint whose document a test can change, counting requests.
struct JwksServer {
    url: String,
    jwks: Arc<Mutex<Value>>,
    hits: Arc<AtomicUsize>,
}

async fn jwks_server(initial: Value) -> JwksServer {
    use axum::routing::get;
    let jwks = Arc::new(Mutex::new(initial));
    let hits = Arc::new(AtomicUsize::new(0));
    let (doc, count) = (jwks.clone(), hits.clone());
    let app = axum::Router::new()
        .route(
            "/jwks",
            get(move || {
                let (doc, count) = (doc.clone(), count.clone());
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    let doc = doc.lock().unwrap().clone();
                    // A null document stands for an issuer that is down.
                    if doc.is_null() {
                        return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
                    }
                    Ok(axum::Json(doc))
                }
            }),
        )
        .route(
            "/broken",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    JwksServer {
        url: format!("http://{addr}/jwks"),
        jwks,
        hits,
    }
}

fn url_issuer(url: &str) -> JwtIssuer {
    JwtIssuer {
        name: "github".into(),
        issuer: GITHUB.into(),
        audiences: vec!["leash".into()],
        jwks_url: Some(url.to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn jwks_url_is_cached_and_refetched_on_key_rotation() {
    let (old, new) = rsa_keys();
    let server = jwks_server(json!({"keys": [old.jwk_with_kid("old")]})).await;
    let issuer = url_issuer(&server.url);
    validate_issuer(&issuer).unwrap();
    let v = JwtVerifier::with_settings(
        reqwest::Client::new(),
        JwksCacheSettings {
            min_refetch_interval: Duration::ZERO,
            ..Default::default()
        },
    );
    let binding = github_binding();

    v.verify(&issuer, &binding, &old.sign(Some("old"), &github_claims()))
        .await
        .unwrap();
    v.verify(&issuer, &binding, &old.sign(Some("old"), &github_claims()))
        .await
        .unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "the JWKS is cached");

    // The issuer rotates: it now publishes the new key next to the old one.
    *server.jwks.lock().unwrap() = json!({"keys": [old.jwk_with_kid("old"), new.jwk_with_kid("new")]});
    let clone = v.clone();
    clone
        .verify(&issuer, &binding, &new.sign(Some("new"), &github_claims()))
        .await
        .unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 2, "one refetch for the new kid");
    v.verify(&issuer, &binding, &new.sign(Some("new"), &github_claims()))
        .await
        .unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 2, "clones share the cache");

    let err = v
        .verify(&issuer, &binding, &new.sign(Some("gone"), &github_claims()))
        .await
        .unwrap_err();
    assert_eq!(err, JwtError::UnknownKid("gone".into()));
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_does_not_hammer_the_issuer() {
    let (key, new) = rsa_keys();
    let server = jwks_server(json!({"keys": [key.jwk_with_kid("k1")]})).await;
    let issuer = url_issuer(&server.url);
    let v = verifier();
    v.verify(&issuer, &github_binding(), &key.sign(Some("k1"), &github_claims()))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (v, issuer) = (v.clone(), issuer.clone());
        let jwt = key.sign(Some(&format!("bogus-{i}")), &github_claims());
        tasks.push(tokio::spawn(
            async move { v.verify(&issuer, &github_binding(), &jwt).await },
        ));
    }
    for task in tasks {
        assert!(matches!(task.await.unwrap(), Err(JwtError::UnknownKid(_))));
    }
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        1,
        "no refetch within the minimum interval"
    );
    // A genuinely new key has to wait for the interval as well.
    *server.jwks.lock().unwrap() = json!({"keys": [key.jwk_with_kid("k1"), new.jwk_with_kid("k2")]});
    let err = v
        .verify(&issuer, &github_binding(), &new.sign(Some("k2"), &github_claims()))
        .await
        .unwrap_err();
    assert_eq!(err, JwtError::UnknownKid("k2".into()));
}

#[tokio::test]
async fn last_good_keys_are_served_while_the_issuer_is_down() {
    let (key, new) = rsa_keys();
    let server = jwks_server(json!({"keys": [key.jwk_with_kid("k1")]})).await;
    let issuer = url_issuer(&server.url);
    let v = JwtVerifier::with_settings(
        reqwest::Client::new(),
        JwksCacheSettings {
            ttl: Duration::ZERO,
            min_refetch_interval: Duration::ZERO,
            ..Default::default()
        },
    );
    v.verify(&issuer, &github_binding(), &key.sign(Some("k1"), &github_claims()))
        .await
        .unwrap();
    *server.jwks.lock().unwrap() = Value::Null;
    v.verify(&issuer, &github_binding(), &key.sign(Some("k1"), &github_claims()))
        .await
        .unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 2, "a refresh was tried");
    // A kid the old keys lack reports the outage, not an unknown kid.
    let err = v
        .verify(&issuer, &github_binding(), &new.sign(Some("k2"), &github_claims()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot fetch JWKS from {}: the server answered 503 Service Unavailable",
            server.url
        )
    );
    assert_eq!(err.class(), JwtErrorClass::KeysUnavailable);
}

#[tokio::test]
async fn unreachable_jwks_url_is_keys_unavailable() {
    let (key, _) = rsa_keys();
    let server = jwks_server(json!({})).await;
    let jwt = key.sign(Some("k1"), &github_claims());

    // Not a JWKS.
    let err = verifier()
        .verify(&url_issuer(&server.url), &github_binding(), &jwt)
        .await
        .unwrap_err();
    assert_eq!(err.class(), JwtErrorClass::KeysUnavailable);
    assert!(
        err.to_string().starts_with(&format!(
            "cannot fetch JWKS from {}: the answer is not a usable JWKS",
            server.url
        )),
        "{err}"
    );

    // An error status.
    let broken = server.url.replace("/jwks", "/broken");
    let err = verifier()
        .verify(&url_issuer(&broken), &github_binding(), &jwt)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot fetch JWKS from {broken}: the server answered 500 Internal Server Error")
    );

    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = verifier()
        .verify(&url_issuer(&format!("http://{closed}/jwks")), &github_binding(), &jwt)
        .await
        .unwrap_err();
    assert!(matches!(err, JwtError::JwksFetch { .. }), "{err}");
    assert!(!err.is_config_error());
}

#[tokio::test]
async fn jwks_file_is_reread_when_it_changes() {
    let (key, new) = rsa_keys();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, json!({"keys": [key.jwk_with_kid("k1")]}).to_string()).unwrap();
    let issuer = JwtIssuer {
        name: "github".into(),
        issuer: GITHUB.into(),
        audiences: vec!["leash".into()],
        jwks_file: Some(path.display().to_string()),
        ..Default::default()
    };
    validate_issuer(&issuer).unwrap();
    let v = verifier();
    v.verify(&issuer, &github_binding(), &key.sign(Some("k1"), &github_claims()))
        .await
        .unwrap();
    let err = v
        .verify(&issuer, &github_binding(), &new.sign(Some("k2"), &github_claims()))
        .await
        .unwrap_err();
    assert_eq!(err, JwtError::UnknownKid("k2".into()));

    std::fs::write(
        &path,
        json!({"keys": [key.jwk_with_kid("k1"), new.jwk_with_kid("k2")]}).to_string(),
    )
    .unwrap();
    v.verify(&issuer, &github_binding(), &new.sign(Some("k2"), &github_claims()))
        .await
        .unwrap();

    std::fs::write(&path, "{ not json").unwrap();
    let err = v
        .verify(&issuer, &github_binding(), &key.sign(Some("k1"), &github_claims()))
        .await
        .unwrap_err();
    assert!(err.is_config_error(), "{err}");
    assert!(err.to_string().starts_with("the JWKS in file"), "{err}");

    std::fs::remove_file(&path).unwrap();
    let err = v
        .verify(&issuer, &github_binding(), &key.sign(Some("k1"), &github_claims()))
        .await
        .unwrap_err();
    assert!(matches!(err, JwtError::JwksFile { .. }), "{err}");
}
