//! Rendering findings: human-readable text, JSON and SARIF 2.1.0.
//!
//! This is the only module that writes a secret anywhere, and it writes one
//! unredacted only when the caller passes `show_secrets` (`--show-secrets`).
//! Redacted secrets keep at most a short prefix and their length.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;
use serde_json::json;

use crate::{Finding, Severity};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

/// `sk_l…[32 chars]`: a prefix of at most 4 characters (none for short
/// secrets) and the length. The prefix is where token formats put their
/// public marker, so it identifies the kind without revealing the value.
pub fn redact(secret: &str) -> String {
    let n = secret.chars().count();
    let keep = if n >= 16 { 4 } else { 0 };
    let prefix: String = secret.chars().take(keep).collect();
    format!("{prefix}…[{n} chars]")
}

fn shown(f: &Finding, show_secrets: bool) -> String {
    if show_secrets {
        f.secret.clone()
    } else {
        redact(&f.secret)
    }
}

/// Writes findings as text: one block per finding, then nothing else
/// (the caller prints the summary to stderr).
pub fn write_text(out: &mut impl Write, findings: &[Finding], show_secrets: bool) -> std::io::Result<()> {
    for f in findings {
        let verified = if f.verified { "  [checksum valid]" } else { "" };
        let decoded = f.decoded.map(|d| format!("  [inside {d}]")).unwrap_or_default();
        writeln!(
            out,
            "{}:{}:{}: {} {} ({}){verified}{decoded}",
            f.path, f.line, f.column, f.severity, f.rule_id, f.description
        )?;
        writeln!(out, "    secret:      {}", shown(f, show_secrets))?;
        if let Some(c) = &f.commit {
            writeln!(
                out,
                "    commit:      {} by {} <{}> on {}",
                short(&c.id),
                c.author,
                c.email,
                c.date
            )?;
        }
        writeln!(out, "    fingerprint: {}", f.fingerprint())?;
    }
    Ok(())
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// A one-line summary: `3 findings (1 critical, 2 high) in 2 files`.
pub fn summary(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no secrets found".to_owned();
    }
    let mut by: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
    for f in findings {
        *by.entry(std::cmp::Reverse(f.severity)).or_default() += 1;
    }
    let files: std::collections::HashSet<&str> = findings.iter().map(|f| f.path.as_str()).collect();
    let parts: Vec<String> = by.iter().map(|(s, n)| format!("{n} {}", s.0)).collect();
    format!(
        "{} finding{} ({}) in {} file{}",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        parts.join(", "),
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    )
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule_id: &'a str,
    description: &'a str,
    severity: Severity,
    file: &'a str,
    line: usize,
    column: usize,
    end_column: usize,
    secret: String,
    redacted: bool,
    entropy: f64,
    checksum_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    decoded: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    fingerprint: String,
}

/// Writes a JSON array of findings (usable as a `--baseline` later).
pub fn write_json(out: &mut impl Write, findings: &[Finding], show_secrets: bool) -> std::io::Result<()> {
    let items: Vec<JsonFinding<'_>> = findings
        .iter()
        .map(|f| JsonFinding {
            rule_id: &f.rule_id,
            description: &f.description,
            severity: f.severity,
            file: &f.path,
            line: f.line,
            column: f.column,
            end_column: f.end_column,
            secret: shown(f, show_secrets),
            redacted: !show_secrets,
            entropy: (f.entropy * 1000.0).round() / 1000.0,
            checksum_verified: f.verified,
            decoded: f.decoded,
            commit: f.commit.as_ref().map(|c| c.id.as_str()),
            author: f.commit.as_ref().map(|c| c.author.as_str()),
            email: f.commit.as_ref().map(|c| c.email.as_str()),
            date: f.commit.as_ref().map(|c| c.date.as_str()),
            message: f.commit.as_ref().map(|c| c.message.as_str()),
            fingerprint: f.fingerprint(),
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &items)?;
    writeln!(out)
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Low => "note",
        Severity::Medium => "warning",
        Severity::High | Severity::Critical => "error",
    }
}

/// GitHub code scanning reads `security-severity` (0.0-10.0) to rank alerts.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Low => "3.0",
        Severity::Medium => "5.5",
        Severity::High => "8.0",
        Severity::Critical => "9.5",
    }
}

/// Characters kept as they are in a SARIF artifact URI (a relative URI reference).
const URI_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Writes a SARIF 2.1.0 log with one run. Rules listed are those with findings.
pub fn write_sarif(
    out: &mut impl Write,
    findings: &[Finding],
    show_secrets: bool,
    tool_version: &str,
) -> std::io::Result<()> {
    let mut rule_index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rules = Vec::new();
    for f in findings {
        if !rule_index.contains_key(f.rule_id.as_str()) {
            rule_index.insert(&f.rule_id, rules.len());
            rules.push(json!({
                "id": f.rule_id,
                "name": f.rule_id,
                "shortDescription": { "text": f.description },
                "fullDescription": { "text": format!("{}. Leash rule `{}`.", f.description, f.rule_id) },
                "help": { "text": "Remove the secret from the file and from git history, then rotate it: it must be treated as leaked." },
                "defaultConfiguration": { "level": sarif_level(f.severity) },
                "properties": {
                    "tags": ["security", "secret"],
                    "precision": if f.verified { "very-high" } else { "high" },
                    "security-severity": security_severity(f.severity),
                }
            }));
        }
    }
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let mut message = format!("{} ({}): {}", f.description, f.severity, shown(f, show_secrets));
            if let Some(c) = &f.commit {
                message.push_str(&format!(" in commit {} by {} on {}", short(&c.id), c.author, c.date));
            }
            let mut properties = json!({
                "severity": f.severity,
                "checksumVerified": f.verified,
            });
            if let Some(c) = &f.commit {
                properties["commit"] = json!(c.id);
                properties["author"] = json!(c.author);
                properties["email"] = json!(c.email);
                properties["date"] = json!(c.date);
            }
            let uri = percent_encoding::utf8_percent_encode(&f.path, URI_SET).to_string();
            json!({
                "ruleId": f.rule_id,
                "ruleIndex": rule_index[f.rule_id.as_str()],
                "level": sarif_level(f.severity),
                "message": { "text": message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri },
                        "region": {
                            "startLine": f.line.max(1),
                            "startColumn": f.column.max(1),
                            "endColumn": f.end_column.max(f.column.max(1) + 1),
                        }
                    }
                }],
                "partialFingerprints": { "leashFingerprint/v1": f.fingerprint() },
                "properties": properties,
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "leash-scan",
                    "version": tool_version,
                    "semanticVersion": tool_version,
                    "rules": rules,
                }
            },
            "columnKind": "utf16CodeUnits",
            "results": results,
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

/// Writes findings in `format`.
pub fn write(
    out: &mut impl Write,
    format: Format,
    findings: &[Finding],
    show_secrets: bool,
    tool_version: &str,
) -> std::io::Result<()> {
    match format {
        Format::Text => write_text(out, findings, show_secrets),
        Format::Json => write_json(out, findings, show_secrets),
        Format::Sarif => write_sarif(out, findings, show_secrets, tool_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_a_short_prefix_and_the_length() {
        assert_eq!(redact("sk_live_0123456789abcdefghij"), "sk_l…[28 chars]");
        assert_eq!(redact("hunter2"), "…[7 chars]");
    }
}
