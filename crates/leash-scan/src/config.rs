//! gitleaks-format configuration (`--config FILE`, or `.gitleaks.toml` /
//! `.leash-scan.toml` at the repository root).
//!
//! Understood: `[extend] useDefault` and `disabledRules`; `[[rules]]` with
//! `id`, `description`, `regex`, `secretGroup`, `entropy`, `keywords`,
//! `path`, `tags` (a `severity:<level>` tag sets the severity; the default
//! is `high`), and per-rule `[rules.allowlist]` / `[[rules.allowlists]]`;
//! global `[allowlist]` / `[[allowlists]]` with `paths`, `regexes`,
//! `regexTarget`, `stopwords`, `commits` and `condition`. `[extend] path`
//! (another config file) is read relative to this one. Unknown keys are
//! ignored, as gitleaks does.
//!
//! This module only builds rules and allowlists; it never scans.

use std::path::Path;

use serde::Deserialize;

use crate::filter::{Allowlist, RegexTarget};
use crate::rules::{self, Rule, Severity};
use crate::{Error, ScannerBuilder};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct File {
    #[serde(default)]
    extend: Option<Extend>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    allowlist: Option<RawAllowlist>,
    #[serde(default)]
    allowlists: Vec<RawAllowlist>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Extend {
    #[serde(default)]
    use_default: bool,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    disabled_rules: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRule {
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    allowlist: Option<RawAllowlist>,
    #[serde(default)]
    allowlists: Vec<RawAllowlist>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawAllowlist {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    commits: Vec<String>,
    #[serde(default)]
    condition: Option<String>,
}

/// Applies the config file at `path` to a scanner builder.
pub fn apply(builder: ScannerBuilder, path: &Path) -> Result<ScannerBuilder, Error> {
    let (rules, allowlists) = load(path, 0)?;
    let mut builder = builder.rules(rules);
    for a in allowlists {
        builder = builder.allowlist(a);
    }
    Ok(builder)
}

fn load(path: &Path, depth: usize) -> Result<(Vec<Rule>, Vec<Allowlist>), Error> {
    let shown = path.display().to_string();
    let bad = |reason: String| Error::Config {
        path: shown.clone(),
        reason,
    };
    if depth > 4 {
        return Err(bad("[extend] path nests too deep".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let file: File = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let extend = file.extend.unwrap_or_default();
    let mut base: Vec<Rule> = Vec::new();
    let mut allowlists = Vec::new();
    if extend.use_default {
        base = rules::builtin();
    }
    if let Some(p) = &extend.path {
        let p = path.parent().unwrap_or(Path::new(".")).join(p);
        let (r, a) = load(&p, depth + 1)?;
        base.extend(r);
        allowlists.extend(a);
    }
    base.retain(|r| !extend.disabled_rules.contains(&r.id));
    for raw in file.rules {
        let rule = build_rule(raw, &shown)?;
        base.retain(|r| r.id != rule.id);
        base.push(rule);
    }
    for a in file.allowlist.into_iter().chain(file.allowlists) {
        allowlists.push(build_allowlist(a, "allowlist", &shown)?);
    }
    Ok((base, allowlists))
}

fn build_rule(raw: RawRule, file: &str) -> Result<Rule, Error> {
    if raw.regex.is_none() && raw.path.is_none() {
        return Err(Error::Config {
            path: file.to_owned(),
            reason: format!("rule {} has neither regex nor path", raw.id),
        });
    }
    let severity = raw
        .severity
        .as_deref()
        .and_then(Severity::parse)
        .or_else(|| {
            raw.tags
                .iter()
                .find_map(|t| t.strip_prefix("severity:").and_then(Severity::parse))
        })
        .unwrap_or(Severity::High);
    let path = raw
        .path
        .as_deref()
        .map(|p| {
            regex::Regex::new(p).map_err(|e| Error::Regex {
                rule: raw.id.clone(),
                reason: e.to_string(),
            })
        })
        .transpose()?;
    let mut allowlist = Allowlist::default();
    for a in raw.allowlist.into_iter().chain(raw.allowlists) {
        // Several per-rule allowlists are merged (any of them suppresses).
        let built = build_allowlist(a, &raw.id, file)?;
        allowlist.paths.extend(built.paths);
        allowlist.regexes.extend(built.regexes);
        allowlist.stopwords.extend(built.stopwords);
        allowlist.commits.extend(built.commits);
        allowlist.regex_target = built.regex_target;
        allowlist.all |= built.all;
    }
    let description = if raw.description.is_empty() {
        raw.id.clone()
    } else {
        raw.description
    };
    Rule::compiled(
        raw.id,
        description,
        severity,
        raw.keywords,
        raw.regex,
        raw.secret_group,
        raw.entropy,
        path,
        allowlist,
    )
}

fn build_allowlist(raw: RawAllowlist, owner: &str, file: &str) -> Result<Allowlist, Error> {
    let regex_err = |e: String| Error::Regex {
        rule: format!("{owner} allowlist"),
        reason: e,
    };
    let regex_target = match raw.regex_target.as_deref() {
        None | Some("") | Some("secret") => RegexTarget::Secret,
        Some("match") => RegexTarget::Match,
        Some("line") => RegexTarget::Line,
        Some(other) => {
            return Err(Error::Config {
                path: file.to_owned(),
                reason: format!("{owner}: unknown regexTarget {other:?} (secret, match or line)"),
            });
        }
    };
    Ok(Allowlist {
        paths: raw
            .paths
            .iter()
            .map(|p| regex::Regex::new(p).map_err(|e| regex_err(e.to_string())))
            .collect::<Result<_, _>>()?,
        regexes: raw
            .regexes
            .iter()
            .map(|p| rules::compile(p).map_err(regex_err))
            .collect::<Result<_, _>>()?,
        regex_target,
        stopwords: raw.stopwords.iter().map(|s| s.to_ascii_lowercase()).collect(),
        commits: raw.commits,
        all: raw.condition.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("and")),
    })
}
