//! `leash-client`: the Rust SDK for Leash's native HTTP API (`/api/v1`).
//!
//! It owns one thing: turning typed calls ([`Client::get_secret`],
//! [`Client::apply_changes`], ...) into HTTP requests to a Leash server and
//! the answers back into the shared [`leash_core::api`] types, with one error
//! type ([`Error`]). Project, environment, secret and policy names are
//! checked with `leash_core` before a request is sent, and every URL path
//! segment is percent-encoded. Logins, tokens, identities, groups, policies
//! and JWT issuers have their calls too ([`Client::login_client`],
//! [`Client::create_identity`], [`Client::write_policy`], ...). End-to-end
//! encrypted environments are handled in [`e2e`]: values are encrypted with
//! age before they are sent ([`Client::apply_changes_e2e`]) and decrypted
//! with the caller's identities after they arrive ([`e2e::decrypt_secret`]).
//!
//! It must never put a token or a secret value into an error message, a log
//! line or a `Debug` output (the [`Client`]'s `Debug` redacts its token), and
//! it must never do anything but HTTP: no files, no environment variables, no
//! configuration lookups. Callers (the `leash` CLI, agents, services) decide
//! where the address and token come from.
//!
//! # Failover
//!
//! [`Client::new`] takes one address or a comma-separated list of the nodes
//! of a cluster (`http://a:8270,http://b:8270`; [`Client::with_nodes`] takes
//! a slice). A request starts at the node that last answered and tries each
//! node at most once:
//!
//! - a node that cannot be reached (refused, DNS, TLS, connect timeout) is
//!   skipped for every request, since nothing was sent;
//! - a 503 (sealed, audit unavailable) or a proxy's 502/504 is skipped for
//!   requests that are safe to repeat: reads (GET/HEAD, logins, token
//!   lookups, audit verify/hash) and writes that carry a CAS revision (the
//!   API has no idempotency keys); a plain write gets the answer, with
//!   [`Error::NotRetried`] saying it was not repeated;
//! - a broken exchange after a plain write was sent is never repeated:
//!   [`Error::OutcomeUnknown`] names the node and says the outcome is unknown
//!   (a CAS write is repeated; a 409 then may mean the first attempt landed);
//! - every other answer, every 4xx included, is final;
//! - health, seal status, init, unseal, seal and generate-root are about one
//!   node and go to the current node only.
//!
//! When every node fails, [`Error::NoNodeAnswered`] lists each node and why.
//! With one address nothing changes: its errors are the plain ones.
//!
//! ```no_run
//! # async fn demo() -> Result<(), leash_client::Error> {
//! let client = leash_client::Client::new("http://127.0.0.1:8270", Some("lsh_...".into()), None)?;
//! let secret = client.get_secret("payment", "prod", "stripe/API_KEY", &Default::default()).await?;
//! # let _ = secret;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod audit;
mod auth;
pub mod e2e;
mod error;
mod failover;
mod identities;
mod path;
mod projects;
mod relocate;
mod review;
mod rotation;
mod secrets;
mod sys;
mod watch;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use failover::{Attempt, Next, Nodes, Retry};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

pub use audit::AuditQuery;
pub use error::{Error, NodeFailure};
pub use leash_core::api::WatchEvent;
pub use path::ApiPath;
pub use secrecy;
pub use secrets::{ListOptions, ReadOptions};
pub use sys::SnapshotDownload;
pub use watch::WatchStream;

/// How long to wait for a TCP/TLS connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request/response exchange may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection to a Leash server, or to the nodes of a cluster, with an
/// optional token.
///
/// Cheap to clone (the connection pool and the memory of which node last
/// answered are shared). With several addresses, requests fail over between
/// them by the rules in the [crate documentation](crate#failover).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    nodes: Arc<Nodes>,
    token: Option<SecretString>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("addrs", &self.addrs())
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// One request, ready to be sent to any node.
struct Call<'a> {
    method: Method,
    path: &'a ApiPath,
    query: &'a [(&'a str, String)],
    /// The JSON body, serialized once (it may hold secret values).
    body: Option<Zeroizing<Vec<u8>>>,
    retry: Retry,
    timeout: Option<Duration>,
    /// Hand a successful answer over unread (watch streams, snapshots).
    stream: bool,
    route: String,
}

/// What a node sent back.
enum Received {
    Whole(Answer),
    /// A successful answer left unread, and the node that sent it.
    Streaming {
        response: reqwest::Response,
        addr: String,
    },
}

/// One failed attempt: what happened and the error to report for it.
struct Failed {
    attempt: Attempt,
    error: Error,
}

impl Client {
    /// A client for the server at `addr` (`http://127.0.0.1:8270`,
    /// `https://leash.example.com`; a bare `host:port` means `http://`), or
    /// for the nodes of a cluster given as a comma-separated list
    /// (`http://a:8270,http://b:8270`), tried in that order.
    ///
    /// `token` is sent as `Authorization: Bearer …` on every request except
    /// the open `sys` routes. `ca_cert_pem`, when given, is the PEM bundle of
    /// the certificate authorities to trust for `https://` instead of the
    /// built-in web roots (like `curl --cacert`).
    pub fn new(addr: &str, token: Option<SecretString>, ca_cert_pem: Option<&[u8]>) -> Result<Self, Error> {
        Self::build(Nodes::parse(addr)?, token, ca_cert_pem)
    }

    /// A client for the nodes of a cluster, tried in this order (see [`Client::new`]).
    pub fn with_nodes(addrs: &[&str], token: Option<SecretString>, ca_cert_pem: Option<&[u8]>) -> Result<Self, Error> {
        Self::build(Nodes::from_list(addrs)?, token, ca_cert_pem)
    }

    fn build(nodes: Arc<Nodes>, token: Option<SecretString>, ca_cert_pem: Option<&[u8]>) -> Result<Self, Error> {
        if let Some(token) = &token {
            HeaderValue::from_str(&bearer(token)).map_err(|_| Error::InvalidToken)?;
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("leash-client/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_cert_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| Error::InvalidCaCert {
                reason: error::root_cause(&e),
            })?;
            if certs.is_empty() {
                return Err(Error::InvalidCaCert {
                    reason: "no PEM certificate found".to_owned(),
                });
            }
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| Error::Setup {
            reason: error::root_cause(&e),
        })?;
        Ok(Self { http, nodes, token })
    }

    /// The same servers and TLS settings with another token (or none). The
    /// two clients share the memory of which node last answered.
    pub fn with_token(&self, token: Option<SecretString>) -> Result<Self, Error> {
        if let Some(token) = &token {
            HeaderValue::from_str(&bearer(token)).map_err(|_| Error::InvalidToken)?;
        }
        Ok(Self {
            http: self.http.clone(),
            nodes: self.nodes.clone(),
            token,
        })
    }

    /// The base address of the node the next request starts at, as used in
    /// error messages (`http://127.0.0.1:8270`): the first address of a fresh
    /// client, then the node that last answered.
    pub fn addr(&self) -> String {
        failover::display(self.nodes.current())
    }

    /// Every node's base address, in the order given.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.all().map(failover::display).collect()
    }

    /// Whether this client carries a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The absolute URL of an API path with query parameters on the current node.
    #[cfg(test)]
    fn url(&self, path: &ApiPath, query: &[(&str, String)]) -> Url {
        url_at(self.nodes.current(), path, query)
    }

    /// Sends one request and decodes a JSON answer. GET/HEAD fail over as
    /// reads, every other method as a plain write; see [`Client::call_as`].
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &ApiPath,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, Error> {
        self.call_as(Retry::of(&method), method, path, query, body).await
    }

    /// [`Client::call`] with an explicit failover class.
    async fn call_as<T: DeserializeOwned>(
        &self,
        retry: Retry,
        method: Method,
        path: &ApiPath,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, Error> {
        let call = Call::new(method, path, query, body, retry)?;
        let answer = self.exchange(&call).await?;
        if answer.status.is_success() {
            decode(&answer.addr, &call.route, &answer.bytes)
        } else {
            Err(error_from(&answer.addr, &call.route, &answer))
        }
    }

    /// Sends one request whose successful answer has no body (204).
    async fn call_empty(
        &self,
        method: Method,
        path: &ApiPath,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<(), Error> {
        let call = Call::new(method.clone(), path, &[], body, Retry::of(&method))?;
        let answer = self.exchange(&call).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(error_from(&answer.addr, &call.route, &answer))
        }
    }

    /// Sends a request (failing over between nodes) and reads the whole answer.
    async fn exchange(&self, call: &Call<'_>) -> Result<Answer, Error> {
        match self.send(call).await? {
            Received::Whole(answer) => Ok(answer),
            Received::Streaming { .. } => unreachable!("only stream calls are handed over unread"),
        }
    }

    /// Sends a request to the nodes in failover order until one gives an
    /// answer the rules accept (see [`failover`]).
    async fn send(&self, call: &Call<'_>) -> Result<Received, Error> {
        let mut failures = Vec::new();
        let mut last = None;
        for (index, base) in self.nodes.order() {
            let addr = failover::display(base);
            let failed = match self.attempt(base, &addr, call).await {
                Ok(received) => {
                    let status = match &received {
                        Received::Whole(answer) => answer.status,
                        Received::Streaming { response, .. } => response.status(),
                    };
                    match failover::next(Attempt::Answered(status), call.retry) {
                        Next::Finish => {
                            self.nodes.answered(index);
                            return Ok(received);
                        }
                        Next::NotRetried => {
                            self.nodes.answered(index);
                            let Received::Whole(answer) = received else {
                                unreachable!("an unsuccessful answer is always read whole")
                            };
                            if self.nodes.len() == 1 {
                                return Ok(Received::Whole(answer));
                            }
                            return Err(Error::NotRetried {
                                addr: addr.clone(),
                                route: call.route.clone(),
                                status: status.as_u16(),
                                source: Box::new(error_from(&addr, &call.route, &answer)),
                            });
                        }
                        Next::MoveOn | Next::OutcomeUnknown => {
                            let Received::Whole(answer) = received else {
                                unreachable!("an unsuccessful answer is always read whole")
                            };
                            if self.nodes.len() == 1 {
                                return Ok(Received::Whole(answer));
                            }
                            Failed {
                                attempt: Attempt::Answered(status),
                                error: error_from(&addr, &call.route, &answer),
                            }
                        }
                    }
                }
                Err(failed) => failed,
            };
            match failover::next(failed.attempt, call.retry) {
                Next::MoveOn => {}
                Next::OutcomeUnknown => return Err(outcome_unknown(failed.error)),
                Next::Finish | Next::NotRetried => return Err(failed.error),
            }
            failures.push(NodeFailure {
                addr,
                reason: failed.error.node_reason(),
                unreachable: failed.attempt == Attempt::Unreachable,
            });
            last = Some(failed.error);
        }
        let last = last.expect("a client has at least one node and every attempt either returned or failed");
        if failures.len() == 1 {
            return Err(last);
        }
        Err(Error::NoNodeAnswered {
            route: call.route.clone(),
            failures,
            last: Box::new(last),
        })
    }

    /// One attempt on one node.
    async fn attempt(&self, base: &Url, addr: &str, call: &Call<'_>) -> Result<Received, Failed> {
        let request = self.request(base, call).map_err(|error| Failed {
            attempt: Attempt::Unreachable,
            error,
        })?;
        let response = request.send().await.map_err(|e| send_error(addr, &call.route, e))?;
        if call.stream && response.status().is_success() {
            return Ok(Received::Streaming {
                response,
                addr: addr.to_owned(),
            });
        }
        read_answer(response, addr, &call.route).await.map(Received::Whole)
    }

    /// A request to `base` with the token (marked sensitive) and the JSON body, not sent yet.
    fn request(&self, base: &Url, call: &Call<'_>) -> Result<reqwest::RequestBuilder, Error> {
        let mut request = self
            .http
            .request(call.method.clone(), url_at(base, call.path, call.query));
        if let Some(timeout) = call.timeout {
            request = request.timeout(timeout);
        }
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&bearer(token)).map_err(|_| Error::InvalidToken)?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(body) = &call.body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.to_vec());
        }
        Ok(request)
    }
}

impl<'a> Call<'a> {
    /// A request/response exchange with the usual timeout.
    fn new(
        method: Method,
        path: &'a ApiPath,
        query: &'a [(&'a str, String)],
        body: Option<&(impl Serialize + ?Sized)>,
        retry: Retry,
    ) -> Result<Self, Error> {
        let body = match body {
            Some(body) => Some(Zeroizing::new(serde_json::to_vec(body).map_err(|e| Error::Setup {
                reason: format!("cannot encode the request body: {}", error::describe_json_error(&e)),
            })?)),
            None => None,
        };
        Ok(Self {
            route: format!("{method} {}", path.as_str()),
            method,
            path,
            query,
            body,
            retry,
            timeout: Some(REQUEST_TIMEOUT),
            stream: false,
        })
    }

    /// A GET whose successful answer is read by the caller, piece by piece.
    fn stream(path: &'a ApiPath, query: &'a [(&'a str, String)], timeout: Option<Duration>) -> Self {
        Self {
            route: format!("GET {}", path.as_str()),
            method: Method::GET,
            path,
            query,
            body: None,
            retry: Retry::Read,
            timeout,
            stream: true,
        }
    }
}

/// The absolute URL of an API path with query parameters under `base`.
fn url_at(base: &Url, path: &ApiPath, query: &[(&str, String)]) -> Url {
    let mut url = base.clone();
    let base_path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{base_path}{}", path.as_str()));
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in query {
            pairs.append_pair(k, v);
        }
    }
    url
}

/// Reads a whole answer.
async fn read_answer(response: reqwest::Response, addr: &str, route: &str) -> Result<Answer, Failed> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let bytes = response.bytes().await.map_err(|e| Failed {
        attempt: Attempt::BrokenAfterSend,
        error: Error::Transport {
            addr: addr.to_owned(),
            route: route.to_owned(),
            reason: error::root_cause(&e),
            source: e,
        },
    })?;
    Ok(Answer {
        status,
        bytes: bytes.to_vec(),
        retry_after,
        addr: addr.to_owned(),
    })
}

/// A failure to send: before a connection (nothing sent) or after.
fn send_error(addr: &str, route: &str, e: reqwest::Error) -> Failed {
    if e.is_connect() {
        Failed {
            attempt: Attempt::Unreachable,
            error: Error::Connect {
                addr: addr.to_owned(),
                reason: error::root_cause(&e),
                source: e,
            },
        }
    } else {
        Failed {
            attempt: Attempt::BrokenAfterSend,
            error: Error::Transport {
                addr: addr.to_owned(),
                route: route.to_owned(),
                reason: error::root_cause(&e),
                source: e,
            },
        }
    }
}

/// A broken exchange of a write, restated as an unknown outcome.
fn outcome_unknown(error: Error) -> Error {
    match error {
        Error::Transport {
            addr,
            route,
            reason,
            source,
        } => Error::OutcomeUnknown {
            addr,
            route,
            reason,
            source,
        },
        other => other,
    }
}

fn decode<T: DeserializeOwned>(addr: &str, route: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Decode {
        addr: addr.to_owned(),
        route: route.to_owned(),
        reason: error::describe_json_error(&e),
    })
}

fn error_from(addr: &str, route: &str, answer: &Answer) -> Error {
    match serde_json::from_slice::<leash_core::api::ErrorBody>(&answer.bytes) {
        Ok(body) => Error::Api {
            status: answer.status.as_u16(),
            code: body.error.code,
            message: body.error.message,
            retry_after: answer.retry_after,
        },
        Err(_) => Error::UnexpectedStatus {
            addr: addr.to_owned(),
            route: route.to_owned(),
            status: answer.status.as_u16(),
        },
    }
}

/// A whole answer: status, body, the one header callers act on, and the node.
struct Answer {
    status: StatusCode,
    bytes: Vec<u8>,
    /// `Retry-After` in seconds (the HTTP-date form is not used by Leash).
    retry_after: Option<u64>,
    /// The node that answered.
    addr: String,
}

fn bearer(token: &SecretString) -> String {
    format!("Bearer {}", token.expose_secret())
}

/// Checks a comma-separated list of server addresses (one address is a list
/// of one) as [`Client::new`] would, and returns each, normalised
/// (`127.0.0.1:8270` → `http://127.0.0.1:8270`), in order. The error names
/// the first bad entry.
pub fn parse_addrs(list: &str) -> Result<Vec<String>, Error> {
    Ok(Nodes::parse(list)?.all().map(failover::display).collect())
}

/// Parses a server address into a base URL ending in `/`.
fn parse_base(addr: &str) -> Result<Url, Error> {
    let invalid = |reason: &str| Error::InvalidAddress {
        addr: addr.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = addr.trim();
    if trimmed.is_empty() {
        return Err(invalid("the address is empty"));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("http://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("only http:// and https:// addresses are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the address has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials in the address are not supported; use a token"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the address may not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let check = |input: &str, expected: Result<&str, &str>| match (Client::new(input, None, None), expected) {
            (Ok(c), Ok(addr)) => assert_eq!(c.addr(), addr, "{input}"),
            (Err(e), Err(fragment)) => {
                assert!(e.to_string().contains(fragment), "{input}: {e}")
            }
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        };
        check("http://127.0.0.1:8270", Ok("http://127.0.0.1:8270"));
        check("http://127.0.0.1:8270/", Ok("http://127.0.0.1:8270"));
        check("127.0.0.1:8270", Ok("http://127.0.0.1:8270"));
        check(
            "https://leash.example.com/prefix",
            Ok("https://leash.example.com/prefix"),
        );
        check("ftp://x", Err("only http:// and https://"));
        check("", Err("empty"));
        check("http://user:pw@host", Err("credentials"));
        check("http://host/?a=b", Err("query"));
    }

    #[test]
    fn urls_keep_a_base_prefix_and_encode_queries() {
        let c = Client::new("https://h.example/leash", None, None).unwrap();
        let path = ApiPath::api().lit("projects");
        let url = c.url(&path, &[("prefix", "a b&c".to_owned())]);
        assert_eq!(url.as_str(), "https://h.example/leash/api/v1/projects?prefix=a+b%26c");
    }

    #[test]
    fn debug_redacts_the_token() {
        let c = Client::new("http://h", Some("lsh_topsecret".into()), None).unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains("topsecret"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn tokens_that_cannot_be_headers_are_refused() {
        let err = Client::new("http://h", Some("lsh_\nx".into()), None).unwrap_err();
        assert!(matches!(err, Error::InvalidToken));
        assert!(!err.to_string().contains("lsh_"));
    }

    #[test]
    fn bad_ca_certificates_are_refused() {
        let err = Client::new("https://h", None, Some(b"not a pem")).unwrap_err();
        assert!(matches!(err, Error::InvalidCaCert { .. }), "{err:?}");
    }
}
