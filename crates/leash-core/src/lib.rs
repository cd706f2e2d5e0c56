//! `leash-core`: the parts of Leash that every other crate agrees on.
//!
//! It owns the naming rules for projects, environments and secret paths
//! ([`names`]), the policy language and its decisions ([`policy`]), the
//! encryption envelope and keyring ([`crypto`]), Shamir splitting of the
//! unseal key ([`shamir`]), the token format ([`token`]), the JSON shapes
//! of the HTTP API ([`api`]), value generators ([`generate`]), rotation
//! schedules ([`schedule`]) and client-side (end-to-end) encryption with
//! age ([`e2e`]).
//!
//! It must never do IO: no files, no network, no clock reads outside what a
//! caller passes in. That keeps it testable and lets the client, server and
//! scanner share it without pulling in a runtime.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod crypto;
pub mod dotenv;
pub mod e2e;
pub mod error;
pub mod generate;
pub mod names;
pub mod policy;
pub mod schedule;
pub mod shamir;
pub mod token;

pub use error::Error;
