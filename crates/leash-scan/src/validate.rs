//! Offline checksum and structure checks.
//!
//! A validator looks only at the candidate string: no network, no clock.
//! [`Check::Valid`] marks a finding as verified; [`Check::Invalid`] drops the
//! candidate (a random string that merely looks like a token). Formats:
//! - GitHub classic tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`) and npm
//!   tokens (`npm_`): 30 base62 characters + base62 CRC-32 of them, 6 characters.
//! - Leash tokens (`lsh_`) and client secrets (`lsc_`): `leash_core::token`.
//! - PyPI upload tokens: `pypi-` + a base64url macaroon (v2 binary format)
//!   whose location is `pypi.org`.
//!   A string with the PyPI prefix whose macaroon does not parse is still
//!   reported, unverified ([`Check::Unknown`]): the prefix alone is the
//!   base64 of a `pypi.org` location, and a truncated or re-encoded token is
//!   still one to revoke.
//! - JWTs: three base64url parts; header and payload are JSON objects, the
//!   header names an `alg`.
//! - Discord bot tokens: the first part is the base64 of the bot's numeric
//!   user id (a snowflake of 17 to 20 digits).
//!
//! This module must never log or keep the candidate.

use base64::Engine as _;
use serde::Deserialize;

/// An offline check a rule can name in its `validator` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Validator {
    Github,
    Npm,
    Pypi,
    Jwt,
    Leash,
    LeashClientSecret,
    Discord,
}

/// The verdict of a validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The checksum or structure holds: report as verified.
    Valid,
    /// The checksum or structure is wrong: not a real credential.
    Invalid,
    /// Neither proven nor disproven: apply the usual entropy and placeholder filters.
    Unknown,
}

impl Validator {
    pub fn check(self, candidate: &str) -> Check {
        let ok = match self {
            Validator::Github | Validator::Npm => github_checksum_ok(candidate),
            Validator::Pypi if pypi_macaroon_ok(candidate) => true,
            Validator::Pypi => return Check::Unknown,
            Validator::Discord => discord_user_id_ok(candidate),
            Validator::Jwt => jwt_structure_ok(candidate),
            Validator::Leash => leash_core::token::is_well_formed(candidate),
            Validator::LeashClientSecret => leash_core::token::is_well_formed_client_secret(candidate),
        };
        if ok { Check::Valid } else { Check::Invalid }
    }
}

fn base62_6(n: u32) -> String {
    let mut s = base62::encode(n);
    while s.len() < 6 {
        s.insert(0, '0');
    }
    s
}

/// `prefix` + 30 random base62 characters + their 6-character CRC-32 (GitHub and npm format).
pub fn github_checksum_ok(token: &str) -> bool {
    let Some((_, body)) = token.rsplit_once('_') else {
        return false;
    };
    if body.len() != 36 || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (random, checksum) = body.split_at(30);
    base62_6(crc32fast::hash(random.as_bytes())) == checksum
}

/// Builds a GitHub-style token (for test examples).
pub fn github_style_token(prefix: &str, random30: &str) -> String {
    format!("{prefix}{random30}{}", base62_6(crc32fast::hash(random30.as_bytes())))
}

/// Builds a Leash-style token (for test examples): CRC-32 over prefix and body.
pub fn leash_style_token(prefix: &str, random43: &str) -> String {
    let body = format!("{prefix}{random43}");
    let checksum = base62_6(crc32fast::hash(body.as_bytes()));
    format!("{body}{checksum}")
}

/// Parses the macaroon v2 binary format far enough to know it is one:
/// version 2, a `pypi.org` location, an identifier, well-formed caveat
/// sections, then a 32-byte signature and nothing after it.
pub fn pypi_macaroon_ok(token: &str) -> bool {
    let Some(b64) = token.strip_prefix("pypi-") else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')) else {
        return false;
    };
    let mut r = Reader { b: &bytes, i: 0 };
    if r.byte() != Some(2) {
        return false;
    }
    // Header section: optional location (1), identifier (2), end (0).
    let mut saw_location = false;
    let mut saw_identifier = false;
    loop {
        match r.field() {
            Some((0, _)) => break,
            Some((1, data)) => saw_location = data == b"pypi.org",
            Some((2, _)) => saw_identifier = true,
            _ => return false,
        }
    }
    if !saw_location || !saw_identifier {
        return false;
    }
    // Caveat sections until an empty one, then the signature.
    let mut guard = 0;
    loop {
        guard += 1;
        if guard > 1000 {
            return false;
        }
        match r.field() {
            Some((0, _)) => break, // end of the caveat list
            Some((1..=4, _)) => loop {
                match r.field() {
                    Some((0, _)) => break,
                    Some((1..=4, _)) => {}
                    _ => return false,
                }
            },
            _ => return false,
        }
    }
    matches!(r.field(), Some((6, sig)) if sig.len() == 32) && r.i == bytes.len()
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.i)?;
        self.i += 1;
        Some(v)
    }
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    /// One field: type, then (unless type 0) a length-prefixed payload.
    fn field(&mut self) -> Option<(u64, &'a [u8])> {
        let kind = self.varint()?;
        if kind == 0 {
            return Some((0, &[]));
        }
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.i.checked_add(len)?;
        let data = self.b.get(self.i..end)?;
        self.i = end;
        Some((kind, data))
    }
}

/// The first of a Discord token's three dot-separated parts is the base64
/// (unpadded) of the bot's user id: 17 to 20 ASCII digits.
pub fn discord_user_id_ok(token: &str) -> bool {
    let Some((first, rest)) = token.split_once('.') else {
        return false;
    };
    if rest.split('.').count() != 2 {
        return false;
    }
    let Ok(id) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(first.trim_end_matches('=')) else {
        return false;
    };
    (17..=20).contains(&id.len()) && id.iter().all(u8::is_ascii_digit) && id[0] != b'0'
}

/// Three base64url segments; header and payload decode to JSON objects; the header has `alg`.
pub fn jwt_structure_ok(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(_s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let decode = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    };
    match (decode(h), decode(p)) {
        (Some(serde_json::Value::Object(header)), Some(serde_json::Value::Object(_))) => header.contains_key("alg"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_checksum_of_a_public_revoked_token() {
        // A token published (and revoked) in a public repository long ago.
        let t = ["ghp_bo1ZJ4bTDVjczzeYc6nscjb1", "FLaTxp4cVaNb"].concat();
        assert!(github_checksum_ok(&t));
        let mut bad = t.clone();
        bad.replace_range(10..11, "Q");
        assert!(!github_checksum_ok(&bad));
    }

    #[test]
    fn generated_examples_validate() {
        let ghp = github_style_token("ghp_", "abcdefghijABCDEFGHIJ0123456789");
        assert_eq!(Validator::Github.check(&ghp), Check::Valid);
        let lsh = leash_style_token("lsh_", &"a".repeat(43));
        assert_eq!(Validator::Leash.check(&lsh), Check::Valid);
        let pypi = crate::rules::expand_template("{{pypi}}", 7);
        assert_eq!(Validator::Pypi.check(&pypi), Check::Valid);
        let jwt = crate::rules::expand_template("{{jwt}}", 7);
        assert_eq!(Validator::Jwt.check(&jwt), Check::Valid);
    }

    #[test]
    fn malformed_tokens_are_invalid() {
        assert_eq!(Validator::Pypi.check("pypi-AgEIcHlwaS5vcmcAAAA"), Check::Unknown);
        assert_eq!(Validator::Jwt.check("eyJhbGciOi.eyJzdWIi.sig"), Check::Invalid);
        assert_eq!(
            Validator::Npm.check("npm_abcdefghijABCDEFGHIJ0123456789abcdef"),
            Check::Invalid
        );
    }
}
