//! `scan-accuracy --git-history N`: the planted tree as the history of a
//! git repository, for timing and scoring the scanners' history modes.
//!
//! The tree's files are added a few per commit, with commits in between that
//! append a line to an already added `.rs` file (so the history has thousands
//! of commits and real edits). The last commit holds the planted tree plus
//! those appended lines, so every planted secret enters the history exactly
//! once, at the path and line its label names. Built with one
//! `git fast-import` stream (a few seconds for thousands of commits); it never
//! touches a repository other than the one it creates.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use super::values::Rng;

/// Commits every file under `tree` (the copied sources and the planted
/// files) into a new repository at `repo` as about `commits` commits, in path
/// order; returns how many it made.
pub(super) fn commit_tree(tree: &Path, repo: &Path, commits: usize, rng: &mut Rng) -> anyhow::Result<usize> {
    let all = files_under(tree)?;
    let files: Vec<&String> = all
        .iter()
        .filter(|f| !f.starts_with('"') && !f.contains('\n'))
        .collect();
    if files.is_empty() || commits == 0 {
        bail!("nothing to commit");
    }
    std::fs::create_dir_all(repo)?;
    let init = Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .current_dir(repo)
        .status()
        .context("git init")?;
    if !init.success() {
        bail!("git init failed: {init}");
    }
    let mut import = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(repo)
        .stdin(Stdio::piped())
        .spawn()
        .context("git fast-import")?;
    let mut stream = std::io::BufWriter::new(import.stdin.take().expect("piped"));
    // Spread the files over the adding commits; the other commits edit.
    let per_add = files.len().div_ceil(commits.min(files.len()));
    let chunks = files.len().div_ceil(per_add);
    let edits = commits.saturating_sub(chunks);
    let mut edited: HashMap<String, Vec<u8>> = HashMap::new();
    let mut added_rs: Vec<&String> = Vec::new();
    let mut made = 0;
    let mut time = 1_700_000_000u64;
    for (i, chunk) in files.chunks(per_add).enumerate() {
        // the edits spread evenly behind the adding commits
        let edits_between = edits * (i + 1) / chunks - edits * i / chunks;
        let mut changes = Vec::new();
        for &path in chunk {
            let bytes = std::fs::read(tree.join(path)).with_context(|| format!("reading {path}"))?;
            if path.ends_with(".rs") {
                added_rs.push(path);
            }
            changes.push((path.clone(), bytes));
        }
        commit(&mut stream, &format!("add {}", chunk[0]), time, &changes)?;
        made += 1;
        time += 60;
        for _ in 0..edits_between {
            let Some(&path) = added_rs.get(rng.below(added_rs.len().max(1))) else {
                break;
            };
            let current = match edited.remove(path) {
                Some(bytes) => bytes,
                None => std::fs::read(tree.join(path))?,
            };
            let mut bytes = current;
            if !bytes.ends_with(b"\n") {
                bytes.push(b'\n');
            }
            bytes.extend_from_slice(format!("// bench edit {made}\n").as_bytes());
            commit(
                &mut stream,
                &format!("edit {path}"),
                time,
                &[(path.clone(), bytes.clone())],
            )?;
            edited.insert(path.clone(), bytes);
            made += 1;
            time += 60;
        }
    }
    stream.flush()?;
    drop(stream);
    let status = import.wait()?;
    if !status.success() {
        bail!("git fast-import failed: {status}");
    }
    Ok(made)
}

/// One commit on `main` in fast-import's format, its files inline.
fn commit(out: &mut impl Write, message: &str, time: u64, files: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    writeln!(out, "commit refs/heads/main")?;
    writeln!(out, "committer Leash Bench <bench@leash.invalid> {time} +0000")?;
    writeln!(out, "data {}\n{message}", message.len())?;
    for (path, bytes) in files {
        writeln!(out, "M 100644 inline {path}")?;
        writeln!(out, "data {}", bytes.len())?;
        out.write_all(bytes)?;
        writeln!(out)?;
    }
    Ok(())
}

/// Every regular file under `root`, as sorted relative paths.
fn files_under(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let rel = entry
                    .path()
                    .strip_prefix(root)
                    .expect("under the root")
                    .to_string_lossy()
                    .into_owned();
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}
