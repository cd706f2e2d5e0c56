//! Building `/api/v1/...` URL paths.
//!
//! It owns the percent-encoding of path segments: every segment that comes
//! from a caller is encoded on its own, so a secret path's `/` stays a
//! separator while anything else that is not an unreserved URL character is
//! escaped. Names are validated before they get here (so `.` and `..`, which
//! URL parsers would resolve, never appear); the encoding is defence in depth.
//! It must never build a path from an unchecked secret path string.

use leash_core::names::SecretPath;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// An absolute API path such as `/api/v1/projects/payment/envs`, built one
/// segment at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiPath(String);

impl ApiPath {
    /// `/api/v1`.
    pub fn api() -> Self {
        Self("/api/v1".to_owned())
    }

    /// Appends fixed route words (`"projects"`, `"sys/health"`); not encoded.
    pub fn lit(mut self, words: &'static str) -> Self {
        self.0.push('/');
        self.0.push_str(words);
        self
    }

    /// Appends one caller-supplied segment, percent-encoded.
    pub fn seg(mut self, segment: &str) -> Self {
        self.0.push('/');
        self.0.extend(utf8_percent_encode(segment, SEGMENT));
        self
    }

    /// Appends a secret path: each of its segments encoded, joined by `/`.
    pub fn secret(self, path: &SecretPath) -> Self {
        path.segments().fold(self, |p, segment| p.seg(segment))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_one_by_one() {
        let path = SecretPath::parse("stripe/API_KEY.v2-x").unwrap();
        let p = ApiPath::api().lit("projects").seg("pay").secret(&path);
        assert_eq!(p.as_str(), "/api/v1/projects/pay/stripe/API_KEY.v2-x");
        let p = ApiPath::api().seg("a/b c?d#e%f");
        assert_eq!(p.as_str(), "/api/v1/a%2Fb%20c%3Fd%23e%25f");
        assert_eq!(ApiPath::api().seg("é").as_str(), "/api/v1/%C3%A9");
    }
}
