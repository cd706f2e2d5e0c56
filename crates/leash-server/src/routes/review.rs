//! Access review routes (`/api/v1/access/...`): who-can, what-can and the
//! report. All need `read` on `sys/access` (which `admin` there implies): an answer
//! names identities, tokens' accessors, policies and secret paths, so it is
//! administration, never data. Handlers authorize and call [`crate::review`].

use axum::Json;
use axum::extract::{Path, State};
use leash_core::api::{AccessReport, ReportQuery, WhatCan, WhatCanQuery, WhoCan, WhoCanQuery};
use leash_core::policy::Capability;

use crate::auth::Caller;
use crate::authz::{Resource, authorize};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::identities::IdentityName;
use crate::state::AppState;
use crate::{report, review};

/// The one check of every access review route.
fn reviewer(caller: &Caller) -> Result<(), ApiError> {
    authorize(caller, Capability::Read, Resource::System("access"))
}

/// Every identity and live token that holds a capability on a path, with the
/// rule that grants it, those a deny refuses, and the live root tokens.
#[utoipa::path(
    get,
    path = "/api/v1/access/who-can",
    tag = "access",
    params(WhoCanQuery),
    responses((status = 200, description = "Who holds the capability, and why", body = WhoCan))
)]
pub async fn who_can(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WhoCanQuery>,
) -> Result<Json<WhoCan>, ApiError> {
    reviewer(&caller)?;
    Ok(Json(review::who_can(&state, query).await?))
}

/// Every capability an identity holds on every secret that exists, with the
/// rule behind each (paths only, never values).
#[utoipa::path(
    get,
    path = "/api/v1/access/what-can/{name}",
    tag = "access",
    params(("name" = String, Path, description = "The identity's name"), WhatCanQuery),
    responses((status = 200, description = "What the identity may do", body = WhatCan))
)]
pub async fn what_can(
    State(state): State<AppState>,
    caller: Caller,
    Path(identity): Path<String>,
    ApiQuery(query): ApiQuery<WhatCanQuery>,
) -> Result<Json<WhatCan>, ApiError> {
    reviewer(&caller)?;
    let identity = IdentityName::parse(&identity)?;
    Ok(Json(review::what_can(&state, &identity, query).await?))
}

/// The whole system's access: identities × environments × capabilities over
/// the secrets that exist, and the findings a reviewer wants flagged.
#[utoipa::path(
    get,
    path = "/api/v1/access/report",
    tag = "access",
    params(ReportQuery),
    responses((status = 200, description = "The access matrix and the findings", body = AccessReport))
)]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Json<AccessReport>, ApiError> {
    reviewer(&caller)?;
    Ok(Json(report::report(&state, query).await?))
}
