//! Projects, environments and secrets pages: the secrets table (names and
//! versions, never values), reveal (the only place a value is sent, an
//! audited `secret.read`), create/edit/delete/undelete, bulk edit and `.env`
//! import as one change set, a secret's versions, an environment's timeline,
//! revision and environment diffs (values masked) and rollback.
//!
//! Every handler calls the `/api/v1` handler of the same operation
//! (`routes::api`) with the session's caller and renders its answer.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use bytes::Bytes;
use leash_core::api::{ChangeKind, ChangeOp, ChangeRequest, CreateNamed, History, RollbackRequest, SecretList};
use serde::{Deserialize, Serialize};

use super::session::Session;
use super::{UiError, api_value, form, non_empty, render, see_other};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::api;
use crate::state::AppState;

type EnvAt = Path<(String, String)>;
type SecretAt = Path<(String, String, String)>;

fn env_url(project: &str, env: &str) -> String {
    format!("/ui/projects/{project}/envs/{env}")
}

/// A form's fields: the CSRF token (checked before the handler) is ignored.
#[derive(Deserialize)]
struct NameForm {
    name: String,
}

/// `GET /ui/projects`.
pub async fn projects(State(state): State<AppState>, session: Session) -> Result<Response, UiError> {
    let view = session.view();
    let Json(list) = api::projects::list(State(state.clone()), session.caller)
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    Ok(render(
        &state,
        "projects.html",
        Some(&view),
        minijinja::context! { projects => list.projects },
    ))
}

/// `POST /ui/projects`.
pub async fn create_project(State(state): State<AppState>, session: Session, body: Bytes) -> Result<Response, UiError> {
    let view = session.view();
    let f: NameForm = form(&body).map_err(|e| UiError::from(e).with(&view))?;
    let name = f.name.trim().to_owned();
    match api::projects::create(
        State(state.clone()),
        session.caller,
        ApiJson(CreateNamed { name: name.clone() }),
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/ui/projects/{name}"))),
        Err(e) => Err(UiError::from(e).with(&view)),
    }
}

/// `GET /ui/projects/{project}`.
pub async fn project(
    State(state): State<AppState>,
    session: Session,
    Path(project): Path<String>,
) -> Result<Response, UiError> {
    let view = session.view();
    let Json(list) = api::projects::list_envs(State(state.clone()), session.caller, Path(project.clone()))
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    Ok(render(
        &state,
        "project.html",
        Some(&view),
        minijinja::context! { project => project, envs => list.envs },
    ))
}

/// `POST /ui/projects/{project}/envs`.
pub async fn create_env(
    State(state): State<AppState>,
    session: Session,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let view = session.view();
    let f: NameForm = form(&body).map_err(|e| UiError::from(e).with(&view))?;
    let name = f.name.trim().to_owned();
    let _ = api::projects::create_env(
        State(state.clone()),
        session.caller,
        Path(project.clone()),
        ApiJson(CreateNamed { name: name.clone() }),
    )
    .await
    .map_err(|e| UiError::from(e).with(&view))?;
    Ok(see_other(&env_url(&project, &name)))
}

/// One row of the secrets table: no value.
#[derive(Serialize)]
struct Row {
    path: String,
    env_var: String,
    version: i64,
    description: Option<String>,
    updated_at: String,
    updated_by: Option<String>,
}

async fn list(
    state: &AppState,
    session: &Session,
    project: &str,
    env: &str,
    at: Option<i64>,
) -> Result<SecretList, ApiError> {
    let q = api_value(serde_json::json!({ "include_values": false, "at_revision": at }))?;
    let Json(list) = api::secrets::list(
        State(state.clone()),
        session.caller.clone(),
        Path((project.to_owned(), env.to_owned())),
        ApiQuery(q),
    )
    .await?;
    Ok(list)
}

async fn history_of(
    state: &AppState,
    session: &Session,
    project: &str,
    env: &str,
    limit: i64,
) -> Result<History, ApiError> {
    let q = api_value(serde_json::json!({ "limit": limit }))?;
    let Json(history) = api::secrets::history(
        State(state.clone()),
        session.caller.clone(),
        Path((project.to_owned(), env.to_owned())),
        ApiQuery(q),
    )
    .await?;
    Ok(history)
}

/// `GET /ui/projects/{project}/envs/{env}`: the secrets table.
pub async fn env_page(
    State(state): State<AppState>,
    session: Session,
    Path((project, env)): EnvAt,
) -> Result<Response, UiError> {
    let view = session.view();
    let list = list(&state, &session, &project, &env, None)
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    // Who wrote each current version, from the environment's recent changes.
    let history = history_of(&state, &session, &project, &env, 1000)
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    let mut by: BTreeMap<(&str, i64), &str> = BTreeMap::new();
    for change in &history.changes {
        for entry in &change.entries {
            if let Some(v) = entry.version {
                by.entry((entry.path.as_str(), v)).or_insert(change.actor.as_str());
            }
        }
    }
    let rows: Vec<Row> = list
        .secrets
        .iter()
        .map(|s| Row {
            path: s.path.clone(),
            env_var: s.env_var.clone(),
            version: s.version,
            description: s.description.clone(),
            updated_at: s.updated_at.clone(),
            updated_by: by.get(&(s.path.as_str(), s.version)).map(|a| (*a).to_owned()),
        })
        .collect();
    Ok(render(
        &state,
        "env.html",
        Some(&view),
        minijinja::context! { project => project, env => env, revision => list.revision, secrets => rows },
    ))
}

#[derive(Deserialize)]
struct SetForm {
    path: String,
    #[serde(default)]
    value: String,
    description: Option<String>,
    message: Option<String>,
    /// `keep` leaves an edited secret's value as it is (description only).
    #[serde(default)]
    keep_value: Option<String>,
}

/// `POST .../set`: creates or edits one secret, as one change with a message.
pub async fn set(
    State(state): State<AppState>,
    session: Session,
    Path((project, env)): EnvAt,
    body: Bytes,
) -> Result<Response, UiError> {
    let view = session.view();
    let f: SetForm = form(&body).map_err(|e| UiError::from(e).with(&view))?;
    let path = f.path.trim().to_owned();
    if f.keep_value.is_none() && f.value.is_empty() {
        return Err(UiError::from(ApiError::bad_request("give the secret a value")).with(&view));
    }
    let value = if f.keep_value.is_some() {
        // Only the description changes: the current value is read (an audited read, as in the API).
        let q = api_value(serde_json::json!({}))?;
        let Json(current) = api::secrets::read(
            State(state.clone()),
            session.caller.clone(),
            session.note.clone(),
            Path((project.clone(), env.clone(), path.clone())),
            ApiQuery(q),
        )
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
        current.value.to_string()
    } else {
        f.value
    };
    let req = ChangeRequest {
        changes: vec![ChangeOp {
            path: path.clone(),
            kind: ChangeKind::Set {
                value,
                description: non_empty(f.description),
            },
        }],
        message: non_empty(f.message),
        cas: None,
        e2e_recipients: None,
    };
    let _ = api::secrets::changes(
        State(state.clone()),
        session.caller,
        Path((project.clone(), env.clone())),
        ApiJson(req),
    )
    .await
    .map_err(|e| UiError::from(e).with(&view))?;
    Ok(see_other(&format!("{}/secret/{path}", env_url(&project, &env))))
}

/// `GET .../bulk`: the change-set form (bulk edit, `.env` import).
pub async fn bulk_page(
    State(state): State<AppState>,
    session: Session,
    Path((project, env)): EnvAt,
) -> Result<Response, UiError> {
    let view = session.view();
    // The environment must be listable (the same 404/403 as its table).
    list(&state, &session, &project, &env, None)
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    Ok(render(
        &state,
        "bulk.html",
        Some(&view),
        minijinja::context! { project => project, env => env },
    ))
}

#[derive(Deserialize)]
struct BulkForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    delete: String,
    message: Option<String>,
}

/// `POST .../bulk`: `KEY=value` lines (a pasted `.env`) set, listed keys
/// deleted, all as one change set with a message.
pub async fn bulk(
    State(state): State<AppState>,
    session: Session,
    Path((project, env)): EnvAt,
    body: Bytes,
) -> Result<Response, UiError> {
    let view = session.view();
    let f: BulkForm = form(&body).map_err(|e| UiError::from(e).with(&view))?;
    let mut changes: Vec<ChangeOp> = leash_core::dotenv::parse(&f.text)
        .map_err(|e| UiError::from(ApiError::bad_request(e.to_string())).with(&view))?
        .into_iter()
        .map(|leash_core::dotenv::Variable { key: path, value, .. }| ChangeOp {
            path,
            kind: ChangeKind::Set {
                value,
                description: None,
            },
        })
        .collect();
    for path in f
        .delete
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|p| !p.is_empty())
    {
        changes.push(ChangeOp {
            path: path.to_owned(),
            kind: ChangeKind::Delete,
        });
    }
    if changes.is_empty() {
        return Err(UiError::from(ApiError::bad_request(
            "the change set is empty: paste KEY=value lines or name keys to delete",
        ))
        .with(&view));
    }
    let req = ChangeRequest {
        changes,
        message: non_empty(f.message),
        cas: None,
        e2e_recipients: None,
    };
    let _ = api::secrets::changes(
        State(state.clone()),
        session.caller,
        Path((project.clone(), env.clone())),
        ApiJson(req),
    )
    .await
    .map_err(|e| UiError::from(e).with(&view))?;
    Ok(see_other(&format!("{}/history", env_url(&project, &env))))
}

/// `GET .../secret/{path}`: a secret's versions (no value), rotation status and its edit form.
pub async fn secret_page(
    State(state): State<AppState>,
    session: Session,
    Path((project, env, path)): SecretAt,
) -> Result<Response, UiError> {
    let view = session.view();
    let Json(meta) = api::secrets::metadata(
        State(state.clone()),
        session.caller.clone(),
        Path((project.clone(), env.clone(), path.clone())),
    )
    .await
    .map_err(|e| UiError::from(e).with(&view))?;
    let rotation = api::rotation::show(
        State(state.clone()),
        session.caller,
        Path((project.clone(), env.clone(), path)),
    )
    .await
    .ok()
    .map(|Json(r)| r);
    Ok(render(
        &state,
        "secret.html",
        Some(&view),
        minijinja::context! { project => project, env => env, secret => meta, rotation => rotation },
    ))
}

#[derive(Deserialize)]
struct RotateForm {
    generator: Option<String>,
    revoke_previous: Option<String>,
}

/// `POST .../rotate/{path}`: rotates now (the policy's rotator, or a one-off generator).
pub async fn rotate(
    State(state): State<AppState>,
    session: Session,
    Path((project, env, path)): SecretAt,
    body: Bytes,
) -> Result<Response, UiError> {
    let view = session.view();
    let f: RotateForm = form(&body).map_err(|e| UiError::from(e).with(&view))?;
    let req = leash_core::api::RotateRequest {
        generator: non_empty(f.generator),
        revoke_previous: f.revoke_previous.as_deref() == Some("yes"),
        now: true,
    };
    let _ = api::rotation::rotate_now(
        State(state.clone()),
        session.caller,
        session.note,
        Path((project.clone(), env.clone(), path.clone())),
        Some(ApiJson(req)),
    )
    .await
    .map_err(|e| UiError::from(e).with(&view))?;
    Ok(see_other(&format!("{}/secret/{path}", env_url(&project, &env))))
}

#[derive(Deserialize)]
struct RevealForm {
    version: Option<String>,
}

/// `POST .../reveal/{path}`: the value fragment (htmx swaps it in). The
/// one answer of the UI that carries a value; audited as `secret.read`.
pub async fn reveal(
    State(state): State<AppState>,
    session: Session,
    Path((project, env, path)): SecretAt,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, UiError> {
    let view = session.view();
    // The element htmx swaps the value into, for the fragment's "Hide" button.
    let slot = headers
        .get("hx-target")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .map(str::to_owned);
    let f: RevealForm = form(&body).map_err(|e| UiError::from(e).with(&view))?;
    let version = match non_empty(f.version) {
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| UiError::from(ApiError::bad_request("version must be a number")).with(&view))?,
        ),
        None => None,
    };
    let q = api_value(serde_json::json!({ "version": version }))?;
    let result = api::secrets::read(
        State(state.clone()),
        session.caller,
        session.note,
        Path((project, env, path.clone())),
        ApiQuery(q),
    )
    .await;
    let ctx = match &result {
        Ok(Json(v)) => {
            minijinja::context! { value => v.value.as_str(), version => v.version, path => path, slot => slot }
        }
        Err(e) => minijinja::context! { error => e.message.clone() },
    };
    let mut response = render(&state, "value.html", Some(&view), ctx);
    if let Err(e) = result {
        *response.status_mut() = e.status();
        response.extensions_mut().insert(crate::error::ErrorCode(e.code));
    }
    Ok(response)
}

/// `POST .../delete/{path}`: soft-deletes (undelete brings it back).
pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path((project, env, path)): SecretAt,
) -> Result<Response, UiError> {
    let view = session.view();
    let q = api_value(serde_json::json!({}))?;
    let _ = api::secrets::delete(
        State(state.clone()),
        session.caller,
        Path((project.clone(), env.clone(), path.clone())),
        ApiQuery(q),
    )
    .await
    .map_err(|e| UiError::from(e).with(&view))?;
    Ok(see_other(&format!("{}/secret/{path}", env_url(&project, &env))))
}

/// `POST .../undelete/{path}`.
pub async fn undelete(
    State(state): State<AppState>,
    session: Session,
    Path((project, env, path)): SecretAt,
) -> Result<Response, UiError> {
    let view = session.view();
    let _ = api::secrets::undelete(
        State(state.clone()),
        session.caller,
        Path((project.clone(), env.clone(), path.clone())),
        None,
    )
    .await
    .map_err(|e| UiError::from(e).with(&view))?;
    Ok(see_other(&format!("{}/secret/{path}", env_url(&project, &env))))
}

/// `GET .../history`: the environment's revisions (who, when, message, which keys) with rollback.
pub async fn history(
    State(state): State<AppState>,
    session: Session,
    Path((project, env)): EnvAt,
) -> Result<Response, UiError> {
    let view = session.view();
    let history = history_of(&state, &session, &project, &env, 200)
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    let latest = history.changes.first().map(|c| c.revision).unwrap_or(0);
    Ok(render(
        &state,
        "history.html",
        Some(&view),
        minijinja::context! { project => project, env => env, changes => history.changes, latest => latest },
    ))
}

#[derive(Deserialize)]
pub struct CompareQuery {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Serialize)]
struct CompareRow {
    path: String,
    from: Option<i64>,
    to: Option<i64>,
    status: &'static str,
}

fn revision(field: &str, text: Option<String>) -> Result<Option<i64>, ApiError> {
    match non_empty(text) {
        None => Ok(None),
        Some(t) if t == "current" => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("{field} must be a revision number or `current`"))),
    }
}

/// `GET .../compare?from=R&to=S`: which keys two revisions of one
/// environment differ in (by version; values are never shown).
pub async fn compare(
    State(state): State<AppState>,
    session: Session,
    Path((project, env)): EnvAt,
    Query(q): Query<CompareQuery>,
) -> Result<Response, UiError> {
    let view = session.view();
    let from = revision("from", q.from).map_err(|e| UiError::from(e).with(&view))?;
    let to = revision("to", q.to).map_err(|e| UiError::from(e).with(&view))?;
    let a = list(&state, &session, &project, &env, from)
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    let b = list(&state, &session, &project, &env, to)
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    let mut rows: BTreeMap<String, CompareRow> = BTreeMap::new();
    for s in &a.secrets {
        rows.insert(
            s.path.clone(),
            CompareRow {
                path: s.path.clone(),
                from: Some(s.version),
                to: None,
                status: "removed",
            },
        );
    }
    for s in &b.secrets {
        let row = rows.entry(s.path.clone()).or_insert(CompareRow {
            path: s.path.clone(),
            from: None,
            to: None,
            status: "added",
        });
        row.to = Some(s.version);
        row.status = match row.from {
            None => "added",
            Some(v) if v == s.version => "same",
            Some(_) => "changed",
        };
    }
    let rows: Vec<CompareRow> = rows.into_values().collect();
    Ok(render(
        &state,
        "compare.html",
        Some(&view),
        minijinja::context! { project => project, env => env, from => a.revision, to => b.revision, rows => rows },
    ))
}

#[derive(Deserialize)]
pub struct DiffForm {
    other: Option<String>,
    other_project: Option<String>,
}

/// `GET .../diff?other=E[&other_project=P]`: two environments side by side (values masked).
pub async fn diff(
    State(state): State<AppState>,
    session: Session,
    Path((project, env)): EnvAt,
    Query(q): Query<DiffForm>,
) -> Result<Response, UiError> {
    let view = session.view();
    let Some(other) = non_empty(q.other) else {
        return Ok(render(
            &state,
            "diff.html",
            Some(&view),
            minijinja::context! { project => project, env => env },
        ));
    };
    let dq = api_value(serde_json::json!({ "other_project": non_empty(q.other_project) }))?;
    let Json(d) = api::diff::diff(
        State(state.clone()),
        session.caller,
        Path((project.clone(), env.clone(), other.clone())),
        ApiQuery(dq),
    )
    .await
    .map_err(|e| UiError::from(e).with(&view))?;
    Ok(render(
        &state,
        "diff.html",
        Some(&view),
        minijinja::context! { project => project, env => env, other => other, diff => d },
    ))
}

#[derive(Deserialize)]
struct RollbackForm {
    to: String,
    message: Option<String>,
    confirm: Option<String>,
}

/// `POST .../rollback`: sets the environment back to a revision (as a new
/// change), only with the confirmation box ticked.
pub async fn rollback(
    State(state): State<AppState>,
    session: Session,
    Path((project, env)): EnvAt,
    body: Bytes,
) -> Result<Response, UiError> {
    let view = session.view();
    let f: RollbackForm = form(&body).map_err(|e| UiError::from(e).with(&view))?;
    if f.confirm.as_deref() != Some("yes") {
        return Err(UiError::from(ApiError::bad_request("tick the confirmation box to roll back")).with(&view));
    }
    let to =
        f.to.trim()
            .parse::<i64>()
            .map_err(|_| UiError::from(ApiError::bad_request("the revision must be a number")).with(&view))?;
    let req = RollbackRequest {
        to,
        message: non_empty(f.message),
        cas: None,
    };
    let _ = api::secrets::rollback(
        State(state.clone()),
        session.caller,
        Path((project.clone(), env.clone())),
        ApiJson(req),
    )
    .await
    .map_err(|e| UiError::from(e).with(&view))?;
    Ok(see_other(&format!("{}/history", env_url(&project, &env))))
}
