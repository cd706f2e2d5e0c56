//! The listing search: is some allowed path equal to or under a prefix?
//!
//! It owns the exact answer behind [`super::PolicySet::may_access_under`].
//! Every pattern is a small automaton over segments (its NFA positions, see
//! [`super::pattern::nfa_step`]); the search runs all allow and deny automata
//! side by side from the prefix and looks, breadth first, for a path on which
//! some allow pattern ends in a match and no deny pattern does.
//!
//! Segments are infinitely many, but the automata only ask each segment a
//! finite set of questions (equal to this literal? does it fit this glob?),
//! so it is enough to try one segment per combination of answers that a
//! valid segment can give. [`witness_segments`] finds one for every
//! combination with the same kind of search over characters. Both searches
//! visit each state once, so they end; both stop at [`MAX_STATES`] states,
//! which realistic policies are far below, and then answer "nothing found".
//!
//! It must never answer yes without having found a concrete allowed path.

use std::collections::{HashSet, VecDeque};

use super::pattern::{Resolved, Seg, Tok, nfa_accepts, nfa_start, nfa_step};
use crate::names::MAX_SEGMENT_LEN;

/// Bound on the states one search may visit.
pub(crate) const MAX_STATES: usize = 20_000;

/// Characters tried as "some character no pattern mentions" (never `.`,
/// which matters for the `.`/`..` rule).
const FRESH_CANDIDATES: &[u8] = b"xyzqjkwvabcdefghilmnoprstuABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

/// NFA positions of every pattern, allow patterns first.
type State = Vec<Vec<bool>>;

/// Whether some path `prefix/…` (the prefix itself included, when not
/// empty) of at most `max_segments` valid segments is matched by an `allow`
/// pattern and by no `deny` pattern.
pub(crate) fn reachable(prefix: &[&str], allow: &[&Resolved], deny: &[&Resolved], max_segments: usize) -> bool {
    if allow.is_empty() || prefix.len() > max_segments {
        return false;
    }
    let patterns: Vec<&[Seg]> = allow.iter().chain(deny).map(|r| r.0.as_slice()).collect();
    let advance = |state: &State, segment: &str| -> State {
        patterns.iter().zip(state).map(|(p, set)| nfa_step(p, set, segment)).collect()
    };
    let n_allow = allow.len();
    let alive = |state: &State| state[..n_allow].iter().any(|set| set.contains(&true));
    let accepting = |state: &State| {
        state[..n_allow].iter().any(|set| nfa_accepts(set)) && !state[n_allow..].iter().any(|set| nfa_accepts(set))
    };

    let mut state: State = patterns.iter().map(|p| nfa_start(p)).collect();
    for segment in prefix {
        state = advance(&state, segment);
    }
    if !prefix.is_empty() && accepting(&state) {
        return true;
    }
    if !alive(&state) {
        return false;
    }
    let Some(witnesses) = witness_segments(&patterns) else {
        return false;
    };
    let mut seen = HashSet::from([state.clone()]);
    let mut queue = VecDeque::from([(state, prefix.len())]);
    while let Some((state, depth)) = queue.pop_front() {
        if depth >= max_segments {
            continue;
        }
        for witness in &witnesses {
            let next = advance(&state, witness);
            if !alive(&next) {
                continue;
            }
            if accepting(&next) {
                return true;
            }
            if seen.len() >= MAX_STATES {
                return false;
            }
            if seen.insert(next.clone()) {
                queue.push_back((next, depth + 1));
            }
        }
    }
    false
}

/// What the characters so far look like: only `Other` is a valid segment
/// (empty, `.` and `..` are not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Shape {
    Empty,
    Dot,
    DotDot,
    Other,
}

/// Valid segments, one for each combination of answers to "does it match
/// this segment matcher?" over all matchers in `patterns` that some valid
/// segment gives. `None` when the search hits [`MAX_STATES`].
pub(crate) fn witness_segments(patterns: &[&[Seg]]) -> Option<Vec<String>> {
    let mut globs: Vec<Vec<Tok>> = Vec::new();
    for seg in patterns.iter().flat_map(|p| p.iter()) {
        let toks = match seg {
            Seg::AnyDepth | Seg::Any => continue,
            Seg::Literal(text) => text.bytes().map(Tok::Byte).collect(),
            Seg::Glob(toks) => toks.clone(),
        };
        if !globs.contains(&toks) {
            globs.push(toks);
        }
    }
    // Characters no glob mentions all behave alike, so one of them stands for all.
    let mut alphabet: Vec<u8> = globs
        .iter()
        .flatten()
        .filter_map(|t| match t {
            Tok::Byte(b) => Some(*b),
            Tok::Star => None,
        })
        .collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    if let Some(fresh) = FRESH_CANDIDATES.iter().find(|b| !alphabet.contains(b)) {
        alphabet.push(*fresh);
    }

    let start: State = globs.iter().map(|g| nfa_start(g)).collect();
    let mut seen = HashSet::from([(start.clone(), Shape::Empty)]);
    let mut queue = VecDeque::from([(start, Shape::Empty, String::new())]);
    let mut answers_seen = HashSet::new();
    let mut witnesses = Vec::new();
    while let Some((sets, shape, text)) = queue.pop_front() {
        if shape == Shape::Other {
            let answers: Vec<bool> = sets.iter().map(|set| nfa_accepts(set)).collect();
            if answers_seen.insert(answers) {
                witnesses.push(text.clone());
            }
        }
        if text.len() >= MAX_SEGMENT_LEN {
            continue;
        }
        for &byte in &alphabet {
            let next: State = globs.iter().zip(&sets).map(|(g, set)| nfa_step(g, set, &byte)).collect();
            let shape = match (shape, byte) {
                (Shape::Empty, b'.') => Shape::Dot,
                (Shape::Dot, b'.') => Shape::DotDot,
                _ => Shape::Other,
            };
            if seen.len() >= MAX_STATES {
                return None;
            }
            if seen.insert((next.clone(), shape)) {
                let mut text = text.clone();
                text.push(char::from(byte));
                queue.push_back((next, shape, text));
            }
        }
    }
    Some(witnesses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Pattern;
    use crate::policy::IdentityContext;

    fn witnesses_for(patterns: &[&str]) -> Vec<String> {
        let ctx = IdentityContext::default();
        let parsed: Vec<Pattern> = patterns.iter().map(|p| Pattern::parse(p).unwrap()).collect();
        let resolved: Vec<_> = parsed.iter().map(|p| p.resolve(&ctx).unwrap().into_owned()).collect();
        let segs: Vec<&[Seg]> = resolved.iter().map(|r| r.0.as_slice()).collect();
        witness_segments(&segs).unwrap()
    }

    #[test]
    fn witnesses_cover_every_combination() {
        // Literals: each literal, plus something else.
        let w = witnesses_for(&["payment/prod/**", "shipping/*"]);
        for needed in ["payment", "prod", "shipping"] {
            assert!(w.iter().any(|s| s == needed), "{w:?} lacks {needed}");
        }
        assert!(w.iter().any(|s| !["payment", "prod", "shipping"].contains(&s.as_str())), "{w:?}");
        // Globs: API_*, *_URL, both, neither.
        let w = witnesses_for(&["API_*", "*_URL"]);
        let kinds: HashSet<(bool, bool)> = w.iter().map(|s| (s.starts_with("API_"), s.ends_with("_URL"))).collect();
        assert_eq!(kinds.len(), 4, "{w:?}");
        assert!(w.iter().all(|s| s.len() <= 8), "shortest witnesses: {w:?}");
    }

    #[test]
    fn witnesses_are_valid_segments() {
        let w = witnesses_for(&[".*", "*.", "..*", "a"]);
        assert!(w.iter().all(|s| crate::policy::is_name_segment(s)), "{w:?}");
        // `.*` and `*.` both hold for `...`-like names but never for `.` or `..`.
        assert!(w.iter().any(|s| s.starts_with('.') && s.ends_with('.')), "{w:?}");
    }

    #[test]
    fn too_long_literals_have_no_witness() {
        let long = format!("{}*", "x".repeat(MAX_SEGMENT_LEN + 1));
        let resolved = Resolved(vec![Seg::Glob(long.bytes().map(|b| if b == b'*' { Tok::Star } else { Tok::Byte(b) }).collect())]);
        let w = witness_segments(&[resolved.0.as_slice()]).unwrap();
        assert_eq!(w.len(), 1, "only \"does not match\" is possible: {w:?}");
    }
}
