//! `POST .../envs/{env}/move` and `.../copy`: relocate secrets on the server
//! (see [`crate::relocate`]) without a value reaching the caller.
//!
//! Authorization: a move needs `delete` on each source and `write` on each
//! destination; a copy needs `read` on each source and `write` on each
//! destination. A caller that may not read a value may still move it. The
//! handlers check the named paths (or folders) before looking anything up,
//! so a refused caller learns nothing of what exists, then every touch of
//! the plan through `authorize_each`.

use axum::Json;
use axum::extract::{Path, State};
use leash_core::api::{ChangeResult, CopyRequest, MoveRequest};

use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::authz::{Capability, Resource, Visibility, authorize, authorize_each, authorize_under};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::relocate::{self, CopySources, Ends, Mode, Selection};
use crate::service::{self, WriteMeta};
use crate::state::AppState;

const LIST: &[Capability] = &[Capability::List];

/// Checks `capability` on a source or destination as the caller named it:
/// the path itself, or anything under the folder (`db/`).
fn check_named(caller: &Caller, project: &str, env: &str, named: &str, capability: Capability) -> Result<(), ApiError> {
    match named.strip_suffix('/') {
        Some(folder) => authorize_under(
            caller,
            capability,
            Resource::Secret {
                project,
                env,
                path: folder,
            },
        ),
        None => authorize(
            caller,
            capability,
            Resource::Secret {
                project,
                env,
                path: named,
            },
        ),
    }
}

fn default_message(mode: &str, from: &str, to: &str) -> String {
    format!("{mode} {from} to {to}")
}

/// Moves (renames) a secret, or every secret under a folder, within the
/// environment: one change; the new path records where it came from.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/envs/{env}/move",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The environment's name")),
    request_body = MoveRequest,
    responses((status = 200, description = "The change: new versions at the destinations, deletes of the sources", body = ChangeResult))
)]
pub async fn move_secrets(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Path((project, env)): Path<(String, String)>,
    ApiJson(req): ApiJson<MoveRequest>,
) -> Result<Json<ChangeResult>, ApiError> {
    note.update(|n| {
        n.path = Some(req.from.clone());
        n.target = Some(req.to.clone());
    });
    let selection = Selection::parse(&req.from, &req.to)?;
    check_named(&caller, &project, &env, &req.from, Capability::Delete)?;
    check_named(&caller, &project, &env, &req.to, Capability::Write)?;
    let env_ref = service::environment(&state, &project, &env).await?;
    let keys = state.barrier.keyring()?;
    let ends = Ends {
        source: &env_ref,
        dest: &env_ref,
    };
    let listed = Visibility::new(&caller, &project, &env, LIST);
    let plan = relocate::plan(&state, &keys, &ends, &selection, Mode::Move, req.overwrite, &listed).await?;
    let plan = authorize_each(&caller, &project, &env, plan)?;
    let meta = WriteMeta {
        actor: caller.actor(),
        message: Some(
            req.message
                .unwrap_or_else(|| default_message("move", &req.from, &req.to)),
        ),
        cas: req.cas,
        e2e_recipients: None,
    };
    Ok(Json(relocate::apply(&state, &keys, &ends, plan, meta).await?))
}

/// Copies a secret, or every secret under a folder, to another path of this
/// environment or of `to_env`: one change of the destination, which records
/// where each value came from.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/envs/{env}/copy",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The source environment")),
    request_body = CopyRequest,
    responses((status = 200, description = "The destination's change: the new versions", body = ChangeResult))
)]
pub async fn copy_secrets(
    State(state): State<AppState>,
    caller: Caller,
    note: AuditNote,
    Path((project, env)): Path<(String, String)>,
    ApiJson(req): ApiJson<CopyRequest>,
) -> Result<Json<ChangeResult>, ApiError> {
    let dest_env = req.to_env.clone().unwrap_or_else(|| env.clone());
    let target = match &req.to_env {
        Some(e) => format!("{e}/{}", req.to),
        None => req.to.clone(),
    };
    note.update(|n| {
        n.path = Some(req.from.clone());
        n.target = Some(target.clone());
    });
    let selection = Selection::parse(&req.from, &req.to)?;
    check_named(&caller, &project, &env, &req.from, Capability::Read)?;
    check_named(&caller, &project, &dest_env, &req.to, Capability::Write)?;
    let source = service::environment(&state, &project, &env).await?;
    let dest = if dest_env == env {
        None
    } else {
        Some(service::environment(&state, &project, &dest_env).await?)
    };
    let keys = state.barrier.keyring()?;
    let ends = Ends {
        source: &source,
        dest: dest.as_ref().unwrap_or(&source),
    };
    let listed = Visibility::new(&caller, &project, &env, LIST);
    let plan = relocate::plan(&state, &keys, &ends, &selection, Mode::Copy, req.overwrite, &listed).await?;
    authorize_each(&caller, &project, &env, CopySources(&plan.sources))?;
    let plan = authorize_each(&caller, &project, &dest_env, plan)?;
    let meta = WriteMeta {
        actor: caller.actor(),
        message: Some(
            req.message
                .unwrap_or_else(|| default_message("copy", &req.from, &target)),
        ),
        cas: req.cas,
        e2e_recipients: None,
    };
    Ok(Json(relocate::apply(&state, &keys, &ends, plan, meta).await?))
}
