//! Finding encoded blobs: base64 (standard and URL-safe) and percent-encoding.
//!
//! A blob is decoded only if the result is mostly printable text, so hashes,
//! key material and images are left alone. The engine scans decoded text
//! again, to the depth it was configured with; this module only decodes and
//! must never scan or report.

use std::sync::OnceLock;

use base64::Engine as _;
use regex::bytes::Regex;

/// A decoded blob and where it starts in its parent text.
pub struct Blob {
    pub start: usize,
    pub how: &'static str,
    pub bytes: Vec<u8>,
}

/// At most this many blobs are decoded per fragment.
const MAX_BLOBS: usize = 256;
/// Longer runs are not decoded (a whole embedded file would cost too much).
const MAX_BLOB_LEN: usize = 64 * 1024;

fn base64_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"[A-Za-z0-9+/_-]{24,}={0,2}").expect("constant regex"))
}

fn percent_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?:[A-Za-z0-9._~+=&/:@-]*%[0-9A-Fa-f]{2}){3,}[A-Za-z0-9._~+=&/:@-]*").expect("constant regex")
    })
}

/// The decodable blobs of `text`.
pub fn blobs(text: &[u8]) -> Vec<Blob> {
    let mut out = Vec::new();
    for m in base64_re().find_iter(text) {
        if out.len() >= MAX_BLOBS {
            break;
        }
        let s = m.as_bytes();
        if s.len() > MAX_BLOB_LEN || s.len() % 4 == 1 {
            continue;
        }
        let trimmed: &[u8] = {
            let mut end = s.len();
            while end > 0 && s[end - 1] == b'=' {
                end -= 1;
            }
            &s[..end]
        };
        let url = trimmed.iter().any(|b| *b == b'-' || *b == b'_');
        let std = trimmed.iter().any(|b| *b == b'+' || *b == b'/');
        if url && std {
            continue;
        }
        let engine = if url {
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
        } else {
            &base64::engine::general_purpose::STANDARD_NO_PAD
        };
        let Ok(bytes) = engine.decode(trimmed) else { continue };
        if looks_like_text(&bytes) {
            out.push(Blob {
                start: m.start(),
                how: "base64",
                bytes,
            });
        }
    }
    for m in percent_re().find_iter(text) {
        if out.len() >= MAX_BLOBS {
            break;
        }
        let s = m.as_bytes();
        if s.len() > MAX_BLOB_LEN {
            continue;
        }
        let bytes: Vec<u8> = percent_encoding::percent_decode(s).collect();
        if bytes != s && looks_like_text(&bytes) {
            out.push(Blob {
                start: m.start(),
                how: "percent",
                bytes,
            });
        }
    }
    out
}

/// At least 12 bytes, at least 95% printable ASCII or whitespace, and some letters.
fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes.len() < 12 {
        return false;
    }
    let printable = bytes
        .iter()
        .filter(|&&b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\r' || b == b'\t')
        .count();
    printable * 100 >= bytes.len() * 95 && bytes.iter().filter(|b| b.is_ascii_alphabetic()).count() * 4 >= bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64_text_but_not_binary() {
        let text = base64::engine::general_purpose::STANDARD.encode("password = q8Zr2LmX0pTf9WkD7sVb"); // leash:allow (test data)
        let blobs = blobs(format!("x = \"{text}\"").as_bytes());
        assert_eq!(blobs.len(), 1);
        assert_eq!(blobs[0].bytes, b"password = q8Zr2LmX0pTf9WkD7sVb"); // leash:allow (test data)
        let binary = base64::engine::general_purpose::STANDARD
            .encode([0u8, 1, 2, 3, 200, 201, 202, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(super::blobs(binary.as_bytes()).is_empty());
    }

    #[test]
    fn decodes_percent_encoding() {
        let blobs = blobs(b"url=https%3A%2F%2Fuser%3Aq8Zr2LmX0pTf%40db.internal"); // leash:allow (test data)
        assert!(
            blobs
                .iter()
                .any(|b| b.how == "percent" && String::from_utf8_lossy(&b.bytes).contains("https://user:q8Zr"))
        );
    }
}
