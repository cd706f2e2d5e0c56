//! The `sys` routes: health, seal status, init, unseal, seal, keyring
//! rotation and root-token generation.
//!
//! It owns only the mapping of those routes to typed calls; it must never
//! keep or log the unseal shares and root tokens that pass through it.

use leash_core::api::{
    GenerateRootRequest, GenerateRootStatus, Health, InitRequest, InitResponse, KeyringStatus, SealStatus,
    UnsealRequest,
};
use reqwest::{Method, StatusCode};

use crate::{ApiPath, Client, Error};

/// Stand-in body type for requests without a body.
const NO_BODY: Option<&()> = None;

impl Client {
    /// `GET /api/v1/sys/health` (open). Answers with the health for 200
    /// (unsealed), 503 (sealed) and 501 (not initialised) alike; the three
    /// are told apart by [`Health::initialized`] and [`Health::sealed`].
    pub async fn health(&self) -> Result<Health, Error> {
        let path = ApiPath::api().lit("sys/health");
        let route = format!("GET {}", path.as_str());
        let answer = self.exchange(Method::GET, &path, &[], NO_BODY, &route).await?;
        let health_statuses = [
            StatusCode::OK,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::NOT_IMPLEMENTED,
        ];
        if health_statuses.contains(&answer.status)
            && let Ok(health) = serde_json::from_slice::<Health>(&answer.bytes)
        {
            return Ok(health);
        }
        if answer.status.is_success() {
            self.decode(&route, &answer.bytes)
        } else {
            Err(self.error_from(&route, &answer))
        }
    }

    /// `GET /api/v1/sys/seal-status` (open).
    pub async fn seal_status(&self) -> Result<SealStatus, Error> {
        let path = ApiPath::api().lit("sys/seal-status");
        self.call(Method::GET, &path, &[], NO_BODY).await
    }

    /// `POST /api/v1/sys/init` (open, once). The answer holds the unseal
    /// shares and root token, shown only this once.
    pub async fn init(&self, request: &InitRequest) -> Result<InitResponse, Error> {
        let path = ApiPath::api().lit("sys/init");
        self.call(Method::POST, &path, &[], Some(request)).await
    }

    /// `POST /api/v1/sys/unseal` (open): one share, or a reset.
    pub async fn unseal(&self, request: &UnsealRequest) -> Result<SealStatus, Error> {
        let path = ApiPath::api().lit("sys/unseal");
        self.call(Method::POST, &path, &[], Some(request)).await
    }

    /// `POST /api/v1/sys/seal` (root token).
    pub async fn seal(&self) -> Result<SealStatus, Error> {
        let path = ApiPath::api().lit("sys/seal");
        self.call(Method::POST, &path, &[], NO_BODY).await
    }

    /// `GET /api/v1/sys/keyring`.
    pub async fn keyring(&self) -> Result<KeyringStatus, Error> {
        let path = ApiPath::api().lit("sys/keyring");
        self.call(Method::GET, &path, &[], NO_BODY).await
    }

    /// `POST /api/v1/sys/rotate-key` (root token): new writes use a new key.
    pub async fn rotate_key(&self) -> Result<KeyringStatus, Error> {
        let path = ApiPath::api().lit("sys/rotate-key");
        self.call(Method::POST, &path, &[], NO_BODY).await
    }

    /// `POST /api/v1/sys/generate-root` (open): one unseal share per call
    /// (or a reset) towards a new root token. The answer carries the root
    /// token once the threshold is met, shown only that once.
    pub async fn generate_root(&self, request: &GenerateRootRequest) -> Result<GenerateRootStatus, Error> {
        let path = ApiPath::api().lit("sys/generate-root");
        self.call(Method::POST, &path, &[], Some(request)).await
    }
}
