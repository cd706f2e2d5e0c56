//! What every request handler shares.

use std::sync::Arc;

use leash_store::Storage;

use crate::barrier::Barrier;

/// Limits a request must respect.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest secret value, in bytes (413 above).
    pub max_value_bytes: usize,
    /// Largest request body, in bytes (413 above).
    pub max_request_bytes: usize,
}

/// Shared server state: storage, the barrier and limits.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Storage>,
    pub barrier: Arc<Barrier>,
    pub limits: Limits,
}
