//! JSON shapes of moving and copying secrets on the server
//! (`POST .../envs/{env}/move` and `.../copy`), and of the origin a moved or
//! copied version keeps in its history. Names and versions only: a value
//! never travels in these shapes.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/projects/{p}/envs/{e}/move`: renames one secret, or every
/// secret under a folder when `from` and `to` both end with `/`, in one change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    pub from: String,
    pub to: String,
    /// Replace secrets that already exist at the destination (default: refuse).
    #[serde(default)]
    pub overwrite: bool,
    #[serde(default)]
    pub message: Option<String>,
    /// Fail unless the environment is still at this revision.
    #[serde(default)]
    pub cas: Option<i64>,
}

/// `POST /api/v1/projects/{p}/envs/{e}/copy`: copies one secret, or every
/// secret under a folder, to another path of this environment or of
/// `to_env` (same project), in one change of the destination.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CopyRequest {
    pub from: String,
    pub to: String,
    /// The destination environment (default: this one).
    #[serde(default)]
    pub to_env: Option<String>,
    /// Replace secrets that already exist at the destination (default: refuse).
    #[serde(default)]
    pub overwrite: bool,
    #[serde(default)]
    pub message: Option<String>,
    /// Fail unless the destination environment is still at this revision.
    #[serde(default)]
    pub cas: Option<i64>,
}

/// How a version reached its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OriginKind {
    Moved,
    Copied,
}

/// Where a moved or copied version came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Origin {
    pub kind: OriginKind,
    pub project: String,
    pub env: String,
    pub path: String,
    /// The source's version that was moved or copied.
    pub version: i64,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            OriginKind::Moved => "moved",
            OriginKind::Copied => "copied",
        };
        write!(
            f,
            "{kind} from {}/{}/{} (version {})",
            self.project, self.env, self.path, self.version
        )
    }
}
