//! Rotation through the real server: stages and grace periods, one-off and
//! policy rotations, the scheduler under a manual clock (on time, exactly
//! once, across a restart), failures that keep `current` and are retried,
//! and the change feed seeing a promotion.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use leash_server::clock::ManualClock;
use leash_server::rotation::scheduler::run_due;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const S: &str = "/api/v1/projects/p/envs/e";
const DAY: Duration = Duration::from_secs(86_400);

/// The webhook receivers of these tests listen on 127.0.0.1, which the allowlist must cover explicitly.
const LOCAL: &[&str] = &["127.0.0.1/32"];

async fn start(dir: &Path, clock: Arc<ManualClock>, commands: Option<&Path>) -> TestServer {
    start_allowing(dir, clock, commands, LOCAL).await
}

/// [`start`] with `rotation_webhook_allow = allow`.
async fn start_allowing(dir: &Path, clock: Arc<ManualClock>, commands: Option<&Path>, allow: &[&str]) -> TestServer {
    let mut config = common::config(Some(dir));
    config.rotation_interval = "1h".into(); // the tests drive the scheduler themselves
    config.rotation_commands_dir = commands.map(Path::to_path_buf);
    config.rotation_webhook_allow = allow.iter().map(|e| (*e).to_owned()).collect();
    let server = leash_server::start_with_clock(config, false, clock).await.unwrap();
    let url = server.url();
    TestServer {
        server,
        url,
        token: String::new(),
        http: reqwest::Client::new(),
    }
}

/// A fresh server on `dir`, initialised and unsealed; returns it and its unseal share.
async fn initialised(dir: &Path, clock: Arc<ManualClock>, commands: Option<&Path>) -> (TestServer, String) {
    let mut t = start(dir, clock, commands).await;
    let share = t.init_and_unseal().await;
    (t, share)
}

async fn restart(
    t: TestServer,
    dir: &Path,
    clock: Arc<ManualClock>,
    share: &str,
    commands: Option<&Path>,
) -> TestServer {
    let token = t.token.clone();
    t.server.shutdown().await.unwrap();
    let mut t = start(dir, clock, commands).await;
    t.token = token;
    t.unseal(share).await;
    t
}

async fn stage(t: &TestServer, path: &str, stage: &str) -> (StatusCode, Value) {
    t.get(&format!("{S}/secrets/{path}?stage={stage}")).await
}

async fn current(t: &TestServer, path: &str) -> String {
    let (status, body) = t.value(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["value"].as_str().unwrap().to_owned()
}

async fn rotate(t: &TestServer, path: &str, body: Value) -> (StatusCode, Value) {
    t.post(&format!("{S}/rotate/{path}"), body).await
}

async fn show(t: &TestServer, path: &str) -> Value {
    let (status, body) = t.get(&format!("{S}/rotation/{path}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn a_one_off_rotation_keeps_the_previous_value_for_the_grace_period_only() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let (t, _) = initialised(dir.path(), clock.clone(), None).await;
    t.project_env("p", "e").await;
    t.set("JWT_SECRET", "original-value").await;

    let (status, body) = rotate(&t, "JWT_SECRET", json!({"generator": "password:32"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    assert_eq!(body["previous_version"], 1);
    let new = current(&t, "JWT_SECRET").await;
    assert_eq!(new.len(), 32);
    assert_ne!(new, "original-value");
    let (status, prev) = stage(&t, "JWT_SECRET", "previous").await;
    assert_eq!(status, StatusCode::OK, "{prev}");
    assert_eq!(prev["value"], "original-value");
    assert_eq!(stage(&t, "JWT_SECRET", "current").await.1["value"], new.as_str());

    // The server default grace is 24 h: a minute before it ends the old value is served, after it not.
    clock.advance(DAY - Duration::from_secs(60));
    assert_eq!(stage(&t, "JWT_SECRET", "previous").await.0, StatusCode::OK);
    clock.advance(Duration::from_secs(61));
    let (status, body) = stage(&t, "JWT_SECRET", "previous").await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["error"]["code"], "retired");
    assert!(!body.to_string().contains("original-value"), "{body}");
    // History still has it for someone who asks by number.
    assert_eq!(
        t.get(&format!("{S}/secrets/JWT_SECRET?version=1")).await.1["value"],
        "original-value"
    );

    // No policy and no generator: a clear refusal that changes nothing.
    let (status, body) = rotate(&t, "JWT_SECRET", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no rotation policy"),
        "{body}"
    );
    let (status, body) = rotate(&t, "JWT_SECRET", json!({"generator": "password:3"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(current(&t, "JWT_SECRET").await, new);
    let (_, history) = t.get(&format!("{S}/rotation-history/JWT_SECRET")).await;
    assert_eq!(history["attempts"].as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history["attempts"][0]["outcome"], "succeeded");
}

#[tokio::test]
async fn revoke_previous_withdraws_the_old_value_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let (t, _) = initialised(dir.path(), clock, None).await;
    t.project_env("p", "e").await;
    t.set("API_KEY", "leaked-value").await;
    let (status, body) = rotate(
        &t,
        "API_KEY",
        json!({"generator": "bytes:32:base64", "revoke_previous": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["previous_until"], Value::Null);
    assert_eq!(stage(&t, "API_KEY", "previous").await.0, StatusCode::GONE);
    // The next ordinary write makes the revoked value's successor the previous one again.
    t.set("API_KEY", "next-value").await;
    assert_ne!(stage(&t, "API_KEY", "previous").await.1["value"], "leaked-value");
    assert_eq!(stage(&t, "API_KEY", "previous").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_scheduled_rotation_fires_on_time_and_exactly_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let (t, share) = initialised(dir.path(), clock.clone(), None).await;
    t.project_env("p", "e").await;
    t.set("TOKEN", "v1-value").await;
    let (status, body) = t
        .put(
            &format!("{S}/rotation/TOKEN"),
            json!({"every": "30d", "generator": "password:40", "grace": "1h"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["every_seconds"], 30 * 86_400);
    assert_eq!(body["policy"]["every"], "30d");

    // A second before it is due: nothing runs.
    clock.advance(30 * DAY - Duration::from_secs(1));
    assert_eq!(run_due(t.server.state()).await.unwrap(), 0);
    assert_eq!(current(&t, "TOKEN").await, "v1-value");

    // Due: it runs once; running the scheduler again does nothing more.
    clock.advance(Duration::from_secs(1));
    assert_eq!(run_due(t.server.state()).await.unwrap(), 1);
    let rotated = current(&t, "TOKEN").await;
    assert_eq!(rotated.len(), 40);
    assert_eq!(run_due(t.server.state()).await.unwrap(), 0);
    let status = show(&t, "TOKEN").await;
    assert_eq!(status["state"], "idle");
    assert_eq!(status["attempt"], 1);
    assert_eq!(status["previous_version"], 1);

    // Restart: the next due time is stored, so nothing is repeated...
    let t = restart(t, dir.path(), clock.clone(), &share, None).await;
    assert_eq!(run_due(t.server.state()).await.unwrap(), 0);
    assert_eq!(current(&t, "TOKEN").await, rotated);
    // ... and after the retire step an hour later (the policy's grace), the next rotation is 30 days on.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        run_due(t.server.state()).await.unwrap(),
        1,
        "the retire step of the previous value"
    );
    assert_eq!(stage(&t, "TOKEN", "previous").await.0, StatusCode::GONE);
    // Due while the server is down (90 days: three intervals): it runs once after the restart, not three times.
    clock.advance(90 * DAY);
    let t = restart(t, dir.path(), clock.clone(), &share, None).await;
    assert_eq!(run_due(t.server.state()).await.unwrap(), 1);
    assert_eq!(run_due(t.server.state()).await.unwrap(), 0);
    let (_, history) = t.get(&format!("{S}/rotation-history/TOKEN")).await;
    let triggers: Vec<_> = history["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["trigger"].as_str().unwrap().to_owned(),
                a["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        triggers,
        [
            ("schedule", "succeeded"),
            ("retire", "succeeded"),
            ("schedule", "succeeded")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .into_iter()
        .rev()
        .collect::<Vec<_>>(),
        "{history}"
    );
    // Each scheduled run left an intent before it ran, then an audit event with the outcome.
    let (_, audit) = t.get("/api/v1/audit?identity=leash-scheduler&limit=10").await;
    let ops: Vec<_> = audit["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .map(|r| format!("{} {}", r["type"].as_str().unwrap(), r["operation"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ops,
        [
            "event rotation.schedule",
            "intent rotation.schedule",
            "event rotation.retire",
            "intent rotation.retire",
            "event rotation.schedule",
            "intent rotation.schedule"
        ],
        "{audit}"
    );
}

/// A command rotator whose `test` step fails while the file `fail` exists beside it.
fn flaky_command(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("flaky");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat >/dev/null\nif [ \"$1\" = test ] && [ -e {} ]; then echo 'the new key was refused' >&2; exit 3; fi\nexit 0\n",
            dir.join("fail").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn a_failing_test_step_keeps_current_reports_and_is_retried_with_the_same_pending_value() {
    let dir = tempfile::tempdir().unwrap();
    let commands = tempfile::tempdir().unwrap();
    flaky_command(commands.path());
    std::fs::write(commands.path().join("fail"), "").unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let (t, _) = initialised(dir.path(), clock.clone(), Some(commands.path())).await;
    t.project_env("p", "e").await;
    t.set("SERVICE_KEY", "in-force-value").await;
    let (status, body) = t
        .put(
            &format!("{S}/rotation/SERVICE_KEY"),
            json!({"rotator": {"kind": "command", "command": "flaky"}, "generator": "uuid"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = rotate(&t, "SERVICE_KEY", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("test step"), "{message}");
    assert!(message.contains("unchanged"), "{message}");
    assert_eq!(current(&t, "SERVICE_KEY").await, "in-force-value");
    let status = show(&t, "SERVICE_KEY").await;
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(status["step"], "test");
    assert_eq!(status["failures"], 1);
    assert!(status["pending"].as_bool().unwrap());
    assert!(status["last_error"].as_str().unwrap().contains("test step"), "{status}");
    let (status_code, pending) = stage(&t, "SERVICE_KEY", "pending").await;
    assert_eq!(status_code, StatusCode::OK, "{pending}");
    let pending = pending["value"].as_str().unwrap().to_owned();
    assert_eq!(pending.len(), 36, "a UUID");

    // Not due before its back-off; then retried with the same pending value.
    assert_eq!(run_due(t.server.state()).await.unwrap(), 0);
    std::fs::remove_file(commands.path().join("fail")).unwrap();
    clock.advance(Duration::from_secs(61));
    assert_eq!(run_due(t.server.state()).await.unwrap(), 1);
    assert_eq!(current(&t, "SERVICE_KEY").await, pending);
    let status = show(&t, "SERVICE_KEY").await;
    assert_eq!(status["state"], "idle", "{status}");
    assert_eq!(status["failures"], 0);
    assert!(!status["pending"].as_bool().unwrap());
    assert_eq!(stage(&t, "SERVICE_KEY", "previous").await.1["value"], "in-force-value");
    assert_eq!(stage(&t, "SERVICE_KEY", "pending").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_policies_are_refused_with_the_reason_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let (t, _) = initialised(dir.path(), clock, None).await;
    t.project_env("p", "e").await;
    t.set("K", "value").await;
    for (policy, needle) in [
        (json!({"every": "30d", "cron": "0 3 * * *"}), "not both"),
        (json!({"every": "soon"}), "soon"),
        (json!({"every": "10s"}), "minimum"),
        (json!({"cron": "0 25 * * *"}), "does not parse"),
        (json!({"every": "1d", "generator": "password:2"}), "password"),
        (json!({"every": "1d", "grace": "forever"}), "grace"),
        (
            json!({"rotator": {"kind": "command", "command": "x"}}),
            "rotation_commands_dir",
        ),
        (
            json!({"rotator": {"kind": "postgres", "admin_secret": "A", "roles": []}}),
            "one role",
        ),
        (
            json!({"rotator": {"kind": "webhook", "url": "ftp://x", "signing_secret": "S"}}),
            "https://",
        ),
        (json!({"every": "1d", "colour": "blue"}), "colour"),
    ] {
        let (status, body) = t.put(&format!("{S}/rotation/K"), policy.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{policy}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{policy}: {body}"
        );
    }
    let status = show(&t, "K").await;
    assert_eq!(status["policy"], Value::Null);
    // Stage names are checked too.
    assert_eq!(stage(&t, "K", "next").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        t.get(&format!("{S}/secrets/K?stage=previous&version=1")).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_promotion_reaches_watchers_like_any_change() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let (t, _) = initialised(dir.path(), clock, None).await;
    t.project_env("p", "e").await;
    t.set("K", "value").await;
    let mut feed = t.server.state().changes.subscribe();
    let (status, body) = rotate(&t, "K", json!({"generator": "uuid"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = tokio::time::timeout(Duration::from_secs(5), feed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.revision, body["revision"].as_i64().unwrap());
}

/// A webhook receiver that checks every request's `Leash-Signature` with its
/// own HMAC and records `(step, value)`; a bad signature gets 401.
async fn signature_checking_receiver(key: &'static str) -> (String, Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    let seen: Arc<std::sync::Mutex<Vec<(String, String)>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/rotate",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                let header = headers
                    .get("leash-signature")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("");
                let (mut t, mut v1) = ("", "");
                for part in header.split(',') {
                    match part.split_once('=') {
                        Some(("t", x)) => t = x,
                        Some(("v1", x)) => v1 = x,
                        _ => {}
                    }
                }
                let signed = [t.as_bytes(), b".", &body].concat();
                if t.is_empty() || leash_core::audit::hmac_hex(key.as_bytes(), &signed) != v1 {
                    return StatusCode::UNAUTHORIZED;
                }
                let json: Value = serde_json::from_slice(&body).unwrap();
                record.lock().unwrap().push((
                    json["step"].as_str().unwrap().to_owned(),
                    json["value"].as_str().unwrap().to_owned(),
                ));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/rotate", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn a_webhook_rotator_sends_every_step_signed_and_retires_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let (t, _) = initialised(dir.path(), clock.clone(), None).await;
    t.project_env("p", "e").await;
    const KEY: &str = "webhook-signing-key-planted";
    let (url, seen) = signature_checking_receiver(KEY).await;
    t.set("HOOK_KEY", KEY).await;
    t.set("PARTNER_TOKEN", "partner-old").await;
    let policy = json!({"grace": "2h", "generator": "bytes:24:hex",
                        "rotator": {"kind": "webhook", "url": url, "signing_secret": "HOOK_KEY"}});
    let (status, body) = t.put(&format!("{S}/rotation/PARTNER_TOKEN"), policy).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body.to_string().contains(KEY));

    let (status, body) = rotate(&t, "PARTNER_TOKEN", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = current(&t, "PARTNER_TOKEN").await;
    assert_eq!(new.len(), 48);
    let steps = seen.lock().unwrap().clone();
    assert_eq!(
        steps,
        ["create", "set", "test", "promote"].map(|s| (s.to_owned(), new.clone())),
        "every step arrives once, signed, with the pending value"
    );

    clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(run_due(t.server.state()).await.unwrap(), 1);
    assert_eq!(
        seen.lock().unwrap().last().unwrap(),
        &("retire".to_owned(), "partner-old".to_owned())
    );
    assert_eq!(stage(&t, "PARTNER_TOKEN", "previous").await.0, StatusCode::GONE);

    // A receiver that refuses (wrong key) fails the attempt at its first step; current stays.
    t.set("HOOK_KEY", "some-other-key").await;
    let (status, body) = rotate(&t, "PARTNER_TOKEN", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("create step"),
        "{body}"
    );
    assert_eq!(current(&t, "PARTNER_TOKEN").await, new);
}

#[tokio::test]
async fn a_new_policy_drops_the_pending_value_of_a_failed_attempt_made_for_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let commands = tempfile::tempdir().unwrap();
    flaky_command(commands.path());
    std::fs::write(commands.path().join("fail"), "").unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let (t, _) = initialised(dir.path(), clock, Some(commands.path())).await;
    t.project_env("p", "e").await;
    t.set("K", "in-force").await;
    let policy = json!({"rotator": {"kind": "command", "command": "flaky"}});
    assert_eq!(t.put(&format!("{S}/rotation/K"), policy).await.0, StatusCode::OK);
    assert_eq!(rotate(&t, "K", json!({})).await.0, StatusCode::BAD_GATEWAY);
    assert!(show(&t, "K").await["pending"].as_bool().unwrap());
    // Same policy again: the failed attempt and its pending value stay for the retry.
    let policy = json!({"rotator": {"kind": "command", "command": "flaky"}});
    assert!(
        t.put(&format!("{S}/rotation/K"), policy).await.1["pending"]
            .as_bool()
            .unwrap()
    );
    // A different policy starts afresh.
    let (status, body) = t.put(&format!("{S}/rotation/K"), json!({"every": "30d"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "idle");
    assert_eq!(body["pending"], false);
    assert_eq!(body["last_error"], Value::Null);
    assert_eq!(current(&t, "K").await, "in-force");
}

#[tokio::test]
async fn a_rotator_that_cannot_be_set_up_fails_the_attempt_and_backs_off_instead_of_retrying_every_tick() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let (t, _) = initialised(dir.path(), clock.clone(), None).await;
    t.project_env("p", "e").await;
    t.set("HOOK_KEY", "k").await;
    t.set("TOKEN", "in-force").await;
    let policy = json!({"every": "1d", "rotator": {"kind": "webhook", "url": "http://127.0.0.1:9/x", "signing_secret": "HOOK_KEY"}});
    assert_eq!(t.put(&format!("{S}/rotation/TOKEN"), policy).await.0, StatusCode::OK);
    // The signing key disappears: the rotator cannot be built.
    assert_eq!(
        t.call(Method::DELETE, &format!("{S}/secrets/HOOK_KEY"), None).await.0,
        StatusCode::OK
    );
    clock.advance(DAY);
    assert_eq!(run_due(t.server.state()).await.unwrap(), 1);
    let status = show(&t, "TOKEN").await;
    assert_eq!(status["state"], "failed", "{status}");
    assert!(status["last_error"].as_str().unwrap().contains("HOOK_KEY"), "{status}");
    // Not again at the next tick: it waits for its back-off.
    assert_eq!(run_due(t.server.state()).await.unwrap(), 0);
    assert_eq!(current(&t, "TOKEN").await, "in-force");
    let (_, history) = t.get(&format!("{S}/rotation-history/TOKEN")).await;
    assert_eq!(history["attempts"][0]["outcome"], "failed", "{history}");
    assert_eq!(history["attempts"][0]["trigger"], "schedule");
}

/// A listener that records every HTTP request it gets (method, path and body), answering `status`.
async fn recording_listener(status: StatusCode) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::body::Bytes;
    use axum::http::{Method as HttpMethod, Uri};
    let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |method: HttpMethod, uri: Uri, body: Bytes| {
        let record = record.clone();
        async move {
            record
                .lock()
                .unwrap()
                .push(format!("{method} {uri} {}", String::from_utf8_lossy(&body)));
            status
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// A TCP listener that counts the connections made to it (a PostgreSQL server stand-in).
async fn counting_listener() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let count: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
    let counter = count.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, count)
}

/// A command rotator that appends its step and the value it got to `ran` beside it.
fn recording_command(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("record");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nvalue=$(cat)\necho \"$1 $value\" >> {}\n",
            dir.join("ran").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn refused(status: StatusCode) -> bool {
    status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND
}

/// The security review's finding: with only `rotate` on a secret, a caller set a webhook
/// rotator aimed at its own listener and received the new value at every step and the
/// old one at `retire`. Choosing (or replacing) a rotator that sends values out now needs `read`.
#[tokio::test]
async fn a_rotate_only_caller_cannot_set_or_change_a_rotator_that_sends_values_out() {
    let dir = tempfile::tempdir().unwrap();
    let commands = tempfile::tempdir().unwrap();
    recording_command(commands.path());
    let clock = Arc::new(ManualClock::starting_now());
    let (t, _) = initialised(dir.path(), clock, Some(commands.path())).await;
    t.project_env("p", "e").await;
    let (theirs, theirs_seen) = recording_listener(StatusCode::OK).await;
    let (admins, admins_seen) = recording_listener(StatusCode::OK).await;
    let (pg_port, pg_connections) = counting_listener().await;
    t.set("TARGET", "target-old-value").await;
    t.set("hooks/SIGN", "whsec-signing-key").await;
    t.set("hooks/PG_ADMIN", &format!("postgres://admin:pw@127.0.0.1:{pg_port}/db"))
        .await;
    t.policy(
        "rotate-only",
        r#"
[[allow]]
path = "p/e/TARGET"
capabilities = ["rotate", "list"]

[[allow]]
path = "p/e/hooks/**"
capabilities = ["read", "write", "list"]
"#,
    )
    .await;
    t.policy(
        "rotate-read",
        r#"
[[allow]]
path = "p/e/**"
capabilities = ["rotate", "read", "list"]
"#,
    )
    .await;
    let ro = t.token(&["rotate-only"], None).await;
    let rr = t.token(&["rotate-read"], None).await;
    assert!(refused(
        t.call_as(&ro, Method::GET, &format!("{S}/secrets/TARGET"), None)
            .await
            .0
    ));
    let at = format!("{S}/rotation/TARGET");
    let webhook = |url: &str| json!({"rotator": {"kind": "webhook", "url": url, "signing_secret": "hooks/SIGN"}});
    let senders = [
        webhook(&theirs),
        json!({"rotator": {"kind": "postgres", "admin_secret": "hooks/PG_ADMIN", "roles": ["app"], "format": "password"}}),
        json!({"rotator": {"kind": "command", "command": "record"}}),
    ];

    // Setting any rotator that sends values out: refused, nothing stored.
    for policy in &senders {
        let (status, body) = t.call_as(&ro, Method::PUT, &at, Some(policy.clone())).await;
        assert!(refused(status), "{policy}: {status} {body}");
        assert_eq!(show(&t, "TARGET").await["policy"], Value::Null, "{policy}");
    }
    // So rotating has no rotator to run, and nothing left Leash.
    let (status, _) = t
        .call_as(&ro, Method::POST, &format!("{S}/rotate/TARGET"), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Generator-only policies and rotating stay the rotate-only caller's job.
    let (status, body) = t
        .call_as(
            &ro,
            Method::PUT,
            &at,
            Some(json!({"every": "30d", "grace": "1h", "generator": "password:40"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = t
        .call_as(&ro, Method::POST, &format!("{S}/rotate/TARGET"), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(current(&t, "TARGET").await.len(), 40);

    // Someone who may read the secret chooses the destination...
    let (status, body) = t.call_as(&rr, Method::PUT, &at, Some(webhook(&admins))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // ... and the rotate-only caller may neither swap it, nor replace it, nor remove it.
    for policy in [
        webhook(&theirs),
        json!({"every": "1d", "rotator": {"kind": "webhook", "url": admins, "signing_secret": "hooks/SIGN"}}),
        json!({"every": "30d"}),
    ] {
        let (status, body) = t.call_as(&ro, Method::PUT, &at, Some(policy.clone())).await;
        assert!(refused(status), "{policy}: {status} {body}");
    }
    let (status, body) = t.call_as(&ro, Method::DELETE, &at, None).await;
    assert!(refused(status), "{status} {body}");
    assert_eq!(show(&t, "TARGET").await["policy"]["rotator"]["url"], admins.as_str());

    // Rotating with the rotator a reader chose stays allowed: the values go where that reader said.
    let (status, body) = t
        .call_as(
            &ro,
            Method::POST,
            &format!("{S}/rotate/TARGET"),
            Some(json!({"revoke_previous": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin_steps = admins_seen.lock().unwrap().len();
    assert_eq!(admin_steps, 5, "create, set, test, promote and retire");

    assert!(
        theirs_seen.lock().unwrap().is_empty(),
        "{:?}",
        theirs_seen.lock().unwrap()
    );
    assert_eq!(pg_connections.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(!commands.path().join("ran").exists());
    // The reader may remove it again.
    let (status, body) = t.call_as(&rr, Method::DELETE, &at, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn put_policy(t: &TestServer, path: &str, policy: Value) -> (StatusCode, Value) {
    t.put(&format!("{S}/rotation/{path}"), policy).await
}

fn webhook_policy(url: &str) -> Value {
    json!({"rotator": {"kind": "webhook", "url": url, "signing_secret": "HOOK_KEY"}})
}

fn message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn webhook_urls_must_pass_rotation_webhook_allow_when_a_policy_is_set() {
    let (url, seen) = recording_listener(StatusCode::OK).await;
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let localhost = format!("http://localhost:{port}/hook?token=t0ken");
    let with_token = format!("{url}?token=t0ken");
    let cases: &[(&[&str], &str, &str)] = &[
        // No allowlist: webhook rotators are off.
        (&[], &with_token, "rotation_webhook_allow"),
        // A loopback literal without a covering CIDR entry.
        (
            &["hooks.example.com"],
            &with_token,
            "needs a CIDR entry such as 127.0.0.1/32",
        ),
        (&["0.0.0.0/0"], &with_token, "127.0.0.1 is a loopback address"),
        // Link-local literals (cloud metadata), even under a wide network.
        (
            &["0.0.0.0/0"],
            "http://169.254.169.254/latest/meta-data?t0ken",
            "link-local",
        ),
        (&["::/0"], "http://[fe80::1]/hook?t0ken", "link-local"),
        // A listed name that resolves to loopback only.
        (&["localhost"], &localhost, "loopback"),
        // A name that is not listed.
        (
            &["hooks.example.com"],
            "https://user:t0ken@evil.example/hook?t0ken",
            "host evil.example is not listed",
        ),
    ];
    for (allow, hook, words) in cases {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::starting_now());
        let mut t = start_allowing(dir.path(), clock, None, allow).await;
        t.init_and_unseal().await;
        t.project_env("p", "e").await;
        t.set("HOOK_KEY", "k").await;
        t.set("TOKEN", "v").await;
        let (status, body) = put_policy(&t, "TOKEN", webhook_policy(hook)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{allow:?} {hook}: {body}");
        let text = message(&body);
        assert!(text.contains(words), "{allow:?} {hook}: {text}");
        assert!(!text.contains("t0ken") && !text.contains("/hook"), "{text}");
        assert_eq!(show(&t, "TOKEN").await["policy"], Value::Null);
        t.server.shutdown().await.unwrap();
    }
    assert!(seen.lock().unwrap().is_empty());

    // Covered explicitly, both the literal and the name work.
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let mut t = start_allowing(dir.path(), clock, None, &["localhost", "127.0.0.1/32"]).await;
    t.init_and_unseal().await;
    t.project_env("p", "e").await;
    t.set("HOOK_KEY", "k").await;
    t.set("TOKEN", "v").await;
    for hook in [&with_token, &localhost] {
        let (status, body) = put_policy(&t, "TOKEN", webhook_policy(hook)).await;
        assert_eq!(status, StatusCode::OK, "{hook}: {body}");
        let (status, body) = rotate(&t, "TOKEN", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{hook}: {body}");
    }
    assert_eq!(seen.lock().unwrap().len(), 8, "four steps per rotation");
}

/// The allowlist applies at every attempt, not only when the policy is set: a policy stored
/// under a wider allowlist, or a listed name whose addresses changed, sends nothing.
#[tokio::test]
async fn a_stored_webhook_policy_the_allowlist_no_longer_covers_sends_nothing() {
    let (url, seen) = recording_listener(StatusCode::OK).await;
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let localhost = format!("http://localhost:{port}/hook?token=t0ken");
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let mut t = start_allowing(dir.path(), clock.clone(), None, &["localhost", "127.0.0.1/32"]).await;
    let share = t.init_and_unseal().await;
    t.project_env("p", "e").await;
    t.set("HOOK_KEY", "k").await;
    t.set("BY_NAME", "by-name-old").await;
    t.set("BY_ADDRESS", "by-address-old").await;
    assert_eq!(
        put_policy(&t, "BY_NAME", webhook_policy(&localhost)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        put_policy(&t, "BY_ADDRESS", webhook_policy(&url)).await.0,
        StatusCode::OK
    );

    // The operator narrows the allowlist: `localhost` stays listed, 127.0.0.1 is no longer covered.
    let token = t.token.clone();
    t.server.shutdown().await.unwrap();
    let mut t = start_allowing(dir.path(), clock.clone(), None, &["localhost"]).await;
    t.token = token;
    t.unseal(&share).await;
    // The name resolves to loopback only: refused when connecting, the attempt fails.
    let (status, body) = rotate(&t, "BY_NAME", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let text = message(&body);
    assert!(text.contains("create step") && text.contains("loopback"), "{text}");
    assert!(!text.contains("t0ken"), "{text}");
    // The literal is not covered: the rotator cannot be set up.
    let (status, body) = rotate(&t, "BY_ADDRESS", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("127.0.0.1"), "{body}");
    for path in ["BY_NAME", "BY_ADDRESS"] {
        let status = show(&t, path).await;
        assert_eq!(status["state"], "failed", "{status}");
        assert!(!status["last_error"].as_str().unwrap().contains("t0ken"), "{status}");
    }
    // The scheduler's retries fare no better.
    clock.advance(Duration::from_secs(3600));
    run_due(t.server.state()).await.unwrap();
    assert!(seen.lock().unwrap().is_empty(), "{:?}", seen.lock().unwrap());
    assert_eq!(current(&t, "BY_NAME").await, "by-name-old");
    assert_eq!(current(&t, "BY_ADDRESS").await, "by-address-old");
}

#[tokio::test]
async fn a_redirecting_receiver_fails_the_step_and_the_redirect_target_receives_nothing() {
    use axum::http::header::LOCATION;
    let (target_url, target_seen) = recording_listener(StatusCode::OK).await;
    let app = axum::Router::new().fallback(move || {
        let to = target_url.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [(LOCATION, to)]) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirecting = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let (t, _) = initialised(dir.path(), clock, None).await;
    t.project_env("p", "e").await;
    t.set("HOOK_KEY", "k").await;
    t.set("TOKEN", "in-force").await;
    assert_eq!(
        put_policy(&t, "TOKEN", webhook_policy(&redirecting)).await.0,
        StatusCode::OK
    );
    let (status, body) = rotate(&t, "TOKEN", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(message(&body).contains("HTTP 307"), "{body}");
    assert_eq!(current(&t, "TOKEN").await, "in-force");
    assert!(
        target_seen.lock().unwrap().is_empty(),
        "{:?}",
        target_seen.lock().unwrap()
    );
}
