//! Context-aware judgement of assignments: what the key names, and what
//! kind of value it holds.
//!
//! A generic rule's regex finds `KEY = value`, `key: value`, `"key": "value"`,
//! `--password value` and the like; this module decides whether the pair is a
//! credential. The key must name a secret (and not a public identifier, a
//! hash, a length or a file path); the value must not be a reference
//! (`${VAR}`, `{{ .Values.x }}`, `os.environ[...]`, `process.env.X`), a
//! placeholder, a hash, a UUID, a publishable key or a published test vector,
//! and it must clear an entropy threshold chosen by its class (hex, base64 or
//! alphanumeric, human-chosen password) rather than one global number.
//!
//! It knows nothing about rules or regexes: the engine hands it the matched
//! text, where the secret starts in it, and the lines around.

use sha2::{Digest, Sha256};

use crate::filter;

/// What the engine knows about a candidate besides the secret itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The file path, relative to the scan root.
    pub path: &'a str,
    /// The whole regex match.
    pub matched: &'a [u8],
    /// Byte offset of the secret inside `matched`.
    pub secret_start: usize,
    /// The line before, the line of, and the line after the secret.
    pub around: &'a [u8],
}

impl<'a> Context<'a> {
    /// A context with nothing around the secret (tests, decoded blobs).
    pub fn bare(path: &'a str, matched: &'a [u8], secret_start: usize) -> Self {
        Self {
            path,
            matched,
            secret_start,
            around: matched,
        }
    }

    /// The key of the assignment: the last identifier before the operator,
    /// lower-cased, leading dashes of a command-line flag removed.
    pub fn key(&self) -> String {
        let before = &self.matched[..self.secret_start.min(self.matched.len())];
        let mut end = before.len();
        // Skip the opening quote, spaces, the operator and the key's closing quote.
        while end > 0
            && matches!(
                before[end - 1],
                b'"' | b'\'' | b'`' | b' ' | b'\t' | b'=' | b':' | b'>' | b'<' | b'?'
            )
        {
            end -= 1;
        }
        // A type annotation between the name and the operator (`const KEY: &str = "..."`).
        for annotation in [
            ": &'static str",
            ":&'static str",
            ": &str",
            ":&str",
            ": String",
            ": string",
            ": str",
        ] {
            if before[..end].ends_with(annotation.as_bytes()) {
                end -= annotation.len();
                break;
            }
        }
        // A call around the value: `key = env("...")` is not a literal; the value check sees the rest.
        let mut start = end;
        while start > 0
            && (before[start - 1].is_ascii_alphanumeric() || matches!(before[start - 1], b'_' | b'.' | b'-'))
        {
            start -= 1;
        }
        let key = &before[start..end];
        let key = key
            .strip_prefix(b"--")
            .or_else(|| key.strip_prefix(b"-"))
            .unwrap_or(key);
        String::from_utf8_lossy(key).into_owned()
    }

    /// Whether key and value are separated only by blanks (`--password value`),
    /// not by `=`, `:` or `=>`.
    pub fn blank_operator(&self) -> bool {
        let before = &self.matched[..self.secret_start.min(self.matched.len())];
        let mut end = before.len();
        while end > 0 && matches!(before[end - 1], b'"' | b'\'' | b'`') {
            end -= 1;
        }
        while end > 0 && matches!(before[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        end > 0 && !matches!(before[end - 1], b'=' | b':' | b'>' | b'"' | b'\'')
    }

    /// Whether the key is written as a command-line flag (`--password`, `-p`).
    pub fn flag(&self) -> bool {
        let before = &self.matched[..self.secret_start.min(self.matched.len())];
        let trimmed = before.trim_ascii_start();
        let trimmed = trimmed
            .strip_prefix(b"\"")
            .or(trimmed.strip_prefix(b"'"))
            .unwrap_or(trimmed);
        trimmed.starts_with(b"-")
    }

    /// Whether the secret sits in a `.netrc` file or `.netrc`-style text.
    pub fn netrc(&self) -> bool {
        self.path.ends_with("netrc") || {
            let lower = self.around.to_ascii_lowercase();
            memchr::memmem::find(&lower, b"machine ").is_some() || memchr::memmem::find(&lower, b"login ").is_some()
        }
    }

    /// Whether the value was written between quotes.
    pub fn quoted(&self) -> bool {
        self.secret_start > 0
            && self
                .matched
                .get(self.secret_start - 1)
                .is_some_and(|b| matches!(b, b'"' | b'\'' | b'`'))
    }

    /// Whether a user name is given next to the secret (same line or a neighbouring one).
    pub fn user_nearby(&self) -> bool {
        let lower = self.around.to_ascii_lowercase();
        ["user", "login", "uid=", "-u ", "account"]
            .iter()
            .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
    }
}

/// Splits a key into lower-case segments at `_ . - /` and camelCase humps.
pub fn key_segments(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let bytes = key.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if !b.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let hump = b.is_ascii_uppercase() && i > 0 && bytes[i - 1].is_ascii_lowercase();
        if hump && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(b.to_ascii_lowercase() as char);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Key segments that make a name public or not a secret value at all.
const PUBLIC_SEGMENTS: &[&str] = &[
    "public",
    "publishable",
    "pub",
    "anon",
    "sitekey",
    "site",
    "search",
    "id",
    "ids",
    "uid",
    "guid",
    "uuid",
    "appid",
    "clientid",
    "keyid",
    "kid",
    "content",
];

/// Key segments that say the value is a digest, not a credential.
const HASH_SEGMENTS: &[&str] = &[
    "hash",
    "hashed",
    "sha",
    "sha1",
    "sha256",
    "sha384",
    "sha512",
    "md5",
    "checksum",
    "digest",
    "integrity",
    "etag",
    "fingerprint",
    "crc",
    "thumbprint",
];

/// Last segments that make a secret-sounding name describe something else.
const DESCRIPTIVE_TAILS: &[&str] = &[
    "url",
    "uri",
    "endpoint",
    "path",
    "file",
    "filename",
    "dir",
    "name",
    "names",
    "type",
    "types",
    "len",
    "length",
    "size",
    "count",
    "max",
    "min",
    "timeout",
    "ttl",
    "expiry",
    "expires",
    "expiration",
    "format",
    "header",
    "prefix",
    "suffix",
    "field",
    "env",
    "var",
    "ref",
    "policy",
    "mode",
    "enabled",
    "required",
    "label",
    "hint",
    "placeholder",
    "prompt",
    "regex",
    "pattern",
    "version",
    "algorithm",
    "alg",
    "scheme",
    "location",
    "provider",
    "source",
    "command",
    "cmd",
    "strength",
    "reset",
    "rotation",
    "param",
    "parameter",
    "arn",
    "store",
    "keystore",
    "index",
    "position",
    "tokenizer",
    "author",
    "authority",
    "authors",
    "keyboard",
    "keyword",
    "keywords",
    "keys",
    "input",
    "selector",
    "class",
    "style",
    "text",
    "message",
    "error",
    "valid",
    "invalid",
    "lifetime",
    "age",
];

/// Whether the key names something that is not a secret: a public
/// identifier, a digest, or a property of a secret (its URL, length, file).
pub fn key_is_not_secret(key: &str) -> bool {
    let segs = key_segments(key);
    let Some(last) = segs.last() else { return false };
    if segs
        .iter()
        .any(|s| PUBLIC_SEGMENTS.contains(&s.as_str()) || HASH_SEGMENTS.contains(&s.as_str()))
    {
        return true;
    }
    if DESCRIPTIVE_TAILS.contains(&last.as_str()) {
        return true;
    }
    let joined: String = segs.concat();
    ["publishable", "publickey", "clientid", "appid", "hashed", "checksum"]
        .iter()
        .any(|w| joined.contains(w))
}

/// Whether the key names a password (and not a property of one).
pub fn key_names_password(key: &str) -> bool {
    const WORDS: &[&str] = &["password", "passwd", "passphrase", "pwd", "passwort", "pword"];
    let segs = key_segments(key);
    let named = segs.iter().any(|s| {
        s == "pass"
            || s == "pw"
            || WORDS.iter().any(|w| {
                s == w
                    || s.ends_with(w)
                    || s.strip_prefix(w)
                        .is_some_and(|rest| rest == "s" || rest.bytes().all(|b| b.is_ascii_digit()))
            })
    });
    named && !key_is_not_secret(key)
}

/// Whether the key names a credential strongly enough that a digest-length
/// hex value is still taken as a secret (a 40-hex OAuth client secret, a
/// 64-hex `openssl rand -hex 32` token).
fn key_is_strong(key: &str) -> bool {
    let joined: String = key_segments(key).concat();
    [
        "token",
        "password",
        "passwd",
        "clientsecret",
        "apikey",
        "accesskey",
        "secretkey",
        "authkey",
        "privatekey",
        "webhooksecret",
        "signingsecret",
    ]
    .iter()
    .any(|w| joined.contains(w))
}

/// Whether the value refers to a secret kept elsewhere instead of holding one:
/// `$VAR`, `%VAR%`, `${...}`, `{{ ... }}`, `process.env.X`, `os.environ[...]` and the like.
pub fn is_reference(value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    let has = |needle: &[u8]| memchr::memmem::find(&lower, needle).is_some();
    let ident = |s: &[u8]| !s.is_empty() && s.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    match lower.first() {
        Some(b'$') if ident(&lower[1..]) => return true,
        Some(b'%') if lower.len() > 2 && lower.ends_with(b"%") && ident(&lower[1..lower.len() - 1]) => return true,
        _ => {}
    }
    const MARKERS: &[&str] = &[
        "${",
        "{{",
        "}}",
        "%(",
        "$(",
        "#{",
        "<%",
        "process.env",
        "os.environ",
        "getenv",
        "env(",
        "env[",
        "env.",
        "environ[",
        "environ.get",
        "secrets.",
        "vault:",
        "ref+",
        "secretkeyref",
        "arn:aws:",
        "keyvault",
        "key_vault",
        "secretmanager",
        "config.get",
        "settings.",
        "params.",
        "argv",
    ];
    MARKERS.iter().any(|m| has(m.as_bytes()))
}

/// Whether the value is a UUID (`8-4-4-4-12` hex).
pub fn is_uuid(value: &[u8]) -> bool {
    let parts: Vec<&[u8]> = value.split(|&b| b == b'-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.iter().all(u8::is_ascii_hexdigit))
}

/// Prefixes of identifiers that providers publish on purpose: Stripe (and
/// Clerk) publishable keys, Mapbox public tokens, Google OAuth client ids.
pub fn is_public_identifier(value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    lower.starts_with(b"pk_live_")
        || lower.starts_with(b"pk_test_")
        || lower.starts_with(b"pk.ey")
        || memchr::memmem::find(&lower, b".apps.googleusercontent.com").is_some()
        || memchr::memmem::find(&lower, b"-----begin public key").is_some()
}

/// Whether the value is written as a digest or a password hash
/// (`sha256:...`, an SRI `sha512-...`, crypt `$2b$...`, `{SSHA}...`).
pub fn is_hash_notation(value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    [
        "sha1:",
        "sha256:",
        "sha384:",
        "sha512:",
        "md5:",
        "sha1-",
        "sha256-",
        "sha384-",
        "sha512-",
        "$2a$",
        "$2b$",
        "$2y$",
        "$argon2",
        "$1$",
        "$5$",
        "$6$",
        "$pbkdf2",
        "pbkdf2_sha256$",
        "{ssha}",
        "{sha}",
        "{bcrypt}",
        "{noop}",
        "scrypt:",
    ]
    .iter()
    .any(|p| lower.starts_with(p.as_bytes()))
}

/// SHA-256 digests (hex) of credentials that providers publish in their
/// documentation as examples, so that quoting the docs is not a finding.
/// Digests, not the strings, so that this file holds no secret-shaped text.
const PUBLISHED_EXAMPLES: &[&str] = &[
    // jwt.io's default HS256 example token (`sub` 1234567890, `name` John Doe).
    "7f75367e7881255134e1375e723d1dea8ad5f6a4fdb79d938df1f1754a830606",
    // The bot token in Discord's developer documentation (Authorization header example).
    "02f7ce3c263f85c019eeeeea4b08f1b7f6ade2b7a2199c14f3efdac0eef382e1",
    // Stripe's documentation test-mode secret keys (shown to every reader of the API reference).
    "2cafc0970149a84f3b9e62eaf169f36f59907a3b3e31f7b82e68c69cd27f7326",
    "f2d6ca16515033e5dce14eba840b979d27b5cbae24bb3e5bf484339667f86397",
    "7e8de44ea9ecf6d53415c90f5b249a8591f7abafbf7d65a2c0d855afeca3ec09",
];

/// Whether the value is a credential published on purpose as a docs example or test vector.
pub fn is_published_example(value: &[u8]) -> bool {
    let digest = hex::encode(Sha256::digest(value));
    PUBLISHED_EXAMPLES.contains(&digest.as_str())
}

/// The class of a value, which picks its entropy threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueClass {
    /// Hex digits only: at most 4 bits per character.
    Hex,
    /// Letters and digits, maybe base64 or base64url punctuation: random keys.
    Random,
    /// Anything with other punctuation: human-chosen or generated passwords.
    Human,
}

pub fn value_class(value: &[u8]) -> ValueClass {
    if value.iter().all(u8::is_ascii_hexdigit) {
        ValueClass::Hex
    } else if value
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-' | b'.'))
    {
        ValueClass::Random
    } else {
        ValueClass::Human
    }
}

/// The entropy threshold (bits per byte) of a machine-generated value of this
/// class and length. A random string of `n` characters cannot exceed
/// `log2(n)` bits per byte, so short values get a lower bar.
pub fn entropy_floor(class: ValueClass, len: usize) -> f64 {
    let cap = (len.max(2) as f64).log2() - 0.6;
    match class {
        ValueClass::Hex => 3.0_f64.min(cap),
        ValueClass::Random => 3.6_f64.min(cap),
        ValueClass::Human => 3.2_f64.min(cap),
    }
}

/// A YAML tag, anchor or alias (`!vault |`, `&default`, `*default_password`)
/// where an unquoted value would be. Elsewhere (`.env`, INI) these
/// characters are just the first of a password.
fn is_sigil(path: &str, value: &[u8], quoted: bool) -> bool {
    let yaml = path.ends_with(".yaml") || path.ends_with(".yml");
    yaml && !quoted && matches!(value.first(), Some(b'!' | b'&' | b'*' | b'@'))
}

/// The checks every keyed candidate goes through: the value is not a
/// reference, a public identifier, a UUID, a digest or a published example.
pub fn value_is_not_secret(value: &[u8]) -> bool {
    is_reference(value)
        || is_public_identifier(value)
        || is_uuid(value)
        || is_hash_notation(value)
        || is_published_example(value)
}

/// Generic assignments (`generic-api-key`): the key names a secret, the
/// value looks machine-generated and clears its class's entropy floor.
pub fn generic_secret_ok(ctx: &Context<'_>, value: &[u8]) -> bool {
    let key = ctx.key();
    if key_is_not_secret(&key) || value_is_not_secret(value) || is_sigil(ctx.path, value, ctx.quoted()) {
        return false;
    }
    let class = value_class(value);
    if filter::entropy(value) < entropy_floor(class, value.len()) {
        return false;
    }
    let hash_length_hex = class == ValueClass::Hex && matches!(value.len(), 32 | 40 | 64 | 128);
    if hash_length_hex && !key_is_strong(&key) {
        return false;
    }
    // In code, an unquoted value is an expression, not a literal.
    if is_code_path(ctx.path) && !ctx.quoted() {
        return false;
    }
    if hash_length_hex {
        return true;
    }
    filter::generic_value_ok(value)
}

/// Keyed provider rules (a provider name next to `key`/`secret`): the key
/// must not name a public or descriptive property, the value must not be a reference.
pub fn keyed_ok(ctx: &Context<'_>, value: &[u8]) -> bool {
    !key_is_not_secret(&ctx.key()) && !value_is_not_secret(value) && !is_sigil(ctx.path, value, ctx.quoted())
}

/// Files whose assignments are code: there, only quoted literals are values.
pub fn is_code_path(path: &str) -> bool {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e).to_ascii_lowercase();
    matches!(
        ext.as_str(),
        "rs" | "py"
            | "js"
            | "mjs"
            | "cjs"
            | "ts"
            | "tsx"
            | "jsx"
            | "go"
            | "java"
            | "kt"
            | "kts"
            | "scala"
            | "c"
            | "h"
            | "cc"
            | "cpp"
            | "hpp"
            | "cs"
            | "rb"
            | "php"
            | "swift"
            | "m"
            | "dart"
            | "lua"
            | "groovy"
            | "vue"
            | "svelte"
    )
}

/// Passwords in configuration and code (`generic-password`): the key names a
/// password, the value is a literal someone chose (not a reference, a
/// placeholder, a default, a type name, an expression or a digest).
pub fn config_password_ok(ctx: &Context<'_>, value: &[u8]) -> bool {
    let key = ctx.key();
    if !key_names_password(&key) || value_is_not_secret(value) || is_sigil(ctx.path, value, ctx.quoted()) {
        return false;
    }
    if filter::is_password_placeholder(value) || !value.is_ascii() {
        return false;
    }
    if is_code_path(ctx.path) && !ctx.quoted() {
        return false;
    }
    // `pass something` in prose: a blank separates key and value only after a
    // flag or in a `.netrc` (`machine host login user password secret`).
    if ctx.blank_operator() && !ctx.flag() && !ctx.netrc() {
        return false;
    }
    // A generator spec or a `host:port`-like pair (`bytes:48:base64url`, `24:no-symbols`), not a password.
    if value.contains(&b':') {
        let segs: Vec<&[u8]> = value.split(|&b| b == b':').collect();
        let plain = segs
            .iter()
            .all(|s| s.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')));
        if plain && segs.iter().any(|s| !s.is_empty() && s.iter().all(u8::is_ascii_digit)) {
            return false;
        }
    }
    // A trailing colon is prose; `&next=...` is an empty query parameter.
    if value.ends_with(b":") || (value.starts_with(b"&") && value.contains(&b'=')) {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    const WEAK_DEFAULTS: &[&str] = &[
        "p@ssw0rd",
        "p@ssword",
        "passw0rd",
        "changeit",
        "secret123",
        "admin123",
        "root123",
        "qwerty123",
        "welcome1",
        "s3cret",
        "adm1n",
        "t0ps3cret",
        "topsecret",
        "letmein1",
        "required",
        "optional",
        "string",
        "true",
        "false",
        "undefined",
        "nullable",
    ];
    if WEAK_DEFAULTS.contains(&String::from_utf8_lossy(&lower).as_ref()) {
        return false;
    }
    // Expressions and structure: calls, indexing, paths, dotted names, whitespace.
    if value
        .iter()
        .any(|b| b.is_ascii_whitespace() || matches!(b, b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<' | b'>' | b'\\'))
    {
        return false;
    }
    if matches!(
        value.first(),
        Some(b'/' | b'.' | b'~' | b'-' | b'=' | b'+' | b'"' | b'\'')
    ) || lower.starts_with(b"http")
    {
        return false;
    }
    if is_code_path(ctx.path)
        && value.split(|&b| b == b'.').count() >= 2
        && value
            .split(|&b| b == b'.')
            .all(|s| !s.is_empty() && s.iter().all(|b| b.is_ascii_alphabetic() || *b == b'_'))
    {
        return false; // self.password, req.body.pwd
    }
    // CONSTANT_CASE names of variables that hold the password elsewhere.
    if value
        .iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        && value.contains(&b'_')
    {
        return false;
    }
    let lower_c = value.iter().any(u8::is_ascii_lowercase);
    let upper_c = value.iter().any(u8::is_ascii_uppercase);
    let digit_c = value.iter().any(u8::is_ascii_digit);
    let symbol_c = value.iter().any(|b| !b.is_ascii_alphanumeric());
    let classes = [lower_c, upper_c, digit_c, symbol_c].iter().filter(|&&c| c).count();
    // A word or a type name has letters only; a PIN or a port has digits only.
    if !(digit_c || symbol_c) || !(lower_c || upper_c) {
        return false;
    }
    let min_len = if ctx.user_nearby() { 6 } else { 8 };
    if value.len() < min_len || value.len() > 128 {
        return false;
    }
    // Snake-case identifiers with a digit (`field_2`, `user_id_1`) are code.
    if classes == 2 && symbol_c && !digit_c {
        let separators_only = value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if separators_only {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(path: &'a str, line: &'a str) -> (Context<'a>, &'a [u8]) {
        // The value is what follows the last operator (test helper: `key = value`).
        let at = line.rfind(['=', ':', ' ']).unwrap() + 1;
        let at = if line[at..].starts_with(['"', '\'']) {
            at + 1
        } else {
            at
        };
        let end = line[at..].find(['"', '\'']).map_or(line.len(), |e| at + e);
        (Context::bare(path, line.as_bytes(), at), &line.as_bytes()[at..end])
    }

    #[test]
    fn keys() {
        assert_eq!(Context::bare("a", b"DB_PASSWORD=\"x\"", 13).key(), "DB_PASSWORD");
        assert_eq!(Context::bare("a", b"--password x", 11).key(), "password");
        assert_eq!(Context::bare("a", b"\"apiKey\": \"x\"", 11).key(), "apiKey");
        assert_eq!(key_segments("stripePublishableKey"), ["stripe", "publishable", "key"]);
        for k in [
            "db.password",
            "DB_PASS",
            "PGPASSWORD",
            "adminPwd",
            "smtp-passwd",
            "passwords",
        ] {
            assert!(key_names_password(k), "{k}");
        }
        for k in [
            "password_hash",
            "password_min_length",
            "compass",
            "bypass",
            "passwordless",
            "password_file",
        ] {
            assert!(!key_names_password(k), "{k}");
        }
        for k in [
            "STRIPE_PUBLISHABLE_KEY",
            "client_id",
            "api_key_id",
            "integrity",
            "token_url",
            "author",
        ] {
            assert!(key_is_not_secret(k), "{k}");
        }
        for k in ["api_key", "client_secret", "AWS_SECRET_ACCESS_KEY", "authToken"] {
            assert!(!key_is_not_secret(k), "{k}");
        }
    }

    #[test]
    fn values() {
        for r in [
            "${DB_PASSWORD}",
            "{{ .Values.db.password }}",
            "process.env.API_KEY",
            "os.environ['X']",
            "$SECRET",
            "%DB_PASSWORD%",
        ] {
            assert!(is_reference(r.as_bytes()), "{r}");
        }
        assert!(is_uuid(b"123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid(b"123e4567-e89b-12d3-a456-42661417400"));
        let pk = ["pk", "_live_", "51Hx0aBcDeFgHiJkLmNoPqRs"].concat();
        assert!(is_public_identifier(pk.as_bytes()));
        assert!(is_hash_notation(b"sha512-AbCdEf0123456789+/=="));
    }

    #[test]
    fn passwords() {
        for line in [
            "db.password=Wint3r-Harb0ur-2291!",
            "password: Tr0ub4dor&3x",
            "PGPASSWORD=k9#mQ2vL8p",
        ] {
            let (c, v) = ctx("app/db.properties", line);
            assert!(config_password_ok(&c, v), "{line}");
        }
        for line in [
            "password: {{ .Values.db.password }}",
            "password = <your-password-here>",
            "password = changeme",
            "password: String",
            "password: DB_PASSWORD",
            "password = p@ssw0rd",
            "password: 12345678",
            "password_hash = $2b$12$abcdefghijklmnopqrstuv",
        ] {
            let (c, v) = ctx("app/config.yaml", line);
            assert!(!config_password_ok(&c, v), "{line}");
        }
        // In code only quoted literals count.
        let (c, v) = ctx("src/main.rs", "let password = secret_2;");
        assert!(!config_password_ok(&c, v));
    }
}
