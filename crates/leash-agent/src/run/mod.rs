//! `leash run`: fetch an environment's secrets and run a command with them.
//!
//! One request fetches every secret the caller may read (under `--path`),
//! the values become environment variables (or a `--mount` file), Leash's
//! own variables are removed, and the command runs as a child whose signals
//! are forwarded and whose exit code becomes ours. With `--watch`, a change
//! feed triggers a debounced re-fetch and a graceful restart (or a signal).
//! Every successful fetch refreshes the encrypted [`crate::cache`], which
//! `--fallback` and `--offline` start from when the server is unreachable.
//!
//! Entry point: [`run`] with [`RunOptions`]. Modules: `vars` (names,
//! `--only`, `--preserve-env`), `child` (spawn, signals, exit codes),
//! `mount` (the secrets file), `watch` (the reconnecting change feed).

mod child;
mod mount;
mod vars;
mod watch;

use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use leash_client::e2e::Identities;
use leash_client::{Client, ListOptions};
use nix::sys::signal::Signal;
use tokio::process::Child;
use tokio::time::Instant;

pub use self::child::FORWARDED;
use self::child::Signals;
use self::mount::MountFile;
pub use self::mount::MountFormat;
pub use self::vars::{LEASH_VARS, Vars, variables};
use crate::Error;
use crate::cache::{Cache, Entry, Snapshot, now_unix};

/// The variable that tells a `--mount` child where its secrets are.
pub const SECRETS_FILE_VAR: &str = "LEASH_SECRETS_FILE";

/// Where the secrets come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The server; failing to reach it is an error.
    Server,
    /// The server, or the cache when the server cannot be reached (`--fallback`).
    ServerOrCache,
    /// The cache only (`--offline`).
    Cache,
}

/// What `--watch` does when a secret changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnChange {
    /// Stop the child gracefully and start it again with the new values.
    Restart,
    /// Send the child this signal (it re-reads a `--mount` file, say).
    Signal(Signal),
}

impl FromStr for OnChange {
    type Err = String;

    /// `restart`, or `signal:HUP` / `signal:SIGUSR1` (one of the forwarded signals).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "restart" {
            return Ok(OnChange::Restart);
        }
        let usage = || format!("{s:?}: expected `restart` or `signal:NAME` (HUP, INT, QUIT, TERM, USR1, USR2)");
        let name = s.strip_prefix("signal:").ok_or_else(usage)?.to_ascii_uppercase();
        let name = if name.starts_with("SIG") {
            name
        } else {
            format!("SIG{name}")
        };
        let sig = Signal::from_str(&name).map_err(|_| usage())?;
        if FORWARDED.contains(&sig) {
            Ok(OnChange::Signal(sig))
        } else {
            Err(usage())
        }
    }
}

/// `--watch` settings.
#[derive(Clone, Copy, Debug)]
pub struct WatchOptions {
    pub on_change: OnChange,
    /// How long a restarted child may take to exit after SIGTERM before SIGKILL.
    pub grace: Duration,
    /// Changes closer together than this are one change (trailing debounce,
    /// but never delayed by more than ten times this).
    pub debounce: Duration,
    /// After the debounce, wait a random part of this before fetching and
    /// restarting (or signalling), so many instances spread their restarts
    /// over the window ([`crate::jitter`]); zero acts at once.
    pub restart_jitter: Duration,
}

/// `--mount` settings.
#[derive(Clone, Debug)]
pub struct MountOptions {
    pub path: PathBuf,
    pub format: MountFormat,
}

/// Everything `leash run` needs.
pub struct RunOptions {
    pub client: Client,
    pub project: String,
    pub env: String,
    /// `--path`: only secrets in this folder.
    pub prefix: Option<String>,
    /// `--only`: only these variables.
    pub only: Option<Vec<String>>,
    /// `--preserve-env`: variables already set win over Leash's.
    pub preserve_env: bool,
    pub source: Source,
    /// Where fetches are cached; `None` when there is no key (no token, no passphrase).
    pub cache: Option<Cache>,
    pub watch: Option<WatchOptions>,
    pub mount: Option<MountOptions>,
    /// Variables removed from the child's environment ([`LEASH_VARS`] and the passphrase variable).
    pub remove_vars: Vec<String>,
    /// The command and its arguments.
    pub command: Vec<OsString>,
    /// Age identities for end-to-end encrypted environments (`--identity` / `LEASH_AGE_IDENTITY`).
    pub identities: Option<Identities>,
}

/// Fetches every readable secret of `project/env` (under `prefix`) with its
/// value, in one request. End-to-end encrypted values are decrypted with
/// `identities`; if any cannot be, the whole fetch fails (nothing is
/// delivered with half its secrets).
pub async fn fetch(
    client: &Client,
    project: &str,
    env: &str,
    prefix: Option<&str>,
    identities: Option<&Identities>,
) -> Result<Snapshot, Error> {
    let options = ListOptions {
        prefix: prefix.map(str::to_owned),
        include_values: true,
        at_revision: None,
    };
    let mut list = client.list_secrets(project, env, &options).await?;
    if let Err(e) = leash_client::e2e::decrypt_list(&mut list, identities) {
        for secret in &mut list.secrets {
            if let Some(value) = &mut secret.value {
                zeroize::Zeroize::zeroize(value);
            }
        }
        return Err(e.into());
    }
    let fetched_at = now_unix();
    let entries = list
        .secrets
        .into_iter()
        .map(|mut s| match s.value.take() {
            Some(value) => Ok(Entry {
                path: s.path,
                env_var: s.env_var,
                value,
            }),
            None => Err(Error::MissingValue { path: s.path }),
        })
        .collect::<Result<_, _>>()?;
    Ok(Snapshot {
        project: project.to_owned(),
        env: env.to_owned(),
        prefix: prefix.map(str::to_owned),
        revision: list.revision,
        fetched_at,
        entries,
    })
}

/// Whether an error means "the server cannot be reached" (so a cache may
/// stand in), as opposed to an answer such as 401, 403 or 404.
pub fn is_unreachable(err: &Error) -> bool {
    match err {
        Error::Client(e) => e.is_unavailable(),
        _ => false,
    }
}

/// Runs the command; returns the exit code `leash run` should exit with.
///
/// Errors before the child starts are returned (the command does not run);
/// once it runs, problems (a failed re-fetch, a lost watch) are warnings
/// and the child keeps its current values.
pub async fn run(opts: RunOptions) -> Result<u8, Error> {
    let (snapshot, online) = initial_snapshot(&opts).await?;
    if online {
        store(&opts, &snapshot);
    }
    let vars = variables(&snapshot.entries, opts.only.as_deref())?;
    let mut mount = match &opts.mount {
        Some(m) => {
            let mut file = MountFile::new(&m.path, m.format)?;
            file.write(&vars)?;
            Some(file)
        }
        None => None,
    };
    let mut changes = opts.watch.map(|_| {
        watch::spawn(
            opts.client.clone(),
            opts.project.clone(),
            opts.env.clone(),
            opts.prefix.clone(),
            snapshot.revision,
        )
    });
    let mut signals = Signals::install()?;
    let mut current = Delivered {
        revision: snapshot.revision,
        vars,
    };
    drop(snapshot);
    let mut child = spawn(&opts, &current.vars, mount.as_ref())?;

    // Debounce state: when the first and the last pending change arrived, and
    // this batch's share of the restart jitter (drawn once, at its first change).
    let mut pending: Option<(Instant, Instant, Duration)> = None;
    loop {
        let deadline = match (pending, opts.watch) {
            (Some((first, last, jitter)), Some(w)) => Some((last + w.debounce).min(first + w.debounce * 10) + jitter),
            _ => None,
        };
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|e| Error::Invalid(format!("cannot wait for the command: {e}")))?;
                return Ok(child::exit_code(status));
            }
            sig = signals.recv() => child::send(&child, sig),
            Some(revision) = recv(&mut changes) => {
                if revision > current.revision
                    && let Some(w) = opts.watch
                {
                    let now = Instant::now();
                    pending = Some(match pending {
                        Some((first, _, jitter)) => (first, now, jitter),
                        None => (now, now, crate::jitter::delay(w.restart_jitter)),
                    });
                }
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                pending = None;
                let watch = opts.watch.expect("a deadline is only set with --watch");
                match refresh(&opts, &mut current).await {
                    Ok(false) => {}
                    Ok(true) => {
                        if let Some(file) = &mut mount
                            && let Err(e) = file.write(&current.vars)
                        {
                            eprintln!("warning: {e}");
                        }
                        match watch.on_change {
                            OnChange::Signal(sig) => child::send(&child, sig),
                            OnChange::Restart => {
                                let (status, interrupted) = child::stop(&mut child, watch.grace, &mut signals).await;
                                if interrupted {
                                    return Ok(child::exit_code(status));
                                }
                                child = spawn(&opts, &current.vars, mount.as_ref())?;
                            }
                        }
                    }
                    Err(e) => {
                        // Keep the child as it is; when the server is only
                        // unreachable, try again a little later.
                        eprintln!("warning: cannot fetch the changed secrets ({e}); the command keeps its current values");
                        if is_unreachable(&e) {
                            let retry = Instant::now() + watch.debounce.max(Duration::from_secs(1));
                            pending = Some((retry, retry - watch.debounce, Duration::ZERO));
                        }
                    }
                }
            }
        }
    }
}

/// The values the running child was given, and the revision they are from.
struct Delivered {
    revision: i64,
    vars: Vars,
}

async fn initial_snapshot(opts: &RunOptions) -> Result<(Snapshot, bool), Error> {
    let from_cache = |opts: &RunOptions| -> Result<Snapshot, Error> {
        let cache = opts.cache.as_ref().ok_or(Error::NoCacheKey)?;
        cache.load_for(&opts.project, &opts.env, opts.prefix.as_deref())
    };
    match opts.source {
        Source::Cache => {
            let snapshot = from_cache(opts)?;
            eprintln!(
                "note: --offline: using cached secrets of {} fetched {} ago ({}, revision {})",
                snapshot.scope(),
                age(&snapshot),
                snapshot.fetched_at_rfc3339(),
                snapshot.revision
            );
            Ok((snapshot, false))
        }
        Source::Server | Source::ServerOrCache => {
            match fetch(
                &opts.client,
                &opts.project,
                &opts.env,
                opts.prefix.as_deref(),
                opts.identities.as_ref(),
            )
            .await
            {
                Ok(snapshot) => Ok((snapshot, true)),
                Err(err) if opts.source == Source::ServerOrCache && is_unreachable(&err) => {
                    let snapshot = from_cache(opts)?;
                    let path = opts.cache.as_ref().map(|c| c.path().display().to_string());
                    eprintln!(
                        "warning: {err}; starting with the cached secrets from {} fetched {} ago ({}, revision {})",
                        path.unwrap_or_default(),
                        age(&snapshot),
                        snapshot.fetched_at_rfc3339(),
                        snapshot.revision
                    );
                    Ok((snapshot, false))
                }
                Err(err) => Err(err),
            }
        }
    }
}

/// The cache's age, to the second.
fn age(snapshot: &Snapshot) -> String {
    humantime::format_duration(Duration::from_secs(snapshot.age().as_secs())).to_string()
}

/// Writes a fresh snapshot to the cache; a failure is only a warning.
fn store(opts: &RunOptions, snapshot: &Snapshot) {
    if let Some(cache) = &opts.cache
        && let Err(e) = cache.store(snapshot)
    {
        eprintln!("warning: cannot update the local cache: {e}");
    }
}

/// Re-fetches after a change. `Ok(true)` when the child's values changed.
async fn refresh(opts: &RunOptions, current: &mut Delivered) -> Result<bool, Error> {
    let snapshot = fetch(
        &opts.client,
        &opts.project,
        &opts.env,
        opts.prefix.as_deref(),
        opts.identities.as_ref(),
    )
    .await?;
    store(opts, &snapshot);
    if snapshot.revision <= current.revision {
        return Ok(false);
    }
    let vars = variables(&snapshot.entries, opts.only.as_deref())?;
    current.revision = snapshot.revision;
    if vars == current.vars {
        return Ok(false);
    }
    current.vars = vars;
    Ok(true)
}

fn spawn(opts: &RunOptions, vars: &Vars, mount: Option<&MountFile>) -> Result<Child, Error> {
    let empty = Vars::new();
    // With --mount the values go to the file only.
    let injected = if mount.is_some() { &empty } else { vars };
    let plan = vars::plan(injected, opts.preserve_env, &opts.remove_vars, |name| {
        std::env::var_os(name).is_some()
    });
    let extra: Vec<(&str, &std::path::Path)> = mount.iter().map(|m| (SECRETS_FILE_VAR, m.path())).collect();
    child::spawn(&opts.command, &plan, &extra)
}

async fn recv(changes: &mut Option<tokio::sync::mpsc::UnboundedReceiver<i64>>) -> Option<i64> {
    match changes {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_change_values() {
        assert_eq!("restart".parse::<OnChange>(), Ok(OnChange::Restart));
        assert_eq!("signal:HUP".parse::<OnChange>(), Ok(OnChange::Signal(Signal::SIGHUP)));
        assert_eq!(
            "signal:SIGUSR1".parse::<OnChange>(),
            Ok(OnChange::Signal(Signal::SIGUSR1))
        );
        assert_eq!("signal:usr2".parse::<OnChange>(), Ok(OnChange::Signal(Signal::SIGUSR2)));
        assert!("signal:KILL".parse::<OnChange>().is_err());
        assert!("signal:NOPE".parse::<OnChange>().is_err());
        assert!("reload".parse::<OnChange>().is_err());
    }
}
