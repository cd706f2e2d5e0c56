//! The files the CLI reads its defaults from.
//!
//! - The per-user config, `$XDG_CONFIG_HOME/leash/config.toml` (via
//!   `dirs::config_dir()`): the server address and token saved by
//!   `leash login`. It holds a token, so it is created with mode 0600 in a
//!   0700 directory, and its mode is tightened before anything is written.
//! - `.leash.toml`, found in the current directory or the nearest parent: the
//!   default project and environment of a repository. It holds no secrets.
//!
//! This module owns reading and writing those files. It must never print or
//! log the token, and never decide precedence (flags and environment
//! variables win; that is `context.rs`'s job).

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// File name of the per-repository defaults.
pub const PROJECT_FILE: &str = ".leash.toml";

/// What `leash login` saved.
#[derive(Default, Deserialize)]
pub struct UserConfig {
    pub addr: Option<String>,
    pub token: Option<SecretString>,
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfig")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Where the per-user config lives.
pub fn user_config_path() -> anyhow::Result<PathBuf> {
    let dir = dirs::config_dir()
        .ok_or_else(|| anyhow!("cannot find the per-user config directory: set XDG_CONFIG_HOME or HOME"))?;
    Ok(dir.join("leash").join("config.toml"))
}

/// Reads the per-user config; a missing file is an empty config.
pub fn load_user_config(path: &Path) -> anyhow::Result<UserConfig> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UserConfig::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let config: UserConfig =
        toml::from_str(&text).with_context(|| format!("{} is not a valid Leash config file", path.display()))?;
    if config.token.is_some() && is_readable_by_others(path) {
        eprintln!(
            "warning: {} holds a token but other users can read it; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    Ok(config)
}

fn is_readable_by_others(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

/// Writes the per-user config with mode 0600 (tightening an existing file's
/// mode before the token is written), creating its directory with mode 0700.
pub fn save_user_config(path: &Path, config: &UserConfig) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut table = toml::Table::new();
    if let Some(addr) = &config.addr {
        table.insert("addr".into(), toml::Value::String(addr.clone()));
    }
    if let Some(token) = &config.token {
        table.insert("token".into(), toml::Value::String(token.expose_secret().to_owned()));
    }
    let text = format!(
        "# Written by `leash login`. Holds a token: keep it private (mode 0600).\n{}",
        toml::to_string(&table).context("cannot encode the config file")?
    );
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // `mode` applies only when the file is created: fix an existing file too,
    // before the token goes in.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} private (chmod 600)", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The defaults of a repository, from `.leash.toml`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ProjectFile {
    pub project: Option<String>,
    pub env: Option<String>,
}

/// The nearest `.leash.toml` in `start` or one of its parents.
pub fn find_project_file(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(PROJECT_FILE))
        .find(|candidate| candidate.is_file())
}

/// Reads the nearest `.leash.toml` above `start`, with the path it came from.
pub fn load_project_file(start: &Path) -> anyhow::Result<Option<(PathBuf, ProjectFile)>> {
    let Some(path) = find_project_file(start) else {
        return Ok(None);
    };
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: ProjectFile = toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    Ok(Some((path, file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_user_config_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leash").join("config.toml");
        let config = UserConfig {
            addr: Some("https://leash.example:8270".into()),
            token: Some("lsh_abc".into()),
        };
        save_user_config(&path, &config).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let back = load_user_config(&path).unwrap();
        assert_eq!(back.addr, config.addr);
        assert_eq!(back.token.unwrap().expose_secret(), "lsh_abc");
    }

    #[test]
    fn an_existing_loose_config_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, "addr = \"http://x\"\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        save_user_config(&path, &UserConfig::default()).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_missing_config_is_empty_and_debug_hides_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let config = load_user_config(&dir.path().join("nope.toml")).unwrap();
        assert!(config.addr.is_none() && config.token.is_none());
        let config = UserConfig {
            addr: None,
            token: Some("lsh_topsecret".into()),
        };
        assert!(!format!("{config:?}").contains("topsecret"));
    }

    #[test]
    fn project_files_are_found_upwards() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b");
        fs::create_dir_all(&nested).unwrap();
        assert!(
            load_project_file(&nested)
                .unwrap()
                .is_none_or(|(p, _)| !p.starts_with(dir.path()))
        );

        fs::write(dir.path().join(PROJECT_FILE), "project = \"payment\"\nenv = \"dev\"\n").unwrap();
        let (path, file) = load_project_file(&nested).unwrap().unwrap();
        assert_eq!(path, dir.path().join(PROJECT_FILE));
        assert_eq!(file.project.as_deref(), Some("payment"));
        assert_eq!(file.env.as_deref(), Some("dev"));

        // The nearest file wins.
        fs::write(dir.path().join("a").join(PROJECT_FILE), "env = \"staging\"\n").unwrap();
        let (_, file) = load_project_file(&nested).unwrap().unwrap();
        assert_eq!(
            file,
            ProjectFile {
                project: None,
                env: Some("staging".into())
            }
        );
    }

    #[test]
    fn broken_project_files_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(PROJECT_FILE), "project = [").unwrap();
        let err = load_project_file(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains(PROJECT_FILE), "{err:#}");
    }
}
