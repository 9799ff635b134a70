//! The audit: the register becomes Cedar entities and requests, the rules of a pack answer,
//! and every satisfied `forbid` becomes a finding with its law and remedy.
//!
//! Requests (see `policies/schema.cedarschema`): `review` and `contact` per organisation,
//! `declare` per activity, `transfer` per transfer, and per source × new purpose `reuse`
//! (then `reuse_unjustified` when no rule permits or forbids it) and `reuse_terms`.

mod entities;
mod finding;
mod pack;
mod plan;
pub mod sarif;
mod slice;
pub mod text;

use cedar_policy::Decision;
use cedar_policy_core::ast::{Context, EntityUID, EntityUIDEntry, Literal, Request, ValueKind};
use cedar_policy_core::entities::Entities;
use cedar_policy_core::evaluator::Evaluator;
use cedar_policy_core::extensions::Extensions;
use cedar_policy_core::validator::CoreSchema;

use rayon::prelude::*;
use thiserror::Error;

pub use finding::{Finding, KINDS, Report, Severity};
pub use pack::{Action, PackError, PackInfo, PackProblem, PolicyPack, Rule};

use crate::model::Register;
use entities::{ReuseFacts, uid};
use plan::{Answers, Plan};
use rustc_hash::FxHashMap;
use slice::{Ancestors, Known};

/// An audit that could not be carried out: a defect of registre or of the rule pack, never
/// of the register (registers are checked when loaded).
#[derive(Debug, Error)]
pub enum AuditError {
    #[error("la règle `{rule}` n'a pas pu être évaluée : {message}")]
    Evaluation { rule: String, message: String },
    #[error("erreur interne de l'audit : {0}")]
    Internal(String),
}

/// Audits a register with a rule pack.
///
/// Each distinct organisation, activity, transfer and reuse *as the rules see it* is asked
/// once, however many times it recurs: registers kept by a mutualised DPO repeat the same
/// activities across hundreds of communes. Packs whose rules name organisations or
/// activities are asked activity by activity.
pub fn audit(register: &Register, pack: &PolicyPack) -> Result<Report, AuditError> {
    let plan = Plan::new(register, pack);
    let answers = answers(&plan, pack)?;
    Ok(plan.report(pack, &answers))
}

/// Distinct activities evaluated with one entity store. Stores are built a chunk at a time so
/// that memory stays bounded when few activities look alike.
const CHUNK: usize = 2048;

fn answers(plan: &Plan<'_>, pack: &PolicyPack) -> Result<Answers, AuditError> {
    let base = plan.base_store(pack)?;
    let with_countries =
        plan::with_entities(pack, &base, entities::country_entities(&pack.countries))?;
    let engine = Engine::new(pack, &base);
    let review = engine.each(&plan.orgs.items, |i, _| {
        let me = &plan.org_uids[i];
        engine.ask(
            Action::Review,
            Who::entity(me),
            Who::entity(me),
            Context::empty(),
        )
    })?;
    let contact = engine.each(&plan.contacts.items, |_, (org, holder, domain)| {
        let me = &plan.org_uids[*org];
        let context = entities::context(vec![
            ("holder", entities::string(holder)),
            ("domain", entities::string(domain)),
        ]);
        engine.ask(Action::Contact, Who::entity(me), Who::entity(me), context)
    })?;

    let activities = plan.activities.items.len();
    let mut declare = Vec::with_capacity(activities);
    let mut transfer = vec![Vec::new(); plan.transfers.items.len()];
    let mut reuse = vec![Vec::new(); plan.reuses.items.len()];
    for start in (0..activities).step_by(CHUNK) {
        let range = start..activities.min(start + CHUNK);
        let transfers: Vec<usize> = (0..plan.transfers.items.len())
            .filter(|t| range.contains(&plan.transfers.items[*t].0))
            .collect();
        let reuses: Vec<usize> = (0..plan.reuses.items.len())
            .filter(|r| range.contains(&plan.reuses.items[*r].0))
            .collect();
        // The chunk's activities, and the sources they reuse.
        let mut needed: Vec<usize> = range.clone().collect();
        needed.extend(
            reuses
                .iter()
                .map(|r| plan.reuses.items[*r].1)
                .filter(|s| !range.contains(s)),
        );
        needed.sort_unstable();
        needed.dedup();
        // Countries only matter to transfers, which few activities have.
        let base = if transfers.is_empty() {
            &base
        } else {
            &with_countries
        };
        let store = plan.store(pack, base, &needed)?;
        let engine = Engine::new(pack, &store);
        let ancestors: FxHashMap<usize, Ancestors<'_>> = needed
            .iter()
            .map(|i| (*i, plan.activities.items[*i].ancestors(&pack.vocabulary)))
            .collect();
        let activity = |i: usize| Who {
            uid: &plan.activity_uids[i],
            ancestors: ancestors.get(&i),
        };
        let ids: Vec<usize> = range.collect();
        declare.extend(engine.each(&ids, |_, i| {
            let facts = &plan.activities.items[*i];
            engine.ask(
                Action::Declare,
                activity(*i),
                Who::entity(&plan.org_uids[facts.organisation]),
                Context::empty(),
            )
        })?);
        let answered = engine.each(&transfers, |_, t| {
            let (source_activity, country, safeguard) = &plan.transfers.items[*t];
            let context = entities::context(vec![("safeguard", entities::string(safeguard))]);
            engine.ask(
                Action::Transfer,
                activity(*source_activity),
                Who::entity(&uid("Country", country)),
                context,
            )
        })?;
        for (t, rules) in transfers.into_iter().zip(answered) {
            transfer[t] = rules;
        }
        let answered = engine.each(&reuses, |_, r| {
            let (me, source, facts) = &plan.reuses.items[*r];
            engine.reuse(activity(*me), activity(*source), facts)
        })?;
        for (r, rules) in reuses.into_iter().zip(answered) {
            reuse[r] = rules;
        }
        // Freeing a large store takes as long as asking a few hundred questions: it is done
        // on another thread, off the report's way.
        rayon::spawn(move || drop(store));
    }
    Ok(Answers {
        review,
        contact,
        declare,
        transfer,
        reuse,
    })
}

/// A principal or resource of a request: its id, and for activities the vocabulary entities
/// it is in (to leave out the rules that cannot apply).
#[derive(Clone, Copy)]
struct Who<'r> {
    uid: &'r EntityUID,
    ancestors: Option<&'r Ancestors<'r>>,
}

impl<'r> Who<'r> {
    fn entity(uid: &'r EntityUID) -> Self {
        Who {
            uid,
            ancestors: None,
        }
    }
}

struct Engine<'a> {
    pack: &'a PolicyPack,
    store: &'a Entities,
}

impl<'a> Engine<'a> {
    fn new(pack: &'a PolicyPack, store: &'a Entities) -> Self {
        Engine { pack, store }
    }

    /// Asks `question` of every distinct request, in parallel.
    fn each<T: Sync>(
        &self,
        items: &[T],
        question: impl Fn(usize, &T) -> Result<Vec<String>, AuditError> + Sync,
    ) -> Result<Vec<Vec<String>>, AuditError> {
        items
            .par_iter()
            .enumerate()
            .map(|(i, item)| question(i, item))
            .collect()
    }

    /// The findings of one reuse: the rules that forbid it, or, when no rule permits or forbids
    /// it, the most serious `reuse_unjustified` rule; then the terms every reuse must meet.
    fn reuse(
        &self,
        me: Who<'_>,
        source: Who<'_>,
        facts: &ReuseFacts<'_>,
    ) -> Result<Vec<String>, AuditError> {
        let context = facts.context();
        let (decision, mut out) = self.decide(Action::Reuse, me, source, context.clone())?;
        if decision == Decision::Allow {
            out.clear();
        }
        // A source reached through other files answers for its own regime only: the files
        // in between are judged as the direct sources they are.
        if facts.indirect {
            return Ok(out);
        }
        if decision != Decision::Allow && out.is_empty() {
            let qualifying = self.ask(Action::ReuseUnjustified, me, source, context.clone())?;
            let worst = qualifying
                .into_iter()
                .filter_map(|id| self.pack.rule(&id))
                .min_by(|a, b| (a.severity, &a.id).cmp(&(b.severity, &b.id)))
                .map(|r| r.id.clone());
            out.extend(worst);
        }
        out.extend(self.ask(Action::ReuseTerms, me, source, context)?);
        Ok(out)
    }
    /// The ids of the `forbid` rules a request satisfies.
    fn ask(
        &self,
        action: Action,
        principal: Who<'_>,
        resource: Who<'_>,
        context: Context,
    ) -> Result<Vec<String>, AuditError> {
        let (decision, reasons) = self.decide(action, principal, resource, context)?;
        Ok(if decision == Decision::Deny {
            reasons
        } else {
            Vec::new()
        })
    }

    /// The decision and the rules that made it (forbids on Deny, permits on Allow), as
    /// Cedar's authorizer gives them: a satisfied `forbid` denies, else a satisfied `permit`
    /// allows, else the request is denied by default. The rules are evaluated by Cedar's
    /// evaluator on conditions compiled once, instead of rebuilt at every request.
    fn decide(
        &self,
        action: Action,
        principal: Who<'_>,
        resource: Who<'_>,
        context: Context,
    ) -> Result<(Decision, Vec<String>), AuditError> {
        let vocabulary = &self.pack.vocabulary;
        let rules = self.pack.slicer.policies(
            action,
            Known {
                principal: principal.ancestors,
                resource: resource.ancestors,
                context: &context,
                vocabulary,
            },
        );
        let action_uid = action.uid();
        let request = if cfg!(debug_assertions) {
            // Debug builds (the tests) check every request against the schema.
            Request::new(
                (principal.uid.clone(), None),
                (action_uid, None),
                (resource.uid.clone(), None),
                context.clone(),
                Some(&CoreSchema::new(self.pack.schema.as_ref())),
                Extensions::all_available(),
            )
            .map_err(|e| AuditError::Internal(e.to_string()))?
        } else {
            let known = |uid: &EntityUID| EntityUIDEntry::known(uid.clone(), None);
            Request::new_unchecked(
                known(principal.uid),
                known(&action_uid),
                known(resource.uid),
                // Shared, not copied: the context's record is reference-counted.
                Some(context.clone()),
            )
        };
        let evaluator = Evaluator::new(request, self.store, Extensions::all_available());
        let (mut forbids, mut permits) = (Vec::new(), Vec::new());
        for rule in rules {
            let failed = |message: String| AuditError::Evaluation {
                rule: rule.id.clone(),
                message,
            };
            let value = evaluator
                .interpret(&rule.condition, &rule.slots)
                .map_err(|e| failed(e.to_string()))?;
            let satisfied = match value.value_kind() {
                ValueKind::Lit(Literal::Bool(b)) => *b,
                _ => return Err(failed(format!("{value} n'est pas un booléen"))),
            };
            if satisfied {
                if rule.forbid {
                    forbids.push(rule.id.clone());
                } else {
                    permits.push(rule.id.clone());
                }
            }
        }
        let (decision, mut reasons) = if !forbids.is_empty() {
            (Decision::Deny, forbids)
        } else if !permits.is_empty() {
            (Decision::Allow, permits)
        } else {
            (Decision::Deny, Vec::new())
        };
        reasons.sort();
        Ok((decision, reasons))
    }
}
