//! JSON shapes of the access review (`/api/v1/access/...`): who holds a
//! capability on a path, and what one identity may do. Metadata only: names,
//! paths and the rules behind them, never a value or a token.

use serde::{Deserialize, Serialize};

/// The query of `GET /api/v1/access/who-can`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct WhoCanQuery {
    /// `project/env/path`.
    pub path: String,
    /// `read`, `list`, `write`, `delete`, `destroy`, `rotate` or `admin`.
    pub capability: String,
}

/// The query of `GET /api/v1/access/what-can/{name}`: optional filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct WhatCanQuery {
    /// Only this project's secrets.
    #[serde(default)]
    pub project: Option<String>,
    /// Only environments of this name.
    #[serde(default)]
    pub env: Option<String>,
}

/// A policy rule, as the policy engine names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleRef {
    pub policy: String,
    /// `allow` or `deny`.
    pub kind: String,
    /// Counted from 1 among the policy's rules of this kind.
    pub number: usize,
    pub pattern: String,
}

/// One identity or token and the rule that decides for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessHolder {
    /// The identity's name, or the token's display name.
    pub name: String,
    /// `user`, `service` or `token`.
    pub kind: String,
    /// Tokens only: the accessor (never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accessor: Option<String>,
    /// Where the deciding policy comes from: `own` (the identity's), `group`
    /// (then `group` names it) or `token` (the token's own policies).
    pub via: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub rule: RuleRef,
}

/// A root token: allowed everything, whatever the policies say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RootHolder {
    pub accessor: String,
    pub display_name: String,
}

/// `GET /api/v1/access/who-can`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhoCan {
    pub path: String,
    pub capability: String,
    /// Every identity, and every live token with policies of its own, that
    /// the policies allow, with the rule that grants it.
    pub allowed: Vec<AccessHolder>,
    /// Those a deny rule refuses, with the deny that wins.
    pub denied: Vec<AccessHolder>,
    /// Live root tokens: they may do anything.
    pub root_tokens: Vec<RootHolder>,
}

/// One capability an identity holds on one secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessEntry {
    /// `project/env/path`.
    pub path: String,
    pub capability: String,
    /// `own` or `group` (then `group` names it).
    pub via: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub rule: RuleRef,
}

/// `GET /api/v1/access/what-can/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhatCan {
    pub identity: String,
    /// `user` or `service`.
    pub kind: String,
    /// Every capability the identity holds on every secret that exists (within
    /// the filters), sorted by path, capabilities in the order of the language.
    pub entries: Vec<AccessEntry>,
}
