//! Records the commit the binary was built from, for `leash --version`:
//! `git rev-parse --short=12 HEAD` (with `-dirty` when the tree has changes),
//! or `LEASH_COMMIT` when set (a build without a checkout, e.g. from a source
//! tarball), or `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=LEASH_COMMIT");
    let commit = std::env::var("LEASH_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let head = git(&["rev-parse", "--short=12", "HEAD"])?;
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            // Rebuild when HEAD moves (a commit, a checkout).
            if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
                println!("cargo:rerun-if-changed={dir}/HEAD");
                println!("cargo:rerun-if-changed={dir}/refs");
            }
            Some(if dirty { format!("{head}-dirty") } else { head })
        });
    println!(
        "cargo:rustc-env=LEASH_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}
