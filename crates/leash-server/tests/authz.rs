//! Access control through the real server: the route table walk (no route
//! bypasses authentication or authorization), the authorization matrix, list
//! filtering and the no-existence-leak rule.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use leash_server::routes::{Access, route_table};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A valid request for one route of `route_table()`, and what the root token
/// gets for it (for a route that takes no token: what anyone gets).
struct Valid {
    method: Method,
    /// The route pattern as `route_table()` spells it: with `method`, the key of the walk's table.
    route: String,
    /// The concrete path (and query) sent.
    url: String,
    body: Option<Value>,
    answer: StatusCode,
}

/// `method route` sent to `concrete(route)`, without a body, answered 200.
fn valid(method: Method, route: &str) -> Valid {
    Valid {
        method,
        route: route.to_owned(),
        url: concrete(route),
        body: None,
        answer: StatusCode::OK,
    }
}

impl Valid {
    fn at(mut self, url: &str) -> Self {
        self.url = url.to_owned();
        self
    }

    fn query(mut self, query: &str) -> Self {
        self.url.push_str(query);
        self
    }

    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn answers(mut self, status: StatusCode) -> Self {
        self.answer = status;
        self
    }

    fn key(&self) -> (String, String) {
        (self.method.to_string(), self.route.clone())
    }

    async fn send(&self, t: &TestServer, token: &str) -> (StatusCode, Value) {
        t.call_as(token, self.method.clone(), &self.url, self.body.clone())
            .await
    }
}

/// Whether `url` is a path of route `pattern` (`{name}` is one segment, `{*path}` the rest).
fn is_route(pattern: &str, url: &str) -> bool {
    let path = url.split('?').next().unwrap_or_default();
    let (mut want, mut have) = (pattern.split('/'), path.split('/'));
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some(w), Some(h)) if w.starts_with("{*") => return !h.is_empty(),
            (Some(w), Some(h)) if w.starts_with('{') && !h.is_empty() => {}
            (Some(w), Some(h)) if w == h => {}
            _ => return false,
        }
    }
}

/// A token without policies was refused, or a listing answered it with empty lists; never a 400.
fn shows_nothing(method: &Method, status: StatusCode, answer: &Value) -> bool {
    match status {
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => true,
        StatusCode::OK if *method == Method::GET => {
            let lists: Vec<&Value> = answer
                .as_object()
                .into_iter()
                .flat_map(|o| o.values())
                .filter(|v| v.is_array())
                .collect();
            !lists.is_empty() && lists.iter().all(|v| v.as_array().is_some_and(Vec::is_empty))
        }
        _ => false,
    }
}

const PASSWORD: &str = "a long passphrase";
const READ_P_E: &str = "[[allow]]\npath = \"p/e/**\"\ncapabilities = [\"read\"]\n";

/// What the walk's requests refer to, made by root before it starts.
struct Fixtures {
    /// A token for the token lookup, renew and revoke routes.
    victim: String,
    client_login: Value,
    jwt: String,
    recipient: String,
}

/// Asserts a set-up request succeeded.
async fn made(t: &TestServer, method: Method, path: &str, body: Value) -> Value {
    let (status, answer) = t.call(method, path, Some(body)).await;
    assert!(status.is_success(), "set-up {path}: {status} {answer}");
    answer
}

async fn fixtures(t: &TestServer) -> Fixtures {
    // p/e holds K at revision 2 (a rollback to 1 changes something); p/vault is empty, for the e2e routes
    t.project_env("p", "e").await;
    t.set("K", "v1").await;
    t.set("K", "v2").await;
    t.project_env_in("p", "vault").await;
    // a user, a service and a JWT-bound service, one for each login
    let identity = |body: Value| made(t, Method::POST, "/api/v1/identities", body);
    identity(json!({"name": "u", "kind": "user", "password": PASSWORD})).await;
    let svc = identity(json!({"name": "svc", "kind": "service"})).await;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let issuer = json!({"issuer": "https://ci.example", "audiences": ["leash"], "pem_keys": [key.public_key_pem()]});
    made(t, Method::PUT, "/api/v1/auth/jwt/issuers/ci", issuer).await;
    identity(json!({"name": "deploy", "kind": "service", "jwt": {"issuer": "ci", "bound_subject": "build"}})).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": "https://ci.example", "aud": "leash", "sub": "build", "iat": now, "exp": now + 600});
    let signing = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &signing,
    )
    .unwrap();
    Fixtures {
        victim: t.token(&[], None).await,
        client_login: json!({"client_id": svc["client_id"], "client_secret": svc["client_secret"]}),
        jwt,
        recipient: age::x25519::Identity::generate().to_public().to_string(),
    }
}

/// One valid request per route, in the order the walk sends them: each is valid
/// on the state the rows before it leave (reads before deletes, a delete after
/// what needs the thing; `revoke-self` ends its token, `seal` ends the walk).
fn table(fx: &Fixtures) -> Vec<Valid> {
    use Method as M;
    use StatusCode as S;
    let env = |suffix: &str| format!("/api/v1/projects/{{project}}/envs/{{env}}{suffix}");
    let vault = |suffix: &str| format!("/api/v1/projects/p/envs/vault{suffix}");
    vec![
        // no token: answered to anyone
        valid(M::GET, "/api/v1/sys/health"),
        valid(M::GET, "/api/v1/sys/seal-status"),
        valid(M::GET, "/api/v1/openapi.json"),
        // a dev server is initialised: 409 already_initialized is the only answer init has left
        valid(M::POST, "/api/v1/sys/init")
            .body(json!({"shares": 1, "threshold": 1}))
            .answers(S::CONFLICT),
        valid(M::POST, "/api/v1/sys/unseal").body(json!({"reset": true})),
        valid(M::POST, "/api/v1/sys/generate-root").body(json!({"reset": true})),
        valid(M::POST, "/api/v1/auth/userpass/login").body(json!({"username": "u", "password": PASSWORD})),
        valid(M::POST, "/api/v1/auth/client/login").body(fx.client_login.clone()),
        valid(M::POST, "/api/v1/auth/jwt/login").body(json!({"identity": "deploy", "jwt": fx.jwt})),
        // the token acting on itself (revoke-self comes last but one)
        valid(M::GET, "/api/v1/auth/token/lookup-self"),
        valid(M::POST, "/api/v1/auth/token/renew-self").body(json!({"increment": "1h"})),
        // server administration
        valid(M::GET, "/api/v1/sys/keyring"),
        valid(M::GET, "/api/v1/sys/nodes"),
        valid(M::GET, "/api/v1/sys/snapshot"),
        valid(M::POST, "/api/v1/sys/rotate-key"),
        valid(M::GET, "/metrics"),
        valid(M::GET, "/api/v1/auth/jwt/issuers"),
        valid(M::PUT, "/api/v1/auth/jwt/issuers/{name}")
            .body(json!({"issuer": "https://x.example", "audiences": ["leash"], "jwks_url": "https://x.example/jwks"})),
        valid(M::DELETE, "/api/v1/auth/jwt/issuers/{name}").answers(S::NO_CONTENT),
        valid(M::POST, "/api/v1/auth/token/create")
            .body(json!({"policies": []}))
            .answers(S::CREATED),
        valid(M::POST, "/api/v1/auth/token/lookup").body(json!({"token": fx.victim})),
        valid(M::POST, "/api/v1/auth/token/renew").body(json!({"token": fx.victim, "increment": "30m"})),
        valid(M::POST, "/api/v1/auth/token/revoke")
            .body(json!({"token": fx.victim}))
            .answers(S::NO_CONTENT),
        valid(M::GET, "/api/v1/identities"),
        valid(M::POST, "/api/v1/identities")
            .body(json!({"name": "x", "kind": "service"}))
            .answers(S::CREATED),
        valid(M::GET, "/api/v1/identities/{name}"),
        valid(M::PATCH, "/api/v1/identities/{name}").body(json!({"metadata": {"team": "walk"}})),
        valid(M::POST, "/api/v1/identities/{name}/secret"),
        valid(M::POST, "/api/v1/identities/{name}/revoke-tokens").answers(S::NO_CONTENT),
        valid(M::GET, "/api/v1/groups"),
        valid(M::POST, "/api/v1/groups")
            .body(json!({"name": "x", "members": ["x"]}))
            .answers(S::CREATED),
        valid(M::GET, "/api/v1/groups/{name}"),
        valid(M::PUT, "/api/v1/groups/{name}").body(json!({"policies": [], "members": []})),
        valid(M::DELETE, "/api/v1/groups/{name}").answers(S::NO_CONTENT),
        valid(M::GET, "/api/v1/policies"),
        valid(M::PUT, "/api/v1/policies/{name}").body(json!({"policy": READ_P_E})),
        valid(M::GET, "/api/v1/policies/{name}"),
        valid(M::POST, "/api/v1/policies/check").body(json!({"identity": "x", "path": "p/e/K", "capability": "read"})),
        valid(M::GET, "/api/v1/access/who-can").query("?path=p/e/K&capability=read"),
        valid(M::GET, "/api/v1/access/what-can/{name}").query("?project=p&env=e"),
        valid(M::GET, "/api/v1/access/report").query("?unused_days=30"),
        valid(M::DELETE, "/api/v1/policies/{name}").answers(S::NO_CONTENT),
        valid(M::DELETE, "/api/v1/identities/{name}").answers(S::NO_CONTENT),
        valid(M::GET, "/api/v1/audit").query("?limit=10"),
        valid(M::POST, "/api/v1/audit/checkpoint"),
        valid(M::POST, "/api/v1/audit/verify"),
        valid(M::POST, "/api/v1/audit/hash").body(json!({"value": "v"})),
        // projects and environments (q and p/f are made for their deletes)
        valid(M::GET, "/api/v1/projects"),
        valid(M::POST, "/api/v1/projects")
            .body(json!({"name": "q"}))
            .answers(S::CREATED),
        valid(M::DELETE, "/api/v1/projects/{project}")
            .at("/api/v1/projects/q")
            .answers(S::NO_CONTENT),
        valid(M::GET, "/api/v1/projects/{project}/envs"),
        valid(M::POST, "/api/v1/projects/{project}/envs")
            .body(json!({"name": "f"}))
            .answers(S::CREATED),
        valid(M::DELETE, &env(""))
            .at("/api/v1/projects/p/envs/f")
            .answers(S::NO_CONTENT),
        valid(M::GET, &env("/history")),
        valid(M::POST, &env("/rollback")).body(json!({"to": 1})),
        valid(M::POST, &env("/changes")).body(json!({"changes": [{"path": "K", "op": "set", "value": "v3"}]})),
        valid(M::GET, &env("/diff/{other}")).at("/api/v1/projects/p/envs/e/diff/vault"),
        valid(M::POST, &env("/copy")).body(json!({"from": "K", "to": "K2"})),
        valid(M::POST, &env("/move")).body(json!({"from": "K2", "to": "K3"})),
        valid(M::GET, &env("/watch")).query("?after=0"),
        valid(M::GET, "/api/v1/scan/fingerprints").query("?project=p&env=e"),
        // end-to-end encryption, on the empty p/vault
        valid(M::GET, &env("/e2e")).at(&vault("/e2e")),
        valid(M::GET, &env("/e2e/values")).at(&vault("/e2e/values")),
        valid(M::PUT, &env("/e2e"))
            .at(&vault("/e2e"))
            .body(json!({"recipients": [fx.recipient], "cas": 0, "values": []})),
        valid(M::DELETE, &env("/e2e")).at(&vault("/e2e")),
        // one secret, K
        valid(M::GET, &env("/secrets")),
        valid(M::GET, &env("/secrets/{*path}")),
        valid(M::PUT, &env("/secrets/{*path}")).body(json!({"value": "v"})),
        valid(M::GET, &env("/metadata/{*path}")),
        valid(M::GET, &env("/rotation/{*path}")),
        valid(M::PUT, &env("/rotation/{*path}")).body(json!({"every": "30d"})),
        valid(M::POST, &env("/rotate/{*path}")),
        valid(M::GET, &env("/rotation-history/{*path}")),
        valid(M::DELETE, &env("/rotation/{*path}")),
        valid(M::DELETE, &env("/secrets/{*path}")),
        valid(M::POST, &env("/undelete/{*path}")),
        valid(M::POST, &env("/destroy/{*path}")).body(json!({"versions": [1]})),
        // the end: revoke-self ends its token, and a sealed server answers nothing else
        valid(M::POST, "/api/v1/auth/token/revoke-self").answers(S::NO_CONTENT),
        valid(M::POST, "/api/v1/sys/seal"),
    ]
}

/// Every route of the route table, each with its one valid request from `table`:
/// a route that needs a token refuses the request without one; an administration
/// or data route refuses it to a token without policies (403/404, or a listing
/// with nothing in it; never 400), and the root token, sending the same request
/// right after on the same state, gets the row's answer, which shows the request
/// valid. The policy-less token goes first because after root's create, delete
/// or revoke the same request would fail anyway, and its refusal would prove
/// nothing. A route without a token answers its row to anyone; a route where a
/// token acts on itself answers it to a policy-less token.
#[tokio::test]
async fn no_route_bypasses_authentication_or_authorization() {
    let t = dev().await;
    let fx = fixtures(&t).await;
    let powerless = t.token(&[], None).await;
    // a second token without policies, for the routes where a token acts on itself
    let own = t.token(&[], None).await;
    let rows = table(&fx);

    // the table has one row per route of the route table, and no other
    let access: BTreeMap<(String, String), Access> = route_table()
        .into_iter()
        .map(|r| ((r.method.to_string(), r.path), r.access))
        .collect();
    let keys: BTreeSet<(String, String)> = rows.iter().map(Valid::key).collect();
    assert_eq!(keys.len(), rows.len(), "a route has two rows in the walk");
    let missing: Vec<_> = access.keys().filter(|k| !keys.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "give these routes a valid request in the walk: {missing:?}"
    );
    let stale: Vec<_> = keys.iter().filter(|k| !access.contains_key(*k)).collect();
    assert!(
        stale.is_empty(),
        "the walk has rows for routes that do not exist: {stale:?}"
    );

    for row in &rows {
        let what = format!("{} {}", row.method, row.url);
        assert!(is_route(&row.route, &row.url), "{what} is not a path of {}", row.route);
        let access = access[&row.key()];
        let (anonymous, answer) = row.send(&t, "").await;
        if !access.needs_token() {
            assert_eq!(anonymous, row.answer, "{what} without a token: {answer}");
            continue;
        }
        assert_eq!(anonymous, StatusCode::UNAUTHORIZED, "{what} without a token: {answer}");
        if access == Access::SelfToken {
            let (status, answer) = row.send(&t, &own).await;
            assert_eq!(status, row.answer, "{what} on its own token: {answer}");
            continue;
        }
        let (status, answer) = row.send(&t, &powerless).await;
        assert!(
            shows_nothing(&row.method, status, &answer),
            "{what} with a token without policies answered {status}: {answer}"
        );
        let (status, answer) = row.send(&t, &t.token).await;
        assert_eq!(
            status, row.answer,
            "{what} as root (the walk's request must be valid): {answer}"
        );
    }
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once() {
    let t = dev().await;
    let token = t.token(&[], None).await;
    let lookup = "/api/v1/auth/token/lookup-self";
    let (status, me) = t.call_as(&token, Method::GET, lookup, None).await;
    assert_eq!((status, me["root"].as_bool()), (StatusCode::OK, Some(false)));
    let (status, _) = t
        .call_as(&token, Method::POST, "/api/v1/auth/token/revoke-self", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = t.call_as(&token, Method::GET, lookup, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the token cache forgets a revoked token at once"
    );
}

const CAPS: [&str; 5] = ["read", "list", "write", "delete", "destroy"];

/// The contract the policies below should implement.
fn expected(who: &str, project: &str, env: &str, path: &str, cap: &str) -> bool {
    match who {
        "payment-service" => {
            project == "payment" && env == "prod" && !path.starts_with("stripe/") && matches!(cap, "read" | "list")
        }
        "shipping-service" => project == "shipping" && env == "prod" && matches!(cap, "read" | "list"),
        "developer" => env == "dev" && cap != "destroy",
        "admin" => true,
        other => panic!("unknown identity {other}"),
    }
}

/// Does one operation as `token`; true when it was allowed.
async fn attempt(t: &TestServer, token: &str, project: &str, env: &str, path: &str, cap: &str) -> bool {
    let base = format!("/api/v1/projects/{project}/envs/{env}");
    let (method, url, body) = match cap {
        "read" => (Method::GET, format!("{base}/secrets/{path}"), None),
        "list" => (Method::GET, format!("{base}/metadata/{path}"), None),
        "write" => (
            Method::PUT,
            format!("{base}/secrets/{path}"),
            Some(json!({"value": "by-test"})),
        ),
        "delete" => (Method::DELETE, format!("{base}/secrets/{path}"), None),
        "destroy" => (
            Method::POST,
            format!("{base}/destroy/{path}"),
            Some(json!({"versions": [1]})),
        ),
        _ => unreachable!(),
    };
    let (status, answer) = t.call_as(token, method, &url, body).await;
    match status {
        StatusCode::OK => true,
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => false,
        other => panic!("{cap} {url}: unexpected {other}: {answer}"),
    }
}

async fn reset_secret(t: &TestServer, project: &str, env: &str, path: &str) {
    let base = format!("/api/v1/projects/{project}/envs/{env}");
    let (_, meta) = t.get(&format!("{base}/metadata/{path}")).await;
    if meta["current_version"].is_null() && meta["versions"].is_array() {
        t.call(Method::POST, &format!("{base}/undelete/{path}"), None).await;
    }
    let (status, body) = t
        .put(&format!("{base}/secrets/{path}"), json!({"value": "fresh"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn authorization_matrix_identities_by_paths_by_capabilities() {
    let t = dev().await;
    t.policy("payment-service", "[[allow]]\npath = \"payment/prod/**\"\ncapabilities = [\"read\", \"list\"]\n\n[[deny]]\npath = \"*/prod/stripe/**\"\n").await;
    t.policy(
        "shipping-service",
        "[[allow]]\npath = \"shipping/prod/**\"\ncapabilities = [\"read\", \"list\"]\n",
    )
    .await;
    t.policy(
        "developer",
        "[[allow]]\npath = \"*/dev/**\"\ncapabilities = [\"read\", \"list\", \"write\", \"delete\"]\n",
    )
    .await;
    t.policy("admin", "[[allow]]\npath = \"**\"\ncapabilities = [\"admin\"]\n")
        .await;
    let mut tokens = Vec::new();
    for who in ["payment-service", "shipping-service", "developer", "admin"] {
        let (status, created) = t
            .post(
                "/api/v1/identities",
                json!({"name": who, "kind": "service", "policies": [who]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let (status, login) = t
            .call_as(
                "",
                Method::POST,
                "/api/v1/auth/client/login",
                Some(json!({"client_id": created["client_id"], "client_secret": created["client_secret"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{login}");
        tokens.push((who, login["token"].as_str().unwrap().to_owned()));
    }
    let projects = ["payment", "shipping"];
    let envs = ["dev", "staging", "prod"];
    let paths = ["DB_URL", "stripe/KEY"];
    for p in projects {
        for e in envs {
            t.project_env_in(p, e).await;
            for path in paths {
                reset_secret(&t, p, e, path).await;
            }
        }
    }
    let mut cells = 0;
    for (who, token) in &tokens {
        for p in projects {
            for e in envs {
                for path in paths {
                    for cap in CAPS {
                        let allowed = attempt(&t, token, p, e, path, cap).await;
                        assert_eq!(allowed, expected(who, p, e, path, cap), "{who} {cap} {p}/{e}/{path}");
                        if allowed && matches!(cap, "write" | "delete" | "destroy") {
                            reset_secret(&t, p, e, path).await;
                        }
                        cells += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cells, 4 * 2 * 3 * 2 * 5);

    // lists show only what the caller may see
    let token_of = |who: &str| tokens.iter().find(|(w, _)| *w == who).unwrap().1.clone();
    let names = |v: &Value, key: &str, field: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x[field].as_str().unwrap().to_owned())
            .collect()
    };
    let pay = token_of("payment-service");
    let (_, projects_seen) = t.call_as(&pay, Method::GET, "/api/v1/projects", None).await;
    assert_eq!(names(&projects_seen, "projects", "name"), vec!["payment"]);
    let (_, envs_seen) = t
        .call_as(&pay, Method::GET, "/api/v1/projects/payment/envs", None)
        .await;
    assert_eq!(names(&envs_seen, "envs", "name"), vec!["prod"]);
    let (_, secrets_seen) = t
        .call_as(&pay, Method::GET, "/api/v1/projects/payment/envs/prod/secrets", None)
        .await;
    assert_eq!(
        names(&secrets_seen, "secrets", "path"),
        vec!["DB_URL"],
        "the denied folder is hidden"
    );
    let (_, with_values) = t
        .call_as(
            &pay,
            Method::GET,
            "/api/v1/projects/payment/envs/prod/secrets?include_values=true",
            None,
        )
        .await;
    assert_eq!(names(&with_values, "secrets", "path"), vec!["DB_URL"]);
    let dev_token = token_of("developer");
    let (_, dev_projects) = t.call_as(&dev_token, Method::GET, "/api/v1/projects", None).await;
    assert_eq!(names(&dev_projects, "projects", "name"), vec!["payment", "shipping"]);
    let (_, dev_envs) = t
        .call_as(&dev_token, Method::GET, "/api/v1/projects/shipping/envs", None)
        .await;
    assert_eq!(names(&dev_envs, "envs", "name"), vec!["dev"]);

    // forbidden and absent look the same without list on the parent
    let (s1, absent) = t
        .call_as(
            &pay,
            Method::GET,
            "/api/v1/projects/shipping/envs/prod/secrets/NOPE",
            None,
        )
        .await;
    let (s2, forbidden) = t
        .call_as(
            &pay,
            Method::GET,
            "/api/v1/projects/shipping/envs/prod/secrets/DB_URL",
            None,
        )
        .await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(
        absent["error"]["message"].as_str().unwrap().replace("NOPE", "X"),
        forbidden["error"]["message"].as_str().unwrap().replace("DB_URL", "X")
    );
    // with list on the parent, a denied write is an honest 403
    let (status, _) = t
        .call_as(
            &pay,
            Method::PUT,
            "/api/v1/projects/payment/envs/prod/secrets/DB_URL",
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn policy_changes_apply_to_the_next_request_and_check_explains() {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.set("K", "v").await;
    t.policy("reader", "[[allow]]\npath = \"p/e/**\"\ncapabilities = [\"read\"]\n")
        .await;
    let (_, created) = t
        .post("/api/v1/identities", json!({"name": "svc", "kind": "service"}))
        .await;
    let (status, group) = t
        .post(
            "/api/v1/groups",
            json!({"name": "readers", "policies": ["reader"], "members": ["svc"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let (_, login) = t
        .call_as(
            "",
            Method::POST,
            "/api/v1/auth/client/login",
            Some(json!({"client_id": created["client_id"], "client_secret": created["client_secret"]})),
        )
        .await;
    let token = login["token"].as_str().unwrap().to_owned();
    assert_eq!(
        t.call_as(&token, Method::GET, "/api/v1/projects/p/envs/e/secrets/K", None)
            .await
            .0,
        StatusCode::OK
    );
    let (_, check) = t
        .post(
            "/api/v1/policies/check",
            json!({"identity": "svc", "path": "p/e/K", "capability": "read"}),
        )
        .await;
    assert_eq!(check["allowed"], true);
    assert!(check["explanation"].as_str().unwrap().contains("reader"), "{check}");

    t.policy(
        "reader",
        "[[allow]]\npath = \"p/e/**\"\ncapabilities = [\"read\", \"list\"]\n\n[[deny]]\npath = \"p/e/K\"\n",
    )
    .await;
    assert_eq!(
        t.call_as(&token, Method::GET, "/api/v1/projects/p/envs/e/secrets/K", None)
            .await
            .0,
        StatusCode::FORBIDDEN,
        "a deny added to a group's policy is in force for the next request"
    );
    let (_, check) = t
        .post(
            "/api/v1/policies/check",
            json!({"identity": "svc", "path": "p/e/K", "capability": "read"}),
        )
        .await;
    assert_eq!(check["allowed"], false);
    assert!(check["explanation"].as_str().unwrap().contains("deny"), "{check}");
    let (status, bad) = t
        .put(
            "/api/v1/policies/broken",
            json!({"policy": "[[allow]]\npath = \"a/***\"\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("allow rule 1"),
        "{bad}"
    );
}
