//! Templates: minijinja sources rendered to files, atomically, with hooks.
//!
//! Templates are compiled once at start-up (a syntax error stops the agent
//! before it logs in). Each copy of the secrets renders every template; a
//! file is written only when its output differs from the last one (compared
//! by SHA-256, so no second copy of the output is kept), by writing a
//! temporary file in the destination's directory, setting its mode and owner,
//! fsyncing it and renaming it over the destination. Then the template's hook
//! runs: `sh -c COMMAND`, or a signal to a process.
//!
//! Template functions: `secret(PATH)` is the value of the secret at PATH in
//! the agent's environment (`DATABASE_URL`, `stripe/API_KEY`, or fully
//! qualified `payment/prod/DATABASE_URL` for the agent's own project and
//! environment); a missing secret fails the render, which keeps the old
//! file. `secrets()` maps every environment-variable name to its value.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::{Arc, Mutex};

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::config::{Hook, Template};
use super::sync::Secrets;
use crate::Error;

/// The secrets a render reads; set before each round of renders.
type Current = Arc<Mutex<Option<Arc<Secrets>>>>;

/// Every template of the agent, compiled.
pub struct Templates {
    env: Environment<'static>,
    items: Vec<Item>,
    current: Current,
}

struct Item {
    spec: Template,
    /// SHA-256 of the output last written (or found on disk).
    last: Option<[u8; 32]>,
}

/// A file that changed: its hook is due.
pub struct Changed<'a> {
    pub name: &'a str,
    pub hook: Option<&'a Hook>,
}

impl Templates {
    /// Compiles `templates`; `project`/`env` are the agent's own, for fully qualified paths.
    pub fn new(templates: Vec<Template>, project: &str, env: &str) -> Result<Self, Error> {
        let current: Current = Arc::default();
        let mut environment = Environment::new();
        environment.set_auto_escape_callback(|_| AutoEscape::None);
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_keep_trailing_newline(true);
        let qualified = format!("{project}/{env}/");
        let lookup = current.clone();
        environment.add_function("secret", move |path: &str| -> Result<Value, minijinja::Error> {
            let guard = lookup.lock().unwrap_or_else(|p| p.into_inner());
            let secrets = guard
                .as_ref()
                .ok_or_else(|| minijinja::Error::new(ErrorKind::InvalidOperation, "no secrets fetched yet"))?;
            let entry = secrets
                .entries
                .get(path)
                .or_else(|| path.strip_prefix(&qualified).and_then(|p| secrets.entries.get(p)));
            match entry {
                Some(entry) => Ok(Value::from(entry.value.as_str())),
                None => Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("no secret {path:?} that the agent may read"),
                )),
            }
        });
        let lookup = current.clone();
        environment.add_function("secrets", move || -> Result<Value, minijinja::Error> {
            let guard = lookup.lock().unwrap_or_else(|p| p.into_inner());
            let secrets = guard
                .as_ref()
                .ok_or_else(|| minijinja::Error::new(ErrorKind::InvalidOperation, "no secrets fetched yet"))?;
            Ok(secrets
                .entries
                .values()
                .map(|e| (e.env_var.as_str(), e.value.as_str()))
                .collect())
        });
        let mut items = Vec::new();
        for spec in templates {
            environment
                .add_template_owned(spec.name.clone(), spec.source.clone())
                .map_err(|e| Error::Invalid(format!("template for {}: {e}", spec.name)))?;
            items.push(Item { spec, last: None });
        }
        Ok(Self {
            env: environment,
            items,
            current,
        })
    }

    /// Renders every template from `secrets`, writes the files whose output
    /// changed and returns them (their hooks are the caller's). A template
    /// that fails keeps its old file and is logged.
    pub fn render_all(&mut self, secrets: &Arc<Secrets>) -> Vec<Changed<'_>> {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(secrets.clone());
        let mut changed = Vec::new();
        for (index, item) in self.items.iter_mut().enumerate() {
            match render_one(&self.env, item) {
                Ok(true) => changed.push(index),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(template = item.spec.name, error = %e, "cannot render; the file keeps its old contents")
                }
            }
        }
        // Renders read the copy only while running.
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        changed
            .into_iter()
            .map(|i| Changed {
                name: &self.items[i].spec.name,
                hook: self.items[i].spec.hook.as_ref(),
            })
            .collect()
    }
}

/// Renders one template; `true` when its file was (re)written with new contents.
fn render_one(env: &Environment<'static>, item: &mut Item) -> Result<bool, Error> {
    let spec = &item.spec;
    let template = env
        .get_template(&spec.name)
        .map_err(|e| Error::Invalid(format!("template {}: {}", spec.name, e)))?;
    let output = Zeroizing::new(template.render(()).map_err(|e| Error::Invalid(render_error(&e)))?);
    let digest: [u8; 32] = Sha256::digest(output.as_bytes()).into();
    if item.last == Some(digest) {
        return Ok(false);
    }
    if item.last.is_none() {
        // First render: a file already holding this output (an agent restart) is left alone.
        if let Ok(existing) = std::fs::read(&spec.destination).map(Zeroizing::new)
            && Sha256::digest(&existing[..])[..] == digest[..]
        {
            item.last = Some(digest);
            ensure_mode(spec)?;
            return Ok(false);
        }
    }
    write_atomic(spec, output.as_bytes())?;
    item.last = Some(digest);
    tracing::info!(template = spec.name, "rendered");
    Ok(true)
}

/// A render error's kind and location, never the data it was rendering.
fn render_error(e: &minijinja::Error) -> String {
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message.push_str(": ");
        message.push_str(detail);
    }
    if let (Some(name), Some(line)) = (e.name(), e.line()) {
        message.push_str(&format!(" (template {name}, line {line})"));
    }
    message
}

/// Sets the configured mode and owner on an existing destination.
fn ensure_mode(spec: &Template) -> Result<(), Error> {
    let what = "cannot set the mode of";
    std::fs::set_permissions(&spec.destination, std::fs::Permissions::from_mode(spec.mode))
        .map_err(|e| Error::io(what, &spec.destination, e))?;
    if spec.uid.is_some() || spec.gid.is_some() {
        std::os::unix::fs::chown(&spec.destination, spec.uid, spec.gid)
            .map_err(|e| Error::io("cannot set the owner of", &spec.destination, e))?;
    }
    Ok(())
}

/// Temp file in the same directory, mode and owner, fsync, rename, fsync the directory.
fn write_atomic(spec: &Template, contents: &[u8]) -> Result<(), Error> {
    let dest = &spec.destination;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("cannot create the directory", &dir, e))?;
    }
    let io = |what: &'static str| move |e: std::io::Error| Error::io(what, dest, e);
    // tempfile creates the file with mode 0600, so the contents are never more exposed.
    let mut tmp = tempfile::Builder::new()
        .prefix(".leash-agent-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::io("cannot create a temporary file in", &dir, e))?;
    tmp.write_all(contents).map_err(io("cannot write"))?;
    if spec.uid.is_some() || spec.gid.is_some() {
        std::os::unix::fs::fchown(tmp.as_file(), spec.uid, spec.gid).map_err(io("cannot set the owner of"))?;
    }
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(spec.mode))
        .map_err(io("cannot set the mode of"))?;
    tmp.as_file().sync_all().map_err(io("cannot sync"))?;
    tmp.persist(dest)
        .map_err(|e| Error::io("cannot replace", dest, e.error))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Entry;

    fn secrets(pairs: &[(&str, &str, &str)]) -> Arc<Secrets> {
        Arc::new(Secrets {
            revision: 1,
            entries: pairs
                .iter()
                .map(|(path, var, value)| {
                    (
                        (*path).to_owned(),
                        Entry {
                            path: (*path).to_owned(),
                            env_var: (*var).to_owned(),
                            value: Zeroizing::new((*value).to_owned()),
                        },
                    )
                })
                .collect(),
        })
    }

    fn template(dir: &Path, source: &str) -> Template {
        let destination = dir.join("sub/out.conf");
        Template {
            name: destination.display().to_string(),
            source: source.to_owned(),
            destination,
            mode: 0o600,
            uid: None,
            gid: None,
            hook: None,
        }
    }

    #[test]
    fn renders_writes_0600_and_rewrites_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let spec = template(
            dir.path(),
            "db={{ secret(\"DATABASE_URL\") }}\nkey={{ secret(\"payment/prod/stripe/API_KEY\") }}\n{% for k, v in secrets()|items %}{{ k }};{% endfor %}\n",
        );
        let dest = spec.destination.clone();
        let mut t = Templates::new(vec![spec], "payment", "prod").unwrap();
        let s = secrets(&[
            ("DATABASE_URL", "DATABASE_URL", "pg://a"),
            ("stripe/API_KEY", "STRIPE_API_KEY", "sk_1"),
        ]);
        assert_eq!(t.render_all(&s).len(), 1);
        assert_eq!(
            std::fs::read_to_string(&dest).unwrap(),
            "db=pg://a\nkey=sk_1\nDATABASE_URL;STRIPE_API_KEY;\n"
        );
        assert_eq!(std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(t.render_all(&s).len(), 0, "same output, no rewrite");
        let s2 = secrets(&[
            ("DATABASE_URL", "DATABASE_URL", "pg://b"),
            ("stripe/API_KEY", "STRIPE_API_KEY", "sk_1"),
        ]);
        assert_eq!(t.render_all(&s2).len(), 1);
        assert!(std::fs::read_to_string(&dest).unwrap().starts_with("db=pg://b\n"));
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_secret_keeps_the_old_file_and_the_error_holds_no_value() {
        let dir = tempfile::tempdir().unwrap();
        let spec = template(dir.path(), "{{ secret(\"A\") }}{{ secret(\"NOPE\") }}");
        let dest = spec.destination.clone();
        let mut t = Templates::new(vec![spec], "p", "e").unwrap();
        assert!(t.render_all(&secrets(&[("A", "A", "planted-value")])).is_empty());
        assert!(!dest.exists());
        let env = &t.env;
        *t.current.lock().unwrap() = Some(secrets(&[("A", "A", "planted-value")]));
        let err = env.get_template(&t.items[0].spec.name).unwrap().render(()).unwrap_err();
        let message = render_error(&err);
        assert!(message.contains("NOPE") && !message.contains("planted"), "{message}");
    }

    #[test]
    fn syntax_errors_are_found_at_start() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Templates::new(vec![template(dir.path(), "{{ secret(")], "p", "e").is_err());
    }
}
