//! `leash agent`: the sidecar that keeps an environment's secrets delivered.
//!
//! Entry point: [`run`] with a [`Config`] (see `config` and docs/agent.md).
//! Tasks: `auth` (log in from files, renew, log in again), `sync` (fetch,
//! watch after the fetched revision, re-fetch on change, reconnect with
//! backoff, keep the last copy through outages) and `socket` (the local
//! listener). The loop here owns what reacts to a new copy: `template`
//! (render, atomic write, hooks) and `exec` (the supervised child), and the
//! agent's own signals (TERM/INT stop it; HUP, QUIT, USR1, USR2 go to the
//! child).
//!
//! It must never log a secret value or a credential: log lines carry paths,
//! names, counts, revisions and error kinds only. Values are held in
//! `Zeroizing` strings in one shared copy; the agent keeps no other cache,
//! so its memory stays small.

mod auth;
pub mod config;
mod exec;
mod socket;
mod sync;
mod template;

use std::sync::Arc;
use std::time::Duration;

use leash_client::Client;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use self::config::Hook;
pub use self::config::{Config, Defaults};
use self::exec::Supervisor;
use self::sync::{Scope, Secrets};
use self::template::Templates;
use crate::Error;

/// How long a hook command may run before the agent stops waiting for it.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// Exponential backoff: `first`, doubling up to `max`.
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            current: first,
        }
    }

    /// The next wait.
    pub(crate) fn next(&mut self) -> Duration {
        let wait = self.current;
        self.current = (self.current * 2).min(self.max);
        wait
    }

    pub(crate) fn reset(&mut self) {
        self.current = self.first;
    }
}

/// Runs the agent until SIGTERM/SIGINT (exit code 0) or until the supervised
/// child exits (its exit code). Errors before the first delivery (a bad
/// template, a socket that cannot be bound) are returned.
pub async fn run(config: Config) -> Result<u8, Error> {
    let ca = match &config.ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|e| Error::io("cannot read the CA file", path, e))?),
        None => None,
    };
    let base = Client::new(&config.address, None, ca.as_deref())?;
    let identities = match &config.age_identity {
        Some(path) => Some(crate::read_identities(path)?),
        None => None,
    };
    let template_count = config.templates.len();
    let mut templates = Templates::new(config.templates, config.project.as_str(), config.env.as_str())?;
    let mut bound = config.listener.as_ref().map(socket::bind).transpose()?;
    let mut supervisor = config
        .exec
        .map(|exec| Supervisor::new(exec, config.listener.as_ref().map(|l| l.socket.clone())));
    let mut signals = Signals::install()?;

    tracing::info!(
        address = base.addrs().join(","),
        project = config.project.as_str(),
        env = config.env.as_str(),
        prefix = config.prefix.as_deref(),
        templates = template_count,
        "agent starting"
    );
    let auth = auth::spawn(config.auth, base);
    let scope = Scope {
        project: config.project.as_str().to_owned(),
        env: config.env.as_str().to_owned(),
        prefix: config.prefix,
        identities: identities.map(Arc::new),
    };
    let (mut secrets, mut fatal) = sync::spawn(auth, scope);
    if let Some(bound) = &mut bound {
        socket::serve(bound, secrets.clone());
    }

    loop {
        let child_running = supervisor.as_ref().is_some_and(Supervisor::started);
        tokio::select! {
            stopped = &mut fatal => {
                return Err(stopped.unwrap_or_else(|_| Error::Invalid("the sync task stopped".into())));
            }
            changed = secrets.changed() => {
                if changed.is_err() {
                    return Err(Error::Invalid("the sync task stopped".into()));
                }
                let Some(current) = secrets.borrow_and_update().clone() else { continue };
                deliver(&current, &mut templates, supervisor.as_mut()).await?;
            }
            status = wait_child(supervisor.as_mut()), if child_running => {
                let code = exec::exit_code(status);
                tracing::info!(code, "the child exited; stopping");
                return Ok(code);
            }
            sig = signals.recv() => {
                if matches!(sig, Signal::SIGTERM | Signal::SIGINT) {
                    tracing::info!(signal = %sig, "stopping");
                    let code = match supervisor.as_mut() {
                        Some(s) => s.stop().await.map(exec::exit_code).unwrap_or(0),
                        None => 0,
                    };
                    drop(bound);
                    return Ok(code);
                }
                if let Some(s) = &supervisor {
                    s.signal(sig);
                }
            }
        }
    }
}

async fn wait_child(supervisor: Option<&mut Supervisor>) -> std::process::ExitStatus {
    match supervisor {
        Some(s) => s.wait().await,
        None => std::future::pending().await,
    }
}

/// Renders the templates, runs their hooks, then starts or updates the child.
async fn deliver(
    secrets: &Arc<Secrets>,
    templates: &mut Templates,
    supervisor: Option<&mut Supervisor>,
) -> Result<(), Error> {
    let child_pid = supervisor.as_ref().and_then(|s| s.pid());
    for changed in templates.render_all(secrets) {
        match changed.hook {
            None => {}
            Some(Hook::Command(command)) => run_hook(changed.name.to_owned(), command.clone()),
            Some(Hook::Signal { signal, pid_file }) => {
                let pid = match pid_file {
                    Some(file) => match std::fs::read_to_string(file).map(|t| t.trim().parse::<i32>()) {
                        Ok(Ok(pid)) if pid > 0 => Some(pid),
                        _ => {
                            tracing::warn!(template = changed.name, pid_file = %file.display(), "no usable pid in the pid file");
                            None
                        }
                    },
                    None => child_pid.map(|p| p as i32),
                };
                if let Some(pid) = pid {
                    match kill(Pid::from_raw(pid), *signal) {
                        Ok(()) => tracing::info!(template = changed.name, pid, signal = %signal, "signalled"),
                        Err(e) => tracing::warn!(template = changed.name, pid, error = %e, "cannot signal"),
                    }
                }
            }
        }
    }
    if let Some(s) = supervisor {
        if s.started() {
            if let Err(e) = s.update(secrets).await {
                tracing::error!(error = %e, "the child keeps its old variables");
            }
        } else {
            s.start(secrets)?;
        }
    }
    Ok(())
}

/// Runs a template's hook command in the background (`sh -c`), logging how it ended.
fn run_hook(template: String, command: String) {
    tokio::spawn(async move {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(&command).stdin(std::process::Stdio::null());
        for name in crate::run::LEASH_VARS {
            cmd.env_remove(name);
        }
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::warn!(template, error = %e, "cannot run the hook");
                return;
            }
        };
        match tokio::time::timeout(HOOK_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) if status.success() => tracing::info!(template, "hook ran"),
            Ok(Ok(status)) => tracing::warn!(template, status = %status, "the hook failed"),
            Ok(Err(e)) => tracing::warn!(template, error = %e, "cannot wait for the hook"),
            Err(_) => {
                let _ = child.start_kill();
                tracing::warn!(template, timeout = ?HOOK_TIMEOUT, "the hook took too long and was killed");
            }
        }
    });
}

/// The agent's own signal handlers.
struct Signals {
    streams: Vec<(Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn install() -> Result<Self, Error> {
        let wanted = [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
        ];
        let streams = wanted
            .iter()
            .map(|&sig| {
                signal(SignalKind::from_raw(sig as i32))
                    .map(|s| (sig, s))
                    .map_err(|e| Error::Invalid(format!("cannot handle {sig}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { streams })
    }

    async fn recv(&mut self) -> Signal {
        std::future::poll_fn(|cx| {
            for (sig, stream) in &mut self.streams {
                if let std::task::Poll::Ready(Some(())) = stream.poll_recv(cx) {
                    return std::task::Poll::Ready(*sig);
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}
