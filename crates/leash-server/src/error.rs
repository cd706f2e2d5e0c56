//! The one error type of `leash-server` and its mapping to HTTP.
//!
//! This is the only place that picks a status code for a failure. A 5xx logs
//! its detail server-side and answers with a generic message; no error here
//! may carry a secret value, a token or key material.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use leash_core::api::{ErrorBody, ErrorDetail};
use leash_store::StoreError;

/// What kind of failure it is. Code outside this module names a kind, never
/// an HTTP status: [`ErrorKind::status`] is the only mapping to HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: a name, a body, a parameter (400).
    InvalidInput,
    /// No valid credential (401).
    Unauthorized,
    /// The caller may not do this, and may know the thing exists (403).
    Forbidden,
    /// It does not exist, or the caller may not know it exists (404).
    NotFound,
    /// The route does not take this method (405).
    MethodNotAllowed,
    /// The state does not allow it: CAS, duplicates, rules about the current state (409).
    Conflict,
    /// It existed but its data is gone for good (410).
    Gone,
    /// Over a configured limit (413).
    TooLarge,
    /// The body is not JSON (415).
    UnsupportedMediaType,
    /// Too many attempts; retry later (429).
    RateLimited,
    /// A failure inside the server (500); the detail is logged, never answered.
    Internal,
    /// The server has not been initialised (501).
    NotInitialized,
    /// A system Leash talks to failed: a rotator's target (502).
    UpstreamFailed,
    /// Sealed, or the audit log cannot be written (503).
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status of this kind of failure: the only such mapping.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Gone => StatusCode::GONE,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::NotInitialized => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::UpstreamFailed => StatusCode::BAD_GATEWAY,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The status the Vault-compatible API (`/v1/`) answers this kind of
    /// failure with, as Vault does: no 401 (a missing or bad token is 403
    /// "permission denied"), state and CAS conflicts are 400, a destroyed
    /// version is 404. Every other kind keeps [`ErrorKind::status`].
    pub fn vault_status(self) -> StatusCode {
        match self {
            ErrorKind::Unauthorized => StatusCode::FORBIDDEN,
            ErrorKind::Conflict => StatusCode::BAD_REQUEST,
            ErrorKind::Gone => StatusCode::NOT_FOUND,
            other => other.status(),
        }
    }
}

/// A failure, as the API reports it: a kind, a stable code and a message for
/// the caller (never a value, a token or key material).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (rate-limited answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// 429 with a `Retry-After` header.
    pub fn too_many_requests(retry_after_secs: u64, message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(ErrorKind::RateLimited, "rate_limited", message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, "conflict", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, "forbidden", message)
    }

    pub fn sealed() -> Self {
        Self::new(
            ErrorKind::Unavailable,
            "sealed",
            "the server is sealed: unseal it with `leash operator unseal` (threshold shares needed)",
        )
    }

    pub fn not_initialized() -> Self {
        Self::new(
            ErrorKind::NotInitialized,
            "not_initialized",
            "the server is not initialised: run `leash operator init`",
        )
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLarge, "too_large", message)
    }

    /// An internal failure: logged in full here, reported generically.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(context, error = %detail, "internal error");
        Self::new(
            ErrorKind::Internal,
            "internal",
            format!("internal error while {context}; the server log has the details"),
        )
    }
}

/// The error code of a failed response, for the audit record.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// The failure behind an error response, kept in its extensions so the
/// Vault-compatible API can answer it in Vault's shape (`{"errors": [...]}`)
/// with [`ErrorKind::vault_status`].
#[derive(Debug, Clone)]
pub struct ErrorAnswer {
    pub kind: ErrorKind,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let answer = ErrorAnswer {
            kind: self.kind,
            message: self.message.clone(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.kind.status(), Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(self.code));
        response.extensions_mut().insert(answer);
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::AlreadyExists(what) => {
                ApiError::new(ErrorKind::Conflict, "already_exists", format!("{what} already exists"))
            }
            StoreError::AlreadyInitialized => ApiError::new(
                ErrorKind::Conflict,
                "already_initialized",
                "the server is already initialised",
            ),
            e @ StoreError::CasMismatch { .. } => ApiError::new(ErrorKind::Conflict, "cas_mismatch", e.to_string()),
            e @ StoreError::VersionConflict(_) => ApiError::conflict(e.to_string()),
            StoreError::InvalidChange(msg) => ApiError::bad_request(msg),
            StoreError::E2eMismatch { .. } => ApiError::new(
                ErrorKind::Conflict,
                "e2e_recipients_changed",
                "the environment's end-to-end recipients changed; read them again, re-encrypt and retry",
            ),
            StoreError::E2eVersionsRetained(n) => ApiError::new(
                ErrorKind::Conflict,
                "e2e_versions_retained",
                format!(
                    "{n} retained versions hold end-to-end ciphertext that the server cannot decrypt; \
                     destroy them (`leash secrets destroy KEY --yes`) before turning end-to-end encryption off"
                ),
            ),
            StoreError::Unsupported(msg) => ApiError::new(ErrorKind::InvalidInput, "unsupported_by_backend", msg),
            e => ApiError::internal("accessing storage", e),
        }
    }
}

impl From<leash_core::Error> for ApiError {
    fn from(e: leash_core::Error) -> Self {
        match e {
            e @ leash_core::Error::InvalidName { .. } => {
                ApiError::new(ErrorKind::InvalidInput, "invalid_name", e.to_string())
            }
            e @ (leash_core::Error::ShamirParams(_)
            | leash_core::Error::InvalidShare(_)
            | leash_core::Error::InvalidSchedule(_)) => ApiError::bad_request(e.to_string()),
            e @ leash_core::Error::InvalidRecipient { .. } => {
                ApiError::new(ErrorKind::InvalidInput, "invalid_recipient", e.to_string())
            }
            e @ leash_core::Error::InvalidCiphertext(_) => {
                ApiError::new(ErrorKind::InvalidInput, "invalid_ciphertext", e.to_string())
            }
            e => ApiError::internal("decrypting stored data", e),
        }
    }
}
