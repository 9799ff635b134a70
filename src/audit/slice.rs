//! Which rules can apply to a request, read from the rules themselves. A rule whose `when`
//! condition requires `principal in Purpose::"x"` (or one of several such tests) cannot hold
//! for an activity outside that purpose, so that activity's requests leave it out: the answer
//! is the same, and an activity is asked a handful of rules instead of the whole pack.

use std::collections::HashMap;

use cedar_policy::{Effect, Policy, PolicySet};
use cedar_policy_core::ast::{Expr, SlotEnv};
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use serde_json::Value;

use super::pack::Action;

/// The vocabulary entities an entity is `in`: `("Purpose", "education")`, …
pub(super) type Ancestors<'a> = FxHashSet<(&'static str, &'a str)>;

/// Entity types whose membership the audit knows before asking Cedar.
const SLICED_TYPES: [&str; 3] = ["Purpose", "Category", "Subject"];

/// A conjunct of a rule's condition: the principal (or resource) is in one of these entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Guard {
    on_resource: bool,
    any_of: Vec<(&'static str, String)>,
}

/// The membership tests a rule's `when` conditions require.
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
fn operands<'v>(expr: &'v Value, op: &str) -> Vec<&'v Value> {
    match expr.get(op) {
        Some(pair) => {
            let mut out = operands(&pair["left"], op);
            out.extend(operands(&pair["right"], op));
            out
        }
        None => vec![expr],
    }
}

/// `principal in T::"x" || principal in T::"y" …`, with T a vocabulary type.
fn guard(expr: &Value) -> Option<Guard> {
    let mut on_resource = None;
    let mut any_of = Vec::new();
    for test in operands(expr, "||") {
        let test = test.get("in")?;
        let var = test["left"]["Var"].as_str()?;
        let resource = match var {
            "principal" => false,
            "resource" => true,
            _ => return None,
        };
        if *on_resource.get_or_insert(resource) != resource {
            return None;
        }
        let entity = &test["right"]["Value"]["__entity"];
        let kind = SLICED_TYPES.into_iter().find(|t| entity["type"] == *t)?;
        any_of.push((kind, entity["id"].as_str()?.to_owned()));
    }
    Some(Guard {
        on_resource: on_resource?,
        any_of,
    })
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

    /// The rules of `action` that can hold for this principal and resource.
    pub fn policies<'s>(
        &'s self,
        action: Action,
        principal: Option<&'s Ancestors<'_>>,
        resource: Option<&'s Ancestors<'_>>,
    ) -> impl Iterator<Item = &'s Compiled> {
        let rules = self
            .rules
            .get(&action)
            .map(Vec::as_slice)
            .unwrap_or_default();
        rules.iter().filter_map(move |(rule, guards)| {
            let applies = guards.iter().all(|g| {
                let known = if g.on_resource { resource } else { principal };
                // Without what the entity is in, the rule is kept.
                known.is_none_or(|ancestors| {
                    g.any_of
                        .iter()
                        .any(|(t, id)| ancestors.contains(&(*t, id.as_str())))
                })
            });
            applies.then_some(rule)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    on_resource: false,
                    any_of: vec![("Purpose", "a".to_owned())]
                },
                Guard {
                    on_resource: false,
                    any_of: vec![("Category", "b".to_owned()), ("Category", "c".to_owned())]
                },
            ]
        );
    }

    #[test]
    fn mixed_or_and_other_types_are_not_guards() {
        let policy: Policy = r#"permit (principal, action == Action::"reuse", resource)
            when { (principal in Purpose::"a" || resource in Purpose::"b") && principal in Organisation::"o"
                   && (principal in Purpose::"c" || context.assessment) };"#
            .parse()
            .unwrap();
        assert!(guards(&policy).is_empty());
    }
}
