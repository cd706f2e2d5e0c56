//! The web UI under `/ui/`: server-rendered pages (minijinja templates from
//! `templates/ui/`, htmx for small interactions) and their assets, all
//! embedded in the binary.
//!
//! It owns the pages, the browser session (an opaque cookie mapped in memory
//! to a real Leash token, [`session`]), the CSRF check of every
//! state-changing request ([`csrf_guard`]) and the browser security headers
//! (a strict Content-Security-Policy without inline script, no framing, no
//! referrer to other sites).
//!
//! It must never authorize or reach storage itself: every page builds a
//! [`Caller`](crate::auth::Caller) from the session's token with the same
//! authentication code as the API (`auth::caller_for_token`) and calls the
//! `/api/v1` handlers (`routes::api`), so policies, the no-existence-leak
//! rule, `Visibility` filtering and audit are the API's own; the router sits
//! inside the same audit layer, so every UI request gets one audit record.
//! It must never put a secret value in a URL, a title, a page that was not
//! asked to reveal it, or a log line: values come only from the reveal
//! endpoint, which is an audited `secret.read`.

mod admin;
mod assets;
mod secrets;
pub mod session;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodFilter, on};
use minijinja::Environment;
use serde::Serialize;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

pub use session::Sessions;

/// Whether the server speaks TLS (the session cookie then gets `Secure`);
/// set by `start` as a request extension.
#[derive(Debug, Clone, Copy, Default)]
pub struct UiTls(pub bool);

/// Who may call a UI route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiAccess {
    /// No session: the login page and form, the assets, the seal page and unseal form.
    Open,
    /// A valid session (and, for a state-changing method, its CSRF token).
    Session,
}

/// One UI route: method, path pattern, access, and the audit operation name.
#[derive(Debug, Clone)]
pub struct UiRoute {
    pub method: Method,
    pub path: String,
    pub access: UiAccess,
    pub operation: &'static str,
}

struct UiRoutes {
    router: Router<AppState>,
    table: Vec<UiRoute>,
}

impl UiRoutes {
    fn add<H, T>(mut self, method: Method, path: &str, access: UiAccess, operation: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("UI routes use standard methods");
        self.router = self.router.route(path, on(filter, handler));
        self.table.push(UiRoute {
            method,
            path: path.to_owned(),
            access,
            operation,
        });
        self
    }
}

/// Path prefix of one environment's pages.
const ENV: &str = "/ui/projects/{project}/envs/{env}";

/// Every UI route, once: the router and [`route_table`] both come from here.
fn routes() -> UiRoutes {
    use UiAccess::*;
    let e = |suffix: &str| format!("{ENV}{suffix}");
    UiRoutes {
        router: Router::new(),
        table: Vec::new(),
    }
    .add(Method::GET, "/ui", Open, "ui.home", home)
    .add(Method::GET, "/ui/", Open, "ui.home", home)
    .add(Method::GET, "/ui/assets/{file}", Open, "ui.asset", assets::serve)
    .add(Method::GET, "/ui/login", Open, "ui.login_page", session::login_page)
    .add(Method::POST, "/ui/login", Open, "ui.login", session::login)
    .add(Method::POST, "/ui/logout", Session, "ui.logout", session::logout)
    .add(Method::GET, "/ui/seal", Open, "ui.seal", admin::seal_page)
    .add(Method::POST, "/ui/unseal", Open, "sys.unseal", admin::unseal)
    .add(Method::GET, "/ui/projects", Session, "project.list", secrets::projects)
    .add(
        Method::POST,
        "/ui/projects",
        Session,
        "project.create",
        secrets::create_project,
    )
    .add(
        Method::GET,
        "/ui/projects/{project}",
        Session,
        "env.list",
        secrets::project,
    )
    .add(
        Method::POST,
        "/ui/projects/{project}/envs",
        Session,
        "env.create",
        secrets::create_env,
    )
    .add(Method::GET, ENV, Session, "secret.list", secrets::env_page)
    .add(Method::POST, &e("/set"), Session, "secret.change", secrets::set)
    .add(Method::GET, &e("/bulk"), Session, "ui.bulk_page", secrets::bulk_page)
    .add(Method::POST, &e("/bulk"), Session, "secret.change", secrets::bulk)
    .add(Method::GET, &e("/history"), Session, "env.history", secrets::history)
    .add(Method::GET, &e("/compare"), Session, "env.history", secrets::compare)
    .add(Method::GET, &e("/diff"), Session, "env.diff", secrets::diff)
    .add(
        Method::POST,
        &e("/rollback"),
        Session,
        "env.rollback",
        secrets::rollback,
    )
    .add(
        Method::GET,
        &e("/secret/{*path}"),
        Session,
        "secret.metadata",
        secrets::secret_page,
    )
    .add(
        Method::POST,
        &e("/reveal/{*path}"),
        Session,
        "secret.read",
        secrets::reveal,
    )
    .add(
        Method::POST,
        &e("/rotate/{*path}"),
        Session,
        "secret.rotate",
        secrets::rotate,
    )
    .add(
        Method::POST,
        &e("/delete/{*path}"),
        Session,
        "secret.delete",
        secrets::delete,
    )
    .add(
        Method::POST,
        &e("/undelete/{*path}"),
        Session,
        "secret.undelete",
        secrets::undelete,
    )
    .add(Method::GET, "/ui/audit", Session, "audit.list", admin::audit)
    .add(Method::POST, "/ui/audit/verify", Session, "audit.verify", admin::verify)
    .add(Method::GET, "/ui/access", Session, "identity.list", admin::access)
    .add(Method::POST, "/ui/access/check", Session, "policy.check", admin::check)
    .add(
        Method::GET,
        "/ui/identities/{name}",
        Session,
        "identity.read",
        admin::identity,
    )
    .add(
        Method::POST,
        "/ui/identities/{name}",
        Session,
        "identity.update",
        admin::update_identity,
    )
    .add(Method::GET, "/ui/groups/{name}", Session, "group.read", admin::group)
    .add(
        Method::POST,
        "/ui/groups/{name}",
        Session,
        "group.write",
        admin::write_group,
    )
    .add(
        Method::GET,
        "/ui/policies/{name}",
        Session,
        "policy.read",
        admin::policy,
    )
    .add(
        Method::POST,
        "/ui/policies/{name}",
        Session,
        "policy.write",
        admin::write_policy,
    )
}

/// Every UI route with its access, for tests that must cover them all.
pub fn route_table() -> Vec<UiRoute> {
    routes().table
}

/// The Content-Security-Policy of every UI answer: only this server's own
/// scripts, styles and images; no inline script or style, no framing, forms
/// post only here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The UI's router (merged into [`crate::routes::app`], inside its audit layer and browser guard).
pub fn router(state: &AppState) -> Router<AppState> {
    let sessions = Arc::new(Sessions::default());
    routes()
        .router
        .route("/ui/{*rest}", axum::routing::any(not_found))
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .layer(axum::Extension(sessions))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        // Not `no-referrer`: under it, browsers send `Origin: null` with the UI's own form
        // posts, which the browser guard (rightly) refuses. `same-origin` sends nothing to
        // other sites, and UI addresses carry no value anyway.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

async fn home(session: Option<session::Session>) -> Redirect {
    match session {
        Some(_) => Redirect::to("/ui/projects"),
        None => Redirect::to("/ui/login"),
    }
}

async fn not_found(session: Option<session::Session>) -> UiError {
    let mut e = UiError::from(ApiError::not_found("no such page"));
    e.session = session.map(|s| s.view());
    e
}

/// Refuses every state-changing UI request whose CSRF token (the `csrf`
/// form field or the `X-CSRF-Token` header htmx sends) does not match its
/// session's, or, for the login form, the pre-session cookie's: 403, and
/// the session stays valid. Runs before any handler.
async fn csrf_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !crate::audit::middleware::may_change(request.method()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let sessions = parts.extensions.get::<Arc<Sessions>>().cloned().unwrap_or_default();
    let expected = if parts.uri.path() == "/ui/login" || parts.uri.path() == "/ui/unseal" {
        session::cookie(&parts.headers, session::LOGIN_COOKIE).map(str::to_owned)
    } else {
        session::cookie(&parts.headers, session::SESSION_COOKIE).and_then(|id| sessions.csrf_of(id))
    };
    let bytes = match crate::extract::read_body(&parts.extensions, body, state.limits.max_request_bytes).await {
        Ok(b) => b,
        Err(e) => return UiError::from(e).into_response(),
    };
    let presented = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.into_owned())
        });
    let ok = matches!((&expected, &presented), (Some(e), Some(p)) if leash_core::token::hashes_equal(e, p));
    if !ok {
        if let Some(note) = parts.extensions.get::<crate::audit::AuditNote>() {
            note.set_reason("the CSRF token is missing or does not match the session");
        }
        let mut e = UiError::from(ApiError::forbidden(
            "this form's security token is missing or out of date; reload the page and try again",
        ));
        e.code = "csrf";
        return e.into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// The templates, parsed once.
fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, text) in [
            ("base.html", include_str!("../../templates/ui/base.html")),
            ("login.html", include_str!("../../templates/ui/login.html")),
            ("error.html", include_str!("../../templates/ui/error.html")),
            ("projects.html", include_str!("../../templates/ui/projects.html")),
            ("project.html", include_str!("../../templates/ui/project.html")),
            ("env.html", include_str!("../../templates/ui/env.html")),
            ("secret.html", include_str!("../../templates/ui/secret.html")),
            ("value.html", include_str!("../../templates/ui/value.html")),
            ("bulk.html", include_str!("../../templates/ui/bulk.html")),
            ("history.html", include_str!("../../templates/ui/history.html")),
            ("compare.html", include_str!("../../templates/ui/compare.html")),
            ("diff.html", include_str!("../../templates/ui/diff.html")),
            ("audit.html", include_str!("../../templates/ui/audit.html")),
            ("verify.html", include_str!("../../templates/ui/verify.html")),
            ("access.html", include_str!("../../templates/ui/access.html")),
            ("check.html", include_str!("../../templates/ui/check.html")),
            ("policy.html", include_str!("../../templates/ui/policy.html")),
            ("identity.html", include_str!("../../templates/ui/identity.html")),
            ("group.html", include_str!("../../templates/ui/group.html")),
            ("seal.html", include_str!("../../templates/ui/seal.html")),
        ] {
            env.add_template(name, text)
                .expect("the embedded templates parse (tests render each)");
        }
        env
    })
}

/// What every page shows about who is logged in.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub user: String,
    pub csrf: String,
    /// The seal state when the request began (error pages show it too).
    pub seal: leash_core::api::SealStatus,
}

/// Renders a template with the shared page context (`session`, `seal`) added.
fn render(state: &AppState, template: &str, session: Option<&SessionView>, ctx: minijinja::Value) -> Response {
    let seal = state.barrier.status();
    let full = minijinja::context! { session => session, seal => seal, ..ctx };
    match templates().get_template(template).and_then(|t| t.render(full)) {
        Ok(html) => html_response(StatusCode::OK, html),
        Err(e) => ApiError::internal("rendering a page", e).into_response(),
    }
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    (status, headers, html).into_response()
}

/// A failure shown as an HTML page with the API's status and message (never a value).
#[derive(Debug)]
pub struct UiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub session: Option<SessionView>,
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        Self {
            status: e.status(),
            code: e.code,
            message: e.message,
            session: None,
        }
    }
}

impl UiError {
    /// The same error, shown with the session's navigation.
    pub fn with(mut self, session: &SessionView) -> Self {
        self.session = Some(session.clone());
        self
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let ctx = minijinja::context! {
            status => self.status.as_u16(),
            reason => self.status.canonical_reason().unwrap_or("Error"),
            code => self.code,
            message => self.message,
            seal => self.session.as_ref().map(|s| s.seal.clone()),
            session => self.session,
        };
        let html = templates()
            .get_template("error.html")
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|_| "<!doctype html><title>Error</title><p>Error</p>".to_owned());
        let mut response = html_response(self.status, html);
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

/// Parses a urlencoded form body; the error names no value.
fn form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_urlencoded::from_bytes(body).map_err(|_| ApiError::bad_request("the form is incomplete or malformed"))
}

/// Builds an API query or body type from JSON (their fields are the API's own).
fn api_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("invalid input: {e}")))
}

/// A redirect after a successful form (303: the browser then GETs the page).
fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Empty form fields mean "not given".
fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}
