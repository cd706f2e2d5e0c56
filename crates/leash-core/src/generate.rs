//! Value generators: fresh secret values for rotation (`--generator`).
//!
//! A [`Generator`] is parsed from its command-line spelling and printed back
//! in its canonical form ([`Generator`]'s `FromStr` and `Display` round-trip):
//!
//! | spelling                              | value                                                    |
//! |---------------------------------------|----------------------------------------------------------|
//! | `password:32`                         | 32 characters from every class                           |
//! | `password:24:no-symbols`              | also `no-upper`, `no-lower`, `no-digits`                 |
//! | `password:20:exclude=lI1O0`           | never uses the listed characters                         |
//! | `bytes:32:hex`                        | 32 random bytes; also `base64` (padded), `base64url` (unpadded) |
//! | `uuid`                                | a random (version 4) UUID, lowercase and hyphenated      |
//! | `ed25519`                             | PKCS#8 private key PEM, public key as SPKI PEM           |
//! | `rsa:2048`, `rsa:3072`, `rsa:4096`    | PKCS#8 private key PEM, public key as SPKI PEM           |
//!
//! Options of a password are separated by `:` and may come in any order;
//! the canonical spelling lists them as `no-upper:no-lower:no-digits:no-symbols:exclude=...`.
//!
//! Randomness comes from a CSPRNG: `rand::rng()` (ChaCha12, seeded and
//! reseeded from the operating system) for passwords, bytes and the Ed25519
//! seed; the operating system's generator directly (`OsRng`, through the `rsa`
//! crate's `rand_core` 0.6) for RSA; `uuid`'s `new_v4` (the operating system's
//! generator) for UUIDs. Nothing here is hand-written crypto: key pairs come
//! from `ed25519-dalek` and `rsa`, their encodings from the RustCrypto `pkcs8`
//! and `spki` crates.
//!
//! Like the rest of `leash-core` this does no IO besides asking the operating
//! system for randomness.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, KeypairBytes};
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use rsa::RsaPrivateKey;
use rsa::pkcs8::LineEnding;
use zeroize::Zeroizing;

use crate::Error;

/// Allowed password lengths, in characters.
pub const PASSWORD_LENGTHS: std::ops::RangeInclusive<usize> = 8..=1024;
/// Allowed random byte counts (before encoding).
pub const BYTE_COUNTS: std::ops::RangeInclusive<usize> = 16..=1024;

/// The generators, as their names appear first in a spelling.
const GENERATOR_NAMES: &str = "password, bytes, uuid, ed25519, rsa";

/// How to make a fresh value. Parse one from its spelling with [`str::parse`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Generator {
    /// A password (`password:N[:options]`).
    Password(PasswordRules),
    /// Random bytes, encoded (`bytes:N:hex|base64|base64url`).
    Bytes(RandomBytes),
    /// A version 4 UUID (`uuid`).
    Uuid,
    /// An Ed25519 key pair (`ed25519`).
    Ed25519,
    /// An RSA key pair (`rsa:2048|3072|4096`).
    Rsa(RsaBits),
}

/// A freshly generated value. The secret part is zeroized when dropped and
/// read only through [`GeneratedValue::expose_secret`]; `Debug` redacts it.
pub struct GeneratedValue {
    value: Zeroizing<String>,
    public: Option<String>,
}

impl GeneratedValue {
    fn secret(value: Zeroizing<String>) -> Self {
        Self { value, public: None }
    }

    /// The secret value: a password, encoded bytes, a UUID or a private key PEM.
    /// Callers must not log it or persist it unencrypted.
    pub fn expose_secret(&self) -> &str {
        &self.value
    }

    /// For key pairs, the public key as an SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    /// It is not secret.
    pub fn public(&self) -> Option<&str> {
        self.public.as_deref()
    }

    /// The secret value and the public key, taken apart without copying the secret.
    pub fn into_parts(self) -> (Zeroizing<String>, Option<String>) {
        (self.value, self.public)
    }
}

impl fmt::Debug for GeneratedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedValue")
            .field("value", &"<redacted>")
            .field("public", &self.public)
            .finish()
    }
}

/// A class of password characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharClass {
    /// `A` to `Z`.
    Upper,
    /// `a` to `z`.
    Lower,
    /// `0` to `9`.
    Digits,
    /// [`SYMBOLS`].
    Symbols,
}

/// The password symbols: RFC 3986 unreserved and sub-delimiter characters
/// without `$ ' ( ) &`. A password made of them can go into a URL's userinfo
/// (a database URL) without percent-encoding, and inside single or double
/// shell quotes, a JSON string or a `.env` value without escaping.
pub const SYMBOLS: &str = "!*+,-.;=_~";

impl CharClass {
    /// Every class, in canonical order.
    pub const ALL: [CharClass; 4] = [
        CharClass::Upper,
        CharClass::Lower,
        CharClass::Digits,
        CharClass::Symbols,
    ];

    /// The characters of this class (all ASCII).
    pub fn chars(self) -> &'static str {
        match self {
            CharClass::Upper => "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            CharClass::Lower => "abcdefghijklmnopqrstuvwxyz",
            CharClass::Digits => "0123456789",
            CharClass::Symbols => SYMBOLS,
        }
    }

    /// The option that turns this class off.
    pub fn off_option(self) -> &'static str {
        match self {
            CharClass::Upper => "no-upper",
            CharClass::Lower => "no-lower",
            CharClass::Digits => "no-digits",
            CharClass::Symbols => "no-symbols",
        }
    }

    fn name(self) -> &'static str {
        match self {
            CharClass::Upper => "uppercase letter",
            CharClass::Lower => "lowercase letter",
            CharClass::Digits => "digit",
            CharClass::Symbols => "symbol",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a generated password looks like. Only built by parsing, so it always
/// has a length in [`PASSWORD_LENGTHS`] and at least one class with a usable
/// character in each of its classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRules {
    length: usize,
    /// Indexed by [`CharClass::index`].
    enabled: [bool; 4],
    /// Sorted, without duplicates; ASCII graphic characters.
    exclude: String,
}

impl PasswordRules {
    /// The number of characters.
    pub fn length(&self) -> usize {
        self.length
    }

    /// Whether every password has at least one character of `class`.
    pub fn includes(&self, class: CharClass) -> bool {
        self.enabled[class.index()]
    }

    /// The characters never used, sorted.
    pub fn excluded(&self) -> &str {
        &self.exclude
    }

    /// The usable characters of each enabled class.
    fn alphabets(&self) -> Vec<(CharClass, Vec<u8>)> {
        CharClass::ALL
            .into_iter()
            .filter(|class| self.includes(*class))
            .map(|class| {
                let chars = class
                    .chars()
                    .bytes()
                    .filter(|b| !self.exclude.as_bytes().contains(b))
                    .collect();
                (class, chars)
            })
            .collect()
    }

    /// Parses the part after `password:`. Errors are the reason only.
    fn parse(args: &[&str]) -> Result<Self, String> {
        let Some((length, options)) = args.split_first() else {
            return Err("password needs a length, e.g. password:32".into());
        };
        let length = parse_count(length, "length", PASSWORD_LENGTHS)?;
        let mut enabled = [true; 4];
        let mut exclude: Option<String> = None;
        for option in options {
            if let Some(chars) = option.strip_prefix("exclude=") {
                if exclude.is_some() {
                    return Err("exclude= is given twice".into());
                }
                exclude = Some(parse_exclude(chars)?);
            } else if let Some(class) = CharClass::ALL.into_iter().find(|c| c.off_option() == *option) {
                if !enabled[class.index()] {
                    return Err(format!("{option} is given twice"));
                }
                enabled[class.index()] = false;
            } else if option.is_empty() {
                return Err("empty option (two ':' in a row or a trailing ':')".into());
            } else {
                return Err(format!(
                    "unknown password option {option:?}; expected no-upper, no-lower, no-digits, no-symbols or exclude=<chars>"
                ));
            }
        }
        let rules = Self {
            length,
            enabled,
            exclude: exclude.unwrap_or_default(),
        };
        let alphabets = rules.alphabets();
        if alphabets.is_empty() {
            return Err("every character class is turned off".into());
        }
        if let Some((class, _)) = alphabets.iter().find(|(_, chars)| chars.is_empty()) {
            return Err(format!(
                "exclude= removes every {}; use {} to turn the class off",
                class.name(),
                class.off_option()
            ));
        }
        Ok(rules)
    }

    /// One character of each enabled class, the rest from all of them, then a
    /// shuffle. Every pick is uniform (`rand`'s `choose`, which samples an index
    /// with `random_range`, not a biased modulo).
    fn generate(&self) -> Zeroizing<String> {
        let mut rng = rand::rng();
        let alphabets = self.alphabets();
        let pool: Vec<u8> = alphabets.iter().flat_map(|(_, chars)| chars.iter().copied()).collect();
        // Capacity fixed up front so the buffer is never reallocated (which
        // would leave an unzeroized copy behind).
        let mut password = Zeroizing::new(Vec::with_capacity(self.length));
        for (_, chars) in &alphabets {
            password.push(
                *chars
                    .choose(&mut rng)
                    .expect("parse rejects an enabled class with no usable character"),
            );
        }
        while password.len() < self.length {
            password.push(
                *pool
                    .choose(&mut rng)
                    .expect("parse rejects rules with no usable character"),
            );
        }
        password.shuffle(&mut rng);
        ascii_into_string(password)
    }
}

impl fmt::Display for PasswordRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "password:{}", self.length)?;
        for class in CharClass::ALL {
            if !self.includes(class) {
                write!(f, ":{}", class.off_option())?;
            }
        }
        if !self.exclude.is_empty() {
            write!(f, ":exclude={}", self.exclude)?;
        }
        Ok(())
    }
}

/// Random bytes and their encoding. Only built by parsing, so the count is
/// always in [`BYTE_COUNTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomBytes {
    count: usize,
    encoding: ByteEncoding,
}

impl RandomBytes {
    /// The number of random bytes (before encoding).
    pub fn count(&self) -> usize {
        self.count
    }

    /// How they are written out.
    pub fn encoding(&self) -> ByteEncoding {
        self.encoding
    }
}

/// How random bytes are written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteEncoding {
    /// Lowercase hexadecimal.
    Hex,
    /// Standard base64 with `=` padding (RFC 4648 section 4).
    Base64,
    /// URL-safe base64 without padding (RFC 4648 section 5).
    Base64Url,
}

impl ByteEncoding {
    /// The spelling in a generator.
    pub fn as_str(self) -> &'static str {
        match self {
            ByteEncoding::Hex => "hex",
            ByteEncoding::Base64 => "base64",
            ByteEncoding::Base64Url => "base64url",
        }
    }

    fn encode(self, bytes: &[u8]) -> Zeroizing<String> {
        let len = match self {
            ByteEncoding::Hex => bytes.len().checked_mul(2),
            ByteEncoding::Base64 => base64::encoded_len(bytes.len(), true),
            ByteEncoding::Base64Url => base64::encoded_len(bytes.len(), false),
        }
        .expect("at most 1024 bytes cannot overflow an encoded length");
        let mut out = Zeroizing::new(vec![0u8; len]);
        let written = match self {
            ByteEncoding::Hex => {
                hex::encode_to_slice(bytes, &mut out).expect("the output holds two characters per byte");
                len
            }
            ByteEncoding::Base64 => STANDARD
                .encode_slice(bytes, &mut out)
                .expect("the output holds encoded_len"),
            ByteEncoding::Base64Url => URL_SAFE_NO_PAD
                .encode_slice(bytes, &mut out)
                .expect("the output holds encoded_len"),
        };
        out.truncate(written);
        ascii_into_string(out)
    }
}

/// The allowed RSA key sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaBits {
    /// 2048-bit modulus.
    B2048,
    /// 3072-bit modulus.
    B3072,
    /// 4096-bit modulus.
    B4096,
}

impl RsaBits {
    /// The modulus size in bits.
    pub fn bits(self) -> usize {
        match self {
            RsaBits::B2048 => 2048,
            RsaBits::B3072 => 3072,
            RsaBits::B4096 => 4096,
        }
    }
}

impl Generator {
    /// A fresh value. Key pairs carry their public key in [`GeneratedValue::public`].
    pub fn generate(&self) -> Result<GeneratedValue, Error> {
        match self {
            Generator::Password(rules) => Ok(GeneratedValue::secret(rules.generate())),
            Generator::Bytes(spec) => {
                let mut bytes = Zeroizing::new(vec![0u8; spec.count]);
                rand::rng().fill_bytes(&mut bytes);
                Ok(GeneratedValue::secret(spec.encoding.encode(&bytes)))
            }
            Generator::Uuid => {
                let mut buf = Zeroizing::new([0u8; uuid::fmt::Hyphenated::LENGTH]);
                let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut *buf);
                let mut value = Zeroizing::new(String::with_capacity(text.len()));
                value.push_str(text);
                Ok(GeneratedValue::secret(value))
            }
            Generator::Ed25519 => self.ed25519(),
            Generator::Rsa(bits) => self.rsa(*bits),
        }
    }

    /// Ed25519 (RFC 8032) from a 32-byte random seed. The private key is a
    /// PKCS#8 v1 `PrivateKeyInfo` (RFC 8410, what `openssl genpkey -algorithm
    /// ed25519` writes), the public key an SPKI `SubjectPublicKeyInfo`.
    fn ed25519(&self) -> Result<GeneratedValue, Error> {
        let mut seed = Zeroizing::new([0u8; ed25519_dalek::SECRET_KEY_LENGTH]);
        rand::rng().fill_bytes(&mut *seed);
        let public = SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| self.failed(e))?;
        // Zeroized on drop by the `ed25519` crate.
        let keypair = KeypairBytes {
            secret_key: *seed,
            public_key: None,
        };
        let value = keypair.to_pkcs8_pem(LineEnding::LF).map_err(|e| self.failed(e))?;
        Ok(GeneratedValue {
            value,
            public: Some(public),
        })
    }

    /// RSA with public exponent 65537 from the `rsa` crate, private key as
    /// PKCS#8 (RFC 5208), public key as SPKI.
    fn rsa(&self, bits: RsaBits) -> Result<GeneratedValue, Error> {
        use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits.bits()).map_err(|e| self.failed(e))?;
        let value = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| self.failed(e))?;
        let public = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| self.failed(e))?;
        Ok(GeneratedValue {
            value,
            public: Some(public),
        })
    }

    /// The library errors mapped here describe encodings and parameters, never key bytes.
    fn failed(&self, reason: impl fmt::Display) -> Error {
        Error::Generate {
            generator: self.to_string(),
            reason: reason.to_string(),
        }
    }
}

impl FromStr for Generator {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self, Error> {
        let mut parts = spec.split(':');
        let name = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        let parsed = match name {
            "password" => PasswordRules::parse(&args).map(Generator::Password),
            "bytes" => parse_bytes(&args),
            "uuid" => no_args("uuid", &args).map(|()| Generator::Uuid),
            "ed25519" => no_args("ed25519", &args).map(|()| Generator::Ed25519),
            "rsa" => parse_rsa(&args).map(Generator::Rsa),
            "" => Err(format!("empty generator; expected one of {GENERATOR_NAMES}")),
            other => Err(format!(
                "unknown generator {other:?}; expected one of {GENERATOR_NAMES}"
            )),
        };
        parsed.map_err(|reason| Error::InvalidGenerator {
            spec: spec.to_owned(),
            reason,
        })
    }
}

impl fmt::Display for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Generator::Password(rules) => rules.fmt(f),
            Generator::Bytes(spec) => write!(f, "bytes:{}:{}", spec.count, spec.encoding.as_str()),
            Generator::Uuid => f.write_str("uuid"),
            Generator::Ed25519 => f.write_str("ed25519"),
            Generator::Rsa(bits) => write!(f, "rsa:{}", bits.bits()),
        }
    }
}

impl TryFrom<String> for Generator {
    type Error = Error;

    fn try_from(spec: String) -> Result<Self, Error> {
        spec.parse()
    }
}

impl From<Generator> for String {
    fn from(generator: Generator) -> Self {
        generator.to_string()
    }
}

fn parse_bytes(args: &[&str]) -> Result<Generator, String> {
    let [count, rest @ ..] = args else {
        return Err("bytes needs a count and an encoding, e.g. bytes:32:hex".into());
    };
    let count = parse_count(count, "byte count", BYTE_COUNTS)?;
    let encoding = match rest {
        [] => return Err(format!("bytes:{count} needs an encoding: hex, base64 or base64url")),
        ["hex"] => ByteEncoding::Hex,
        ["base64"] => ByteEncoding::Base64,
        ["base64url"] => ByteEncoding::Base64Url,
        [other] => return Err(format!("unknown encoding {other:?}; expected hex, base64 or base64url")),
        [_, extra @ ..] => return Err(format!("unexpected {:?} after the encoding", extra.join(":"))),
    };
    Ok(Generator::Bytes(RandomBytes { count, encoding }))
}

fn parse_rsa(args: &[&str]) -> Result<RsaBits, String> {
    match args {
        [] => Err("rsa needs a key size: rsa:2048, rsa:3072 or rsa:4096".into()),
        ["2048"] => Ok(RsaBits::B2048),
        ["3072"] => Ok(RsaBits::B3072),
        ["4096"] => Ok(RsaBits::B4096),
        [other] => Err(format!("RSA key size {other:?} is not allowed; use 2048, 3072 or 4096")),
        [_, extra @ ..] => Err(format!("unexpected {:?} after the key size", extra.join(":"))),
    }
}

fn no_args(name: &str, args: &[&str]) -> Result<(), String> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(format!("{name} takes no options, got {:?}", args.join(":")))
    }
}

/// A decimal count in `range`. Only ASCII digits, so the canonical spelling is the only one.
fn parse_count(text: &str, what: &str, range: std::ops::RangeInclusive<usize>) -> Result<usize, String> {
    let (min, max) = (range.start(), range.end());
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {text:?} is not a number from {min} to {max}"));
    }
    match text.parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!("{what} {text} is out of range {min}..={max}")),
    }
}

/// The characters of `exclude=`: printable ASCII, returned sorted without duplicates.
fn parse_exclude(chars: &str) -> Result<String, String> {
    if chars.is_empty() {
        return Err("exclude= needs at least one character".into());
    }
    if let Some(bad) = chars.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "exclude= takes printable ASCII characters only, got {bad:?} (passwords never contain it)"
        ));
    }
    let mut sorted: Vec<char> = chars.chars().collect();
    sorted.sort_unstable();
    sorted.dedup();
    Ok(sorted.into_iter().collect())
}

/// Moves ASCII bytes into a string without copying them.
fn ascii_into_string(mut bytes: Zeroizing<Vec<u8>>) -> Zeroizing<String> {
    let bytes = std::mem::take(&mut *bytes);
    Zeroizing::new(String::from_utf8(bytes).expect("generators only produce ASCII"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gen_(spec: &str) -> GeneratedValue {
        spec.parse::<Generator>()
            .unwrap_or_else(|e| panic!("{spec} should parse: {e}"))
            .generate()
            .unwrap_or_else(|e| panic!("{spec} should generate: {e}"))
    }

    /// Parsing `spec` fails with a message naming the spec and containing `expected`.
    fn check_err(spec: &str, expected: &str) {
        let err = spec.parse::<Generator>().expect_err(spec);
        let message = err.to_string();
        assert!(matches!(err, Error::InvalidGenerator { .. }), "{spec}: {err:?}");
        assert!(
            message.contains(&format!("{spec:?}")),
            "{spec}: {message:?} does not name the spec"
        );
        assert!(
            message.contains(expected),
            "{spec}: {message:?} does not contain {expected:?}"
        );
    }

    fn has_class(value: &str, class: CharClass) -> bool {
        value.chars().any(|c| class.chars().contains(c))
    }

    #[test]
    fn password_has_length_and_every_class() {
        for _ in 0..50 {
            let value = gen_("password:8");
            let value = value.expose_secret();
            assert_eq!(value.len(), 8);
            for class in CharClass::ALL {
                assert!(has_class(value, class), "{value} lacks {class:?}");
            }
            let alphabet: String = CharClass::ALL.iter().map(|c| c.chars()).collect();
            assert!(value.chars().all(|c| alphabet.contains(c)), "{value}");
        }
    }

    #[test]
    fn password_options_turn_classes_off() {
        let value = gen_("password:64:no-symbols");
        let value = value.expose_secret();
        assert_eq!(value.len(), 64);
        assert!(value.chars().all(|c| c.is_ascii_alphanumeric()), "{value}");
        assert!(has_class(value, CharClass::Upper) && has_class(value, CharClass::Lower));
        assert!(has_class(value, CharClass::Digits));

        let value = gen_("password:40:no-upper:no-lower:no-symbols");
        assert!(value.expose_secret().chars().all(|c| c.is_ascii_digit()));
        let value = gen_("password:40:no-digits:no-upper");
        let value = value.expose_secret();
        assert!(!has_class(value, CharClass::Digits) && !has_class(value, CharClass::Upper));
        assert!(has_class(value, CharClass::Lower) && has_class(value, CharClass::Symbols));
    }

    #[test]
    fn password_never_uses_excluded_characters() {
        for _ in 0..20 {
            let value = gen_("password:200:exclude=lI1O0");
            let value = value.expose_secret();
            assert_eq!(value.len(), 200);
            assert!(!value.contains(['l', 'I', '1', 'O', '0']), "{value}");
            for class in CharClass::ALL {
                assert!(has_class(value, class));
            }
        }
        // Only one digit left: it must still appear.
        let value = gen_("password:8:exclude=012345678");
        assert!(value.expose_secret().contains('9'));
    }

    #[test]
    fn bytes_decode_to_the_count() {
        let value = gen_("bytes:32:hex");
        assert_eq!(value.expose_secret().len(), 64);
        assert_eq!(hex::decode(value.expose_secret()).unwrap().len(), 32);
        assert!(
            value
                .expose_secret()
                .chars()
                .all(|c| matches!(c, '0'..='9' | 'a'..='f'))
        );

        let value = gen_("bytes:17:base64");
        assert!(value.expose_secret().ends_with('='));
        assert_eq!(STANDARD.decode(value.expose_secret()).unwrap().len(), 17);

        for _ in 0..20 {
            let value = gen_("bytes:1024:base64url");
            let text = value.expose_secret();
            assert!(!text.contains(['=', '+', '/']), "{text}");
            assert_eq!(URL_SAFE_NO_PAD.decode(text).unwrap().len(), 1024);
        }
        assert_ne!(
            gen_("bytes:16:hex").expose_secret(),
            gen_("bytes:16:hex").expose_secret()
        );
        assert!(gen_("bytes:16:hex").public().is_none());
    }

    #[test]
    fn uuid_is_version_4() {
        let value = gen_("uuid");
        let text = value.expose_secret();
        assert_eq!(text.len(), 36);
        let parsed = uuid::Uuid::parse_str(text).unwrap();
        assert_eq!(parsed.get_version(), Some(uuid::Version::Random));
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(text, text.to_lowercase());
        assert_ne!(gen_("uuid").expose_secret(), text);
    }

    #[test]
    fn ed25519_pem_parses_back_and_matches_its_public_key() {
        use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
        use ed25519_dalek::{Signer, Verifier, VerifyingKey};

        let value = gen_("ed25519");
        assert!(value.expose_secret().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let public = value.public().expect("a key pair has a public key");
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let signing = SigningKey::from_pkcs8_pem(value.expose_secret()).unwrap();
        let verifying = VerifyingKey::from_public_key_pem(public).unwrap();
        assert_eq!(signing.verifying_key(), verifying);
        let signature = signing.sign(b"leash");
        verifying.verify(b"leash", &signature).unwrap();
        assert_ne!(gen_("ed25519").expose_secret(), value.expose_secret());
    }

    #[test]
    fn rsa_pem_parses_back_with_its_size() {
        use rsa::RsaPublicKey;
        use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
        use rsa::traits::PublicKeyParts;

        let value = gen_("rsa:2048");
        assert!(value.expose_secret().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let key = RsaPrivateKey::from_pkcs8_pem(value.expose_secret()).unwrap();
        key.validate().unwrap();
        assert_eq!(key.n().bits(), 2048);
        let public = RsaPublicKey::from_public_key_pem(value.public().unwrap()).unwrap();
        assert_eq!(public, key.to_public_key());
    }

    #[test]
    fn debug_redacts_the_value() {
        let value = gen_("bytes:16:hex");
        let debug = format!("{value:?}");
        assert!(!debug.contains(value.expose_secret()), "{debug}");
        assert!(debug.contains("redacted"));
    }

    #[test]
    fn display_round_trips() {
        for spec in [
            "password:32",
            "password:8",
            "password:1024",
            "password:24:no-symbols",
            "password:24:no-upper:no-lower",
            "password:20:exclude=01IOl",
            "password:20:no-digits:no-symbols:exclude=!*",
            "bytes:16:hex",
            "bytes:32:base64",
            "bytes:1024:base64url",
            "uuid",
            "ed25519",
            "rsa:2048",
            "rsa:3072",
            "rsa:4096",
        ] {
            let generator: Generator = spec.parse().unwrap();
            assert_eq!(generator.to_string(), spec);
            assert_eq!(generator.to_string().parse::<Generator>().unwrap(), generator);
        }
    }

    #[test]
    fn options_in_any_order_print_canonically() {
        for (spec, canonical) in [
            ("password:20:exclude=lI1O0", "password:20:exclude=01IOl"),
            ("password:20:exclude=aaa", "password:20:exclude=a"),
            ("password:20:no-symbols:no-upper", "password:20:no-upper:no-symbols"),
            ("password:20:exclude=x:no-digits", "password:20:no-digits:exclude=x"),
        ] {
            assert_eq!(spec.parse::<Generator>().unwrap().to_string(), canonical);
        }
    }

    #[test]
    fn serde_uses_the_spelling() {
        let generator: Generator = "password:24:no-symbols".parse().unwrap();
        let json = serde_json::to_string(&generator).unwrap();
        assert_eq!(json, r#""password:24:no-symbols""#);
        assert_eq!(serde_json::from_str::<Generator>(&json).unwrap(), generator);
        let err = serde_json::from_str::<Generator>(r#""rsa:1024""#).unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
    }

    #[test]
    fn parse_errors_name_the_problem() {
        check_err("", "empty generator");
        check_err("pasword:32", "unknown generator \"pasword\"");
        check_err("Password:32", "unknown generator");
        check_err("password", "needs a length");
        check_err("password:", "is not a number");
        check_err("password:abc", "length \"abc\" is not a number");
        check_err("password:+32", "is not a number");
        check_err("password:7", "length 7 is out of range 8..=1024");
        check_err("password:1025", "out of range 8..=1024");
        check_err("password:99999999999999999999999", "out of range");
        check_err("password:32:no-emoji", "unknown password option \"no-emoji\"");
        check_err("password:32::no-digits", "empty option");
        check_err("password:32:no-digits:", "empty option");
        check_err("password:32:no-digits:no-digits", "no-digits is given twice");
        check_err("password:32:exclude=a:exclude=b", "exclude= is given twice");
        check_err("password:32:exclude=", "at least one character");
        check_err("password:32:exclude=a b", "printable ASCII");
        check_err("password:32:exclude=é", "printable ASCII");
        check_err(
            "password:32:no-upper:no-lower:no-digits:no-symbols",
            "every character class is turned off",
        );
        check_err("password:32:exclude=0123456789", "removes every digit; use no-digits");
        check_err(
            "password:32:no-upper:no-lower:no-symbols:exclude=0123456789",
            "removes every digit",
        );
        check_err("bytes", "needs a count and an encoding");
        check_err("bytes:32", "needs an encoding");
        check_err("bytes:15:hex", "byte count 15 is out of range 16..=1024");
        check_err("bytes:1025:hex", "out of range 16..=1024");
        check_err("bytes:32:base32", "unknown encoding \"base32\"");
        check_err("bytes:32:hex:extra", "unexpected \"extra\"");
        check_err("uuid:4", "uuid takes no options");
        check_err("ed25519:pem", "ed25519 takes no options");
        check_err("rsa", "needs a key size");
        check_err("rsa:1024", "RSA key size \"1024\" is not allowed");
        check_err("rsa:8192", "not allowed");
        check_err("rsa:2048:pem", "unexpected \"pem\"");
    }

    proptest! {
        #[test]
        fn password_of_any_length_has_every_class(length in PASSWORD_LENGTHS) {
            let value = gen_(&format!("password:{length}"));
            let value = value.expose_secret();
            prop_assert_eq!(value.chars().count(), length);
            for class in CharClass::ALL {
                prop_assert!(has_class(value, class), "{} lacks {:?}", value, class);
            }
        }

        #[test]
        fn password_options_always_hold(
            length in PASSWORD_LENGTHS,
            off in proptest::sample::subsequence(CharClass::ALL.to_vec(), 0..=3),
            exclude in "[!-9;-~]{0,12}",
        ) {
            let mut spec = format!("password:{length}");
            for class in &off {
                spec.push(':');
                spec.push_str(class.off_option());
            }
            if !exclude.is_empty() {
                spec.push_str(":exclude=");
                spec.push_str(&exclude);
            }
            // Random exclusions may empty a class; that must be a parse error, never a panic.
            let Ok(generator) = spec.parse::<Generator>() else { return Ok(()) };
            prop_assert_eq!(generator.to_string().parse::<Generator>().unwrap(), generator.clone());
            let value = generator.generate().unwrap();
            let value = value.expose_secret();
            prop_assert_eq!(value.len(), length);
            prop_assert!(!value.contains(|c| exclude.contains(c)));
            for class in CharClass::ALL {
                prop_assert_eq!(has_class(value, class), !off.contains(&class), "{} {}", spec, value);
            }
        }
    }
}
