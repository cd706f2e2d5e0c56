//! The one error type of `leash-client`.
//!
//! It owns turning transport failures and the server's
//! `{"error": {"code", "message"}}` bodies into variants a caller can match
//! on and a user can act on. It must never carry a token or a secret value:
//! messages are built from the server's own (value-free) error message, the
//! server address, the route and the innermost transport error only. JSON
//! decoding errors are reduced to their category and position, because
//! serde's messages may quote the offending (possibly secret) input.

use std::error::Error as StdError;

/// Everything that can go wrong talking to a Leash server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a Leash error body. `message` is the server's
    /// own explanation and is what a user should see.
    #[error("{message}")]
    Api {
        /// HTTP status (400, 401, 403, 404, 409, 410, 413, 501, 503, ...).
        status: u16,
        /// Stable machine-readable code (`not_found`, `sealed`, `cas_mismatch`, ...).
        code: String,
        /// What went wrong, in the server's words.
        message: String,
        /// Seconds to wait before trying again, from a `Retry-After` header
        /// (sent with 429 when logins are rate-limited).
        retry_after: Option<u64>,
    },
    /// The server answered with an error status but without a Leash error
    /// body (a proxy in between, or not a Leash server at all).
    #[error(
        "the server at {addr} answered {route} with HTTP {status} and no Leash error body (is this a Leash server?)"
    )]
    UnexpectedStatus { addr: String, route: String, status: u16 },
    /// No connection could be made (refused, DNS failure, TLS handshake, timeout).
    #[error("cannot reach the Leash server at {addr}: {reason}")]
    Connect {
        addr: String,
        /// The innermost cause, e.g. "Connection refused (os error 111)".
        reason: String,
        #[source]
        source: reqwest::Error,
    },
    /// The connection was made but the exchange failed part-way.
    #[error("the request {route} to the Leash server at {addr} failed: {reason}")]
    Transport {
        addr: String,
        route: String,
        reason: String,
        #[source]
        source: reqwest::Error,
    },
    /// A write without CAS was sent, then the exchange failed (a timeout, a
    /// reset connection): it may or may not have been applied, so it was not
    /// repeated on any node.
    #[error(
        "the request {route} was sent to the Leash server at {addr}, then failed ({reason}): its outcome is \
         unknown (it may or may not have been applied), so it was not retried; check before repeating it"
    )]
    OutcomeUnknown {
        addr: String,
        route: String,
        reason: String,
        #[source]
        source: reqwest::Error,
    },
    /// A node answered 503 (or a proxy 502/504) to a write that is not safe to
    /// repeat (no CAS revision), so no other node was tried.
    #[error(
        "{source} (the Leash server at {addr} answered {route} with HTTP {status}; it was not retried on \
         another node because a write without a CAS revision is not safe to repeat)"
    )]
    NotRetried {
        addr: String,
        route: String,
        status: u16,
        source: Box<Error>,
    },
    /// Every node was tried and none could serve the request; `failures`
    /// names each node and why, in the order they were tried.
    #[error("no Leash server could serve {route}: {}", describe(failures))]
    NoNodeAnswered {
        route: String,
        failures: Vec<NodeFailure>,
        /// The last node's error ([`Error::status`] and [`Error::code`] come from it).
        last: Box<Error>,
    },
    /// The server's answer was not the JSON shape this client expects
    /// (usually a client and server of different versions).
    #[error("could not decode the answer of the Leash server at {addr} to {route}: {reason}")]
    Decode {
        addr: String,
        route: String,
        /// Category and position of the problem; never the offending text.
        reason: String,
    },
    /// The server address could not be used as a base URL.
    #[error("invalid Leash server address {addr:?}: {reason}")]
    InvalidAddress { addr: String, reason: String },
    /// The CA certificate given for TLS could not be read.
    #[error("invalid CA certificate: {reason}")]
    InvalidCaCert { reason: String },
    /// The token contains bytes that cannot travel in an HTTP header.
    #[error("the token contains characters that cannot be sent in an HTTP header")]
    InvalidToken,
    /// A project, environment or secret name breaks the naming rules; checked
    /// before any request is sent.
    #[error(transparent)]
    InvalidName(#[from] leash_core::Error),
    /// An end-to-end encrypted value was read without an age identity to decrypt it.
    #[error(
        "{path} is end-to-end encrypted to {}; an age identity for one of them is needed to read it \
         (LEASH_AGE_IDENTITY=FILE or --identity FILE; `age_identity` for the agent)",
        list(recipients)
    )]
    E2eNoIdentity { path: String, recipients: Vec<String> },
    /// An end-to-end encrypted value could not be decrypted with the identities given.
    #[error(
        "cannot decrypt {path} with the age identity {identity}: {reason}; it is encrypted to {}",
        list(recipients)
    )]
    E2eDecrypt {
        path: String,
        /// Where the identities came from (a file path).
        identity: String,
        recipients: Vec<String>,
        reason: leash_core::e2e::DecryptFailure,
    },
    /// Parsing recipients or identities, or encrypting to them, failed.
    #[error(transparent)]
    E2e(leash_core::Error),
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {reason}")]
    Setup { reason: String },
}

/// Why one node could not serve a request, in an [`Error::NoNodeAnswered`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFailure {
    /// The node's base address.
    pub addr: String,
    /// What happened there ("cannot connect: Connection refused", "HTTP 503 sealed: ...").
    pub reason: String,
    /// Whether the node could not be reached at all (nothing was sent).
    pub unreachable: bool,
}

impl Error {
    /// The HTTP status of an [`Error::Api`] answer (for a request that failed
    /// on every node, the last node's).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::UnexpectedStatus { status, .. } => Some(*status),
            Error::NotRetried { source: inner, .. } | Error::NoNodeAnswered { last: inner, .. } => inner.status(),
            _ => None,
        }
    }

    /// The server's error code of an [`Error::Api`] answer (`not_found`, `sealed`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            Error::NotRetried { source: inner, .. } | Error::NoNodeAnswered { last: inner, .. } => inner.code(),
            _ => None,
        }
    }

    /// Seconds the server asked to wait before trying again (`Retry-After` on a 429).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            Error::NotRetried { source: inner, .. } | Error::NoNodeAnswered { last: inner, .. } => inner.retry_after(),
            _ => None,
        }
    }

    /// Whether no server could be reached at all (with several nodes: none of them).
    pub fn is_connect(&self) -> bool {
        match self {
            Error::Connect { .. } => true,
            Error::NoNodeAnswered { failures, .. } => failures.iter().all(|f| f.unreachable),
            _ => false,
        }
    }

    /// Whether the server side is unavailable rather than refusing: no node
    /// reachable, an exchange broken part-way, a 5xx, or every node failing.
    /// A cache may stand in for such an error, never for a 4xx answer.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::Transport { .. } | Error::NoNodeAnswered { .. } => true,
            _ => self.status().is_some_and(|s| s >= 500),
        }
    }

    /// The short reason a node failed, for [`NodeFailure::reason`].
    pub(crate) fn node_reason(&self) -> String {
        match self {
            Error::Connect { reason, .. } => format!("cannot connect: {reason}"),
            Error::Transport { reason, .. } => format!("the exchange failed: {reason}"),
            Error::Api {
                status, code, message, ..
            } => format!("HTTP {status} {code}: {message}"),
            Error::UnexpectedStatus { status, .. } => format!("HTTP {status} without a Leash error body"),
            other => other.to_string(),
        }
    }
}

/// "http://a: cannot connect: ...; http://b: HTTP 503 sealed: ..."
fn describe(failures: &[NodeFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("{}: {}", f.addr, f.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A recipient list for a message.
fn list(recipients: &[String]) -> String {
    if recipients.is_empty() {
        "recipients the server did not name".to_owned()
    } else {
        recipients.join(", ")
    }
}

/// The innermost cause of a transport error, e.g. "Connection refused (os
/// error 111)". reqwest's own message repeats the URL and says little else.
pub(crate) fn root_cause(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "the request timed out".to_owned();
    }
    let mut current: &dyn StdError = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// A description of a JSON decoding error that cannot quote the input.
pub(crate) fn describe_json_error(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = err.to_string();
    // Missing or duplicate fields name the field, never a value: worth keeping.
    if text.starts_with("missing field") || text.starts_with("duplicate field") {
        return text;
    }
    let what = match err.classify() {
        Category::Io => "read error",
        Category::Syntax => "malformed JSON",
        Category::Data => "unexpected JSON shape",
        Category::Eof => "truncated JSON",
    };
    format!("{what} at line {} column {}", err.line(), err.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_never_quote_the_input() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Shape {
            n: i64,
        }
        let err = serde_json::from_str::<Shape>(r#"{"n": "hunter2"}"#).unwrap_err();
        let text = describe_json_error(&err);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("unexpected JSON shape"), "{text}");

        let err = serde_json::from_str::<Shape>("{}").unwrap_err();
        assert!(describe_json_error(&err).contains("missing field `n`"));
    }
}
