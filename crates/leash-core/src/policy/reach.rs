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

use std::collections::{BTreeMap, HashSet, VecDeque};

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
    if prefix.len() > max_segments {
        return false;
    }
    // Run every pattern over the prefix and keep those that can still match.
    let allow: Vec<_> = allow.iter().filter_map(|p| after_prefix(p, prefix)).collect();
    let n_allow = allow.len();
    if n_allow == 0 {
        return false;
    }
    let deny = deny.iter().filter_map(|p| after_prefix(p, prefix));
    let (patterns, state): (Vec<&[Seg]>, State) = allow.into_iter().chain(deny).unzip();
    let advance = |state: &State, segment: &str| -> State {
        patterns
            .iter()
            .zip(state)
            .map(|(p, set)| nfa_step(p, set, segment))
            .collect()
    };
    let alive = |state: &State| state[..n_allow].iter().any(|set| set.contains(&true));
    let accepting = |state: &State| {
        state[..n_allow].iter().any(|set| nfa_accepts(set)) && !state[n_allow..].iter().any(|set| nfa_accepts(set))
    };
    if !prefix.is_empty() && accepting(&state) {
        return true;
    }
    // Only segments at or after a pattern's earliest live position are still asked about.
    let pending: Vec<&[Seg]> = patterns
        .iter()
        .zip(&state)
        .map(|(p, set)| &p[set.iter().position(|live| *live).unwrap_or(p.len())..])
        .collect();
    let Some(witnesses) = witness_segments(&pending) else {
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

/// A pattern's segments and its NFA positions after `prefix`, if any are left.
fn after_prefix<'p>(pattern: &'p Resolved, prefix: &[&str]) -> Option<(&'p [Seg], Vec<bool>)> {
    let segments = pattern.0.as_slice();
    let set = prefix
        .iter()
        .fold(nfa_start(segments), |set, s| nfa_step(segments, &set, s));
    set.contains(&true).then_some((segments, set))
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

/// The literal segments as a trie, so that many literals cost one state.
struct Trie {
    children: Vec<BTreeMap<u8, usize>>,
    /// Which literal ends at a node.
    word: Vec<Option<usize>>,
}

impl Trie {
    fn new(words: &[&str]) -> Trie {
        let mut trie = Trie {
            children: vec![BTreeMap::new()],
            word: vec![None],
        };
        for (id, word) in words.iter().enumerate() {
            let mut node = 0;
            for byte in word.bytes() {
                node = match trie.children[node].get(&byte) {
                    Some(&child) => child,
                    None => {
                        trie.children.push(BTreeMap::new());
                        trie.word.push(None);
                        let child = trie.children.len() - 1;
                        trie.children[node].insert(byte, child);
                        child
                    }
                };
            }
            trie.word[node] = Some(id);
        }
        trie
    }
}

/// Where the character search stands: the trie node (`None` once off every
/// literal), each glob's NFA positions, and the shape of the text.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Position {
    node: Option<usize>,
    globs: State,
    shape: Shape,
}

/// Valid segments, one for each combination of answers to "does it match
/// this segment matcher?" over all matchers in `patterns` that some valid
/// segment gives. `None` when the search hits [`MAX_STATES`].
pub(crate) fn witness_segments(patterns: &[&[Seg]]) -> Option<Vec<String>> {
    let mut literals: Vec<&str> = Vec::new();
    let mut globs: Vec<&[Tok]> = Vec::new();
    for seg in patterns.iter().flat_map(|p| p.iter()) {
        match seg {
            Seg::AnyDepth | Seg::Any => {}
            Seg::Literal(text) if !literals.contains(&text.as_str()) => literals.push(text),
            Seg::Glob(toks) if !globs.contains(&toks.as_slice()) => globs.push(toks),
            Seg::Literal(_) | Seg::Glob(_) => {}
        }
    }
    let trie = Trie::new(&literals);
    // Characters nothing mentions all behave alike, so one of them stands for all.
    let mut alphabet: Vec<u8> = literals.iter().flat_map(|l| l.bytes()).collect();
    alphabet.extend(globs.iter().flat_map(|g| g.iter()).filter_map(|t| match t {
        Tok::Byte(b) => Some(*b),
        Tok::Star => None,
    }));
    alphabet.sort_unstable();
    alphabet.dedup();
    if let Some(fresh) = FRESH_CANDIDATES.iter().find(|b| !alphabet.contains(b)) {
        alphabet.push(*fresh);
    }

    let start = Position {
        node: Some(0),
        globs: globs.iter().map(|g| nfa_start(g)).collect(),
        shape: Shape::Empty,
    };
    let mut seen = HashSet::from([start.clone()]);
    let mut queue = VecDeque::from([(start, String::new())]);
    let mut answers_seen = HashSet::new();
    let mut witnesses = Vec::new();
    while let Some((at, text)) = queue.pop_front() {
        if at.shape == Shape::Other {
            let literal = at.node.and_then(|n| trie.word[n]);
            let answers: Vec<bool> = at.globs.iter().map(|set| nfa_accepts(set)).collect();
            if answers_seen.insert((literal, answers)) {
                witnesses.push(text.clone());
            }
        }
        if text.len() >= MAX_SEGMENT_LEN {
            continue;
        }
        for &byte in &alphabet {
            let next = Position {
                node: at.node.and_then(|n| trie.children[n].get(&byte).copied()),
                globs: globs
                    .iter()
                    .zip(&at.globs)
                    .map(|(g, set)| nfa_step(g, set, &byte))
                    .collect(),
                shape: match (at.shape, byte) {
                    (Shape::Empty, b'.') => Shape::Dot,
                    (Shape::Dot, b'.') => Shape::DotDot,
                    _ => Shape::Other,
                },
            };
            if seen.len() >= MAX_STATES {
                return None;
            }
            if seen.insert(next.clone()) {
                let mut text = text.clone();
                text.push(char::from(byte));
                queue.push_back((next, text));
            }
        }
    }
    Some(witnesses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::pattern::Token;
    use crate::policy::{IdentityContext, Pattern};

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
        assert!(
            w.iter().any(|s| !["payment", "prod", "shipping"].contains(&s.as_str())),
            "{w:?}"
        );
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

    fn glob(text: &str) -> Vec<Tok> {
        text.bytes()
            .map(|b| if b == b'*' { Tok::Star } else { Tok::Byte(b) })
            .collect()
    }

    proptest::proptest! {
        /// Every combination of answers that some short valid segment gives
        /// is among the witnesses, and every witness is a valid segment that
        /// really gives its combination.
        #[test]
        fn witnesses_agree_with_brute_force(texts in proptest::collection::vec("[a.*]{1,4}", 1..4)) {
            let globs: Vec<Vec<Seg>> = texts.iter().map(|t| vec![Seg::Glob(glob(t))]).collect();
            let patterns: Vec<&[Seg]> = globs.iter().map(Vec::as_slice).collect();
            let answers = |s: &str| -> Vec<bool> { globs.iter().map(|g| g[0].matches_one(s)).collect() };
            let witnesses = witness_segments(&patterns).unwrap();
            let found: HashSet<Vec<bool>> = witnesses.iter().map(|w| answers(w)).collect();
            proptest::prop_assert_eq!(found.len(), witnesses.len(), "one witness per combination");
            for w in &witnesses {
                proptest::prop_assert!(crate::policy::is_name_segment(w), "{:?}", w);
            }
            let mut layer = vec![String::new()];
            for _ in 0..5 {
                layer = layer.iter().flat_map(|s| ["a", ".", "c"].map(|c| format!("{s}{c}"))).collect();
                for s in layer.iter().filter(|s| crate::policy::is_name_segment(s)) {
                    proptest::prop_assert!(found.contains(&answers(s)), "{:?} answers {:?}, no witness in {:?}", s, answers(s), witnesses);
                }
            }
        }
    }

    #[test]
    fn too_long_literals_have_no_witness() {
        let resolved = Resolved(vec![Seg::Glob(glob(&format!("{}*", "x".repeat(MAX_SEGMENT_LEN + 1))))]);
        let w = witness_segments(&[resolved.0.as_slice()]).unwrap();
        assert_eq!(w.len(), 1, "only \"does not match\" is possible: {w:?}");
    }
}
