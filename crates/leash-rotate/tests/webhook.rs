//! The webhook rotator against a local receiver that checks the signature on
//! its own (hmac crate, constant-time compare, 5-minute tolerance), as the
//! example in docs/rotators.md does; and where it refuses to send: hosts the
//! allowlist does not list, names that resolve to loopback, redirects.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use leash_rotate::webhook::{Allowlist, signature_header};
use leash_rotate::{Error, Rotator, Step, Target, WebhookConfig, WebhookRotator};
use sha2::Sha256;
use zeroize::Zeroizing;

const KEY: &str = "whsec_3f9c1d2b7a6e4f08";
const TOLERANCE_SECS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
struct Recorded {
    step: String,
    project: String,
    env: String,
    path: String,
    attempt: i64,
    value: String,
}

#[derive(Default)]
struct Behaviour {
    steps: Vec<Recorded>,
    /// Answer this step with this status (and a body that echoes the value).
    fail: Option<(String, u16)>,
    /// Answer this step only after this long.
    delay: Option<(String, Duration)>,
}

#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(behaviour.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, behaviour }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn steps(&self) -> Vec<String> {
        self.behaviour
            .lock()
            .unwrap()
            .steps
            .iter()
            .map(|r| r.step.clone())
            .collect()
    }

    fn recorded(&self) -> Vec<Recorded> {
        self.behaviour.lock().unwrap().steps.clone()
    }

    fn fail(&self, step: &str, status: u16) {
        self.behaviour.lock().unwrap().fail = Some((step.into(), status));
    }

    fn delay(&self, step: &str, delay: Duration) {
        self.behaviour.lock().unwrap().delay = Some((step.into(), delay));
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The receiver's own check of `Leash-Signature: t=<t>,v1=<hex>`.
fn verify(headers: &HeaderMap, body: &[u8], key: &[u8], now: u64) -> Result<(), &'static str> {
    let header = headers
        .get("leash-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or("no signature")?;
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<u64>().ok(),
            Some(("v1", v)) => signature = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (timestamp, signature) = (timestamp.ok_or("no t")?, signature.ok_or("no v1")?);
    if now.abs_diff(timestamp) > TOLERANCE_SECS {
        return Err("stale timestamp");
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&signature).map_err(|_| "bad signature")
}

async fn receive(
    State(behaviour): State<Arc<Mutex<Behaviour>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "json please".into());
    }
    if let Err(why) = verify(&headers, &body, KEY.as_bytes(), now()) {
        return (StatusCode::UNAUTHORIZED, why.into());
    }
    let Ok(recorded) = serde_json::from_slice::<Recorded>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad body".into());
    };
    let delay = behaviour
        .lock()
        .unwrap()
        .delay
        .clone()
        .filter(|(step, _)| *step == recorded.step);
    if let Some((_, delay)) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut behaviour = behaviour.lock().unwrap();
    behaviour.steps.push(recorded.clone());
    match &behaviour.fail {
        Some((step, status)) if *step == recorded.step => (
            StatusCode::from_u16(*status).unwrap(),
            format!("refused value {}", recorded.value),
        ),
        _ => (StatusCode::OK, "ok".into()),
    }
}

/// The receivers of these tests listen on 127.0.0.1, which must be listed explicitly.
const LOCAL: &[&str] = &["127.0.0.1/32"];

fn config(url: &str, key: &str, timeout: Duration, allow: &[&str]) -> WebhookConfig {
    WebhookConfig {
        url: url.into(),
        signing_key: Zeroizing::new(key.into()),
        generator: "password:32".parse().unwrap(),
        timeout,
        allow: Arc::new(Allowlist::parse(allow).unwrap()),
    }
}

fn rotator(url: &str, key: &str, timeout: Duration) -> WebhookRotator {
    WebhookRotator::new(config(url, key, timeout, LOCAL)).unwrap()
}

fn config_error(config: WebhookConfig) -> String {
    match WebhookRotator::new(config) {
        Err(Error::Config(message)) => message,
        Err(other) => panic!("expected a configuration error, got {other}"),
        Ok(_) => panic!("expected a configuration error"),
    }
}

fn target() -> Target {
    Target {
        project: "payment".into(),
        env: "prod".into(),
        path: "stripe/API_KEY".into(),
        attempt: 7,
    }
}

fn step_error(error: Error) -> (Step, String) {
    match error {
        Error::Step { step, message } => (step, message),
        other => panic!("expected a step error, got {other}"),
    }
}

#[tokio::test]
async fn steps_arrive_in_order_signed_and_carry_the_value() {
    let receiver = Receiver::start().await;
    let rotator = rotator(&receiver.url(), KEY, Duration::from_secs(5));
    let target = target();
    let pending = rotator.create(&target, Some("old-value")).await.unwrap();
    assert_eq!(pending.len(), 32);
    rotator.set(&target, Some("old-value"), &pending).await.unwrap();
    rotator.test(&target, &pending).await.unwrap();
    rotator.promote(&target, &pending).await.unwrap();
    rotator.retire(&target, "old-value").await.unwrap();

    assert_eq!(receiver.steps(), ["create", "set", "test", "promote", "retire"]);
    for recorded in receiver.recorded() {
        let expected_value = if recorded.step == "retire" {
            "old-value"
        } else {
            pending.as_str()
        };
        assert_eq!(
            recorded,
            Recorded {
                step: recorded.step.clone(),
                project: "payment".into(),
                env: "prod".into(),
                path: "stripe/API_KEY".into(),
                attempt: 7,
                value: expected_value.into(),
            }
        );
    }
}

#[tokio::test]
async fn the_receiver_rejects_a_tampered_body_a_wrong_key_and_a_stale_timestamp() {
    let receiver = Receiver::start().await;
    let client = reqwest::Client::new();
    let body = br#"{"step":"set","project":"p","env":"e","path":"K","attempt":1,"value":"v"}"#;
    let send = |signature: Option<String>, body: &'static [u8]| {
        let mut request = client
            .post(receiver.url())
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("Leash-Signature", signature);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let good = signature_header(KEY.as_bytes(), now(), body);
    assert_eq!(send(Some(good.clone()), body).await, 200, "a good signature passes");
    let tampered = br#"{"step":"set","project":"p","env":"e","path":"K","attempt":1,"value":"w"}"#;
    assert_eq!(send(Some(good), tampered).await, 401, "tampered body");
    let wrong_key = signature_header(b"another key", now(), body);
    assert_eq!(send(Some(wrong_key), body).await, 401, "wrong key");
    let stale = signature_header(KEY.as_bytes(), now() - 2 * TOLERANCE_SECS, body);
    assert_eq!(send(Some(stale), body).await, 401, "stale timestamp");
    assert_eq!(send(None, body).await, 401, "no signature");
    assert_eq!(receiver.steps(), ["set"]);
}

#[tokio::test]
async fn a_rotator_with_the_wrong_key_is_refused() {
    let receiver = Receiver::start().await;
    let rotator = rotator(&receiver.url(), "not the key", Duration::from_secs(5));
    let (step, message) = step_error(rotator.create(&target(), None).await.unwrap_err());
    assert_eq!(step, Step::Create);
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(receiver.steps().is_empty());
}

#[tokio::test]
async fn a_failing_step_names_the_step_and_the_status_but_not_the_body() {
    let receiver = Receiver::start().await;
    receiver.fail("test", 500);
    let rotator = rotator(&receiver.url(), KEY, Duration::from_secs(5));
    let pending = rotator.create(&target(), None).await.unwrap();
    rotator.set(&target(), None, &pending).await.unwrap();
    let err = rotator.test(&target(), &pending).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert_eq!(
        err.to_string(),
        "test step failed: the webhook answered HTTP 500 Internal Server Error"
    );
    assert!(
        !text.contains(pending.as_str()),
        "the response body reflected the value: {text}"
    );
    assert_eq!(receiver.steps(), ["create", "set", "test"]);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let receiver = Receiver::start().await;
    receiver.fail("set", 307);
    let rotator = rotator(&receiver.url(), KEY, Duration::from_secs(5));
    let (step, message) = step_error(rotator.set(&target(), None, "v").await.unwrap_err());
    assert_eq!(step, Step::Set);
    assert!(message.contains("HTTP 307"), "{message}");
}

/// A receiver that answers every request with `status` and `Location: to`.
async fn redirector(status: StatusCode, to: String) -> String {
    let app = Router::new().fallback(move || {
        let to = to.clone();
        async move { (status, [(axum::http::header::LOCATION, to)]) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_redirecting_receiver_fails_the_step_and_the_redirect_target_receives_nothing() {
    let target_receiver = Receiver::start().await;
    for status in [301, 302, 303, 307, 308] {
        let status = StatusCode::from_u16(status).unwrap();
        let url = redirector(status, target_receiver.url()).await;
        let rotator = rotator(&url, KEY, Duration::from_secs(5));
        let (step, message) = step_error(rotator.set(&target(), None, "redirected-value").await.unwrap_err());
        assert_eq!(step, Step::Set);
        assert!(message.contains(&format!("HTTP {}", status.as_u16())), "{message}");
        assert!(!message.contains("redirected-value"), "{message}");
    }
    assert!(target_receiver.steps().is_empty(), "{:?}", target_receiver.recorded());
}

#[tokio::test]
async fn a_host_or_address_the_allowlist_does_not_cover_is_refused_before_anything_is_sent() {
    let receiver = Receiver::start().await;
    let second = Duration::from_secs(5);
    let port = receiver.addr.port();
    let cases: &[(&[&str], String, &str)] = &[
        (&[], receiver.url(), "rotation_webhook_allow"),
        (
            &["hooks.example.com"],
            receiver.url(),
            "needs a CIDR entry such as 127.0.0.1/32",
        ),
        (&["0.0.0.0/0"], receiver.url(), "127.0.0.1 is a loopback address"),
        (
            &["127.0.0.1/32"],
            format!("http://127.0.0.2:{port}/hook"),
            "not covered",
        ),
        (
            &["0.0.0.0/0"],
            "http://169.254.169.254/latest?t0ken".into(),
            "link-local",
        ),
        (&["::/0"], "http://[fe80::1]/hook".into(), "link-local"),
        (
            &["127.0.0.1/32"],
            format!("http://[::ffff:7f00:2]:{port}/hook"),
            "not covered",
        ),
        (
            &["hooks.example.com"],
            format!("http://user:t0ken@other.example:{port}/hook?t0ken"),
            "host other.example:",
        ),
    ];
    for (allow, url, words) in cases {
        let message = config_error(config(url, KEY, second, allow));
        assert!(message.starts_with("url: "), "{allow:?}: {message}");
        assert!(message.contains(words), "{allow:?}: {message}");
        assert!(!message.contains("t0ken") && !message.contains("/hook"), "{message}");
    }
    assert!(receiver.steps().is_empty());
}

#[tokio::test]
async fn a_listed_name_that_resolves_to_loopback_is_refused_when_connecting_unless_a_cidr_covers_it() {
    let receiver = Receiver::start().await;
    let url = format!("http://localhost:{}/hook?token=t0ken", receiver.addr.port());
    let second = Duration::from_secs(5);
    // Listed by name, but its addresses are loopback: no request leaves.
    let rotator = WebhookRotator::new(config(&url, KEY, second, &["localhost"])).unwrap();
    let (step, message) = step_error(rotator.set(&target(), None, "v").await.unwrap_err());
    assert_eq!(step, Step::Set);
    assert!(message.starts_with("cannot connect to the webhook"), "{message}");
    assert!(
        message.contains("host localhost resolves to no address a webhook may use"),
        "{message}"
    );
    assert!(message.contains("loopback"), "{message}");
    assert!(!message.contains("t0ken"), "{message}");
    assert!(receiver.steps().is_empty());
    // Also when checked ahead of time (as the server does when a policy is set).
    let allow = Allowlist::parse(["localhost"]).unwrap();
    let err = leash_rotate::webhook::check_destination(&allow, &url)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("loopback") && !err.contains("t0ken"), "{err}");
    // With 127.0.0.1 covered, the request goes to 127.0.0.1 (and never to ::1, which is not).
    let allow = ["localhost", "127.0.0.1/32"];
    leash_rotate::webhook::check_destination(&Allowlist::parse(allow).unwrap(), &url)
        .await
        .unwrap();
    let rotator = WebhookRotator::new(config(&url, KEY, second, &allow)).unwrap();
    rotator.set(&target(), None, "v").await.unwrap();
    assert_eq!(receiver.steps(), ["set"]);
}

#[tokio::test]
async fn a_slow_receiver_times_out() {
    let receiver = Receiver::start().await;
    receiver.delay("set", Duration::from_secs(5));
    let rotator = rotator(&receiver.url(), KEY, Duration::from_millis(300));
    let (step, message) = step_error(rotator.set(&target(), None, "v").await.unwrap_err());
    assert_eq!(step, Step::Set);
    assert!(message.contains("did not answer within 300ms"), "{message}");
}

#[tokio::test]
async fn an_unreachable_receiver_is_reported_without_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rotator = rotator(
        &format!("http://127.0.0.1:{port}/hook?token=t0ken"),
        KEY,
        Duration::from_secs(5),
    );
    let (step, message) = step_error(rotator.promote(&target(), "v").await.unwrap_err());
    assert_eq!(step, Step::Promote);
    assert!(message.starts_with("cannot connect to the webhook"), "{message}");
    assert!(!message.contains("t0ken"), "{message}");
}
