//! Operator pages: the audit viewer (the CLI's filters, paged) and chain
//! verification; identities, groups and policies (view, edit with the
//! validation error shown in place, and the "explain this decision" check);
//! the seal state and the unseal form. Each calls the `/api/v1` handler of
//! its operation (`routes::api`), so `admin` on the `sys/<area>` is checked
//! by the API's own code.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use leash_core::api::{PolicyCheck, PolicyWrite};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::session::{Session, with_login_csrf};
use super::{UiError, UiTls, api_value, form, non_empty, render, see_other};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::api;
use crate::state::AppState;

/// The audit viewer's filters (those of `leash audit list`).
#[derive(Deserialize, Default, serde::Serialize)]
pub struct AuditFilters {
    identity: Option<String>,
    path: Option<String>,
    operation: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
}

const PAGE: i64 = 50;

/// `GET /ui/audit`.
pub async fn audit(
    State(state): State<AppState>,
    session: Session,
    Query(f): Query<AuditFilters>,
) -> Result<Response, UiError> {
    let view = session.view();
    let status =
        match non_empty(f.status.clone()) {
            Some(s) => Some(s.parse::<u16>().map_err(|_| {
                UiError::from(ApiError::bad_request("status must be an HTTP status number")).with(&view)
            })?),
            None => None,
        };
    let before = match non_empty(f.before.clone()) {
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| UiError::from(ApiError::bad_request("before must be a record number")).with(&view))?,
        ),
        None => None,
    };
    let q = api_value(serde_json::json!({
        "identity": non_empty(f.identity.clone()),
        "path": non_empty(f.path.clone()),
        "operation": non_empty(f.operation.clone()),
        "status": status,
        "since": non_empty(f.since.clone()),
        "until": non_empty(f.until.clone()),
        "limit": PAGE,
        "before": before,
    }))?;
    let Json(list) = api::audit::list(State(state.clone()), session.caller, ApiQuery(q))
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    // The next page keeps the filters.
    let next = list.next_before.map(|b| {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("identity", &f.identity),
            ("path", &f.path),
            ("operation", &f.operation),
            ("status", &f.status),
            ("since", &f.since),
            ("until", &f.until),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                pairs.append_pair(k, v);
            }
        }
        pairs.append_pair("before", &b.to_string());
        format!("/ui/audit?{}", pairs.finish())
    });
    Ok(render(
        &state,
        "audit.html",
        Some(&view),
        minijinja::context! { records => list.records, filters => f, next => next },
    ))
}

/// `POST /ui/audit/verify`: checks the chain (the answer is a fragment htmx swaps in).
pub async fn verify(State(state): State<AppState>, session: Session) -> Result<Response, UiError> {
    let view = session.view();
    let Json(result) = api::audit::verify(State(state.clone()), session.caller)
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    Ok(render(
        &state,
        "verify.html",
        Some(&view),
        minijinja::context! { result => result },
    ))
}

#[derive(Deserialize)]
pub struct AccessQuery {
    new: Option<String>,
    new_group: Option<String>,
}

/// `GET /ui/access`: identities, groups, policies and the decision check
/// (`?new=NAME` opens the editor of a new policy).
pub async fn access(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<AccessQuery>,
) -> Result<Response, UiError> {
    let view = session.view();
    if let Some(name) = non_empty(q.new) {
        let name =
            leash_core::policy::PolicyName::parse(&name).map_err(|e| UiError::from(ApiError::from(e)).with(&view))?;
        return Ok(see_other(&format!("/ui/policies/{}", name.as_str())));
    }
    if let Some(name) = non_empty(q.new_group) {
        let name =
            crate::identities::GroupName::parse(&name).map_err(|e| UiError::from(ApiError::from(e)).with(&view))?;
        return Ok(see_other(&format!("/ui/groups/{}", name.as_str())));
    }
    let Json(identities) = api::admin::list_identities(State(state.clone()), session.caller.clone())
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    let Json(groups) = api::admin::list_groups(State(state.clone()), session.caller.clone())
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    let Json(policies) = api::admin::list_policies(State(state.clone()), session.caller)
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    Ok(render(
        &state,
        "access.html",
        Some(&view),
        minijinja::context! {
            identities => identities.identities,
            groups => groups.groups,
            policies => policies.policies,
        },
    ))
}

#[derive(Deserialize)]
struct CheckForm {
    identity: String,
    path: String,
    capability: String,
}

/// `POST /ui/access/check`: would this identity be allowed, and which rule decides.
pub async fn check(State(state): State<AppState>, session: Session, body: Bytes) -> Result<Response, UiError> {
    let view = session.view();
    let f: CheckForm = form(&body).map_err(|e| UiError::from(e).with(&view))?;
    let req = PolicyCheck {
        identity: f.identity.trim().to_owned(),
        path: f.path.trim().to_owned(),
        capability: f.capability.trim().to_owned(),
    };
    let ctx = match api::admin::check_policy(State(state.clone()), session.caller, ApiJson(req)).await {
        Ok(Json(r)) => minijinja::context! { result => r },
        Err(e) => minijinja::context! { error => e.message },
    };
    Ok(render(&state, "check.html", Some(&view), ctx))
}

/// `GET /ui/policies/{name}`: the document and its edit form (a new name starts empty).
pub async fn policy(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    let view = session.view();
    let (text, exists) = match api::admin::read_policy(State(state.clone()), session.caller, Path(name.clone())).await {
        Ok(Json(p)) => (p.policy, true),
        Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => (String::new(), false),
        Err(e) => return Err(UiError::from(e).with(&view)),
    };
    Ok(render(
        &state,
        "policy.html",
        Some(&view),
        minijinja::context! { name => name, text => text, exists => exists },
    ))
}

#[derive(Deserialize)]
struct PolicyForm {
    policy: String,
}

/// `POST /ui/policies/{name}`: writes the policy; a refused document is shown again with the error.
pub async fn write_policy(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let view = session.view();
    let f: PolicyForm = form(&body).map_err(|e| UiError::from(e).with(&view))?;
    let req = PolicyWrite {
        policy: f.policy.clone(),
    };
    match api::admin::write_policy(State(state.clone()), session.caller, Path(name.clone()), ApiJson(req)).await {
        Ok(_) => Ok(see_other(&format!("/ui/policies/{name}"))),
        Err(e) => {
            let status = e.status();
            let code = e.code;
            let mut response = render(
                &state,
                "policy.html",
                Some(&view),
                minijinja::context! { name => name, text => f.policy, exists => true, error => e.message },
            );
            *response.status_mut() = status;
            response.extensions_mut().insert(crate::error::ErrorCode(code));
            Ok(response)
        }
    }
}

/// `GET /ui/seal`: the seal state, and the unseal form while sealed.
pub async fn seal_page(
    State(state): State<AppState>,
    session: Option<Session>,
    tls: Option<axum::Extension<UiTls>>,
    headers: HeaderMap,
) -> Response {
    let view = session.map(|s| s.view());
    let tls = tls.is_some_and(|t| t.0.0);
    with_login_csrf(tls, &headers, |csrf| {
        render(
            &state,
            "seal.html",
            view.as_ref(),
            minijinja::context! { login_csrf => csrf },
        )
    })
}

#[derive(Deserialize)]
struct UnsealForm {
    #[serde(default)]
    share: String,
}

/// `POST /ui/unseal`: gives one unseal share (the API's own unseal).
pub async fn unseal(
    State(state): State<AppState>,
    session: Option<Session>,
    tls: Option<axum::Extension<UiTls>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let view = session.map(|s| s.view());
    let tls = tls.is_some_and(|t| t.0.0);
    let error = match form::<UnsealForm>(&body) {
        Ok(f) => {
            // The same barrier call as `POST /api/v1/sys/unseal` (no token: a share is the credential).
            let share = Zeroizing::new(f.share.trim().to_owned());
            if share.is_empty() {
                Some(ApiError::bad_request("paste one unseal share"))
            } else {
                state.barrier.submit_share(&share).await.err()
            }
        }
        Err(e) => Some(e),
    };
    match error {
        None => see_other("/ui/seal"),
        Some(e) => {
            let status = e.status();
            let mut response = with_login_csrf(tls, &headers, |csrf| {
                render(
                    &state,
                    "seal.html",
                    view.as_ref(),
                    minijinja::context! { login_csrf => csrf, error => e.message },
                )
            });
            *response.status_mut() = status;
            response
        }
    }
}

/// A comma- or space-separated list from a form field.
fn names(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A page answered with the status and audit code of the error it shows in place.
fn in_place(mut response: Response, e: &ApiError) -> Response {
    *response.status_mut() = e.status();
    response.extensions_mut().insert(crate::error::ErrorCode(e.code));
    response
}

/// `GET /ui/identities/{name}`: an identity and the form that sets its policies.
pub async fn identity(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    let view = session.view();
    let Json(info) = api::admin::show_identity(State(state.clone()), session.caller, Path(name))
        .await
        .map_err(|e| UiError::from(e).with(&view))?;
    let policies = info.policies.join(", ");
    Ok(render(
        &state,
        "identity.html",
        Some(&view),
        minijinja::context! { identity => info, policies => policies },
    ))
}

#[derive(Deserialize)]
struct IdentityForm {
    #[serde(default)]
    policies: String,
}

/// `POST /ui/identities/{name}`: sets the identity's policies (the API's grant rules apply).
pub async fn update_identity(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let view = session.view();
    let f: IdentityForm = form(&body).map_err(|e| UiError::from(e).with(&view))?;
    let req = leash_core::api::IdentityUpdate {
        policies: Some(names(&f.policies)),
        ..Default::default()
    };
    match api::admin::update_identity(
        State(state.clone()),
        session.caller.clone(),
        Path(name.clone()),
        ApiJson(req),
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/ui/identities/{name}"))),
        Err(e) => {
            let Json(info) = api::admin::show_identity(State(state.clone()), session.caller, Path(name))
                .await
                .map_err(|e| UiError::from(e).with(&view))?;
            let page = render(
                &state,
                "identity.html",
                Some(&view),
                minijinja::context! { identity => info, policies => f.policies, error => e.message.clone() },
            );
            Ok(in_place(page, &e))
        }
    }
}

/// `GET /ui/groups/{name}`: a group (or a new one) and its editor.
pub async fn group(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    let view = session.view();
    let (policies, members, exists) =
        match api::admin::show_group(State(state.clone()), session.caller, Path(name.clone())).await {
            Ok(Json(g)) => (g.policies.join(", "), g.members.join(", "), true),
            Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => (String::new(), String::new(), false),
            Err(e) => return Err(UiError::from(e).with(&view)),
        };
    Ok(render(
        &state,
        "group.html",
        Some(&view),
        minijinja::context! { name => name, policies => policies, members => members, exists => exists },
    ))
}

#[derive(Deserialize)]
struct GroupForm {
    #[serde(default)]
    policies: String,
    #[serde(default)]
    members: String,
    #[serde(default)]
    exists: Option<String>,
}

/// `POST /ui/groups/{name}`: creates or replaces the group; a refusal is shown in the editor.
pub async fn write_group(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let view = session.view();
    let f: GroupForm = form(&body).map_err(|e| UiError::from(e).with(&view))?;
    let req = leash_core::api::GroupWrite {
        name: name.clone(),
        policies: names(&f.policies),
        members: names(&f.members),
    };
    let exists = f.exists.as_deref() == Some("yes");
    let result = if exists {
        api::admin::replace_group(State(state.clone()), session.caller, Path(name.clone()), ApiJson(req))
            .await
            .map(|_| ())
    } else {
        api::admin::create_group(State(state.clone()), session.caller, ApiJson(req))
            .await
            .map(|_| ())
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/ui/groups/{name}"))),
        Err(e) => {
            let page = render(
                &state,
                "group.html",
                Some(&view),
                minijinja::context! {
                    name => name, policies => f.policies, members => f.members, exists => exists, error => e.message.clone(),
                },
            );
            Ok(in_place(page, &e))
        }
    }
}
