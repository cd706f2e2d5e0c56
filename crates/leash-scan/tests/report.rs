//! SARIF output validates against the official SARIF 2.1.0 JSON schema
//! (vendored from the `@microsoft/jest-sarif` npm package, MIT, in
//! tests/data/), and a gitleaks-format config is honoured.

use leash_scan::engine::{Commit, Origin};
use leash_scan::report::{self, Format};
use leash_scan::rules::expand_template;
use leash_scan::{Finding, ScannerBuilder};

fn findings() -> Vec<Finding> {
    let scanner = ScannerBuilder::new().build();
    let text = format!(
        "token = \"{}\"\nkey = \"AKIA{}\"\n",
        expand_template("{{github:ghp_}}", 1),
        expand_template("{{base32:16}}", 2)
    );
    let mut found = scanner.scan(
        &Origin {
            path: "src/dir with space/app.py".to_owned(),
            commit: None,
        },
        text.as_bytes(),
        1,
    );
    let mut in_history = scanner.scan(
        &Origin {
            path: "old.env".to_owned(),
            commit: Some(Commit {
                id: "0123456789abcdef0123456789abcdef01234567".to_owned(),
                author: "A. Dev".to_owned(),
                email: "a@example.com".to_owned(),
                date: "2026-01-02T03:04:05+00:00".to_owned(),
                message: "oops".to_owned(),
            }),
        },
        text.as_bytes(),
        1,
    );
    found.append(&mut in_history);
    assert_eq!(found.len(), 4);
    found
}

#[test]
fn sarif_validates_against_the_2_1_0_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("data/sarif-schema-2.1.0.json")).expect("vendored schema is JSON");
    let validator = jsonschema::draft4::new(&schema).expect("the schema compiles");
    for findings in [findings(), Vec::new()] {
        let mut out = Vec::new();
        report::write(&mut out, Format::Sarif, &findings, false, "0.1.0").unwrap();
        let log: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "SARIF is invalid:\n{}", errors.join("\n"));
        assert_eq!(log["version"], "2.1.0");
        assert_eq!(log["runs"][0]["results"].as_array().unwrap().len(), findings.len());
    }
}

#[test]
fn reports_redact_unless_asked() {
    let findings = findings();
    for format in [Format::Text, Format::Json, Format::Sarif] {
        let mut out = Vec::new();
        report::write(&mut out, format, &findings, false, "0.1.0").unwrap();
        let text = String::from_utf8(out).unwrap();
        for f in &findings {
            assert!(!text.contains(&f.secret), "{format:?} shows a secret");
        }
        let mut out = Vec::new();
        report::write(&mut out, format, &findings, true, "0.1.0").unwrap();
        assert!(String::from_utf8(out).unwrap().contains(&findings[0].secret));
    }
}

#[test]
fn gitleaks_config_with_custom_rule_and_allowlists() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join(".gitleaks.toml");
    std::fs::write(
        &config,
        r#"
title = "team rules"
[extend]
useDefault = true
disabledRules = ["aws-access-key-id"]

[[rules]]
id = "acme-internal-token"
description = "ACME internal token"
regex = '''\b(acme_[a-z0-9]{24})\b'''
keywords = ["acme_"]
entropy = 3.0
tags = ["severity:critical"]
  [rules.allowlist]
  regexes = ['''acme_test''']

[allowlist]
description = "vendored code"
paths = ['''(^|/)vendor/''']
stopwords = ["notasecret"]
"#,
    )
    .unwrap();
    let scanner = leash_scan::config::apply(ScannerBuilder::new(), &config)
        .unwrap()
        .build();
    let scan = |path: &str, text: &str| {
        scanner
            .scan(
                &Origin {
                    path: path.to_owned(),
                    commit: None,
                },
                text.as_bytes(),
                1,
            )
            .into_iter()
            .map(|f| (f.rule_id, f.severity))
            .collect::<Vec<_>>()
    };
    let custom = format!("t = acme_{}\n", expand_template("{{lower:24}}", 4));
    assert_eq!(
        scan("app.py", &custom),
        [("acme-internal-token".to_owned(), leash_scan::Severity::Critical)]
    );
    assert!(scan("vendor/lib.py", &custom).is_empty(), "path allowlist");
    assert!(
        scan("app.py", "t = acme_testabcdefghijklmnopq12\n").is_empty(),
        "rule allowlist"
    );
    // Default rules still apply (useDefault), except the disabled one.
    let ghp = format!("x = {}\n", expand_template("{{github:ghp_}}", 4));
    assert_eq!(scan("app.py", &ghp).len(), 1);
    let aws = format!("x = AKIA{}\n", expand_template("{{base32:16}}", 4));
    assert!(scan("app.py", &aws).is_empty(), "disabled rule");
    // Without useDefault only the config's rules run.
    std::fs::write(&config, "[[rules]]\nid = \"only\"\nregex = '''only_[0-9]{8}'''\n").unwrap();
    let only = leash_scan::config::apply(ScannerBuilder::new(), &config)
        .unwrap()
        .build();
    assert_eq!(only.rules().len(), 1);
}
