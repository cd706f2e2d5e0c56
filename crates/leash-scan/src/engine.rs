//! The scanning pipeline: bytes in, [`Finding`]s out.
//!
//! For one fragment of text (a file, a chunk of a huge file, the lines a
//! commit added to one file) the [`Scanner`]:
//! 1. skips paths on an allowlist;
//! 2. runs one Aho-Corasick pass over the text with every rule's keywords
//!    (ASCII case-insensitive) to pick the rules worth running;
//! 3. runs each picked rule's regex and takes the secret group;
//! 4. drops a candidate whose validator says its checksum is wrong, marks it
//!    verified when the checksum holds, and otherwise applies the entropy
//!    threshold, the placeholder filter, the rule's heuristic and allowlists;
//! 5. drops candidates on a line with `leash:allow` or `gitleaks:allow`;
//! 6. decodes base64 and percent-encoded blobs and scans them too, to a bounded depth;
//! 7. looks for known-secret fingerprints when a set is loaded.
//!
//! The scanner is immutable and `Sync`: one is shared by every worker thread.
//! It holds found secrets only inside the returned findings and never prints.

use std::fmt;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::decode;
use crate::filter::{self, Allowlist, Candidate};
use crate::known::KnownSecrets;
use crate::rules::{Heuristic, Rule, Severity};
use crate::validate::Check;

/// Where a fragment of text came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The file path (`-` for standard input), relative to the scan root where possible.
    pub path: String,
    pub commit: Option<Commit>,
}

/// The commit that added a fragment (git history scans).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    pub author: String,
    pub email: String,
    pub date: String,
    pub message: String,
}

/// One found secret.
#[derive(Clone)]
pub struct Finding {
    pub rule_id: String,
    pub description: String,
    pub severity: Severity,
    pub path: String,
    /// 1-based line of the secret's first byte.
    pub line: usize,
    /// 1-based byte column of the secret's first byte.
    pub column: usize,
    /// 1-based byte column just past the secret's last byte on its first line.
    pub end_column: usize,
    /// The secret itself. Only [`crate::report`] renders it, redacted by default.
    pub secret: String,
    pub entropy: f64,
    /// The secret passed an offline checksum or structure check.
    pub verified: bool,
    /// How the secret was hidden, when it was found inside a decoded blob (`base64`, `percent`).
    pub decoded: Option<&'static str>,
    pub commit: Option<Commit>,
}

impl fmt::Debug for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finding")
            .field("rule_id", &self.rule_id)
            .field("path", &self.path)
            .field("line", &self.line)
            .field("secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Finding {
    /// The gitleaks-compatible fingerprint: `[commit:]path:rule:line`.
    pub fn fingerprint(&self) -> String {
        match &self.commit {
            Some(c) => format!("{}:{}:{}:{}", c.id, self.path, self.rule_id, self.line),
            None => format!("{}:{}:{}", self.path, self.rule_id, self.line),
        }
    }
}

/// Builds a [`Scanner`].
pub struct ScannerBuilder {
    rules: Vec<Rule>,
    allowlists: Vec<Allowlist>,
    decode_depth: usize,
    known: Option<KnownSecrets>,
}

impl Default for ScannerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ScannerBuilder {
    /// Starts from the built-in rules and the default path allowlist.
    pub fn new() -> Self {
        Self {
            rules: crate::rules::builtin(),
            allowlists: vec![Allowlist {
                paths: filter::default_path_allowlist(),
                ..Allowlist::default()
            }],
            decode_depth: 2,
            known: None,
        }
    }

    /// Replaces the rule set (a gitleaks config without `useDefault`).
    pub fn rules(mut self, rules: Vec<Rule>) -> Self {
        self.rules = rules;
        self
    }

    /// Mutable access to the rule set.
    pub fn rules_mut(&mut self) -> &mut Vec<Rule> {
        &mut self.rules
    }

    /// Adds a global allowlist.
    pub fn allowlist(mut self, allowlist: Allowlist) -> Self {
        self.allowlists.push(allowlist);
        self
    }

    /// How many nested layers of base64/percent-encoding to look through (0: none).
    pub fn decode_depth(mut self, depth: usize) -> Self {
        self.decode_depth = depth;
        self
    }

    /// Adds known-secret fingerprints.
    pub fn known(mut self, known: KnownSecrets) -> Self {
        self.known = Some(known);
        self
    }

    pub fn build(self) -> Scanner {
        let mut patterns: Vec<String> = Vec::new();
        let mut pattern_rules: Vec<Vec<usize>> = Vec::new();
        let mut unconditional = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.keywords.is_empty() {
                unconditional.push(i);
            }
            for kw in &rule.keywords {
                match patterns.iter().position(|p| p == kw) {
                    Some(p) => pattern_rules[p].push(i),
                    None => {
                        patterns.push(kw.clone());
                        pattern_rules.push(vec![i]);
                    }
                }
            }
        }
        let prefilter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .expect("keyword literals always build an automaton");
        Scanner {
            rules: self.rules,
            prefilter,
            pattern_rules,
            unconditional,
            allowlists: self.allowlists,
            decode_depth: self.decode_depth,
            known: self.known,
        }
    }
}

/// The compiled rule set with its prefilter. Build once, share across threads.
pub struct Scanner {
    rules: Vec<Rule>,
    prefilter: AhoCorasick,
    pattern_rules: Vec<Vec<usize>>,
    unconditional: Vec<usize>,
    allowlists: Vec<Allowlist>,
    decode_depth: usize,
    known: Option<KnownSecrets>,
}

/// Byte offsets of line starts, built only when a fragment has a candidate.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &[u8]) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text).map(|i| i + 1));
        Self { starts }
    }
    /// 0-based line index and its byte range (without the newline).
    fn locate(&self, text: &[u8], offset: usize) -> (usize, usize, usize) {
        let idx = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[idx];
        let end = self.starts.get(idx + 1).map_or(text.len(), |&s| s - 1);
        (idx, start, end)
    }
}

fn inline_allowed(line: &[u8]) -> bool {
    memchr::memmem::find(line, b"leash:allow").is_some() || memchr::memmem::find(line, b"gitleaks:allow").is_some()
}

impl Scanner {
    /// The rules in use.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether a path is allowlisted as a whole (skip reading it).
    pub fn path_allowed(&self, path: &str) -> bool {
        self.allowlists.iter().any(|a| a.allows_path(path))
    }

    /// Scans one fragment. Line numbers in the findings count from `first_line` (1 for a whole file).
    pub fn scan(&self, origin: &Origin, text: &[u8], first_line: usize) -> Vec<Finding> {
        if self.path_allowed(&origin.path) {
            return Vec::new();
        }
        let mut out = Vec::new();
        self.scan_into(origin, text, first_line, self.decode_depth, None, &mut out);
        if let Some(known) = &self.known {
            self.scan_known(known, origin, text, first_line, &mut out);
        }
        dedup(&mut out);
        out
    }

    fn scan_into(
        &self,
        origin: &Origin,
        text: &[u8],
        first_line: usize,
        depth: usize,
        decoded: Option<(&'static str, usize, usize)>,
        out: &mut Vec<Finding>,
    ) {
        let mut picked = vec![false; self.rules.len()];
        for &i in &self.unconditional {
            picked[i] = true;
        }
        let mut any = !self.unconditional.is_empty();
        for m in self.prefilter.find_overlapping_iter(text) {
            for &i in &self.pattern_rules[m.pattern().as_usize()] {
                picked[i] = true;
                any = true;
            }
        }
        let mut lines: Option<Lines> = None;
        // Spans a validator proved not to be a credential: generic rules must not report them either.
        let mut rejected: Vec<(usize, usize)> = Vec::new();
        if any {
            let order = self
                .rules
                .iter()
                .enumerate()
                .filter(|(i, _)| picked[*i])
                .filter(|(_, r)| !is_generic(&r.id))
                .chain(
                    self.rules
                        .iter()
                        .enumerate()
                        .filter(|(i, r)| picked[*i] && is_generic(&r.id)),
                );
            for (_, rule) in order {
                if let Some(path_re) = &rule.path
                    && !path_re.is_match(&origin.path)
                {
                    continue;
                }
                let Some(re) = rule.regex() else {
                    // A path-only rule: the file itself is the finding.
                    if rule.path.is_some() && decoded.is_none() {
                        out.push(self.finding(rule, origin, first_line, 1, 1, String::new(), false, None));
                    }
                    continue;
                };
                for caps in re.captures_iter(text) {
                    let whole = caps.get(0).expect("group 0 always exists");
                    let group = match rule.secret_group {
                        Some(g) => caps.get(g),
                        // The first group that took part (alternatives such as quoted or bare values).
                        None if caps.len() > 1 => caps.iter().skip(1).flatten().next(),
                        None => Some(whole),
                    };
                    let Some(group) = group else { continue };
                    let secret = group.as_bytes();
                    if secret.is_empty() {
                        continue;
                    }
                    if is_generic(&rule.id) && rejected.iter().any(|&(s, e)| s < group.end() && group.start() < e) {
                        continue;
                    }
                    let verified = match rule.validator.map(|v| v.check(&String::from_utf8_lossy(secret))) {
                        Some(Check::Invalid) => {
                            rejected.push((group.start(), group.end()));
                            continue;
                        }
                        Some(Check::Valid) => true,
                        Some(Check::Unknown) | None => false,
                    };
                    let ent = filter::entropy(secret);
                    if !verified && (rule.entropy.is_some_and(|min| ent < min) || filter::is_placeholder(secret)) {
                        continue;
                    }
                    if crate::context::is_published_example(secret) {
                        continue;
                    }
                    let lines = lines.get_or_insert_with(|| Lines::new(text));
                    let (line_idx, line_start, line_end) = lines.locate(text, group.start());
                    let line_text = &text[line_start..line_end];
                    if !verified && rule.heuristic != Heuristic::None {
                        let around_start = lines.starts[line_idx.saturating_sub(1)];
                        let around_end = lines.starts.get(line_idx + 2).map_or(text.len(), |&s| s - 1);
                        let ctx = crate::context::Context {
                            path: &origin.path,
                            matched: whole.as_bytes(),
                            secret_start: group.start() - whole.start(),
                            around: &text[around_start..around_end.max(around_start)],
                        };
                        if !filter::heuristic_ok(rule.heuristic, secret, &ctx) {
                            continue;
                        }
                    }
                    if decoded.is_none() && inline_allowed(line_text) {
                        continue;
                    }
                    let candidate = Candidate {
                        path: &origin.path,
                        commit: origin.commit.as_ref().map(|c| c.id.as_str()),
                        secret,
                        matched: whole.as_bytes(),
                        line: line_text,
                    };
                    if rule.allowlist.allows(&candidate) || self.allowlists.iter().any(|a| a.allows(&candidate)) {
                        continue;
                    }
                    let column = group.start() - line_start + 1;
                    let (line, column, end_column, via) = match decoded {
                        // Inside a decoded blob: report the blob's own position.
                        Some((how, blob_line, blob_col)) => (blob_line, blob_col, blob_col + 1, Some(how)),
                        None => {
                            let end = column + secret.len().min(line_end.saturating_sub(group.start()));
                            (first_line + line_idx, column, end, None)
                        }
                    };
                    let mut f = self.finding(
                        rule,
                        origin,
                        line,
                        column,
                        end_column,
                        String::from_utf8_lossy(secret).into_owned(),
                        verified,
                        via,
                    );
                    f.entropy = ent;
                    out.push(f);
                }
            }
        }
        if depth > 0 {
            for blob in decode::blobs(text) {
                let lines = lines.get_or_insert_with(|| Lines::new(text));
                let (line_idx, line_start, line_end) = lines.locate(text, blob.start);
                if decoded.is_none() && inline_allowed(&text[line_start..line_end]) {
                    continue;
                }
                let position = match decoded {
                    Some((_, l, c)) => (blob.how, l, c),
                    None => (blob.how, first_line + line_idx, blob.start - line_start + 1),
                };
                self.scan_into(origin, &blob.bytes, 1, depth - 1, Some(position), out);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        rule: &Rule,
        origin: &Origin,
        line: usize,
        column: usize,
        end_column: usize,
        secret: String,
        verified: bool,
        decoded: Option<&'static str>,
    ) -> Finding {
        Finding {
            rule_id: rule.id.clone(),
            description: rule.description.clone(),
            severity: rule.severity,
            path: origin.path.clone(),
            line,
            column,
            end_column,
            secret,
            entropy: 0.0,
            verified,
            decoded,
            commit: origin.commit.clone(),
        }
    }

    fn scan_known(
        &self,
        known: &KnownSecrets,
        origin: &Origin,
        text: &[u8],
        first_line: usize,
        out: &mut Vec<Finding>,
    ) {
        let hits = known.find(text);
        if hits.is_empty() {
            return;
        }
        let lines = Lines::new(text);
        for (start, end) in hits {
            let (line_idx, line_start, line_end) = lines.locate(text, start);
            if inline_allowed(&text[line_start..line_end]) {
                continue;
            }
            let secret = &text[start..end];
            out.push(Finding {
                rule_id: crate::known::RULE_ID.to_owned(),
                description: "The current or a previous value of a secret stored in Leash".to_owned(),
                severity: Severity::Critical,
                path: origin.path.clone(),
                line: first_line + line_idx,
                column: start - line_start + 1,
                end_column: end.min(line_end) - line_start + 1,
                secret: String::from_utf8_lossy(secret).into_owned(),
                entropy: filter::entropy(secret),
                verified: true,
                decoded: None,
                commit: origin.commit.clone(),
            });
        }
    }
}

/// Removes duplicates (same rule, line and secret) and generic findings
/// that a specific rule already reported on the same line and secret span.
fn dedup(out: &mut Vec<Finding>) {
    if out.len() < 2 {
        return;
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|f| seen.insert((f.rule_id.clone(), f.line, f.column, f.secret.clone())));
    let specific: Vec<(usize, String)> = out
        .iter()
        .filter(|f| !is_generic(&f.rule_id))
        .map(|f| (f.line, f.secret.clone()))
        .collect();
    out.retain(|f| {
        !is_generic(&f.rule_id)
            || !specific
                .iter()
                .any(|(line, s)| *line == f.line && (s.contains(&f.secret) || f.secret.contains(s.as_str())))
    });
    // Two generic rules on one span (a password that is also a high-entropy value): report it once.
    let mut generic_spans: Vec<(usize, usize, usize)> = Vec::new();
    out.retain(|f| {
        if !is_generic(&f.rule_id) {
            return true;
        }
        let span = (f.line, f.column, f.end_column);
        if generic_spans
            .iter()
            .any(|&(l, c, e)| l == span.0 && c < span.2 && span.1 < e)
        {
            return false;
        }
        generic_spans.push(span);
        true
    });
}

fn is_generic(rule_id: &str) -> bool {
    rule_id.starts_with("generic-")
}
