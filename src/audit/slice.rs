//! Which rules can apply to a request, read from the rules themselves. A rule whose `when`
//! condition requires `principal in Purpose::"x"` (or one of several such tests) cannot hold
//! for an activity outside that purpose, so that activity's requests leave it out: the answer
//! is the same, and an activity is asked a handful of rules instead of the whole pack. The
//! same goes for the request's context: `context.purpose in Purpose::"x"` and boolean flags
//! (`context.same_organisation`, `!context.indirect`) are known before Cedar is asked.

use std::collections::HashMap;

use cedar_policy::{Effect, Policy, PolicySet};
use cedar_policy_core::ast::{Context, EntityUID, Expr, Literal, SlotEnv, Value, ValueKind};
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use serde_json::Value as JsonValue;

use super::pack::Action;
use crate::vocabulary::{Kind, Vocabulary};

/// The vocabulary entities an entity is `in`: `("Purpose", "education")`, …
pub(super) type Ancestors<'a> = FxHashSet<(&'static str, &'a str)>;

/// Entity types whose membership the audit knows before asking Cedar.
const SLICED_TYPES: [(&str, Kind); 3] = [
    ("Purpose", Kind::Purpose),
    ("Category", Kind::DataCategory),
    ("Subject", Kind::DataSubject),
];

/// A conjunct of a rule's condition: one of these tests must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Guard {
    any_of: Vec<Test>,
}

/// A test the audit can answer before asking Cedar.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    /// `principal in T::"x"` or `resource in T::"x"`.
    In {
        on_resource: bool,
        entity: (&'static str, String),
    },
    /// `context.purpose in Purpose::"x"`.
    ContextIn {
        attr: String,
        kind: Kind,
        entity: EntityUID,
    },
    /// `context.flag` or `!context.flag`.
    ContextFlag { attr: String, holds: bool },
}

/// What is known of a request before asking Cedar.
#[derive(Clone, Copy)]
pub(super) struct Known<'k> {
    pub principal: Option<&'k Ancestors<'k>>,
    pub resource: Option<&'k Ancestors<'k>>,
    pub context: &'k Context,
    pub vocabulary: &'k Vocabulary,
}

impl Known<'_> {
    fn context_attr(&self, attr: &str) -> Option<&Value> {
        match self.context {
            Context::Value(record) => record.get(attr),
            Context::RestrictedResidual(_) => None,
        }
    }
}

impl Test {
    /// Whether the test holds, when what it reads is known.
    fn holds(&self, known: &Known<'_>) -> Option<bool> {
        match self {
            Test::In {
                on_resource,
                entity: (t, id),
            } => {
                let ancestors = if *on_resource {
                    known.resource
                } else {
                    known.principal
                };
                Some(ancestors?.contains(&(*t, id.as_str())))
            }
            Test::ContextIn { attr, kind, entity } => {
                match known.context_attr(attr)?.value_kind() {
                    ValueKind::Lit(Literal::EntityUID(value)) => Some(
                        value.entity_type() == entity.entity_type()
                            && known.vocabulary.is_within(
                                *kind,
                                value.eid().as_ref(),
                                entity.eid().as_ref(),
                            ),
                    ),
                    _ => None,
                }
            }
            Test::ContextFlag { attr, holds } => match known.context_attr(attr)?.value_kind() {
                ValueKind::Lit(Literal::Bool(b)) => Some(b == holds),
                _ => None,
            },
        }
    }
}

/// The tests a rule's `when` conditions require, one guard per conjunct.
pub(super) fn guards(policy: &Policy) -> Vec<Guard> {
    let Ok(json) = policy.to_json() else {
        return Vec::new();
    };
    let conditions = json["conditions"].as_array().cloned().unwrap_or_default();
    conditions
        .iter()
        .filter(|c| c["kind"] == "when")
        .flat_map(|c| operands(&c["body"], "&&"))
        .filter_map(guard)
        .collect()
}

/// The operands of a chain of `op` (`&&` or `||`), in order.
fn operands<'v>(expr: &'v JsonValue, op: &str) -> Vec<&'v JsonValue> {
    match expr.get(op) {
        Some(pair) => {
            let mut out = operands(&pair["left"], op);
            out.extend(operands(&pair["right"], op));
            out
        }
        None => vec![expr],
    }
}

/// A disjunction of tests the audit can answer (`principal in T::"x" || context.flag …`).
fn guard(expr: &JsonValue) -> Option<Guard> {
    let any_of = operands(expr, "||")
        .into_iter()
        .map(test)
        .collect::<Option<Vec<_>>>()?;
    Some(Guard { any_of })
}

fn test(expr: &JsonValue) -> Option<Test> {
    if let Some(negated) = expr.get("!") {
        let attr = context_attr(&negated["arg"])?;
        return Some(Test::ContextFlag { attr, holds: false });
    }
    let Some(test) = expr.get("in") else {
        let attr = context_attr(expr)?;
        return Some(Test::ContextFlag { attr, holds: true });
    };
    let entity = &test["right"]["Value"]["__entity"];
    let (type_name, kind) = SLICED_TYPES
        .into_iter()
        .find(|(t, _)| entity["type"] == *t)?;
    let id = entity["id"].as_str()?;
    match test["left"]["Var"].as_str() {
        Some(var @ ("principal" | "resource")) => Some(Test::In {
            on_resource: var == "resource",
            entity: (type_name, id.to_owned()),
        }),
        Some(_) => None,
        None => Some(Test::ContextIn {
            attr: context_attr(&test["left"])?,
            kind,
            entity: super::entities::uid(type_name, id),
        }),
    }
}

/// `context.attr`: the attribute's name.
fn context_attr(expr: &JsonValue) -> Option<String> {
    let get = expr.get(".")?;
    (get["left"]["Var"] == "context").then_some(())?;
    Some(get["attr"].as_str()?.to_owned())
}

/// A rule as the evaluator takes it: its condition (scope and `when`/`unless` clauses as one
/// expression) is built once, not at every request.
#[derive(Debug)]
pub(super) struct Compiled {
    pub id: String,
    pub forbid: bool,
    pub condition: Expr,
    /// The values of the template slots (none for the static rules of a pack).
    pub slots: SlotEnv,
}

impl Compiled {
    fn of(policy: &Policy) -> Self {
        let core: &cedar_policy_core::ast::Policy = policy.as_ref();
        Compiled {
            id: policy.id().to_string(),
            forbid: policy.effect() == Effect::Forbid,
            condition: core.condition(),
            slots: core.env().clone(),
        }
    }
}

/// The rules of each action, compiled, with their guards.
#[derive(Debug)]
pub(super) struct Slicer {
    rules: HashMap<Action, Vec<(Compiled, Vec<Guard>)>>,
}

impl Slicer {
    pub fn new(sets: &HashMap<Action, PolicySet>) -> Self {
        Self::with_guards(sets, guards)
    }

    /// A slicer that keeps every rule.
    pub fn unsliced(sets: &HashMap<Action, PolicySet>) -> Self {
        Self::with_guards(sets, |_| Vec::new())
    }

    fn with_guards(
        sets: &HashMap<Action, PolicySet>,
        guards: impl Fn(&Policy) -> Vec<Guard> + Sync,
    ) -> Self {
        let rules = sets
            .iter()
            .map(|(action, set)| {
                // Reading a rule's guards goes through its JSON form: slow, so on every core.
                let policies: Vec<&Policy> = set.policies().collect();
                (
                    *action,
                    policies
                        .into_par_iter()
                        .map(|p| (Compiled::of(p), guards(p)))
                        .collect(),
                )
            })
            .collect();
        Slicer { rules }
    }

    /// The rules of `action` that can hold for a request of which `known` is known.
    pub fn policies<'s>(
        &'s self,
        action: Action,
        known: Known<'s>,
    ) -> impl Iterator<Item = &'s Compiled> {
        let rules = self
            .rules
            .get(&action)
            .map(Vec::as_slice)
            .unwrap_or_default();
        rules.iter().filter_map(move |(rule, guards)| {
            // A guard leaves the rule out only when each of its tests is known to fail.
            let applies = guards
                .iter()
                .all(|g| g.any_of.iter().any(|t| t.holds(&known) != Some(false)));
            applies.then_some(rule)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(on_resource: bool, t: &'static str, id: &str) -> Test {
        Test::In {
            on_resource,
            entity: (t, id.to_owned()),
        }
    }

    #[test]
    fn reads_membership_guards_of_when_conditions() {
        let policy: Policy = r#"forbid (principal, action == Action::"declare", resource)
            when { principal in Purpose::"a" && (principal in Category::"b" || principal in Category::"c")
                   && !(principal in Subject::"s") && principal.role == "x" }
            unless { principal in Subject::"t" };"#
            .parse()
            .unwrap();
        let found = guards(&policy);
        assert_eq!(
            found,
            vec![
                Guard {
                    any_of: vec![member(false, "Purpose", "a")]
                },
                Guard {
                    any_of: vec![
                        member(false, "Category", "b"),
                        member(false, "Category", "c")
                    ]
                },
            ]
        );
    }

    #[test]
    fn reads_context_tests_and_mixed_disjunctions() {
        let policy: Policy = r#"permit (principal, action == Action::"reuse", resource)
            when { (principal in Purpose::"a" || resource in Purpose::"b") && principal in Organisation::"o"
                   && (context.purpose in Purpose::"c" || context.assessment) && !context.indirect
                   && (context.assessment || principal.role == "x") };"#
            .parse()
            .unwrap();
        let flag = |attr: &str, holds| Test::ContextFlag {
            attr: attr.to_owned(),
            holds,
        };
        assert_eq!(
            guards(&policy),
            vec![
                Guard {
                    any_of: vec![member(false, "Purpose", "a"), member(true, "Purpose", "b")]
                },
                Guard {
                    any_of: vec![
                        Test::ContextIn {
                            attr: "purpose".to_owned(),
                            kind: Kind::Purpose,
                            entity: crate::audit::entities::uid("Purpose", "c"),
                        },
                        flag("assessment", true)
                    ]
                },
                Guard {
                    any_of: vec![flag("indirect", false)]
                },
            ]
        );
    }
}
