//! The agent's configuration file (TOML), parsed into checked types.
//!
//! It owns the file's grammar (docs/agent.md documents every key) and the
//! rules between keys: exactly one login method, a signal hook needs a pid
//! file or a supervised child, modes are octal permission bits. Settings the
//! file leaves out (address, project, environment, a token) may come from the
//! command line through [`Defaults`]. It reads only the configuration file
//! itself; credential files are read by `auth` at each login.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use leash_core::names::{EnvName, PathPrefix, ProjectName};
use nix::sys::signal::Signal;
use secrecy::SecretString;
use serde::Deserialize;

use crate::Error;
use crate::run::OnChange;

/// Default grace period between SIGTERM and SIGKILL for the supervised child.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// Default mode of rendered files and of the socket.
const DEFAULT_MODE: u32 = 0o600;

/// What the command line offers when the file is silent.
#[derive(Default)]
pub struct Defaults {
    pub address: Option<String>,
    pub project: Option<String>,
    pub env: Option<String>,
    /// Used only when the file has no `[auth]` section.
    pub token: Option<SecretString>,
    /// The age identity file (`LEASH_AGE_IDENTITY`), used when the file has no `age_identity`.
    pub age_identity: Option<PathBuf>,
}

/// The checked configuration of one agent.
#[derive(Debug)]
pub struct Config {
    pub address: String,
    pub ca_file: Option<PathBuf>,
    pub project: ProjectName,
    pub env: EnvName,
    /// Only secrets in this folder; `None` for the whole environment.
    pub prefix: Option<String>,
    pub auth: AuthMethod,
    pub listener: Option<Listener>,
    pub templates: Vec<Template>,
    pub exec: Option<Exec>,
    /// The age identity file that decrypts end-to-end encrypted values.
    pub age_identity: Option<PathBuf>,
}

/// How the agent gets its token.
pub enum AuthMethod {
    /// A service identity's client id and the file holding its secret.
    ClientSecret { client_id: String, secret_file: PathBuf },
    /// A JWT (e.g. a Kubernetes projected service-account token) from a file,
    /// re-read at every login, for the service identity `identity`.
    Jwt { identity: String, jwt_file: PathBuf },
    /// A token kept in a file by someone else; re-read when refused.
    TokenFile(PathBuf),
    /// A token from the command line (`--token` / `LEASH_TOKEN`); renewed, never replaced.
    Token(SecretString),
}

impl std::fmt::Debug for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthMethod::ClientSecret { client_id, secret_file } => f
                .debug_struct("ClientSecret")
                .field("client_id", client_id)
                .field("secret_file", secret_file)
                .finish(),
            AuthMethod::Jwt { identity, jwt_file } => f
                .debug_struct("Jwt")
                .field("identity", identity)
                .field("jwt_file", jwt_file)
                .finish(),
            AuthMethod::TokenFile(path) => f.debug_tuple("TokenFile").field(path).finish(),
            AuthMethod::Token(_) => f.write_str("Token([redacted])"),
        }
    }
}

/// The local unix-socket listener.
#[derive(Debug, Clone)]
pub struct Listener {
    pub socket: PathBuf,
    pub mode: u32,
}

/// One template rendered to a file.
#[derive(Debug, Clone)]
pub struct Template {
    /// A name for logs: the destination path.
    pub name: String,
    pub source: String,
    pub destination: PathBuf,
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub hook: Option<Hook>,
}

/// What to do after a template's file changed.
#[derive(Debug, Clone)]
pub enum Hook {
    /// `sh -c COMMAND`.
    Command(String),
    /// Send a signal to the process in `pid_file`, or to the supervised child when `None`.
    Signal { signal: Signal, pid_file: Option<PathBuf> },
}

/// The supervised child.
#[derive(Debug, Clone)]
pub struct Exec {
    pub command: Vec<String>,
    /// `None`: changes do not touch the child.
    pub on_change: Option<OnChange>,
    pub grace: Duration,
    /// A random delay up to this long before each restart or signal (`crate::jitter`).
    pub restart_jitter: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    address: Option<String>,
    ca_file: Option<PathBuf>,
    project: Option<String>,
    env: Option<String>,
    path: Option<String>,
    age_identity: Option<PathBuf>,
    auth: Option<RawAuth>,
    listener: Option<RawListener>,
    #[serde(default, rename = "template")]
    templates: Vec<RawTemplate>,
    exec: Option<RawExec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
    jwt_file: Option<PathBuf>,
    identity: Option<String>,
    token_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    socket: PathBuf,
    mode: Option<RawMode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    source: Option<PathBuf>,
    contents: Option<String>,
    destination: PathBuf,
    mode: Option<RawMode>,
    uid: Option<u32>,
    gid: Option<u32>,
    command: Option<String>,
    signal: Option<String>,
    pid_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExec {
    command: Vec<String>,
    on_change: Option<String>,
    grace: Option<String>,
    restart_jitter: Option<String>,
}

/// `"0640"` or `0o640`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawMode {
    Text(String),
    Number(u32),
}

fn invalid(file: &Path, message: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{}: {message}", file.display()))
}

impl Config {
    /// Reads and checks the configuration file at `file`.
    pub fn load(file: &Path, defaults: Defaults) -> Result<Self, Error> {
        let text =
            std::fs::read_to_string(file).map_err(|e| Error::io("cannot read the agent configuration", file, e))?;
        Self::parse(&text, file, defaults)
    }

    /// Checks a configuration text; relative paths in it are relative to `file`'s directory.
    pub fn parse(text: &str, file: &Path, defaults: Defaults) -> Result<Self, Error> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| invalid(file, e.message()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        let resolve = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        let address = raw.address.or(defaults.address).ok_or_else(|| {
            invalid(
                file,
                "no `address` (the Leash server, e.g. \"https://leash.example.com:8270\")",
            )
        })?;
        let project = raw
            .project
            .or(defaults.project)
            .ok_or_else(|| invalid(file, "no `project`"))?;
        let project = ProjectName::parse(&project).map_err(|e| invalid(file, e))?;
        let env = raw.env.or(defaults.env).ok_or_else(|| invalid(file, "no `env`"))?;
        let env = EnvName::parse(&env).map_err(|e| invalid(file, e))?;
        let prefix = match raw.path {
            Some(p) => {
                Some(PathPrefix::parse(&p).map_err(|e| invalid(file, e))?.as_str().to_owned()).filter(|p| !p.is_empty())
            }
            None => None,
        };
        let auth = match raw.auth {
            Some(auth) => auth_method(auth, file, &resolve)?,
            None => AuthMethod::Token(defaults.token.ok_or_else(|| {
                invalid(
                    file,
                    "no [auth] section and no token (--token / LEASH_TOKEN): say how the agent logs in",
                )
            })?),
        };
        let listener = match raw.listener {
            Some(l) => Some(Listener {
                socket: resolve(l.socket),
                mode: mode(l.mode, file)?,
            }),
            None => None,
        };
        let exec = match raw.exec {
            Some(e) => {
                if e.command.is_empty() {
                    return Err(invalid(file, "[exec] command is empty"));
                }
                let on_change = match e.on_change.as_deref() {
                    None | Some("restart") => Some(OnChange::Restart),
                    Some("none") => None,
                    Some(other) => Some(
                        OnChange::from_str(other)
                            .map_err(|e| invalid(file, format!("[exec] on_change: {e} or `none`")))?,
                    ),
                };
                let grace = match e.grace {
                    Some(g) => {
                        humantime::parse_duration(&g).map_err(|e| invalid(file, format!("[exec] grace {g:?}: {e}")))?
                    }
                    None => DEFAULT_GRACE,
                };
                let restart_jitter = match e.restart_jitter {
                    Some(j) => humantime::parse_duration(&j)
                        .map_err(|e| invalid(file, format!("[exec] restart_jitter {j:?}: {e}")))?,
                    None => Duration::ZERO,
                };
                Some(Exec {
                    command: e.command,
                    on_change,
                    grace,
                    restart_jitter,
                })
            }
            None => None,
        };
        let mut templates = Vec::new();
        for t in raw.templates {
            let destination = resolve(t.destination);
            let name = destination.display().to_string();
            let source = match (t.source, t.contents) {
                (Some(path), None) => {
                    let path = resolve(path);
                    std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read the template", path, e))?
                }
                (None, Some(contents)) => contents,
                _ => {
                    return Err(invalid(
                        file,
                        format!("template {name}: give exactly one of `source` and `contents`"),
                    ));
                }
            };
            let hook = match (t.command, t.signal, t.pid_file) {
                (None, None, None) => None,
                (Some(command), None, None) => Some(Hook::Command(command)),
                (None, Some(signal), pid_file) => {
                    let signal = parse_signal(&signal).map_err(|e| invalid(file, format!("template {name}: {e}")))?;
                    if pid_file.is_none() && exec.is_none() {
                        return Err(invalid(
                            file,
                            format!("template {name}: `signal` needs a `pid_file` or an [exec] child to send it to"),
                        ));
                    }
                    Some(Hook::Signal {
                        signal,
                        pid_file: pid_file.map(&resolve),
                    })
                }
                (_, _, _) => {
                    return Err(invalid(
                        file,
                        format!("template {name}: give either `command` or `signal` (with an optional `pid_file`)"),
                    ));
                }
            };
            if templates
                .iter()
                .any(|other: &Template| other.destination == destination)
            {
                return Err(invalid(file, format!("two templates render to {name}")));
            }
            templates.push(Template {
                name,
                source,
                destination,
                mode: mode(t.mode, file)?,
                uid: t.uid,
                gid: t.gid,
                hook,
            });
        }
        if listener.is_none() && templates.is_empty() && exec.is_none() {
            return Err(invalid(
                file,
                "nothing to deliver: configure a [listener], a [[template]] or an [exec] child",
            ));
        }
        Ok(Config {
            address,
            ca_file: raw.ca_file.map(&resolve),
            project,
            env,
            prefix,
            auth,
            listener,
            templates,
            exec,
            age_identity: raw.age_identity.map(&resolve).or(defaults.age_identity),
        })
    }
}

fn auth_method(auth: RawAuth, file: &Path, resolve: &dyn Fn(PathBuf) -> PathBuf) -> Result<AuthMethod, Error> {
    let usage = "[auth] takes one login: `client_id` + `client_secret_file`, `jwt_file` + `identity`, or `token_file`";
    match auth {
        RawAuth {
            client_id: Some(client_id),
            client_secret_file: Some(secret_file),
            jwt_file: None,
            identity: None,
            token_file: None,
        } => Ok(AuthMethod::ClientSecret {
            client_id,
            secret_file: resolve(secret_file),
        }),
        RawAuth {
            client_id: None,
            client_secret_file: None,
            jwt_file: Some(jwt_file),
            identity: Some(identity),
            token_file: None,
        } => Ok(AuthMethod::Jwt {
            identity,
            jwt_file: resolve(jwt_file),
        }),
        RawAuth {
            client_id: None,
            client_secret_file: None,
            jwt_file: None,
            identity: None,
            token_file: Some(token_file),
        } => Ok(AuthMethod::TokenFile(resolve(token_file))),
        _ => Err(invalid(file, usage)),
    }
}

fn mode(raw: Option<RawMode>, file: &Path) -> Result<u32, Error> {
    let mode = match raw {
        None => return Ok(DEFAULT_MODE),
        Some(RawMode::Number(n)) => n,
        Some(RawMode::Text(s)) => {
            let digits = s.strip_prefix("0o").unwrap_or(&s);
            u32::from_str_radix(digits, 8)
                .map_err(|_| invalid(file, format!("mode {s:?} is not an octal number such as \"0600\"")))?
        }
    };
    if mode > 0o777 {
        return Err(invalid(file, format!("mode {mode:o} has bits beyond 0777")));
    }
    Ok(mode)
}

/// `HUP`, `SIGHUP`, `usr1`.
pub fn parse_signal(name: &str) -> Result<Signal, String> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map_err(|_| format!("unknown signal {name:?} (HUP, USR1, USR2, TERM, INT, QUIT, …)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/leash/agent.toml"), Defaults::default()).map_err(|e| e.to_string())
    }

    const HEAD: &str = "address = \"http://127.0.0.1:8270\"\nproject = \"payment\"\nenv = \"prod\"\n";

    #[test]
    fn a_complete_file() {
        let config = parse(&format!(
            "{HEAD}path = \"stripe\"\n\
             [auth]\nclient_id = \"lci_1\"\nclient_secret_file = \"secret\"\n\
             [listener]\nsocket = \"/run/leash/agent.sock\"\n\
             [[template]]\ncontents = \"{{{{ secret('A') }}}}\"\ndestination = \"/run/a\"\nmode = \"0640\"\ncommand = \"true\"\n\
             [[template]]\ncontents = \"x\"\ndestination = \"out/b\"\nmode = 0o644\nsignal = \"HUP\"\n\
             [exec]\ncommand = [\"app\"]\non_change = \"signal:USR1\"\ngrace = \"2s\"\nrestart_jitter = \"30s\"\n"
        ))
        .unwrap();
        assert_eq!(config.prefix.as_deref(), Some("stripe"));
        assert!(
            matches!(&config.auth, AuthMethod::ClientSecret { secret_file, .. } if secret_file == Path::new("/etc/leash/secret"))
        );
        assert_eq!(config.templates[0].mode, 0o640);
        assert_eq!(config.templates[1].mode, 0o644);
        assert_eq!(config.templates[1].destination, Path::new("/etc/leash/out/b"));
        assert!(matches!(
            config.templates[1].hook,
            Some(Hook::Signal {
                signal: Signal::SIGHUP,
                pid_file: None
            })
        ));
        let exec = config.exec.unwrap();
        assert_eq!(exec.on_change, Some(OnChange::Signal(Signal::SIGUSR1)));
        assert_eq!(exec.restart_jitter, Duration::from_secs(30));
        assert_eq!(exec.grace, Duration::from_secs(2));
        assert_eq!(config.listener.unwrap().mode, 0o600);
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let check = |text: &str, fragment: &str| {
            let err = parse(text).unwrap_err();
            assert!(err.contains(fragment), "{text}: {err}");
        };
        let listener = "[listener]\nsocket = \"s\"\n";
        check(&format!("{HEAD}{listener}"), "no [auth] section");
        check(
            &format!("{HEAD}{listener}[auth]\nclient_id = \"x\"\ntoken_file = \"t\"\n"),
            "takes one login",
        );
        check(&format!("{HEAD}[auth]\ntoken_file = \"t\"\n"), "nothing to deliver");
        check(
            &format!(
                "{HEAD}[auth]\ntoken_file = \"t\"\n[[template]]\ncontents = \"x\"\ndestination = \"d\"\nsignal = \"HUP\"\n"
            ),
            "needs a `pid_file` or an [exec] child",
        );
        check(
            &format!(
                "{HEAD}[auth]\ntoken_file = \"t\"\n[[template]]\ncontents = \"x\"\ndestination = \"d\"\nmode = \"rw\"\n"
            ),
            "not an octal number",
        );
        check(&format!("{HEAD}[auth]\ntoken_file = \"t\"\nbogus = 1\n"), "bogus");
        check("project = \"p\"\nenv = \"e\"\n", "no `address`");
    }
}
