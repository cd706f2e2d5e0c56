//! The HTTP router: every route of the native API and the layers around it.
//!
//! Routes are declared once, in [`routes`], with their [`Access`]; the router
//! and the route table that tests walk ([`route_table`]) both come from that
//! one list, so no route can exist without being checked. Every route but
//! the few a sealed server needs (`Access::Unsealing`: health, seal status,
//! init, unseal, the OpenAPI description) passes [`require_unsealed`]: a sealed server answers 503
//! before any handler runs.
//!
//! Around every route ([`app`]): the audit layer; [`browser_guard`] (a JSON
//! body must say `Content-Type: application/json`, so a web page cannot send
//! one without a CORS preflight, and a foreign `Origin` is refused); no
//! response may be cached (`Cache-Control: no-store`: answers carry values
//! and tokens); request logs name the path, never the query string; every
//! request is counted and timed by its route pattern (`metrics::http`).

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod diff;
mod e2e;
pub mod metrics;
mod openapi;
pub(crate) mod projects;
mod relocate;
mod review;
pub(crate) mod rotation;
mod scan;
pub(crate) mod secrets;
mod sys;
pub mod vault;
mod watch;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::audit::RequestId;
use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token, answered even while sealed: health, seal status, init, unseal, the OpenAPI description.
    Unsealing,
    /// No token; 503 while sealed: logins, generate-root.
    Open,
    /// Any valid token, acting on itself (lookup-self, renew-self, revoke-self); 503 while sealed.
    SelfToken,
    /// A token whose policies allow it on `sys/<area>` (server administration); 503 while sealed.
    Admin,
    /// A token whose policies allow it on the data it touches; 503 while sealed.
    Data,
}

impl Access {
    /// Whether the route needs a token.
    pub fn needs_token(self) -> bool {
        !matches!(self, Access::Unsealing | Access::Open)
    }
}

/// One route: method, path pattern, access.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: String,
    pub access: Access,
    /// The operation name audit records carry (`secret.read`).
    pub operation: &'static str,
}

const ENV: &str = "/api/v1/projects/{project}/envs/{env}";

/// Collects routes into two routers (plain and data) and two tables: the
/// native API's and the Vault-compatible API's (`/v1/`, [`vault`]).
struct Routes {
    plain: Router<AppState>,
    data: Router<AppState>,
    table: Vec<RouteSpec>,
    vault_table: Vec<RouteSpec>,
}

impl Routes {
    fn add<H, T>(mut self, method: Method, path: &str, access: Access, operation: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("routes use standard methods");
        if access == Access::Unsealing {
            self.plain = self.plain.route(path, on(filter, handler));
        } else {
            self.data = self.data.route(path, on(filter, handler));
        }
        let table = if path.starts_with("/v1/") {
            &mut self.vault_table
        } else {
            &mut self.table
        };
        table.push(RouteSpec {
            method,
            path: path.to_owned(),
            access,
            operation,
        });
        self
    }
}

impl Routes {
    /// `POST` and `PUT` of one path to one handler (the Vault API takes both).
    fn post_put<H, T>(self, path: &str, access: Access, operation: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState> + Clone,
        T: 'static,
    {
        self.add(Method::POST, path, access, operation, handler.clone()).add(
            Method::PUT,
            path,
            access,
            operation,
            handler,
        )
    }
}

/// Every route, once.
fn routes() -> Routes {
    use Access::*;
    let e = |suffix: &str| format!("{ENV}{suffix}");
    let routes = Routes {
        plain: Router::new(),
        data: Router::new(),
        table: Vec::new(),
        vault_table: Vec::new(),
    };
    vault::add(routes)
        .add(Method::GET, "/api/v1/sys/health", Unsealing, "sys.health", sys::health)
        .add(
            Method::GET,
            "/api/v1/sys/seal-status",
            Unsealing,
            "sys.seal_status",
            sys::seal_status,
        )
        .add(Method::POST, "/api/v1/sys/init", Unsealing, "sys.init", sys::init)
        .add(Method::POST, "/api/v1/sys/unseal", Unsealing, "sys.unseal", sys::unseal)
        .add(
            Method::GET,
            "/api/v1/openapi.json",
            Unsealing,
            "sys.openapi",
            openapi::serve,
        )
        .add(
            Method::POST,
            "/api/v1/sys/generate-root",
            Open,
            "sys.generate_root",
            sys::generate_root,
        )
        .add(Method::POST, "/api/v1/sys/seal", Admin, "sys.seal", sys::seal)
        .add(Method::GET, "/api/v1/sys/keyring", Admin, "sys.keyring", sys::keyring)
        .add(Method::GET, "/api/v1/sys/nodes", Admin, "sys.nodes", sys::nodes)
        .add(
            Method::GET,
            "/api/v1/sys/snapshot",
            Admin,
            "sys.snapshot",
            sys::snapshot,
        )
        .add(
            Method::POST,
            "/api/v1/sys/rotate-key",
            Admin,
            "sys.rotate_key",
            sys::rotate_key,
        )
        .add(Method::GET, "/metrics", Admin, "sys.metrics", metrics::metrics)
        .add(
            Method::POST,
            "/api/v1/auth/userpass/login",
            Open,
            "auth.login.userpass",
            auth::userpass_login,
        )
        .add(
            Method::POST,
            "/api/v1/auth/client/login",
            Open,
            "auth.login.client",
            auth::client_login,
        )
        .add(
            Method::POST,
            "/api/v1/auth/jwt/login",
            Open,
            "auth.login.jwt",
            auth::jwt_login,
        )
        .add(
            Method::GET,
            "/api/v1/auth/jwt/issuers",
            Admin,
            "auth.jwt_issuer.list",
            admin::list_jwt_issuers,
        )
        .add(
            Method::PUT,
            "/api/v1/auth/jwt/issuers/{name}",
            Admin,
            "auth.jwt_issuer.write",
            admin::write_jwt_issuer,
        )
        .add(
            Method::DELETE,
            "/api/v1/auth/jwt/issuers/{name}",
            Admin,
            "auth.jwt_issuer.delete",
            admin::delete_jwt_issuer,
        )
        .add(
            Method::GET,
            "/api/v1/auth/token/lookup-self",
            SelfToken,
            "token.lookup_self",
            auth::lookup_self,
        )
        .add(
            Method::POST,
            "/api/v1/auth/token/renew-self",
            SelfToken,
            "token.renew_self",
            auth::renew_self,
        )
        .add(
            Method::POST,
            "/api/v1/auth/token/revoke-self",
            SelfToken,
            "token.revoke_self",
            auth::revoke_self,
        )
        .add(
            Method::POST,
            "/api/v1/auth/token/create",
            Admin,
            "token.create",
            auth::create,
        )
        .add(
            Method::POST,
            "/api/v1/auth/token/lookup",
            Admin,
            "token.lookup",
            auth::lookup,
        )
        .add(
            Method::POST,
            "/api/v1/auth/token/renew",
            Admin,
            "token.renew",
            auth::renew_other,
        )
        .add(
            Method::POST,
            "/api/v1/auth/token/revoke",
            Admin,
            "token.revoke",
            auth::revoke_other,
        )
        .add(
            Method::GET,
            "/api/v1/identities",
            Admin,
            "identity.list",
            admin::list_identities,
        )
        .add(
            Method::POST,
            "/api/v1/identities",
            Admin,
            "identity.create",
            admin::create_identity,
        )
        .add(
            Method::GET,
            "/api/v1/identities/{name}",
            Admin,
            "identity.read",
            admin::show_identity,
        )
        .add(
            Method::PATCH,
            "/api/v1/identities/{name}",
            Admin,
            "identity.update",
            admin::update_identity,
        )
        .add(
            Method::DELETE,
            "/api/v1/identities/{name}",
            Admin,
            "identity.delete",
            admin::delete_identity,
        )
        .add(
            Method::POST,
            "/api/v1/identities/{name}/secret",
            Admin,
            "identity.rotate_secret",
            admin::rotate_identity_secret,
        )
        .add(
            Method::POST,
            "/api/v1/identities/{name}/revoke-tokens",
            Admin,
            "identity.revoke_tokens",
            admin::revoke_identity_tokens,
        )
        .add(Method::GET, "/api/v1/groups", Admin, "group.list", admin::list_groups)
        .add(
            Method::POST,
            "/api/v1/groups",
            Admin,
            "group.create",
            admin::create_group,
        )
        .add(
            Method::GET,
            "/api/v1/groups/{name}",
            Admin,
            "group.read",
            admin::show_group,
        )
        .add(
            Method::PUT,
            "/api/v1/groups/{name}",
            Admin,
            "group.write",
            admin::replace_group,
        )
        .add(
            Method::DELETE,
            "/api/v1/groups/{name}",
            Admin,
            "group.delete",
            admin::delete_group,
        )
        .add(
            Method::GET,
            "/api/v1/policies",
            Admin,
            "policy.list",
            admin::list_policies,
        )
        .add(
            Method::POST,
            "/api/v1/policies/check",
            Admin,
            "policy.check",
            admin::check_policy,
        )
        .add(
            Method::GET,
            "/api/v1/policies/{name}",
            Admin,
            "policy.read",
            admin::read_policy,
        )
        .add(
            Method::PUT,
            "/api/v1/policies/{name}",
            Admin,
            "policy.write",
            admin::write_policy,
        )
        .add(
            Method::DELETE,
            "/api/v1/policies/{name}",
            Admin,
            "policy.delete",
            admin::delete_policy,
        )
        .add(
            Method::GET,
            "/api/v1/access/who-can",
            Admin,
            "access.who_can",
            review::who_can,
        )
        .add(
            Method::GET,
            "/api/v1/access/what-can/{name}",
            Admin,
            "access.what_can",
            review::what_can,
        )
        .add(
            Method::GET,
            "/api/v1/access/report",
            Admin,
            "access.report",
            review::report,
        )
        .add(Method::GET, "/api/v1/audit", Admin, "audit.list", audit::list)
        .add(
            Method::POST,
            "/api/v1/audit/checkpoint",
            Admin,
            "audit.checkpoint",
            audit::checkpoint,
        )
        .add(
            Method::POST,
            "/api/v1/audit/verify",
            Admin,
            "audit.verify",
            audit::verify,
        )
        .add(Method::POST, "/api/v1/audit/hash", Admin, "audit.hash", audit::hash)
        .add(
            Method::GET,
            "/api/v1/scan/fingerprints",
            Data,
            "scan.fingerprints",
            scan::fingerprints,
        )
        .add(Method::GET, "/api/v1/projects", Data, "project.list", projects::list)
        .add(
            Method::POST,
            "/api/v1/projects",
            Data,
            "project.create",
            projects::create,
        )
        .add(
            Method::DELETE,
            "/api/v1/projects/{project}",
            Data,
            "project.delete",
            projects::delete,
        )
        .add(
            Method::GET,
            "/api/v1/projects/{project}/envs",
            Data,
            "env.list",
            projects::list_envs,
        )
        .add(
            Method::POST,
            "/api/v1/projects/{project}/envs",
            Data,
            "env.create",
            projects::create_env,
        )
        .add(Method::DELETE, ENV, Data, "env.delete", projects::delete_env)
        .add(Method::GET, &e("/history"), Data, "env.history", secrets::history)
        .add(Method::GET, &e("/diff/{other}"), Data, "env.diff", diff::diff)
        .add(Method::POST, &e("/rollback"), Data, "env.rollback", secrets::rollback)
        .add(Method::POST, &e("/changes"), Data, "secret.change", secrets::changes)
        .add(Method::POST, &e("/move"), Data, "secret.move", relocate::move_secrets)
        .add(Method::POST, &e("/copy"), Data, "secret.copy", relocate::copy_secrets)
        .add(Method::GET, &e("/watch"), Data, "env.watch", watch::watch)
        .add(Method::GET, &e("/e2e"), Data, "e2e.status", e2e::status)
        .add(Method::PUT, &e("/e2e"), Data, "e2e.update", e2e::update)
        .add(Method::DELETE, &e("/e2e"), Data, "e2e.disable", e2e::disable)
        .add(Method::GET, &e("/e2e/values"), Data, "e2e.values", e2e::values)
        .add(Method::GET, &e("/secrets"), Data, "secret.list", secrets::list)
        .add(Method::GET, &e("/secrets/{*path}"), Data, "secret.read", secrets::read)
        .add(Method::PUT, &e("/secrets/{*path}"), Data, "secret.write", secrets::put)
        .add(
            Method::DELETE,
            &e("/secrets/{*path}"),
            Data,
            "secret.delete",
            secrets::delete,
        )
        .add(
            Method::GET,
            &e("/rotation/{*path}"),
            Data,
            "rotation.read",
            rotation::show,
        )
        .add(
            Method::PUT,
            &e("/rotation/{*path}"),
            Data,
            "rotation.write",
            rotation::put_policy,
        )
        .add(
            Method::DELETE,
            &e("/rotation/{*path}"),
            Data,
            "rotation.delete",
            rotation::delete_policy,
        )
        .add(
            Method::POST,
            &e("/rotate/{*path}"),
            Data,
            "secret.rotate",
            rotation::rotate_now,
        )
        .add(
            Method::GET,
            &e("/rotation-history/{*path}"),
            Data,
            "rotation.history",
            rotation::history,
        )
        .add(
            Method::GET,
            &e("/metadata/{*path}"),
            Data,
            "secret.metadata",
            secrets::metadata,
        )
        .add(
            Method::POST,
            &e("/undelete/{*path}"),
            Data,
            "secret.undelete",
            secrets::undelete,
        )
        .add(
            Method::POST,
            &e("/destroy/{*path}"),
            Data,
            "secret.destroy",
            secrets::destroy,
        )
}

/// Every route of the native API with its access, for tests that must cover them all.
pub fn route_table() -> Vec<RouteSpec> {
    routes().table
}

/// Every route of the Vault-compatible API (`/v1/`) with its access.
pub fn vault_route_table() -> Vec<RouteSpec> {
    routes().vault_table
}

/// Both tables, for the audit layer's operation names.
pub(crate) fn all_routes() -> Vec<RouteSpec> {
    let Routes { table, vault_table, .. } = routes();
    table.into_iter().chain(vault_table).collect()
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let Routes { plain, data, .. } = routes();
    let data = data.route_layer(middleware::from_fn_with_state(state.clone(), require_unsealed));
    let body_limit = state.limits.max_request_bytes;
    let app = plain
        .merge(data)
        .merge(crate::ui::router(&state))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(state.clone(), browser_guard))
        .layer(middleware::from_fn(vault::vault_shape))
        .layer(middleware::from_fn_with_state(state.clone(), crate::audit::audit_layer))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::http::track,
        ))
        .layer(middleware::from_fn(assign_request_id))
        .layer(axum::Extension(crate::extract::BodyDeadline(
            state.limits.request_timeout,
        )))
        .with_state(state);
    // before routing: Vault's LIST method is a GET (`vault::list_as_get`)
    Router::new().fallback_service(tower::ServiceExt::map_request(app, vault::list_as_get))
}

/// Gives every request its id ([`RequestId`]) before anything else runs: the
/// log span, the audit records and the `X-Request-Id` answer header all carry
/// it. The server makes it; a client's `X-Request-Id` is not trusted.
async fn assign_request_id(mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(RequestId::new());
    next.run(request).await
}

/// The span of a request's log lines, so every line names its request: the
/// request id, method and path. The query string is left out (it may carry
/// a token or a value).
fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(RequestId::as_str)
        .unwrap_or("");
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
}

/// Whether `origin` is this server's own (the `Host` it was reached at) or one the operator allowed.
fn origin_allowed(state: &AppState, origin: &str, host: Option<&str>) -> bool {
    let own = host.is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host))
    });
    own || state.allowed_origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
}

/// Refuses what a web page could send without a CORS preflight: a body
/// without `Content-Type: application/json` (415), and any request from a
/// foreign `Origin` (403), before any handler runs (inside the audit layer,
/// so the refusal is on record).
async fn browser_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let allowed = origin.to_str().is_ok_and(|o| origin_allowed(&state, o, host));
        if !allowed {
            return ApiError::new(
                ErrorKind::Forbidden,
                "foreign_origin",
                "requests from this Origin are refused; the operator can allow it with allowed_origins",
            )
            .into_response();
        }
    }
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0")
        || headers.contains_key(header::TRANSFER_ENCODING);
    let vault = request.uri().path().starts_with("/v1/");
    if has_body && vault && !vault::accepted_body(headers.get(header::CONTENT_TYPE)) {
        return ApiError::new(
            ErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            "a request body must be JSON: send it with Content-Type application/json (or none)",
        )
        .into_response();
    }
    // The web UI posts HTML forms; its own CSRF check guards them (`crate::ui`).
    let ui_form = request.uri().path().starts_with("/ui/");
    if has_body && !vault && !ui_form && !is_json(headers.get(header::CONTENT_TYPE)) {
        return ApiError::new(
            ErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            "a request body must be JSON sent with Content-Type: application/json",
        )
        .into_response();
    }
    next.run(request).await
}

/// `application/json`, optionally with parameters (`; charset=utf-8`).
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Answers 503 (sealed) or 501 (not initialised) before any data route runs.
async fn require_unsealed(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.barrier.keyring() {
        Ok(_) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

async fn no_route() -> ApiError {
    ApiError::not_found("no such route; see docs/api.md")
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        ErrorKind::MethodNotAllowed,
        "method_not_allowed",
        "this route does not accept that method; see docs/api.md",
    )
}

/// The `/api/v1` handlers the web UI (`crate::ui`) calls with its session's
/// caller, so a page is authorized, filtered and served by the API's own code.
pub(crate) mod api {
    pub(crate) use super::{admin, audit, auth, diff, projects, rotation, secrets};
}
