//! The targets: a working tree, git history, the staged changes, a stream.
//!
//! Each target turns its input into fragments for the [`Scanner`] and maps
//! the findings' line numbers back to the input. Work is spread over worker
//! threads; memory stays bounded: files are read in chunks of at most
//! [`CHUNK`] bytes (split at line ends), and git output is streamed with at
//! most one fragment per worker in flight.
//!
//! This module reads files and runs `git`; it must never print or write.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use crate::Error;
use crate::engine::{Commit, Finding, Origin, Scanner};

/// Largest piece of a file scanned at once.
pub const CHUNK: usize = 8 << 20;
/// How many leading bytes are checked for NUL to call a file binary (as git does).
const BINARY_PROBE: usize = 8000;

/// Options of a working-tree scan.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    /// Scan files that .gitignore, .ignore and git's excludes would skip.
    pub no_ignore: bool,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

fn threads(n: usize) -> usize {
    if n > 0 {
        n
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
}

/// Scans files and directories (recursively, honouring ignore files unless told not to).
/// Binary files are skipped. Findings are sorted by path and line.
pub fn scan_paths(scanner: &Scanner, paths: &[PathBuf], options: &TreeOptions) -> Result<Vec<Finding>, Error> {
    let Some((first, rest)) = paths.split_first() else {
        return Ok(Vec::new());
    };
    for p in paths {
        if let Err(source) = std::fs::metadata(p) {
            return Err(Error::Read {
                path: p.clone(),
                source,
            });
        }
    }
    let mut builder = ignore::WalkBuilder::new(first);
    for p in rest {
        builder.add(p);
    }
    builder
        .hidden(false)
        .follow_links(false)
        .threads(threads(options.threads))
        .filter_entry(|e| e.file_name() != ".git");
    if options.no_ignore {
        builder.standard_filters(false).hidden(false);
    }
    let found = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    builder.build_parallel().run(|| {
        Box::new(|entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    errors
                        .lock()
                        .expect("no worker panics while holding the lock")
                        .push(e.to_string());
                    return ignore::WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return ignore::WalkState::Continue;
            }
            let path = display_path(entry.path());
            if scanner.path_allowed(&path) {
                return ignore::WalkState::Continue;
            }
            match std::fs::File::open(entry.path()) {
                Ok(file) => match scan_stream(scanner, &Origin { path, commit: None }, file) {
                    Ok(mut f) => {
                        if !f.is_empty() {
                            found
                                .lock()
                                .expect("no worker panics while holding the lock")
                                .append(&mut f);
                        }
                    }
                    Err(e) => errors
                        .lock()
                        .expect("no worker panics while holding the lock")
                        .push(e.to_string()),
                },
                Err(e) => errors
                    .lock()
                    .expect("no worker panics while holding the lock")
                    .push(format!("{}: {e}", entry.path().display())),
            }
            ignore::WalkState::Continue
        })
    });
    let errors = errors.into_inner().expect("workers are done");
    if let Some(first) = errors.first() {
        // A file that vanished mid-walk is not worth failing over; anything else is.
        if errors.iter().any(|e| !e.contains("No such file")) {
            return Err(Error::Walk(first.clone()));
        }
    }
    let mut found = found.into_inner().expect("workers are done");
    found.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    Ok(found)
}

/// `./a/b` → `a/b`; separators as `/`.
fn display_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    let s = s.strip_prefix("./").unwrap_or(&s);
    s.replace('\\', "/")
}

/// Scans a stream in chunks of at most [`CHUNK`] bytes split at line ends.
/// Returns nothing for binary input (a NUL byte near the start).
pub fn scan_stream(scanner: &Scanner, origin: &Origin, mut reader: impl Read) -> Result<Vec<Finding>, Error> {
    let mut buf: Vec<u8> = Vec::new();
    let mut findings = Vec::new();
    let mut first_line = 1;
    let mut first = true;
    let mut eof = false;
    while !eof {
        let want = CHUNK.saturating_sub(buf.len()).max(1);
        let got = (&mut reader)
            .take(want as u64)
            .read_to_end(&mut buf)
            .map_err(|source| Error::Read {
                path: PathBuf::from(&origin.path),
                source,
            })?;
        eof = got == 0 || buf.len() < CHUNK;
        if first {
            first = false;
            if memchr::memchr(0, &buf[..buf.len().min(BINARY_PROBE)]).is_some() {
                return Ok(Vec::new());
            }
        }
        let cut = if eof {
            buf.len()
        } else {
            memchr::memrchr(b'\n', &buf).map_or(buf.len(), |i| i + 1)
        };
        findings.extend(scanner.scan(origin, &buf[..cut], first_line));
        first_line += memchr::memchr_iter(b'\n', &buf[..cut]).count();
        buf.drain(..cut);
    }
    Ok(findings)
}

/// One fragment of a diff: the lines one commit (or the index) added to one file.
struct Fragment {
    seq: usize,
    origin: Origin,
    text: Vec<u8>,
    /// New-file line number of each line of `text`.
    lines: Vec<usize>,
}

/// Scans every commit's added lines: `range` (e.g. `main..feature`) or, without one, all refs.
pub fn scan_git_history(
    scanner: &Scanner,
    repo: &Path,
    range: Option<&str>,
    n_threads: usize,
) -> Result<Vec<Finding>, Error> {
    let mut args: Vec<String> = [
        "-c",
        "core.quotePath=false",
        "log",
        "-p",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--format=%x1e%H%x1f%an%x1f%ae%x1f%aI%x1f%s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match range {
        Some(r) => args.push(r.to_owned()),
        None => args.push("--all".to_owned()),
    }
    args.push("--".to_owned());
    scan_diff(scanner, repo, &args, n_threads)
}

/// Scans what `git commit` would record now: the added lines of `git diff --cached`.
pub fn scan_staged(scanner: &Scanner, repo: &Path, n_threads: usize) -> Result<Vec<Finding>, Error> {
    let args: Vec<String> = [
        "-c",
        "core.quotePath=false",
        "diff",
        "--cached",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--diff-filter=ACMR",
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    scan_diff(scanner, repo, &args, n_threads)
}

fn scan_diff(scanner: &Scanner, repo: &Path, args: &[String], n_threads: usize) -> Result<Vec<Finding>, Error> {
    let shown = args
        .iter()
        .filter(|a| !a.starts_with("core.") && *a != "-c")
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    let git_error = |reason: String| Error::Git {
        args: shown.clone(),
        reason,
    };
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| git_error(format!("cannot run git: {e}")))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stderr_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let n = threads(n_threads);
    let results: Mutex<Vec<(usize, Finding)>> = Mutex::new(Vec::new());
    let (tx, rx) = sync_channel::<Fragment>(n * 2);
    let rx = Arc::new(Mutex::new(rx));
    let parse_result = std::thread::scope(|s| {
        for _ in 0..n {
            let rx = Arc::clone(&rx);
            let results = &results;
            s.spawn(move || worker(scanner, &rx, results));
        }
        let r = parse_diff(BufReader::with_capacity(1 << 16, stdout), &tx);
        drop(tx);
        r
    });
    let status = child.wait().map_err(|e| git_error(e.to_string()))?;
    let err_text = stderr_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(git_error(err_text.trim().to_owned()));
    }
    parse_result.map_err(|e| git_error(format!("reading its output: {e}")))?;
    let mut found = results.into_inner().expect("workers are done");
    found.sort_by(|(sa, a), (sb, b)| (sa, &a.path, a.line).cmp(&(sb, &b.path, b.line)));
    Ok(found.into_iter().map(|(_, f)| f).collect())
}

fn worker(scanner: &Scanner, rx: &Mutex<Receiver<Fragment>>, results: &Mutex<Vec<(usize, Finding)>>) {
    loop {
        let job = { rx.lock().expect("no worker panics while holding the lock").recv() };
        let Ok(frag) = job else { return };
        let mut found = scanner.scan(&frag.origin, &frag.text, 1);
        if found.is_empty() {
            continue;
        }
        for f in &mut found {
            f.line = frag.lines.get(f.line.saturating_sub(1)).copied().unwrap_or(f.line);
        }
        results
            .lock()
            .expect("no worker panics while holding the lock")
            .extend(found.into_iter().map(|f| (frag.seq, f)));
    }
}

/// Parses `git log -p -U0` / `git diff -U0` output into fragments of added lines.
fn parse_diff(mut reader: impl BufRead, tx: &SyncSender<Fragment>) -> std::io::Result<()> {
    let mut commit: Option<Commit> = None;
    let mut seq = 0usize;
    let mut path: Option<String> = None;
    let mut text: Vec<u8> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    let mut line = Vec::new();
    // Lines left in the current hunk: (old, new, next new line number).
    let mut hunk: Option<(usize, usize, usize)> = None;
    let flush =
        |path: &Option<String>, commit: &Option<Commit>, seq: usize, text: &mut Vec<u8>, lines: &mut Vec<usize>| {
            if let Some(p) = path
                && !text.is_empty()
            {
                let _ = tx.send(Fragment {
                    seq,
                    origin: Origin {
                        path: p.clone(),
                        commit: commit.clone(),
                    },
                    text: std::mem::take(text),
                    lines: std::mem::take(lines),
                });
            }
            text.clear();
            lines.clear();
        };
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let l: &[u8] = line.strip_suffix(b"\n").unwrap_or(&line);
        if let Some((old, new, next)) = hunk.as_mut()
            && (*old > 0 || *new > 0)
        {
            match l.first() {
                Some(b'+') if *new > 0 => {
                    text.extend_from_slice(&l[1..]);
                    text.push(b'\n');
                    lines.push(*next);
                    *next += 1;
                    *new -= 1;
                    if text.len() >= CHUNK {
                        flush(&path, &commit, seq, &mut text, &mut lines);
                    }
                    continue;
                }
                Some(b'-') if *old > 0 => {
                    *old -= 1;
                    continue;
                }
                Some(b'\\') => continue,
                _ => hunk = None,
            }
        }
        if l.first() == Some(&0x1e) {
            flush(&path, &commit, seq, &mut text, &mut lines);
            path = None;
            hunk = None;
            seq += 1;
            let header = String::from_utf8_lossy(&l[1..]).into_owned();
            let mut parts = header.splitn(5, '\x1f');
            commit = Some(Commit {
                id: parts.next().unwrap_or_default().to_owned(),
                author: parts.next().unwrap_or_default().to_owned(),
                email: parts.next().unwrap_or_default().to_owned(),
                date: parts.next().unwrap_or_default().to_owned(),
                message: parts.next().unwrap_or_default().to_owned(),
            });
        } else if l.starts_with(b"diff --git ") {
            flush(&path, &commit, seq, &mut text, &mut lines);
            path = None;
            hunk = None;
        } else if let Some(p) = l.strip_prefix(b"+++ ") {
            flush(&path, &commit, seq, &mut text, &mut lines);
            path = parse_diff_path(p);
        } else if l.starts_with(b"@@ ") {
            hunk = parse_hunk(l);
        }
    }
    flush(&path, &commit, seq, &mut text, &mut lines);
    Ok(())
}

/// `b/src/main.rs` → `src/main.rs`; `/dev/null` → none; C-quoted paths unquoted.
fn parse_diff_path(p: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(p);
    let s = s.trim_end_matches('\t');
    if s == "/dev/null" {
        return None;
    }
    let unquoted = if s.starts_with('"') && s.ends_with('"') && s.len() >= 2 {
        let inner = &s[1..s.len() - 1];
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        s.to_owned()
    };
    Some(unquoted.strip_prefix("b/").unwrap_or(&unquoted).to_owned())
}

/// `@@ -a[,b] +c[,d] @@` → (b, d, c).
fn parse_hunk(l: &[u8]) -> Option<(usize, usize, usize)> {
    let s = std::str::from_utf8(l).ok()?;
    let mut parts = s.split(' ');
    parts.next()?; // @@
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let count = |r: &str| -> Option<(usize, usize)> {
        match r.split_once(',') {
            Some((start, n)) => Some((start.parse().ok()?, n.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (_, old_n) = count(old)?;
    let (new_start, new_n) = count(new)?;
    Some((old_n, new_n, new_start))
}

/// The top-level directory of the git work tree containing `dir`.
pub fn git_toplevel(dir: &Path) -> Result<PathBuf, Error> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::Git {
            args: "rev-parse --show-toplevel".into(),
            reason: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        return Err(Error::Git {
            args: "rev-parse --show-toplevel".into(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunk_headers() {
        assert_eq!(parse_hunk(b"@@ -0,0 +1,3 @@"), Some((0, 3, 1)));
        assert_eq!(parse_hunk(b"@@ -5 +7 @@ fn x()"), Some((1, 1, 7)));
        assert_eq!(parse_hunk(b"@@ -5,2 +4,0 @@"), Some((2, 0, 4)));
    }

    #[test]
    fn diff_paths() {
        assert_eq!(parse_diff_path(b"b/src/a b.rs").as_deref(), Some("src/a b.rs"));
        assert_eq!(parse_diff_path(b"/dev/null"), None);
        assert_eq!(parse_diff_path(br#""b/a\"q.txt""#).as_deref(), Some("a\"q.txt"));
    }

    #[test]
    fn added_lines_keep_their_new_line_numbers() {
        let diff = b"\x1eabc123\x1fA\x1fa@b.c\x1f2026-01-01T00:00:00Z\x1fmsg\n\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,0 +2,2 @@\n+one\n+two\n@@ -9 +11 @@\n-old\n+new\n";
        let (tx, rx) = sync_channel(16);
        parse_diff(&diff[..], &tx).unwrap();
        drop(tx);
        let frags: Vec<Fragment> = rx.iter().collect();
        assert_eq!(frags.len(), 1);
        assert_eq!(frags[0].text, b"one\ntwo\nnew\n");
        assert_eq!(frags[0].lines, [2, 3, 11]);
        assert_eq!(frags[0].origin.commit.as_ref().unwrap().id, "abc123");
    }
}
