//! The webhook rotator: POSTs every step to a URL, signed with HMAC-SHA256.
//!
//! **Owns**: one HTTP client and the signing key. Each step is one POST of
//! `{"step","project","env","path","attempt","value"}` with a
//! `Leash-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>`
//! header (the scheme Stripe uses); any 2xx is success. The receiver does the
//! actual change in its system.
//!
//! **Where values may go**: only to hosts the operator listed
//! ([`Allowlist`], the server's `rotation_webhook_allow`), and only to
//! addresses the allowlist's address rules accept. The URL's host is checked
//! when the rotator is built; a host name is resolved by the client's own
//! resolver ([`CheckedResolver`]), which drops every address the rules refuse
//! before the client connects, so a name whose DNS changed after the policy
//! was set (DNS rebinding) cannot lead to a loopback or link-local address.
//! [`check_destination`] runs the same checks ahead of time (when a policy is
//! set). Proxies from the environment are not used: a proxy would resolve and
//! connect on its own, out of reach of these rules.
//!
//! **Must never**: put a value or the response body into an error (a receiver
//! may echo the value back); follow a redirect (the value would go to a URL
//! nobody configured); put the URL into an error (it may carry a token): an
//! error names the host, the port or an address at most.
//!
//! The request body necessarily holds the value; it is built in a zeroized
//! buffer, but the HTTP client's own copy is not wiped after sending.

pub mod allow;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use leash_core::generate::Generator;
use zeroize::Zeroizing;

pub use allow::Allowlist;

use crate::{Error, Result, Rotator, Step, Target};

/// The name of the signature header.
pub const SIGNATURE_HEADER: &str = "Leash-Signature";

/// The configuration of a [`WebhookRotator`].
pub struct WebhookConfig {
    /// `http://` or `https://` URL the steps are POSTed to.
    pub url: String,
    /// The HMAC-SHA256 key shared with the receiver (32 random bytes, encoded,
    /// is a good choice). Used as the UTF-8 bytes of the string.
    pub signing_key: Zeroizing<String>,
    /// Makes the pending value in `create`.
    pub generator: Generator,
    /// How long one request may take, connecting included.
    pub timeout: Duration,
    /// Where the URL may point (the server's `rotation_webhook_allow`).
    pub allow: Arc<Allowlist>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &"<redacted>")
            .field("signing_key", &"<redacted>")
            .field("generator", &self.generator)
            .field("timeout", &self.timeout)
            .field("allow", &self.allow)
            .finish()
    }
}

/// Tells a receiver about each step over HTTP.
pub struct WebhookRotator {
    client: reqwest::Client,
    url: reqwest::Url,
    signing_key: Zeroizing<String>,
    generator: Generator,
    timeout: Duration,
}

impl fmt::Debug for WebhookRotator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRotator")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The JSON body of every request.
#[derive(serde::Serialize)]
struct Body<'a> {
    step: &'static str,
    project: &'a str,
    env: &'a str,
    path: &'a str,
    attempt: i64,
    value: &'a str,
}

impl WebhookRotator {
    /// Checks the configuration and builds the HTTP client.
    pub fn new(config: WebhookConfig) -> Result<Self> {
        let WebhookConfig {
            url,
            signing_key,
            generator,
            timeout,
            allow,
        } = config;
        let url = parse_url(&url)?;
        allow.check_url(&url)?;
        if signing_key.is_empty() {
            return Err(Error::Config("signing_key must not be empty".into()));
        }
        if timeout.is_zero() {
            return Err(Error::Config("timeout must be more than zero".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { allow }))
            .user_agent(concat!("leash-rotate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {}", e.without_url())))?;
        Ok(Self {
            client,
            url,
            signing_key,
            generator,
            timeout,
        })
    }

    async fn post(&self, step: Step, target: &Target, value: &str) -> Result<()> {
        let body = Body {
            step: step.as_str(),
            project: &target.project,
            env: &target.env,
            path: &target.path,
            attempt: target.attempt,
            value,
        };
        let mut body =
            Zeroizing::new(serde_json::to_vec(&body).map_err(|_| step_error(step, "cannot encode the body"))?);
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| step_error(step, "the system clock is before 1970"))?
            .as_secs();
        let signature = signature_header(self.signing_key.as_bytes(), timestamp, &body);
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            // Moved, not copied: the one copy left unwiped is the client's.
            .body(std::mem::take(&mut *body))
            .send()
            .await
            .map_err(|e| step_error(step, self.describe(e)))?;
        let status = response.status();
        // The body is dropped unread: it could reflect the value.
        drop(response);
        if status.is_success() {
            Ok(())
        } else {
            Err(step_error(step, format!("the webhook answered HTTP {status}")))
        }
    }

    /// A description of a failed request, without the URL.
    fn describe(&self, error: reqwest::Error) -> String {
        if error.is_timeout() {
            format!("the webhook did not answer within {:?}", self.timeout)
        } else if error.is_connect() {
            format!("cannot connect to the webhook: {}", root_cause(&error))
        } else {
            format!("the request to the webhook failed: {}", root_cause(&error))
        }
    }
}

#[async_trait]
impl Rotator for WebhookRotator {
    async fn create(&self, target: &Target, _current: Option<&str>) -> Result<Zeroizing<String>> {
        let value = self.generator.generate()?.into_parts().0;
        self.post(Step::Create, target, &value).await?;
        Ok(value)
    }

    async fn set(&self, target: &Target, _current: Option<&str>, pending: &str) -> Result<()> {
        self.post(Step::Set, target, pending).await
    }

    async fn test(&self, target: &Target, pending: &str) -> Result<()> {
        self.post(Step::Test, target, pending).await
    }

    async fn promote(&self, target: &Target, pending: &str) -> Result<()> {
        self.post(Step::Promote, target, pending).await
    }

    async fn retire(&self, target: &Target, previous: &str) -> Result<()> {
        self.post(Step::Retire, target, previous).await
    }
}

/// Parses a webhook URL: `http://` or `https://` with a host. The error does
/// not quote the URL.
pub fn parse_url(url: &str) -> Result<reqwest::Url> {
    // `url::ParseError` describes the problem without quoting the input.
    let url = reqwest::Url::parse(url).map_err(|e| Error::Config(format!("url is not a valid URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Error::Config("url must start with https:// (or http://)".into()));
    }
    if url.host().is_none() {
        return Err(Error::Config("url must name a host".into()));
    }
    Ok(url)
}

/// Checks ahead of time what a [`WebhookRotator`] checks when it is built and
/// when it connects: the URL parses, its host is listed, and (for a host
/// name) it resolves now to at least one address the address rules accept.
pub async fn check_destination(allow: &Allowlist, url: &str) -> Result<()> {
    let url = parse_url(url)?;
    allow.check_url(&url)?;
    if let Some(url::Host::Domain(host)) = url.host() {
        allowed_addresses(allow, host).await.map_err(allow::refused)?;
    }
    Ok(())
}

/// The addresses `host` resolves to that the address rules accept, in the
/// resolver's order; an error when none is left (naming the first refusal).
async fn allowed_addresses(allow: &Allowlist, host: &str) -> Result<Vec<SocketAddr>, String> {
    let found = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| format!("cannot resolve host {host}: {e}"))?;
    let mut refusal = None;
    let allowed: Vec<SocketAddr> = found
        .filter(|addr| match allow.address_problem(addr.ip()) {
            None => true,
            Some(problem) => {
                refusal.get_or_insert(problem);
                false
            }
        })
        .collect();
    if allowed.is_empty() {
        return Err(match refusal {
            Some(problem) => format!("host {host} resolves to no address a webhook may use: {problem}"),
            None => format!("host {host} resolves to no address"),
        });
    }
    Ok(allowed)
}

/// The webhook client's DNS resolver: the system resolver, less every
/// address the allowlist's address rules refuse. The client connects only to
/// what this returns (IP-literal URLs are not resolved; they are checked when
/// the rotator is built).
pub struct CheckedResolver {
    allow: Arc<Allowlist>,
}

/// Why the resolver gave no address; its text names the host and an address only.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let allowed = allowed_addresses(&allow, &host).await.map_err(Refused)?;
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`.
pub fn signature_header(key: &[u8], timestamp: u64, body: &[u8]) -> String {
    let signed = [timestamp.to_string().as_bytes(), b".", body].concat();
    format!("t={timestamp},v1={}", leash_core::audit::hmac_hex(key, &signed))
}

/// The innermost error's text: an IO or DNS error, which names no URL.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

fn step_error(step: Step, message: impl Into<String>) -> Error {
    Error::Step {
        step,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, key: &str, timeout: Duration) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            signing_key: Zeroizing::new(key.into()),
            generator: "password:24".parse().unwrap(),
            timeout,
            allow: Arc::new(Allowlist::parse(["hooks.example", "127.0.0.1/32"]).unwrap()),
        }
    }

    fn config_error(config: WebhookConfig) -> String {
        match WebhookRotator::new(config) {
            Err(Error::Config(message)) => message,
            Err(other) => panic!("expected a configuration error, got {other}"),
            Ok(_) => panic!("expected a configuration error"),
        }
    }

    #[test]
    fn configuration_is_checked_field_by_field() {
        let second = Duration::from_secs(1);
        let cases = [
            (config("ftp://hooks.example/t0ken", "k", second), "url"),
            (config("hooks.example/t0ken", "k", second), "url"),
            (config("https://hooks.example/t0ken", "", second), "signing_key"),
            (config("https://hooks.example/t0ken", "k", Duration::ZERO), "timeout"),
            (
                config("https://other.example/t0ken?t0ken", "k", second),
                "url: host other.example",
            ),
            (config("http://10.0.0.1/t0ken", "k", second), "url: address 10.0.0.1"),
            (
                config("http://169.254.169.254/t0ken", "k", second),
                "url: address 169.254.169.254",
            ),
        ];
        for (config, field) in cases {
            let message = config_error(config);
            assert!(message.starts_with(field), "{message}");
            assert!(!message.contains("t0ken"), "{message}");
        }
        WebhookRotator::new(config("http://127.0.0.1:9/hook", "k", second)).unwrap();
    }

    #[test]
    fn debug_hides_the_url_and_key() {
        let config = config("https://hooks.example/t0ken", "s1gning-key", Duration::from_secs(1));
        let text = format!("{config:?}");
        assert!(!text.contains("t0ken") && !text.contains("s1gning-key"), "{text}");
        let rotator = WebhookRotator::new(config).unwrap();
        let text = format!("{rotator:?}");
        assert!(!text.contains("t0ken") && !text.contains("s1gning-key"), "{text}");
    }

    /// The vector docs/rotators.md's Python example reproduces:
    /// `hmac.new(b"whsec_test", b'1700000000.{"step":"set"}', hashlib.sha256).hexdigest()`.
    #[test]
    fn the_signature_matches_a_known_vector() {
        assert_eq!(
            signature_header(b"whsec_test", 1_700_000_000, br#"{"step":"set"}"#),
            "t=1700000000,v1=351cf2bd593e72fcc98163ba1a41e539e6d8e30600025b6aab19c2cf065cfc2f"
        );
    }
}
