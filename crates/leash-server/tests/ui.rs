//! The web UI (`/ui/`), black-box over real HTTP: security headers, the
//! session cookie, CSRF on every state-changing route, no value in any page
//! before a reveal, the same authorization as the API; and a walk-through in
//! a real headless Chromium (chromedriver, driven by fantoccini) that saves a
//! screenshot of each page under `target/ui-screenshots/`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{TestServer, dev};
use fantoccini::{ClientBuilder, Locator};
use leash_server::ui::{self, UiAccess};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode, redirect};
use serde_json::json;

const ADMIN_POLICY: &str = "[[allow]]\npath = \"**\"\ncapabilities = [\"admin\"]\n";

/// A client that never follows redirects (the tests look at them).
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// A user identity with a password and policies.
async fn user(t: &TestServer, name: &str, password: &str, policies: &[&str]) {
    let (status, body) = t
        .post(
            "/api/v1/identities",
            json!({"name": name, "kind": "user", "password": password, "policies": policies}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

fn set_cookie_line(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}"))
        .to_owned()
}

/// The `value` of the hidden `csrf` input of a page.
fn csrf_field(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("the page has a csrf field");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// A logged-in browser session over plain HTTP.
struct Browser {
    http: reqwest::Client,
    url: String,
    cookie: String,
    csrf: String,
}

impl Browser {
    async fn login(t: &TestServer, username: &str, password: &str) -> Browser {
        let http = http();
        let page = http.get(format!("{}/ui/login", t.url)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let pre = cookie_value(page.headers(), "leash_login_csrf").expect("a pre-session CSRF cookie");
        let html = page.text().await.unwrap();
        let login_csrf = csrf_field(&html);
        let answer = http
            .post(format!("{}/ui/login", t.url))
            .header("cookie", format!("leash_login_csrf={pre}"))
            .form(&[
                ("csrf", login_csrf.as_str()),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "login as {username}");
        let id = cookie_value(answer.headers(), "leash_session").expect("a session cookie");
        let cookie = format!("leash_session={id}");
        let html = http
            .get(format!("{}/ui/projects", t.url))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        Browser {
            csrf: csrf_field(&html),
            http,
            url: t.url.clone(),
            cookie,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

#[tokio::test]
async fn pages_carry_a_strict_csp_and_the_session_cookie_is_httponly_and_samesite_strict() {
    let t = dev().await;
    t.policy("admin", ADMIN_POLICY).await;
    user(&t, "ops", "ops-Passw0rd-1", &["admin"]).await;
    let page = http().get(format!("{}/ui/login", t.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let h = page.headers();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert_eq!(csp, ui::CSP);
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let pre = set_cookie_line(h, "leash_login_csrf");
    assert!(pre.contains("HttpOnly") && pre.contains("SameSite=Strict"), "{pre}");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains(" style="),
        "no inline script or style"
    );

    // Logging in sets the session cookie: HttpOnly, SameSite=Strict, not Secure over plain HTTP.
    let http = http();
    let page = http.get(format!("{}/ui/login", t.url)).send().await.unwrap();
    let pre = cookie_value(page.headers(), "leash_login_csrf").unwrap();
    let csrf = csrf_field(&page.text().await.unwrap());
    let answer = http
        .post(format!("{}/ui/login", t.url))
        .header("cookie", format!("leash_login_csrf={pre}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "ops"),
            ("password", "ops-Passw0rd-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()[LOCATION], "/ui/projects");
    let session = set_cookie_line(answer.headers(), "leash_session");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
    assert!(!session.contains("Secure"), "{session}");
    assert!(!session.contains("lsh_"), "the cookie is an opaque id, not a token");

    // Assets are served with their content type.
    let js = http
        .get(format!("{}/ui/assets/htmx.min.js", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let css = http.get(format!("{}/ui/assets/leash.css", t.url)).send().await.unwrap();
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    let missing = http.get(format!("{}/ui/assets/nope.js", t.url)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_password_shows_the_login_form_again_with_an_error() {
    let t = dev().await;
    user(&t, "ops", "ops-Passw0rd-1", &[]).await;
    let http = http();
    let page = http.get(format!("{}/ui/login", t.url)).send().await.unwrap();
    let pre = cookie_value(page.headers(), "leash_login_csrf").unwrap();
    let csrf = csrf_field(&page.text().await.unwrap());
    let answer = http
        .post(format!("{}/ui/login", t.url))
        .header("cookie", format!("leash_login_csrf={pre}"))
        .form(&[("csrf", csrf.as_str()), ("username", "ops"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_value(answer.headers(), "leash_session").is_none());
    let html = answer.text().await.unwrap();
    assert!(
        html.contains("role=\"alert\"") && html.contains("type=\"password\""),
        "{html}"
    );
}

#[tokio::test]
async fn every_state_changing_ui_route_refuses_a_request_without_its_csrf_token() {
    let t = dev().await;
    t.policy("admin", ADMIN_POLICY).await;
    user(&t, "ops", "ops-Passw0rd-1", &["admin"]).await;
    t.project_env("p", "e").await;
    t.set("K", "v-not-shown").await;
    let b = Browser::login(&t, "ops", "ops-Passw0rd-1").await;
    let table = ui::route_table();
    assert!(table.iter().any(|r| r.method == Method::POST));
    for route in &table {
        let path = common::concrete(&route.path).replace("{file}", "leash.css");
        if route.method == Method::GET {
            if route.access == UiAccess::Session {
                // Anonymous: sent to the login page, nothing rendered.
                let r = b.http.get(format!("{}{path}", t.url)).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::SEE_OTHER, "GET {path} without a session");
                assert_eq!(r.headers()[LOCATION], "/ui/login");
            }
            continue;
        }
        // With the session cookie but no CSRF token, and with a wrong one: 403.
        for fields in [vec![("name", "x")], vec![("csrf", "forged"), ("name", "x")]] {
            let r = b
                .http
                .request(route.method.clone(), format!("{}{path}", t.url))
                .header("cookie", &b.cookie)
                .form(&fields)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{} {path} {fields:?}", route.method);
        }
        // A token in the header of another session does not count either: no cookie, 403.
        let r = b
            .http
            .request(route.method.clone(), format!("{}{path}", t.url))
            .header("x-csrf-token", &b.csrf)
            .form(&[("name", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{} {path} without a session",
            route.method
        );
    }
    // The session survived every refusal, and nothing was created.
    let (status, html) = b.get("/ui/projects").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(">x</a>"), "a refused POST created something");
    // The htmx header carries the token as well as the form field does.
    let r = b
        .http
        .post(format!("{}/ui/projects", t.url))
        .header("cookie", &b.cookie)
        .header("x-csrf-token", &b.csrf)
        .form(&[("name", "viaheader")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn no_value_appears_before_a_reveal_and_the_reveal_is_an_audited_read() {
    let t = dev().await;
    t.policy("admin", ADMIN_POLICY).await;
    user(&t, "ops", "ops-Passw0rd-1", &["admin"]).await;
    t.project_env("p", "e").await;
    t.project_env_in("p", "f").await;
    let value = "Ui-Hidden-Value-7c1e";
    t.set("K", value).await;
    t.set("stripe/API_KEY", "Ui-Hidden-Value-2").await;
    let b = Browser::login(&t, "ops", "ops-Passw0rd-1").await;
    for page in [
        "/ui/projects",
        "/ui/projects/p",
        "/ui/projects/p/envs/e",
        "/ui/projects/p/envs/e/secret/K",
        "/ui/projects/p/envs/e/secret/stripe/API_KEY",
        "/ui/projects/p/envs/e/history",
        "/ui/projects/p/envs/e/compare?from=1&to=current",
        "/ui/projects/p/envs/e/diff?other=f",
        "/ui/projects/p/envs/e/bulk",
        "/ui/audit",
        "/ui/access",
        "/ui/seal",
    ] {
        let (status, html) = b.get(page).await;
        assert_eq!(status, StatusCode::OK, "{page}: {html}");
        assert!(
            !html.contains("Ui-Hidden-Value"),
            "{page} shows a value before any reveal"
        );
    }
    let (_, table) = b.get("/ui/projects/p/envs/e").await;
    assert!(table.contains("stripe/API_KEY") && table.contains("STRIPE_API_KEY"));
    let (status, fragment) = b.post("/ui/projects/p/envs/e/reveal/K", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(fragment.contains(value), "{fragment}");
    assert!(!fragment.contains("<html"), "the reveal answers a fragment");
    let (_, audit) = t.get("/api/v1/audit?operation=secret.read&identity=ops").await;
    let record = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "/ui/projects/{project}/envs/{env}/reveal/{*path}")
        .unwrap_or_else(|| panic!("no audit record of the reveal: {audit}"));
    assert_eq!(record["path"], "K");
    assert_eq!(record["project"], "p");
    assert_eq!(record["status"], 200);
    assert_eq!(record["version"], 1);
    assert!(record["token_hmac"].as_str().is_some_and(|h| !h.is_empty()), "{record}");
    // One request record (after its intent: a POST may change something), as for the API.
    let (_, all) = t.get("/api/v1/audit?limit=1000").await;
    let same: Vec<_> = all["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["request_id"] == record["request_id"])
        .map(|r| r["type"].as_str().unwrap_or("request").to_owned())
        .collect();
    assert_eq!(same.len(), 2, "{same:?}");
    assert!(same.contains(&"intent".to_owned()), "{same:?}");
    // The UI's own audit viewer shows it too.
    let (_, viewer) = b.get("/ui/audit?operation=secret.read").await;
    assert!(viewer.contains("secret.read") && viewer.contains("p/e/K"), "{viewer}");
}

#[tokio::test]
async fn a_user_without_read_access_sees_neither_the_value_nor_the_name() {
    let t = dev().await;
    t.project_env("payment", "prod").await;
    t.project_env_in("payment", "dev").await;
    let (status, body) = t
        .put(
            "/api/v1/projects/payment/envs/prod/secrets/PROD_ONLY_NAME",
            json!({"value": "Prod-Value-9f"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    t.policy(
        "dev-only",
        "[[allow]]\npath = \"payment/dev/**\"\ncapabilities = [\"read\", \"list\", \"write\"]\n",
    )
    .await;
    user(&t, "dev", "dev-Passw0rd-1", &["dev-only"]).await;
    let b = Browser::login(&t, "dev", "dev-Passw0rd-1").await;
    for page in [
        "/ui/projects",
        "/ui/projects/payment",
        "/ui/projects/payment/envs/prod",
        "/ui/projects/payment/envs/prod/history",
        "/ui/projects/payment/envs/dev/diff?other=prod",
        "/ui/audit",
        "/ui/access",
    ] {
        let (_, html) = b.get(page).await;
        assert!(
            !html.contains("PROD_ONLY_NAME") && !html.contains("Prod-Value-9f"),
            "{page} shows what dev may not see: {html}"
        );
    }
    let (status, _) = b.get("/ui/projects/payment/envs/prod").await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    // A page asked for by name refuses (the error names only what the address did).
    let (status, html) = b.get("/ui/projects/payment/envs/prod/secret/PROD_ONLY_NAME").await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    assert!(!html.contains("Prod-Value-9f"));
    let (status, fragment) = b
        .post("/ui/projects/payment/envs/prod/reveal/PROD_ONLY_NAME", &[])
        .await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    assert!(!fragment.contains("Prod-Value-9f"));
    let (status, _) = b
        .post("/ui/projects/payment/envs/prod/set", &[("path", "X"), ("value", "y")])
        .await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    // What dev may see, it sees.
    let (status, html) = b.get("/ui/projects/payment/envs/dev").await;
    assert_eq!(status, StatusCode::OK, "{html}");
}

#[tokio::test]
async fn logout_revokes_the_session_token_and_ends_the_session() {
    let t = dev().await;
    user(&t, "ops", "ops-Passw0rd-1", &[]).await;
    let b = Browser::login(&t, "ops", "ops-Passw0rd-1").await;
    let (status, _) = b.get("/ui/projects").await;
    assert_eq!(status, StatusCode::OK);
    let r = b
        .http
        .post(format!("{}/ui/logout", t.url))
        .header("cookie", &b.cookie)
        .form(&[("csrf", b.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/ui/login");
    let r = b
        .http
        .get(format!("{}/ui/projects", t.url))
        .header("cookie", &b.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the old cookie still opens a page");
    // The login's token is revoked: its accessor is unknown now.
    let (_, audit) = t.get("/api/v1/audit?operation=ui.logout").await;
    let accessor = audit["records"][0]["accessor"]
        .as_str()
        .expect("the logout names its token")
        .to_owned();
    let (status, _) = t.post("/api/v1/auth/token/lookup", json!({"accessor": accessor})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bulk_edit_applies_one_change_set_and_a_bad_policy_is_shown_in_place() {
    let t = dev().await;
    t.policy("admin", ADMIN_POLICY).await;
    user(&t, "ops", "ops-Passw0rd-1", &["admin"]).await;
    t.project_env("p", "e").await;
    t.set("OLD", "x").await;
    let b = Browser::login(&t, "ops", "ops-Passw0rd-1").await;
    let (status, _) = b
        .post(
            "/ui/projects/p/envs/e/bulk",
            &[
                ("text", "# pasted\nA=1\nexport B=\"two words\"\n"),
                ("delete", "OLD"),
                ("message", "import"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, history) = t.get("/api/v1/projects/p/envs/e/history").await;
    let last = &history["changes"][0];
    assert_eq!(last["message"], "import");
    assert_eq!(last["entries"].as_array().unwrap().len(), 3, "{last}");
    assert_eq!(t.value("B").await.1["value"], "two words");
    let (status, html) = b.post("/ui/projects/p/envs/e/bulk", &[("text", "A='unclosed")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("cannot parse") && !html.contains("unclosed"), "{html}");

    let (status, html) = b
        .post("/ui/policies/broken", &[("policy", "[[allow]]\npath = 1\n")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("role=\"alert\"") && html.contains("path = 1"), "{html}");
    let (status, html) = b
        .post(
            "/ui/access/check",
            &[("identity", "ops"), ("path", "p/e/A"), ("capability", "read")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Allowed"), "{html}");
}

// ---- the browser ----

/// Where screenshots go: `target/ui-screenshots/` of the target directory this test was built in.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/ui-<hash>
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Driver(std::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port; `None` when `LEASH_UI_TESTS=skip` and it is missing.
async fn chromedriver() -> Option<(Driver, String)> {
    let found = std::process::Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        if std::env::var("LEASH_UI_TESTS").as_deref() == Ok("skip") {
            eprintln!("chromedriver is not installed and LEASH_UI_TESTS=skip: the browser test is skipped");
            return None;
        }
        panic!(
            "chromedriver is not installed: the browser test needs Debian's chromium and chromium-driver \
             (apt-get install -y chromium chromium-driver; .ci/run installs them), or set LEASH_UI_TESTS=skip"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Some((driver, format!("http://127.0.0.1:{port}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on port {port}");
}

async fn shot(c: &fantoccini::Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

async fn fill(c: &fantoccini::Client, css: &str, text: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(c: &fantoccini::Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits (up to 10 s) until the browser is at `path` after a click that navigates.
async fn at(c: &fantoccini::Client, path: &str) {
    for _ in 0..100 {
        if c.current_url().await.unwrap().path() == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let source = c.source().await.unwrap_or_default();
    shot(c, "failure").await;
    panic!(
        "the browser is at {}, not {path}: {source}",
        c.current_url().await.unwrap()
    );
}

async fn revealed(c: &fantoccini::Client) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("code.value"))
        .await
        .expect("the reveal swaps the value in")
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn browser_walkthrough_in_headless_chromium() {
    let Some((_driver, webdriver)) = chromedriver().await else {
        return;
    };
    let t = dev().await;
    t.policy("admin", ADMIN_POLICY).await;
    user(&t, "ops", "ops-Passw0rd-1", &["admin"]).await;
    t.policy(
        "prod-reader",
        "[[allow]]\npath = \"payment/prod/**\"\ncapabilities = [\"read\", \"list\"]\n",
    )
    .await;
    user(&t, "viewer", "viewer-Passw0rd-1", &["prod-reader"]).await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]}),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&webdriver)
        .await
        .expect("a chromium session through chromedriver");
    walkthrough(&c, &t).await;
    c.close().await.unwrap();
}

async fn walkthrough(c: &fantoccini::Client, t: &TestServer) {
    let first = "Browser-Value-One-4d2";
    let second = "Browser-Value-Two-8e7";
    // Log in.
    c.goto(&format!("{}/ui/", t.url)).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/ui/login"));
    shot(c, "login").await;
    fill(c, "#username", "ops").await;
    fill(c, "#password", "ops-Passw0rd-1").await;
    click(c, "form[action='/ui/login'] button[type=submit]").await;
    at(c, "/ui/projects").await;
    shot(c, "projects-empty").await;
    // Project, two environments.
    fill(c, "#project-name", "payment").await;
    click(c, "form[action='/ui/projects'] button").await;
    at(c, "/ui/projects/payment").await;
    for env in ["prod", "dev"] {
        c.goto(&format!("{}/ui/projects/payment", t.url)).await.unwrap();
        fill(c, "#env-name", env).await;
        click(c, "form[action='/ui/projects/payment/envs'] button").await;
        at(c, &format!("/ui/projects/payment/envs/{env}")).await;
    }
    c.goto(&format!("{}/ui/projects/payment", t.url)).await.unwrap();
    shot(c, "project").await;
    c.goto(&format!("{}/ui/projects/payment/envs/dev", t.url))
        .await
        .unwrap();
    assert!(c.source().await.unwrap().contains("No secrets here"), "an empty state");
    shot(c, "env-empty").await;
    // A secret.
    fill(c, "#new-path", "DATABASE_URL").await;
    fill(c, "#new-value", first).await;
    fill(c, "#new-description", "the main database").await;
    fill(c, "#new-message", "first").await;
    click(c, "form[action$='/set'] button").await;
    at(c, "/ui/projects/payment/envs/dev/secret/DATABASE_URL").await;
    assert!(!c.title().await.unwrap().contains(first));
    // The table hides it until the reveal.
    c.goto(&format!("{}/ui/projects/payment/envs/dev", t.url))
        .await
        .unwrap();
    let source = c.source().await.unwrap();
    assert!(
        source.contains("DATABASE_URL") && !source.contains(first),
        "the table holds no value"
    );
    shot(c, "secrets").await;
    click(c, "#secrets button[hx-post]").await;
    assert_eq!(revealed(c).await, first);
    shot(c, "secrets-revealed").await;
    click(c, "#secrets button[data-hide]").await;
    assert!(
        c.find(Locator::Css("code.value")).await.is_err(),
        "Hide masks the value again"
    );
    // Edit: a new version.
    c.goto(&format!("{}/ui/projects/payment/envs/dev/secret/DATABASE_URL", t.url))
        .await
        .unwrap();
    assert!(
        !c.source().await.unwrap().contains(first),
        "the secret page holds no value"
    );
    fill(c, "#edit-value", second).await;
    fill(c, "#edit-message", "second").await;
    click(c, "form[action$='/set'] button").await;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//table[@id='versions']//tbody/tr[2]"))
        .await
        .expect("the history shows both versions");
    let versions = c.find_all(Locator::Css("#versions tbody tr")).await.unwrap();
    assert_eq!(versions.len(), 2, "the history shows both versions");
    shot(c, "secret-history").await;
    // The environment's timeline and a rollback to revision 1 (confirmed).
    c.goto(&format!("{}/ui/projects/payment/envs/dev/history", t.url))
        .await
        .unwrap();
    let rows = c.find_all(Locator::Css("#timeline tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 2);
    shot(c, "timeline").await;
    click(c, "form[action$='/rollback'] input[name=confirm]").await;
    click(c, "form[action$='/rollback'] button").await;
    c.accept_alert().await.expect("the rollback asks for confirmation");
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//table[@id='timeline']//td[contains(., 'rollback to revision 1')]",
        ))
        .await
        .expect("the rollback is a new revision in the timeline");
    c.goto(&format!("{}/ui/projects/payment/envs/dev", t.url))
        .await
        .unwrap();
    click(c, "#secrets button[hx-post]").await;
    assert_eq!(revealed(c).await, first, "the rollback restored the first value");
    // Compare two revisions, then dev with prod.
    c.goto(&format!("{}/ui/projects/payment/envs/dev/compare?from=1&to=2", t.url))
        .await
        .unwrap();
    assert!(c.source().await.unwrap().contains("changed"));
    shot(c, "compare-revisions").await;
    c.goto(&format!("{}/ui/projects/payment/envs/dev/diff", t.url))
        .await
        .unwrap();
    fill(c, "#other", "prod").await;
    click(c, "form[action$='/diff'] button").await;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("table#diff"))
        .await
        .expect("the diff is shown");
    let diff = c.source().await.unwrap();
    assert!(diff.contains("DATABASE_URL") && diff.contains("missing") && !diff.contains(first));
    shot(c, "diff").await;
    // The audit viewer shows the reveal; the chain verifies.
    c.goto(&format!("{}/ui/audit?operation=secret.read", t.url))
        .await
        .unwrap();
    let audit = c.source().await.unwrap();
    assert!(
        audit.contains("payment/dev/DATABASE_URL"),
        "the audit viewer shows the reveal"
    );
    click(c, "button[hx-post='/ui/audit/verify']").await;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#verify-result .success"))
        .await
        .expect("the chain verifies");
    shot(c, "audit").await;
    // Access: the decision check.
    c.goto(&format!("{}/ui/access", t.url)).await.unwrap();
    fill(c, "#c-identity", "ops").await;
    fill(c, "#c-path", "payment/dev/DATABASE_URL").await;
    click(c, "form[action='/ui/access/check'] button").await;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#check-result .success"))
        .await
        .expect("the check explains the decision");
    shot(c, "access").await;
    // Phone width: the table page still renders.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{}/ui/projects/payment/envs/dev", t.url))
        .await
        .unwrap();
    shot(c, "secrets-phone").await;
    c.set_window_size(1280, 900).await.unwrap();
    // The browser's own session cookie without the CSRF token: refused, and the session lives on.
    let cookie = c.get_named_cookie("leash_session").await.expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    let forged = http()
        .post(format!("{}/ui/projects", t.url))
        .header("cookie", format!("leash_session={}", cookie.value()))
        .form(&[("name", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "a CSRF-less POST");
    c.goto(&format!("{}/ui/projects", t.url)).await.unwrap();
    let projects = c.source().await.unwrap();
    assert!(projects.contains("payment") && !projects.contains("forged"));
    // Log out: back to the login page, and the pages are closed.
    click(c, "form[action='/ui/logout'] button").await;
    at(c, "/ui/login").await;
    c.goto(&format!("{}/ui/projects", t.url)).await.unwrap();
    at(c, "/ui/login").await;
    // A user who may read only prod sees neither dev's values nor its names.
    fill(c, "#username", "viewer").await;
    fill(c, "#password", "viewer-Passw0rd-1").await;
    click(c, "form[action='/ui/login'] button[type=submit]").await;
    at(c, "/ui/projects").await;
    c.goto(&format!("{}/ui/projects/payment", t.url)).await.unwrap();
    let envs = c.source().await.unwrap();
    assert!(
        envs.contains("/envs/prod") && !envs.contains("/envs/dev"),
        "only prod is listed"
    );
    for page in [
        "/envs/dev",
        "/envs/dev/history",
        "/envs/prod/diff?other=dev",
        "/envs/dev/secret/DATABASE_URL",
    ] {
        c.goto(&format!("{}/ui/projects/payment{page}", t.url)).await.unwrap();
        let source = c.source().await.unwrap();
        assert!(
            !source.contains(first) && !source.contains(second),
            "{page} shows a value"
        );
        if !page.ends_with("DATABASE_URL") {
            assert!(
                !source.contains("DATABASE_URL"),
                "{page} shows a name viewer may not see"
            );
        }
    }
    shot(c, "refused").await;
}

#[tokio::test]
async fn rotate_now_from_the_secret_page_makes_a_new_version() {
    let t = dev().await;
    t.policy("admin", ADMIN_POLICY).await;
    user(&t, "ops", "ops-Passw0rd-1", &["admin"]).await;
    t.project_env("p", "e").await;
    t.set("TOKEN", "before-rotation").await;
    let b = Browser::login(&t, "ops", "ops-Passw0rd-1").await;
    let (status, html) = b.get("/ui/projects/p/envs/e/secret/TOKEN").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Rotate now") && html.contains("none (one-off rotations only)"),
        "{html}"
    );
    let (status, html) = b
        .post("/ui/projects/p/envs/e/rotate/TOKEN", &[("generator", "password:32")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, value) = t.value("TOKEN").await;
    assert_eq!(value["version"], 2);
    assert_ne!(value["value"], "before-rotation");
    let (_, html) = b.get("/ui/projects/p/envs/e/secret/TOKEN").await;
    assert!(
        !html.contains(value["value"].as_str().unwrap()),
        "the new value is not on the page"
    );
    // A bad generator is shown as an error page, not a 500.
    let (status, html) = b
        .post("/ui/projects/p/envs/e/rotate/TOKEN", &[("generator", "nope")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("role=\"alert\""));
}

#[tokio::test]
async fn a_sealed_server_shows_the_seal_state_and_unseals_from_the_form() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = common::fresh(dir.path()).await;
    let share = t.init_and_unseal().await;
    let (status, body) = t.post("/api/v1/sys/seal", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let http = http();
    let page = http.get(format!("{}/ui/seal", t.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let pre = cookie_value(page.headers(), "leash_login_csrf").unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("The server is sealed") && html.contains("action=\"/ui/unseal\""),
        "{html}"
    );
    // The login page shows the seal bar too.
    let login = http
        .get(format!("{}/ui/login", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login.contains("The server is sealed"));
    // Without the form's token: refused, still sealed.
    let r = http
        .post(format!("{}/ui/unseal", t.url))
        .form(&[("share", share.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let csrf = csrf_field(&html);
    let r = http
        .post(format!("{}/ui/unseal", t.url))
        .header("cookie", format!("leash_login_csrf={pre}"))
        .form(&[("csrf", csrf.as_str()), ("share", share.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, status) = t.get("/api/v1/sys/seal-status").await;
    assert_eq!(status["sealed"], false);
}

#[tokio::test]
async fn delete_and_undelete_from_the_secret_page() {
    let t = dev().await;
    t.policy("admin", ADMIN_POLICY).await;
    user(&t, "ops", "ops-Passw0rd-1", &["admin"]).await;
    t.project_env("p", "e").await;
    t.set("GONE", "soon").await;
    let b = Browser::login(&t, "ops", "ops-Passw0rd-1").await;
    let (status, _) = b.post("/ui/projects/p/envs/e/delete/GONE", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(t.value("GONE").await.0, StatusCode::NOT_FOUND);
    let (_, html) = b.get("/ui/projects/p/envs/e/secret/GONE").await;
    assert!(
        html.contains("This secret is deleted") && html.contains("/undelete/GONE"),
        "{html}"
    );
    let (_, table) = b.get("/ui/projects/p/envs/e").await;
    assert!(!table.contains("GONE"), "a deleted secret leaves the table");
    let (status, _) = b.post("/ui/projects/p/envs/e/undelete/GONE", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(t.value("GONE").await.1["value"], "soon");
    // Unknown pages are an HTML 404 with the navigation.
    let (status, html) = b.get("/ui/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Log out") && html.contains("no such page"));
    assert!(html.contains("Unsealed"), "error pages show the seal state too");
}

#[tokio::test]
async fn under_tls_the_cookies_are_secure() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut config = common::config(None);
    config.tls_cert = Some(cert_path);
    config.tls_key = Some(key_path);
    let server = leash_server::start(config, true).await.unwrap();
    let url = server.url().replace("127.0.0.1", "localhost");
    let root = server.dev_root_token.as_ref().unwrap().to_string();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    let page = https.get(format!("{url}/ui/login")).send().await.unwrap();
    let pre_line = set_cookie_line(page.headers(), "leash_login_csrf");
    assert!(pre_line.contains("; Secure"), "{pre_line}");
    let pre = cookie_value(page.headers(), "leash_login_csrf").unwrap();
    let csrf = csrf_field(&page.text().await.unwrap());
    // Operators may log in with a token.
    let answer = https
        .post(format!("{url}/ui/login"))
        .header("cookie", format!("leash_login_csrf={pre}"))
        .form(&[("csrf", csrf.as_str()), ("token", root.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let session = set_cookie_line(answer.headers(), "leash_session");
    assert!(
        session.contains("; Secure") && session.contains("HttpOnly"),
        "{session}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn identities_and_groups_are_edited_with_errors_shown_in_place() {
    let t = dev().await;
    t.policy("admin", ADMIN_POLICY).await;
    t.policy("reader", "[[allow]]\npath = \"p/**\"\ncapabilities = [\"read\"]\n")
        .await;
    user(&t, "ops", "ops-Passw0rd-1", &["admin"]).await;
    user(&t, "dana", "dana-Passw0rd-1", &[]).await;
    let b = Browser::login(&t, "ops", "ops-Passw0rd-1").await;
    let (_, access) = b.get("/ui/access").await;
    assert!(access.contains("href=\"/ui/identities/dana\""));
    let (status, _) = b.post("/ui/identities/dana", &[("policies", "reader")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, dana) = t.get("/api/v1/identities/dana").await;
    assert_eq!(dana["policies"], json!(["reader"]));
    let (status, html) = b.post("/ui/identities/dana", &[("policies", "no-such-policy")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(
        html.contains("role=\"alert\"") && html.contains("value=\"no-such-policy\""),
        "{html}"
    );
    // A new group, then a refused edit shown in the editor.
    let (status, html) = b.get("/ui/groups/oncall").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No group by this name yet"));
    let (status, _) = b
        .post(
            "/ui/groups/oncall",
            &[("exists", "no"), ("policies", "reader"), ("members", "dana")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, group) = t.get("/api/v1/groups/oncall").await;
    assert_eq!(group["members"], json!(["dana"]));
    let (status, html) = b
        .post(
            "/ui/groups/oncall",
            &[("exists", "yes"), ("policies", "reader"), ("members", "nobody")],
        )
        .await;
    assert!(status.is_client_error(), "{status}");
    assert!(
        html.contains("role=\"alert\"") && html.contains("value=\"nobody\""),
        "{html}"
    );
}

#[tokio::test]
async fn a_session_ends_when_its_token_is_revoked_elsewhere() {
    let t = dev().await;
    user(&t, "ops", "ops-Passw0rd-1", &[]).await;
    let b = Browser::login(&t, "ops", "ops-Passw0rd-1").await;
    assert_eq!(b.get("/ui/projects").await.0, StatusCode::OK);
    let (status, body) = t.post("/api/v1/identities/ops/revoke-tokens", json!({})).await;
    assert!(status.is_success(), "{status} {body}");
    let r = b
        .http
        .get(format!("{}/ui/projects", t.url))
        .header("cookie", &b.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the session outlived its token");
    assert_eq!(r.headers()[LOCATION], "/ui/login");
    // A state-changing request of that session is refused too (no CSRF token matches a closed session).
    let (status, _) = b.post("/ui/projects", &[("name", "late")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
