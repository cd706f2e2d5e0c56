//! The git pre-commit hook: `leash scan install-hook`.
//!
//! The hook runs `leash scan --staged`, so a commit that adds a secret is
//! refused. A hook that Leash did not write is never replaced without
//! `force`, and then it is kept beside the new one. This module writes only
//! the hook file (and its backup).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// A line that marks a hook as written by Leash.
pub const MARKER: &str = "# leash-scan pre-commit hook";

/// What [`install`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Installed {
    Created(PathBuf),
    Replaced(PathBuf),
    /// A foreign hook was moved to the second path.
    ReplacedForeign(PathBuf, PathBuf),
}

/// The hook script. `fallback` is the absolute path of the running binary,
/// used when `leash` is not on the PATH at commit time.
pub fn script(fallback: &Path) -> String {
    let fallback = fallback.display().to_string().replace('\'', r"'\''");
    format!(
        "#!/bin/sh\n{MARKER} (installed by `leash scan install-hook`).\n\
         # Refuses commits whose staged changes add a secret. Bypass once with `git commit --no-verify`;\n\
         # accept a finding with a `leash:allow` comment or its fingerprint in .leashignore.\n\
         if command -v leash >/dev/null 2>&1; then\n    exec leash scan --staged\nfi\n\
         exec '{fallback}' scan --staged\n"
    )
}

/// Where git looks for the pre-commit hook of the repository at `dir` (honours `core.hooksPath`).
pub fn hook_path(dir: &Path) -> Result<PathBuf, Error> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--git-path", "hooks/pre-commit"])
        .output()
        .map_err(|e| Error::Git {
            args: "rev-parse --git-path hooks/pre-commit".into(),
            reason: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        return Err(Error::Git {
            args: "rev-parse --git-path hooks/pre-commit".into(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(if p.is_absolute() { p } else { dir.join(p) })
}

/// Installs the hook for the repository at `dir`.
pub fn install(dir: &Path, fallback: &Path, force: bool) -> Result<Installed, Error> {
    let path = hook_path(dir)?;
    let write_err = |source| Error::Write {
        path: path.clone(),
        source,
    };
    let existing = match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Some(String::new()),
        Err(source) => {
            return Err(Error::Read {
                path: path.clone(),
                source,
            });
        }
    };
    let backup = path.with_file_name("pre-commit.before-leash");
    let outcome = match &existing {
        None => Installed::Created(path.clone()),
        Some(s) if s.contains(MARKER) => Installed::Replaced(path.clone()),
        Some(_) if !force => {
            return Err(Error::ForeignHook {
                path: path.clone(),
                backup: backup.display().to_string(),
            });
        }
        Some(_) => {
            std::fs::rename(&path, &backup).map_err(write_err)?;
            Installed::ReplacedForeign(path.clone(), backup)
        }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    std::fs::write(&path, script(fallback)).map_err(write_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(write_err)?;
    }
    Ok(outcome)
}
