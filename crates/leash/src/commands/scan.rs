//! `leash scan`: find secrets in files, git history, staged changes or stdin.
//!
//! It owns the command's arguments, choosing the target, loading the
//! configuration, suppressions and (with `--known`) the server's fingerprint
//! set, and the exit status: 0 clean, 1 findings, 2 error. Scanning and
//! rendering are `leash_scan`'s; this module must never print a secret
//! itself (the report does, redacted unless `--show-secrets`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use leash_scan::engine::Origin;
use leash_scan::known::{FingerprintResponse, KnownSecrets};
use leash_scan::report::{self, Format};
use leash_scan::source::{self, TreeOptions};
use leash_scan::suppress::Suppressions;
use leash_scan::{Finding, ScannerBuilder, Severity};
use secrecy::ExposeSecret;

use crate::context::Context;

/// Arguments of `leash scan`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ScanArgs {
    #[command(subcommand)]
    pub action: Option<ScanAction>,

    /// Files or directories to scan (recursively, honouring .gitignore), or `-` for standard input [default: .]
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Scan git history instead: the lines every commit added, on all branches, or only in RANGE (e.g. main..HEAD)
    #[arg(long, value_name = "RANGE", num_args = 0..=1, default_missing_value = "", conflicts_with = "staged")]
    pub git: Option<String>,

    /// Scan exactly what `git commit` would record now (the staged changes)
    #[arg(long)]
    pub staged: bool,

    /// Also scan files that .gitignore, .ignore and git's excludes skip
    #[arg(long)]
    pub no_ignore: bool,

    /// Report format [default: text, or json with --output json]
    #[arg(long, value_enum)]
    pub format: Option<ScanFormat>,

    /// Write the report to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Show secrets in the report instead of redacting them
    #[arg(long)]
    pub show_secrets: bool,

    /// A gitleaks-format TOML config [default: .leash-scan.toml or .gitleaks.toml in the current directory]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Accept the findings of an earlier JSON report (`--format json`)
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Report only findings of at least this severity
    #[arg(long, value_enum, default_value_t = MinSeverity::Low)]
    pub min_severity: MinSeverity,

    /// Layers of base64/percent-encoding to look inside (0 turns decoding off)
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub decode_depth: usize,

    /// Also find the exact values of the secrets you may read in --project/--env, by keyed fingerprints from the server
    #[arg(long)]
    pub known: bool,

    /// Worker threads [default: one per core]
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
}

#[derive(Subcommand)]
pub enum ScanAction {
    /// Install a git pre-commit hook that runs `leash scan --staged`
    InstallHook {
        /// Replace a pre-commit hook that leash did not write (it is kept as pre-commit.before-leash)
        #[arg(long)]
        force: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanFormat {
    Text,
    Json,
    Sarif,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinSeverity {
    Low,
    Medium,
    High,
    Critical,
}

impl From<MinSeverity> for Severity {
    fn from(m: MinSeverity) -> Self {
        match m {
            MinSeverity::Low => Severity::Low,
            MinSeverity::Medium => Severity::Medium,
            MinSeverity::High => Severity::High,
            MinSeverity::Critical => Severity::Critical,
        }
    }
}

/// Runs `leash scan`: exit 0 when clean, 1 when something was found, 2 on error.
pub async fn run(args: ScanArgs, ctx: &Context) -> ExitCode {
    match scan(args, ctx).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn scan(args: ScanArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    if let Some(ScanAction::InstallHook { force }) = args.action {
        return install_hook(force);
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let mut builder = ScannerBuilder::new().decode_depth(args.decode_depth);
    let config = match &args.config {
        Some(path) => Some(path.clone()),
        None => [".leash-scan.toml", ".gitleaks.toml"]
            .iter()
            .map(|name| cwd.join(name))
            .find(|p| p.is_file()),
    };
    if let Some(path) = &config {
        builder = leash_scan::config::apply(builder, path)?;
    }
    if args.known {
        let known = fetch_known(ctx).await?;
        eprintln!("known-secret mode: {} fingerprints loaded", known.len());
        builder = builder.known(known);
    }
    let scanner = builder.build();

    let git_root = if args.git.is_some() || args.staged {
        Some(source::git_toplevel(&cwd)?)
    } else {
        None
    };
    let mut findings: Vec<Finding> = if let Some(range) = &args.git {
        let root = git_root.as_deref().expect("set for --git");
        let range = (!range.is_empty()).then_some(range.as_str());
        source::scan_git_history(&scanner, root, range, args.threads)?
    } else if args.staged {
        let root = git_root.as_deref().expect("set for --staged");
        source::scan_staged(&scanner, root, args.threads)?
    } else if args.paths.len() == 1 && args.paths[0] == Path::new("-") {
        let origin = Origin {
            path: "-".to_owned(),
            commit: None,
        };
        source::scan_stream(&scanner, &origin, std::io::stdin().lock())?
    } else {
        let paths = if args.paths.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            args.paths.clone()
        };
        if paths.iter().any(|p| p == Path::new("-")) {
            bail!("`-` (standard input) cannot be combined with other paths");
        }
        let options = TreeOptions {
            no_ignore: args.no_ignore,
            threads: args.threads,
        };
        source::scan_paths(&scanner, &paths, &options)?
    };

    let mut suppressions = Suppressions::default();
    let mut ignore_dirs = vec![cwd.clone()];
    if let Some(root) = &git_root
        && root != &cwd
    {
        ignore_dirs.push(root.clone());
    }
    for dir in &ignore_dirs {
        suppressions.add_ignore_file(&dir.join(".leashignore"))?;
        suppressions.add_ignore_file(&dir.join(".gitleaksignore"))?;
    }
    if let Some(baseline) = &args.baseline {
        suppressions.add_baseline(baseline)?;
    }
    let suppressed = suppressions.apply(&mut findings);
    let min: Severity = args.min_severity.into();
    findings.retain(|f| f.severity >= min);

    let format = match args.format {
        Some(ScanFormat::Text) => Format::Text,
        Some(ScanFormat::Json) => Format::Json,
        Some(ScanFormat::Sarif) => Format::Sarif,
        None if ctx.output() == crate::output::OutputMode::Json => Format::Json,
        None => Format::Text,
    };
    let version = env!("CARGO_PKG_VERSION");
    match &args.report {
        Some(path) => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            );
            report::write(&mut file, format, &findings, args.show_secrets, version)
                .and_then(|()| file.flush())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            match report::write(&mut out, format, &findings, args.show_secrets, version).and_then(|()| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.context("cannot write to stdout")?,
            }
        }
    }
    let mut summary = report::summary(&findings);
    if suppressed > 0 {
        summary.push_str(&format!(" ({suppressed} suppressed by .leashignore or baseline)"));
    }
    if format == Format::Text || args.report.is_some() || std::io::stderr().is_terminal() {
        eprintln!("leash scan: {summary}");
    }
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn install_hook(force: bool) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let exe = std::env::current_exe().context("cannot find the leash binary's own path")?;
    match leash_scan::hook::install(&cwd, &exe, force)? {
        leash_scan::hook::Installed::Created(p) => println!("installed the pre-commit hook at {}", p.display()),
        leash_scan::hook::Installed::Replaced(p) => println!("updated the pre-commit hook at {}", p.display()),
        leash_scan::hook::Installed::ReplacedForeign(p, backup) => println!(
            "installed the pre-commit hook at {} (the previous hook is kept as {})",
            p.display(),
            backup.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `GET /api/v1/scan/fingerprints?project=P&env=E` with the caller's token.
async fn fetch_known(ctx: &Context) -> anyhow::Result<KnownSecrets> {
    let target = ctx.target()?;
    let addr = ctx.addr()?;
    let token = ctx.token()?.ok_or_else(|| {
        anyhow!("--known needs a token: log in with `leash login`, or pass --token / set LEASH_TOKEN")
    })?;
    let base = if addr.contains("://") {
        addr.trim_end_matches('/').to_owned()
    } else {
        format!("http://{}", addr.trim_end_matches('/'))
    };
    let url = format!("{base}/api/v1/scan/fingerprints");
    let response = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .context("cannot set up the HTTP client")?
        .get(&url)
        .query(&[("project", target.project()), ("env", target.env())])
        .bearer_auth(token.expose_secret())
        .send()
        .await
        .map_err(|e| anyhow!("cannot reach {base}: {}", root_cause(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| anyhow!("reading the answer of {base}: {}", root_cause(&e)))?;
    if status == reqwest::StatusCode::NOT_FOUND && !body.starts_with(b"{\"error\"") {
        bail!(
            "the server at {base} does not offer known-secret fingerprints (GET /api/v1/scan/fingerprints answered 404): \
             it needs a Leash server with scan support"
        );
    }
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        if status == reqwest::StatusCode::NOT_FOUND {
            bail!(
                "known-secret fingerprints for {}/{}: {message} (HTTP 404; does the server support `leash scan --known`?)",
                target.project(),
                target.env()
            );
        }
        bail!(
            "known-secret fingerprints for {}/{}: {message} (HTTP {})",
            target.project(),
            target.env(),
            status.as_u16()
        );
    }
    let parsed: FingerprintResponse =
        serde_json::from_slice(&body).context("the server's fingerprint answer is not the expected JSON")?;
    Ok(KnownSecrets::from_response(parsed)?)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
