//! `leash-agent`: getting secrets from a Leash server into the processes that
//! need them.
//!
//! It owns secret *delivery*: [`run`] is `leash run` (fetch an environment's
//! secrets in one request, inject them as environment variables or a mounted
//! file, supervise the child, forward signals, restart it when a watched
//! secret changes), and [`cache`] is the encrypted local copy that lets a
//! service start while the server is unreachable. The sidecar agent lives
//! here too.
//!
//! It must never put a secret value into a log line, a warning or an error
//! (only paths, variable names and counts), and it zeroizes the values it
//! holds. It talks to the server only through `leash_client` and does no
//! cryptography of its own: the cache uses `leash_core::crypto` for
//! AES-256-GCM and the `hkdf` / `argon2` crates for key derivation.
#![forbid(unsafe_code)]

pub mod agent;
pub mod cache;
mod error;
pub mod jitter;
pub mod run;

pub use error::Error;

/// Reads and parses an age identity file (for end-to-end encrypted environments).
pub fn read_identities(path: &std::path::Path) -> Result<leash_client::e2e::Identities, Error> {
    let bytes =
        zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| Error::io("cannot read the age identity", path, e))?);
    leash_client::e2e::Identities::parse(&bytes, &path.display().to_string())
        .map_err(|e| Error::Client(leash_client::Error::E2e(e)))
}
