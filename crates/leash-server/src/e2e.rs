//! End-to-end encrypted environments on the server side (docs/e2e.md).
//!
//! It owns the rules the server enforces for values it cannot read: a write
//! to an e2e environment must declare the environment's current recipients
//! and carry, for each value, an armored age file whose header fits them
//! ([`leash_core::e2e::Recipients::check_ciphertext`]); a plaintext write is
//! refused before anything is stored. It also owns changing the recipient
//! set: the client re-encrypts, this module checks and hands one atomic
//! [`leash_store::E2eChange`] to storage (recipients replaced, listed
//! versions re-wrapped, every other retained version destroyed).
//!
//! It never decrypts an age file (it has no identity) and never puts a value
//! into an error: messages name paths, versions and recipients (public keys).

use crate::barrier::Keys;
use leash_core::api::{E2eResult, E2eStatus, E2eStoredValue, E2eUpdate, E2eValues};
use leash_core::e2e::Recipients;
use leash_core::names::SecretPath;
use leash_store::{E2eChange, Rewrap, StoreError};

use crate::authz::{Authorized, Capability, Touches};
use crate::error::{ApiError, ErrorKind};
use crate::service::{self, EnvRef, check_text};
use crate::state::Domain;
use crate::time::now_millis;

fn describe(env: &EnvRef) -> String {
    format!("{}/{}", env.project, env.env)
}

/// The environment's recipients as a checked set (`None`: not end-to-end encrypted).
pub fn recipients_of(env: &EnvRef) -> Result<Option<Recipients>, ApiError> {
    match &env.row.e2e_recipients {
        None => Ok(None),
        Some(list) => Recipients::parse(list)
            .map(Some)
            .map_err(|e| ApiError::internal("reading an environment's recipients", e)),
    }
}

/// Decides how the values of a write must look: `Some(recipients)` when they
/// must be age files for the environment's recipients, `None` for plaintext.
/// Refuses a plaintext write to an e2e environment (400 `e2e_required`) and
/// a write encrypted to another set (409 `e2e_recipients_changed`).
pub fn write_recipients(env: &EnvRef, declared: Option<&[String]>) -> Result<Option<Recipients>, ApiError> {
    let current = recipients_of(env)?;
    match (current, declared) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ApiError::new(
            ErrorKind::InvalidInput,
            "e2e_required",
            format!(
                "environment {} is end-to-end encrypted: the server accepts only values encrypted on the client \
                 with age to its recipients (as `leash secrets set` does), sent with `e2e_recipients`; \
                 nothing was written (see docs/e2e.md)",
                describe(env)
            ),
        )),
        (None, Some(_)) => Err(recipients_changed(env, None)),
        (Some(current), Some(declared)) => {
            let declared = Recipients::parse(declared)?;
            if declared == current {
                Ok(Some(current))
            } else {
                Err(recipients_changed(env, Some(current.to_strings())))
            }
        }
    }
}

/// 409 `e2e_recipients_changed`, naming the set now in force.
pub fn recipients_changed(env: &EnvRef, current: Option<Vec<String>>) -> ApiError {
    let message = match current {
        Some(list) => format!(
            "the end-to-end recipients of {} are now {}; read them again, re-encrypt and retry (nothing was written)",
            describe(env),
            list.join(", ")
        ),
        None => format!(
            "environment {} is not end-to-end encrypted (any more); send the values without e2e_recipients \
             (nothing was written)",
            describe(env)
        ),
    };
    ApiError::new(ErrorKind::Conflict, "e2e_recipients_changed", message)
}

/// Checks one end-to-end encrypted value (413 when too large, 400 when not a fitting age file).
pub fn check_value(state: &Domain, recipients: &Recipients, path: &SecretPath, value: &str) -> Result<(), ApiError> {
    let max_plain = state.limits.max_value_bytes;
    let limit = recipients.max_ciphertext_bytes(max_plain);
    if value.len() > limit {
        return Err(ApiError::too_large(format!(
            "the encrypted value of {path} is {} bytes; the limit for values of at most {max_plain} bytes \
             (max_value_bytes) encrypted to {} recipient(s) is {limit} bytes",
            value.len(),
            recipients.len()
        )));
    }
    recipients.check_ciphertext(value, max_plain).map_err(|e| {
        ApiError::new(
            ErrorKind::InvalidInput,
            "invalid_ciphertext",
            format!("the value of {path} is {e}; nothing was written"),
        )
    })
}

/// `GET .../e2e`.
pub async fn status(state: &Domain, env: &EnvRef) -> Result<E2eStatus, ApiError> {
    Ok(E2eStatus {
        enabled: env.row.e2e_recipients.is_some(),
        recipients: env.row.e2e_recipients.clone().unwrap_or_default(),
        revision: env.row.revision,
        e2e_versions: state.store.e2e_version_count(env.row.id).await?,
    })
}

/// Handing out the retained values reads each path.
impl Touches for E2eValues {
    fn touches(&self) -> Vec<(Capability, &str)> {
        self.values
            .iter()
            .map(|v| (Capability::Read, v.path.as_str()))
            .collect()
    }
}

/// A recipient change and what it touches: every re-encrypted path is
/// rewritten (`write`); every path with a retained version that is not
/// re-encrypted loses it (`destroy`).
pub struct RecipientChange {
    pub request: E2eUpdate,
    touched: Vec<(Capability, String)>,
}

impl Touches for RecipientChange {
    fn touches(&self) -> Vec<(Capability, &str)> {
        self.touched.iter().map(|(c, p)| (*c, p.as_str())).collect()
    }
}

/// Works out what `request` would touch; nothing is written.
pub async fn plan_update(state: &Domain, env: &EnvRef, request: E2eUpdate) -> Result<RecipientChange, ApiError> {
    let (_, retained) = state.store.retained_versions(env.row.id, false).await?;
    let rewrapped: std::collections::BTreeSet<(&str, i64)> =
        request.values.iter().map(|v| (v.path.as_str(), v.version)).collect();
    let mut touched: std::collections::BTreeSet<(Capability, String)> = request
        .values
        .iter()
        .map(|v| (Capability::Write, v.path.clone()))
        .collect();
    for (row, _) in &retained {
        if !rewrapped.contains(&(row.path.as_str(), row.version)) {
            touched.insert((Capability::Destroy, row.path.clone()));
        }
    }
    Ok(RecipientChange {
        request,
        touched: touched.into_iter().collect(),
    })
}

/// `GET .../e2e/values`: what a client re-encrypts (barrier-decrypted; age files stay age files).
pub async fn values(state: &Domain, keyring: &Keys, env: &EnvRef, all_versions: bool) -> Result<E2eValues, ApiError> {
    let (revision, rows) = state.store.retained_versions(env.row.id, !all_versions).await?;
    let mut values = Vec::with_capacity(rows.len());
    for (row, current) in rows {
        let value = service::decrypt(keyring, env, &row)?;
        values.push(E2eStoredValue {
            path: row.path,
            version: row.version,
            current,
            e2e: row.e2e,
            value,
        });
    }
    Ok(E2eValues {
        revision,
        recipients: env.row.e2e_recipients.clone(),
        values,
    })
}

/// `PUT .../e2e`: enable end-to-end encryption or change the recipients, in one atomic change.
pub async fn update(
    state: &Domain,
    keyring: &Keys,
    env: &EnvRef,
    change: Authorized<RecipientChange>,
    actor: &str,
) -> Result<E2eResult, ApiError> {
    let request = change.into_inner().request;
    let recipients = Recipients::parse(&request.recipients)?;
    check_text("the change message", &request.message)?;
    let mut rewrap = Vec::with_capacity(request.values.len());
    for item in &request.values {
        let path = SecretPath::parse(&item.path)?;
        if item.version < 1 {
            return Err(ApiError::bad_request(format!(
                "version {} of {path} does not exist: versions start at 1",
                item.version
            )));
        }
        check_value(state, &recipients, &path, &item.value)?;
        rewrap.push(Rewrap {
            path: path.as_str().to_owned(),
            version: item.version,
            key_id: keyring.active_id(),
            ciphertext: keyring.seal_version(service::address(env, path.as_str(), item.version), &item.value),
        });
    }
    let list = recipients.to_strings();
    let message = request.message.or_else(|| {
        Some(match &env.row.e2e_recipients {
            None => format!("end-to-end encryption enabled for {}", list.join(", ")),
            Some(_) => format!("end-to-end recipients set to {}", list.join(", ")),
        })
    });
    let change = E2eChange {
        env_id: env.row.id,
        expected_revision: request.cas,
        actor: actor.to_owned(),
        message,
        created_at: now_millis(),
        recipients: Some(list.clone()),
        rewrap,
    };
    let applied = state.store.e2e_update(change).await.map_err(cas_hint)?;
    Ok(E2eResult {
        revision: applied.revision,
        recipients: list,
        rewrapped: applied.rewrapped,
        destroyed: applied.destroyed,
    })
}

/// `DELETE .../e2e`: turn end-to-end encryption off, once no end-to-end ciphertext is retained.
pub async fn disable(state: &Domain, env: &EnvRef, cas: Option<i64>, actor: &str) -> Result<E2eResult, ApiError> {
    if env.row.e2e_recipients.is_none() {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "e2e_not_enabled",
            format!("environment {} is not end-to-end encrypted", describe(env)),
        ));
    }
    let change = E2eChange {
        env_id: env.row.id,
        expected_revision: cas.unwrap_or(env.row.revision),
        actor: actor.to_owned(),
        message: Some("end-to-end encryption disabled".to_owned()),
        created_at: now_millis(),
        recipients: None,
        rewrap: Vec::new(),
    };
    let applied = state.store.e2e_update(change).await.map_err(cas_hint)?;
    Ok(E2eResult {
        revision: applied.revision,
        recipients: Vec::new(),
        rewrapped: 0,
        destroyed: 0,
    })
}

/// A moved revision during a recipient change means someone wrote meanwhile: say to start over.
fn cas_hint(e: StoreError) -> ApiError {
    match e {
        e @ StoreError::CasMismatch { .. } => ApiError::new(
            ErrorKind::Conflict,
            "cas_mismatch",
            format!(
                "{e}: the environment changed while its values were being re-encrypted; nothing was changed, try again"
            ),
        ),
        e => e.into(),
    }
}
