//! JSON body and query extractors whose failures are API errors.
//!
//! Axum's own extractors answer bad input with plain text; these answer with
//! the JSON error shape, name the offending field, and never echo the input
//! (a malformed value could be a secret). Bodies are strict whatever their
//! type: an unknown field (a `cass` typo would silently disable CAS) or
//! anything after the JSON value is refused.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorKind};

/// A JSON request body.
pub struct ApiJson<T>(pub T);

/// Query parameters.
pub struct ApiQuery<T>(pub T);

/// A JSON body as the Vault-compatible API reads one: an empty body is the
/// type's default and fields it does not know are ignored (Vault clients send
/// fields a server may not use); malformed JSON is refused as [`ApiJson`] refuses it.
pub struct VaultJson<T>(pub T);

/// serde's "invalid type/value/length" messages quote the offending input
/// (`integer `5``, `string "abc"`); keep only what was expected.
fn redact(message: &str) -> String {
    for kind in ["invalid type", "invalid value", "invalid length"] {
        if message.starts_with(kind) {
            return match message.find(", expected ") {
                Some(i) => format!("{kind}, expected {}", &message[i + ", expected ".len()..]),
                None => kind.to_owned(),
            };
        }
    }
    message.to_owned()
}

fn describe<E: std::fmt::Display>(err: &serde_path_to_error::Error<E>) -> String {
    let path = err.path().to_string();
    let inner = redact(&err.inner().to_string());
    if path == "." || path.is_empty() {
        inner
    } else {
        format!("field `{path}`: {inner}")
    }
}

/// How long a request's body may take to arrive in whole (`request_timeout`),
/// set on every request by the router (`routes::app`).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub std::time::Duration);

fn timed_out() -> ApiError {
    ApiError::new(
        ErrorKind::TimedOut,
        "request_timeout",
        "the request body did not arrive within the server's request_timeout",
    )
}

async fn within<F: std::future::Future>(deadline: Option<BodyDeadline>, read: F) -> Result<F::Output, ApiError> {
    match deadline {
        Some(BodyDeadline(limit)) => tokio::time::timeout(limit, read).await.map_err(|_| timed_out()),
        None => Ok(read.await),
    }
}

/// Reads a whole body within the request's [`BodyDeadline`] and `limit`
/// bytes, for a layer that must see a body before its handler does (the web
/// UI's CSRF check).
pub async fn read_body(
    extensions: &axum::http::Extensions,
    body: axum::body::Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    within(
        extensions.get::<BodyDeadline>().copied(),
        axum::body::to_bytes(body, limit),
    )
    .await?
    .map_err(|_| ApiError::too_large("the request body is larger than the server's max_request_bytes"))
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let deadline = req.extensions().get::<BodyDeadline>().copied();
    let bytes = within(deadline, Bytes::from_request(req, state)).await?;
    bytes.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => {
            ApiError::too_large("the request body is larger than the server's max_request_bytes")
        }
        other => ApiError::bad_request(format!("cannot read the request body: {other}")),
    })
}

/// Parses a JSON body; `strict` refuses fields the type does not know.
fn parse_json<T: DeserializeOwned>(bytes: &[u8], strict: bool) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut unknown = Vec::new();
    let mut note_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let value = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(&mut de, &mut note_unknown))
        .map_err(|e| {
            let code = if e.inner().is_data() {
                "invalid_request"
            } else {
                "invalid_json"
            };
            ApiError::new(
                ErrorKind::InvalidInput,
                code,
                format!("malformed JSON body: {}", describe(&e)),
            )
        })?;
    de.end().map_err(|_| {
        ApiError::new(
            ErrorKind::InvalidInput,
            "invalid_json",
            "malformed JSON body: data after the JSON value",
        )
    })?;
    if let Some(field) = unknown.first().filter(|_| strict) {
        return Err(ApiError::bad_request(format!(
            "unknown field `{field}` in the request body; see docs/api.md for the fields this route takes"
        )));
    }
    Ok(value)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        Ok(ApiJson(parse_json(&bytes, true)?))
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for VaultJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(VaultJson(T::default()));
        }
        Ok(VaultJson(parse_json(&bytes, false)?))
    }
}

/// `Option<ApiJson<T>>`: `None` for an empty body, for routes whose body is optional.
impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        Ok(Some(ApiJson(parse_json(&bytes, true)?)))
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        let value = serde_path_to_error::deserialize(de)
            .map_err(|e| ApiError::bad_request(format!("bad query parameter: {}", describe(&e))))?;
        Ok(ApiQuery(value))
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redaction_drops_quoted_input() {
        assert_eq!(
            redact("invalid type: integer `123456`, expected a string at line 1 column 9"),
            "invalid type, expected a string at line 1 column 9"
        );
        assert_eq!(
            redact("invalid value: string \"hunter2\", expected u8"),
            "invalid value, expected u8"
        );
        assert_eq!(redact("missing field `value`"), "missing field `value`");
    }
}
