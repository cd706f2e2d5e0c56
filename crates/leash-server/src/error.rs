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

/// A failure, as the API reports it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 with a `Retry-After` header.
    pub fn too_many_requests(retry_after_secs: u64, message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn sealed() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sealed",
            "the server is sealed: unseal it with `leash operator unseal` (threshold shares needed)",
        )
    }

    pub fn not_initialized() -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_initialized",
            "the server is not initialised: run `leash operator init`",
        )
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    /// An internal failure: logged in full here, reported generically.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(context, error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error while {context}; the server log has the details"),
        )
    }
}

/// The error code of a failed response, for the audit record.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(self.code));
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
                ApiError::new(StatusCode::CONFLICT, "already_exists", format!("{what} already exists"))
            }
            StoreError::AlreadyInitialized => ApiError::new(
                StatusCode::CONFLICT,
                "already_initialized",
                "the server is already initialised",
            ),
            e @ StoreError::CasMismatch { .. } => ApiError::new(StatusCode::CONFLICT, "cas_mismatch", e.to_string()),
            e @ StoreError::VersionConflict(_) => ApiError::conflict(e.to_string()),
            StoreError::InvalidChange(msg) => ApiError::bad_request(msg),
            StoreError::E2eMismatch { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "e2e_recipients_changed",
                "the environment's end-to-end recipients changed; read them again, re-encrypt and retry",
            ),
            StoreError::E2eVersionsRetained(n) => ApiError::new(
                StatusCode::CONFLICT,
                "e2e_versions_retained",
                format!(
                    "{n} retained versions hold end-to-end ciphertext that the server cannot decrypt; \
                     destroy them (`leash secrets destroy KEY --yes`) before turning end-to-end encryption off"
                ),
            ),
            e => ApiError::internal("accessing storage", e),
        }
    }
}

impl From<leash_core::Error> for ApiError {
    fn from(e: leash_core::Error) -> Self {
        match e {
            e @ leash_core::Error::InvalidName { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_name", e.to_string())
            }
            e @ (leash_core::Error::ShamirParams(_)
            | leash_core::Error::InvalidShare(_)
            | leash_core::Error::InvalidSchedule(_)) => ApiError::bad_request(e.to_string()),
            e @ leash_core::Error::InvalidRecipient { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_recipient", e.to_string())
            }
            e @ leash_core::Error::InvalidCiphertext(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_ciphertext", e.to_string())
            }
            e => ApiError::internal("decrypting stored data", e),
        }
    }
}
