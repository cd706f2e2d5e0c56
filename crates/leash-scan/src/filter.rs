//! Precision filters: Shannon entropy, placeholder detection, the generic
//! and password heuristics, and allowlists (built-in, per rule, and from a
//! gitleaks config).
//!
//! Filters decide whether a candidate is kept; they must never change a
//! candidate nor keep a copy of it.

use regex::bytes::Regex;

use crate::context::{self, Context};
use crate::rules::Heuristic;

/// Shannon entropy in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let len = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

/// Words that mark documentation, templates and examples, not credentials.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "xxxx",
    "****",
    "....",
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "your_",
    "your-",
    "yourkey",
    "yourtoken",
    "yoursecret",
    "yourpassword",
    "dummy",
    "redacted",
    "replace_me",
    "replaceme",
    "insert_",
    "notreal",
    "not_real",
    "not-a-real",
    "fake",
    "sample",
    "lorem",
    "000000000",
    "123456789",
    "abcdefgh",
];

/// Whether the secret is a placeholder: `EXAMPLE`, `xxxx`, `changeme`,
/// `<your-key>`, `${VAR}`, `{{ var }}`, `%(var)s`, `$(cmd)`, a run of one
/// character, and the like.
pub fn is_placeholder(secret: &[u8]) -> bool {
    let lower = secret.to_ascii_lowercase();
    let has = |needle: &[u8]| memchr::memmem::find(&lower, needle).is_some();
    if PLACEHOLDER_WORDS.iter().any(|w| has(w.as_bytes())) {
        return true;
    }
    if has(b"${") || has(b"{{") || has(b"%(") || has(b"$(") || has(b"<%") {
        return true;
    }
    if lower.first() == Some(&b'<') && lower.last() == Some(&b'>') {
        return true;
    }
    if lower.first() == Some(&b'$')
        && lower.len() > 1
        && lower[1..].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        return true; // $VAR
    }
    // One character repeated (aaaaaaaa, 00000000).
    if lower.len() >= 6 && lower.iter().all(|&b| b == lower[0]) {
        return true;
    }
    false
}

/// Default passwords and words people put where a password goes in docs.
const PASSWORD_PLACEHOLDERS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "secret",
    "pw",
    "p4ssw0rd",
    "pa55word",
    "postgres",
    "mysql",
    "root",
    "admin",
    "guest",
    "user",
    "username",
    "test",
    "testing",
    "dev",
    "redis",
    "mongo",
    "mongodb",
    "rabbitmq",
    "default",
    "letmein",
    "hunter2",
    "foobar",
    "foo",
    "bar",
    "baz",
    "qwerty",
    "123456",
    "1234",
    "12345",
    "token",
    "apikey",
    "api_key",
    "mypassword",
    "mysecret",
    "pass123",
    "password123",
    "s3cr3t",
    "none",
    "null",
    "empty",
    "host",
    "port",
    "db",
    "database",
];

/// Whether a password candidate is obviously not a real one.
pub fn is_password_placeholder(secret: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(secret).to_ascii_lowercase();
    PASSWORD_PLACEHOLDERS.contains(&lower.as_str())
        || lower.starts_with('$')
        || lower.starts_with('%')
        || lower.starts_with('{')
        || lower.starts_with('[')
        || lower.starts_with('<')
        || lower.starts_with(':')
        || lower.contains("***")
        || lower.contains("pass")
        || lower.contains("secre")
        || lower.contains("horse")
        || secret.len() < 4
}

/// Whether a value assigned to a secret-sounding name looks random rather
/// than like code: it has letters and digits, is not an identifier, a path,
/// a call, a dotted name or a version.
pub fn generic_value_ok(secret: &[u8]) -> bool {
    let has_digit = secret.iter().any(u8::is_ascii_digit);
    let has_alpha = secret.iter().any(u8::is_ascii_alphabetic);
    if !has_digit || !has_alpha {
        return false;
    }
    if secret
        .iter()
        .any(|b| matches!(b, b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<' | b'>' | b'\\' | b' '))
    {
        return false;
    }
    // Paths and URLs.
    if secret.iter().filter(|&&b| b == b'/').count() >= 2 && !secret.contains(&b'+') {
        return false;
    }
    // Dotted names (self.config.api_key, foo.bar.baz) and versions.
    let dots = secret.iter().filter(|&&b| b == b'.').count();
    if dots >= 1 && secret.split(|&b| b == b'.').all(|seg| seg.len() < 12) {
        return false;
    }
    // snake_case / kebab-case / CONSTANT_CASE identifiers with a digit or two.
    let digits = secret.iter().filter(|b| b.is_ascii_digit()).count();
    let separators = secret.iter().filter(|&&b| b == b'_' || b == b'-').count();
    if separators >= 2 && digits * 4 < secret.len() && !has_mixed_case(secret) {
        return false;
    }
    // JWT-shaped (the jwt rule validates those) or base64 of JSON.
    if secret.starts_with(b"eyJ") || secret.starts_with(b"eyA") || memchr::memmem::find(secret, b".eyJ").is_some() {
        return false;
    }
    // Identifiers made of words: CamelCase, snake_case or CONSTANT_CASE names with a few digits.
    if is_wordy_identifier(secret) {
        return false;
    }
    // Pure hex of hash length is usually a checksum or a test vector, not an API key.
    if matches!(secret.len(), 40 | 64 | 128) && secret.iter().all(u8::is_ascii_hexdigit) {
        return false;
    }
    true
}

/// Whether most of `s` is made of word-like segments (4+ letters of one case
/// after an optional capital, with a vowel), as in `X509CertificateTemplateFlag`,
/// `DOT11_ACCESSNETWORKOPTIONS` or `fts5FindTokenizer`. Random keys almost
/// never have long single-case letter runs.
pub fn is_wordy_identifier(s: &[u8]) -> bool {
    if !s
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-' || *b == b'.')
    {
        return false;
    }
    let mut wordy = 0usize;
    let mut i = 0;
    while i < s.len() {
        if !s[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        // A segment: optional capital, then a run of one case.
        let start = i;
        let upper_run = s[i].is_ascii_uppercase();
        i += 1;
        if upper_run && i < s.len() && s[i].is_ascii_lowercase() {
            while i < s.len() && s[i].is_ascii_lowercase() {
                i += 1;
            }
        } else {
            while i < s.len() && s[i].is_ascii_alphabetic() && s[i].is_ascii_uppercase() == upper_run {
                i += 1;
            }
            // An all-caps run followed by a lowercase letter gives its last capital to the next word.
            if upper_run && i < s.len() && s[i].is_ascii_lowercase() && i - start > 1 {
                i -= 1;
            }
        }
        let seg = &s[start..i];
        let vowel = seg.iter().any(|b| b"aeiouyAEIOUY".contains(b));
        if seg.len() >= 4 && vowel {
            wordy += seg.len();
        }
    }
    let letters = s.iter().filter(|b| b.is_ascii_alphabetic()).count();
    letters > 0 && wordy * 10 >= letters * 6
}

fn has_mixed_case(s: &[u8]) -> bool {
    s.iter().any(u8::is_ascii_uppercase) && s.iter().any(u8::is_ascii_lowercase)
}

/// Applies a rule's heuristic to a candidate.
pub fn heuristic_ok(h: Heuristic, secret: &[u8], ctx: &Context<'_>) -> bool {
    match h {
        Heuristic::None => true,
        Heuristic::GenericValue => context::generic_secret_ok(ctx, secret),
        Heuristic::Password => !is_password_placeholder(secret) && !context::is_reference(secret),
        Heuristic::ConfigPassword => context::config_password_ok(ctx, secret),
        Heuristic::Keyed => context::keyed_ok(ctx, secret),
    }
}

/// What an allowlist regex is matched against (gitleaks `regexTarget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegexTarget {
    #[default]
    Secret,
    Match,
    Line,
}

/// Findings an allowlist suppresses (gitleaks `[allowlist]` semantics: any
/// listed condition suppresses, unless `all` is set, when all given kinds must hold).
#[derive(Debug, Default)]
pub struct Allowlist {
    pub paths: Vec<regex::Regex>,
    pub regexes: Vec<Regex>,
    pub regex_target: RegexTarget,
    /// Lower-case words; a secret containing one is suppressed.
    pub stopwords: Vec<String>,
    pub commits: Vec<String>,
    pub all: bool,
}

/// The candidate an allowlist is asked about.
pub struct Candidate<'a> {
    pub path: &'a str,
    pub commit: Option<&'a str>,
    pub secret: &'a [u8],
    pub matched: &'a [u8],
    pub line: &'a [u8],
}

impl Allowlist {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.regexes.is_empty() && self.stopwords.is_empty() && self.commits.is_empty()
    }

    /// Whether a whole path is allowed (used to skip files before reading them).
    pub fn allows_path(&self, path: &str) -> bool {
        !self.all && self.paths.iter().any(|re| re.is_match(path))
    }

    pub fn allows(&self, c: &Candidate<'_>) -> bool {
        if self.is_empty() {
            return false;
        }
        let mut checks: Vec<bool> = Vec::with_capacity(4);
        if !self.paths.is_empty() {
            checks.push(self.paths.iter().any(|re| re.is_match(c.path)));
        }
        if !self.commits.is_empty() {
            checks.push(
                c.commit
                    .is_some_and(|commit| self.commits.iter().any(|a| commit.starts_with(a.as_str()))),
            );
        }
        if !self.regexes.is_empty() {
            let target = match self.regex_target {
                RegexTarget::Secret => c.secret,
                RegexTarget::Match => c.matched,
                RegexTarget::Line => c.line,
            };
            checks.push(self.regexes.iter().any(|re| re.is_match(target)));
        }
        if !self.stopwords.is_empty() {
            let lower = c.secret.to_ascii_lowercase();
            checks.push(
                self.stopwords
                    .iter()
                    .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some()),
            );
        }
        if self.all {
            checks.iter().all(|&b| b)
        } else {
            checks.iter().any(|&b| b)
        }
    }
}

/// Paths never worth scanning: lock files and other generated checksums.
pub fn default_path_allowlist() -> Vec<regex::Regex> {
    [
        r"(^|/)(Cargo\.lock|package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|go\.sum|poetry\.lock|Pipfile\.lock|composer\.lock|Gemfile\.lock|uv\.lock)$",
        r"(^|/)\.cargo_vcs_info\.json$",
        r"(^|/)\.leashignore$",
        r"(^|/)\.gitleaksignore$",
    ]
    .iter()
    .map(|p| regex::Regex::new(p).expect("constant regex"))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_simple_strings() {
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"ab") - 1.0).abs() < 1e-9);
        assert!(entropy(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCY") > 4.0);
    }

    #[test]
    fn placeholders() {
        for p in [
            "AKIAIOSFODNN7EXAMPLE",
            "xxxxxxxxxxxxxxxx",
            "changeme",
            "<your-key>",
            "${API_KEY}",
            "{{ api_key }}",
            "%(password)s",
            "$SECRET",
            "aaaaaaaaaaaa",
        ] {
            assert!(is_placeholder(p.as_bytes()), "{p}");
        }
        // Built at run time so that this file holds no secret-shaped literal.
        let stripe = ["sk", "_live_", "4eC39HqLyjWDarjtT1zdp7dc"].concat();
        for real in ["q8Zr2LmX0pTf9WkD", stripe.as_str()] {
            assert!(!is_placeholder(real.as_bytes()), "{real}");
        }
    }

    #[test]
    fn generic_values() {
        for code in [
            "self.api_key",
            "get_token()",
            "/usr/local/bin",
            "1.2.3",
            "MY_API_KEY_V2",
            "password",
        ] {
            assert!(!generic_value_ok(code.as_bytes()), "{code}");
        }
        for ident in [
            "X509CertificateTemplatePrivateKeyFlag",
            "DOT11_ACCESSNETWORKOPTIONS",
            "fts5FindTokenizer",
            "TLS13_CHACHA20_POLY1305_SHA256_INTERNAL",
            "D3DKMT_PRESENTHISTORYTOKEN",
        ] {
            assert!(is_wordy_identifier(ident.as_bytes()), "{ident}");
        }
        for random in ["q8Zr2LmX0pTf9WkD7sVb", "a1B2c3D4e5F6g7H8i9J0"] {
            assert!(generic_value_ok(random.as_bytes()), "{random}");
        }
    }
}
