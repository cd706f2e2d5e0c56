//! `KEY=VALUE` options that are not secrets: identity metadata (`--meta
//! team=payment`) and JWT claim bindings (`--bound-claim repository=org/app`).
//!
//! It owns their grammar: split on the first `=`; a metadata key uses the
//! characters templates can name (`A-Z a-z 0-9 _ - .`, docs/policies.md); a
//! claim name is any non-empty text without whitespace (`kubernetes.io/
//! serviceaccount/namespace`); a key given twice is an error. These values
//! are not secrets, so errors may quote them. Secret values have their own
//! grammar in `pairs.rs`.

use std::collections::BTreeMap;

use anyhow::bail;

/// clap value parser of `--meta KEY=VALUE`.
pub fn parse_meta(arg: &str) -> Result<(String, String), String> {
    let (key, value) = split(arg)?;
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "metadata key {key:?} has the character {bad:?}; keys use letters A-Z a-z, digits 0-9, '_', '-' and '.'"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// clap value parser of `--bound-claim CLAIM=VALUE`.
pub fn parse_claim(arg: &str) -> Result<(String, String), String> {
    let (key, value) = split(arg)?;
    if key.chars().any(char::is_whitespace) {
        return Err(format!("claim name {key:?} contains whitespace"));
    }
    if value.is_empty() {
        return Err(format!(
            "claim {key} has an empty value: a binding needs a value to match"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

fn split(arg: &str) -> Result<(&str, &str), String> {
    match arg.split_once('=') {
        Some(("", _)) => Err(format!("{arg:?} has an empty key: use KEY=VALUE")),
        Some(pair) => Ok(pair),
        None => Err(format!("{arg:?} is not KEY=VALUE: it has no `=`")),
    }
}

/// The pairs as a map; `what` names them in the error about a repeated key.
pub fn to_map(pairs: Vec<(String, String)>, what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for (key, value) in pairs {
        if map.contains_key(&key) {
            bail!("{what} {key} is given more than once");
        }
        map.insert(key, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(parse: fn(&str) -> Result<(String, String), String>, arg: &str, expected: Result<(&str, &str), &str>) {
        match (parse(arg), expected) {
            (Ok((k, v)), Ok((key, value))) => assert_eq!((k.as_str(), v.as_str()), (key, value), "{arg}"),
            (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{arg}: {e}"),
            (got, want) => panic!("{arg}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn metadata() {
        check(parse_meta, "team=payment", Ok(("team", "payment")));
        check(parse_meta, "team=a=b", Ok(("team", "a=b")));
        check(parse_meta, "cost.centre-2=", Ok(("cost.centre-2", "")));
        check(parse_meta, "owner=Jane Doe", Ok(("owner", "Jane Doe")));
        check(parse_meta, "team", Err("is not KEY=VALUE"));
        check(parse_meta, "=x", Err("empty key"));
        check(parse_meta, "my team=x", Err("character ' '"));
        check(parse_meta, "a/b=x", Err("character '/'"));
    }

    #[test]
    fn claims() {
        check(
            parse_claim,
            "repository=acme/payment",
            Ok(("repository", "acme/payment")),
        );
        check(
            parse_claim,
            "kubernetes.io/serviceaccount/namespace=payments",
            Ok(("kubernetes.io/serviceaccount/namespace", "payments")),
        );
        check(parse_claim, "ref=refs/heads/main", Ok(("ref", "refs/heads/main")));
        check(
            parse_claim,
            "job_workflow_ref=acme/ci/.github/workflows/deploy.yml@refs/heads/main",
            Ok((
                "job_workflow_ref",
                "acme/ci/.github/workflows/deploy.yml@refs/heads/main",
            )),
        );
        check(parse_claim, "repository=", Err("empty value"));
        check(parse_claim, "repo sitory=x", Err("whitespace"));
        check(parse_claim, "repository", Err("no `=`"));
    }

    #[test]
    fn repeated_keys_are_refused() {
        let pairs = vec![("team".to_owned(), "a".to_owned()), ("team".to_owned(), "b".to_owned())];
        let err = to_map(pairs, "metadata key").unwrap_err();
        assert_eq!(err.to_string(), "metadata key team is given more than once");
        let map = to_map(vec![("b".into(), "2".into()), ("a".into(), "1".into())], "claim").unwrap();
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
    }
}
