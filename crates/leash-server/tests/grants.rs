//! A partial administrator (`admin` on one `sys/...` area, through a policy)
//! hands out only rights it holds itself (docs/policies.md#administration):
//! for every route that attaches policies, changes an identity or a group,
//! rewrites a policy or a JWT issuer, the widening request is refused with a
//! 403 naming what it cannot give and changes nothing, and the same request
//! within the caller's own rights works. Root tokens are unrestricted.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SUPER: &str = "[[allow]]\npath = \"**\"\ncapabilities = [\"admin\"]\n";
const PAYMENT_READ: &str = "[[allow]]\npath = \"payment/prod/**\"\ncapabilities = [\"read\", \"list\"]\n";
const NO_STRIPE: &str = "[[deny]]\npath = \"*/prod/stripe/**\"\n";
const TEAM: &str = "[[allow]]\npath = \"{{identity.metadata.team}}/*/**\"\ncapabilities = [\"read\", \"list\"]\n";

fn sys(area: &str) -> String {
    format!("[[allow]]\npath = \"sys/{area}\"\ncapabilities = [\"admin\"]\n")
}

/// A dev server with the policies these tests hand out.
async fn server() -> TestServer {
    let t = dev().await;
    for (name, body) in [
        ("super", SUPER.to_owned()),
        ("payment-read", PAYMENT_READ.to_owned()),
        ("no-stripe", NO_STRIPE.to_owned()),
        ("team", TEAM.to_owned()),
        ("sys-identities", sys("identities")),
        ("sys-groups", sys("groups")),
        ("sys-policies", sys("policies")),
        ("sys-tokens", sys("tokens")),
        ("sys-auth", sys("auth")),
    ] {
        let (status, body) = t
            .put(&format!("/api/v1/policies/{name}"), json!({"policy": body}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    t
}

/// Creates (as root) a user with these policies and metadata, and logs it in.
async fn user(t: &TestServer, name: &str, policies: &[&str], metadata: Value) -> String {
    let (status, body) = t
        .post(
            "/api/v1/identities",
            json!({"name": name, "kind": "user", "password": "a long passphrase",
                   "policies": policies, "metadata": metadata}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    login(t, name, "a long passphrase").await.unwrap()
}

async fn login(t: &TestServer, name: &str, password: &str) -> Option<String> {
    let (status, body) = t
        .call_as(
            "",
            Method::POST,
            "/api/v1/auth/userpass/login",
            Some(json!({"username": name, "password": password})),
        )
        .await;
    (status == StatusCode::OK).then(|| body["token"].as_str().unwrap().to_owned())
}

/// Creates (as root) a service with these policies.
async fn service(t: &TestServer, name: &str, policies: &[&str]) -> Value {
    let (status, body) = t
        .post(
            "/api/v1/identities",
            json!({"name": name, "kind": "service", "policies": policies}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Requests made with one token.
struct As<'a> {
    t: &'a TestServer,
    token: String,
}

impl As<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.t.call_as(&self.token, method, path, body).await
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }
    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }
}

fn as_<'a>(t: &'a TestServer, token: impl Into<String>) -> As<'a> {
    As { t, token: token.into() }
}

/// Asserts a 403 whose message names every one of `names`.
#[track_caller]
fn refused(answer: &(StatusCode, Value), names: &[&str]) {
    let (status, body) = answer;
    assert_eq!(*status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    for name in names {
        assert!(message.contains(name), "{message:?} should name {name}");
    }
}

#[track_caller]
fn ok(answer: &(StatusCode, Value), expected: StatusCode) {
    assert_eq!(answer.0, expected, "{}", answer.1);
}

#[tokio::test]
async fn a_tokens_admin_cannot_create_a_token_with_policies_it_does_not_hold() {
    let t = server().await;
    let admin = as_(&t, t.token(&["sys-tokens", "payment-read"], None).await);
    let create = "/api/v1/auth/token/create";
    refused(&admin.post(create, json!({"policies": ["super"]})).await, &["super"]);
    refused(
        &admin.post(create, json!({"policies": ["payment-read", "super"]})).await,
        &["super"],
    );
    ok(
        &admin.post(create, json!({"policies": ["payment-read"]})).await,
        StatusCode::CREATED,
    );
    ok(
        &admin
            .post(create, json!({"policies": ["payment-read", "sys-tokens"]}))
            .await,
        StatusCode::CREATED,
    );
    ok(&admin.post(create, json!({"policies": []})).await, StatusCode::CREATED);

    // What is denied to the caller is denied to what it makes.
    let fenced = as_(&t, t.token(&["sys-tokens", "payment-read", "no-stripe"], None).await);
    refused(
        &fenced.post(create, json!({"policies": ["payment-read"]})).await,
        &["no-stripe"],
    );
    ok(
        &fenced
            .post(create, json!({"policies": ["payment-read", "no-stripe"]}))
            .await,
        StatusCode::CREATED,
    );

    // A templated policy grants a token named otherwise other paths.
    let (status, lead) = t
        .post(
            create,
            json!({"policies": ["sys-tokens", "team"], "display_name": "lead"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{lead}");
    let lead = as_(&t, lead["token"].as_str().unwrap());
    refused(
        &lead
            .post(create, json!({"policies": ["team"], "display_name": "other"}))
            .await,
        &["team"],
    );
    ok(
        &lead
            .post(create, json!({"policies": ["team"], "display_name": "lead"}))
            .await,
        StatusCode::CREATED,
    );

    // Root is unrestricted.
    ok(
        &t.post(create, json!({"policies": ["super"]})).await,
        StatusCode::CREATED,
    );
}

#[tokio::test]
async fn an_identities_admin_cannot_create_an_identity_with_policies_it_does_not_hold() {
    let t = server().await;
    let admin = as_(&t, t.token(&["sys-identities", "payment-read"], None).await);
    let create = "/api/v1/identities";

    refused(
        &admin
            .post(create, json!({"name": "svc", "kind": "service", "policies": ["super"]}))
            .await,
        &["super", "svc"],
    );
    assert_eq!(
        t.get("/api/v1/identities/svc").await.0,
        StatusCode::NOT_FOUND,
        "nothing was created"
    );
    let user = json!({"name": "mallory", "kind": "user", "password": "a long passphrase", "policies": ["super"]});
    refused(&admin.post(create, user).await, &["super"]);
    assert_eq!(login(&t, "mallory", "a long passphrase").await, None);

    ok(
        &admin
            .post(
                create,
                json!({"name": "svc", "kind": "service", "policies": ["payment-read"]}),
            )
            .await,
        StatusCode::CREATED,
    );

    // Templated policies read the new identity's own name and metadata.
    let lead = as_(&t, t.token(&["sys-identities", "team"], None).await);
    refused(
        &lead
            .post(
                create,
                json!({"name": "member", "kind": "service", "policies": ["team"], "metadata": {"team": "shipping"}}),
            )
            .await,
        &["team"],
    );
}

#[tokio::test]
async fn an_identities_admin_cannot_take_over_an_identity_with_more_rights() {
    let t = server().await;
    let admin = as_(&t, t.token(&["sys-identities", "payment-read"], None).await);
    user(&t, "boss", &["super"], json!({})).await;
    let boss_svc = service(&t, "boss-svc", &["super"]).await;
    service(&t, "svc", &["payment-read"]).await;

    // Password, policies, metadata, TTLs: any change of a stronger identity is refused.
    for body in [
        json!({"password": "taken over!"}),
        json!({"policies": ["payment-read"]}),
        json!({"metadata": {"team": "x"}}),
        json!({"token_ttl": "2h"}),
    ] {
        refused(&admin.patch("/api/v1/identities/boss", body).await, &["boss", "super"]);
    }
    assert!(
        login(&t, "boss", "a long passphrase").await.is_some(),
        "the password did not change"
    );
    assert!(login(&t, "boss", "taken over!").await.is_none());
    let (_, boss) = t.get("/api/v1/identities/boss").await;
    assert_eq!(
        (boss["policies"].clone(), boss["metadata"].clone()),
        (json!(["super"]), json!({}))
    );

    // Client secret and deletion.
    refused(
        &admin
            .call(Method::POST, "/api/v1/identities/boss-svc/secret", None)
            .await,
        &["boss-svc"],
    );
    let creds = json!({"client_id": boss_svc["client_id"], "client_secret": boss_svc["client_secret"]});
    let (status, _) = t
        .call_as("", Method::POST, "/api/v1/auth/client/login", Some(creds))
        .await;
    assert_eq!(status, StatusCode::OK, "the old secret still works");
    refused(&admin.delete("/api/v1/identities/boss").await, &["boss"]);
    assert_eq!(t.get("/api/v1/identities/boss").await.0, StatusCode::OK);

    // A JWT binding is a way to log in: binding a stronger service is refused.
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let issuer =
        json!({"issuer": "https://issuer.example", "audiences": ["leash"], "pem_keys": [pair.public_key_pem()]});
    ok(&t.put("/api/v1/auth/jwt/issuers/mine", issuer).await, StatusCode::OK);
    let binding = json!({"jwt": {"issuer": "mine", "bound_subject": "me"}});
    refused(
        &admin.patch("/api/v1/identities/boss-svc", binding.clone()).await,
        &["boss-svc"],
    );
    let (_, shown) = t.get("/api/v1/identities/boss-svc").await;
    assert!(shown["jwt"].is_null(), "{shown}");

    // Giving a weaker identity a stronger policy is refused; within the caller's rights it works.
    refused(
        &admin
            .patch("/api/v1/identities/svc", json!({"policies": ["super"]}))
            .await,
        &["super"],
    );
    ok(&admin.patch("/api/v1/identities/svc", binding).await, StatusCode::OK);
    ok(
        &admin
            .patch("/api/v1/identities/svc", json!({"metadata": {"team": "x"}}))
            .await,
        StatusCode::OK,
    );
    ok(
        &admin.call(Method::POST, "/api/v1/identities/svc/secret", None).await,
        StatusCode::OK,
    );
    ok(
        &admin.patch("/api/v1/identities/svc", json!({"policies": []})).await,
        StatusCode::OK,
    );
    ok(&admin.delete("/api/v1/identities/svc").await, StatusCode::NO_CONTENT);

    // Revoking tokens takes rights away and gives the caller nothing: allowed.
    ok(
        &admin
            .call(Method::POST, "/api/v1/identities/boss/revoke-tokens", None)
            .await,
        StatusCode::NO_CONTENT,
    );
}

#[tokio::test]
async fn an_identities_admin_cannot_lift_its_own_denies_or_change_templated_metadata() {
    let t = server().await;
    // The caller is itself fenced off Stripe keys.
    let admin = as_(
        &t,
        t.token(&["sys-identities", "payment-read", "no-stripe"], None).await,
    );
    service(&t, "unfenced", &["payment-read"]).await;
    service(&t, "fenced", &["payment-read", "no-stripe"]).await;
    refused(
        &admin
            .call(Method::POST, "/api/v1/identities/unfenced/secret", None)
            .await,
        &["unfenced", "no-stripe"],
    );
    ok(
        &admin.call(Method::POST, "/api/v1/identities/fenced/secret", None).await,
        StatusCode::OK,
    );
    refused(
        &admin
            .patch("/api/v1/identities/fenced", json!({"policies": ["payment-read"]}))
            .await,
        &["no-stripe"],
    );

    // Metadata feeds templates: changing it on an identity with a templated policy is refused.
    let lead = as_(
        &t,
        user(&t, "lead", &["sys-identities", "team"], json!({"team": "payment"})).await,
    );
    user(&t, "member", &["team"], json!({"team": "payment"})).await;
    refused(
        &lead
            .patch("/api/v1/identities/member", json!({"metadata": {"team": "shipping"}}))
            .await,
        &["team"],
    );
    let (_, member) = t.get("/api/v1/identities/member").await;
    assert_eq!(member["metadata"], json!({"team": "payment"}));
    refused(
        &lead
            .patch("/api/v1/identities/lead", json!({"metadata": {"team": "shipping"}}))
            .await,
        &["team"],
    );
    // ... while changing one's own password changes no rights.
    ok(
        &lead
            .patch("/api/v1/identities/lead", json!({"password": "another passphrase"}))
            .await,
        StatusCode::OK,
    );
}

#[tokio::test]
async fn a_groups_admin_cannot_join_a_powerful_group_or_lift_a_deny() {
    let t = server().await;
    let admin = as_(&t, user(&t, "ga", &["sys-groups", "payment-read"], json!({})).await);
    user(&t, "boss", &["super"], json!({})).await;

    refused(
        &admin
            .post(
                "/api/v1/groups",
                json!({"name": "mine", "policies": ["super"], "members": ["ga"]}),
            )
            .await,
        &["super"],
    );
    assert_eq!(t.get("/api/v1/groups/mine").await.0, StatusCode::NOT_FOUND);
    ok(
        &admin
            .post(
                "/api/v1/groups",
                json!({"name": "mine", "policies": ["payment-read"], "members": ["ga"]}),
            )
            .await,
        StatusCode::CREATED,
    );

    // A group that carries more than the caller holds cannot be joined, changed or deleted.
    ok(
        &t.post(
            "/api/v1/groups",
            json!({"name": "powerful", "policies": ["super"], "members": ["boss"]}),
        )
        .await,
        StatusCode::CREATED,
    );
    refused(
        &admin
            .put(
                "/api/v1/groups/powerful",
                json!({"policies": ["super"], "members": ["boss", "ga"]}),
            )
            .await,
        &["powerful", "super"],
    );
    refused(&admin.delete("/api/v1/groups/powerful").await, &["powerful"]);
    let (_, powerful) = t.get("/api/v1/groups/powerful").await;
    assert_eq!(powerful["members"], json!(["boss"]));
    let (_, me) = admin.call(Method::GET, "/api/v1/auth/token/lookup-self", None).await;
    assert!(
        !me["effective_policies"].as_array().unwrap().contains(&json!("super")),
        "{me}"
    );

    // Changing the policies of a stronger identity through a harmless group is refused too.
    refused(
        &admin
            .put(
                "/api/v1/groups/mine",
                json!({"policies": ["payment-read"], "members": ["ga", "boss"]}),
            )
            .await,
        &["boss"],
    );

    // A deny the caller is under, given through a group, stays.
    ok(
        &t.post(
            "/api/v1/groups",
            json!({"name": "everyone", "policies": ["no-stripe"], "members": ["ga"]}),
        )
        .await,
        StatusCode::CREATED,
    );
    refused(
        &admin
            .put("/api/v1/groups/everyone", json!({"policies": [], "members": ["ga"]}))
            .await,
        &["no-stripe"],
    );
    refused(
        &admin
            .put(
                "/api/v1/groups/everyone",
                json!({"policies": ["no-stripe"], "members": []}),
            )
            .await,
        &["no-stripe"],
    );
    refused(&admin.delete("/api/v1/groups/everyone").await, &["no-stripe"]);
    let (_, everyone) = t.get("/api/v1/groups/everyone").await;
    assert_eq!(
        (everyone["policies"].clone(), everyone["members"].clone()),
        (json!(["no-stripe"]), json!(["ga"]))
    );

    // Within its own rights a groups admin manages groups as before.
    ok(
        &admin
            .put(
                "/api/v1/groups/mine",
                json!({"policies": ["payment-read", "no-stripe"], "members": ["ga"]}),
            )
            .await,
        StatusCode::OK,
    );
    ok(&admin.delete("/api/v1/groups/mine").await, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_policies_admin_cannot_rewrite_a_policy_in_force_for_itself() {
    let t = server().await;
    let admin = as_(&t, t.token(&["sys-policies", "payment-read"], None).await);
    let doc = |body: &str| json!({"policy": body});
    refused(
        &admin.put("/api/v1/policies/payment-read", doc(SUPER)).await,
        &["payment-read"],
    );
    refused(
        &admin.put("/api/v1/policies/sys-policies", doc(SUPER)).await,
        &["sys-policies"],
    );
    let (_, stored) = t.get("/api/v1/policies/payment-read").await;
    assert_eq!(stored["policy"], PAYMENT_READ, "nothing changed");
    refused(&admin.delete("/api/v1/policies/payment-read").await, &["payment-read"]);
    assert_eq!(t.get("/api/v1/policies/payment-read").await.0, StatusCode::OK);

    // Policies not in force for the caller are its to manage.
    ok(
        &admin.put("/api/v1/policies/shipping-read", doc(PAYMENT_READ)).await,
        StatusCode::OK,
    );
    ok(
        &admin.delete("/api/v1/policies/shipping-read").await,
        StatusCode::NO_CONTENT,
    );
}

#[tokio::test]
async fn an_auth_admin_cannot_repoint_the_issuer_of_a_stronger_identity() {
    let t = server().await;
    let admin = as_(&t, t.token(&["sys-auth", "payment-read"], None).await);
    let theirs = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mine = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let issuer = |pair: &rcgen::KeyPair| json!({"issuer": "https://issuer.example", "audiences": ["leash"], "pem_keys": [pair.public_key_pem()]});
    ok(
        &t.put("/api/v1/auth/jwt/issuers/ci", issuer(&theirs)).await,
        StatusCode::OK,
    );
    ok(
        &t.put("/api/v1/auth/jwt/issuers/small", issuer(&theirs)).await,
        StatusCode::OK,
    );
    for (name, policy, on) in [("deployer", "super", "ci"), ("reader", "payment-read", "small")] {
        let (status, body) = t
            .post(
                "/api/v1/identities",
                json!({"name": name, "kind": "service", "policies": [policy],
                       "jwt": {"issuer": on, "bound_subject": "repo"}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    refused(
        &admin.put("/api/v1/auth/jwt/issuers/ci", issuer(&mine)).await,
        &["deployer", "super"],
    );
    refused(&admin.delete("/api/v1/auth/jwt/issuers/ci").await, &["deployer"]);
    // So the stronger identity cannot be logged into with the caller's key.
    let signing = jsonwebtoken::EncodingKey::from_ec_pem(mine.serialize_pem().as_bytes()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": "https://issuer.example", "aud": "leash", "sub": "repo", "exp": now + 300});
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &signing,
    )
    .unwrap();
    let (status, _) = t
        .call_as(
            "",
            Method::POST,
            "/api/v1/auth/jwt/login",
            Some(json!({"identity": "deployer", "jwt": jwt})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An issuer only weaker identities use is the caller's to manage; so is a new one.
    ok(
        &admin.put("/api/v1/auth/jwt/issuers/small", issuer(&mine)).await,
        StatusCode::OK,
    );
    ok(
        &admin.put("/api/v1/auth/jwt/issuers/fresh", issuer(&mine)).await,
        StatusCode::OK,
    );
    ok(
        &admin.delete("/api/v1/auth/jwt/issuers/fresh").await,
        StatusCode::NO_CONTENT,
    );
}

#[tokio::test]
async fn an_administrator_of_everything_without_denies_is_unrestricted() {
    let t = server().await;
    let all = as_(&t, t.token(&["super"], None).await);
    ok(
        &all.post(
            "/api/v1/identities",
            json!({"name": "svc", "kind": "service", "policies": ["payment-read", "team"]}),
        )
        .await,
        StatusCode::CREATED,
    );
    ok(
        &all.put("/api/v1/policies/super", json!({"policy": SUPER})).await,
        StatusCode::OK,
    );
    // The same administrator under a deny rule hands out only what it holds.
    let fenced = as_(&t, t.token(&["super", "no-stripe"], None).await);
    refused(
        &fenced
            .post("/api/v1/auth/token/create", json!({"policies": ["payment-read"]}))
            .await,
        &["payment-read"],
    );
}
