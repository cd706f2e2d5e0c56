//! Decisions: do a caller's policies allow a capability on a resource?
//!
//! It owns the decision rule (a matching deny in any policy wins; otherwise a
//! matching allow allows; otherwise deny) and its explanation, and the
//! listing question "could anything under this prefix be allowed?". It must
//! never fail: a rule whose templates cannot be filled in for this caller is
//! left out (it matches nothing), and an invalid resource path is denied.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

use super::pattern::Resolved;
use super::{Capability, IdentityContext, MAX_RESOURCE_SEGMENTS, Policy, Rule, RuleKind, reach, resource_segments};

/// The answer to "may the caller do this?", with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub explanation: Explanation,
}

/// Why a [`Decision`] came out the way it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Explanation {
    /// A rule decided: the first matching deny (policies in the order given,
    /// rules in document order), or else the first matching allow.
    Rule {
        policy: String,
        kind: RuleKind,
        /// Counted from 1 within its kind, as in error messages.
        index: usize,
        pattern: String,
    },
    /// No allow rule matched.
    DefaultDeny,
    /// The resource is not a valid path, so nothing can allow it.
    InvalidResource { resource: String },
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Explanation::Rule {
                policy,
                kind,
                index,
                pattern,
            } => write!(f, "policy {policy:?}, {kind} rule {index} (`{pattern}`)"),
            Explanation::DefaultDeny => f.write_str("no rule allows it (default deny)"),
            Explanation::InvalidResource { resource } => write!(f, "{resource:?} is not a valid resource path"),
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.allowed { "allowed" } else { "denied" };
        match self.explanation {
            Explanation::Rule { .. } => write!(f, "{verdict} by {}", self.explanation),
            _ => write!(f, "{verdict}: {}", self.explanation),
        }
    }
}

/// Decides whether `policies` let the caller described by `ctx` use
/// `capability` on `resource` (`project/env/path…`, or `project`, or
/// `project/env`). Shorthand for [`PolicySet::new`] then [`PolicySet::evaluate`].
pub fn evaluate(policies: &[&Policy], ctx: &IdentityContext, resource: &str, capability: Capability) -> Decision {
    PolicySet::new(policies, ctx).evaluate(resource, capability)
}

/// Whether some resource equal to or under `prefix` (`""` for everything,
/// `payment`, `payment/prod`, …) could be allowed `capability`. Shorthand for
/// [`PolicySet::new`] then [`PolicySet::may_access_under`].
pub fn may_access_under(policies: &[&Policy], ctx: &IdentityContext, prefix: &str, capability: Capability) -> bool {
    PolicySet::new(policies, ctx).may_access_under(prefix, capability)
}

/// One caller's policies with templates filled in, ready to answer many
/// questions (a list request asks once per name).
#[derive(Debug)]
pub struct PolicySet<'a> {
    allow: Vec<Applicable<'a>>,
    deny: Vec<Applicable<'a>>,
}

#[derive(Debug)]
struct Applicable<'a> {
    policy: &'a Policy,
    index: usize,
    rule: &'a Rule,
    matcher: Cow<'a, Resolved>,
}

impl Applicable<'_> {
    fn explain(&self, kind: RuleKind) -> Explanation {
        Explanation::Rule {
            policy: self.policy.name().to_string(),
            kind,
            index: self.index + 1,
            pattern: self.rule.pattern().as_str().to_owned(),
        }
    }
}

impl<'a> PolicySet<'a> {
    /// Fills every rule's templates in from `ctx`; rules that cannot be
    /// filled in (a missing or invalid value) are left out.
    pub fn new(policies: &[&'a Policy], ctx: &IdentityContext) -> PolicySet<'a> {
        let applicable = |kind: RuleKind| -> Vec<Applicable<'a>> {
            policies
                .iter()
                .flat_map(|policy| {
                    policy.rules(kind).iter().enumerate().filter_map(move |(index, rule)| {
                        let matcher = rule.pattern().resolve(ctx)?;
                        Some(Applicable {
                            policy,
                            index,
                            rule,
                            matcher,
                        })
                    })
                })
                .collect()
        };
        PolicySet {
            allow: applicable(RuleKind::Allow),
            deny: applicable(RuleKind::Deny),
        }
    }

    /// See [`evaluate`].
    pub fn evaluate(&self, resource: &str, capability: Capability) -> Decision {
        let Some(segments) = resource_segments(resource) else {
            return Decision {
                allowed: false,
                explanation: Explanation::InvalidResource {
                    resource: resource.to_owned(),
                },
            };
        };
        let first_match = |rules: &[Applicable<'_>], kind: RuleKind| {
            rules
                .iter()
                .find(|r| r.rule.covers(capability) && r.matcher.matches(&segments))
                .map(|r| r.explain(kind))
        };
        if let Some(explanation) = first_match(&self.deny, RuleKind::Deny) {
            return Decision {
                allowed: false,
                explanation,
            };
        }
        match first_match(&self.allow, RuleKind::Allow) {
            Some(explanation) => Decision {
                allowed: true,
                explanation,
            },
            None => Decision {
                allowed: false,
                explanation: Explanation::DefaultDeny,
            },
        }
    }

    /// Whether [`PolicySet::evaluate`] allows `capability` on at least one
    /// resource path that equals `prefix` or lies under it (whole segments:
    /// `pay` is not a prefix of `payment`), with at most
    /// [`MAX_RESOURCE_SEGMENTS`] segments. `""` asks about every path; an
    /// invalid prefix gets `false`.
    ///
    /// The answer is exact, not a guess from the allow rules alone: denies
    /// that together cover every allowed path hide the prefix, and a deny
    /// that covers only part of it does not. The search behind it visits at
    /// most 20,000 states (realistic policies need a few hundred); past that
    /// it answers `false`, which hides a name rather than leaking one, and
    /// using the resource directly is still decided by [`PolicySet::evaluate`].
    pub fn may_access_under(&self, prefix: &str, capability: Capability) -> bool {
        self.reachable(prefix, capability, MAX_RESOURCE_SEGMENTS)
    }

    pub(crate) fn reachable(&self, prefix: &str, capability: Capability, max_segments: usize) -> bool {
        let prefix = match prefix {
            "" => Vec::new(),
            prefix => match resource_segments(prefix) {
                Some(segments) => segments,
                None => return false,
            },
        };
        let allow = covering(&self.allow, capability);
        let deny = covering(&self.deny, capability);
        reach::reachable(&prefix, &allow, &deny, max_segments)
    }
}

/// The matchers of the rules that are about `capability`.
fn covering<'s>(rules: &'s [Applicable<'_>], capability: Capability) -> Vec<&'s Resolved> {
    rules
        .iter()
        .filter(|r| r.rule.covers(capability))
        .map(|r| r.matcher.as_ref())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Capability::*;
    use proptest::prelude::*;

    fn policy(name: &str, text: &str) -> Policy {
        Policy::parse(name, text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `expected` is the decision as text: "allowed by …", "denied by …" or "denied: …".
    fn check(policies: &[&Policy], ctx: &IdentityContext, resource: &str, capability: Capability, expected: &str) {
        let decision = evaluate(policies, ctx, resource, capability);
        assert_eq!(decision.to_string(), expected, "{capability} on {resource:?}");
        assert_eq!(decision.allowed, expected.starts_with("allowed"));
    }

    const SERVICE: &str = r#"
[[allow]]
path = "payment/prod/**"
capabilities = ["read", "list"]
"#;

    const NO_STRIPE: &str = r#"
[[deny]]
path = "*/prod/stripe/**"
"#;

    #[test]
    fn allow_default_deny_and_capability_lists() {
        let svc = policy("payment-service", SERVICE);
        let ctx = IdentityContext::named("payment-service");
        let allowed = "allowed by policy \"payment-service\", allow rule 1 (`payment/prod/**`)";
        check(&[&svc], &ctx, "payment/prod/DATABASE_URL", Read, allowed);
        check(&[&svc], &ctx, "payment/prod/stripe/API_KEY", List, allowed);
        check(&[&svc], &ctx, "payment/prod", List, allowed);
        let default = "denied: no rule allows it (default deny)";
        check(&[&svc], &ctx, "payment/prod/DATABASE_URL", Write, default);
        check(&[&svc], &ctx, "payment/prod/DATABASE_URL", Admin, default);
        check(&[&svc], &ctx, "payment/dev/DATABASE_URL", Read, default);
        check(&[&svc], &ctx, "shipping/prod/DATABASE_URL", Read, default);
        check(&[&svc], &ctx, "payment", List, default);
        check(&[], &ctx, "payment/prod/DATABASE_URL", Read, default);
        check(&[&policy("empty", "")], &ctx, "payment/prod/X", Read, default);
    }

    #[test]
    fn deny_wins_across_policies() {
        let svc = policy("payment-service", SERVICE);
        let no_stripe = policy("no-stripe", NO_STRIPE);
        let admin = policy("admin", "[[allow]]\npath = \"**\"\ncapabilities = [\"admin\"]\n");
        let ctx = IdentityContext::named("payment-service");
        let denied = "denied by policy \"no-stripe\", deny rule 1 (`*/prod/stripe/**`)";
        check(&[&svc, &no_stripe], &ctx, "payment/prod/stripe/API_KEY", Read, denied);
        check(&[&no_stripe, &svc], &ctx, "payment/prod/stripe/API_KEY", Read, denied);
        check(
            &[&svc, &no_stripe, &admin],
            &ctx,
            "payment/prod/stripe/API_KEY",
            Admin,
            denied,
        );
        check(&[&svc, &no_stripe], &ctx, "payment/prod/stripe", List, denied);
        check(
            &[&svc, &no_stripe],
            &ctx,
            "payment/prod/STRIPE_KEY",
            Read,
            "allowed by policy \"payment-service\", allow rule 1 (`payment/prod/**`)",
        );
    }

    #[test]
    fn deny_capabilities_limit_what_it_denies() {
        let p = policy(
            "p",
            r#"
[[allow]]
path = "**"
capabilities = ["read", "list", "write"]
[[deny]]
path = "*/prod/**"
capabilities = ["write"]
[[deny]]
path = "*/prod/stripe/**"
capabilities = ["read"]
"#,
        );
        let ctx = IdentityContext::default();
        check(
            &[&p],
            &ctx,
            "a/prod/KEY",
            Write,
            "denied by policy \"p\", deny rule 1 (`*/prod/**`)",
        );
        check(
            &[&p],
            &ctx,
            "a/prod/KEY",
            Read,
            "allowed by policy \"p\", allow rule 1 (`**`)",
        );
        check(
            &[&p],
            &ctx,
            "a/prod/stripe/KEY",
            Read,
            "denied by policy \"p\", deny rule 2 (`*/prod/stripe/**`)",
        );
        check(
            &[&p],
            &ctx,
            "a/prod/stripe/KEY",
            List,
            "allowed by policy \"p\", allow rule 1 (`**`)",
        );
        check(
            &[&p],
            &ctx,
            "a/prod/stripe/KEY",
            Write,
            "denied by policy \"p\", deny rule 1 (`*/prod/**`)",
        );
    }

    #[test]
    fn admin_implies_every_capability() {
        let admin = policy("ops", "[[allow]]\npath = \"payment/**\"\ncapabilities = [\"admin\"]\n");
        let ctx = IdentityContext::named("ops");
        for c in Capability::ALL {
            check(
                &[&admin],
                &ctx,
                "payment/prod/KEY",
                c,
                "allowed by policy \"ops\", allow rule 1 (`payment/**`)",
            );
            check(
                &[&admin],
                &ctx,
                "shipping/prod/KEY",
                c,
                "denied: no rule allows it (default deny)",
            );
        }
        let deny_admin = policy("d", "[[deny]]\npath = \"*/prod/**\"\ncapabilities = [\"admin\"]\n");
        for c in Capability::ALL {
            check(
                &[&admin, &deny_admin],
                &ctx,
                "payment/prod/KEY",
                c,
                "denied by policy \"d\", deny rule 1 (`*/prod/**`)",
            );
        }
    }

    #[test]
    fn first_matching_rule_is_reported() {
        let p = policy(
            "p",
            "[[allow]]\npath = \"a/*\"\ncapabilities = [\"list\"]\n[[allow]]\npath = \"a/**\"\ncapabilities = [\"read\"]\n[[allow]]\npath = \"**\"\ncapabilities = [\"read\"]\n",
        );
        let ctx = IdentityContext::default();
        check(
            &[&p],
            &ctx,
            "a/b",
            Read,
            "allowed by policy \"p\", allow rule 2 (`a/**`)",
        );
        check(
            &[&p],
            &ctx,
            "a/b",
            List,
            "allowed by policy \"p\", allow rule 1 (`a/*`)",
        );
        check(&[&p], &ctx, "b", Read, "allowed by policy \"p\", allow rule 3 (`**`)");
    }

    #[test]
    fn root_is_an_ordinary_policy_name() {
        let root = policy("root", "");
        check(
            &[&root],
            &IdentityContext::named("root"),
            "a/b/c",
            Read,
            "denied: no rule allows it (default deny)",
        );
    }

    #[test]
    fn invalid_resources_are_denied() {
        let all = policy("all", "[[allow]]\npath = \"**\"\ncapabilities = [\"admin\"]\n");
        let ctx = IdentityContext::default();
        for bad in ["", "a//b", "/a", "a/", "a/../b", "a/*", "a b"] {
            check(
                &[&all],
                &ctx,
                bad,
                Read,
                &format!("denied: {bad:?} is not a valid resource path"),
            );
        }
        let deep = ["a"; MAX_RESOURCE_SEGMENTS + 1].join("/");
        assert!(!evaluate(&[&all], &ctx, &deep, Read).allowed);
    }

    #[test]
    fn templates_follow_the_caller() {
        let team = policy(
            "team",
            "[[allow]]\npath = \"{{identity.metadata.team}}/*/**\"\ncapabilities = [\"read\"]\n",
        );
        let own = policy(
            "own",
            "[[allow]]\npath = \"*/dev/users/{{identity.name}}/**\"\ncapabilities = [\"write\"]\n",
        );
        let alice = IdentityContext::named("alice").with_metadata("team", "payment");
        let allowed = "allowed by policy \"team\", allow rule 1 (`{{identity.metadata.team}}/*/**`)";
        check(&[&team, &own], &alice, "payment/prod/KEY", Read, allowed);
        check(
            &[&team, &own],
            &alice,
            "shipping/prod/KEY",
            Read,
            "denied: no rule allows it (default deny)",
        );
        check(
            &[&team, &own],
            &alice,
            "x/dev/users/alice/TOKEN",
            Write,
            "allowed by policy \"own\", allow rule 1 (`*/dev/users/{{identity.name}}/**`)",
        );
        check(
            &[&team, &own],
            &alice,
            "x/dev/users/bob/TOKEN",
            Write,
            "denied: no rule allows it (default deny)",
        );
        for hostile in ["*", "**", "payment/**", "", " ", "..", "{{identity.name}}"] {
            let mallory = IdentityContext::named("*").with_metadata("team", hostile);
            for resource in ["payment/prod/KEY", "x/dev/users/alice/TOKEN", "x/dev/users/bob/TOKEN"] {
                for c in Capability::ALL {
                    assert!(
                        !evaluate(&[&team, &own], &mallory, resource, c).allowed,
                        "{hostile:?} {resource}"
                    );
                }
            }
            assert!(!may_access_under(&[&team, &own], &mallory, "", Read), "{hostile:?}");
        }
    }

    #[test]
    fn a_deny_whose_template_cannot_be_filled_in_does_not_apply() {
        // Documented: such a rule matches nothing, deny rules included.
        let all = policy("all", "[[allow]]\npath = \"**\"\ncapabilities = [\"read\"]\n");
        let deny = policy("d", "[[deny]]\npath = \"{{identity.metadata.team}}/prod/**\"\n");
        let no_team = IdentityContext::named("x");
        assert!(evaluate(&[&all, &deny], &no_team, "payment/prod/KEY", Read).allowed);
        let team = IdentityContext::named("x").with_metadata("team", "payment");
        assert!(!evaluate(&[&all, &deny], &team, "payment/prod/KEY", Read).allowed);
        assert!(evaluate(&[&all, &deny], &team, "shipping/prod/KEY", Read).allowed);
    }

    /// The issue's authorization matrix, at the level of the policy engine.
    #[test]
    fn authorization_matrix() {
        let payment = policy("payment-service", SERVICE);
        let shipping = policy("shipping-service", &SERVICE.replace("payment", "shipping"));
        let no_stripe = policy("no-stripe", NO_STRIPE);
        let developer = policy(
            "developer",
            "[[allow]]\npath = \"*/dev/**\"\ncapabilities = [\"read\", \"list\", \"write\", \"delete\"]\n",
        );
        let admin = policy("admin", "[[allow]]\npath = \"**\"\ncapabilities = [\"admin\"]\n");
        let expect = |who: &str, project: &str, env: &str, key: &str, c: Capability| match who {
            "payment-service" | "shipping-service" => {
                who.starts_with(project) && env == "prod" && matches!(c, Read | List) && !key.starts_with("stripe/")
            }
            "developer" => env == "dev" && matches!(c, Read | List | Write | Delete),
            "admin" => true,
            _ => unreachable!("no such identity {who}"),
        };
        let cases: [(&str, Vec<&Policy>); 4] = [
            ("payment-service", vec![&payment, &no_stripe]),
            ("shipping-service", vec![&shipping, &no_stripe]),
            ("developer", vec![&developer, &no_stripe]),
            ("admin", vec![&admin]),
        ];
        for (who, policies) in &cases {
            let ctx = IdentityContext::named(*who);
            for project in ["payment", "shipping"] {
                for env in ["dev", "staging", "prod"] {
                    for key in ["DATABASE_URL", "stripe/API_KEY"] {
                        for c in Capability::ALL {
                            let resource = format!("{project}/{env}/{key}");
                            let got = evaluate(policies, &ctx, &resource, c);
                            assert_eq!(
                                got.allowed,
                                expect(who, project, env, key, c),
                                "{who} {c} {resource}: {got}"
                            );
                        }
                    }
                    let visible = may_access_under(policies, &ctx, &format!("{project}/{env}"), List);
                    assert_eq!(
                        visible,
                        expect(who, project, env, "DATABASE_URL", List),
                        "{who} lists {project}/{env}"
                    );
                }
            }
        }
    }

    fn check_listing(rules: &str, ctx: &IdentityContext, prefix: &str, capability: Capability, expected: bool) {
        let p = policy("p", rules);
        assert_eq!(
            may_access_under(&[&p], ctx, prefix, capability),
            expected,
            "{capability} under {prefix:?} with\n{rules}"
        );
    }

    #[test]
    fn listing_follows_allows() {
        let ctx = IdentityContext::default();
        let svc = "[[allow]]\npath = \"payment/prod/**\"\ncapabilities = [\"read\"]\n";
        check_listing(svc, &ctx, "", Read, true);
        check_listing(svc, &ctx, "payment", Read, true);
        check_listing(svc, &ctx, "payment/prod", Read, true);
        check_listing(svc, &ctx, "payment/prod/stripe", Read, true);
        check_listing(svc, &ctx, "payment/dev", Read, false);
        check_listing(svc, &ctx, "shipping", Read, false);
        check_listing(svc, &ctx, "payment", List, false);
        check_listing(svc, &ctx, "bad//prefix", Read, false);
        check_listing("", &ctx, "", Read, false);
        let dev = "[[allow]]\npath = \"*/dev/**\"\ncapabilities = [\"list\"]\n";
        check_listing(dev, &ctx, "anything", List, true);
        check_listing(dev, &ctx, "anything/dev", List, true);
        check_listing(dev, &ctx, "anything/prod", List, false);
        let key = "[[allow]]\npath = \"**/API_KEY\"\ncapabilities = [\"read\"]\n";
        check_listing(key, &ctx, "x/y/z", Read, true);
    }

    #[test]
    fn listing_hides_what_denies_cover_together() {
        let ctx = IdentityContext::default();
        // The allow lies entirely inside the deny: nothing under payment is readable.
        let covered = "[[allow]]\npath = \"payment/prod/stripe/**\"\ncapabilities = [\"read\"]\n[[deny]]\npath = \"*/prod/stripe/**\"\n";
        check_listing(covered, &ctx, "payment", Read, false);
        check_listing(covered, &ctx, "", Read, false);
        // A deny on part of the subtree hides only that part.
        let partial =
            "[[allow]]\npath = \"payment/**\"\ncapabilities = [\"read\"]\n[[deny]]\npath = \"payment/prod/**\"\n";
        check_listing(partial, &ctx, "payment", Read, true);
        check_listing(partial, &ctx, "payment/dev", Read, true);
        check_listing(partial, &ctx, "payment/prod", Read, false);
        check_listing(partial, &ctx, "payment/prod/x", Read, false);
        // Several denies that only together cover the subtree.
        let together = "[[allow]]\npath = \"a/**\"\ncapabilities = [\"read\"]\n[[deny]]\npath = \"a\"\n[[deny]]\npath = \"a/*\"\n[[deny]]\npath = \"a/*/**\"\n";
        check_listing(together, &ctx, "a", Read, false);
        // In-segment globs: API_URL is both API_* and *_URL.
        let globs = "[[allow]]\npath = \"*/*/API_URL\"\ncapabilities = [\"read\"]\n[[deny]]\npath = \"**/*_URL\"\n";
        check_listing(globs, &ctx, "", Read, false);
        let globs = "[[allow]]\npath = \"*/*/API_*\"\ncapabilities = [\"read\"]\n[[deny]]\npath = \"**/*_URL\"\n[[deny]]\npath = \"**/API_KEY\"\n";
        check_listing(globs, &ctx, "p/e", Read, true);
        // A deny of another capability hides nothing.
        let other = "[[allow]]\npath = \"a/**\"\ncapabilities = [\"read\"]\n[[deny]]\npath = \"a/**\"\ncapabilities = [\"write\"]\n";
        check_listing(other, &ctx, "a", Read, true);
        check_listing(other, &ctx, "a", Write, false);
    }

    #[test]
    fn listing_respects_the_depth_limit() {
        let ctx = IdentityContext::default();
        let stars = |n: usize| {
            format!(
                "[[allow]]\npath = \"{}\"\ncapabilities = [\"read\"]\n",
                vec!["*"; n].join("/")
            )
        };
        check_listing(&stars(MAX_RESOURCE_SEGMENTS), &ctx, "a", Read, true);
        check_listing(&stars(MAX_RESOURCE_SEGMENTS + 1), &ctx, "a", Read, false);
    }

    #[test]
    fn listing_with_templates() {
        let team = "[[allow]]\npath = \"{{identity.metadata.team}}/*/**\"\ncapabilities = [\"list\"]\n";
        let payment = IdentityContext::named("a").with_metadata("team", "payment");
        check_listing(team, &payment, "payment", List, true);
        check_listing(team, &payment, "shipping", List, false);
        for hostile in ["*", "**", "payment/**", ""] {
            let ctx = IdentityContext::named("a").with_metadata("team", hostile);
            check_listing(team, &ctx, "payment", List, false);
            check_listing(team, &ctx, "", List, false);
        }
    }

    // Property tests. Patterns use the segment matchers `a`, `b`, `*`, `**`,
    // `a*`, `*a` and two templates (`{{identity.name}}` = `ab`, and a metadata
    // value `*` that must make its rule match nothing). Every valid segment
    // answers those matchers like one of SEGMENTS, so enumerating paths over
    // SEGMENTS is a complete brute force up to a length.
    const SEGMENTS: [&str; 7] = ["a", "b", "c", "aa", "ab", "ac", "ba"];
    const BRUTE_FORCE_DEPTH: usize = 4;

    fn ctx() -> IdentityContext {
        IdentityContext::named("ab").with_metadata("bad", "*")
    }

    fn pattern() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            4 => Just("a"), 2 => Just("b"), 3 => Just("*"), 3 => Just("**"), 1 => Just("a*"), 1 => Just("*a"),
            1 => Just("{{identity.name}}"), 1 => Just("{{identity.metadata.bad}}"),
        ];
        proptest::collection::vec(segment, 1..=4).prop_map(|s| s.join("/"))
    }

    fn capabilities() -> impl Strategy<Value = Vec<Capability>> {
        proptest::collection::vec(proptest::sample::select(Capability::ALL.to_vec()), 1..=2)
    }

    /// TOML text of a policy from (is_deny, pattern, capabilities; `None` = all, deny only).
    fn document(rules: &[(bool, String, Option<Vec<Capability>>)]) -> String {
        let mut text = String::new();
        for (deny, path, caps) in rules {
            text += if *deny { "[[deny]]\n" } else { "[[allow]]\n" };
            text += &format!("path = \"{path}\"\n");
            match caps {
                Some(caps) => {
                    let words: Vec<String> = caps.iter().map(|c| format!("\"{c}\"")).collect();
                    text += &format!("capabilities = [{}]\n", words.join(", "));
                }
                None if !*deny => text += "capabilities = [\"read\"]\n",
                None => {}
            }
        }
        text
    }

    fn policies() -> impl Strategy<Value = Vec<Policy>> {
        let rule = (
            proptest::bool::weighted(0.35),
            pattern(),
            proptest::option::of(capabilities()),
        );
        let one = proptest::collection::vec(rule, 0..=4);
        proptest::collection::vec(one, 1..=3).prop_map(|docs| {
            docs.iter()
                .enumerate()
                .map(|(i, rules)| policy(&format!("p{i}"), &document(rules)))
                .collect()
        })
    }

    fn path() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(SEGMENTS.to_vec()), 1..=BRUTE_FORCE_DEPTH)
            .prop_map(|s| s.join("/"))
    }

    /// Every path of 1 to `BRUTE_FORCE_DEPTH` segments over SEGMENTS.
    fn all_paths() -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        let mut layer = vec![String::new()];
        for _ in 0..BRUTE_FORCE_DEPTH {
            layer = layer
                .iter()
                .flat_map(|p| {
                    SEGMENTS.iter().map(move |s| {
                        if p.is_empty() {
                            s.to_string()
                        } else {
                            format!("{p}/{s}")
                        }
                    })
                })
                .collect();
            all.extend(layer.iter().cloned());
        }
        all
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn listing_agrees_with_brute_force(
            policies in policies(),
            capability in proptest::sample::select(Capability::ALL.to_vec()),
            pairs in proptest::collection::vec((proptest::sample::select(SEGMENTS.to_vec()), proptest::sample::select(SEGMENTS.to_vec())), 3),
        ) {
            let refs: Vec<&Policy> = policies.iter().collect();
            let ctx = ctx();
            let set = PolicySet::new(&refs, &ctx);
            let allowed: Vec<String> = all_paths().into_iter().filter(|p| set.evaluate(p, capability).allowed).collect();
            let mut prefixes: Vec<String> = vec![String::new()];
            prefixes.extend(SEGMENTS.iter().map(|s| s.to_string()));
            prefixes.extend(pairs.iter().map(|(a, b)| format!("{a}/{b}")));
            for prefix in &prefixes {
                let expected = allowed.iter().any(|p| prefix.is_empty() || p == prefix || p.starts_with(&format!("{prefix}/")));
                let got = set.reachable(prefix, capability, BRUTE_FORCE_DEPTH);
                prop_assert_eq!(got, expected, "{} under {:?}; allowed paths: {:?}\npolicies: {:#?}", capability, prefix, allowed, policies.iter().map(Policy::source).collect::<Vec<_>>());
            }
        }

        #[test]
        fn adding_a_deny_never_allows_more(
            policies in policies(),
            deny in (pattern(), proptest::option::of(capabilities())),
            path in path(),
            capability in proptest::sample::select(Capability::ALL.to_vec()),
        ) {
            let ctx = ctx();
            let refs: Vec<&Policy> = policies.iter().collect();
            let before = evaluate(&refs, &ctx, &path, capability);
            let extra = policy("extra", &document(&[(true, deny.0, deny.1)]));
            let mut with_deny = refs.clone();
            with_deny.push(&extra);
            let after = evaluate(&with_deny, &ctx, &path, capability);
            prop_assert!(before.allowed || !after.allowed, "deny turned into allow: {before} -> {after}");
            let rule = &extra.deny_rules()[0];
            if rule.covers(capability) && rule.pattern().matches(&ctx, &path) {
                prop_assert!(!after.allowed, "matching deny did not deny: {after}");
            } else {
                prop_assert_eq!(before, after);
            }
        }

        #[test]
        fn a_matching_deny_always_wins(
            policies in policies(),
            path in path(),
            capability in proptest::sample::select(Capability::ALL.to_vec()),
        ) {
            let ctx = ctx();
            let extra = policy("extra", &document(&[(true, path.clone(), Some(vec![capability]))]));
            let mut refs: Vec<&Policy> = policies.iter().collect();
            refs.insert(0, &extra);
            refs.push(&extra);
            let decision = evaluate(&refs, &ctx, &path, capability);
            prop_assert!(!decision.allowed);
            let is_deny = matches!(decision.explanation, Explanation::Rule { kind: RuleKind::Deny, .. });
            prop_assert!(is_deny);
        }

        #[test]
        fn adding_an_allow_never_denies_more(
            policies in policies(),
            allow in (pattern(), capabilities()),
            path in path(),
            capability in proptest::sample::select(Capability::ALL.to_vec()),
        ) {
            let ctx = ctx();
            let refs: Vec<&Policy> = policies.iter().collect();
            let before = evaluate(&refs, &ctx, &path, capability);
            let extra = policy("extra", &document(&[(false, allow.0, Some(allow.1))]));
            let mut with_allow = refs.clone();
            with_allow.push(&extra);
            let after = evaluate(&with_allow, &ctx, &path, capability);
            prop_assert!(!before.allowed || after.allowed, "allow turned into deny: {before} -> {after}");
        }
    }
}
