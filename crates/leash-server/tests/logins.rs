//! Logins, tokens and brute-force protection through the real server.

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn login(t: &TestServer, route: &str, body: Value) -> (StatusCode, Value) {
    t.call_as("", Method::POST, &format!("/api/v1/auth/{route}/login"), Some(body))
        .await
}

async fn service(t: &TestServer, name: &str, extra: Value) -> Value {
    let mut body = json!({"name": name, "kind": "service"});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (status, created) = t.post("/api/v1/identities", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

#[tokio::test]
async fn user_password_login_and_whoami() {
    let t = dev().await;
    let (status, created) = t
        .post(
            "/api/v1/identities",
            json!({"name": "alice", "kind": "user", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        !created.to_string().contains("correct horse"),
        "the password is never echoed"
    );
    let (short, _) = t
        .post(
            "/api/v1/identities",
            json!({"name": "bob", "kind": "user", "password": "short"}),
        )
        .await;
    assert_eq!(short, StatusCode::BAD_REQUEST);

    let (status, ok) = login(
        &t,
        "userpass",
        json!({"username": "alice", "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    let token = ok["token"].as_str().unwrap();
    let (_, me) = t
        .call_as(token, Method::GET, "/api/v1/auth/token/lookup-self", None)
        .await;
    assert_eq!(
        (me["identity"].as_str(), me["auth_method"].as_str()),
        (Some("alice"), Some("userpass"))
    );

    for (user, password) in [("alice", "wrong password"), ("nobody", "correct horse battery")] {
        let (status, body) = login(&t, "userpass", json!({"username": user, "password": password})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body["error"]["code"], "login_failed",
            "unknown user and wrong password look alike"
        );
    }
}

#[tokio::test]
async fn client_secret_limits_cidrs_and_rotation() {
    let t = dev().await;
    let open = service(&t, "svc", json!({})).await;
    assert!(open["client_secret"].as_str().unwrap().starts_with("lsc_"));
    let creds = |c: &Value| json!({"client_id": c["client_id"], "client_secret": c["client_secret"]});
    assert_eq!(login(&t, "client", creds(&open)).await.0, StatusCode::OK);
    let wrong =
        json!({"client_id": open["client_id"], "client_secret": leash_core::token::generate_client_secret().as_str()});
    assert_eq!(login(&t, "client", wrong).await.0, StatusCode::UNAUTHORIZED);

    let once = service(&t, "once", json!({"client": {"secret_uses": 1}})).await;
    assert_eq!(login(&t, "client", creds(&once)).await.0, StatusCode::OK);
    assert_eq!(
        login(&t, "client", creds(&once)).await.0,
        StatusCode::UNAUTHORIZED,
        "one use only"
    );

    let fenced = service(&t, "fenced", json!({"client": {"allowed_cidrs": ["10.0.0.0/8"]}})).await;
    assert_eq!(
        login(&t, "client", creds(&fenced)).await.0,
        StatusCode::UNAUTHORIZED,
        "127.0.0.1 is outside 10/8"
    );
    let (status, _) = t
        .post(
            "/api/v1/identities",
            json!({"name": "bad", "kind": "service", "client": {"allowed_cidrs": ["not-a-net"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, rotated) = t.call(Method::POST, "/api/v1/identities/svc/secret", None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(
        login(&t, "client", creds(&open)).await.0,
        StatusCode::UNAUTHORIZED,
        "the old secret stops working"
    );
    assert_eq!(login(&t, "client", creds(&rotated)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_burst_of_bad_logins_is_throttled_per_address() {
    let t = dev().await;
    let svc = service(&t, "svc", json!({})).await;
    let bad = json!({"client_id": svc["client_id"], "client_secret": "lsc_wrong"});
    let mut throttled = None;
    for attempt in 0..20 {
        let resp = t
            .http
            .post(format!("{}/api/v1/auth/client/login", t.url))
            .json(&bad)
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!(retry >= 1);
            throttled = Some(attempt);
            break;
        }
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(
        throttled.is_some_and(|n| n >= 5),
        "a burst of bad logins ends in 429: {throttled:?}"
    );
    // the right secret from the same address is refused too while blocked
    let good = json!({"client_id": svc["client_id"], "client_secret": svc["client_secret"]});
    assert_eq!(login(&t, "client", good.clone()).await.0, StatusCode::TOO_MANY_REQUESTS);
    // ... but works from another address
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let resp = elsewhere
        .post(format!("{}/api/v1/auth/client/login", t.url))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn token_ttl_renew_max_ttl_and_revocation() {
    let t = dev().await;
    let (_, short) = t
        .post("/api/v1/auth/token/create", json!({"ttl": "1s", "max_ttl": "1h"}))
        .await;
    let short = short["token"].as_str().unwrap().to_owned();
    assert_eq!(
        t.call_as(&short, Method::GET, "/api/v1/auth/token/lookup-self", None)
            .await
            .0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, body) = t
        .call_as(&short, Method::GET, "/api/v1/auth/token/lookup-self", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");

    let (_, capped) = t
        .post("/api/v1/auth/token/create", json!({"ttl": "1h", "max_ttl": "2h"}))
        .await;
    let capped = capped["token"].as_str().unwrap().to_owned();
    let renew = |inc: &str| {
        let capped = capped.clone();
        let inc = inc.to_owned();
        let t = &t;
        async move {
            t.call_as(
                &capped,
                Method::POST,
                "/api/v1/auth/token/renew-self",
                Some(json!({"increment": inc})),
            )
            .await
        }
    };
    assert_eq!(renew("90m").await.0, StatusCode::OK);
    let (status, body) = renew("3h").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("max_ttl_exceeded"))
    );

    let (status, _) = t.post("/api/v1/auth/token/revoke", json!({"token": capped})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.call_as(&capped, Method::GET, "/api/v1/auth/token/lookup-self", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = t
        .post("/api/v1/auth/token/create", json!({"policies": ["missing"]}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown policies are named, not ignored"
    );
}

#[tokio::test]
async fn deleting_an_identity_revokes_its_tokens() {
    let t = dev().await;
    let svc = service(&t, "svc", json!({})).await;
    let (_, session) = login(
        &t,
        "client",
        json!({"client_id": svc["client_id"], "client_secret": svc["client_secret"]}),
    )
    .await;
    let token = session["token"].as_str().unwrap().to_owned();
    assert_eq!(
        t.call_as(&token, Method::GET, "/api/v1/auth/token/lookup-self", None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        t.call(Method::DELETE, "/api/v1/identities/svc", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.call_as(&token, Method::GET, "/api/v1/auth/token/lookup-self", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn root_token_hygiene_revoke_then_generate_root() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = fresh(dir.path()).await;
    let (_, init) = t
        .call_as(
            "",
            Method::POST,
            "/api/v1/sys/init",
            Some(json!({"shares": 3, "threshold": 2})),
        )
        .await;
    let shares: Vec<String> = init["unseal_shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().into())
        .collect();
    t.token = init["root_token"].as_str().unwrap().to_owned();
    for share in &shares[..2] {
        t.call_as("", Method::POST, "/api/v1/sys/unseal", Some(json!({"share": share})))
            .await;
    }
    t.put(
        "/api/v1/policies/admin",
        json!({"policy": "[[allow]]\npath = \"**\"\ncapabilities = [\"admin\"]\n"}),
    )
    .await;
    let (status, _) = t
        .post(
            "/api/v1/identities",
            json!({"name": "ops", "kind": "user", "password": "a long passphrase", "policies": ["admin"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, ops) = login(
        &t,
        "userpass",
        json!({"username": "ops", "password": "a long passphrase"}),
    )
    .await;
    let ops = ops["token"].as_str().unwrap().to_owned();
    assert_eq!(
        t.call(Method::POST, "/api/v1/auth/token/revoke-self", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get("/api/v1/projects").await.0,
        StatusCode::UNAUTHORIZED,
        "root token revoked"
    );
    let (status, _) = t
        .call_as(&ops, Method::POST, "/api/v1/projects", Some(json!({"name": "p"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "the admin user carries on");

    let (_, first) = t
        .call_as(
            "",
            Method::POST,
            "/api/v1/sys/generate-root",
            Some(json!({"share": shares[2]})),
        )
        .await;
    assert_eq!(
        (first["progress"].as_u64(), first["root_token"].is_null()),
        (Some(1), true)
    );
    let (status, done) = t
        .call_as(
            "",
            Method::POST,
            "/api/v1/sys/generate-root",
            Some(json!({"share": shares[0]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let root = done["root_token"].as_str().unwrap().to_owned();
    let (_, me) = t
        .call_as(&root, Method::GET, "/api/v1/auth/token/lookup-self", None)
        .await;
    assert_eq!(me["root"], true);
}

#[tokio::test]
async fn github_actions_jwt_logs_in_through_the_route() {
    let t = dev().await;
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let signing = jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
    let issuer = json!({
        "issuer": "https://token.actions.githubusercontent.com",
        "audiences": ["leash"],
        "pem_keys": [pair.public_key_pem()],
        "algorithms": ["ES256"]
    });
    let (status, body) = t.put("/api/v1/auth/jwt/issuers/github", issuer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, bad_issuer) = t
        .put(
            "/api/v1/auth/jwt/issuers/broken",
            json!({"issuer": "x", "audiences": []}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad_issuer}");
    let (status, unbound) = t
        .post(
            "/api/v1/identities",
            json!({"name": "ci", "kind": "service", "jwt": {"issuer": "github"}}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a binding must bind a claim: {unbound}"
    );
    let binding = json!({"issuer": "github", "bound_claims": {"repository": "org/payment"}});
    let (status, created) = t
        .post(
            "/api/v1/identities",
            json!({"name": "ci", "kind": "service", "jwt": binding}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        created["client_secret"].is_null(),
        "a JWT-only service gets no client secret"
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sign = |repository: &str| {
        let claims = json!({
            "iss": "https://token.actions.githubusercontent.com", "aud": "leash",
            "sub": format!("repo:{repository}:ref:refs/heads/main"), "repository": repository,
            "exp": now + 300, "iat": now
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &claims,
            &signing,
        )
        .unwrap()
    };
    let (status, ok) = login(&t, "jwt", json!({"identity": "ci", "jwt": sign("org/payment")})).await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    let (_, me) = t
        .call_as(
            ok["token"].as_str().unwrap(),
            Method::GET,
            "/api/v1/auth/token/lookup-self",
            None,
        )
        .await;
    assert_eq!(
        (me["identity"].as_str(), me["auth_method"].as_str()),
        (Some("ci"), Some("jwt"))
    );

    let other = sign("org/other");
    let (status, refused) = login(&t, "jwt", json!({"identity": "ci", "jwt": other})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("repository") && !message.contains("org/payment"),
        "the binding is not told to an unauthenticated caller: {message}"
    );
    assert!(!message.contains(&other), "the JWT is never echoed");
}

/// A client whose requests come from 127.0.0.`n`, so a test that makes many
/// failed logins stays under the per-address limit.
fn from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, n]))
        .build()
        .unwrap()
}

/// A login's status and raw body bytes.
async fn raw_login(t: &TestServer, client: &reqwest::Client, route: &str, body: Value) -> (StatusCode, Vec<u8>) {
    let resp = client
        .post(format!("{}/api/v1/auth/{route}/login", t.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn refused_logins_all_answer_the_same_bytes() {
    let t = dev().await;
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let issuer = |pem: String| json!({"issuer": "https://token.actions.githubusercontent.com", "audiences": ["leash"], "pem_keys": [pem]});
    for name in ["github", "gone"] {
        let (status, body) = t
            .put(
                &format!("/api/v1/auth/jwt/issuers/{name}"),
                issuer(pair.public_key_pem()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = json!({"issuer": "https://token.actions.githubusercontent.com", "audiences": ["leash"],
                      "jwks_url": format!("http://{closed}/jwks")});
    let (status, body) = t.put("/api/v1/auth/jwt/issuers/down", down).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (name, on) in [("ci", "github"), ("orphan", "gone"), ("unlucky", "down")] {
        let binding = json!({"issuer": on, "bound_claims": {"repository": "org/payment"}});
        service(&t, name, json!({"jwt": binding})).await;
    }
    let (status, _) = t.call(Method::DELETE, "/api/v1/auth/jwt/issuers/gone", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let plain = service(&t, "plain", json!({})).await;
    let (status, body) = t
        .post(
            "/api/v1/identities",
            json!({"name": "alice", "kind": "user", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"iss": "https://token.actions.githubusercontent.com", "aud": "leash",
                        "sub": "repo:org/payment:ref:refs/heads/main", "repository": "org/payment",
                        "exp": now + 300, "iat": now});
    let sign = |pair: &rcgen::KeyPair, f: &dyn Fn(&mut Value)| {
        let mut claims = claims.clone();
        f(&mut claims);
        let key = jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &claims,
            &key,
        )
        .unwrap()
    };
    let good = sign(&pair, &|_| {});
    let jwt = |identity: &str, jwt: &str| json!({"identity": identity, "jwt": jwt});
    let cases = [
        ("unknown identity", "jwt", jwt("nobody", &good)),
        ("a service without a JWT binding", "jwt", jwt("plain", &good)),
        ("a user", "jwt", jwt("alice", &good)),
        (
            "wrong issuer",
            "jwt",
            jwt("ci", &sign(&pair, &|c| c["iss"] = json!("https://evil.example"))),
        ),
        ("bad signature", "jwt", jwt("ci", &sign(&stranger, &|_| {}))),
        (
            "expired",
            "jwt",
            jwt("ci", &sign(&pair, &|c| c["exp"] = json!(now - 3600))),
        ),
        (
            "wrong audience",
            "jwt",
            jwt("ci", &sign(&pair, &|c| c["aud"] = json!("someone-else"))),
        ),
        (
            "binding mismatch",
            "jwt",
            jwt("ci", &sign(&pair, &|c| c["repository"] = json!("org/other"))),
        ),
        ("not a JWT", "jwt", jwt("ci", "not-a-jwt")),
        ("issuer no longer configured", "jwt", jwt("orphan", &good)),
        ("issuer keys unavailable", "jwt", jwt("unlucky", &good)),
        (
            "wrong password",
            "userpass",
            json!({"username": "alice", "password": "wrong password"}),
        ),
        (
            "unknown user",
            "userpass",
            json!({"username": "nobody", "password": "wrong password"}),
        ),
        (
            "wrong client secret",
            "client",
            json!({"client_id": plain["client_id"], "client_secret": leash_core::token::generate_client_secret().as_str()}),
        ),
        (
            "unknown client id",
            "client",
            json!({"client_id": "cid_nobody", "client_secret": plain["client_secret"]}),
        ),
    ];
    let mut first: Option<Vec<u8>> = None;
    for (n, (what, route, body)) in cases.into_iter().enumerate() {
        let (status, bytes) = raw_login(&t, &from(10 + n as u8), route, body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            String::from_utf8_lossy(&bytes)
        );
        match &first {
            None => first = Some(bytes),
            Some(expected) => assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(expected),
                "{what} answers like every other refusal"
            ),
        }
    }
    let expected = first.unwrap();
    let body: Value = serde_json::from_slice(&expected).unwrap();
    assert_eq!(body["error"]["code"], "login_failed", "{body}");

    let (status, _) = raw_login(&t, &from(40), "jwt", jwt("ci", &good)).await;
    assert_eq!(status, StatusCode::OK, "the right token still logs in");
}

#[tokio::test]
async fn two_authorization_headers_are_refused_whatever_their_order() {
    let t = dev().await;
    let bogus = leash_core::token::generate_token().to_string();
    let send = |headers: Vec<String>| {
        let mut req = t
            .http
            .post(format!("{}/api/v1/projects", t.url))
            .json(&json!({"name": "p"}));
        for h in headers {
            req = req.header(reqwest::header::AUTHORIZATION, h);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let root = format!("Bearer {}", t.token);
    let other = format!("Bearer {bogus}");
    for (what, headers) in [
        ("root first", vec![root.clone(), other.clone()]),
        ("root second", vec![other.clone(), root.clone()]),
        ("root twice", vec![root.clone(), root.clone()]),
    ] {
        let (status, body) = send(headers).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{what}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("more than one Authorization header"),
            "{what}: {message}"
        );
        assert!(!message.contains(&t.token), "the token is never echoed");
    }
    for (what, header) in [
        ("empty", "Bearer ".to_owned()),
        ("bare scheme", "Bearer".to_owned()),
        ("two tokens", format!("Bearer {} {bogus}", t.token)),
    ] {
        let (status, body) = send(vec![header]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{what}: {body}");
    }
    let (_, projects) = t.get("/api/v1/projects").await;
    assert_eq!(
        projects["projects"],
        json!([]),
        "no request was authenticated: {projects}"
    );
    assert_eq!(send(vec![root]).await.0, StatusCode::CREATED, "one header works");
}
