//! Rotation policies: checking what a caller asks for, who may ask for it,
//! and turning a stored policy into a working [`Rotator`]. Rotators name the
//! other secrets they need (an admin URL, a signing key) by path in the same
//! environment; those are read here, through the barrier, only when a
//! rotation runs.
//!
//! Every rotator but the plain generator sends the secret's values out of
//! Leash (to a database, a webhook, a command), so choosing one is a read of
//! the secret: [`PolicyChange`] declares what setting or removing a policy
//! touches, and `authz::authorize_each` checks it. Where a webhook may send
//! values is the operator's `rotation_webhook_allow`, checked when a policy is
//! set ([`check_destination`]) and again when the rotator is built and
//! connects (`leash_rotate::webhook`).

use std::path::{Component, Path};
use std::time::Duration;

use leash_core::api::{RotationPolicy, RotatorConfig};
use leash_core::generate::Generator;
use leash_core::names::SecretPath;
use leash_core::schedule::{Schedule, parse_duration};
use leash_rotate::{GeneratorRotator, Rotator};
use leash_store::Selector;

use crate::authz::{Capability, Touches};
use crate::error::ApiError;
use crate::service::{self, EnvRef};
use crate::state::Domain;

/// The generator a policy uses when it names none.
pub const DEFAULT_GENERATOR: &str = "password:32";
const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A policy whose every field has been checked.
#[derive(Debug, Clone)]
pub struct CheckedPolicy {
    pub policy: RotationPolicy,
    pub schedule: Option<Schedule>,
    pub grace: Duration,
    pub generator: Generator,
}

impl CheckedPolicy {
    /// Checks a policy as a caller sent it (or as it was stored).
    pub fn check(state: &Domain, policy: RotationPolicy) -> Result<Self, ApiError> {
        let schedule = match (&policy.every, &policy.cron) {
            (None, None) => None,
            (every, cron) => Some(Schedule::parse(every.as_deref(), cron.as_deref())?),
        };
        let grace = match &policy.grace {
            Some(g) => parse_duration("grace", g)?,
            None => state.rotation.default_grace,
        };
        let generator: Generator = policy
            .generator
            .as_deref()
            .unwrap_or(DEFAULT_GENERATOR)
            .parse()
            .map_err(|e: leash_core::Error| ApiError::bad_request(e.to_string()))?;
        if let Some(rotator) = &policy.rotator {
            check_rotator(state, rotator)?;
        }
        Ok(Self {
            policy,
            schedule,
            grace,
            generator,
        })
    }

    /// Parses a stored policy.
    pub fn from_stored(state: &Domain, json: &str) -> Result<Self, ApiError> {
        let policy: RotationPolicy = serde_json::from_str(json)
            .map_err(|e| ApiError::internal("reading a stored rotation policy", e.to_string()))?;
        Self::check(state, policy)
    }

    /// The secrets (paths in the same environment) the rotator reads.
    pub fn referenced_secrets(&self) -> Vec<&str> {
        match &self.policy.rotator {
            Some(RotatorConfig::Postgres { admin_secret, .. }) => vec![admin_secret],
            Some(RotatorConfig::Webhook { signing_secret, .. }) => vec![signing_secret],
            _ => Vec::new(),
        }
    }

    /// `generator` or the rotator's kind.
    pub fn rotator_name(&self) -> &'static str {
        self.policy.rotator.as_ref().map_or("generator", RotatorConfig::kind)
    }

    /// Whether the rotator hands the secret's values to something outside
    /// Leash: every rotator but the plain generator does.
    pub fn sends_values_out(&self) -> bool {
        self.policy.rotator.is_some()
    }
}

/// Whether a stored policy (JSON) has a rotator that sends values out. A
/// policy that does not parse is taken to have one.
pub fn stored_sends_values_out(json: &str) -> bool {
    serde_json::from_str::<RotationPolicy>(json).map_or(true, |p| p.rotator.is_some())
}

/// Setting (`new`) or removing (`new = None`) the policy of one secret, as
/// authorization sees it: `rotate` on the secret; `read` on every secret the
/// new rotator uses; and `read` on the secret itself when the new policy's
/// rotator sends its values out of Leash, or the stored one does (replacing
/// or removing a rotator someone who could read chose is theirs to decide).
pub struct PolicyChange<'a> {
    pub path: &'a SecretPath,
    pub new: Option<&'a CheckedPolicy>,
    /// Whether the policy stored now has a rotator that sends values out.
    pub stored_sends_values_out: bool,
}

impl Touches for PolicyChange<'_> {
    fn touches(&self) -> Vec<(Capability, &str)> {
        let path = self.path.as_str();
        let mut touches = vec![(Capability::Rotate, path)];
        if self.stored_sends_values_out || self.new.is_some_and(CheckedPolicy::sends_values_out) {
            touches.push((Capability::Read, path));
        }
        if let Some(new) = self.new {
            touches.extend(
                new.referenced_secrets()
                    .into_iter()
                    .map(|other| (Capability::Read, other)),
            );
        }
        touches
    }
}

/// Checks, when a policy is set, where its rotator would send values: a
/// webhook URL must pass `rotation_webhook_allow` now, its host resolving to
/// an allowed address (400 naming the problem, never the URL's path, query
/// or userinfo). The same checks run again at every attempt.
pub async fn check_destination(state: &Domain, policy: &CheckedPolicy) -> Result<(), ApiError> {
    if let Some(RotatorConfig::Webhook { url, .. }) = &policy.policy.rotator {
        leash_rotate::webhook::check_destination(&state.rotation.webhook_allow, url)
            .await
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    Ok(())
}

fn check_rotator(state: &Domain, rotator: &RotatorConfig) -> Result<(), ApiError> {
    match rotator {
        RotatorConfig::Postgres {
            admin_secret, roles, ..
        } => {
            SecretPath::parse(admin_secret)?;
            if roles.is_empty() || roles.len() > 2 {
                return Err(ApiError::bad_request(
                    "the postgres rotator takes one role, or two for the alternating-users strategy",
                ));
            }
            if roles.len() == 2 && roles[0] == roles[1] {
                return Err(ApiError::bad_request("the two alternating roles must differ"));
            }
            if roles.iter().any(|r| r.is_empty() || r.len() > 63) {
                return Err(ApiError::bad_request(
                    "a PostgreSQL role name must be 1 to 63 characters",
                ));
            }
        }
        RotatorConfig::Webhook {
            url,
            signing_secret,
            timeout,
        } => {
            SecretPath::parse(signing_secret)?;
            // The error names the problem, never the URL (it may carry a token).
            leash_rotate::webhook::parse_url(url).map_err(|e| ApiError::bad_request(e.to_string()))?;
            if let Some(t) = timeout {
                parse_duration("timeout", t)?;
            }
        }
        RotatorConfig::Command { command, timeout, .. } => {
            command_path(state, command)?;
            if let Some(t) = timeout {
                parse_duration("timeout", t)?;
            }
        }
    }
    Ok(())
}

/// The executable a `command` rotator names, inside the configured directory.
fn command_path(state: &Domain, command: &str) -> Result<std::path::PathBuf, ApiError> {
    let Some(dir) = &state.rotation.commands_dir else {
        return Err(ApiError::bad_request(
            "command rotators are off on this server: the operator must set rotation_commands_dir",
        ));
    };
    let mut parts = Path::new(command).components();
    if !matches!((parts.next(), parts.next()), (Some(Component::Normal(_)), None)) {
        return Err(ApiError::bad_request(format!(
            "command {command:?} must be a file name inside rotation_commands_dir, without a path"
        )));
    }
    let path = dir.join(command);
    if !path.is_file() {
        return Err(ApiError::bad_request(format!(
            "command {command:?} is not a file in rotation_commands_dir"
        )));
    }
    Ok(path)
}

/// Reads a secret a rotator needs (same environment), decrypted.
async fn referenced_value(state: &Domain, env: &EnvRef, path: &str) -> Result<zeroize::Zeroizing<String>, ApiError> {
    let keyring = state.barrier.keyring()?;
    let path = SecretPath::parse(path)?;
    let value = service::read(state, &keyring, env, &path, Selector::Current)
        .await
        .map_err(|e| ApiError::conflict(format!("the rotator needs secret {path}: {}", e.message)))?;
    Ok(value.value)
}

/// Builds the rotator a checked policy describes (or a one-off generator).
pub async fn build_rotator(state: &Domain, env: &EnvRef, policy: &CheckedPolicy) -> Result<Box<dyn Rotator>, ApiError> {
    let generator = policy.generator.clone();
    let config = |e: leash_rotate::Error| ApiError::bad_request(e.to_string());
    Ok(match &policy.policy.rotator {
        None => Box::new(GeneratorRotator::new(generator)),
        Some(RotatorConfig::Postgres {
            admin_secret,
            roles,
            format,
        }) => Box::new(
            leash_rotate::PostgresRotator::new(leash_rotate::PostgresConfig {
                admin_url: referenced_value(state, env, admin_secret).await?,
                roles: roles.clone(),
                format: match format {
                    leash_core::api::ValueFormat::Url => leash_rotate::ValueFormat::Url,
                    leash_core::api::ValueFormat::Password => leash_rotate::ValueFormat::Password,
                },
                generator,
            })
            .map_err(config)?,
        ),
        Some(RotatorConfig::Webhook {
            url,
            signing_secret,
            timeout,
        }) => Box::new(
            leash_rotate::WebhookRotator::new(leash_rotate::WebhookConfig {
                url: url.clone(),
                signing_key: referenced_value(state, env, signing_secret).await?,
                generator,
                timeout: match timeout {
                    Some(t) => parse_duration("timeout", t)?,
                    None => DEFAULT_WEBHOOK_TIMEOUT,
                },
                allow: state.rotation.webhook_allow.clone(),
            })
            .map_err(config)?,
        ),
        Some(RotatorConfig::Command { command, args, timeout }) => Box::new(
            leash_rotate::CommandRotator::new(leash_rotate::CommandConfig {
                program: command_path(state, command)?,
                args: args.clone(),
                generator,
                timeout: match timeout {
                    Some(t) => parse_duration("timeout", t)?,
                    None => DEFAULT_COMMAND_TIMEOUT,
                },
            })
            .map_err(config)?,
        ),
    })
}
