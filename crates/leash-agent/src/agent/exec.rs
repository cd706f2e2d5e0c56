//! The supervised child (`[exec]`): started once the first secrets are in,
//! with every secret as an environment variable (the `env_var` of the
//! listing, checked by [`crate::run::variables`]), Leash's own variables
//! removed and `LEASH_AGENT_SOCKET` set when there is a listener. When the
//! variables change it is restarted (SIGTERM, grace, SIGKILL) or signalled,
//! as configured. Its exit ends the agent with its exit code.

use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::ExitStatus;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::config::Exec;
use super::sync::Secrets;
use crate::Error;
use crate::cache::Entry;
use crate::run::{LEASH_VARS, OnChange, Vars, variables};

/// The variable that tells the child where the agent's socket is.
pub const SOCKET_VAR: &str = "LEASH_AGENT_SOCKET";

pub struct Supervisor {
    config: Exec,
    socket: Option<PathBuf>,
    child: Option<Child>,
    vars: Vars,
}

impl Supervisor {
    pub fn new(config: Exec, socket: Option<PathBuf>) -> Self {
        Self {
            config,
            socket,
            child: None,
            vars: Vars::new(),
        }
    }

    pub fn started(&self) -> bool {
        self.child.is_some()
    }

    /// The child's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Starts the child with `secrets`.
    pub fn start(&mut self, secrets: &Secrets) -> Result<(), Error> {
        self.vars = vars_of(secrets)?;
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), Error> {
        let (program, args) = self
            .config
            .command
            .split_first()
            .expect("the configuration refuses an empty command");
        let mut cmd = Command::new(program);
        cmd.args(args);
        for name in LEASH_VARS {
            cmd.env_remove(name);
        }
        for (name, value) in &self.vars {
            cmd.env(name, value.as_str());
        }
        if let Some(socket) = &self.socket {
            cmd.env(SOCKET_VAR, socket);
        }
        let child = cmd.spawn().map_err(|e| Error::Spawn {
            program: program.clone(),
            reason: e.to_string(),
            exit_code: if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            },
        })?;
        tracing::info!(
            pid = child.id(),
            program,
            variables = self.vars.len(),
            "started the child"
        );
        self.child = Some(child);
        Ok(())
    }

    /// Applies new secrets: restart or signal when the child's variables changed.
    pub async fn update(&mut self, secrets: &Secrets) -> Result<(), Error> {
        let vars = vars_of(secrets)?;
        let same = vars.len() == self.vars.len()
            && vars
                .iter()
                .zip(self.vars.iter())
                .all(|((na, va), (nb, vb))| na == nb && va.as_str() == vb.as_str());
        if same || self.child.is_none() {
            return Ok(());
        }
        self.vars = vars;
        let jitter = crate::jitter::delay(self.config.restart_jitter);
        if self.config.on_change.is_some() && !jitter.is_zero() {
            tracing::info!(delay = ?jitter, "variables changed; waiting the restart jitter");
            tokio::time::sleep(jitter).await;
        }
        match self.config.on_change {
            None => {}
            Some(OnChange::Signal(sig)) => {
                tracing::info!(signal = %sig, "variables changed; signalling the child");
                self.signal(sig);
            }
            Some(OnChange::Restart) => {
                tracing::info!("variables changed; restarting the child");
                self.stop().await;
                self.spawn()?;
            }
        }
        Ok(())
    }

    pub fn signal(&self, sig: Signal) {
        if let Some(pid) = self.pid() {
            let _ = kill(Pid::from_raw(pid as i32), sig);
        }
    }

    /// Stops the child: SIGTERM, the grace period, then SIGKILL.
    pub async fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Some(pid) = child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
        match tokio::time::timeout(self.config.grace, child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                tracing::warn!(grace = ?self.config.grace, "the child did not exit after SIGTERM; sending SIGKILL");
                let _ = child.start_kill();
                child.wait().await.ok()
            }
        }
    }

    /// Waits for the child to exit (forever when there is none).
    pub async fn wait(&mut self) -> ExitStatus {
        match &mut self.child {
            Some(child) => {
                let status = child
                    .wait()
                    .await
                    .unwrap_or_else(|_| ExitStatus::from_raw(Signal::SIGKILL as i32));
                self.child = None;
                status
            }
            None => std::future::pending().await,
        }
    }
}

fn vars_of(secrets: &Secrets) -> Result<Vars, Error> {
    let entries: Vec<Entry> = secrets.entries.values().cloned().collect();
    variables(&entries, None)
}

/// The exit code that mirrors `status`: its code, or 128 + the signal that killed it.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(sig)) => 128u8.saturating_add(sig as u8),
        (None, None) => 1,
    }
}
