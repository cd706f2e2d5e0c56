//! `GET .../envs/{env}/diff/{other}`: compares two environments (of one
//! project, or of two with `?other_project=`) without showing a value.
//!
//! The handler authorizes and calls [`crate::diff::diff`]: the caller must be
//! able to `list` something in both environments (else the usual 404/403 of
//! the no-existence-leak rule); then each path is shown where it may be
//! listed and compared where it may be read on both sides (`Visibility`).

use axum::Json;
use axum::extract::{Path, State};
use leash_core::api::{DiffQuery, EnvDiff};

use crate::auth::Caller;
use crate::authz::{Capability, Resource, Visibility, authorize_under};
use crate::diff::{self, DiffAccess, EnvAt, SideAccess};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

const LIST: &[Capability] = &[Capability::List];
const READ: &[Capability] = &[Capability::Read];

fn side<'a>(caller: &'a Caller, at: &EnvAt<'_>) -> Result<SideAccess<'a>, ApiError> {
    authorize_under(
        caller,
        Capability::List,
        Resource::Environment {
            project: at.project,
            env: at.env,
        },
    )?;
    Ok(SideAccess {
        list: Visibility::new(caller, at.project, at.env, LIST),
        read: Visibility::new(caller, at.project, at.env, READ),
    })
}

/// Which secrets two environments hold, their versions and last changes, and
/// whether their values are equal (compared on the server, never shown).
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/envs/{env}/diff/{other}",
    tag = "secrets",
    params(("project" = String, Path, description = "The project's name"), ("env" = String, Path, description = "The first environment"), ("other" = String, Path, description = "The second environment (of `other_project` when given)"), DiffQuery),
    responses((status = 200, description = "The diff: paths, versions, verdicts; no values", body = EnvDiff))
)]
pub async fn diff(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, other)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<EnvDiff>, ApiError> {
    let a = EnvAt {
        project: &project,
        env: &env,
    };
    let b = EnvAt {
        project: q.other_project.as_deref().unwrap_or(&project),
        env: &other,
    };
    let access = DiffAccess {
        a: side(&caller, &a)?,
        b: side(&caller, &b)?,
    };
    let keys = state.barrier.keyring()?;
    Ok(Json(diff::diff(&state, &keys, a, b, &access).await?))
}
