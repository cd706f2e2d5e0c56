//! Path patterns: their syntax, template filling and matching.
//!
//! A pattern is segments joined by `/`. A segment is `**` (zero or more
//! segments), or text made of name characters, `*` (any characters inside one
//! segment, never `/`) and templates `{{identity.name}}` /
//! `{{identity.metadata.KEY}}`. A lone `*` is therefore "exactly one segment".
//!
//! Parsing checks everything that can be checked without a caller, so a
//! pattern that parses can always be matched. Filling templates in
//! ([`Pattern::resolve`]) turns each value into literal characters; it never
//! parses a value, and a value that is not a valid name segment makes the
//! whole pattern match nothing. Matching is a plain wildcard match at two
//! levels: `**` over segments, `*` over the characters of one segment.

use std::borrow::Cow;
use std::fmt;

use super::{IdentityContext, is_name_segment, resource_segments};
use crate::Error;
use crate::names::MAX_SEGMENT_LEN;

/// Longest pattern text.
pub const MAX_PATTERN_LEN: usize = 1024;
/// Most segments in a pattern (`**` included).
pub const MAX_PATTERN_SEGMENTS: usize = 32;

const PATTERN_CHARS: &str =
    "letters A-Z a-z, digits 0-9, '_', '-', '.', '*' and {{identity.name}} or {{identity.metadata.KEY}} templates";

/// A checked path pattern, e.g. `*/prod/stripe/**` or `{{identity.name}}/**`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    segments: Vec<Segment>,
    /// The matcher, built once when the pattern has no templates.
    fixed: Option<Resolved>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// `**`.
    AnyDepth,
    /// Anything else: literal text, `*` and templates.
    Pieces(Vec<Piece>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Star,
    Template(Template),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Template {
    Name,
    Metadata(String),
}

impl Template {
    fn value<'c>(&self, ctx: &'c IdentityContext) -> Option<&'c str> {
        match self {
            Template::Name => Some(&ctx.name),
            Template::Metadata(key) => ctx.metadata.get(key).map(String::as_str),
        }
    }
}

/// A pattern with its templates filled in: one matcher per segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved(pub(crate) Vec<Seg>);

/// Matches one path segment, or (`AnyDepth`) any number of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    AnyDepth,
    /// A lone `*`: any one segment.
    Any,
    Literal(String),
    /// Text with at least one in-segment `*`.
    Glob(Vec<Tok>),
}

/// One character of an in-segment glob. Names are ASCII, so bytes suffice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Tok {
    Byte(u8),
    Star,
}

impl Pattern {
    /// Checks `s` against the pattern syntax; the error names the pattern and
    /// what is wrong with it.
    pub fn parse(s: &str) -> Result<Pattern, Error> {
        let invalid = |reason: String| Error::InvalidPattern {
            pattern: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(invalid("a pattern cannot be empty; `**` matches everything".into()));
        }
        if s.len() > MAX_PATTERN_LEN {
            return Err(invalid(format!("longer than {MAX_PATTERN_LEN} characters")));
        }
        let segments = s.split('/').map(parse_segment).collect::<Result<Vec<_>, String>>();
        let segments = segments.map_err(invalid)?;
        if segments.len() > MAX_PATTERN_SEGMENTS {
            return Err(invalid(format!("more than {MAX_PATTERN_SEGMENTS} segments")));
        }
        let has_templates = segments.iter().any(|seg| match seg {
            Segment::AnyDepth => false,
            Segment::Pieces(pieces) => pieces.iter().any(|p| matches!(p, Piece::Template(_))),
        });
        let fixed = if has_templates {
            None
        } else {
            let no_caller = IdentityContext::default();
            let resolved: Option<Vec<Seg>> = segments.iter().map(|seg| resolve_segment(seg, &no_caller)).collect();
            Some(Resolved(resolved.expect("a pattern without templates always resolves")))
        };
        Ok(Pattern {
            source: s.to_owned(),
            segments,
            fixed,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern uses `{{identity...}}` templates.
    pub fn has_templates(&self) -> bool {
        self.fixed.is_none()
    }

    /// Whether the pattern, with templates filled in from `ctx`, matches the
    /// resource path `path` (`project/env/folders/key`, or a prefix of one).
    /// An invalid path matches nothing.
    pub fn matches(&self, ctx: &IdentityContext, path: &str) -> bool {
        match (self.resolve(ctx), resource_segments(path)) {
            (Some(resolved), Some(segments)) => resolved.matches(&segments),
            _ => false,
        }
    }

    /// Fills templates in from `ctx`. `None` when a value is missing or not a
    /// valid name segment: the pattern then matches nothing for this caller.
    pub(crate) fn resolve(&self, ctx: &IdentityContext) -> Option<Cow<'_, Resolved>> {
        if let Some(fixed) = &self.fixed {
            return Some(Cow::Borrowed(fixed));
        }
        let segments: Option<Vec<Seg>> = self.segments.iter().map(|seg| resolve_segment(seg, ctx)).collect();
        segments.map(|segments| Cow::Owned(Resolved(segments)))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Parses one segment; the error is the reason only (the caller names the pattern).
fn parse_segment(segment: &str) -> Result<Segment, String> {
    if segment.is_empty() {
        return Err("empty segment (`//`, or a leading or trailing `/`)".into());
    }
    if segment == "**" {
        return Ok(Segment::AnyDepth);
    }
    if segment.contains("***") {
        let within = if segment.bytes().all(|b| b == b'*') {
            String::new()
        } else {
            format!(" (in `{segment}`)")
        };
        return Err(format!(
            "`***`{within} is not pattern syntax: `*` is one segment (or characters inside one), `**` any number of segments"
        ));
    }
    if segment.contains("**") {
        return Err(format!(
            "`**` must be a whole segment (`a/**`), not part of `{segment}`; use `*` inside a segment"
        ));
    }
    let mut pieces = Vec::new();
    let mut literal_len = 0;
    let mut rest = segment;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{") {
            let end = after
                .find("}}")
                .ok_or_else(|| format!("`{{{{` without a closing `}}}}` in segment `{segment}`"))?;
            pieces.push(Piece::Template(parse_template(after[..end].trim())?));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('*') {
            pieces.push(Piece::Star);
            rest = after;
        } else {
            let end = rest.find(['*', '{']).unwrap_or(rest.len());
            let text = &rest[..end.max(1)];
            if let Some(bad) = text.chars().find(|c| !is_name_char(*c)) {
                return Err(format!(
                    "character {bad:?} in segment `{segment}` is not allowed; allowed are {PATTERN_CHARS}"
                ));
            }
            literal_len += text.len();
            pieces.push(Piece::Literal(text.to_owned()));
            rest = &rest[text.len()..];
        }
    }
    if literal_len > MAX_SEGMENT_LEN {
        return Err(format!(
            "segment `{segment}` is longer than {MAX_SEGMENT_LEN} characters"
        ));
    }
    if let [Piece::Literal(text)] = pieces.as_slice()
        && !is_name_segment(text)
    {
        return Err(format!("`{segment}` is not allowed as a segment"));
    }
    Ok(Segment::Pieces(pieces))
}

fn parse_template(inner: &str) -> Result<Template, String> {
    let unknown =
        || format!("unknown template `{{{{{inner}}}}}`; use {{{{identity.name}}}} or {{{{identity.metadata.KEY}}}}");
    if inner == "identity.name" {
        return Ok(Template::Name);
    }
    let key = inner.strip_prefix("identity.metadata.").ok_or_else(unknown)?;
    if key.is_empty() || !key.chars().all(is_name_char) {
        return Err(format!(
            "{}: metadata keys use letters, digits, '_', '-' and '.'",
            unknown()
        ));
    }
    Ok(Template::Metadata(key.to_owned()))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Turns a parsed segment into a matcher, filling templates in as literal
/// bytes. `None` when a template value is missing or not a valid name segment.
fn resolve_segment(segment: &Segment, ctx: &IdentityContext) -> Option<Seg> {
    let pieces = match segment {
        Segment::AnyDepth => return Some(Seg::AnyDepth),
        Segment::Pieces(pieces) => pieces,
    };
    let mut toks = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Literal(text) => toks.extend(text.bytes().map(Tok::Byte)),
            Piece::Star => toks.push(Tok::Star),
            Piece::Template(template) => {
                let value = template.value(ctx).filter(|v| is_name_segment(v))?;
                toks.extend(value.bytes().map(Tok::Byte));
            }
        }
    }
    Some(if toks == [Tok::Star] {
        Seg::Any
    } else if toks.contains(&Tok::Star) {
        Seg::Glob(toks)
    } else {
        let text = toks.iter().map(|t| match t {
            Tok::Byte(b) => char::from(*b),
            Tok::Star => unreachable!("checked above: no star"),
        });
        Seg::Literal(text.collect())
    })
}

impl Resolved {
    /// Whether this matches the (already validated) path segments.
    pub(crate) fn matches(&self, path: &[&str]) -> bool {
        wildcard_match(&self.0, path)
    }
}

/// A pattern element for the wildcard matchers: either a star (matches any
/// run of inputs, including none) or something that matches exactly one input.
pub(crate) trait Token {
    type Input: ?Sized;
    fn is_star(&self) -> bool;
    fn matches_one(&self, input: &Self::Input) -> bool;
}

impl Token for Seg {
    type Input = str;
    fn is_star(&self) -> bool {
        matches!(self, Seg::AnyDepth)
    }
    fn matches_one(&self, segment: &str) -> bool {
        match self {
            Seg::AnyDepth => false,
            Seg::Any => true,
            Seg::Literal(text) => text == segment,
            Seg::Glob(toks) => wildcard_match(toks, segment.as_bytes()),
        }
    }
}

impl Token for Tok {
    type Input = u8;
    fn is_star(&self) -> bool {
        *self == Tok::Star
    }
    fn matches_one(&self, byte: &u8) -> bool {
        *self == Tok::Byte(*byte)
    }
}

/// Classic wildcard matching: greedy, backtracking only to the last star.
/// Correct because every non-star token matches exactly one input, so the
/// leftmost place a run between two stars fits is always the best one.
/// Time O(pattern × input) at worst, no allocation.
pub(crate) fn wildcard_match<T, I>(pattern: &[T], input: &[I]) -> bool
where
    T: Token,
    I: std::borrow::Borrow<T::Input>,
{
    let (mut p, mut i) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while i < input.len() {
        if p < pattern.len() && pattern[p].is_star() {
            last_star = Some((p, i));
            p += 1;
        } else if p < pattern.len() && pattern[p].matches_one(input[i].borrow()) {
            p += 1;
            i += 1;
        } else if let Some((star, from)) = last_star {
            last_star = Some((star, from + 1));
            p = star + 1;
            i = from + 1;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(Token::is_star)
}

/// The same language as [`wildcard_match`], as a set of NFA positions:
/// `set[k]` means "the first `k` tokens have matched the input so far".
/// [`super::reach`] needs the set itself to explore inputs.
pub(crate) fn nfa_start<T: Token>(pattern: &[T]) -> Vec<bool> {
    let mut set = vec![false; pattern.len() + 1];
    set[0] = true;
    nfa_close(pattern, &mut set);
    set
}

/// The positions after consuming one more input.
pub(crate) fn nfa_step<T: Token>(pattern: &[T], set: &[bool], input: &T::Input) -> Vec<bool> {
    let mut next = vec![false; set.len()];
    for (k, token) in pattern.iter().enumerate() {
        if set[k] {
            if token.is_star() {
                next[k] = true;
            } else if token.matches_one(input) {
                next[k + 1] = true;
            }
        }
    }
    nfa_close(pattern, &mut next);
    next
}

/// Whether the positions include "whole pattern matched".
pub(crate) fn nfa_accepts(set: &[bool]) -> bool {
    set.last().copied().unwrap_or(false)
}

fn nfa_close<T: Token>(pattern: &[T], set: &mut [bool]) {
    for (k, token) in pattern.iter().enumerate() {
        if set[k] && token.is_star() {
            set[k + 1] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Whether `pattern` matches `path` for a caller named `alice` in team `payment`.
    fn check(pattern: &str, path: &str, expected: bool) {
        let ctx = IdentityContext::named("alice").with_metadata("team", "payment");
        let parsed = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        assert_eq!(
            parsed.matches(&ctx, path),
            expected,
            "pattern {pattern:?} on path {path:?}"
        );
        let segments = resource_segments(path).unwrap_or_default();
        if let Some(resolved) = parsed.resolve(&ctx) {
            let nfa = segments
                .iter()
                .fold(nfa_start(&resolved.0), |set, s| nfa_step(&resolved.0, &set, s));
            let nfa = nfa_accepts(&nfa) && !segments.is_empty();
            assert_eq!(nfa, expected, "NFA disagrees: pattern {pattern:?} on path {path:?}");
        }
    }

    fn check_error(pattern: &str, fragment: &str) {
        match Pattern::parse(pattern) {
            Ok(_) => panic!("{pattern:?} parsed, want an error containing {fragment:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(&format!("{pattern:?}")), "{msg} does not name the pattern");
                assert!(
                    msg.contains(fragment),
                    "{pattern:?}: {msg} does not contain {fragment:?}"
                );
            }
        }
    }

    #[test]
    fn literals() {
        check("payment/prod/DATABASE_URL", "payment/prod/DATABASE_URL", true);
        check("payment/prod/DATABASE_URL", "payment/prod/DATABASE_UR", false);
        check("payment/prod/DATABASE_URL", "payment/prod/DATABASE_URL/x", false);
        check("payment/prod/DATABASE_URL", "payment/prod", false);
        check("payment", "payment", true);
        check("payment", "Payment", false);
    }

    #[test]
    fn one_segment_star() {
        check("*/prod/KEY", "payment/prod/KEY", true);
        check("*/prod/KEY", "prod/KEY", false);
        check("*/prod/KEY", "a/b/prod/KEY", false);
        check("payment/*/stripe/*", "payment/prod/stripe/API_KEY", true);
        check("payment/*/stripe/*", "payment/prod/stripe/x/API_KEY", false);
        check("payment/*/stripe/*", "payment/prod/stripe", false);
        check("payment/*", "payment/prod", true);
        check("payment/*", "payment", false);
        check("*", "payment", true);
        check("*", "payment/prod", false);
    }

    #[test]
    fn any_depth_at_start_middle_end() {
        check("payment/prod/**", "payment/prod/KEY", true);
        check("payment/prod/**", "payment/prod/a/b/c/KEY", true);
        check("payment/prod/**", "payment/prod", true);
        check("payment/prod/**", "payment", false);
        check("payment/prod/**", "payment/dev/KEY", false);
        check("**/API_KEY", "payment/prod/stripe/API_KEY", true);
        check("**/API_KEY", "API_KEY", true);
        check("**/API_KEY", "payment/prod/API_KEY2", false);
        check("payment/**/API_KEY", "payment/API_KEY", true);
        check("payment/**/API_KEY", "payment/prod/stripe/API_KEY", true);
        check("payment/**/API_KEY", "shipping/prod/API_KEY", false);
        check("*/dev/**", "payment/dev/KEY", true);
        check("*/dev/**", "payment/dev", true);
        check("*/dev/**", "payment/prod/dev/KEY", false);
        check("**", "payment", true);
        check("**", "payment/prod/a/b", true);
        check("**/stripe/**", "payment/prod/stripe/API_KEY", true);
        check("**/stripe/**", "payment/prod/stripe", true);
        check("**/stripe/**", "payment/prod/stripe2/API_KEY", false);
        check("**/**", "a/b", true);
    }

    #[test]
    fn in_segment_globs() {
        check("payment/prod/API_*", "payment/prod/API_KEY", true);
        check("payment/prod/API_*", "payment/prod/API_", true);
        check("payment/prod/API_*", "payment/prod/X_API_KEY", false);
        check("payment/prod/API_*", "payment/prod/API_KEY/x", false);
        check("**/*_URL", "payment/prod/DATABASE_URL", true);
        check("**/*_URL", "payment/prod/DATABASE_URL_2", false);
        check("*/prod-*/*", "payment/prod-eu/KEY", true);
        check("*/prod-*/*", "payment/prod/KEY", false);
        check("**/a*b*c", "x/aXbYc", true);
        check("**/a*b*c", "x/abc", true);
        check("**/a*b*c", "x/acb", false);
        check("**/*.*", "x/a.b", true);
        check("**/*.*", "x/ab", false);
    }

    #[test]
    fn templates() {
        check("{{identity.name}}/**", "alice/dev/KEY", true);
        check("{{identity.name}}/**", "bob/dev/KEY", false);
        check("{{ identity.name }}/**", "alice/dev/KEY", true);
        check("{{identity.metadata.team}}/*/**", "payment/prod/KEY", true);
        check("{{identity.metadata.team}}/*/**", "shipping/prod/KEY", false);
        check("team-{{identity.metadata.team}}/**", "team-payment/dev/KEY", true);
        check("team-{{identity.metadata.team}}/**", "payment/dev/KEY", false);
        check("*/*/users/{{identity.name}}-*", "a/b/users/alice-token", true);
        check("*/*/users/{{identity.name}}-*", "a/b/users/alicetoken", false);
        check("{{identity.metadata.missing}}/**", "payment/dev/KEY", false);
        check("**/{{identity.metadata.missing}}", "payment/dev/KEY", false);
    }

    #[test]
    fn hostile_template_values_match_nothing() {
        let pattern = Pattern::parse("{{identity.metadata.team}}/**").unwrap();
        let pre = Pattern::parse("pre-{{identity.metadata.team}}/**").unwrap();
        for value in [
            "*",
            "**",
            "a/**",
            "a/b",
            "",
            " ",
            "a b",
            "..",
            ".",
            "{{identity.name}}",
            "x*",
            "é",
            "a\n",
        ] {
            let ctx = IdentityContext::named("alice").with_metadata("team", value);
            for path in ["a/b", "x/y/z", "a", "pre-a/b", "pre-x/KEY", "a/b/KEY"] {
                assert!(!pattern.matches(&ctx, path), "team={value:?} matched {path:?}");
                assert!(!pre.matches(&ctx, path), "team={value:?} matched {path:?}");
            }
        }
        let unnamed = IdentityContext::default();
        assert!(!Pattern::parse("{{identity.name}}").unwrap().matches(&unnamed, "a"));
    }

    #[test]
    fn invalid_paths_match_nothing() {
        check("**", "", false);
        check("**", "a//b", false);
        check("**", "a/../b", false);
        check("*", "*", false);
    }

    #[test]
    fn syntax_errors_name_the_pattern_and_problem() {
        check_error("", "empty");
        check_error("a//b", "empty segment");
        check_error("/a", "empty segment");
        check_error("a/", "empty segment");
        check_error("a/***", "`***`");
        check_error("a/****/b", "`***`");
        check_error("a**/b", "`**` must be a whole segment");
        check_error("a/**b", "`**` must be a whole segment");
        check_error("a/b c", "character ' '");
        check_error("a/b?", "character '?'");
        check_error("a/{b}", "character '{'");
        check_error("a/b}}", "character '}'");
        check_error("a/é", "character 'é'");
        check_error("a/..", "`..` is not allowed");
        check_error("./a", "`.` is not allowed");
        check_error("{{identity.name}", "without a closing");
        check_error("{{identity.email}}/**", "unknown template");
        check_error("{{identity.metadata.}}/**", "unknown template");
        check_error("{{identity.metadata.a b}}/**", "metadata keys use");
        check_error("{{name}}/**", "unknown template");
        check_error(&"x".repeat(65), "longer than 64");
        check_error(&format!("{}*", "x".repeat(65)), "longer than 64");
        check_error(&["a"; MAX_PATTERN_SEGMENTS + 1].join("/"), "more than 32 segments");
        check_error(&"a/".repeat(600), "longer than 1024");
    }

    #[test]
    fn valid_odd_patterns_parse() {
        for ok in [
            "**",
            "*",
            "**/**",
            "a.b/*.*",
            ".*",
            "..a",
            "{{identity.name}}{{identity.name}}",
            "*{{identity.name}}*",
        ] {
            assert!(Pattern::parse(ok).is_ok(), "{ok}");
        }
        assert!(!Pattern::parse("a/**").unwrap().has_templates());
        assert!(Pattern::parse("{{identity.name}}").unwrap().has_templates());
    }

    fn segment() -> impl Strategy<Value = String> {
        "[a-c]{1,3}"
    }

    fn path(max: usize) -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(segment(), 1..=max)
    }

    proptest! {
        #[test]
        fn any_depth_matches_every_suffix(prefix in path(4), suffix in proptest::collection::vec(segment(), 0..5)) {
            let ctx = IdentityContext::default();
            let pattern = Pattern::parse(&format!("{}/**", prefix.join("/"))).unwrap();
            let full = [prefix.clone(), suffix].concat().join("/");
            prop_assert!(pattern.matches(&ctx, &full));
            let tail = prefix.join("/");
            let leading = Pattern::parse(&format!("**/{tail}")).unwrap();
            prop_assert_eq!(leading.matches(&ctx, &full), full == tail || full.ends_with(&format!("/{tail}")));
        }

        #[test]
        fn star_matches_exactly_one_segment(stars in 1usize..5, p in path(6)) {
            let pattern = Pattern::parse(&vec!["*"; stars].join("/")).unwrap();
            prop_assert_eq!(pattern.matches(&IdentityContext::default(), &p.join("/")), p.len() == stars);
        }

        #[test]
        fn a_literal_pattern_matches_only_itself(lit in path(4), p in path(4)) {
            let pattern = Pattern::parse(&lit.join("/")).unwrap();
            prop_assert_eq!(pattern.matches(&IdentityContext::default(), &p.join("/")), lit == p);
        }

        #[test]
        fn greedy_matcher_agrees_with_nfa(
            pattern in proptest::collection::vec(prop_oneof!["\\*\\*", "\\*", "a\\*", "\\*b", "a\\*b", "[a-c]{1,2}"], 1..5),
            p in path(5),
        ) {
            let parsed = Pattern::parse(&pattern.join("/")).unwrap();
            let resolved = parsed.resolve(&IdentityContext::default()).unwrap();
            let segments: Vec<&str> = p.iter().map(String::as_str).collect();
            let nfa = segments.iter().fold(nfa_start(&resolved.0), |set, s| nfa_step(&resolved.0, &set, s));
            prop_assert_eq!(resolved.matches(&segments), nfa_accepts(&nfa));
        }

        #[test]
        fn hostile_metadata_never_matches_more_than_the_literal(
            value in prop_oneof![
                "[a-c]{1,3}",
                Just("*".to_owned()), Just("**".to_owned()), Just("a/**".to_owned()), Just("*/*".to_owned()),
                Just("..".to_owned()), Just("".to_owned()), Just("a b".to_owned()), Just("{{identity.name}}".to_owned()),
                ".{0,6}",
            ],
            shape in prop_oneof![Just("{{identity.metadata.team}}/**"), Just("*/{{identity.metadata.team}}-*"), Just("**/x{{identity.metadata.team}}")],
            p in path(4),
        ) {
            let ctx = IdentityContext::named("n").with_metadata("team", value.clone());
            let templated = Pattern::parse(shape).unwrap();
            let path = p.join("/");
            if templated.matches(&ctx, &path) {
                prop_assert!(is_name_segment(&value), "invalid value {value:?} matched {path:?}");
                // The value, written in literally, is a pattern that matches the same path.
                let literal = Pattern::parse(&shape.replace("{{identity.metadata.team}}", &value)).unwrap();
                prop_assert!(!literal.has_templates());
                prop_assert!(literal.matches(&ctx, &path));
                // And the text the value stood for appears literally in the path.
                prop_assert!(path.contains(&value));
            }
        }
    }
}
