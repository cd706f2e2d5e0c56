//! JSON shapes of an environment diff (`GET .../envs/{env}/diff/{other}`):
//! which paths each side holds, their current versions and last changes, and
//! whether the values match as the server compared them. Never a value, nor
//! anything derived from one but that one-bit verdict.

use serde::{Deserialize, Serialize};

/// The query of `GET .../envs/{env}/diff/{other}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The project of `other` (default: the same project as `env`).
    #[serde(default)]
    pub other_project: Option<String>,
}

/// One environment of a diff.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffEnv {
    pub project: String,
    pub env: String,
    /// The revision the diff reflects.
    pub revision: i64,
    /// The environment is end-to-end encrypted (its values are not compared).
    pub e2e: bool,
}

/// A path's current version on one side.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffSide {
    pub version: i64,
    /// When the current version was written (RFC 3339).
    pub updated_at: String,
    /// Who wrote it.
    pub actor: String,
}

/// What the diff says of one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DiffStatus {
    /// Only the first environment holds it (the second does not, as far as the caller may list).
    OnlyInA,
    /// Only the second environment holds it.
    OnlyInB,
    /// Both hold it with equal values.
    Same,
    /// Both hold it with different values.
    Different,
    /// Both may hold it, but the values were not compared (see `reason`).
    Unknown,
}

/// Why a path's values were not compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnknownReason {
    /// The caller may not `read` the path on one side or both.
    NoRead,
    /// A value is end-to-end encrypted: the server cannot read it.
    EndToEnd,
    /// A current version's data was destroyed.
    Destroyed,
    /// The caller may not `list` the path on the side shown as absent, so
    /// whether it exists there is not said.
    NotListed,
}

/// One path of a diff.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffEntry {
    pub path: String,
    pub env_var: String,
    /// Its current version in the first environment; absent when it has none there (or the caller may not list it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<DiffSide>,
    /// The same, in the second environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<DiffSide>,
    pub status: DiffStatus,
    /// Set when `status` is `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<UnknownReason>,
}

/// `GET .../envs/{env}/diff/{other}`: every path the caller may list in
/// either environment, sorted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvDiff {
    pub a: DiffEnv,
    pub b: DiffEnv,
    pub entries: Vec<DiffEntry>,
    /// Every entry is `same` (nothing missing, nothing different, nothing unknown).
    pub identical: bool,
}
