//! The HTTP router: every route of the native API and the layers around it.
//!
//! Routes are declared once, in [`routes`], with their [`Access`]; the router
//! and the route table that tests walk ([`route_table`]) both come from that
//! one list, so no route can exist without being checked. Data routes
//! (`Access::Data`) additionally pass [`require_unsealed`]: a sealed server
//! answers 503 before any handler runs.

mod admin;
mod audit;
mod auth;
mod e2e;
mod projects;
mod rotation;
mod scan;
mod secrets;
mod sys;
mod watch;

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
    /// The operation name audit records carry (`secret.read`).
    pub operation: &'static str,
}

const ENV: &str = "/api/v1/projects/{project}/envs/{env}";

/// Collects routes into two routers (plain and data) and a table.
struct Routes {
    plain: Router<AppState>,
    data: Router<AppState>,
    table: Vec<RouteSpec>,
}

impl Routes {
    fn add<H, T>(mut self, method: Method, path: &str, access: Access, operation: &'static str, handler: H) -> Self
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
            operation,
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
    .add(Method::GET, "/api/v1/sys/health", Open, "sys.health", sys::health)
    .add(
        Method::GET,
        "/api/v1/sys/seal-status",
        Open,
        "sys.seal_status",
        sys::seal_status,
    )
    .add(Method::POST, "/api/v1/sys/init", Open, "sys.init", sys::init)
    .add(Method::POST, "/api/v1/sys/unseal", Open, "sys.unseal", sys::unseal)
    .add(
        Method::POST,
        "/api/v1/sys/generate-root",
        Open,
        "sys.generate_root",
        sys::generate_root,
    )
    .add(Method::POST, "/api/v1/sys/seal", Admin, "sys.seal", sys::seal)
    .add(Method::GET, "/api/v1/sys/keyring", Admin, "sys.keyring", sys::keyring)
    .add(
        Method::POST,
        "/api/v1/sys/rotate-key",
        Admin,
        "sys.rotate_key",
        sys::rotate_key,
    )
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
    .add(Method::POST, &e("/rollback"), Data, "env.rollback", secrets::rollback)
    .add(Method::POST, &e("/changes"), Data, "secret.change", secrets::changes)
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
        .layer(middleware::from_fn_with_state(state.clone(), crate::audit::audit_layer))
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
