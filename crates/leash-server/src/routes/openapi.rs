//! The OpenAPI 3.1 description of the native API, served at `GET /api/v1/openapi.json`.
//!
//! Operations come from the `#[utoipa::path]` annotation on each handler and schemas from
//! the `ToSchema` derives of `leash_core::api`; what the route table already says is not
//! written twice but copied from it ([`super::route_table`]): each operation's id (the
//! audit operation name), its bearer-token security (from [`Access::needs_token`]) and the
//! error answers every route of its access can give (401, 403, 503, ...), all referring
//! to the one `Error` schema. This module describes the API; it must never hold or serve
//! data, so it is safe to answer without a token and while sealed.

use std::sync::OnceLock;

use axum::http::{Method, header};
use axum::response::IntoResponse;
use leash_core::api::ErrorBody;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use super::{Access, RouteSpec, route_table};

/// The name of the bearer-token security scheme.
const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Leash native API",
        description = "The native HTTP API of Leash (`/api/v1`). Errors answer \
            `{\"error\": {\"code\", \"message\"}}` (the `Error` schema). Routes that need a token \
            take `Authorization: Bearer <token>`. See docs/api.md."
    ),
    paths(
        serve,
        super::sys::health,
        super::sys::seal_status,
        super::sys::init,
        super::sys::unseal,
        super::sys::generate_root,
        super::sys::seal,
        super::sys::keyring,
        super::sys::nodes,
        super::sys::rotate_key,
        super::sys::snapshot,
        super::metrics::metrics,
        super::auth::userpass_login,
        super::auth::client_login,
        super::auth::jwt_login,
        super::admin::list_jwt_issuers,
        super::admin::write_jwt_issuer,
        super::admin::delete_jwt_issuer,
        super::auth::lookup_self,
        super::auth::renew_self,
        super::auth::revoke_self,
        super::auth::create,
        super::auth::lookup,
        super::auth::renew_other,
        super::auth::revoke_other,
        super::admin::list_identities,
        super::admin::create_identity,
        super::admin::show_identity,
        super::admin::update_identity,
        super::admin::delete_identity,
        super::admin::rotate_identity_secret,
        super::admin::revoke_identity_tokens,
        super::admin::list_groups,
        super::admin::create_group,
        super::admin::show_group,
        super::admin::replace_group,
        super::admin::delete_group,
        super::admin::list_policies,
        super::admin::check_policy,
        super::admin::read_policy,
        super::admin::write_policy,
        super::admin::delete_policy,
        super::review::who_can,
        super::review::what_can,
        super::review::report,
        super::audit::list,
        super::audit::checkpoint,
        super::audit::verify,
        super::audit::hash,
        super::scan::fingerprints,
        super::projects::list,
        super::projects::create,
        super::projects::delete,
        super::projects::list_envs,
        super::projects::create_env,
        super::projects::delete_env,
        super::secrets::history,
        super::diff::diff,
        super::secrets::rollback,
        super::secrets::changes,
        super::relocate::move_secrets,
        super::relocate::copy_secrets,
        super::watch::watch,
        super::e2e::status,
        super::e2e::update,
        super::e2e::disable,
        super::e2e::values,
        super::secrets::list,
        super::secrets::read,
        super::secrets::put,
        super::secrets::delete,
        super::rotation::show,
        super::rotation::put_policy,
        super::rotation::delete_policy,
        super::rotation::rotate_now,
        super::rotation::history,
        super::secrets::metadata,
        super::secrets::undelete,
        super::secrets::destroy,
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "sys", description = "Health, initialisation, seal and unseal, keyring, this description"),
        (name = "auth", description = "Logins, tokens and JWT/OIDC issuers"),
        (name = "identities", description = "Users and service identities"),
        (name = "groups", description = "Groups of identities"),
        (name = "policies", description = "Access policies"),
        (name = "access", description = "Access review: who can, what can, the report"),
        (name = "audit", description = "The audit log"),
        (name = "projects", description = "Projects and environments"),
        (name = "secrets", description = "Secrets, change sets, history, diffs and watch"),
        (name = "rotation", description = "Rotation policies and rotations"),
        (name = "e2e", description = "End-to-end encryption of an environment"),
        (name = "scan", description = "What `leash scan --known` needs"),
    )
)]
struct NativeApi;

/// The OpenAPI 3.1 description of the native API (this document).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "sys",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], spec_json())
}

/// The spec as JSON, built once.
fn spec_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        spec()
            .to_json()
            .expect("an OpenAPI document of plain strings and maps serialises")
    })
}

/// The spec: the annotations, completed from the route table.
pub fn spec() -> utoipa::openapi::OpenApi {
    let mut api = NativeApi::openapi();
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("A Leash token (`lsh_...`): `Authorization: Bearer <token>`"))
                .build(),
        ),
    );
    for (name, description) in ERROR_RESPONSES {
        components
            .responses
            .insert((*name).to_owned(), RefOr::T(error_response(description)));
    }
    for route in route_table() {
        if let Some(operation) = api
            .paths
            .paths
            .get_mut(&spec_path(&route.path))
            .and_then(|item| operation_mut(item, &route.method))
        {
            complete(operation, &route);
        }
    }
    api
}

/// The error answers that depend only on a route's access, by name in `components.responses`.
const ERROR_RESPONSES: &[(&str, &str)] = &[
    ("BadRequest", "Bad input: a name, a parameter or the body"),
    ("Unauthorized", "No valid token"),
    ("Forbidden", "The token's policies do not allow it"),
    ("NotFound", "It does not exist, or the caller may not know it exists"),
    ("NotInitialized", "The server is not initialised"),
    (
        "Unavailable",
        "The server is sealed, or the audit log cannot be written",
    ),
];

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
}

/// Fills in what the route table knows: id, security, the errors of its access.
fn complete(operation: &mut Operation, route: &RouteSpec) {
    operation.operation_id = Some(route.operation.to_owned());
    operation.security = route
        .access
        .needs_token()
        .then(|| vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    let takes_input = operation.request_body.is_some() || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_path_params = route.path.contains('{');
    let errors = [
        ("400", "BadRequest", takes_input),
        ("401", "Unauthorized", route.access.needs_token()),
        ("403", "Forbidden", route.access.needs_token()),
        ("404", "NotFound", has_path_params),
        ("501", "NotInitialized", route.access != Access::Unsealing),
        ("503", "Unavailable", route.access != Access::Unsealing),
    ];
    let responses = &mut operation.responses.responses;
    for (status, name, applies) in errors {
        if applies && !responses.contains_key(status) {
            responses.insert(status.to_owned(), RefOr::Ref(Ref::from_response_name(name)));
        }
    }
}

fn operation_mut<'a>(item: &'a mut PathItem, method: &Method) -> Option<&'a mut Operation> {
    match *method {
        Method::GET => item.get.as_mut(),
        Method::PUT => item.put.as_mut(),
        Method::POST => item.post.as_mut(),
        Method::DELETE => item.delete.as_mut(),
        Method::PATCH => item.patch.as_mut(),
        Method::HEAD => item.head.as_mut(),
        Method::OPTIONS => item.options.as_mut(),
        Method::TRACE => item.trace.as_mut(),
        _ => None,
    }
}

/// An axum route pattern as OpenAPI writes it: the catch-all `{*path}` is `{path}`.
pub fn spec_path(route: &str) -> String {
    route.replace("{*", "{")
}

#[cfg(test)]
mod tests {
    use super::spec_path;

    #[test]
    fn catch_all_parameters_are_plain_parameters_in_the_spec() {
        assert_eq!(
            spec_path("/api/v1/projects/{project}/envs/{env}/secrets/{*path}"),
            "/api/v1/projects/{project}/envs/{env}/secrets/{path}"
        );
        assert_eq!(spec_path("/api/v1/sys/health"), "/api/v1/sys/health");
    }
}
