//! Every built-in rule: its regex compiles, it has examples, each true-positive
//! example is found by it and no false-positive example is.

use std::collections::HashSet;

use leash_scan::engine::Origin;
use leash_scan::rules::{self, expand_template};
use leash_scan::{Scanner, ScannerBuilder};

fn scanner() -> Scanner {
    ScannerBuilder::new().build()
}

fn origin() -> Origin {
    Origin {
        path: "config/example.env".to_owned(),
        commit: None,
    }
}

#[test]
fn rule_ids_are_unique_and_regexes_compile() {
    let rules = rules::builtin();
    let mut ids = HashSet::new();
    for rule in &rules {
        assert!(ids.insert(rule.id.clone()), "duplicate rule id {}", rule.id);
        let src = rule.regex_src.as_deref().expect("built-in rules have a regex");
        rules::compile(src).unwrap_or_else(|e| panic!("rule {}: {e}", rule.id));
        assert!(
            !rule.keywords.is_empty(),
            "rule {} has no keywords (it would run on every file)",
            rule.id
        );
        assert!(!rule.tp.is_empty(), "rule {} has no true-positive example", rule.id);
        assert!(!rule.fp.is_empty(), "rule {} has no false-positive example", rule.id);
        assert!(!rule.description.is_empty(), "rule {} has no description", rule.id);
    }
    eprintln!("{} built-in rules", rules.len());
}

#[test]
fn true_positive_examples_are_found() {
    let scanner = scanner();
    let mut failures = Vec::new();
    for rule in scanner.rules() {
        for (i, template) in rule.tp.iter().enumerate() {
            for seed in 0..4u64 {
                let text = expand_template(template, seed * 100 + i as u64 + 1);
                let found = scanner.scan(&origin(), text.as_bytes(), 1);
                if !found.iter().any(|f| f.rule_id == rule.id) {
                    let got: Vec<&str> = found.iter().map(|f| f.rule_id.as_str()).collect();
                    failures.push(format!(
                        "{}: tp {i} (seed {seed}) not found (found {got:?}): {text}",
                        rule.id
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn false_positive_examples_are_not_found() {
    let scanner = scanner();
    let mut failures = Vec::new();
    for rule in scanner.rules() {
        for (i, template) in rule.fp.iter().enumerate() {
            for seed in 0..4u64 {
                let text = expand_template(template, seed * 100 + i as u64 + 1);
                let found = scanner.scan(&origin(), text.as_bytes(), 1);
                if !found.is_empty() {
                    let got: Vec<&str> = found.iter().map(|f| f.rule_id.as_str()).collect();
                    failures.push(format!("{}: fp {i} (seed {seed}) found by {got:?}: {text}", rule.id));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn checksum_valid_matches_are_verified() {
    let scanner = scanner();
    for template in [
        "{{github:ghp_}}",
        "{{npm}}",
        "{{pypi}}",
        "{{leash}}",
        "{{leash-client}}",
        "{{jwt}}",
    ] {
        let text = format!("x = \"{}\"\n", expand_template(template, 9));
        let found = scanner.scan(&origin(), text.as_bytes(), 1);
        assert!(found.iter().any(|f| f.verified), "{template}: {found:?}");
    }
}

#[test]
fn inline_allow_comments_suppress() {
    let scanner = scanner();
    let secret = expand_template("{{github:ghp_}}", 3);
    for comment in ["# leash:allow", "// gitleaks:allow"] {
        let text = format!("token = \"{secret}\" {comment}\n");
        assert!(scanner.scan(&origin(), text.as_bytes(), 1).is_empty(), "{comment}");
    }
}

#[test]
fn secrets_inside_base64_are_found() {
    use base64::Engine as _;
    let scanner = scanner();
    let inner = format!("GITHUB_TOKEN={}", expand_template("{{github:ghp_}}", 5));
    let text = format!(
        "line one\ndata: {}\n",
        base64::engine::general_purpose::STANDARD.encode(inner)
    );
    let found = scanner.scan(&origin(), text.as_bytes(), 1);
    let f = found
        .iter()
        .find(|f| f.rule_id == "github-pat")
        .expect("found inside base64");
    assert_eq!(f.decoded, Some("base64"));
    assert_eq!(f.line, 2);
}
