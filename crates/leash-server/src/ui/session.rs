//! Browser sessions: login (user and password through the API's own
//! userpass login, or an existing token), logout (revokes the session's
//! token), and the [`Session`] extractor.
//!
//! The cookie holds only an opaque random session id (`leash_session`,
//! `HttpOnly; SameSite=Strict; Path=/ui`, `Secure` under TLS). The id maps,
//! in this process's memory, to the real Leash token and the session's CSRF
//! token. A session ends after 30 idle minutes, 12 hours in all, when its
//! token expires or is revoked, or at logout; a restart ends every session.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use leash_core::api::UserpassLogin;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{SessionView, UiError, UiTls, form, render};
use crate::audit::AuditNote;
use crate::auth::{Caller, caller_for_token};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::api;
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "leash_session";
/// The pre-session cookie whose value the login and unseal forms must echo (double submit).
pub const LOGIN_COOKIE: &str = "leash_login_csrf";
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login, used or not.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);
const MAX_SESSIONS: usize = 10_000;

struct Entry {
    token: Zeroizing<String>,
    csrf: String,
    user: String,
    created: Instant,
    last_used: Instant,
}

/// The sessions of this process, by id.
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
    idle: Duration,
    absolute: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::with_limits(IDLE, ABSOLUTE)
    }
}

fn random_id() -> String {
    format!(
        "{}{}",
        leash_core::token::generate_accessor(),
        leash_core::token::generate_accessor()
    )
}

impl Sessions {
    /// Sessions that end after `idle` unused, or `absolute` after login.
    pub fn with_limits(idle: Duration, absolute: Duration) -> Self {
        Self {
            entries: Mutex::default(),
            idle,
            absolute,
        }
    }

    fn live(&self, e: &Entry, now: Instant) -> bool {
        now.duration_since(e.last_used) < self.idle && now.duration_since(e.created) < self.absolute
    }

    fn open(&self, token: Zeroizing<String>, user: String) -> String {
        let id = random_id();
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, e| self.live(e, now));
        if entries.len() >= MAX_SESSIONS
            && let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.last_used).map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(
            id.clone(),
            Entry {
                token,
                csrf: random_id(),
                user,
                created: now,
                last_used: now,
            },
        );
        id
    }

    /// The token, CSRF token and user name of a live session (and marks it used).
    fn touch(&self, id: &str) -> Option<(Zeroizing<String>, String, String)> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get_mut(id) {
            Some(e) if self.live(e, now) => {
                e.last_used = now;
                Some((e.token.clone(), e.csrf.clone(), e.user.clone()))
            }
            Some(_) => {
                entries.remove(id);
                None
            }
            None => None,
        }
    }

    /// The CSRF token of a live session.
    pub fn csrf_of(&self, id: &str) -> Option<String> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(id).filter(|e| self.live(e, now)).map(|e| e.csrf.clone())
    }

    fn close(&self, id: &str) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn set_cookie(parts_tls: bool, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if parts_tls { "; Secure" } else { "" };
    let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/ui; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .expect("cookie values are alphanumeric")
}

/// A request with a live session: its caller (authenticated from the
/// session's token by the API's own code) and what the page shows.
pub struct Session {
    pub caller: Caller,
    pub note: AuditNote,
    id: String,
    user: String,
    csrf: String,
    seal: leash_core::api::SealStatus,
}

impl Session {
    pub fn view(&self) -> SessionView {
        SessionView {
            user: self.user.clone(),
            csrf: self.csrf.clone(),
            seal: self.seal.clone(),
        }
    }
}

async fn resolve(parts: &Parts, state: &AppState) -> Result<Option<Session>, ApiError> {
    let Some(sessions) = parts.extensions.get::<Arc<Sessions>>() else {
        return Ok(None);
    };
    let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some((token, csrf, user)) = sessions.touch(id) else {
        return Ok(None);
    };
    match caller_for_token(parts, state, &token).await {
        Ok(caller) => Ok(Some(Session {
            note: caller.note.clone().unwrap_or_default(),
            caller,
            id: id.to_owned(),
            user,
            csrf,
            seal: state.barrier.status(),
        })),
        Err(e) if e.status() == axum::http::StatusCode::UNAUTHORIZED => {
            // The token expired or was revoked: the session ends with it.
            sessions.close(id);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match resolve(parts, state).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => {
                if let Some(note) = parts.extensions.get::<AuditNote>() {
                    note.set_reason("no live UI session");
                }
                Err(to_login(parts))
            }
            Err(e) => Err(UiError::from(e).into_response()),
        }
    }
}

impl OptionalFromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        resolve(parts, state)
            .await
            .map_err(|e| UiError::from(e).into_response())
    }
}

/// Where a request without a session goes: a GET to the login page; any
/// other method gets 401 (htmx follows `HX-Redirect`).
fn to_login(parts: &Parts) -> Response {
    if parts.method == Method::GET {
        return Redirect::to("/ui/login").into_response();
    }
    let mut response = UiError::from(ApiError::new(
        crate::error::ErrorKind::Unauthorized,
        "no_session",
        "your session has ended; log in again",
    ))
    .into_response();
    response
        .headers_mut()
        .insert("hx-redirect", HeaderValue::from_static("/ui/login"));
    response
}

/// A page with the pre-session CSRF cookie set (login and unseal forms).
pub fn with_login_csrf(parts_tls: bool, headers: &HeaderMap, page: impl FnOnce(&str) -> Response) -> Response {
    let value = cookie(headers, LOGIN_COOKIE)
        .filter(|v| v.len() == 48 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned)
        .unwrap_or_else(random_id);
    let mut response = page(&value);
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(parts_tls, LOGIN_COOKIE, &value, None));
    response
}

/// `GET /ui/login`.
pub async fn login_page(
    State(state): State<AppState>,
    tls: Option<axum::Extension<UiTls>>,
    headers: HeaderMap,
    session: Option<Session>,
) -> Response {
    if session.is_some() {
        return Redirect::to("/ui/projects").into_response();
    }
    let tls = tls.is_some_and(|t| t.0.0);
    with_login_csrf(tls, &headers, |csrf| {
        render(&state, "login.html", None, minijinja::context! { login_csrf => csrf })
    })
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
}

/// `POST /ui/login`: user and password (the API's userpass login, with its
/// rate limit and its one refusal), or an existing token (operators).
pub async fn login(
    State(state): State<AppState>,
    connect: ConnectInfo<SocketAddr>,
    note: AuditNote,
    axum::extract::Extension(sessions): axum::extract::Extension<Arc<Sessions>>,
    tls: Option<axum::Extension<UiTls>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tls = tls.is_some_and(|t| t.0.0);
    let f: LoginForm = match form(&body) {
        Ok(f) => f,
        Err(e) => return login_failed(&state, tls, &headers, e),
    };
    let password = Zeroizing::new(f.password);
    let presented = Zeroizing::new(f.token.trim().to_owned());
    let (token, user) = if !presented.is_empty() {
        match crate::auth::authenticate(&state, &presented).await {
            Ok(record) => {
                let caller = Caller::new(record, &state.directory.snapshot());
                note.update(|n| {
                    n.identity = Some(caller.context.name.clone());
                    n.auth_method = Some("ui-token".to_owned());
                    n.accessor = Some(caller.token.accessor.clone());
                });
                (presented, caller.context.name.clone())
            }
            Err(e) => {
                note.set_reason("an invalid token was presented at the UI login");
                return login_failed(&state, tls, &headers, e);
            }
        }
    } else {
        let req = UserpassLogin {
            username: f.username.trim().to_owned(),
            password: password.to_string(),
        };
        match api::auth::userpass_login(State(state.clone()), connect, note, ApiJson(req)).await {
            Ok(Json(created)) => {
                let user = created.identity.clone().unwrap_or_default();
                (Zeroizing::new(created.token), user)
            }
            Err(e) => return login_failed(&state, tls, &headers, e),
        }
    };
    let id = sessions.open(token, user);
    let mut response = Redirect::to("/ui/projects").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(tls, SESSION_COOKIE, &id, None));
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(tls, LOGIN_COOKIE, "", Some(0)));
    response
}

fn login_failed(state: &AppState, tls: bool, headers: &HeaderMap, e: ApiError) -> Response {
    let status = e.status();
    let code = e.code;
    let mut response = with_login_csrf(tls, headers, |csrf| {
        render(
            state,
            "login.html",
            None,
            minijinja::context! { login_csrf => csrf, error => e.message },
        )
    });
    *response.status_mut() = status;
    response.extensions_mut().insert(crate::error::ErrorCode(code));
    response
}

/// `POST /ui/logout`: revokes the session's token and ends the session.
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    sessions: axum::extract::Extension<Arc<Sessions>>,
    tls: Option<axum::Extension<UiTls>>,
) -> Response {
    let tls = tls.is_some_and(|t| t.0.0);
    sessions.close(&session.id);
    if let Err(e) = api::auth::revoke_self(State(state), session.caller).await {
        return UiError::from(e).into_response();
    }
    let mut response = Redirect::to("/ui/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(tls, SESSION_COOKIE, "", Some(0)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Zeroizing<String> {
        leash_core::token::generate_token()
    }

    #[test]
    fn a_session_ends_when_idle_and_at_its_absolute_limit() {
        let idle = Sessions::with_limits(Duration::from_millis(50), Duration::from_secs(60));
        let id = idle.open(token(), "u".into());
        assert!(idle.touch(&id).is_some());
        std::thread::sleep(Duration::from_millis(80));
        assert!(idle.csrf_of(&id).is_none(), "idle past the limit");
        assert!(idle.touch(&id).is_none());

        let absolute = Sessions::with_limits(Duration::from_secs(60), Duration::from_millis(120));
        let id = absolute.open(token(), "u".into());
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(30));
            assert!(absolute.touch(&id).is_some(), "used, so not idle");
        }
        std::thread::sleep(Duration::from_millis(60));
        assert!(absolute.touch(&id).is_none(), "past the absolute limit, however used");
    }

    #[test]
    fn ids_and_csrf_tokens_are_random_and_distinct() {
        let s = Sessions::default();
        let a = s.open(token(), "u".into());
        let b = s.open(token(), "u".into());
        assert_ne!(a, b);
        assert_eq!(a.len(), 48);
        assert_ne!(s.csrf_of(&a), s.csrf_of(&b));
        s.close(&a);
        assert!(s.touch(&a).is_none() && s.touch(&b).is_some());
    }
}
