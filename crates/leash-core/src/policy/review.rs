//! Access review: the policy engine's answer asked of many callers or many
//! resources at once ("who can read this path?", "what may this identity do?").
//!
//! It owns only the iteration and what is kept of each answer: every verdict
//! comes from [`PolicySet::evaluate`], so a review can never disagree with
//! what a request would be answered. It must never evaluate a rule itself,
//! and, like the rest of the engine, it knows nothing about root tokens,
//! storage or where a caller's policies come from.

use super::{Capability, Decision, Explanation, IdentityContext, Policy, PolicySet, RuleKind};

/// One caller under review: the context its templates see and every policy
/// in force for it, in the order its requests evaluate them.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub context: IdentityContext,
    pub policies: Vec<&'a Policy>,
}

/// Where one subject stands on the resource asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The subject's position in the slice given to [`who_can`].
    pub subject: usize,
    /// The engine's decision; its explanation is always a rule
    /// ([`Explanation::Rule`]): the allow that grants, or the deny that wins.
    pub decision: Decision,
}

/// Every subject that the engine allows `capability` on `resource`, with the
/// rule that grants it, and every subject refused by a deny rule (the deny
/// that wins over whatever allow it has), in the order of `subjects`.
/// Subjects that no rule speaks for (default deny) are left out.
pub fn who_can(subjects: &[Subject<'_>], resource: &str, capability: Capability) -> Vec<Standing> {
    subjects
        .iter()
        .enumerate()
        .filter_map(|(subject, s)| {
            let decision = PolicySet::new(&s.policies, &s.context).evaluate(resource, capability);
            decided_by_rule(&decision).then_some(Standing { subject, decision })
        })
        .collect()
}

/// Whether a rule (an allow, or a deny) decided, rather than the default.
fn decided_by_rule(decision: &Decision) -> bool {
    match &decision.explanation {
        Explanation::Rule { kind, .. } => decision.allowed || *kind == RuleKind::Deny,
        Explanation::DefaultDeny | Explanation::InvalidResource { .. } => false,
    }
}

/// One capability a caller holds on one resource, and the allow rule behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding<'r> {
    pub resource: &'r str,
    pub capability: Capability,
    pub explanation: Explanation,
}

/// Every capability `set` allows on each of `resources` (resources in the
/// order given, capabilities in [`Capability::ALL`] order), each with the
/// rule that grants it.
pub fn what_can<'r>(set: &PolicySet<'_>, resources: impl IntoIterator<Item = &'r str>) -> Vec<Holding<'r>> {
    resources
        .into_iter()
        .flat_map(|resource| {
            Capability::ALL.into_iter().filter_map(move |capability| {
                let decision = set.evaluate(resource, capability);
                decision.allowed.then_some(Holding {
                    resource,
                    capability,
                    explanation: decision.explanation,
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::policy::evaluate;

    fn policy(name: &str, text: &str) -> Policy {
        Policy::parse(name, text).expect("test policies are valid")
    }

    #[test]
    fn who_can_names_grants_and_winning_denies_but_not_the_default() {
        let reader = policy(
            "reader",
            "[[allow]]\npath = \"payment/prod/**\"\ncapabilities = [\"read\"]\n",
        );
        let fence = policy("fence", "[[deny]]\npath = \"payment/prod/DB_PASSWORD\"\n");
        let other = policy(
            "other",
            "[[allow]]\npath = \"shipping/**\"\ncapabilities = [\"read\"]\n",
        );
        let subjects = [
            Subject {
                context: IdentityContext::named("granted"),
                policies: vec![&reader],
            },
            Subject {
                context: IdentityContext::named("fenced"),
                policies: vec![&reader, &fence],
            },
            Subject {
                context: IdentityContext::named("elsewhere"),
                policies: vec![&other],
            },
        ];
        let found = who_can(&subjects, "payment/prod/DB_PASSWORD", Capability::Read);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].subject, found[0].decision.allowed), (0, true));
        assert_eq!(
            found[0].decision.explanation,
            Explanation::Rule {
                policy: "reader".into(),
                kind: RuleKind::Allow,
                index: 1,
                pattern: "payment/prod/**".into()
            }
        );
        assert_eq!((found[1].subject, found[1].decision.allowed), (1, false));
        assert!(matches!(
            &found[1].decision.explanation,
            Explanation::Rule { policy, kind: RuleKind::Deny, .. } if policy == "fence"
        ));
        assert!(who_can(&subjects, "not a path", Capability::Read).is_empty());
    }

    #[test]
    fn what_can_lists_each_capability_held_with_its_rule() {
        let p = policy(
            "p",
            "[[allow]]\npath = \"a/b/*\"\ncapabilities = [\"read\", \"list\"]\n\n[[allow]]\npath = \"a/b/K\"\ncapabilities = [\"admin\"]\n\n[[deny]]\npath = \"a/b/K\"\ncapabilities = [\"destroy\"]\n",
        );
        let ctx = IdentityContext::named("x");
        let set = PolicySet::new(&[&p], &ctx);
        let held = what_can(&set, ["a/b/J", "a/b/K", "c/d/E"]);
        let summary: Vec<(&str, Capability, usize)> = held
            .iter()
            .map(|h| match &h.explanation {
                Explanation::Rule { index, .. } => (h.resource, h.capability, *index),
                other => panic!("an allowed holding is explained by a rule, not {other:?}"),
            })
            .collect();
        use Capability::*;
        assert_eq!(
            summary,
            vec![
                ("a/b/J", Read, 1),
                ("a/b/J", List, 1),
                ("a/b/K", Read, 1),
                ("a/b/K", List, 1),
                ("a/b/K", Write, 2),
                ("a/b/K", Delete, 2),
                ("a/b/K", Rotate, 2),
                ("a/b/K", Admin, 2),
            ],
            "admin implies every capability but the denied one (a deny of destroy is not one of admin); \
             the first allow explains"
        );
    }

    // ---- property: who_can agrees with evaluating subject by subject ----

    const SEGMENTS: [&str; 4] = ["a", "b", "ab", "c"];

    fn pattern() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            4 => Just("a"), 2 => Just("b"), 3 => Just("*"), 3 => Just("**"), 1 => Just("a*"),
            2 => Just("{{identity.name}}"), 2 => Just("{{identity.metadata.team}}"),
        ];
        proptest::collection::vec(segment, 1..=3).prop_map(|s| s.join("/"))
    }

    fn rule() -> impl Strategy<Value = String> {
        let caps = proptest::collection::btree_set(proptest::sample::select(Capability::ALL.to_vec()), 1..=2);
        (proptest::bool::weighted(0.3), pattern(), caps).prop_map(|(deny, path, caps)| {
            let words: Vec<String> = caps.iter().map(|c| format!("\"{c}\"")).collect();
            let kind = if deny { "deny" } else { "allow" };
            format!("[[{kind}]]\npath = \"{path}\"\ncapabilities = [{}]\n", words.join(", "))
        })
    }

    /// Policies `p0..`, each of up to four rules.
    fn policies() -> impl Strategy<Value = Vec<Policy>> {
        proptest::collection::vec(proptest::collection::vec(rule(), 0..=4), 1..=4).prop_map(|docs| {
            docs.iter()
                .enumerate()
                .map(|(i, rules)| policy(&format!("p{i}"), &rules.join("\n")))
                .collect()
        })
    }

    /// An identity: its name, its team metadata (if any), the indexes of its
    /// own policies and of the groups it belongs to.
    type Identity = (String, Option<String>, BTreeSet<usize>, BTreeSet<usize>);

    fn identities() -> impl Strategy<Value = Vec<Identity>> {
        let name = proptest::sample::select(SEGMENTS.to_vec()).prop_map(str::to_owned);
        let team = proptest::option::of(proptest::sample::select(vec!["a", "b", "*"]).prop_map(str::to_owned));
        let set = || proptest::collection::btree_set(0usize..4, 0..=2);
        proptest::collection::vec((name, team, set(), set()), 0..=5)
    }

    fn path() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(SEGMENTS.to_vec()), 1..=4).prop_map(|s| s.join("/"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn who_can_is_exactly_those_the_engine_allows_one_by_one(
            policies in policies(),
            groups in proptest::collection::vec(proptest::collection::btree_set(0usize..4, 0..=3), 0..=4),
            identities in identities(),
            path in path(),
            capability in proptest::sample::select(Capability::ALL.to_vec()),
        ) {
            // Effective policies as the server's directory builds them: own
            // first, then each group's, each once; unknown indexes (deleted
            // policies, groups) are skipped.
            let subjects: Vec<Subject<'_>> = identities
                .iter()
                .map(|(name, team, own, member_of)| {
                    let mut names: Vec<usize> = own.iter().copied().collect();
                    for g in member_of.iter().filter_map(|g| groups.get(*g)) {
                        names.extend(g.iter().copied().filter(|p| !names.contains(p)).collect::<Vec<_>>());
                    }
                    let mut context = IdentityContext::named(name.clone());
                    if let Some(team) = team {
                        context = context.with_metadata("team", team.clone());
                    }
                    Subject { context, policies: names.iter().filter_map(|i| policies.get(*i)).collect() }
                })
                .collect();
            let found = who_can(&subjects, &path, capability);
            let allowed: BTreeSet<usize> = found.iter().filter(|s| s.decision.allowed).map(|s| s.subject).collect();
            let expected: BTreeSet<usize> = subjects
                .iter()
                .enumerate()
                .filter(|(_, s)| evaluate(&s.policies, &s.context, &path, capability).allowed)
                .map(|(i, _)| i)
                .collect();
            prop_assert_eq!(&allowed, &expected);
            for standing in &found {
                let s = &subjects[standing.subject];
                let one_by_one = evaluate(&s.policies, &s.context, &path, capability);
                prop_assert_eq!(&standing.decision, &one_by_one, "the reported rule is the engine's");
                let by_rule = matches!(standing.decision.explanation, Explanation::Rule { .. });
                prop_assert!(by_rule, "a standing is explained by a rule");
            }
            let denied_by_rule: BTreeSet<usize> = subjects
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    let d = evaluate(&s.policies, &s.context, &path, capability);
                    !d.allowed && matches!(d.explanation, Explanation::Rule { kind: RuleKind::Deny, .. })
                })
                .map(|(i, _)| i)
                .collect();
            let reported_denied: BTreeSet<usize> = found.iter().filter(|s| !s.decision.allowed).map(|s| s.subject).collect();
            prop_assert_eq!(reported_denied, denied_by_rule, "every winning deny is reported, nothing else");
        }

        #[test]
        fn what_can_is_exactly_what_the_engine_allows(
            policies in policies(),
            name in proptest::sample::select(SEGMENTS.to_vec()),
            paths in proptest::collection::vec(path(), 0..=6),
        ) {
            let refs: Vec<&Policy> = policies.iter().collect();
            let ctx = IdentityContext::named(name).with_metadata("team", "b");
            let set = PolicySet::new(&refs, &ctx);
            let held = what_can(&set, paths.iter().map(String::as_str));
            let expected: Vec<(String, Capability, Explanation)> = paths
                .iter()
                .flat_map(|p| Capability::ALL.into_iter().map(move |c| (p.clone(), c)))
                .filter_map(|(p, c)| {
                    let d = evaluate(&refs, &ctx, &p, c);
                    d.allowed.then_some((p, c, d.explanation))
                })
                .collect();
            let got: Vec<(String, Capability, Explanation)> =
                held.into_iter().map(|h| (h.resource.to_owned(), h.capability, h.explanation)).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
