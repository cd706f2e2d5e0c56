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

use crate::failover::Retry;
use crate::{ApiPath, Call, Client, Error, Received, decode, error_from};

/// Stand-in body type for requests without a body.
const NO_BODY: Option<&()> = None;

/// A snapshot being downloaded: read it with [`SnapshotDownload::chunk`].
pub struct SnapshotDownload {
    response: reqwest::Response,
    addr: String,
    /// The size the server announced.
    pub bytes: Option<u64>,
    /// The SHA-256 of the whole file the server announced (hex).
    pub sha256: Option<String>,
}

impl SnapshotDownload {
    /// The next piece of the file; `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        self.response
            .chunk()
            .await
            .map(|c| c.map(|b| b.to_vec()))
            .map_err(|e| Error::Transport {
                addr: self.addr.clone(),
                route: SNAPSHOT_ROUTE.to_owned(),
                reason: crate::error::root_cause(&e),
                source: e,
            })
    }
}

const SNAPSHOT_ROUTE: &str = "GET /api/v1/sys/snapshot";
/// How long a whole snapshot download may take.
const SNAPSHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

impl Client {
    /// `GET /api/v1/sys/snapshot` (admin on `sys/snapshot`): starts an online
    /// snapshot download. The caller decides where the bytes go.
    pub async fn snapshot(&self) -> Result<SnapshotDownload, Error> {
        let path = ApiPath::api().lit("sys/snapshot");
        let call = Call::stream(&path, &[], Some(SNAPSHOT_TIMEOUT));
        let (response, addr) = match self.send(&call).await? {
            Received::Streaming { response, addr } => (response, addr),
            Received::Whole(answer) => return Err(error_from(&answer.addr, SNAPSHOT_ROUTE, &answer)),
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(SnapshotDownload {
            bytes: header("content-length").and_then(|v| v.parse().ok()),
            sha256: header("x-leash-snapshot-sha256"),
            addr,
            response,
        })
    }

    /// `GET /api/v1/sys/health` (open). Answers with the health for 200
    /// (unsealed), 503 (sealed) and 501 (not initialised) alike; the three
    /// are told apart by [`Health::initialized`] and [`Health::sealed`].
    pub async fn health(&self) -> Result<Health, Error> {
        let path = ApiPath::api().lit("sys/health");
        let call = Call::new(Method::GET, &path, &[], NO_BODY, Retry::ThisNode)?;
        let route = &call.route;
        let answer = self.exchange(&call).await?;
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
            decode(&answer.addr, route, &answer.bytes)
        } else {
            Err(error_from(&answer.addr, route, &answer))
        }
    }

    /// `GET /api/v1/sys/seal-status` (open).
    pub async fn seal_status(&self) -> Result<SealStatus, Error> {
        let path = ApiPath::api().lit("sys/seal-status");
        self.call_as(Retry::ThisNode, Method::GET, &path, &[], NO_BODY).await
    }

    /// `POST /api/v1/sys/init` (open, once). The answer holds the unseal
    /// shares and root token, shown only this once.
    pub async fn init(&self, request: &InitRequest) -> Result<InitResponse, Error> {
        let path = ApiPath::api().lit("sys/init");
        self.call_as(Retry::ThisNode, Method::POST, &path, &[], Some(request))
            .await
    }

    /// `POST /api/v1/sys/unseal` (open): one share, or a reset.
    pub async fn unseal(&self, request: &UnsealRequest) -> Result<SealStatus, Error> {
        let path = ApiPath::api().lit("sys/unseal");
        self.call_as(Retry::ThisNode, Method::POST, &path, &[], Some(request))
            .await
    }

    /// `POST /api/v1/sys/seal` (root token).
    pub async fn seal(&self) -> Result<SealStatus, Error> {
        let path = ApiPath::api().lit("sys/seal");
        self.call_as(Retry::ThisNode, Method::POST, &path, &[], NO_BODY).await
    }

    /// `GET /api/v1/sys/nodes` (`read` on `sys/nodes`): the nodes of the cluster, asked of this node.
    pub async fn nodes(&self) -> Result<leash_core::api::NodeList, Error> {
        let path = ApiPath::api().lit("sys/nodes");
        self.call_as(Retry::ThisNode, Method::GET, &path, &[], NO_BODY).await
    }

    /// `GET /api/v1/sys/keyring` (admin on `sys/keyring`).
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
        self.call_as(Retry::ThisNode, Method::POST, &path, &[], Some(request))
            .await
    }
}
