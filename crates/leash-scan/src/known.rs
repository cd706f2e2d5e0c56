//! Known-secret mode: finding the exact values stored in Leash without ever
//! holding them.
//!
//! The server hands out, for one project and environment, a per-server scan
//! key `K` and the set `{ HMAC-SHA256(K, v) }` over the current and previous
//! values `v` the caller may read (`GET /api/v1/scan/fingerprints`). The
//! scanner cuts scanned text into candidate substrings and looks up
//! `HMAC-SHA256(K, candidate)` in the set. A match means the candidate is a
//! stored value; the scanner learns nothing about values it does not see.
//!
//! Candidates: each line is split into coarse tokens on whitespace and
//! quotes; within a token, every substring that starts and ends at a
//! delimiter (`= : , ; @ / ? & ( ) [ ] { } < > |`) or the token's ends, with a
//! length between `min_length` and [`MAX_VALUE_LEN`], is a candidate (at
//! most [`MAX_CUTS`] cut points per token), and so is each whole trimmed line.
//! Values with inner whitespace are found only when they fill a whole line.
//!
//! This module must never log, print or store a candidate or a fingerprint.

use std::collections::HashSet;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::Error;

/// The rule id of a known-secret finding.
pub const RULE_ID: &str = "leash-known-secret";
/// Longest value fingerprinted.
pub const MAX_VALUE_LEN: usize = 512;
/// Most cut points considered in one token (bounds the work to `MAX_CUTS²` HMACs per token).
pub const MAX_CUTS: usize = 24;

/// The server's answer to `GET /api/v1/scan/fingerprints`.
#[derive(Deserialize)]
pub struct FingerprintResponse {
    /// Base64 of the 32-byte HMAC key.
    pub key: String,
    pub min_length: usize,
    /// Hex HMAC-SHA256 of each value.
    pub fingerprints: Vec<String>,
}

/// The key as the server sends it (standard base64).
pub fn encode_key(key: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// A loaded fingerprint set.
pub struct KnownSecrets {
    key: zeroize::Zeroizing<Vec<u8>>,
    min_length: usize,
    fingerprints: HashSet<[u8; 32]>,
}

type HmacSha256 = Hmac<Sha256>;

impl KnownSecrets {
    /// From the server's JSON answer.
    pub fn from_response(response: FingerprintResponse) -> Result<Self, Error> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(response.key.trim())
            .map_err(|_| Error::Known("the key is not base64".into()))?;
        Self::new(
            key,
            response.min_length,
            response.fingerprints.iter().map(String::as_str),
        )
    }

    /// From a raw key, the minimum value length and hex fingerprints.
    pub fn new<'a>(
        key: Vec<u8>,
        min_length: usize,
        fingerprints: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, Error> {
        if key.len() < 16 {
            return Err(Error::Known("the key is shorter than 16 bytes".into()));
        }
        let mut set = HashSet::new();
        for fp in fingerprints {
            let bytes = hex::decode(fp.trim()).map_err(|_| Error::Known("a fingerprint is not hex".into()))?;
            let arr: [u8; 32] = bytes
                .try_into()
                .map_err(|_| Error::Known("a fingerprint is not 32 bytes".into()))?;
            set.insert(arr);
        }
        Ok(Self {
            key: zeroize::Zeroizing::new(key),
            min_length: min_length.max(1),
            fingerprints: set,
        })
    }

    /// How many fingerprints are loaded.
    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }

    /// The fingerprint of a value under `key` (what the server computes).
    pub fn fingerprint(key: &[u8], value: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
        mac.update(value);
        mac.finalize().into_bytes().into()
    }

    /// The hex fingerprint of a value, as the server lists it.
    pub fn fingerprint_hex(key: &[u8], value: &[u8]) -> String {
        hex::encode(Self::fingerprint(key, value))
    }

    fn is_known(&self, candidate: &[u8]) -> bool {
        self.fingerprints.contains(&Self::fingerprint(&self.key, candidate))
    }

    /// Byte ranges of `text` that are known values (longest match per start).
    pub fn find(&self, text: &[u8]) -> Vec<(usize, usize)> {
        if self.fingerprints.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<(usize, usize)> = Vec::new();
        let mut line_start = 0;
        for line in text.split(|&b| b == b'\n') {
            // The whole trimmed line.
            let (ls, le) = trim(line);
            if le - ls >= self.min_length && le - ls <= MAX_VALUE_LEN && self.is_known(&line[ls..le]) {
                hits.push((line_start + ls, line_start + le));
            }
            let mut i = 0;
            while i < line.len() {
                if is_coarse(line[i]) {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < line.len() && !is_coarse(line[i]) {
                    i += 1;
                }
                self.find_in_token(&line[start..i], line_start + start, &mut hits);
            }
            line_start += line.len() + 1;
        }
        hits.sort_unstable();
        hits.dedup();
        // Drop ranges inside a longer hit.
        let all = hits.clone();
        hits.retain(|&(s, e)| !all.iter().any(|&(s2, e2)| (s2, e2) != (s, e) && s2 <= s && e <= e2));
        hits
    }

    fn find_in_token(&self, token: &[u8], offset: usize, hits: &mut Vec<(usize, usize)>) {
        if token.len() < self.min_length {
            return;
        }
        // Cut points: the token's ends and both sides of every delimiter.
        let mut cuts = vec![0];
        for (i, &b) in token.iter().enumerate() {
            if is_fine(b) {
                cuts.push(i);
                cuts.push(i + 1);
            }
        }
        cuts.push(token.len());
        cuts.dedup();
        cuts.truncate(MAX_CUTS);
        if *cuts.last().expect("cuts holds 0") != token.len() {
            cuts.push(token.len());
        }
        for (a, &s) in cuts.iter().enumerate() {
            for &e in &cuts[a + 1..] {
                let len = e - s;
                if len < self.min_length {
                    continue;
                }
                if len > MAX_VALUE_LEN {
                    break;
                }
                if self.is_known(&token[s..e]) {
                    hits.push((offset + s, offset + e));
                }
            }
        }
    }
}

fn is_coarse(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'`')
}

fn is_fine(b: u8) -> bool {
    matches!(
        b,
        b'=' | b':'
            | b','
            | b';'
            | b'@'
            | b'/'
            | b'?'
            | b'&'
            | b'('
            | b')'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'<'
            | b'>'
            | b'|'
    )
}

fn trim(line: &[u8]) -> (usize, usize) {
    let s = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(line.len());
    let e = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(s, |i| i + 1);
    (s, e.max(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: &[&str]) -> KnownSecrets {
        let key = vec![7u8; 32];
        let fps: Vec<String> = values
            .iter()
            .map(|v| hex::encode(KnownSecrets::fingerprint(&key, v.as_bytes())))
            .collect();
        KnownSecrets::new(key, 8, fps.iter().map(String::as_str)).unwrap()
    }

    fn found(k: &KnownSecrets, text: &str) -> Vec<String> {
        k.find(text.as_bytes())
            .into_iter()
            .map(|(s, e)| text[s..e].to_owned())
            .collect()
    }

    #[test]
    fn finds_plain_values_in_common_shapes() {
        let k = set(&["hunter2hunter2", "p@ss:w0rd;x", "two words here"]);
        assert_eq!(found(&k, "DB_PASSWORD=hunter2hunter2\n"), ["hunter2hunter2"]);
        assert_eq!(found(&k, r#"{"password": "hunter2hunter2"}"#), ["hunter2hunter2"]); // leash:allow (test data)
        assert_eq!(found(&k, "postgres://app:hunter2hunter2@db/prod"), ["hunter2hunter2"]); // leash:allow (test data)
        assert_eq!(found(&k, "pw = 'p@ss:w0rd;x'"), ["p@ss:w0rd;x"]); // leash:allow (test data)
        assert_eq!(found(&k, "  two words here  "), ["two words here"]);
        assert!(found(&k, "hunter2hunter3 hunter2").is_empty());
    }

    #[test]
    fn values_shorter_than_the_minimum_are_never_candidates() {
        let k = set(&["short"]);
        assert!(found(&k, "x=short").is_empty());
    }

    #[test]
    fn bad_fingerprint_sets_are_refused() {
        assert!(KnownSecrets::new(vec![1; 32], 8, ["zz"]).is_err());
        assert!(KnownSecrets::new(vec![1; 4], 8, []).is_err());
    }
}
