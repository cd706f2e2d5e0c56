//! `--mount FILE`: the secrets as a file instead of environment variables.
//!
//! It owns rendering (dotenv with the same quoting as `leash export`, which
//! `dotenvy` reads back exactly; or one flat JSON object), writing the file
//! atomically with mode 0600, and removing it when dropped.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::vars::Vars;
use crate::Error;

/// The mounted file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MountFormat {
    /// `KEY="value"` lines (dotenv).
    #[default]
    Dotenv,
    /// One flat JSON object `{"KEY": "value"}`.
    Json,
}

/// Renders `vars` in `format`.
pub fn render(format: MountFormat, vars: &Vars) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    match format {
        MountFormat::Dotenv => {
            for (name, value) in vars {
                out.push_str(name);
                out.push('=');
                dotenv_quote(value, &mut out);
                out.push('\n');
            }
        }
        MountFormat::Json => {
            let map: std::collections::BTreeMap<&str, &str> =
                vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let text = Zeroizing::new(serde_json::to_string_pretty(&map).expect("a map of strings encodes"));
            out.push_str(&text);
            out.push('\n');
        }
    }
    out
}

/// A double-quoted dotenv value that dotenvy reads back exactly: `\`, `"`
/// and `$` are escaped (no variable expansion) and a newline becomes `\n`.
/// The same rule as `leash export --format dotenv`.
fn dotenv_quote(value: &str, out: &mut String) {
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A mounted secrets file; removed when dropped.
#[derive(Debug)]
pub struct MountFile {
    path: PathBuf,
    format: MountFormat,
    written: bool,
}

impl MountFile {
    /// `path` is made absolute, so the child finds it from any directory.
    pub fn new(path: &Path, format: MountFormat) -> Result<Self, Error> {
        let path = std::path::absolute(path).map_err(|e| Error::io("cannot resolve the mount path", path, e))?;
        Ok(Self {
            path,
            format,
            written: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the file (temporary file with mode 0600 in the same directory, then a rename).
    pub fn write(&mut self, vars: &Vars) -> Result<(), Error> {
        let text = render(self.format, vars);
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        let mut file =
            tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("cannot create the mount file in", dir, e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| Error::io("cannot write the mount file", &self.path, e))?;
        file.persist(&self.path)
            .map_err(|e| Error::io("cannot write the mount file", &self.path, e.error))?;
        self.written = true;
        Ok(())
    }
}

impl Drop for MountFile {
    fn drop(&mut self) {
        if self.written
            && let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("warning: cannot remove the mount file {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Zeroizing::new((*v).to_owned())))
            .collect()
    }

    #[test]
    fn dotenv_round_trips_through_dotenvy() {
        let values = [
            "plain",
            "",
            "a b",
            "it's",
            "\"q\"",
            "$HOME ${X} `id`",
            "back\\slash\\",
            "multi\nline\n",
            "cr\r\n",
            "tab\there",
            "# not a comment",
            "ünïcödé ✓",
            "=x=",
        ];
        for value in values {
            let v = vars(&[("KEY", value), ("Z", "z")]);
            let text = render(MountFormat::Dotenv, &v);
            let back: Vec<(String, String)> = dotenvy::from_read_iter(text.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(
                back,
                [("KEY".to_owned(), value.to_owned()), ("Z".into(), "z".into())],
                "{value:?}"
            );
        }
    }

    #[test]
    fn json_is_one_flat_object() {
        let text = render(MountFormat::Json, &vars(&[("A", "1"), ("B", "x\"y")]));
        let back: std::collections::BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
        assert_eq!(back["B"], "x\"y");
    }

    #[test]
    fn the_file_is_0600_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.env");
        let mut mount = MountFile::new(&path, MountFormat::Dotenv).unwrap();
        mount.write(&vars(&[("A", "1")])).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "A=\"1\"\n");
        mount.write(&vars(&[("A", "2")])).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "A=\"2\"\n");
        drop(mount);
        assert!(!path.exists());
    }
}
