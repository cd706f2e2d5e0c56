//! The child process: spawning it with its environment, forwarding signals,
//! stopping it gracefully, and turning its end into an exit code.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::task::Poll;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::signal::unix::{SignalKind, signal};

use super::vars::EnvPlan;
use crate::Error;

/// The signals `leash run` passes on to its child.
pub const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Handlers for the forwarded signals. Installed just before the first
/// child starts: until then a signal ends `leash run` as it normally would.
pub struct Signals {
    streams: Vec<(Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    pub fn install() -> Result<Self, Error> {
        let streams = FORWARDED
            .iter()
            .map(|&sig| {
                signal(SignalKind::from_raw(sig as i32))
                    .map(|stream| (sig, stream))
                    .map_err(|e| Error::Invalid(format!("cannot handle {sig}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { streams })
    }

    /// The next signal received.
    pub async fn recv(&mut self) -> Signal {
        std::future::poll_fn(|cx| {
            for (sig, stream) in &mut self.streams {
                if let Poll::Ready(Some(())) = stream.poll_recv(cx) {
                    return Poll::Ready(*sig);
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// Starts `command` with the inherited environment changed by `plan`, plus `extra`.
pub fn spawn(command: &[OsString], plan: &EnvPlan<'_>, extra: &[(&str, &std::path::Path)]) -> Result<Child, Error> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Error::Invalid("no command given: leash run [OPTIONS] -- CMD [ARGS]...".into()))?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    for name in &plan.remove {
        cmd.env_remove(name);
    }
    for (name, value) in &plan.set {
        cmd.env(name, value);
    }
    for (name, value) in extra {
        cmd.env(name, value);
    }
    cmd.spawn().map_err(|e| {
        let (exit_code, reason) = match e.kind() {
            std::io::ErrorKind::NotFound => (127, "command not found".to_owned()),
            std::io::ErrorKind::PermissionDenied => (126, "permission denied".to_owned()),
            _ => (126, e.to_string()),
        };
        Error::Spawn {
            program: program.to_string_lossy().into_owned(),
            reason,
            exit_code,
        }
    })
}

/// Sends `sig` to the child, if it is still running.
pub fn send(child: &Child, sig: Signal) {
    if let Some(pid) = child.id() {
        // ESRCH: it exited in the meantime; its exit is picked up by `wait`.
        let _ = kill(Pid::from_raw(pid as i32), sig);
    }
}

/// Asks the child to stop (SIGTERM), waits up to `grace`, then kills it
/// (SIGKILL). Signals received meanwhile are forwarded; the returned flag
/// says whether one arrived (the caller then stops instead of restarting).
pub async fn stop(child: &mut Child, grace: Duration, signals: &mut Signals) -> (ExitStatus, bool) {
    send(child, Signal::SIGTERM);
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline);
    let mut killed = false;
    let mut interrupted = false;
    loop {
        tokio::select! {
            status = child.wait() => {
                // wait() only fails if the child was already reaped; treat it as killed.
                let status = status.unwrap_or_else(|_| ExitStatus::from_raw(Signal::SIGKILL as i32));
                return (status, interrupted);
            }
            sig = signals.recv() => {
                send(child, sig);
                interrupted = true;
            }
            () = &mut deadline, if !killed => {
                eprintln!("warning: the command did not exit within {} of SIGTERM; sending SIGKILL", humantime::format_duration(grace));
                send(child, Signal::SIGKILL);
                killed = true;
            }
        }
    }
}

/// The exit code that mirrors `status`: its code, or 128 + the signal that killed it.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(sig)) => 128u8.saturating_add(sig as u8),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_mirror_the_child() {
        assert_eq!(exit_code(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
    }
}
