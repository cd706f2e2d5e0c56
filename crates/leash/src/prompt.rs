//! Reading secrets typed or piped in by the user: a token, an unseal share.
//!
//! It owns the choice between a no-echo prompt (stdin is a terminal) and a
//! plain line read (stdin is a pipe, for scripts). It must never echo, log or
//! return with its input anything but the trimmed line.

use std::io::{self, BufRead, IsTerminal, Read};

use anyhow::{Context as _, bail};
use secrecy::SecretString;

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

fn non_empty(text: String, what: &str) -> anyhow::Result<SecretString> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        bail!("no {what} given");
    }
    Ok(SecretString::from(trimmed.to_owned()))
}
