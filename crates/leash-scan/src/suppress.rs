//! Suppressing accepted findings: `.leashignore` (and `.gitleaksignore`)
//! files of fingerprints, and `--baseline` reports.
//!
//! A fingerprint is `[commit:]path:rule:line` (gitleaks-compatible). A
//! baseline is an earlier JSON report of `leash scan` (or gitleaks, whose
//! `Fingerprint` field is read). This module only filters findings; it must
//! never print them.

use std::collections::HashSet;
use std::path::Path;

use crate::{Error, Finding};

/// A set of accepted fingerprints.
#[derive(Debug, Default)]
pub struct Suppressions {
    fingerprints: HashSet<String>,
}

impl Suppressions {
    /// Reads an ignore file: one fingerprint per line, `#` comments. A missing file is empty.
    pub fn add_ignore_file(&mut self, path: &Path) -> Result<(), Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(Error::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        for line in text.lines() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                self.fingerprints.insert(line.to_owned());
            }
        }
        Ok(())
    }

    /// Reads a baseline: a JSON array of findings with a `fingerprint` (or `Fingerprint`) field.
    pub fn add_baseline(&mut self, path: &Path) -> Result<(), Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let bad = |reason: String| Error::Suppression {
            what: "baseline",
            path: path.to_owned(),
            reason,
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let items = match &value {
            serde_json::Value::Array(items) => items,
            serde_json::Value::Object(o) => match o.get("findings") {
                Some(serde_json::Value::Array(items)) => items,
                _ => return Err(bad("expected a JSON array of findings".into())),
            },
            _ => return Err(bad("expected a JSON array of findings".into())),
        };
        for item in items {
            let fp = item
                .get("fingerprint")
                .or_else(|| item.get("Fingerprint"))
                .and_then(|v| v.as_str())
                .ok_or_else(|| bad("a finding has no fingerprint".into()))?;
            self.fingerprints.insert(fp.to_owned());
        }
        Ok(())
    }

    /// Adds one fingerprint.
    pub fn insert(&mut self, fingerprint: String) {
        self.fingerprints.insert(fingerprint);
    }

    /// Whether a finding is accepted. A history finding is also accepted by
    /// its commit-less fingerprint, and a tree finding by any commit's.
    pub fn suppresses(&self, f: &Finding) -> bool {
        if self.fingerprints.is_empty() {
            return false;
        }
        let plain = format!("{}:{}:{}", f.path, f.rule_id, f.line);
        self.fingerprints.contains(&f.fingerprint()) || self.fingerprints.contains(&plain)
    }

    /// Drops suppressed findings; returns how many were dropped.
    pub fn apply(&self, findings: &mut Vec<Finding>) -> usize {
        let before = findings.len();
        findings.retain(|f| !self.suppresses(f));
        before - findings.len()
    }
}
