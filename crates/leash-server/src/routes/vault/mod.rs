//! The Vault-compatible HTTP API under `/v1/` (docs/vault-compat.md): the
//! parts of Vault's API that KV version 2 clients use (hvac, vaultrs, the
//! Vault and OpenBao CLIs, External Secrets Operator...).
//!
//! These routes are declared in the same route list as the native API's
//! (`routes::routes`), so they pass the same layers: the audit layer (one
//! record per request, with the native operation name), the seal check, the
//! browser guard, and the same `Caller` extractor (which on `/v1/` also reads
//! `X-Vault-Token`). Handlers authorize through `authz` and act through the
//! domain services (`crate::vault`, `service`), or call the native handler
//! itself; nothing here decides access or touches storage on its own.
//!
//! Vault's shapes are made here and only here: the response envelope
//! ([`envelope`]), errors as `{"errors": [...]}` with Vault's statuses
//! ([`vault_shape`], from [`crate::error::ErrorKind::vault_status`]), the
//! `LIST` method ([`list_method`]).

mod kv;
mod sys;
mod token;

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Access, Routes};
use crate::audit::RequestId;
use crate::error::ErrorAnswer;

/// Adds every `/v1/` route. Vault takes `PUT` as `POST`: both are routes.
pub(super) fn add(routes: Routes) -> Routes {
    use Access::*;
    routes
        .add(Method::GET, "/v1/sys/health", Unsealing, "sys.health", sys::health)
        .add(
            Method::GET,
            "/v1/sys/seal-status",
            Unsealing,
            "sys.seal_status",
            sys::seal_status,
        )
        .add(
            Method::GET,
            "/v1/sys/init",
            Unsealing,
            "sys.init_status",
            sys::init_status,
        )
        .post_put("/v1/sys/init", Unsealing, "sys.init", sys::init)
        .post_put("/v1/sys/unseal", Unsealing, "sys.unseal", sys::unseal)
        .post_put("/v1/sys/seal", Admin, "sys.seal", sys::seal)
        .add(Method::GET, "/v1/sys/mounts", Data, "mount.list", sys::mounts)
        .add(Method::GET, "/v1/sys/mounts/{mount}", Data, "mount.read", sys::mount)
        .post_put("/v1/sys/mounts/{mount}", Data, "project.create", sys::enable)
        .add(
            Method::DELETE,
            "/v1/sys/mounts/{mount}",
            Data,
            "project.delete",
            sys::disable,
        )
        .add(
            Method::GET,
            "/v1/sys/mounts/{mount}/tune",
            Data,
            "mount.read",
            sys::tune_read,
        )
        .post_put("/v1/sys/mounts/{mount}/tune", Data, "mount.tune", sys::tune)
        .add(
            Method::GET,
            "/v1/sys/internal/ui/mounts/{*path}",
            Data,
            "mount.read",
            sys::preflight,
        )
        .post_put(
            "/v1/sys/capabilities-self",
            SelfToken,
            "token.capabilities",
            sys::capabilities_self,
        )
        .add(
            Method::GET,
            "/v1/auth/token/lookup-self",
            SelfToken,
            "token.lookup_self",
            token::lookup_self,
        )
        .post_put(
            "/v1/auth/token/lookup-self",
            SelfToken,
            "token.lookup_self",
            token::lookup_self,
        )
        .post_put(
            "/v1/auth/token/renew-self",
            SelfToken,
            "token.renew_self",
            token::renew_self,
        )
        .post_put(
            "/v1/auth/token/revoke-self",
            SelfToken,
            "token.revoke_self",
            token::revoke_self,
        )
        .post_put("/v1/auth/token/create", Admin, "token.create", token::create)
        .post_put("/v1/auth/token/lookup", Admin, "token.lookup", token::lookup)
        .post_put("/v1/auth/token/revoke", Admin, "token.revoke", token::revoke)
        .post_put(
            "/v1/auth/approle/login",
            Open,
            "auth.login.client",
            token::approle_login,
        )
        .post_put("/v1/auth/jwt/login", Open, "auth.login.jwt", token::jwt_login)
        .post_put("/v1/auth/kubernetes/login", Open, "auth.login.jwt", token::jwt_login)
        .add(Method::GET, "/v1/{mount}/config", Data, "mount.read", kv::config_read)
        .post_put("/v1/{mount}/config", Data, "mount.tune", kv::config_write)
        .add(Method::GET, "/v1/{mount}/data/{*path}", Data, "secret.read", kv::read)
        .post_put("/v1/{mount}/data/{*path}", Data, "secret.change", kv::write)
        .add(
            Method::PATCH,
            "/v1/{mount}/data/{*path}",
            Data,
            "secret.change",
            kv::patch,
        )
        .add(
            Method::DELETE,
            "/v1/{mount}/data/{*path}",
            Data,
            "secret.delete",
            kv::delete_latest,
        )
        .add(Method::GET, "/v1/{mount}/metadata", Data, "secret.list", kv::list_root)
        .add(Method::GET, "/v1/{mount}/metadata/", Data, "secret.list", kv::list_root)
        .add(
            Method::GET,
            "/v1/{mount}/metadata/{*path}",
            Data,
            "secret.metadata",
            kv::metadata,
        )
        .post_put(
            "/v1/{mount}/metadata/{*path}",
            Data,
            "secret.metadata_write",
            kv::metadata_write,
        )
        .add(
            Method::PATCH,
            "/v1/{mount}/metadata/{*path}",
            Data,
            "secret.metadata_write",
            kv::metadata_write,
        )
        .add(
            Method::DELETE,
            "/v1/{mount}/metadata/{*path}",
            Data,
            "secret.purge",
            kv::metadata_delete,
        )
        .add(
            Method::GET,
            "/v1/{mount}/subkeys/{*path}",
            Data,
            "secret.metadata",
            kv::subkeys,
        )
        .post_put("/v1/{mount}/delete/{*path}", Data, "secret.delete", kv::delete_versions)
        .post_put("/v1/{mount}/undelete/{*path}", Data, "secret.undelete", kv::undelete)
        .post_put("/v1/{mount}/destroy/{*path}", Data, "secret.destroy", kv::destroy)
}

/// Vault's response envelope around `data` (and `auth`, for logins).
pub fn envelope(id: &RequestId, data: Option<Value>, auth: Option<Value>) -> Response {
    Json(json!({
        "request_id": id.as_str(),
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": auth,
    }))
    .into_response()
}

/// The envelope with `data`.
pub fn data(id: &RequestId, data: Value) -> Response {
    envelope(id, Some(data), None)
}

/// Vault's answer for listings of named things (mounts, capabilities): the
/// map both at the top level and under `data`, as Vault sends it.
pub fn top_and_data(id: &RequestId, map: serde_json::Map<String, Value>) -> Response {
    let mut body = map.clone();
    for (k, v) in [
        ("request_id", json!(id.as_str())),
        ("lease_id", json!("")),
        ("renewable", json!(false)),
        ("lease_duration", json!(0)),
        ("data", Value::Object(map)),
    ] {
        body.insert(k.into(), v);
    }
    Json(Value::Object(body)).into_response()
}

/// Vault's answer to a request that returns nothing.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Vault's "nothing here": 404 with an empty error list (an empty listing, a missing secret).
pub fn empty_not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "errors": [] }))).into_response()
}

/// Answers every failed `/v1/` request in Vault's shape: `{"errors": [message]}`
/// with [`crate::error::ErrorKind::vault_status`]. The error's extensions stay,
/// so the audit record keeps its code.
pub async fn vault_shape(request: Request, next: Next) -> Response {
    let vault = request.uri().path().starts_with("/v1/");
    let response = next.run(request).await;
    let Some(answer) = vault
        .then(|| response.extensions().get::<ErrorAnswer>().cloned())
        .flatten()
    else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    parts.status = answer.kind.vault_status();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = json!({ "errors": [answer.message] }).to_string();
    Response::from_parts(parts, Body::from(body))
}

/// Vault's `LIST` method is `GET ?list=true` (which Vault also accepts): the
/// request is rewritten before routing (`routes::app` maps every request
/// through this), so both reach the same handler and the audit record says `GET`.
pub fn list_as_get(mut request: Request) -> Request {
    if request.method().as_str() == "LIST" && request.uri().path().starts_with("/v1/") {
        let uri = request.uri();
        let path_and_query = match uri.query() {
            Some(q) => format!("{}?{q}&list=true", uri.path()),
            None => format!("{}?list=true", uri.path()),
        };
        // a path the router accepted always parses again; if not, the request stays LIST (405)
        if let Ok(rewritten) = path_and_query.parse() {
            *request.uri_mut() = rewritten;
            *request.method_mut() = Method::GET;
        }
    }
    request
}

/// The bodies `/v1/` accepts: JSON with `application/json`, a JSON merge
/// patch (`application/merge-patch+json`), or no content type (Vault's Go
/// client sends none). Form and text bodies, which a web page can send
/// without a CORS preflight, are refused.
pub fn accepted_body(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type else {
        return true;
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase())
        .is_some_and(|media| matches!(media.as_str(), "application/json" | "application/merge-patch+json"))
}

/// `?list=true` (or `LIST`): whether a GET asks for a listing.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListFlag {
    #[serde(default, deserialize_with = "truthy")]
    pub list: bool,
}

/// Vault's boolean query values: `true`/`1`/`yes`... (Go's strconv.ParseBool).
fn truthy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let text: String = serde::Deserialize::deserialize(d)?;
    parse_bool(&text).ok_or_else(|| serde::de::Error::custom("expected true or false"))
}

/// Go's `strconv.ParseBool`, as Vault reads query flags.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A whole number as Vault clients send one: a JSON number or a string of
/// digits (the Go client sends `"versions": ["4"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int(pub i64);

impl<'de> serde::Deserialize<'de> for Int {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n.as_i64().map(Int),
            Value::String(s) => s.trim().parse().ok().map(Int),
            _ => None,
        }
        .ok_or_else(|| serde::de::Error::custom("expected a whole number"))
    }
}

/// An RFC 3339 time in Vault's style (`""` for none).
pub fn vault_time(millis: Option<i64>) -> String {
    millis.map(crate::time::rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_types() {
        assert!(accepted_body(None));
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(accepted_body(Some(&HeaderValue::from_static(ok))), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            assert!(!accepted_body(Some(&HeaderValue::from_static(bad))), "{bad}");
        }
    }

    #[test]
    fn go_booleans() {
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool("1"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }

    #[test]
    fn numbers_may_come_as_strings() {
        let parse = |v: Value| serde_json::from_value::<Int>(v).ok();
        assert_eq!(parse(json!(4)), Some(Int(4)));
        assert_eq!(parse(json!("4")), Some(Int(4)));
        assert_eq!(parse(json!("four")), None);
        assert_eq!(parse(json!(1.5)), None);
    }
}
