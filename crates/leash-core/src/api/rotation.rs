//! JSON shapes of rotation: the per-secret policy, its state, one-off
//! rotations and the attempt history. Durations are humantime strings
//! (`30d`, `12h`); times are RFC 3339. No shape here carries a value: rotators
//! name the *other* secrets they need (an admin URL, a signing key) by path.

use serde::{Deserialize, Serialize};

/// `PUT .../rotation/{path}`: how and when a secret is rotated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotationPolicy {
    /// Rotate this long after the last rotation (`30d`). Exclusive with `cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Rotate at the times of this cron expression (UTC, 5 or 6 fields). Exclusive with `every`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// How long the previous value stays readable after a rotation (default: the server's `rotation_grace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<String>,
    /// How new values are made (`password:32`, `bytes:32:base64`, `uuid`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// The system the credential lives in; none = a generated value only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotator: Option<RotatorConfig>,
}

/// Where a rotated credential must also be changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RotatorConfig {
    /// A PostgreSQL role's password, changed with `ALTER ROLE`.
    Postgres {
        /// Path (in the same environment) of the secret holding an admin `postgres://` URL.
        admin_secret: String,
        /// One role, or two for the alternating-users strategy.
        roles: Vec<String>,
        /// `url` (a full `postgres://role:password@host/db`, the default) or `password`.
        #[serde(default)]
        format: ValueFormat,
    },
    /// An HTTP endpoint that receives every step, HMAC-signed.
    Webhook {
        url: String,
        /// Path (in the same environment) of the secret holding the HMAC signing key.
        signing_secret: String,
        /// Per-request timeout (`10s` by default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<String>,
    },
    /// An executable in the server's `rotation_commands_dir`, run once per step.
    Command {
        /// File name inside `rotation_commands_dir` (no path separators).
        command: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        args: Vec<String>,
        /// How long one step may run (`60s` by default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<String>,
    },
}

impl RotatorConfig {
    /// The rotator's name as shown and audited.
    pub fn kind(&self) -> &'static str {
        match self {
            RotatorConfig::Postgres { .. } => "postgres",
            RotatorConfig::Webhook { .. } => "webhook",
            RotatorConfig::Command { .. } => "command",
        }
    }
}

/// What the PostgreSQL rotator stores as the secret's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ValueFormat {
    #[default]
    Url,
    Password,
}

/// `GET .../rotation/{path}`: the policy and where rotation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotationStatus {
    pub path: String,
    /// `None` when the secret has no rotation policy (only one-off rotations).
    pub policy: Option<RotationPolicy>,
    /// The interval in seconds, when the schedule is `every`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_seconds: Option<u64>,
    pub grace_seconds: u64,
    pub next_due_at: Option<String>,
    /// `idle`, `running` or `failed` (failed attempts are retried at `retry_at`).
    pub state: String,
    pub attempt: i64,
    /// The last step the latest attempt reached.
    pub step: Option<String>,
    pub failures: i64,
    pub last_error: Option<String>,
    pub retry_at: Option<String>,
    /// Whether a pending value is kept (read it with `stage=pending`).
    pub pending: bool,
    pub last_rotated_at: Option<String>,
    /// The version served as `previous`, and until when.
    pub previous_version: Option<i64>,
    pub previous_until: Option<String>,
}

/// `POST .../rotate/{path}`: rotate now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// A one-off generator instead of the policy's (only without a rotator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// Stop serving (and retire) the previous value at once: for a leaked credential.
    #[serde(default)]
    pub revoke_previous: bool,
    /// Start a fresh attempt even if a failed one is waiting for its retry.
    #[serde(default)]
    pub now: bool,
}

/// The answer to a successful rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotateResult {
    pub path: String,
    pub attempt: i64,
    /// The new current version.
    pub version: i64,
    pub revision: i64,
    pub previous_version: Option<i64>,
    /// When the previous value stops being served (`None` when revoked at once).
    pub previous_until: Option<String>,
}

/// One rotation attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotationAttempt {
    pub attempt: i64,
    /// `manual`, `schedule`, `retry` or `retire`.
    pub trigger: String,
    pub actor: String,
    /// `generator` or the rotator's kind.
    pub rotator: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `running`, `succeeded` or `failed`.
    pub outcome: String,
    pub step: Option<String>,
    pub error: Option<String>,
    /// The version it made current.
    pub version: Option<i64>,
}

/// `GET .../rotation-history/{path}`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotationHistory {
    pub path: String,
    pub attempts: Vec<RotationAttempt>,
}
