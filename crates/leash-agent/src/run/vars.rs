//! From fetched secrets to the child's environment.
//!
//! It owns the variable-name checks (valid identifiers, no two secrets under
//! one name, `--only`), the precedence rule of `--preserve-env`, and the
//! list of Leash's own variables the child never sees. It must never put a
//! value into an error.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::Error;
use crate::cache::Entry;

/// Variable name to value, sorted by name.
pub type Vars = BTreeMap<String, Zeroizing<String>>;

/// Leash's own settings, removed from the child's environment: the token
/// above all, and the rest so the child does not talk to Leash by accident.
pub const LEASH_VARS: &[&str] = &[
    "LEASH_TOKEN",
    "LEASH_ADDR",
    "LEASH_PROJECT",
    "LEASH_ENV",
    "LEASH_CA_CERT",
    "LEASH_AGE_IDENTITY",
];

/// The variables of `entries`, checked: each name a valid identifier, no two
/// secrets under one name, and (with `only`) just the named variables, every
/// one of which must exist.
pub fn variables(entries: &[Entry], only: Option<&[String]>) -> Result<Vars, Error> {
    let mut paths: BTreeMap<&str, &str> = BTreeMap::new();
    for entry in entries {
        if !is_identifier(&entry.env_var) {
            return Err(Error::BadVariableName {
                path: entry.path.clone(),
                name: entry.env_var.clone(),
            });
        }
        if let Some(first) = paths.insert(&entry.env_var, &entry.path) {
            let (first, second) = if first <= entry.path.as_str() {
                (first, entry.path.as_str())
            } else {
                (entry.path.as_str(), first)
            };
            return Err(Error::Collision {
                name: entry.env_var.clone(),
                first: first.to_owned(),
                second: second.to_owned(),
            });
        }
    }
    if let Some(only) = only {
        let unknown: Vec<String> = only
            .iter()
            .filter(|name| !paths.contains_key(name.as_str()))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            let available = if paths.is_empty() {
                "none".to_owned()
            } else {
                paths.keys().copied().collect::<Vec<_>>().join(", ")
            };
            return Err(Error::UnknownOnly {
                names: unknown,
                available,
            });
        }
    }
    Ok(entries
        .iter()
        .filter(|e| only.is_none_or(|only| only.contains(&e.env_var)))
        .map(|e| (e.env_var.clone(), e.value.clone()))
        .collect())
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What to change in the inherited environment.
#[derive(Debug, PartialEq, Eq)]
pub struct EnvPlan<'a> {
    /// Variables to remove (Leash's own).
    pub remove: Vec<&'a str>,
    /// Variables to set (name, value).
    pub set: Vec<(&'a str, &'a str)>,
}

/// Removes `remove`, then sets every variable of `vars`, except, with
/// `preserve_env`, those the inherited environment already has (`exists`).
pub fn plan<'a>(
    vars: &'a Vars,
    preserve_env: bool,
    remove: &'a [String],
    exists: impl Fn(&str) -> bool,
) -> EnvPlan<'a> {
    let removed = |name: &str| remove.iter().any(|r| r == name);
    EnvPlan {
        remove: remove.iter().map(String::as_str).collect(),
        set: vars
            .iter()
            .filter(|(name, _)| !(preserve_env && exists(name) && !removed(name)))
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, var: &str, value: &str) -> Entry {
        Entry {
            path: path.into(),
            env_var: var.into(),
            value: Zeroizing::new(value.into()),
        }
    }

    fn names(vars: &Vars) -> Vec<&str> {
        vars.keys().map(String::as_str).collect()
    }

    #[test]
    fn collisions_name_both_paths_and_never_a_value() {
        let entries = [
            entry("stripe/API_KEY", "STRIPE_API_KEY", "planted-a"),
            entry("STRIPE_API_KEY", "STRIPE_API_KEY", "planted-b"),
        ];
        let err = variables(&entries, None).unwrap_err().to_string();
        assert!(err.contains("STRIPE_API_KEY and stripe/API_KEY"), "{err}");
        assert!(!err.contains("planted"), "{err}");
    }

    #[test]
    fn only_selects_and_refuses_unknown_names() {
        let entries = [entry("A", "A", "1"), entry("b/C", "B_C", "2"), entry("D", "D", "3")];
        assert_eq!(names(&variables(&entries, None).unwrap()), ["A", "B_C", "D"]);
        let only = ["B_C".to_owned(), "A".to_owned()];
        assert_eq!(names(&variables(&entries, Some(&only)).unwrap()), ["A", "B_C"]);
        let only = ["A".to_owned(), "NOPE".to_owned()];
        let err = variables(&entries, Some(&only)).unwrap_err().to_string();
        assert!(err.contains("NOPE") && err.contains("available: A, B_C, D"), "{err}");
    }

    #[test]
    fn bad_names_are_refused() {
        let err = variables(&[entry("x", "X;rm", "1")], None).unwrap_err();
        assert!(matches!(err, Error::BadVariableName { .. }));
    }

    #[test]
    fn preserve_env_decides_who_wins_and_leash_vars_go() {
        let vars = variables(&[entry("HOME", "HOME", "/leash"), entry("NEW", "NEW", "n")], None).unwrap();
        let remove: Vec<String> = LEASH_VARS.iter().map(|s| (*s).to_owned()).collect();
        let exists = |name: &str| name == "HOME" || name == "LEASH_TOKEN";
        let p = plan(&vars, false, &remove, exists);
        assert_eq!(p.set, [("HOME", "/leash"), ("NEW", "n")]);
        assert!(p.remove.contains(&"LEASH_TOKEN"));
        let p = plan(&vars, true, &remove, exists);
        assert_eq!(p.set, [("NEW", "n")]);
        // A secret named like a removed Leash variable is still injected.
        let vars = variables(&[entry("LEASH_TOKEN", "LEASH_TOKEN", "app's own")], None).unwrap();
        assert_eq!(plan(&vars, true, &remove, exists).set, [("LEASH_TOKEN", "app's own")]);
    }
}
