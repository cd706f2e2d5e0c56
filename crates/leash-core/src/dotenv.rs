//! Reading a `.env` text (dotenvy's syntax: quotes, escapes, `export`,
//! comments) into its variables, for `leash import` and the web UI's import.
//! Errors say where, never a value. Parses text only; no IO.

/// One variable of a `.env` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub key: String,
    pub value: String,
    /// The key was given more than once (the last value is kept).
    pub repeated: bool,
}

/// Why a `.env` text could not be read; never holds a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DotenvError {
    /// An entry does not parse: the key before it (`None` at the start) and
    /// the 1-based character of the entry where it goes wrong.
    #[error("cannot parse the entry {} (at character {at} of that entry; check its quotes and escapes)", match .after { Some(k) => format!("after {k}"), None => "at the start".to_owned() })]
    Entry { after: Option<String>, at: usize },
    #[error("cannot read the text as .env entries")]
    Unreadable,
}

/// The variables of `text` in first-seen order, the last value of a repeated
/// key winning (a leading byte-order mark is ignored).
pub fn parse(text: &str) -> Result<Vec<Variable>, DotenvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<Variable> = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        let (key, value) = match item {
            Ok(pair) => pair,
            Err(dotenvy::Error::LineParse(_, index)) => {
                return Err(DotenvError::Entry {
                    after: out.last().map(|v| v.key.clone()),
                    at: index + 1,
                });
            }
            Err(_) => return Err(DotenvError::Unreadable),
        };
        match out.iter_mut().find(|v| v.key == key) {
            Some(existing) => {
                existing.value = value;
                existing.repeated = true;
            }
            None => out.push(Variable {
                key,
                value,
                repeated: false,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_in_order_with_the_last_value_winning() {
        let vars = parse("\u{feff}A=1\nexport B=\"two words\"\n# c\nA=3\n").unwrap();
        let got: Vec<_> = vars
            .iter()
            .map(|v| (v.key.as_str(), v.value.as_str(), v.repeated))
            .collect();
        assert_eq!(got, vec![("A", "3", true), ("B", "two words", false)]);
    }

    #[test]
    fn errors_say_where_and_never_the_value() {
        let e = parse("A=1\nB=\"unclosed-secret-value\n").unwrap_err();
        assert!(
            matches!(&e, DotenvError::Entry { after: Some(k), .. } if k == "A"),
            "{e:?}"
        );
        assert!(!e.to_string().contains("unclosed-secret-value"), "{e}");
        assert!(e.to_string().starts_with("cannot parse the entry after A"), "{e}");
    }
}
