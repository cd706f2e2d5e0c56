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
mod identities;
mod path;
mod projects;
mod rotation;
mod secrets;
mod sys;
mod watch;

use std::fmt;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use audit::AuditQuery;
pub use error::Error;
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

/// A connection to one Leash server, with an optional token.
///
/// Cheap to clone (the underlying connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<SecretString>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.addr())
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the server at `addr` (`http://127.0.0.1:8270`,
    /// `https://leash.example.com`; a bare `host:port` means `http://`).
    ///
    /// `token` is sent as `Authorization: Bearer …` on every request except
    /// the open `sys` routes. `ca_cert_pem`, when given, is the PEM bundle of
    /// the certificate authorities to trust for `https://` instead of the
    /// built-in web roots (like `curl --cacert`).
    pub fn new(addr: &str, token: Option<SecretString>, ca_cert_pem: Option<&[u8]>) -> Result<Self, Error> {
        let base = parse_base(addr)?;
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
        Ok(Self { http, base, token })
    }

    /// The same server and TLS settings with another token (or none).
    pub fn with_token(&self, token: Option<SecretString>) -> Result<Self, Error> {
        if let Some(token) = &token {
            HeaderValue::from_str(&bearer(token)).map_err(|_| Error::InvalidToken)?;
        }
        Ok(Self {
            http: self.http.clone(),
            base: self.base.clone(),
            token,
        })
    }

    /// The server's base address, as used in error messages (`http://127.0.0.1:8270`).
    pub fn addr(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    /// Whether this client carries a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The absolute URL of an API path with query parameters.
    fn url(&self, path: &ApiPath, query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
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

    /// Sends one request and decodes a JSON answer.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &ApiPath,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, Error> {
        let route = format!("{method} {}", path.as_str());
        let answer = self.exchange(method, path, query, body, &route).await?;
        if answer.status.is_success() {
            self.decode(&route, &answer.bytes)
        } else {
            Err(self.error_from(&route, &answer))
        }
    }

    /// Sends one request whose successful answer has no body (204).
    async fn call_empty(
        &self,
        method: Method,
        path: &ApiPath,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<(), Error> {
        let route = format!("{method} {}", path.as_str());
        let answer = self.exchange(method, path, &[], body, &route).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.error_from(&route, &answer))
        }
    }

    /// Sends a request and reads the whole answer.
    async fn exchange(
        &self,
        method: Method,
        path: &ApiPath,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + ?Sized)>,
        route: &str,
    ) -> Result<Answer, Error> {
        let request = self.request(method, path, query, body)?;
        let response = request.send().await.map_err(|e| self.send_error(route, e))?;
        self.read_answer(response, route).await
    }

    /// A request with the token (marked sensitive) and the JSON body, not sent yet.
    fn request(
        &self,
        method: Method,
        path: &ApiPath,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let mut request = self
            .http
            .request(method, self.url(path, query))
            .timeout(REQUEST_TIMEOUT);
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&bearer(token)).map_err(|_| Error::InvalidToken)?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Ok(request)
    }

    /// Reads a whole answer.
    async fn read_answer(&self, response: reqwest::Response, route: &str) -> Result<Answer, Error> {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = response.bytes().await.map_err(|e| Error::Transport {
            addr: self.addr(),
            route: route.to_owned(),
            reason: error::root_cause(&e),
            source: e,
        })?;
        Ok(Answer {
            status,
            bytes: bytes.to_vec(),
            retry_after,
        })
    }

    fn send_error(&self, route: &str, e: reqwest::Error) -> Error {
        if e.is_connect() || e.is_timeout() {
            Error::Connect {
                addr: self.addr(),
                reason: error::root_cause(&e),
                source: e,
            }
        } else {
            Error::Transport {
                addr: self.addr(),
                route: route.to_owned(),
                reason: error::root_cause(&e),
                source: e,
            }
        }
    }

    fn decode<T: DeserializeOwned>(&self, route: &str, bytes: &[u8]) -> Result<T, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::Decode {
            addr: self.addr(),
            route: route.to_owned(),
            reason: error::describe_json_error(&e),
        })
    }

    fn error_from(&self, route: &str, answer: &Answer) -> Error {
        match serde_json::from_slice::<leash_core::api::ErrorBody>(&answer.bytes) {
            Ok(body) => Error::Api {
                status: answer.status.as_u16(),
                code: body.error.code,
                message: body.error.message,
                retry_after: answer.retry_after,
            },
            Err(_) => Error::UnexpectedStatus {
                addr: self.addr(),
                route: route.to_owned(),
                status: answer.status.as_u16(),
            },
        }
    }
}

/// A whole answer: status, body, and the one header callers act on.
struct Answer {
    status: StatusCode,
    bytes: Vec<u8>,
    /// `Retry-After` in seconds (the HTTP-date form is not used by Leash).
    retry_after: Option<u64>,
}

fn bearer(token: &SecretString) -> String {
    format!("Bearer {}", token.expose_secret())
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
