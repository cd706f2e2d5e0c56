//! The command rotator: runs an executable for each step.
//!
//! **Owns**: one child process per step: `program args… <step>`, the value on
//! stdin (exactly its bytes, no newline added; the pending value for
//! create/set/test/promote, the previous one for retire), the environment
//! `LEASH_ROTATION_STEP`, `LEASH_PROJECT`, `LEASH_ENV`, `LEASH_PATH`,
//! `LEASH_ROTATION_ATTEMPT`. Exit status 0 is success. On `create`, a
//! non-empty stdout (less one trailing newline) becomes the pending value
//! instead of the generated one, so a command can mint the credential itself.
//!
//! **Must never**: pass a value in an argument or an environment variable
//! (both are visible to every user through `/proc`); let the child inherit the
//! server's environment (it may hold `LEASH_*` settings such as tokens; only
//! `PATH`, `HOME`, `USER`, `LOGNAME`, `LANG`, `LC_ALL`, `LC_CTYPE`, `TZ` and
//! `TMPDIR` are passed on); show a value in an error: stderr is scrubbed of
//! every value the step knows before its last lines go into the message;
//! outlive its timeout: the command's whole process group is killed.
//!
//! Checking that `program` lies in an allowed directory is the server's job.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use leash_core::generate::Generator;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

use crate::redact::{REDACTED, redact};
use crate::{Error, Result, Rotator, Step, Target};

/// Variables of the server's environment the command gets.
const PASSED_ENV: [&str; 9] = [
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
];
/// `PATH` when the server has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// The most stdout kept: the largest value a command may print on `create`.
pub const MAX_STDOUT: usize = 64 * 1024;
/// How much of the end of stderr is kept for the error message.
const STDERR_TAIL: usize = 16 * 1024;
/// How many lines of stderr an error shows, and how long each may be.
const ERROR_LINES: usize = 5;
const ERROR_LINE_CHARS: usize = 200;
const CHUNK: usize = 8 * 1024;

/// The configuration of a [`CommandRotator`].
#[derive(Debug)]
pub struct CommandConfig {
    /// Absolute path of the executable.
    pub program: PathBuf,
    /// Arguments before the step name.
    pub args: Vec<String>,
    /// Makes the pending value in `create` (unless the command prints one).
    pub generator: Generator,
    /// How long one run may take; then the command is killed.
    pub timeout: Duration,
}

/// Runs an executable for each step of the protocol.
pub struct CommandRotator {
    config: CommandConfig,
}

impl fmt::Debug for CommandRotator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandRotator").field("config", &self.config).finish()
    }
}

/// What a finished command left.
struct Finished {
    status: ExitStatus,
    stdout: Captured,
    stderr: Captured,
}

/// Bytes read from a pipe, with whether some were dropped.
struct Captured {
    bytes: Zeroizing<Vec<u8>>,
    overflowed: bool,
}

impl CommandRotator {
    /// Checks the configuration.
    pub fn new(config: CommandConfig) -> Result<Self> {
        if !config.program.is_absolute() {
            return Err(Error::Config(format!(
                "program must be an absolute path, not {}",
                config.program.display()
            )));
        }
        if config.timeout.is_zero() {
            return Err(Error::Config("timeout must be more than zero".into()));
        }
        if let Some(bad) = config.args.iter().find(|a| a.contains('\0')) {
            return Err(Error::Config(format!("args: {bad:?} contains a NUL character")));
        }
        Ok(Self { config })
    }

    /// Runs the command for `step` with `value` on stdin. `secrets` are
    /// scrubbed from stderr (the value is always among them). Returns stdout.
    async fn run(&self, step: Step, target: &Target, value: &str, secrets: &[&str]) -> Result<Captured> {
        let program = &self.config.program;
        let mut command = tokio::process::Command::new(program);
        command
            .args(&self.config.args)
            .arg(step.as_str())
            .env_clear()
            .current_dir(program.parent().unwrap_or(Path::new("/")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for name in PASSED_ENV {
            if let Some(v) = std::env::var_os(name) {
                command.env(name, v);
            }
        }
        if std::env::var_os("PATH").is_none() {
            command.env("PATH", DEFAULT_PATH);
        }
        command
            .env("LEASH_ROTATION_STEP", step.as_str())
            .env("LEASH_PROJECT", &target.project)
            .env("LEASH_ENV", &target.env)
            .env("LEASH_PATH", &target.path)
            .env("LEASH_ROTATION_ATTEMPT", target.attempt.to_string());

        let mut child = command
            .spawn()
            .map_err(|e| step_error(step, format!("cannot start {}: {e}", program.display())))?;
        let pid = child.id();
        let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (Some(mut stdin), Some(stdout), Some(stderr)) = (stdin, stdout, stderr) else {
            return Err(step_error(step, "the command's pipes were not set up"));
        };

        let work = async {
            let write = async {
                let written = stdin.write_all(value.as_bytes()).await;
                drop(stdin); // end of input
                match written {
                    // A command that does not read its input is fine.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                    other => other,
                }
            };
            let (written, stdout, stderr, status) = tokio::join!(
                write,
                capture(stdout, MAX_STDOUT, false),
                capture(stderr, STDERR_TAIL, true),
                child.wait()
            );
            let io = |e: std::io::Error| step_error(step, format!("talking to the command: {e}"));
            written.map_err(io)?;
            Ok::<_, Error>(Finished {
                status: status.map_err(io)?,
                stdout: stdout.map_err(io)?,
                stderr: stderr.map_err(io)?,
            })
        };
        let finished = match tokio::time::timeout(self.config.timeout, work).await {
            Ok(finished) => finished?,
            Err(_) => {
                if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                    // The command leads its own process group: take its children along.
                    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
                }
                let _ = child.kill().await;
                return Err(step_error(
                    step,
                    format!(
                        "the command did not finish within {:?} and was killed",
                        self.config.timeout
                    ),
                ));
            }
        };

        if finished.status.success() {
            return Ok(finished.stdout);
        }
        let how = match (finished.status.code(), finished.status.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => "failed".to_owned(),
        };
        let stdout_value = std::str::from_utf8(&finished.stdout.bytes).ok().map(str::trim_end);
        let mut all_secrets = secrets.to_vec();
        all_secrets.extend(stdout_value);
        let tail = stderr_tail(&finished.stderr, &all_secrets);
        let message = if tail.is_empty() {
            format!("the command {how}")
        } else {
            format!("the command {how}; last lines of stderr: {}", tail.join(" | "))
        };
        Err(step_error(step, message))
    }
}

#[async_trait]
impl Rotator for CommandRotator {
    async fn create(&self, target: &Target, current: Option<&str>) -> Result<Zeroizing<String>> {
        let generated = self.config.generator.generate()?.into_parts().0;
        let mut secrets = vec![generated.as_str()];
        secrets.extend(current);
        let mut stdout = self.run(Step::Create, target, &generated, &secrets).await?;
        if stdout.bytes.is_empty() {
            return Ok(generated);
        }
        if stdout.overflowed {
            return Err(step_error(
                Step::Create,
                format!("the command printed more than {MAX_STDOUT} bytes"),
            ));
        }
        let printed = match String::from_utf8(std::mem::take(&mut *stdout.bytes)) {
            Ok(printed) => Zeroizing::new(printed),
            Err(e) => {
                drop(Zeroizing::new(e.into_bytes()));
                return Err(step_error(
                    Step::Create,
                    "the command printed a value that is not UTF-8",
                ));
            }
        };
        Ok(strip_one_newline(printed).unwrap_or(generated))
    }

    async fn set(&self, target: &Target, current: Option<&str>, pending: &str) -> Result<()> {
        let mut secrets = vec![pending];
        secrets.extend(current);
        self.run(Step::Set, target, pending, &secrets).await.map(drop)
    }

    async fn test(&self, target: &Target, pending: &str) -> Result<()> {
        self.run(Step::Test, target, pending, &[pending]).await.map(drop)
    }

    async fn promote(&self, target: &Target, pending: &str) -> Result<()> {
        self.run(Step::Promote, target, pending, &[pending]).await.map(drop)
    }

    async fn retire(&self, target: &Target, previous: &str) -> Result<()> {
        self.run(Step::Retire, target, previous, &[previous]).await.map(drop)
    }
}

/// Reads `reader` to its end, keeping at most `cap` bytes: the first ones, or
/// with `keep_tail` the last ones. The buffer never grows past its first
/// allocation, so no unzeroized copy is left behind.
async fn capture(mut reader: impl AsyncRead + Unpin, cap: usize, keep_tail: bool) -> std::io::Result<Captured> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(cap + CHUNK));
    let mut chunk = Zeroizing::new([0u8; CHUNK]);
    let mut overflowed = false;
    loop {
        let n = reader.read(&mut chunk[..]).await?;
        if n == 0 {
            break;
        }
        if keep_tail {
            bytes.extend_from_slice(&chunk[..n]);
            if bytes.len() > cap {
                let excess = bytes.len() - cap;
                bytes.drain(..excess);
                overflowed = true;
            }
        } else {
            let room = cap - bytes.len();
            bytes.extend_from_slice(&chunk[..n.min(room)]);
            overflowed |= n > room;
        }
    }
    Ok(Captured { bytes, overflowed })
}

/// The last lines of stderr, scrubbed of `secrets`: every occurrence is
/// replaced, and so is a line that is a piece of a secret (the start of a
/// kept tail, or one line of a multi-line value).
fn stderr_tail(stderr: &Captured, secrets: &[&str]) -> Vec<String> {
    let text = Zeroizing::new(String::from_utf8_lossy(&stderr.bytes).into_owned());
    let mut text = redact(&text, secrets);
    if stderr.overflowed {
        // The first line may be the cut end of a longer one.
        text = text
            .split_once('\n')
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default();
    }
    let lines: Vec<&str> = text.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(ERROR_LINES)..]
        .iter()
        .map(|line| {
            let trimmed = line.trim();
            if trimmed.len() >= 4 && secrets.iter().any(|s| s.contains(trimmed)) {
                return REDACTED.to_owned();
            }
            match line.char_indices().nth(ERROR_LINE_CHARS) {
                Some((end, _)) => format!("{}…", &line[..end]),
                None => (*line).to_owned(),
            }
        })
        .collect()
}

/// `printed` less one trailing `\n` (or `\r\n`); `None` when nothing is left.
fn strip_one_newline(mut printed: Zeroizing<String>) -> Option<Zeroizing<String>> {
    if printed.ends_with('\n') {
        printed.pop();
        if printed.ends_with('\r') {
            printed.pop();
        }
    }
    (!printed.is_empty()).then_some(printed)
}

fn step_error(step: Step, message: impl Into<String>) -> Error {
    Error::Step {
        step,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(text: &str, overflowed: bool) -> Captured {
        Captured {
            bytes: Zeroizing::new(text.as_bytes().to_vec()),
            overflowed,
        }
    }

    #[test]
    fn strips_exactly_one_trailing_newline() {
        let check = |input: &str, expected: Option<&str>| {
            let out = strip_one_newline(Zeroizing::new(input.to_owned()));
            assert_eq!(out.as_deref().map(String::as_str), expected, "{input:?}");
        };
        check("v\n", Some("v"));
        check("v\r\n", Some("v"));
        check("v\n\n", Some("v\n"));
        check("v", Some("v"));
        check("\n", None);
        check("", None);
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines_redacted() {
        let stderr = captured(
            "one\ntwo\nthree s3cret-value\nfour\nfive\nsix s3cret-value end\n\n",
            false,
        );
        assert_eq!(
            stderr_tail(&stderr, &["s3cret-value"]),
            ["two", "three [redacted]", "four", "five", "six [redacted] end"]
        );
    }

    #[test]
    fn stderr_tail_hides_pieces_of_a_multi_line_value_and_a_cut_first_line() {
        let pem = "-----BEGIN KEY-----\nAAAAbbbbCCCC\nDDDDeeee\n-----END KEY-----";
        let stderr = captured("ret-value tail\nbbbbCCCC\nDDDDeeee\n-----END KEY-----\nbad key\n", true);
        let tail = stderr_tail(&stderr, &[pem, "s3cret-value"]);
        assert_eq!(tail, ["[redacted]", "[redacted]", "[redacted]", "bad key"]);
    }

    #[test]
    fn long_lines_are_cut() {
        let line = "x".repeat(1000);
        let tail = stderr_tail(&captured(&line, false), &[]);
        assert_eq!(tail[0].chars().count(), ERROR_LINE_CHARS + 1);
    }

    #[test]
    fn configuration_is_checked() {
        let config = |program: &str, timeout| CommandConfig {
            program: program.into(),
            args: vec![],
            generator: "uuid".parse().unwrap(),
            timeout,
        };
        let err = CommandRotator::new(config("rotate.sh", Duration::from_secs(1))).unwrap_err();
        assert!(err.to_string().contains("program must be an absolute path"), "{err}");
        let err = CommandRotator::new(config("/bin/true", Duration::ZERO)).unwrap_err();
        assert!(err.to_string().contains("timeout"), "{err}");
        CommandRotator::new(config("/bin/true", Duration::from_secs(1))).unwrap();
    }
}
