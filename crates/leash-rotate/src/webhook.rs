//! The webhook rotator: POSTs every step to a URL, signed with HMAC-SHA256.
//!
//! **Owns**: one HTTP client and the signing key. Each step is one POST of
//! `{"step","project","env","path","attempt","value"}` with a
//! `Leash-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>`
//! header (the scheme Stripe uses); any 2xx is success. The receiver does the
//! actual change in its system.
//!
//! **Must never**: put a value or the response body into an error (a receiver
//! may echo the value back); follow a redirect (the value would go to a URL
//! nobody configured); put the URL into an error (it may carry a token).
//!
//! The request body necessarily holds the value; it is built in a zeroized
//! buffer, but the HTTP client's own copy is not wiped after sending.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use leash_core::generate::Generator;
use zeroize::Zeroizing;

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
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &"<redacted>")
            .field("signing_key", &"<redacted>")
            .field("generator", &self.generator)
            .field("timeout", &self.timeout)
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
        } = config;
        // `url::ParseError` describes the problem without quoting the input.
        let url = reqwest::Url::parse(&url).map_err(|e| Error::Config(format!("url is not a valid URL ({e})")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(Error::Config("url must start with http:// or https://".into()));
        }
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
