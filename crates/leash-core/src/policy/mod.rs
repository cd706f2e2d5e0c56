//! The policy language: which caller may do what to which resources.
//!
//! It owns the capabilities ([`Capability`]), the TOML policy documents
//! ([`Policy`], documented in docs/policies.md), the path patterns with their
//! identity templates ([`Pattern`]) and the decision: [`evaluate`] answers "do
//! these policies allow this capability on this resource, and which rule
//! decided", and [`may_access_under`] answers "could anything under this
//! prefix be allowed", so listings show only what the caller may see.
//! [`who_can`] and [`what_can`] ask the same decision of many callers or
//! many resources at once, for access reviews.
//!
//! A resource is a path `project/environment/folders…/key` (or a prefix of
//! one: `payment` is the project, `payment/prod` the environment). Explicit
//! deny wins over any allow, across all policies; without a matching allow the
//! answer is no.
//!
//! This module must never do IO, never fail while evaluating (a rule that
//! cannot apply to a caller simply does not match), and never read a caller's
//! identity values as pattern syntax: a template is filled in as a literal,
//! and a value that is not a valid name makes its rule match nothing. It knows
//! nothing about root tokens, HTTP routes or which capability a request needs;
//! the server decides those and asks here.

mod document;
mod eval;
mod pattern;
mod reach;
mod review;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

pub use document::{Policy, PolicyKind, PolicyName, Rule, RuleKind};
pub use eval::{Decision, Explanation, PolicySet, evaluate, may_access_under};
pub use pattern::{MAX_PATTERN_LEN, MAX_PATTERN_SEGMENTS, Pattern};
pub use review::{Holding, Standing, Subject, what_can, who_can};

/// Most segments in a resource path: project, environment and a secret path
/// of at most [`crate::names::MAX_PATH_SEGMENTS`] segments.
pub const MAX_RESOURCE_SEGMENTS: usize = 2 + crate::names::MAX_PATH_SEGMENTS;

/// The capability words, in order, as error messages list them.
pub const CAPABILITY_NAMES: &str = "read, list, write, delete, destroy, rotate, admin";

/// Something a caller may be allowed to do on a resource.
///
/// `admin` stands for every capability: a rule that lists `admin` covers
/// `read`, `list`, `write`, `delete`, `destroy`, `rotate` and `admin` itself
/// on the paths it matches. That holds for deny rules too: denying `admin`
/// denies everything, like a deny rule without `capabilities`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Capability {
    /// Read secret values.
    Read,
    /// See names: list secrets, environments and projects.
    List,
    /// Create secrets and new versions.
    Write,
    /// Soft-delete and undelete versions.
    Delete,
    /// Wipe version data for good.
    Destroy,
    /// Run and configure rotation.
    Rotate,
    /// Everything above, plus managing what lies under the path.
    Admin,
}

impl Capability {
    /// Every capability, in the order of [`CAPABILITY_NAMES`].
    pub const ALL: [Capability; 7] = [
        Capability::Read,
        Capability::List,
        Capability::Write,
        Capability::Delete,
        Capability::Destroy,
        Capability::Rotate,
        Capability::Admin,
    ];

    /// The lowercase word used in policy documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Read => "read",
            Capability::List => "list",
            Capability::Write => "write",
            Capability::Delete => "delete",
            Capability::Destroy => "destroy",
            Capability::Rotate => "rotate",
            Capability::Admin => "admin",
        }
    }

    /// Whether holding `self` gives `wanted`: itself, or anything for `admin`.
    pub fn implies(self, wanted: Capability) -> bool {
        self == wanted || self == Capability::Admin
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = Error;

    /// Exact lowercase words only; anything else is [`Error::UnknownCapability`].
    fn from_str(s: &str) -> Result<Self, Error> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| Error::UnknownCapability(s.to_owned()))
    }
}

impl TryFrom<String> for Capability {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

/// What templates in patterns may refer to: the caller's identity.
///
/// `{{identity.name}}` is `name`; `{{identity.metadata.KEY}}` is
/// `metadata["KEY"]`. Values are used only as literal segment text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityContext {
    pub name: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl IdentityContext {
    /// A context with a name and no metadata.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            metadata: BTreeMap::new(),
        }
    }

    /// Adds one metadata entry (builder style).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// Splits a resource path into segments if every segment is a valid name and
/// there are 1 to [`MAX_RESOURCE_SEGMENTS`] of them.
fn resource_segments(resource: &str) -> Option<Vec<&str>> {
    let segments: Vec<&str> = resource.split('/').collect();
    let valid = segments.len() <= MAX_RESOURCE_SEGMENTS && segments.iter().all(|s| is_name_segment(s));
    valid.then_some(segments)
}

/// Whether `s` is one valid name segment (the rule in [`crate::names`]).
fn is_name_segment(s: &str) -> bool {
    crate::names::ProjectName::parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_parse_print_and_roundtrip() {
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>(), Ok(c));
            assert_eq!(c.to_string(), c.as_str());
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{c}\""));
            assert_eq!(serde_json::from_str::<Capability>(&json).unwrap(), c);
        }
        assert_eq!(
            Capability::ALL.map(Capability::as_str).join(", "),
            CAPABILITY_NAMES,
            "error messages list every capability"
        );
    }

    #[test]
    fn unknown_capability_names_the_word_and_the_allowed_set() {
        let err = "raed".parse::<Capability>().unwrap_err().to_string();
        assert!(err.contains("\"raed\""), "{err}");
        assert!(err.contains(CAPABILITY_NAMES), "{err}");
        assert!("Read".parse::<Capability>().is_err(), "words are lowercase");
        let err = serde_json::from_str::<Capability>("\"sudo\"").unwrap_err().to_string();
        assert!(err.contains("sudo") && err.contains(CAPABILITY_NAMES), "{err}");
    }

    #[test]
    fn admin_implies_every_capability_and_nothing_else_does() {
        for c in Capability::ALL {
            assert!(Capability::Admin.implies(c));
            assert!(c.implies(c));
            for other in Capability::ALL {
                if c != other && c != Capability::Admin {
                    assert!(!c.implies(other), "{c} must not imply {other}");
                }
            }
        }
    }

    #[test]
    fn resource_paths_are_checked() {
        assert_eq!(
            resource_segments("payment/prod/KEY"),
            Some(vec!["payment", "prod", "KEY"])
        );
        assert_eq!(resource_segments("payment"), Some(vec!["payment"]));
        for bad in ["", "/a", "a/", "a//b", "a/../b", "a/*", "a/{{x}}", "a b"] {
            assert_eq!(resource_segments(bad), None, "{bad:?}");
        }
        assert!(resource_segments(&["a"; MAX_RESOURCE_SEGMENTS].join("/")).is_some());
        assert!(resource_segments(&["a"; MAX_RESOURCE_SEGMENTS + 1].join("/")).is_none());
    }
}
