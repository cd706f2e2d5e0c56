//! `leash access`: the access review. `who-can PATH CAPABILITY` lists every
//! identity and live token that holds a capability on a path, with the rule
//! that grants it and the denies that win; `what-can IDENTITY` lists every
//! capability an identity holds on the secrets that exist (`--project`,
//! `--env` filter; `--output csv` for a spreadsheet); `report` is the whole
//! system's matrix and the findings a reviewer wants flagged.
//!
//! It owns only how the server's answers are printed; the server decides
//! (`read` on `sys/access`). The answers carry no value and no token, and this
//! module must never ask for either.

use clap::Subcommand;
use leash_core::api::{AccessHolder, AccessReport, Finding, ReportQuery, RuleRef, WhatCan, WhatCanQuery, WhoCan};

use crate::cli::Command;
use crate::context::Context;
use crate::output::{self, OutputFormat, Table, csv_record};

#[derive(Subcommand)]
pub enum AccessCommand {
    /// Who holds CAPABILITY on PATH: identities (own or group policies), tokens, root
    ///
    /// Lists every identity and every live token with policies of its own
    /// that the policies allow, with the policy, rule number and pattern
    /// that grant it; then those a deny rule refuses; then the root tokens
    /// (by accessor), which may do anything. Needs `read` on `sys/access`.
    WhoCan {
        /// Resource: project/env/path (or project, project/env, sys/<area>)
        path: String,
        /// read, list, write, delete, destroy, rotate or admin
        capability: String,
    },
    /// Every capability IDENTITY holds on every secret that exists, and the rule
    ///
    /// One row per secret and capability: `project/env/path`, capability,
    /// where the policy comes from (own or group), policy, rule number and
    /// pattern. --project and --env (or LEASH_PROJECT, LEASH_ENV) filter;
    /// --output json or csv for an access review. Needs `read` on `sys/access`.
    WhatCan {
        /// Identity name
        identity: String,
    },
    /// The whole system: identities × environments × capabilities, and findings
    ///
    /// The matrix counts, per identity, environment and capability, on how
    /// many of the environment's secrets the identity holds it. The findings
    /// flag identities with admin, live root tokens, wildcards that reach a
    /// production environment, service secrets and tokens that never expire,
    /// identities with no audit record for --unused-days, and secrets nobody
    /// may read. --output json for both; --output csv for the matrix (or,
    /// with --findings, the findings). Needs `read` on `sys/access`.
    Report {
        /// Flag identities with no request in the audit log for this many days
        #[arg(long, value_name = "DAYS", default_value_t = 90)]
        unused_days: u32,
        /// Print only the findings
        #[arg(long)]
        findings: bool,
    },
}

/// Whether `command` prints CSV with `--output csv`.
pub fn offers_csv(command: &Command) -> bool {
    matches!(
        command,
        Command::Access(AccessCommand::WhatCan { .. } | AccessCommand::Report { .. })
    )
}

pub async fn run(command: AccessCommand, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    match command {
        AccessCommand::WhoCan { path, capability } => {
            let answer = client.who_can(&path, &capability).await?;
            output::emit(ctx.output(), &answer, render_who_can)
        }
        AccessCommand::WhatCan { identity } => {
            let filter = WhatCanQuery {
                project: ctx.project_flag().map(str::to_owned),
                env: ctx.env_flag().map(str::to_owned),
            };
            let answer = client.what_can(&identity, &filter).await?;
            match ctx.output_format() {
                OutputFormat::Csv => output::write_stdout(&what_can_csv(&answer)),
                _ => output::emit(ctx.output(), &answer, render_what_can),
            }
        }
        AccessCommand::Report { unused_days, findings } => {
            let query = ReportQuery {
                unused_days: Some(unused_days),
            };
            let report = client.access_report(&query).await?;
            match (ctx.output_format(), findings) {
                (OutputFormat::Csv, false) => output::write_stdout(&csv(&MATRIX_HEADERS, matrix_rows(&report))),
                (OutputFormat::Csv, true) => output::write_stdout(&csv(&FINDING_HEADERS, finding_rows(&report))),
                (_, false) => output::emit(ctx.output(), &report, render_report),
                (_, true) => output::emit(ctx.output(), &report.findings, |f| render_findings(f)),
            }
        }
    }
}

const MATRIX_HEADERS: [&str; 7] = ["IDENTITY", "KIND", "PROJECT", "ENV", "CAPABILITY", "SECRETS", "OF"];
const FINDING_HEADERS: [&str; 3] = ["FINDING", "SUBJECT", "DETAIL"];

fn matrix_rows(report: &AccessReport) -> Vec<Vec<String>> {
    report
        .matrix
        .iter()
        .map(|c| {
            vec![
                c.identity.clone(),
                c.kind.clone(),
                c.project.clone(),
                c.env.clone(),
                c.capability.clone(),
                c.secrets.to_string(),
                c.of.to_string(),
            ]
        })
        .collect()
}

fn finding_rows(report: &AccessReport) -> Vec<Vec<String>> {
    report.findings.iter().map(finding_row).collect()
}

fn finding_row(f: &Finding) -> Vec<String> {
    let kind = serde_json::to_value(f.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    vec![kind, f.subject.clone(), f.detail.clone()]
}

fn render_findings(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "No findings.\n".to_owned();
    }
    let mut table = Table::new(&FINDING_HEADERS);
    for f in findings {
        table.row(finding_row(f));
    }
    table.render()
}

fn render_report(report: &AccessReport) -> String {
    let mut text = if report.matrix.is_empty() {
        "No identity holds anything on the secrets that exist.\n".to_owned()
    } else {
        let mut table = Table::new(&MATRIX_HEADERS);
        for row in matrix_rows(report) {
            table.row(row);
        }
        table.render()
    };
    text += &format!("\nFindings (unused = no request for {} days):\n", report.unused_days);
    text += &render_findings(&report.findings);
    text
}

/// A CSV document: the lowercased headers, then the rows.
fn csv(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let headers: Vec<String> = headers.iter().map(|h| h.to_lowercase()).collect();
    let mut text = csv_record(&headers.iter().map(String::as_str).collect::<Vec<_>>());
    for row in rows {
        text += &csv_record(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    text
}

/// `own`, `group NAME` or `token`.
fn via(via: &str, group: Option<&str>) -> String {
    match group {
        Some(group) => format!("{via} {group}"),
        None => via.to_owned(),
    }
}

fn rule_cells(rule: &RuleRef) -> [String; 3] {
    [
        rule.policy.clone(),
        format!("{} {}", rule.kind, rule.number),
        rule.pattern.clone(),
    ]
}

fn holders_table(holders: &[AccessHolder]) -> String {
    let mut table = Table::new(&["IDENTITY", "KIND", "VIA", "POLICY", "RULE", "PATTERN"]);
    for h in holders {
        let name = match &h.accessor {
            Some(accessor) => format!("{} ({accessor})", h.name),
            None => h.name.clone(),
        };
        let [policy, rule, pattern] = rule_cells(&h.rule);
        table.row(vec![
            name,
            h.kind.clone(),
            via(&h.via, h.group.as_deref()),
            policy,
            rule,
            pattern,
        ]);
    }
    table.render()
}

fn render_who_can(answer: &WhoCan) -> String {
    let mut text = if answer.allowed.is_empty() {
        format!("No identity or token may {} {}.\n", answer.capability, answer.path)
    } else {
        format!(
            "May {} {}:\n{}",
            answer.capability,
            answer.path,
            holders_table(&answer.allowed)
        )
    };
    if !answer.denied.is_empty() {
        text += &format!("\nDenied by a deny rule:\n{}", holders_table(&answer.denied));
    }
    if !answer.root_tokens.is_empty() {
        let roots: Vec<String> = answer
            .root_tokens
            .iter()
            .map(|r| format!("{} ({})", r.accessor, r.display_name))
            .collect();
        text += &format!("\nRoot tokens can do anything: {}\n", roots.join(", "));
    }
    text
}

const WHAT_CAN_HEADERS: [&str; 6] = ["PATH", "CAPABILITY", "VIA", "POLICY", "RULE", "PATTERN"];

fn what_can_rows(answer: &WhatCan) -> Vec<Vec<String>> {
    answer
        .entries
        .iter()
        .map(|e| {
            let [policy, rule, pattern] = rule_cells(&e.rule);
            vec![
                e.path.clone(),
                e.capability.clone(),
                via(&e.via, e.group.as_deref()),
                policy,
                rule,
                pattern,
            ]
        })
        .collect()
}

fn render_what_can(answer: &WhatCan) -> String {
    if answer.entries.is_empty() {
        return format!(
            "{} ({}) may do nothing with any secret here.\n",
            answer.identity, answer.kind
        );
    }
    let mut table = Table::new(&WHAT_CAN_HEADERS);
    for row in what_can_rows(answer) {
        table.row(row);
    }
    table.render()
}

fn what_can_csv(answer: &WhatCan) -> String {
    csv(&WHAT_CAN_HEADERS, what_can_rows(answer))
}

#[cfg(test)]
mod tests {
    use leash_core::api::AccessEntry;

    use super::*;

    fn rule(pattern: &str) -> RuleRef {
        RuleRef {
            policy: "p".into(),
            kind: "allow".into(),
            number: 2,
            pattern: pattern.into(),
        }
    }

    #[test]
    fn what_can_csv_has_a_header_and_quotes_what_needs_it() {
        let answer = WhatCan {
            identity: "svc".into(),
            kind: "service".into(),
            entries: vec![AccessEntry {
                path: "payment/prod/DB".into(),
                capability: "read".into(),
                via: "group".into(),
                group: Some("oncall".into()),
                rule: rule("payment/{a,b}/\"x\""),
            }],
        };
        assert_eq!(
            what_can_csv(&answer),
            "path,capability,via,policy,rule,pattern\r\n\
             payment/prod/DB,read,group oncall,p,allow 2,\"payment/{a,b}/\"\"x\"\"\"\r\n"
        );
    }

    #[test]
    fn who_can_text_names_the_rule_the_group_and_the_root_tokens() {
        let answer = WhoCan {
            path: "p/e/K".into(),
            capability: "read".into(),
            allowed: vec![AccessHolder {
                name: "alice".into(),
                kind: "user".into(),
                accessor: None,
                via: "group".into(),
                group: Some("oncall".into()),
                rule: rule("p/e/**"),
            }],
            denied: Vec::new(),
            root_tokens: vec![leash_core::api::RootHolder {
                accessor: "acc1".into(),
                display_name: "root".into(),
            }],
        };
        let text = render_who_can(&answer);
        for word in [
            "alice",
            "user",
            "group oncall",
            "allow 2",
            "p/e/**",
            "Root tokens can do anything: acc1 (root)",
        ] {
            assert!(text.contains(word), "{word:?} in {text}");
        }
    }
}
