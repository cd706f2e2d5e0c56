//! The HTTP router: every route of the native API and the layers around it.
//!
//! Routes are declared once, in [`routes`], with their [`Access`]; the router
//! and the route table that tests walk ([`route_table`]) both come from that
//! one list, so no route can exist without being checked. Data routes
//! (`Access::Data`) additionally pass [`require_unsealed`]: a sealed server
//! answers 503 before any handler runs.

mod admin;
mod auth;
mod projects;
mod secrets;
mod sys;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token: health, seal status, init, unseal, generate-root, logins.
    Open,
    /// Any valid token, acting on itself (lookup-self, renew-self, revoke-self).
    SelfToken,
    /// A token whose policies allow it; works while sealed (server administration).
    Admin,
    /// A token whose policies allow it; 503 while sealed.
    Data,
}

/// One route: method, path pattern, access.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: String,
    pub access: Access,
}

const ENV: &str = "/api/v1/projects/{project}/envs/{env}";

/// Collects routes into two routers (plain and data) and a table.
struct Routes {
    plain: Router<AppState>,
    data: Router<AppState>,
    table: Vec<RouteSpec>,
}

impl Routes {
    fn add<H, T>(mut self, method: Method, path: &str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("routes use standard methods");
        if access == Access::Data {
            self.data = self.data.route(path, on(filter, handler));
        } else {
            self.plain = self.plain.route(path, on(filter, handler));
        }
        self.table.push(RouteSpec {
            method,
            path: path.to_owned(),
            access,
        });
        self
    }
}

/// Every route, once.
fn routes() -> Routes {
    use Access::*;
    let e = |suffix: &str| format!("{ENV}{suffix}");
    Routes {
        plain: Router::new(),
        data: Router::new(),
        table: Vec::new(),
    }
    .add(Method::GET, "/api/v1/sys/health", Open, sys::health)
    .add(Method::GET, "/api/v1/sys/seal-status", Open, sys::seal_status)
    .add(Method::POST, "/api/v1/sys/init", Open, sys::init)
    .add(Method::POST, "/api/v1/sys/unseal", Open, sys::unseal)
    .add(Method::POST, "/api/v1/sys/generate-root", Open, sys::generate_root)
    .add(Method::POST, "/api/v1/sys/seal", Admin, sys::seal)
    .add(Method::GET, "/api/v1/sys/keyring", Admin, sys::keyring)
    .add(Method::POST, "/api/v1/sys/rotate-key", Admin, sys::rotate_key)
    .add(Method::POST, "/api/v1/auth/userpass/login", Open, auth::userpass_login)
    .add(Method::POST, "/api/v1/auth/client/login", Open, auth::client_login)
    .add(Method::POST, "/api/v1/auth/jwt/login", Open, auth::jwt_login)
    .add(Method::GET, "/api/v1/auth/jwt/issuers", Admin, admin::list_jwt_issuers)
    .add(
        Method::PUT,
        "/api/v1/auth/jwt/issuers/{name}",
        Admin,
        admin::write_jwt_issuer,
    )
    .add(
        Method::DELETE,
        "/api/v1/auth/jwt/issuers/{name}",
        Admin,
        admin::delete_jwt_issuer,
    )
    .add(
        Method::GET,
        "/api/v1/auth/token/lookup-self",
        SelfToken,
        auth::lookup_self,
    )
    .add(
        Method::POST,
        "/api/v1/auth/token/renew-self",
        SelfToken,
        auth::renew_self,
    )
    .add(
        Method::POST,
        "/api/v1/auth/token/revoke-self",
        SelfToken,
        auth::revoke_self,
    )
    .add(Method::POST, "/api/v1/auth/token/create", Admin, auth::create)
    .add(Method::POST, "/api/v1/auth/token/lookup", Admin, auth::lookup)
    .add(Method::POST, "/api/v1/auth/token/renew", Admin, auth::renew_other)
    .add(Method::POST, "/api/v1/auth/token/revoke", Admin, auth::revoke_other)
    .add(Method::GET, "/api/v1/identities", Admin, admin::list_identities)
    .add(Method::POST, "/api/v1/identities", Admin, admin::create_identity)
    .add(Method::GET, "/api/v1/identities/{name}", Admin, admin::show_identity)
    .add(
        Method::PATCH,
        "/api/v1/identities/{name}",
        Admin,
        admin::update_identity,
    )
    .add(
        Method::DELETE,
        "/api/v1/identities/{name}",
        Admin,
        admin::delete_identity,
    )
    .add(
        Method::POST,
        "/api/v1/identities/{name}/secret",
        Admin,
        admin::rotate_identity_secret,
    )
    .add(
        Method::POST,
        "/api/v1/identities/{name}/revoke-tokens",
        Admin,
        admin::revoke_identity_tokens,
    )
    .add(Method::GET, "/api/v1/groups", Admin, admin::list_groups)
    .add(Method::POST, "/api/v1/groups", Admin, admin::create_group)
    .add(Method::GET, "/api/v1/groups/{name}", Admin, admin::show_group)
    .add(Method::PUT, "/api/v1/groups/{name}", Admin, admin::replace_group)
    .add(Method::DELETE, "/api/v1/groups/{name}", Admin, admin::delete_group)
    .add(Method::GET, "/api/v1/policies", Admin, admin::list_policies)
    .add(Method::POST, "/api/v1/policies/check", Admin, admin::check_policy)
    .add(Method::GET, "/api/v1/policies/{name}", Admin, admin::read_policy)
    .add(Method::PUT, "/api/v1/policies/{name}", Admin, admin::write_policy)
    .add(Method::DELETE, "/api/v1/policies/{name}", Admin, admin::delete_policy)
    .add(Method::GET, "/api/v1/projects", Data, projects::list)
    .add(Method::POST, "/api/v1/projects", Data, projects::create)
    .add(Method::DELETE, "/api/v1/projects/{project}", Data, projects::delete)
    .add(
        Method::GET,
        "/api/v1/projects/{project}/envs",
        Data,
        projects::list_envs,
    )
    .add(
        Method::POST,
        "/api/v1/projects/{project}/envs",
        Data,
        projects::create_env,
    )
    .add(Method::DELETE, ENV, Data, projects::delete_env)
    .add(Method::GET, &e("/history"), Data, secrets::history)
    .add(Method::POST, &e("/rollback"), Data, secrets::rollback)
    .add(Method::POST, &e("/changes"), Data, secrets::changes)
    .add(Method::GET, &e("/secrets"), Data, secrets::list)
    .add(Method::GET, &e("/secrets/{*path}"), Data, secrets::read)
    .add(Method::PUT, &e("/secrets/{*path}"), Data, secrets::put)
    .add(Method::DELETE, &e("/secrets/{*path}"), Data, secrets::delete)
    .add(Method::GET, &e("/metadata/{*path}"), Data, secrets::metadata)
    .add(Method::POST, &e("/undelete/{*path}"), Data, secrets::undelete)
    .add(Method::POST, &e("/destroy/{*path}"), Data, secrets::destroy)
}

/// Every route with its access, for tests that must cover them all.
pub fn route_table() -> Vec<RouteSpec> {
    routes().table
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let Routes { plain, data, .. } = routes();
    let data = data.route_layer(middleware::from_fn_with_state(state.clone(), require_unsealed));
    let body_limit = state.limits.max_request_bytes;
    plain
        .merge(data)
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method; see docs/api.md",
    )
}
