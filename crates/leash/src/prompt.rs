//! Reading secrets typed or piped in by the user: a token, an unseal share,
//! a password, a client secret, a JWT.
//!
//! It owns the choice between a no-echo prompt (stdin is a terminal) and a
//! plain line read (stdin is a pipe, for scripts), and how input is cleaned
//! up: tokens, shares, client secrets and JWTs are trimmed; passwords lose
//! only their line ending, so spaces in them count. It must never echo or
//! log its input, nor put it into an error message.

use std::io::{self, BufRead, IsTerminal, Read};
use std::path::Path;

use anyhow::{Context as _, bail};
use secrecy::{ExposeSecret, SecretString};

/// Reads one secret line: prompted without echo on a terminal, else the
/// first line of stdin. Surrounding whitespace is removed; empty is an error.
pub fn read_secret_line(prompt: &str, what: &str) -> anyhow::Result<SecretString> {
    let line = if io::stdin().is_terminal() {
        rpassword::prompt_password(prompt).with_context(|| format!("cannot read the {what}"))?
    } else {
        let mut line = String::new();
        io::stdin()
            .lock()
            .read_line(&mut line)
            .with_context(|| format!("cannot read the {what} from stdin"))?;
        line
    };
    non_empty(line, what)
}

/// Reads all of stdin as one secret (trimmed), e.g. `--token -`.
pub fn read_secret_stdin(what: &str) -> anyhow::Result<SecretString> {
    let mut text = String::new();
    io::stdin()
        .lock()
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read the {what} from stdin"))?;
    non_empty(text, what)
}

/// Reads a file holding one secret (a client secret, a JWT), trimmed.
pub fn read_secret_file(path: &Path, what: &str) -> anyhow::Result<SecretString> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the {what} from {}", path.display()))?;
    non_empty(text, what).with_context(|| format!("{} is empty", path.display()))
}

/// A password: prompted without echo on a terminal, else the first line of
/// stdin. Only the line ending is removed.
pub fn read_password(prompt: &str) -> anyhow::Result<SecretString> {
    if io::stdin().is_terminal() {
        let line = rpassword::prompt_password(prompt).context("cannot read the password")?;
        password(line)
    } else {
        read_password_stdin()
    }
}

/// A new password: prompted twice without echo on a terminal (the two must
/// match), else the first line of stdin.
pub fn read_new_password(prompt: &str) -> anyhow::Result<SecretString> {
    if !io::stdin().is_terminal() {
        return read_password_stdin();
    }
    let first = read_password(prompt)?;
    let second = read_password("Repeat the password: ")?;
    if first.expose_secret() != second.expose_secret() {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

/// `--password-stdin`: the first line of stdin, without its line ending.
pub fn read_password_stdin() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    password(line)
}

/// Strips one line ending; an empty password is an error.
fn password(mut line: String) -> anyhow::Result<SecretString> {
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    if line.is_empty() {
        bail!("no password given");
    }
    Ok(SecretString::from(line))
}

fn non_empty(text: String, what: &str) -> anyhow::Result<SecretString> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        bail!("no {what} given");
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_lose_only_their_line_ending() {
        let check = |input: &str, expected: Option<&str>| match (password(input.to_owned()), expected) {
            (Ok(p), Some(want)) => assert_eq!(p.expose_secret(), want, "{input:?}"),
            (Err(e), None) => assert!(e.to_string().contains("no password"), "{e}"),
            (got, want) => panic!("{input:?}: got {:?}, want {want:?}", got.map(|_| "a password")),
        };
        check("hunter2\n", Some("hunter2"));
        check("hunter2\r\n", Some("hunter2"));
        check(" with spaces \n", Some(" with spaces "));
        check("no newline", Some("no newline"));
        check("\n", None);
        check("", None);
    }

    #[test]
    fn secret_files_are_trimmed_and_named_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "  cs_abc\n").unwrap();
        assert_eq!(
            read_secret_file(&file, "client secret").unwrap().expose_secret(),
            "cs_abc"
        );
        std::fs::write(&file, "\n").unwrap();
        let err = read_secret_file(&file, "client secret").unwrap_err();
        assert!(format!("{err:#}").contains("is empty"), "{err:#}");
        let err = read_secret_file(&dir.path().join("nope"), "client secret").unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot read the client secret from"),
            "{err:#}"
        );
    }
}
