//! Names of projects and environments, and secret paths.
//!
//! The rule (documented in docs/names.md): a name or path segment is 1 to 64
//! characters from `A-Z a-z 0-9 _ - .`, and is not `.` or `..`. A secret path
//! is one or more segments joined by `/` (no leading, trailing or doubled `/`),
//! at most 16 segments and 512 characters. The environment-variable name of a
//! path joins its segments with `_`, upper-cases ASCII letters and turns `-`
//! and `.` into `_` (`stripe/API_KEY` -> `STRIPE_API_KEY`); a name that would
//! start with a digit gets a leading `_`.
//!
//! Types here carry their invariant: a value of [`ProjectName`], [`EnvName`] or
//! [`SecretPath`] always satisfies the rule, because `parse` is the only way in.

use std::fmt;
use std::marker::PhantomData;

use crate::Error;

/// Longest project, environment or path segment name.
pub const MAX_SEGMENT_LEN: usize = 64;
/// Longest secret path, slashes included.
pub const MAX_PATH_LEN: usize = 512;
/// Most folders plus key in one secret path.
pub const MAX_PATH_SEGMENTS: usize = 16;

const ALLOWED: &str = "letters A-Z a-z, digits 0-9, '_', '-' and '.'";

fn check_segment(kind: &'static str, whole: &str, segment: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidName {
        kind,
        value: whole.to_owned(),
        reason,
    };
    if segment.is_empty() {
        return Err(invalid(
            "empty names and empty folders (`//`, a leading or trailing `/`) are not allowed".into(),
        ));
    }
    if segment == "." || segment == ".." {
        return Err(invalid(format!("`{segment}` is not allowed as a name")));
    }
    if segment.chars().count() > MAX_SEGMENT_LEN {
        return Err(invalid(format!(
            "`{segment}` is longer than {MAX_SEGMENT_LEN} characters"
        )));
    }
    if let Some((pos, bad)) = segment
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(invalid(format!(
            "character {bad:?} at position {} is not allowed; allowed are {ALLOWED}",
            pos + 1
        )));
    }
    Ok(())
}

/// What a [`Name`] names; only used to tell the kinds apart in types and errors.
pub trait NameKind {
    /// Used in error messages ("invalid project name ...").
    const KIND: &'static str;
}

/// Marker for project names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Project;
impl NameKind for Project {
    const KIND: &'static str = "project name";
}

/// Marker for environment names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Environment;
impl NameKind for Environment {
    const KIND: &'static str = "environment name";
}

/// A single-segment name that satisfies the naming rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name<K: NameKind> {
    value: String,
    kind: PhantomData<K>,
}

impl<K: NameKind> Name<K> {
    /// Checks `s` against the naming rule.
    pub fn parse(s: &str) -> Result<Self, Error> {
        check_segment(K::KIND, s, s)?;
        Ok(Self {
            value: s.to_owned(),
            kind: PhantomData,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl<K: NameKind> fmt::Display for Name<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// A project name (`payment`).
pub type ProjectName = Name<Project>;
/// An environment name (`prod`).
pub type EnvName = Name<Environment>;

/// A secret's path inside an environment: optional folders plus a key
/// (`DATABASE_URL`, `stripe/API_KEY`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretPath(String);

impl SecretPath {
    /// Checks `s` against the path rule.
    pub fn parse(s: &str) -> Result<Self, Error> {
        check_path("secret path", s)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folders and key, in order.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last segment: the key inside its folder.
    pub fn key(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The environment-variable name (`stripe/API_KEY` -> `STRIPE_API_KEY`).
    pub fn env_var_name(&self) -> String {
        let mut out: String = self
            .0
            .chars()
            .map(|c| match c {
                '/' | '-' | '.' => '_',
                c => c.to_ascii_uppercase(),
            })
            .collect();
        if out.starts_with(|c: char| c.is_ascii_digit()) {
            out.insert(0, '_');
        }
        out
    }

    /// Whether this path lies in `folder` (or is `folder` itself).
    pub fn is_in(&self, folder: &PathPrefix) -> bool {
        match folder.as_str() {
            "" => true,
            f => self.0 == f || (self.0.starts_with(f) && self.0.as_bytes().get(f.len()) == Some(&b'/')),
        }
    }
}

impl fmt::Display for SecretPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A folder to list under: a valid path, or empty for the whole environment.
/// A trailing `/` is accepted and dropped (`stripe/` == `stripe`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PathPrefix(String);

impl PathPrefix {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        if !trimmed.is_empty() {
            check_path("path prefix", trimmed)?;
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_path(kind: &'static str, s: &str) -> Result<(), Error> {
    if s.len() > MAX_PATH_LEN {
        return Err(Error::InvalidName {
            kind,
            value: s.to_owned(),
            reason: format!("longer than {MAX_PATH_LEN} characters"),
        });
    }
    let mut count = 0;
    for segment in s.split('/') {
        check_segment(kind, s, segment)?;
        count += 1;
    }
    if count > MAX_PATH_SEGMENTS {
        return Err(Error::InvalidName {
            kind,
            value: s.to_owned(),
            reason: format!("more than {MAX_PATH_SEGMENTS} folders deep"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_path_case(input: &str, expected: Result<&str, &str>) {
        match (SecretPath::parse(input), expected) {
            (Ok(p), Ok(var)) => assert_eq!(p.env_var_name(), var, "{input}"),
            (Err(e), Err(fragment)) => assert!(e.to_string().contains(fragment), "{input}: {e}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn paths_and_env_var_names() {
        check_path_case("DATABASE_URL", Ok("DATABASE_URL"));
        check_path_case("stripe/API_KEY", Ok("STRIPE_API_KEY"));
        check_path_case("a-b/c.d/e", Ok("A_B_C_D_E"));
        check_path_case("3scale/key", Ok("_3SCALE_KEY"));
        check_path_case("bad name!", Err("character ' ' at position 4"));
        check_path_case("a//b", Err("empty"));
        check_path_case("/a", Err("empty"));
        check_path_case("a/", Err("empty"));
        check_path_case("a/../b", Err("`..` is not allowed"));
        check_path_case("é", Err("character 'é'"));
        check_path_case(&"x".repeat(65), Err("longer than 64"));
        check_path_case(&["a"; 17].join("/"), Err("more than 16"));
    }

    #[test]
    fn prefix_matches_whole_folders_only() {
        let p = SecretPath::parse("stripe/API_KEY").unwrap();
        assert!(p.is_in(&PathPrefix::parse("stripe").unwrap()));
        assert!(p.is_in(&PathPrefix::parse("stripe/").unwrap()));
        assert!(p.is_in(&PathPrefix::parse("").unwrap()));
        assert!(!p.is_in(&PathPrefix::parse("str").unwrap()));
        assert!(
            !SecretPath::parse("stripe2/X")
                .unwrap()
                .is_in(&PathPrefix::parse("stripe").unwrap())
        );
    }

    #[test]
    fn names_reject_slashes() {
        assert!(ProjectName::parse("pay/ment").is_err());
        assert!(EnvName::parse("prod").is_ok());
        assert!(EnvName::parse("").is_err());
    }

    proptest! {
        #[test]
        fn valid_paths_parse_and_roundtrip(segs in proptest::collection::vec("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", 1..6)) {
            let s = segs.join("/");
            prop_assume!(!segs.iter().any(|s| s == "." || s == ".."));
            let p = SecretPath::parse(&s).unwrap();
            prop_assert_eq!(p.as_str(), s.as_str());
            let var = p.env_var_name();
            prop_assert!(var.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
        }

        #[test]
        fn any_string_either_parses_or_names_a_reason(s in ".{0,80}") {
            match SecretPath::parse(&s) {
                Ok(p) => prop_assert!(p.segments().all(|seg| !seg.is_empty())),
                Err(Error::InvalidName { reason, .. }) => prop_assert!(!reason.is_empty()),
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }
}
