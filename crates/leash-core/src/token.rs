//! The Leash token format.
//!
//! `lsh_` + 43 random base62 characters (256 bits from the OS CSPRNG) + a
//! 6-character base62 CRC-32 of everything before it. The checksum lets a
//! scanner recognise a leaked Leash token offline with almost no false
//! positives; it adds no secrecy. Servers store only [`token_hash`] of a token
//! and compare hashes in constant time.

use rand::RngExt;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Every Leash token starts with this.
pub const TOKEN_PREFIX: &str = "lsh_";
/// Every client secret of a service identity starts with this (same shape as a token).
pub const CLIENT_SECRET_PREFIX: &str = "lsc_";
const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
/// Length of a well-formed token.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;

/// Makes a fresh token.
pub fn generate_token() -> Zeroizing<String> {
    generate_with_prefix(TOKEN_PREFIX)
}

/// Makes a fresh client secret (`lsc_…`, same shape and checksum as a token).
pub fn generate_client_secret() -> Zeroizing<String> {
    generate_with_prefix(CLIENT_SECRET_PREFIX)
}

fn generate_with_prefix(prefix: &str) -> Zeroizing<String> {
    let mut token = Zeroizing::new(String::with_capacity(TOKEN_LEN));
    token.push_str(prefix);
    token.extend(rand::rng().sample_iter(Alphanumeric).take(RANDOM_LEN).map(char::from));
    let checksum = checksum(&token);
    token.push_str(&checksum);
    token
}

/// Whether `s` has the shape and a valid checksum of a Leash token.
pub fn is_well_formed(s: &str) -> bool {
    is_well_formed_with(TOKEN_PREFIX, s)
}

/// Whether `s` has the shape and a valid checksum of a client secret.
pub fn is_well_formed_client_secret(s: &str) -> bool {
    is_well_formed_with(CLIENT_SECRET_PREFIX, s)
}

fn is_well_formed_with(prefix: &str, s: &str) -> bool {
    s.len() == TOKEN_LEN
        && s.starts_with(prefix)
        && s[prefix.len()..].bytes().all(|b| b.is_ascii_alphanumeric())
        && checksum(&s[..TOKEN_LEN - CHECKSUM_LEN]) == s[TOKEN_LEN - CHECKSUM_LEN..]
}

/// The stored form of a token: hex SHA-256. Tokens carry 256 random bits, so
/// a fast hash is enough (no password hashing needed).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of two token hashes.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A public, non-secret handle for a token (shown in listings and audit).
pub fn generate_accessor() -> String {
    rand::rng().sample_iter(Alphanumeric).take(24).map(char::from).collect()
}

fn checksum(body: &str) -> String {
    let crc = crc32fast::hash(body.as_bytes());
    let mut out = base62::encode(crc);
    while out.len() < CHECKSUM_LEN {
        out.insert(0, '0');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = generate_token();
        let b = generate_token();
        assert!(is_well_formed(&a), "{}", a.len());
        assert_ne!(*a, *b);
        assert_eq!(a.len(), TOKEN_LEN);
    }

    #[test]
    fn checksum_catches_edits() {
        let t = generate_token();
        let mut chars: Vec<char> = t.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let edited: String = chars.into_iter().collect();
        assert!(!is_well_formed(&edited));
        assert!(!is_well_formed("lsh_short"));
        assert!(!is_well_formed(&t.replace("lsh_", "xyz_")));
        let secret = generate_client_secret();
        assert!(is_well_formed_client_secret(&secret) && !is_well_formed(&secret));
    }

    #[test]
    fn hashes_compare() {
        let h = token_hash("lsh_x");
        assert!(hashes_equal(&h, &token_hash("lsh_x")));
        assert!(!hashes_equal(&h, &token_hash("lsh_y")));
        assert_eq!(h.len(), 64);
    }
}
