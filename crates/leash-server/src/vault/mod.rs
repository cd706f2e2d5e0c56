//! Vault's KV version 2 model over Leash's secrets (docs/vault-compat.md):
//! the domain half of the Vault-compatible API under `/v1/`.
//!
//! The mapping: a KV mount is a project (every project is one); the first
//! segment of a Vault path under it is an environment; the rest names a
//! folder, and the Vault "secret" at that path is the set of keys directly in
//! the folder (`kv/prod/db` with keys `user`, `password` is
//! `kv/prod/db/user` and `kv/prod/db/password`). The secret's versions are the
//! folder's own change counter: the environment revisions that wrote a value
//! to one of its keys, numbered from 1 ([`folder::Folder`]).
//!
//! This module reads folders and plans changes; it never knows HTTP and never
//! authorizes: the routes (`routes::vault`) authorize every path a plan
//! touches through `authz`, and changes are applied only through
//! `service::write`, as for the native API.

pub mod address;
pub mod folder;
pub mod settings;

pub use address::KvAddress;
pub use folder::{Folder, FolderVersion};
pub use settings::{MountConfig, SecretSettings};
