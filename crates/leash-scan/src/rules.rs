//! The rule model and the built-in rule table.
//!
//! A rule is data: id, description, severity, prefilter keywords, a regex
//! (with an optional secret capture group), an entropy threshold, an optional
//! offline validator, and true/false-positive example templates that the test
//! suite expands and runs. The built-in table lives in `rules/default.toml`
//! and is parsed once per process; each regex is compiled only when its
//! keywords first appear in scanned text.
//!
//! This module must never scan text itself (that is [`crate::engine`]).

use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::filter::Allowlist;
use crate::validate::Validator;

/// How bad a leak of this kind of credential is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses `low|medium|high|critical`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Extra filtering some rules need beyond entropy and placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Heuristic {
    #[default]
    None,
    /// Generic assignments: the value must look random, not like code.
    GenericValue,
    /// Passwords inside URLs and connection strings: not a placeholder or a default.
    Password,
    /// `password = ...` in configuration and code: the key names a password and
    /// the value is a chosen literal (see [`crate::context::config_password_ok`]).
    ConfigPassword,
    /// Provider rules keyed on a name (`ALGOLIA_ADMIN_KEY=...`): the key is not a
    /// public or descriptive property and the value is not a reference.
    Keyed,
}

/// One detection rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub description: String,
    pub severity: Severity,
    /// Lower-case literals; the rule runs only on text containing one of them
    /// (case-insensitively). Empty: the rule runs on every fragment.
    pub keywords: Vec<String>,
    /// The regex source (Rust `regex` syntax, which accepts gitleaks' RE2 rules).
    pub regex_src: Option<String>,
    regex: OnceLock<Regex>,
    /// Capture group holding the secret; `None`: group 1 if the regex has one, else the whole match.
    pub secret_group: Option<usize>,
    /// Minimum Shannon entropy (bits per byte) of the secret.
    pub entropy: Option<f64>,
    pub validator: Option<Validator>,
    pub heuristic: Heuristic,
    /// Only files whose path matches this regex are checked (gitleaks `path`).
    pub path: Option<regex::Regex>,
    pub allowlist: Allowlist,
    /// True-positive example templates (see [`crate::rules::expand_template`]).
    pub tp: Vec<String>,
    /// False-positive example templates.
    pub fp: Vec<String>,
}

impl Rule {
    /// A rule with a regex compiled now (for user configuration, so errors surface at start).
    #[allow(clippy::too_many_arguments)]
    pub fn compiled(
        id: String,
        description: String,
        severity: Severity,
        keywords: Vec<String>,
        regex: Option<String>,
        secret_group: Option<usize>,
        entropy: Option<f64>,
        path: Option<regex::Regex>,
        allowlist: Allowlist,
    ) -> Result<Self, Error> {
        let rule = Rule {
            keywords: keywords.into_iter().map(|k| k.to_ascii_lowercase()).collect(),
            id,
            description,
            severity,
            regex_src: regex,
            regex: OnceLock::new(),
            secret_group,
            entropy,
            validator: None,
            heuristic: Heuristic::None,
            path,
            allowlist,
            tp: Vec::new(),
            fp: Vec::new(),
        };
        if let Some(src) = &rule.regex_src {
            let compiled = compile(src).map_err(|reason| Error::Regex {
                rule: rule.id.clone(),
                reason,
            })?;
            let _ = rule.regex.set(compiled);
        }
        Ok(rule)
    }

    /// The compiled regex (compiled on first use), or `None` for a path-only rule.
    pub fn regex(&self) -> Option<&Regex> {
        let src = self.regex_src.as_ref()?;
        Some(self.regex.get_or_init(|| {
            // Built-in regexes are compiled by the rule tests; user regexes were compiled in `compiled`.
            compile(src).expect("built-in rule regexes are checked by the test suite")
        }))
    }
}

/// Compiles a rule regex for byte haystacks: ASCII-only classes and word
/// boundaries for speed, Unicode only when the pattern needs it.
pub fn compile(src: &str) -> Result<Regex, String> {
    let ascii = RegexBuilder::new(src)
        .unicode(false)
        .size_limit(32 << 20)
        .dfa_size_limit(32 << 20)
        .build();
    match ascii {
        Ok(re) => Ok(re),
        Err(_) => RegexBuilder::new(src)
            .size_limit(32 << 20)
            .build()
            .map_err(|e| e.to_string()),
    }
}

#[derive(Deserialize)]
struct Table {
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    description: String,
    severity: Severity,
    #[serde(default)]
    keywords: Vec<String>,
    regex: String,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    validator: Option<Validator>,
    #[serde(default)]
    heuristic: Heuristic,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    tp: Vec<String>,
    #[serde(default)]
    fp: Vec<String>,
}

const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

/// The built-in rules, parsed from the embedded table.
pub fn builtin() -> Vec<Rule> {
    let table: Table = toml::from_str(DEFAULT_RULES).expect("the built-in rule table is checked by the test suite");
    table
        .rule
        .into_iter()
        .map(|r| Rule {
            id: r.id,
            description: r.description,
            severity: r.severity,
            keywords: r.keywords.into_iter().map(|k| k.to_ascii_lowercase()).collect(),
            regex_src: Some(r.regex),
            regex: OnceLock::new(),
            secret_group: r.secret_group,
            entropy: r.entropy,
            validator: r.validator,
            heuristic: r.heuristic,
            path: None,
            allowlist: Allowlist {
                stopwords: r.stopwords.into_iter().map(|s| s.to_ascii_lowercase()).collect(),
                ..Allowlist::default()
            },
            tp: r.tp,
            fp: r.fp,
        })
        .collect()
}

/// Expands an example template: `{{alnum:36}}`, `{{hex:32}}`, `{{HEX:32}}`,
/// `{{upper:16}}` (A-Z0-9), `{{lower:20}}` (a-z0-9), `{{alpha:34}}`,
/// `{{digits:10}}`, `{{b64:40}}`, `{{b64url:43}}`, `{{base32:16}}`, `{{b32lower:52}}`, `{{bech32:58}}`, `{{uuid}}`,
/// `{{discord}}` (a structurally valid Discord bot token), `{{human}}` (a human-chosen password),
/// and checksum-valid tokens `{{github:ghp_}}`, `{{npm}}`, `{{pypi}}`,
/// `{{leash}}`, `{{leash-client}}`, `{{jwt}}`, `{{pem}}`. Deterministic for a
/// given seed, so examples are stable. Examples are templates so that the
/// rule table itself holds no secret-shaped strings.
pub fn expand_template(template: &str, seed: u64) -> String {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        out.push_str(&generate(&after[..end], &mut rng));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: plenty for example strings.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
            .collect()
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn generate(spec: &str, rng: &mut Rng) -> String {
    use base64::Engine as _;
    let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
    let n: usize = arg.parse().unwrap_or(0);
    match kind {
        "alnum" => rng.pick(ALNUM, n),
        "hex" => rng.pick(b"0123456789abcdef", n),
        "HEX" => rng.pick(b"0123456789ABCDEF", n),
        "upper" => rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", n),
        "lower" => rng.pick(b"abcdefghijklmnopqrstuvwxyz0123456789", n),
        "alpha" => rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", n),
        "digits" => rng.pick(b"0123456789", n),
        "b64" => rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", n),
        "b64url" => {
            // Never end on '-' or '_' so that word-boundary rules see a clean end.
            let mut s = rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", n);
            if n > 0 {
                s.pop();
                s.push_str(&rng.pick(ALNUM, 1));
            }
            s
        }
        "base32" => rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", n),
        "b32lower" => rng.pick(b"abcdefghijklmnopqrstuvwxyz234567", n),
        "discord" => {
            // base64 of an 18-digit user id, then a 6-character timestamp part and an HMAC part.
            let id = format!("1{}", rng.pick(b"0123456789", 17));
            format!(
                "{}.{}.{}",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(id),
                rng.pick(ALNUM, 6),
                rng.pick(ALNUM, 38)
            )
        }
        "human" => {
            // A password a person picks: words, a digit swapped in, a number and a symbol.
            const WORDS: &[&str] = &[
                "harbour", "winter", "lantern", "copper", "falcon", "meadow", "orchid", "granite",
            ];
            let w1 = WORDS[(rng.next() % WORDS.len() as u64) as usize];
            let w2 = WORDS[(rng.next() % WORDS.len() as u64) as usize];
            let mut first = w1[..1].to_ascii_uppercase();
            first.push_str(&w1[1..].replacen('o', "0", 1).replacen('e', "3", 1));
            let sep = ["-", "_", ".", ""][(rng.next() % 4) as usize];
            let sym = ["!", "#", "$", "%", "?"][(rng.next() % 5) as usize];
            format!("{first}{sep}{w2}{}{sym}", rng.pick(b"0123456789", 3))
        }
        "bech32" => rng.pick(b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", n),
        "uuid" => {
            let h = rng.pick(b"0123456789abcdef", 32);
            format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
        }
        "github" => crate::validate::github_style_token(arg, &rng.pick(ALNUM, 30)),
        "npm" => crate::validate::github_style_token("npm_", &rng.pick(ALNUM, 30)),
        "leash" | "leash-client" => {
            let prefix = if kind == "leash" { "lsh_" } else { "lsc_" };
            crate::validate::leash_style_token(prefix, &rng.pick(ALNUM, 43))
        }
        "pypi" => {
            let mut m = vec![0x02, 0x01, 0x08];
            m.extend_from_slice(b"pypi.org");
            let id = rng.bytes(32);
            m.extend_from_slice(&[0x02, id.len() as u8]);
            m.extend_from_slice(&id);
            m.push(0x00); // end of the header section
            let caveat = br#"{"version": 1, "permissions": "user"}"#;
            m.extend_from_slice(&[0x02, caveat.len() as u8]);
            m.extend_from_slice(caveat);
            m.push(0x00); // end of the caveat
            m.push(0x00); // end of the caveat list
            m.extend_from_slice(&[0x06, 32]);
            m.extend_from_slice(&rng.bytes(32));
            format!("pypi-{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m))
        }
        "jwt" => {
            let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let header = e.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
            let payload = e.encode(format!(r#"{{"sub":"{}","iat":1700000000}}"#, rng.pick(ALNUM, 12)));
            format!("{header}.{payload}.{}", e.encode(rng.bytes(32)))
        }
        "pem" => {
            let body = base64::engine::general_purpose::STANDARD.encode(rng.bytes(600));
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
                .collect();
            format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
                lines.join("\n")
            )
        }
        _ => format!("{{{{{spec}}}}}"),
    }
}
