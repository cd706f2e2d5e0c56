//! `leash-bench scan-accuracy`: a labelled accuracy benchmark for secret scanners.
//!
//! It copies a real source tree (the registry packages of this workspace's
//! `Cargo.lock`, as unpacked in cargo's cache), plants secrets of every kind
//! in [`kinds::kinds`] into it (random values in each provider's format, in the
//! file types and layouts repositories use: `.env`, YAML, JSON, shell, Python,
//! JavaScript, Go, Rust, TOML, Dockerfiles, workflows, Kubernetes secrets,
//! properties, Terraform, `.pypirc`, `.netrc`, PEM files, ...) and hard
//! negatives of every kind in [`kinds::negatives`] (publishable keys,
//! references, placeholders, UUIDs, digests, published examples, code), then
//! runs `leash scan` and every peer scanner found on `PATH` on the same tree,
//! interleaved, and scores each per finding:
//!
//! - recall: planted secrets with at least one finding on their lines / planted secrets;
//! - precision: findings (one per file and line) on a planted secret's lines / all findings.
//!
//! Findings anywhere else (on a hard negative or in the untouched real code)
//! are false positives. The tree is the same for every tool; the seed fixes it.
//! It never runs as a test.

mod history;
mod kinds;
mod values;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};

use kinds::{KEYED, Layout, Place};
use values::Rng;

/// A labelled location: a planted secret or a hard negative.
#[derive(Debug, Clone)]
struct Label {
    kind: &'static str,
    path: String,
    start: usize,
    end: usize,
}

struct Options {
    mb: usize,
    per_kind: usize,
    seed: u64,
    runs: usize,
    keep: Option<PathBuf>,
    /// Commit the planted tree as this many commits and scan the history instead.
    git_commits: Option<usize>,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options {
        mb: 30,
        per_kind: 4,
        seed: 20,
        runs: 3,
        keep: None,
        git_commits: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--mb" => o.mb = val()?.parse()?,
            "--per-kind" => o.per_kind = val()?.parse()?,
            "--seed" => o.seed = val()?.parse()?,
            "--runs" => o.runs = val()?.parse()?,
            "--keep" => o.keep = Some(PathBuf::from(val()?)),
            "--git-history" => o.git_commits = Some(val()?.parse()?),
            "--quick" => {
                o.mb = 5;
                o.per_kind = 2;
                o.runs = 1;
            }
            "-h" | "--help" => {
                println!(
                    "usage: leash-bench scan-accuracy [--mb 30] [--per-kind 4] [--seed 20] [--runs 3] [--keep DIR] [--git-history COMMITS] [--quick]\n\n\
                     Plants labelled secrets and hard negatives into a copy of the registry sources in Cargo.lock,\n\
                     runs leash scan and the peers on PATH (gitleaks, betterleaks, kingfisher), prints recall,\n\
                     precision and wall time. --keep DIR writes the tree and its labels there and keeps them.\n\
                     --git-history COMMITS commits the planted tree as that many commits (files added a few at a\n\
                     time, edits in between) and scans the history (leash scan --git, gitleaks git, betterleaks git,\n\
                     kingfisher --git-history full) instead of the files."
                );
                std::process::exit(0);
            }
            other => bail!("unknown option {other}; see --help"),
        }
    }
    Ok(o)
}

pub fn main(args: &[String]) -> anyhow::Result<()> {
    let o = parse(args)?;
    let tmp;
    let root = match &o.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let tree = root.join("tree");
    if tree.exists() {
        std::fs::remove_dir_all(&tree)?;
    }
    let (files, bytes) = copy_sources(&tree, o.mb << 20)?;
    let mut rng = Rng::new(o.seed);
    let (planted, negatives) = plant(&tree, &files, &mut rng, o.per_kind)?;
    if o.keep.is_some() {
        let mut labels = String::new();
        for (l, what) in planted
            .iter()
            .map(|l| (l, "secret"))
            .chain(negatives.iter().map(|l| (l, "negative")))
        {
            labels.push_str(&format!("{what}\t{}\t{}\t{}\t{}\n", l.kind, l.path, l.start, l.end));
        }
        std::fs::write(root.join("labels.tsv"), labels)?;
    }
    let scanned = match o.git_commits {
        Some(commits) => {
            let repo = root.join("repo");
            if repo.exists() {
                std::fs::remove_dir_all(&repo)?;
            }
            let made = history::commit_tree(&tree, &repo, commits, &mut rng)?;
            println!(
                "History: {made} commits in {}; the tools scan the history, not the files.\n",
                repo.display()
            );
            repo
        }
        None => tree.clone(),
    };
    let mode = if o.git_commits.is_some() {
        Mode::History
    } else {
        Mode::Files
    };
    let kinds_planted: BTreeSet<&str> = planted.iter().map(|l| l.kind).collect();
    let kinds_negative: BTreeSet<&str> = negatives.iter().map(|l| l.kind).collect();
    println!(
        "Tree: {} files, {:.1} MB of registry sources from Cargo.lock; planted {} secrets of {} kinds and {} hard negatives of {} kinds (seed {}).\n",
        files.len(),
        bytes as f64 / 1e6,
        planted.len(),
        kinds_planted.len(),
        negatives.len(),
        kinds_negative.len(),
        o.seed
    );
    let mut tools = vec![Tool::leash(mode)?];
    tools.extend(Tool::peers(mode));
    let mut walls: HashMap<String, Vec<f64>> = HashMap::new();
    let mut results: HashMap<String, Result<Vec<(String, usize)>, String>> = HashMap::new();
    for _ in 0..o.runs.max(1) {
        for t in &tools {
            let (secs, r) = t.run(&scanned);
            walls.entry(t.name.clone()).or_default().push(secs);
            results.insert(t.name.clone(), r);
        }
    }
    println!(
        "| tool | recall | precision | F1 | findings (file, line) | wall (median of {}) |",
        o.runs.max(1)
    );
    println!("|---|---|---|---|---|---|");
    let mut misses: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut alarms: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for t in &tools {
        let wall = median(walls.get(&t.name).cloned().unwrap_or_default());
        match &results[&t.name] {
            Err(e) => println!("| {} | - | - | - | {e} | {wall:.2} s |", t.label),
            Ok(found) => {
                let s = score(&planted, &negatives, found);
                println!(
                    "| {} | {:.3} | {:.3} | {:.3} | {} ({} on negatives, {} in real code) | {wall:.2} s |",
                    t.label,
                    s.recall(),
                    s.precision(),
                    s.f1(),
                    s.findings,
                    s.on_negatives.values().sum::<usize>(),
                    s.in_real_code.len()
                );
                for (kind, n) in &s.missed {
                    misses.entry(kind).or_default().push(format!("{} {n}", t.name));
                }
                for (kind, n) in &s.on_negatives {
                    alarms.entry(kind).or_default().push(format!("{} {n}", t.name));
                }
                if let Some(dir) = &o.keep {
                    let mut text = String::new();
                    for (p, l) in &s.in_real_code {
                        text.push_str(&format!("{p}:{l}\n"));
                    }
                    std::fs::write(dir.join(format!("real-code-{}.txt", t.name)), text)?;
                }
            }
        }
    }
    let per_kind = planted.len() / kinds_planted.len().max(1);
    println!("\nMissed planted secrets by kind (of about {per_kind} each; kinds no tool missed are left out):\n");
    println!("| kind | missed by |");
    println!("|---|---|");
    for (kind, who) in &misses {
        println!("| {kind} | {} |", who.join(", "));
    }
    println!("\nFalse alarms on hard negatives by kind:\n");
    println!("| negative kind | flagged by |");
    println!("|---|---|");
    for (kind, who) in &alarms {
        println!("| {kind} | {} |", who.join(", "));
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Score {
    planted: usize,
    found_planted: usize,
    findings: usize,
    true_findings: usize,
    missed: BTreeMap<&'static str, usize>,
    on_negatives: BTreeMap<&'static str, usize>,
    in_real_code: Vec<(String, usize)>,
}

impl Score {
    fn recall(&self) -> f64 {
        self.found_planted as f64 / self.planted.max(1) as f64
    }
    fn precision(&self) -> f64 {
        if self.findings == 0 {
            return 0.0;
        }
        self.true_findings as f64 / self.findings as f64
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
}

fn score(planted: &[Label], negatives: &[Label], found: &[(String, usize)]) -> Score {
    let unique: BTreeSet<(String, usize)> = found.iter().cloned().collect();
    let mut by_file: HashMap<&str, Vec<usize>> = HashMap::new();
    for (p, l) in &unique {
        by_file.entry(p.as_str()).or_default().push(*l);
    }
    let hit = |l: &Label| {
        by_file
            .get(l.path.as_str())
            .is_some_and(|lines| lines.iter().any(|&n| n >= l.start && n <= l.end))
    };
    let mut missed = BTreeMap::new();
    let mut found_planted = 0;
    for l in planted {
        if hit(l) {
            found_planted += 1;
        } else {
            *missed.entry(l.kind).or_insert(0) += 1;
        }
    }
    let mut true_findings = 0;
    let mut on_negatives = BTreeMap::new();
    let mut in_real_code = Vec::new();
    for (p, n) in &unique {
        let inside = |l: &&Label| l.path == *p && *n >= l.start && *n <= l.end;
        if planted.iter().any(|l| inside(&l)) {
            true_findings += 1;
        } else if let Some(l) = negatives.iter().find(|l| inside(l)) {
            *on_negatives.entry(l.kind).or_insert(0) += 1;
        } else {
            in_real_code.push((p.clone(), *n));
        }
    }
    Score {
        planted: planted.len(),
        found_planted,
        findings: unique.len(),
        true_findings,
        missed,
        on_negatives,
        in_real_code,
    }
}

/// Copies the registry packages of `Cargo.lock` (sorted, whole packages) until `budget` bytes.
fn copy_sources(tree: &Path, budget: usize) -> anyhow::Result<(Vec<String>, usize)> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("no CARGO_HOME or HOME")?;
    let src = home.join("registry/src");
    let indexes: Vec<PathBuf> = std::fs::read_dir(&src)
        .with_context(|| format!("no cargo registry sources at {}", src.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    let lock = std::fs::read_to_string(&lock).with_context(|| format!("reading {}", lock.display()))?;
    let mut packages = BTreeSet::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), &name) {
            packages.insert(format!("{n}-{}", v.trim_matches('"')));
        }
    }
    // Spread the budget over many packages rather than the first few big ones.
    let mut rng = Rng::new(7);
    let mut order: Vec<String> = packages.into_iter().collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut files = Vec::new();
    let mut bytes = 0usize;
    for package in order {
        if bytes >= budget {
            break;
        }
        let Some(dir) = indexes.iter().map(|i| i.join(&package)).find(|d| d.is_dir()) else {
            continue;
        };
        // No single package may fill the tree (windows-sys alone is 30 MB of bindings).
        if dir_size(&dir) > budget / 8 {
            continue;
        }
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else { continue };
            for e in entries.flatten() {
                let Ok(t) = e.file_type() else { continue };
                let p = e.path();
                if t.is_dir() {
                    stack.push(p);
                } else if t.is_file() {
                    let rel = PathBuf::from(&package).join(p.strip_prefix(&dir).expect("under the package dir"));
                    let to = tree.join(&rel);
                    std::fs::create_dir_all(to.parent().expect("a file has a parent"))?;
                    bytes += std::fs::copy(&p, &to)? as usize;
                    files.push(rel.to_string_lossy().into_owned());
                }
            }
        }
    }
    files.sort();
    Ok((files, bytes))
}

fn dir_size(dir: &Path) -> usize {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len() as usize,
                Err(_) => {}
            }
        }
    }
    total
}

fn camel(key: &str) -> String {
    let mut out = String::new();
    for (i, part) in key.split('_').enumerate() {
        let lower = part.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut c = lower.chars();
            if let Some(f) = c.next() {
                out.push(f.to_ascii_uppercase());
                out.extend(c);
            }
        }
    }
    out
}

/// Expands a layout: returns the text and the 0-based line range of `{S}`
/// (the first line holding it through the last line of a multi-line value).
fn expand(layout: &Layout, key: &str, secret: &str, rng: &mut Rng) -> (String, Vec<(usize, usize)>) {
    let key = if key.is_empty() { "SERVICE_TOKEN" } else { key };
    let t = layout
        .template
        .replace("{K}", key)
        .replace("{kc}", &camel(key))
        .replace("{kd}", &key.to_ascii_lowercase().replace('_', "."))
        .replace("{k}", &key.to_ascii_lowercase())
        .replace("{APPID}", &rng.s(values::UPPER_DIGITS, 10));
    let mut out = String::new();
    let mut ranges = Vec::new();
    let mut line_no = 0;
    for line in t.split_inclusive('\n') {
        if let Some(at) = line.find("{S}") {
            let indent: String = line.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
            let value_lines: Vec<&str> = secret.split('\n').collect();
            let joined = value_lines.join(&format!("\n{indent}"));
            let expanded = line.replace("{S}", &joined);
            let _ = at;
            ranges.push((line_no, line_no + value_lines.len() - 1));
            line_no += value_lines.len();
            out.push_str(&expanded);
        } else {
            line_no += 1;
            out.push_str(line);
        }
    }
    (out, ranges)
}

/// A file name for a new file with this suffix, in a directory of a package.
fn new_file_path(files: &[String], suffix: &str, rng: &mut Rng, n: usize) -> String {
    let file = &files[rng.below(files.len())];
    let package = file.split('/').next().expect("paths start with the package");
    let dir = *rng.pick(&[
        "config/",
        "deploy/",
        "ops/",
        "scripts/",
        "ci/",
        "docs/",
        "examples/",
        "src/",
        "",
    ]);
    let name = if suffix.starts_with('.') && matches!(suffix, ".pypirc" | ".netrc" | ".env") && rng.below(2) == 0 {
        format!("home{n}/{suffix}")
    } else if suffix.starts_with('.') || suffix.starts_with('-') || suffix.starts_with('_') {
        let base = *rng.pick(&[
            "settings", "app", "service", "prod", "local", "deploy", "billing", "worker",
        ]);
        format!("{base}{n}{suffix}")
    } else {
        format!("svc{n}/{suffix}")
    };
    format!("{package}/{dir}{name}")
}

/// Plants every kind and negative; returns the labels.
fn plant(tree: &Path, files: &[String], rng: &mut Rng, per_kind: usize) -> anyhow::Result<(Vec<Label>, Vec<Label>)> {
    let mut planted = Vec::new();
    let mut negatives = Vec::new();
    let mut used: HashSet<String> = HashSet::new();
    let mut n = 0usize;
    let mut put = |layout: &Layout,
                   key: &str,
                   value: &str,
                   kind: &'static str,
                   out: &mut Vec<Label>,
                   rng: &mut Rng|
     -> anyhow::Result<()> {
        n += 1;
        let (text, ranges) = expand(layout, key, value, rng);
        match layout.place {
            Place::File(suffix) => {
                let rel = loop {
                    let p = new_file_path(files, suffix, rng, n);
                    if used.insert(p.clone()) && !files.contains(&p) {
                        break p;
                    }
                };
                let to = tree.join(&rel);
                std::fs::create_dir_all(to.parent().expect("a file has a parent"))?;
                std::fs::write(&to, &text)?;
                for (s, e) in ranges {
                    out.push(Label {
                        kind,
                        path: rel.clone(),
                        start: s + 1,
                        end: e + 1,
                    });
                }
            }
            Place::Insert(ext) => {
                let candidates: Vec<&String> = files
                    .iter()
                    .filter(|f| f.ends_with(&format!(".{ext}")) && !used.contains(*f))
                    .collect();
                if candidates.is_empty() {
                    return Ok(());
                }
                let rel = candidates[rng.below(candidates.len())].clone();
                used.insert(rel.clone());
                let path = tree.join(&rel);
                let original = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = original.split_inclusive('\n').collect();
                let at = rng.below(lines.len() + 1);
                let mut text = text;
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                let mut new = String::with_capacity(original.len() + text.len());
                for l in &lines[..at] {
                    new.push_str(l);
                }
                if at > 0 && !new.ends_with('\n') {
                    new.push('\n');
                }
                new.push_str(&text);
                for l in &lines[at..] {
                    new.push_str(l);
                }
                std::fs::write(&path, new)?;
                for (s, e) in ranges {
                    out.push(Label {
                        kind,
                        path: rel.clone(),
                        start: at + s + 1,
                        end: at + e + 1,
                    });
                }
            }
        }
        Ok(())
    };
    for kind in kinds::kinds() {
        let layouts: Vec<&Layout> = if kind.bare_only {
            kind.bare.iter().collect()
        } else {
            KEYED.iter().chain(kind.bare.iter()).collect()
        };
        let offset = rng.below(layouts.len());
        for i in 0..per_kind {
            // Bare layouts first (they are few and specific), then keyed ones from a random start.
            let layout = if i < kind.bare.len() && !kind.bare_only {
                &kind.bare[i]
            } else {
                layouts[(offset + i) % layouts.len()]
            };
            let value = (kind.value)(rng);
            put(layout, kind.key, &value, kind.id, &mut planted, rng)?;
        }
    }
    for negative in kinds::negatives() {
        for layout in &negative.layouts {
            let value = (negative.value)(rng);
            put(layout, "", &value, negative.id, &mut negatives, rng)?;
        }
    }
    Ok((planted, negatives))
}

/// What the tools scan: the files of the tree, or the history of a repository.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Files,
    History,
}

/// A scanner and how to read its JSON report.
struct Tool {
    name: String,
    label: String,
    bin: PathBuf,
    args: Vec<String>,
    ok_codes: &'static [i32],
}

impl Tool {
    fn leash(mode: Mode) -> anyhow::Result<Tool> {
        let bin = crate::server::leash_binary()?;
        let args: &[&str] = match mode {
            Mode::Files => &["scan", "--format", "json", "{path}"],
            // `--git` scans the repository of the working directory (the tool runs in `{path}`)
            Mode::History => &["scan", "--git", "--format", "json"],
        };
        Ok(Tool {
            name: "leash".into(),
            label: format!("leash {}", version(&bin, "--version")),
            bin,
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            ok_codes: &[0, 1],
        })
    }

    fn peers(mode: Mode) -> Vec<Tool> {
        // (name, how to scan files, how to scan history, the report options, exit codes that mean "ran", version flag)
        type Spec = (
            &'static str,
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
            &'static [i32],
            &'static str,
        );
        let specs: &[Spec] = &[
            (
                "betterleaks",
                &["fs", "{path}"],
                &["git", "{path}"],
                &["--no-banner", "-o", "{report}"],
                &[0, 1],
                "--version",
            ),
            (
                "gitleaks",
                &["dir", "{path}"],
                &["git", "{path}"],
                &["--no-banner", "--report-format", "json", "--report-path", "{report}"],
                &[0, 1],
                "version",
            ),
            (
                // 200/205: findings (unvalidated/validated); validation and the update check are off.
                "kingfisher",
                &["scan", "{path}"],
                &["scan", "{path}", "--git-history", "full"],
                &[
                    "--no-validate",
                    "--no-update-check",
                    "--format",
                    "json",
                    "--output",
                    "{report}",
                ],
                &[0, 200, 205],
                "--version",
            ),
        ];
        let specs: Vec<(&str, Vec<&str>, &[i32], &str)> = specs
            .iter()
            .map(|(name, files, history, report, ok, vflag)| {
                let target = match mode {
                    Mode::Files => files,
                    Mode::History => history,
                };
                (*name, [*target, *report].concat(), *ok, *vflag)
            })
            .collect();
        let mut out = Vec::new();
        for (name, args, ok, vflag) in &specs {
            let Some(bin) = which(name) else {
                println!("{name}: not installed (skipped)");
                continue;
            };
            out.push(Tool {
                name: (*name).into(),
                label: format!("{name} {}", version(&bin, vflag)),
                bin,
                args: args.iter().map(|s| (*s).to_owned()).collect(),
                ok_codes: ok,
            });
        }
        out
    }

    /// Runs the tool; returns its wall time and its findings as (relative path, line).
    fn run(&self, tree: &Path) -> (f64, Result<Vec<(String, usize)>, String>) {
        let Ok(dir) = tempfile::tempdir() else {
            return (0.0, Err("no temporary directory".into()));
        };
        let report = dir.path().join("report.json");
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| match a.as_str() {
                "{path}" => tree.display().to_string(),
                "{report}" => report.display().to_string(),
                other => other.to_owned(),
            })
            .collect();
        let to_stdout = !self.args.iter().any(|a| a == "{report}");
        let t = Instant::now();
        let out = Command::new(&self.bin)
            .args(&args)
            .current_dir(tree)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .stdout(if to_stdout { Stdio::piped() } else { Stdio::null() })
            .output();
        let secs = t.elapsed().as_secs_f64();
        let out = match out {
            Ok(o) => o,
            Err(e) => return (secs, Err(format!("could not start: {e}"))),
        };
        let code = out.status.code().unwrap_or(-1);
        if !self.ok_codes.contains(&code) {
            return (secs, Err(format!("exit {code}")));
        }
        let json = if to_stdout {
            out.stdout
        } else {
            std::fs::read(&report).unwrap_or_default()
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&json) else {
            return (secs, Err("report not parsable".into()));
        };
        let prefix = format!("{}/", tree.display());
        let items: Vec<&serde_json::Value> = match &v {
            serde_json::Value::Array(a) => a.iter().collect(),
            other => other
                .get("findings")
                .and_then(|f| f.as_array())
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
        };
        let found = items
            .into_iter()
            .filter_map(|x| {
                // leash: file/line; gitleaks: File/StartLine; betterleaks: location.path/start_line;
                // kingfisher: finding.path/line.
                let loc = x.get("location").or_else(|| x.get("finding")).unwrap_or(x);
                let path = ["file", "File", "path"]
                    .iter()
                    .find_map(|k| loc.get(*k).and_then(|p| p.as_str()))?;
                let line = ["line", "StartLine", "start_line"]
                    .iter()
                    .find_map(|k| loc.get(*k).and_then(|l| l.as_u64()))?;
                let path = path.strip_prefix(&prefix).unwrap_or(path).trim_start_matches("./");
                Some((path.to_owned(), line as usize))
            })
            .collect();
        (secs, Ok(found))
    }
}

fn version(bin: &Path, flag: &str) -> String {
    Command::new(bin)
        .arg(flag)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .last()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}
