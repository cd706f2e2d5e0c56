//! Policy documents: named TOML files of `[[allow]]` and `[[deny]]` rules.
//!
//! It owns reading a document into checked rules, with errors that name the
//! rule ("allow rule 2: ...") and the problem, and writing rules back as TOML.
//! It must never accept a document it does not fully understand: unknown keys,
//! unknown capabilities and bad patterns are errors, not ignored.

use std::collections::BTreeSet;
use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::{Capability, Pattern};
use crate::Error;
use crate::names::{Name, NameKind};

/// Marker for policy names; they follow the project-name rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyKind;
impl NameKind for PolicyKind {
    const KIND: &'static str = "policy name";
}

/// A policy name (`payment-service`).
pub type PolicyName = Name<PolicyKind>;

/// Whether a rule grants or takes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    Allow,
    Deny,
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleKind::Allow => "allow",
            RuleKind::Deny => "deny",
        })
    }
}

/// One rule: a pattern and the capabilities it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pattern: Pattern,
    /// `None` only on deny rules written without `capabilities`: all of them.
    capabilities: Option<BTreeSet<Capability>>,
}

impl Rule {
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The capabilities as written; `None` means "all" (deny rules only).
    pub fn capabilities(&self) -> Option<&BTreeSet<Capability>> {
        self.capabilities.as_ref()
    }

    /// Whether this rule is about `capability`: it lists it, lists `admin`,
    /// or (deny) lists nothing.
    pub fn covers(&self, capability: Capability) -> bool {
        match &self.capabilities {
            None => true,
            Some(listed) => listed.iter().any(|c| c.implies(capability)),
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut rule = serializer.serialize_struct("Rule", 2)?;
        rule.serialize_field("path", self.pattern.as_str())?;
        match &self.capabilities {
            Some(capabilities) => rule.serialize_field("capabilities", capabilities)?,
            None => rule.skip_field("capabilities")?,
        }
        rule.end()
    }
}

/// A named policy document.
///
/// Keeps the text it was parsed from ([`Policy::source`]), so what the
/// operator wrote (comments included) is what `leash policy read` shows.
/// It serializes as the rules document (`allow` and `deny` lists), so the
/// serialized form parses back into the same rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    name: PolicyName,
    source: String,
    allow: Vec<Rule>,
    deny: Vec<Rule>,
}

impl Policy {
    /// Reads a policy document. Errors name the policy, the rule (counted
    /// from 1 within its kind: "allow rule 2") and the problem. A document
    /// without rules is valid and allows nothing.
    pub fn parse(name: &str, toml_text: &str) -> Result<Policy, Error> {
        let name = PolicyName::parse(name)?;
        let invalid = |reason: String| Error::InvalidPolicy {
            policy: name.to_string(),
            reason,
        };
        let table: toml::Table = toml::from_str(toml_text).map_err(|e| invalid(format!("not valid TOML: {e}")))?;
        let mut allow = Vec::new();
        let mut deny = Vec::new();
        for (key, value) in &table {
            let (kind, rules) = match key.as_str() {
                "allow" => (RuleKind::Allow, &mut allow),
                "deny" => (RuleKind::Deny, &mut deny),
                other => {
                    return Err(invalid(format!(
                        "unknown key `{other}`: a policy holds only [[allow]] and [[deny]] rules"
                    )));
                }
            };
            let toml::Value::Array(items) = value else {
                return Err(invalid(format!(
                    "`{key}` must be a list of rules: write each as [[{key}]]"
                )));
            };
            for (i, item) in items.iter().enumerate() {
                let rule =
                    parse_rule(kind, item).map_err(|reason| invalid(format!("{kind} rule {}: {reason}", i + 1)))?;
                rules.push(rule);
            }
        }
        Ok(Policy {
            name,
            source: toml_text.to_owned(),
            allow,
            deny,
        })
    }

    pub fn name(&self) -> &PolicyName {
        &self.name
    }

    /// The document text as given to [`Policy::parse`].
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The `[[allow]]` rules in document order (rule 1 first).
    pub fn allow_rules(&self) -> &[Rule] {
        &self.allow
    }

    /// The `[[deny]]` rules in document order (rule 1 first).
    pub fn deny_rules(&self) -> &[Rule] {
        &self.deny
    }

    /// The rules of one kind.
    pub fn rules(&self, kind: RuleKind) -> &[Rule] {
        match kind {
            RuleKind::Allow => &self.allow,
            RuleKind::Deny => &self.deny,
        }
    }

    /// True when the policy has no rules (valid, but grants nothing).
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// The rules written out as a normalized document (no comments,
    /// capabilities in canonical order). Parses back into the same rules.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a policy is tables of strings and string lists, which TOML always holds")
    }
}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut doc = serializer.serialize_struct("Policy", 2)?;
        for (key, rules) in [("allow", &self.allow), ("deny", &self.deny)] {
            if rules.is_empty() {
                doc.skip_field(key)?;
            } else {
                doc.serialize_field(key, rules)?;
            }
        }
        doc.end()
    }
}

/// One rule table; the error is the reason only (the caller names the rule).
fn parse_rule(kind: RuleKind, item: &toml::Value) -> Result<Rule, String> {
    let toml::Value::Table(table) = item else {
        return Err("must be a table with `path` and `capabilities`".into());
    };
    if let Some(unknown) = table.keys().find(|k| !matches!(k.as_str(), "path" | "capabilities")) {
        return Err(format!(
            "unknown key `{unknown}`: a rule has only `path` and `capabilities`"
        ));
    }
    let pattern = match table.get("path") {
        None => return Err("`path` is missing".into()),
        Some(toml::Value::String(path)) => Pattern::parse(path).map_err(|e| e.to_string())?,
        Some(_) => return Err("`path` must be a string".into()),
    };
    let capabilities = match table.get("capabilities") {
        None if kind == RuleKind::Deny => None,
        None => {
            return Err(
                "`capabilities` is missing: say what the rule allows, e.g. capabilities = [\"read\", \"list\"]".into(),
            );
        }
        Some(toml::Value::Array(words)) => Some(parse_capabilities(kind, words)?),
        Some(_) => return Err("`capabilities` must be a list of strings, e.g. [\"read\", \"list\"]".into()),
    };
    Ok(Rule { pattern, capabilities })
}

fn parse_capabilities(kind: RuleKind, words: &[toml::Value]) -> Result<BTreeSet<Capability>, String> {
    if words.is_empty() {
        return Err(match kind {
            RuleKind::Allow => "`capabilities` is empty, so the rule would allow nothing".into(),
            RuleKind::Deny => "`capabilities` is empty; leave it out to deny every capability".into(),
        });
    }
    words
        .iter()
        .map(|word| match word {
            toml::Value::String(word) => word.parse::<Capability>().map_err(|e| e.to_string()),
            other => Err(format!("`capabilities` must hold strings, found {other}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
# payment-service: its own production secrets, but not Stripe's.
[[allow]]
path = "payment/prod/**"
capabilities = ["read", "list"]

[[deny]]
path = "*/prod/stripe/**"   # capabilities optional on deny: absent = all
capabilities = ["read"]

[[deny]]
path = "**/ROOT_*"
"#;

    fn check_error(text: &str, fragment: &str) {
        match Policy::parse("p", text) {
            Ok(p) => panic!("parsed {p:?}, want an error containing {fragment:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("invalid policy \"p\": "), "{msg}");
                assert!(msg.contains(fragment), "{msg} does not contain {fragment:?}");
            }
        }
    }

    #[test]
    fn parses_the_contract_example() {
        let p = Policy::parse("payment-service", EXAMPLE).unwrap();
        assert_eq!(p.name().as_str(), "payment-service");
        assert_eq!(p.source(), EXAMPLE);
        assert_eq!(p.allow_rules().len(), 1);
        assert_eq!(p.deny_rules().len(), 2);
        let allow = &p.allow_rules()[0];
        assert_eq!(allow.pattern().as_str(), "payment/prod/**");
        assert_eq!(
            allow.capabilities().unwrap().iter().copied().collect::<Vec<_>>(),
            [Capability::Read, Capability::List]
        );
        assert!(allow.covers(Capability::List) && !allow.covers(Capability::Write));
        let deny_all = &p.deny_rules()[1];
        assert_eq!(deny_all.capabilities(), None);
        assert!(Capability::ALL.iter().all(|c| deny_all.covers(*c)));
        assert_eq!(p.rules(RuleKind::Deny)[0].pattern().as_str(), "*/prod/stripe/**");
    }

    #[test]
    fn admin_covers_every_capability_on_allow_and_deny() {
        let p = Policy::parse(
            "p",
            "[[allow]]\npath = \"**\"\ncapabilities = [\"admin\"]\n[[deny]]\npath = \"x/**\"\ncapabilities = [\"admin\"]\n",
        )
        .unwrap();
        for c in Capability::ALL {
            assert!(p.allow_rules()[0].covers(c));
            assert!(p.deny_rules()[0].covers(c));
        }
    }

    #[test]
    fn empty_policies_are_valid() {
        for text in ["", "# nothing yet\n", "allow = []\n"] {
            let p = Policy::parse("empty", text).unwrap();
            assert!(p.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn serializes_back_into_the_same_rules() {
        let p = Policy::parse("payment-service", EXAMPLE).unwrap();
        let text = p.to_toml();
        assert!(!text.contains('#'), "normalized form has no comments: {text}");
        let again = Policy::parse("payment-service", &text).unwrap();
        assert_eq!(again.allow_rules(), p.allow_rules());
        assert_eq!(again.deny_rules(), p.deny_rules());
        assert_eq!(again.to_toml(), text);
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({
                "allow": [{"path": "payment/prod/**", "capabilities": ["read", "list"]}],
                "deny": [{"path": "*/prod/stripe/**", "capabilities": ["read"]}, {"path": "**/ROOT_*"}],
            })
        );
        assert_eq!(Policy::parse("e", "").unwrap().to_toml(), "");
    }

    #[test]
    fn policy_names_follow_the_name_rule() {
        assert!(Policy::parse("root", "").is_ok(), "`root` is an ordinary name here");
        let err = Policy::parse("bad name", "").unwrap_err().to_string();
        assert!(err.contains("invalid policy name \"bad name\""), "{err}");
        assert!(Policy::parse("a/b", "").is_err());
        assert!(Policy::parse("", "").is_err());
    }

    #[test]
    fn errors_name_the_rule_and_the_problem() {
        check_error(
            "[[allow]]\npath = \"a/**\"\ncapabilities = [\"read\"]\n[[allow]]\npath = \"a/***\"\ncapabilities = [\"read\"]\n",
            "allow rule 2: invalid pattern \"a/***\": `***`",
        );
        check_error(
            "[[allow]]\npath = \"a/**\"\ncapabilities = [\"raed\"]\n",
            "allow rule 1: unknown capability \"raed\"; allowed are read, list, write, delete, destroy, rotate, admin",
        );
        check_error(
            "[[allow]]\npath = \"a/**\"\n",
            "allow rule 1: `capabilities` is missing",
        );
        check_error(
            "[[allow]]\npath = \"a/**\"\ncapabilities = []\n",
            "allow rule 1: `capabilities` is empty",
        );
        check_error(
            "[[deny]]\npath = \"a/**\"\ncapabilities = []\n",
            "deny rule 1: `capabilities` is empty; leave it out",
        );
        check_error(
            "[[deny]]\ncapabilities = [\"read\"]\n",
            "deny rule 1: `path` is missing",
        );
        check_error("[[deny]]\npath = 3\n", "deny rule 1: `path` must be a string");
        check_error(
            "[[deny]]\npath = \"a\"\ncapabilities = \"read\"\n",
            "deny rule 1: `capabilities` must be a list",
        );
        check_error(
            "[[deny]]\npath = \"a\"\ncapabilities = [1]\n",
            "deny rule 1: `capabilities` must hold strings, found 1",
        );
        check_error(
            "[[deny]]\npath = \"a\"\n[[deny]]\npaht = \"a\"\n",
            "deny rule 2: unknown key `paht`",
        );
        check_error("[[alow]]\npath = \"a\"\n", "unknown key `alow`");
        check_error("name = \"x\"\n", "unknown key `name`");
        check_error(
            "[allow]\npath = \"a\"\n",
            "`allow` must be a list of rules: write each as [[allow]]",
        );
        check_error("allow = [1]\n", "allow rule 1: must be a table");
        check_error("[[allow]\n", "not valid TOML");
        check_error(
            "[[allow]]\npath = \"payment//x\"\ncapabilities = [\"read\"]\n",
            "allow rule 1: invalid pattern \"payment//x\": empty segment",
        );
    }
}
