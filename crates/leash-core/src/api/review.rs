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

/// The query of `GET /api/v1/access/report`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// An identity with no audit record for this many days is flagged (default 90).
    #[serde(default)]
    pub unused_days: Option<u32>,
}

/// One cell of the access matrix: what one identity holds in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatrixCell {
    pub identity: String,
    /// `user` or `service`.
    pub kind: String,
    pub project: String,
    pub env: String,
    pub capability: String,
    /// How many of the environment's secrets the identity holds it on.
    pub secrets: usize,
    /// How many secrets the environment holds.
    pub of: usize,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// An identity holds `admin` somewhere (through which rule).
    Admin,
    /// A live root token: it may do anything.
    RootToken,
    /// An allow rule reaches a production environment through a wildcard in
    /// its project or environment segment.
    WildcardOverProd,
    /// A service identity's client secret has no expiry.
    SecretNeverExpires,
    /// A live token (not root) without an expiry.
    TokenWithoutTtl,
    /// An identity with no audit record in the window (and older than it).
    Unused,
    /// A secret no identity or token may read (root tokens aside).
    Unreadable,
}

/// One thing a reviewer should look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    pub kind: FindingKind,
    /// What it is about: an identity, a token accessor, a policy rule or a secret path.
    pub subject: String,
    /// The explanation, in words.
    pub detail: String,
}

/// `GET /api/v1/access/report`: the whole system's access as a matrix
/// (identities × environments × capabilities, counted over the secrets that
/// exist) and the findings a reviewer wants flagged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessReport {
    /// When the report was made (RFC 3339).
    pub generated_at: String,
    pub unused_days: u32,
    /// Cells where an identity holds a capability on at least one secret,
    /// by identity, project, environment and capability.
    pub matrix: Vec<MatrixCell>,
    /// By kind, then subject.
    pub findings: Vec<Finding>,
}
