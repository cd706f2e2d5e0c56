//! The command rotator against small shell scripts in a temporary directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use leash_rotate::{CommandConfig, CommandRotator, Error, Rotator, Step, Target};

struct Scripts {
    dir: tempfile::TempDir,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes an executable `/bin/sh` script.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

fn rotator(program: &Path, args: &[&str], timeout: Duration) -> CommandRotator {
    CommandRotator::new(CommandConfig {
        program: program.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        generator: "password:24".parse().unwrap(),
        timeout,
    })
    .unwrap()
}

fn target() -> Target {
    Target {
        project: "payment".into(),
        env: "prod".into(),
        path: "db/PASSWORD".into(),
        attempt: 3,
    }
}

fn step_error(error: Error) -> (Step, String) {
    match error {
        Error::Step { step, message } => (step, message),
        other => panic!("expected a step error, got {other}"),
    }
}

#[tokio::test]
async fn steps_run_in_order_with_the_value_on_stdin_and_the_target_in_the_environment() {
    let scripts = Scripts::new();
    let log = scripts.path("log");
    let program = scripts.script(
        "rotate",
        r#"value=$(cat)
printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$1" "$2" "$LEASH_ROTATION_STEP" "$LEASH_PROJECT" "$LEASH_ENV" "$LEASH_PATH" "$LEASH_ROTATION_ATTEMPT" "$value" "${CARGO_MANIFEST_DIR:-unset}" "$(pwd)" >> "$LOG_FILE_FROM_ARG"
"#
        .replace("$LOG_FILE_FROM_ARG", &log.display().to_string())
        .as_str(),
    );
    let rotator = rotator(&program, &["--flag"], Duration::from_secs(10));
    let target = target();
    let pending = rotator.create(&target, Some("old")).await.unwrap();
    assert_eq!(pending.len(), 24, "nothing printed: the generated value");
    rotator.set(&target, Some("old"), &pending).await.unwrap();
    rotator.test(&target, &pending).await.unwrap();
    rotator.promote(&target, &pending).await.unwrap();
    rotator.retire(&target, "old").await.unwrap();

    let dir = scripts.dir.path().canonicalize().unwrap();
    let expected: Vec<String> = ["create", "set", "test", "promote", "retire"]
        .iter()
        .map(|step| {
            let value = if *step == "retire" { "old" } else { pending.as_str() };
            format!(
                "--flag|{step}|{step}|payment|prod|db/PASSWORD|3|{value}|unset|{}",
                dir.display()
            )
        })
        .collect();
    let logged = fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().collect::<Vec<_>>(), expected);
    // The test runs under cargo, so the server-side variable existed and was not passed on.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
}

#[tokio::test]
async fn create_takes_a_value_the_command_prints() {
    let scripts = Scripts::new();
    let program = scripts.script(
        "mint",
        r#"cat > /dev/null
if [ "$1" = create ]; then printf 'minted-line-1\nminted-line-2\n'; fi"#,
    );
    let rotator = rotator(&program, &[], Duration::from_secs(10));
    let value = rotator.create(&target(), None).await.unwrap();
    assert_eq!(value.as_str(), "minted-line-1\nminted-line-2");
}

#[tokio::test]
async fn create_keeps_the_generated_value_when_the_command_prints_only_a_newline() {
    let scripts = Scripts::new();
    let program = scripts.script("quiet", "echo");
    let rotator = rotator(&program, &[], Duration::from_secs(10));
    let value = rotator.create(&target(), None).await.unwrap();
    assert_eq!(value.len(), 24);
}

#[tokio::test]
async fn a_failing_command_reports_its_exit_code_and_redacted_stderr() {
    let scripts = Scripts::new();
    let program = scripts.script(
        "fail",
        r#"value=$(cat)
echo "line 1" >&2
echo "line 2" >&2
echo "connecting with $value" >&2
echo "the old one was $OLD" >&2
echo "refused: $value!" >&2
echo "giving up" >&2
exit 3"#,
    );
    let rotator = rotator(&program, &[], Duration::from_secs(10));
    let pending = "Pl4nted-Pending-Value";
    let (step, message) = step_error(
        rotator
            .set(&target(), Some("Pl4nted-Current"), pending)
            .await
            .unwrap_err(),
    );
    assert_eq!(step, Step::Set);
    assert_eq!(
        message,
        "the command exited with code 3; last lines of stderr: line 2 | connecting with [redacted] | the old one was | refused: [redacted]! | giving up"
    );
}

#[tokio::test]
async fn a_failing_command_never_shows_the_current_value_either() {
    let scripts = Scripts::new();
    let program = scripts.script("leak", r#"echo "current is $CURRENT" >&2; exit 1"#);
    // The current value is not given to the command; a command that found it
    // elsewhere and printed it is still scrubbed.
    let program_text = fs::read_to_string(&program)
        .unwrap()
        .replace("$CURRENT", "Pl4nted-Current");
    fs::write(&program, program_text).unwrap();
    let rotator = rotator(&program, &[], Duration::from_secs(10));
    let (_, message) = step_error(
        rotator
            .set(&target(), Some("Pl4nted-Current"), "new")
            .await
            .unwrap_err(),
    );
    assert_eq!(
        message,
        "the command exited with code 1; last lines of stderr: current is [redacted]"
    );
}

#[tokio::test]
async fn a_command_that_runs_too_long_is_killed_with_its_children() {
    let scripts = Scripts::new();
    let marker = scripts.path("marker");
    let program = scripts.script("slow", &format!("(sleep 1; touch {}) &\nsleep 30", marker.display()));
    let rotator = rotator(&program, &[], Duration::from_millis(300));
    let started = Instant::now();
    let (step, message) = step_error(rotator.test(&target(), "v").await.unwrap_err());
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(step, Step::Test);
    assert_eq!(message, "the command did not finish within 300ms and was killed");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!marker.exists(), "a child of the command outlived the timeout");
}

#[tokio::test]
async fn a_command_killed_by_a_signal_is_reported() {
    let scripts = Scripts::new();
    let program = scripts.script("crash", "kill -9 $$");
    let rotator = rotator(&program, &[], Duration::from_secs(10));
    let (_, message) = step_error(rotator.promote(&target(), "v").await.unwrap_err());
    assert_eq!(message, "the command was killed by signal 9");
}

#[tokio::test]
async fn a_command_that_ignores_its_input_still_succeeds() {
    let rotator = rotator(Path::new("/bin/true"), &[], Duration::from_secs(10));
    let big = "x".repeat(1 << 20);
    rotator.set(&target(), None, &big).await.unwrap();
}

#[tokio::test]
async fn a_missing_program_is_reported() {
    let scripts = Scripts::new();
    let rotator = rotator(&scripts.path("absent"), &[], Duration::from_secs(10));
    let (step, message) = step_error(rotator.create(&target(), None).await.unwrap_err());
    assert_eq!(step, Step::Create);
    assert!(message.starts_with("cannot start /"), "{message}");
    assert!(message.contains("absent"), "{message}");
}

#[tokio::test]
async fn create_refuses_an_oversized_or_non_utf8_printed_value() {
    let scripts = Scripts::new();
    let huge = scripts.script("huge", "head -c 70000 /dev/zero | tr '\\0' 'a'");
    let (_, message) = step_error(
        rotator(&huge, &[], Duration::from_secs(10))
            .create(&target(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(message, "the command printed more than 65536 bytes");
    let binary = scripts.script("binary", r"printf '\377\376'");
    let (_, message) = step_error(
        rotator(&binary, &[], Duration::from_secs(10))
            .create(&target(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(message, "the command printed a value that is not UTF-8");
}
