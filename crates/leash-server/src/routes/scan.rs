//! `GET /api/v1/scan/fingerprints`: what `leash scan --known` needs to find
//! stored values in scanned text without the scanner ever receiving them.
//!
//! For every secret the caller may read in the environment, the current and
//! the previous version's value are HMAC'd under a key made fresh for this
//! answer; the scanner HMACs candidate substrings with the same key. Values
//! never leave the server; a fingerprint is only useful to someone who could
//! read the value anyway.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use leash_core::api::FingerprintList;
use leash_core::audit::hmac_hex;
use leash_core::crypto::Key256;
use leash_core::names::PathPrefix;
use leash_store::Selector;
use serde::Deserialize;

use crate::auth::Caller;
use crate::authz::{Capability, Resource, Visibility, authorize_under};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::service;
use crate::state::AppState;

/// Shorter values would match too much ordinary text.
pub const MIN_LENGTH: usize = 8;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FingerprintQuery {
    project: String,
    env: String,
}

/// Keyed fingerprints of the values the caller may read, for `leash scan --known`.
#[utoipa::path(
    get,
    path = "/api/v1/scan/fingerprints",
    tag = "scan",
    params(FingerprintQuery),
    responses((status = 200, description = "The key and fingerprints", body = FingerprintList))
)]
pub async fn fingerprints(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<FingerprintQuery>,
) -> Result<Json<FingerprintList>, ApiError> {
    authorize_under(
        &caller,
        Capability::Read,
        Resource::Secret {
            project: &q.project,
            env: &q.env,
            path: "",
        },
    )?;
    let env = service::environment(&state, &q.project, &q.env).await?;
    let keyring = state.barrier.keyring()?;
    let visible = Visibility::new(&caller, env.project.as_str(), env.env.as_str(), &[Capability::Read]);
    let (_, current) = service::list(&state, Some(&keyring), &env, &PathPrefix::default(), None, &visible).await?;
    let key = Key256::generate();
    let mut fingerprints = Vec::with_capacity(current.len() * 2);
    // End-to-end encrypted values are age files the server cannot read:
    // fingerprints of their ciphertext would match nothing.
    for secret in current.iter().filter(|s| s.e2e_recipients.is_none()) {
        let mut values = vec![secret.value.clone()];
        if secret.version > 1 {
            let path = leash_core::names::SecretPath::parse(&secret.path)?;
            match service::read(&state, &keyring, &env, &path, Selector::Version(secret.version - 1)).await {
                Ok(previous) if previous.e2e_recipients.is_none() => values.push(Some(previous.value)),
                Ok(_) => {}
                Err(e) if e.code == "destroyed" || e.code == "not_found" => {}
                Err(e) => return Err(e),
            }
        }
        for value in values.into_iter().flatten() {
            let value = zeroize::Zeroizing::new(value);
            if value.len() >= MIN_LENGTH {
                fingerprints.push(hmac_hex(key.expose_secret(), value.as_bytes()));
            }
        }
    }
    Ok(Json(FingerprintList {
        key: base64::engine::general_purpose::STANDARD.encode(key.expose_secret()),
        min_length: MIN_LENGTH,
        fingerprints,
    }))
}
