//! The one error type of `leash-agent`.
//!
//! Messages name paths, variable names, files and the server address; they
//! never carry a secret value, a token or a passphrase.

use std::path::PathBuf;

/// Everything that can stop `leash run` (or the agent) from delivering secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused or could not be reached (see [`leash_client::Error`]).
    #[error(transparent)]
    Client(#[from] leash_client::Error),
    /// Two secrets map to one environment-variable name.
    #[error("secrets {first} and {second} both map to the environment variable {name}; rename or move one of them")]
    Collision {
        name: String,
        first: String,
        second: String,
    },
    /// The server gave a secret a variable name a shell cannot use.
    #[error("the secret {path} has the environment-variable name {name:?}, which is not a valid variable name")]
    BadVariableName { path: String, name: String },
    /// The server listed a secret without its value.
    #[error("the server sent no value for {path}")]
    MissingValue { path: String },
    /// `--only` named variables that no readable secret maps to.
    #[error("--only names {} that no secret you may read maps to (available: {available})", names.join(", "))]
    UnknownOnly { names: Vec<String>, available: String },
    /// The command could not be started.
    #[error("cannot run {program}: {reason}")]
    Spawn {
        program: String,
        reason: String,
        /// 127 when the program was not found, 126 when it could not be executed.
        exit_code: u8,
    },
    /// Reading, writing or removing a file failed.
    /// (The I/O error is part of the message, not a separate cause, so it is shown once.)
    #[error("{what} {}: {error}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// There is no cache to fall back to.
    #[error("no cached secrets at {}: run once with the server reachable to create it", path.display())]
    NoCache { path: PathBuf },
    /// The cache exists but cannot be opened with this key.
    #[error(
        "cannot decrypt the cached secrets at {}: it was written with another token or passphrase, \
         for another project/environment, or it is damaged",
        path.display()
    )]
    CacheDecrypt { path: PathBuf },
    /// The cache file is not in a format this build reads.
    #[error("the cache file {} is not a Leash cache: {reason}", path.display())]
    CacheFormat { path: PathBuf, reason: String },
    /// The cache holds another part of the environment than the one asked for.
    #[error("the cache file {} holds {held}, not {wanted}", path.display())]
    CacheMismatch {
        path: PathBuf,
        held: String,
        wanted: String,
    },
    /// Neither a token nor a passphrase is available to key the cache.
    #[error("the cache needs a key: log in (the key is derived from the token) or pass --cache-passphrase-env VAR")]
    NoCacheKey,
    /// A passphrase variable was named but is not set.
    #[error("the cache passphrase variable {0} is not set or empty")]
    NoPassphrase(String),
    /// An argument is not usable.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            error,
        }
    }
}
