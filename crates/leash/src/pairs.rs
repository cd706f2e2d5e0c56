//! `KEY=VALUE` arguments of `leash secrets set`.
//!
//! It owns the grammar: split on the first `=`; the key must be a valid
//! secret path; the value is literal text, `@FILE` (the file's bytes,
//! exactly) or `-` (all of stdin, exactly; at most once). It also reads those
//! files and stdin and insists on UTF-8. It must never put a value into an
//! error message: errors name the key or the argument's position only.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use leash_core::names::SecretPath;

/// Where a value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueSource {
    Literal(String),
    File(PathBuf),
    Stdin,
}

/// One parsed `KEY=VALUE` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub key: SecretPath,
    pub source: ValueSource,
}

/// Parses one argument; `position` (1-based) is used in errors.
pub fn parse_assignment(arg: &str, position: usize) -> anyhow::Result<Assignment> {
    let Some((key, value)) = arg.split_once('=') else {
        // The argument may be a value typed without its key: echo it only
        // when it looks like a name.
        if SecretPath::parse(arg).is_ok() {
            bail!("argument {position} ({arg}) is not KEY=VALUE: it has no `=`");
        }
        bail!("argument {position} is not KEY=VALUE: it has no `=`");
    };
    let key =
        SecretPath::parse(key).with_context(|| format!("argument {position} is not KEY=VALUE with a valid key"))?;
    let source = if value == "-" {
        ValueSource::Stdin
    } else if let Some(file) = value.strip_prefix('@') {
        if file.is_empty() {
            bail!("{key}=@ names no file: use {key}=@PATH");
        }
        ValueSource::File(PathBuf::from(file))
    } else {
        ValueSource::Literal(value.to_owned())
    };
    Ok(Assignment { key, source })
}

/// Parses every argument: no key twice, at most one `-`.
pub fn parse_assignments(args: &[String]) -> anyhow::Result<Vec<Assignment>> {
    let mut out: Vec<Assignment> = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        let assignment = parse_assignment(arg, i + 1)?;
        if out.iter().any(|a| a.key == assignment.key) {
            bail!("{} is given more than once", assignment.key);
        }
        out.push(assignment);
    }
    let stdin_keys: Vec<&str> = out
        .iter()
        .filter(|a| a.source == ValueSource::Stdin)
        .map(|a| a.key.as_str())
        .collect();
    if stdin_keys.len() > 1 {
        bail!(
            "only one value can be read from stdin, but {} all use `-`",
            stdin_keys.join(", ")
        );
    }
    Ok(out)
}

/// Reads every value, from `stdin` for `-`.
pub fn resolve(assignments: Vec<Assignment>, stdin: impl Read) -> anyhow::Result<Vec<(SecretPath, String)>> {
    let mut stdin = Some(stdin);
    assignments
        .into_iter()
        .map(|Assignment { key, source }| {
            let value = match source {
                ValueSource::Literal(value) => value,
                ValueSource::File(path) => {
                    let bytes = std::fs::read(&path)
                        .with_context(|| format!("cannot read the value of {key} from {}", path.display()))?;
                    utf8(&key, bytes, &path.display().to_string())?
                }
                ValueSource::Stdin => {
                    let mut bytes = Vec::new();
                    if let Some(mut input) = stdin.take() {
                        input
                            .read_to_end(&mut bytes)
                            .with_context(|| format!("cannot read the value of {key} from stdin"))?;
                    }
                    utf8(&key, bytes, "stdin")?
                }
            };
            Ok((key, value))
        })
        .collect()
}

fn utf8(key: &SecretPath, bytes: Vec<u8>, from: &str) -> anyhow::Result<String> {
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => bail!(
            "the value of {key} (from {from}) is not UTF-8 text (invalid byte at offset {}); \
             Leash stores text values: encode binary data, e.g. with base64",
            e.utf8_error().valid_up_to()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(arg: &str, expected: Result<(&str, ValueSource), &str>) {
        match (parse_assignment(arg, 1), expected) {
            (Ok(a), Ok((key, source))) => {
                assert_eq!(a.key.as_str(), key, "{arg}");
                assert_eq!(a.source, source, "{arg}");
            }
            (Err(e), Err(fragment)) => {
                let text = format!("{e:#}");
                assert!(text.contains(fragment), "{arg}: {text}");
            }
            (got, want) => panic!("{arg}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn assignments() {
        use ValueSource::*;
        check("A=1", Ok(("A", Literal("1".into()))));
        check("A=", Ok(("A", Literal(String::new()))));
        check("A=b=c==", Ok(("A", Literal("b=c==".into()))));
        check("stripe/API_KEY=sk", Ok(("stripe/API_KEY", Literal("sk".into()))));
        check("A=@/tmp/f", Ok(("A", File("/tmp/f".into()))));
        check("A=-", Ok(("A", Stdin)));
        check("A=--", Ok(("A", Literal("--".into()))));
        check("A=@", Err("names no file"));
        check("NAME", Err("argument 1 (NAME) is not KEY=VALUE: it has no `=`"));
        check("sk live!", Err("argument 1 is not KEY=VALUE"));
        check("bad key=1", Err("character ' '"));
        check("=1", Err("empty"));
    }

    #[test]
    fn secrets_typed_without_a_key_are_not_echoed() {
        let err = parse_assignment("p@ss w0rd!", 2).unwrap_err();
        assert!(!format!("{err:#}").contains("w0rd"));
    }

    #[test]
    fn duplicates_and_two_stdins_are_refused() {
        let args = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let err = parse_assignments(&args(&["A=1", "A=2"])).unwrap_err();
        assert!(err.to_string().contains("A is given more than once"));
        let err = parse_assignments(&args(&["A=-", "B=-"])).unwrap_err();
        assert!(err.to_string().contains("A, B"));
    }

    #[test]
    fn values_come_from_files_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v");
        std::fs::write(&file, "from file\n").unwrap();
        let bad = dir.path().join("bin");
        std::fs::write(&bad, [0x66, 0xff]).unwrap();
        let args = vec!["A=lit".to_owned(), format!("B=@{}", file.display()), "C=-".to_owned()];
        let resolved = resolve(parse_assignments(&args).unwrap(), &b"from stdin"[..]).unwrap();
        let values: Vec<(&str, &str)> = resolved.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(values, [("A", "lit"), ("B", "from file\n"), ("C", "from stdin")]);

        let args = vec![format!("BIN=@{}", bad.display())];
        let err = resolve(parse_assignments(&args).unwrap(), &b""[..]).unwrap_err();
        assert!(err.to_string().contains("the value of BIN"), "{err}");
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    proptest! {
        #[test]
        fn key_and_value_split_on_the_first_equals(
            key in "[A-Za-z_][A-Za-z0-9_.-]{0,20}(/[A-Za-z_][A-Za-z0-9_.-]{0,10}){0,3}",
            value in any::<String>(),
        ) {
            prop_assume!(value != "-" && !value.starts_with('@'));
            let a = parse_assignment(&format!("{key}={value}"), 1).unwrap();
            prop_assert_eq!(a.key.as_str(), key.as_str());
            prop_assert_eq!(a.source, ValueSource::Literal(value));
        }

        #[test]
        fn errors_never_contain_the_value(arg in any::<String>()) {
            if let Err(e) = parse_assignment(&arg, 1) {
                let text = format!("{e:#}");
                if let Some((key, value)) = arg.split_once('=') {
                    prop_assume!(!key.contains(value));
                    // Only the key may be named; a value shorter than 4
                    // characters may appear by coincidence in the prose.
                    prop_assume!(value.chars().count() >= 4);
                    prop_assert!(!text.contains(value), "{}", text);
                }
            }
        }
    }
}
