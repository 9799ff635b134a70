//! The audit: the register becomes Cedar entities and requests, the rules of a pack answer,
//! and every satisfied `forbid` becomes a finding with its law and remedy.
//!
//! Requests (see `policies/schema.cedarschema`): `review` and `contact` per organisation,
//! `declare` per activity, `transfer` per transfer, and per source × new purpose `reuse`
//! (then `reuse_unjustified` when no rule permits or forbids it) and `reuse_terms`.

mod entities;
mod finding;
mod pack;
pub mod sarif;
pub mod text;

use std::collections::HashMap;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, Request, RestrictedExpression,
};

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use thiserror::Error;

pub use finding::{Finding, KINDS, Report, Severity};
pub use pack::{Action, PackError, PackInfo, PackProblem, PolicyPack, Rule};

use crate::model::{Organisation, Register, Source};
use entities::{ActivityFacts, OrganisationFacts, ReuseFacts, uid};

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
    let store = plan.entities(pack)?;
    let engine = Engine {
        pack,
        store: &store,
        authorizer: Authorizer::new(),
    };
    let answers = Answers {
        review: engine.each(&plan.orgs.items, |i, _| {
            let me = &plan.org_uids[i];
            engine.ask(Action::Review, me, me, Context::empty())
        })?,
        contact: engine.each(&plan.contacts.items, |_, (org, holder, domain)| {
            let me = &plan.org_uids[*org];
            let context = engine.context(vec![
                (
                    "holder",
                    RestrictedExpression::new_string((*holder).to_owned()),
                ),
                ("domain", RestrictedExpression::new_string(domain.clone())),
            ])?;
            engine.ask(Action::Contact, me, me, context)
        })?,
        declare: engine.each(&plan.activities.items, |i, facts| {
            engine.ask(
                Action::Declare,
                &plan.activity_uids[i],
                &plan.org_uids[facts.organisation],
                Context::empty(),
            )
        })?,
        transfer: engine.each(
            &plan.transfers.items,
            |_, (activity, country, safeguard)| {
                let context = engine.context(vec![(
                    "safeguard",
                    RestrictedExpression::new_string((*safeguard).to_owned()),
                )])?;
                engine.ask(
                    Action::Transfer,
                    &plan.activity_uids[*activity],
                    &uid("Country", country),
                    context,
                )
            },
        )?,
        reuse: engine.each(&plan.reuses.items, |_, (activity, source, facts)| {
            engine.reuse(
                &plan.activity_uids[*activity],
                &plan.activity_uids[*source],
                facts,
            )
        })?,
    };
    Ok(plan.report(pack, &answers))
}

/// Distinct values, numbered in order of first appearance.
struct Interner<T> {
    index: FxHashMap<T, usize>,
    items: Vec<T>,
}

impl<T: std::hash::Hash + Eq + Clone> Interner<T> {
    fn new() -> Self {
        Interner {
            index: FxHashMap::default(),
            items: Vec::new(),
        }
    }

    fn intern(&mut self, item: T) -> usize {
        if let Some(i) = self.index.get(&item) {
            return *i;
        }
        self.items.push(item.clone());
        self.index.insert(item, self.items.len() - 1);
        self.items.len() - 1
    }
}

/// The requests an audit needs, and where each answer goes in the register.
struct Plan<'a> {
    orgs: Interner<OrganisationFacts<'a>>,
    activities: Interner<ActivityFacts<'a>>,
    contacts: Interner<(usize, &'static str, String)>,
    transfers: Interner<(usize, &'a str, &'a str)>,
    reuses: Interner<(usize, usize, ReuseFacts<'a>)>,
    places: Vec<OrganisationPlace<'a>>,
    org_uids: Vec<EntityUid>,
    activity_uids: Vec<EntityUid>,
}

struct OrganisationPlace<'a> {
    id: &'a str,
    facts: usize,
    contacts: Vec<usize>,
    activities: Vec<ActivityPlace<'a>>,
}

struct ActivityPlace<'a> {
    id: &'a str,
    facts: usize,
    transfers: Vec<usize>,
    /// Source activity id and reuse request, per source and new purpose.
    reuses: Vec<(&'a str, usize)>,
}

/// The rule ids each distinct request satisfied.
struct Answers {
    review: Vec<Vec<String>>,
    contact: Vec<Vec<String>>,
    declare: Vec<Vec<String>>,
    transfer: Vec<Vec<String>>,
    reuse: Vec<Vec<String>>,
}

impl<'a> Plan<'a> {
    fn new(register: &'a Register, pack: &'a PolicyPack) -> Self {
        let named = pack.names_entities();
        let vocabulary = &pack.vocabulary;
        let mut plan = Plan {
            orgs: Interner::new(),
            activities: Interner::new(),
            contacts: Interner::new(),
            transfers: Interner::new(),
            reuses: Interner::new(),
            places: Vec::with_capacity(register.organisations.len()),
            org_uids: Vec::new(),
            activity_uids: Vec::new(),
        };
        let org_facts: Vec<usize> = register
            .organisations
            .iter()
            .map(|org| {
                plan.orgs
                    .intern(OrganisationFacts::of(org, vocabulary, named))
            })
            .collect();
        // Facts are computed in parallel, then numbered in file order.
        let activity_facts: Vec<Vec<ActivityFacts<'a>>> = register
            .organisations
            .par_iter()
            .zip(&org_facts)
            .map(|(org, facts)| {
                org.activities()
                    .iter()
                    .map(|a| ActivityFacts::of(org, *facts, a, vocabulary, named))
                    .collect()
            })
            .collect();
        let numbered: Vec<Vec<usize>> = activity_facts
            .into_iter()
            .map(|facts| {
                facts
                    .into_iter()
                    .map(|f| plan.activities.intern(f))
                    .collect()
            })
            .collect();
        let by_id: HashMap<&str, (usize, &Organisation)> = register
            .organisations
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.as_str(), (i, o)))
            .collect();
        for (i, org) in register.organisations.iter().enumerate() {
            let addresses = [
                ("organisation", org.email.as_deref()),
                ("dpo", org.dpo.as_ref().and_then(|d| d.email.as_deref())),
            ];
            let contacts = addresses
                .into_iter()
                .filter_map(|(holder, email)| Some((holder, entities::email_domain(email?)?)))
                .map(|(holder, domain)| plan.contacts.intern((org_facts[i], holder, domain)))
                .collect();
            let mut activities = Vec::with_capacity(org.activities().len());
            for (j, activity) in org.activities().iter().enumerate() {
                let me = numbered[i][j];
                let transfers = activity
                    .transfers()
                    .iter()
                    .map(|t| {
                        let safeguard = t.safeguard.as_deref().unwrap_or("aucune");
                        plan.transfers.intern((me, t.country.as_str(), safeguard))
                    })
                    .collect();
                let mut reuses = Vec::new();
                for source in activity.sources() {
                    let Source::Activity(source) = source else {
                        continue;
                    };
                    let source_org = source.organisation.as_deref().unwrap_or(&org.id);
                    // Dangling sources are refused when the register is loaded.
                    let Some((k, holder)) = by_id.get(source_org) else {
                        continue;
                    };
                    let Some(l) = holder
                        .activities()
                        .iter()
                        .position(|a| a.id == source.activity)
                    else {
                        continue;
                    };
                    let source_activity = &holder.activities()[l];
                    let public_body = vocabulary.is_public_body(&org.kind);
                    for purpose in activity.purposes() {
                        let same_organisation = *k == i;
                        let facts = ReuseFacts::of(
                            purpose,
                            source,
                            source_activity,
                            same_organisation,
                            public_body,
                            activity,
                            vocabulary,
                        );
                        let request = plan.reuses.intern((me, numbered[*k][l], facts));
                        reuses.push((source_activity.id.as_str(), request));
                    }
                }
                activities.push(ActivityPlace {
                    id: &activity.id,
                    facts: me,
                    transfers,
                    reuses,
                });
            }
            plan.places.push(OrganisationPlace {
                id: &org.id,
                facts: org_facts[i],
                contacts,
                activities,
            });
        }
        plan.org_uids = (0..plan.orgs.items.len())
            .map(|i| plan.org_uid(i))
            .collect();
        plan.activity_uids = (0..plan.activities.items.len())
            .map(|i| plan.activity_uid(i))
            .collect();
        plan
    }

    fn org_uid(&self, i: usize) -> EntityUid {
        match self.orgs.items[i].identity {
            Some(id) => uid("Organisation", id),
            None => uid("Organisation", &format!("#{i}")),
        }
    }

    fn activity_uid(&self, i: usize) -> EntityUid {
        match self.activities.items[i].identity() {
            Some((org, activity)) => uid("Activity", &format!("{org}/{activity}")),
            None => uid("Activity", &format!("#{i}")),
        }
    }

    fn entities(&self, pack: &PolicyPack) -> Result<Entities, AuditError> {
        let mut all = entities::reference_entities(&pack.vocabulary, &pack.countries);
        for (facts, uid) in self.orgs.items.iter().zip(&self.org_uids) {
            all.push(facts.to_entity(uid.clone())?);
        }
        let activities = self
            .activities
            .items
            .par_iter()
            .enumerate()
            .map(|(i, facts)| {
                facts.to_entity(
                    self.activity_uids[i].clone(),
                    self.org_uids[facts.organisation].clone(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        all.extend(activities);
        // Debug builds (the tests) check every entity against the schema.
        let schema = cfg!(debug_assertions).then_some(&pack.schema);
        Entities::from_entities(all, schema).map_err(|e| AuditError::Internal(e.to_string()))
    }

    fn report(&self, pack: &PolicyPack, answers: &Answers) -> Report {
        let mut findings = Vec::new();
        let mut here = Vec::new();
        for org in &self.places {
            let at = (org.id, None);
            emit(&mut here, pack, at, None, &answers.review[org.facts]);
            for c in &org.contacts {
                emit(&mut here, pack, at, None, &answers.contact[*c]);
            }
            settle(&mut here, &mut findings);
            for activity in &org.activities {
                let at = (org.id, Some(activity.id));
                emit(&mut here, pack, at, None, &answers.declare[activity.facts]);
                for t in &activity.transfers {
                    emit(&mut here, pack, at, None, &answers.transfer[*t]);
                }
                for (source, r) in &activity.reuses {
                    emit(&mut here, pack, at, Some(source), &answers.reuse[*r]);
                }
                settle(&mut here, &mut findings);
            }
        }
        Report {
            policy_pack: pack.info.clone(),
            organisations: self.places.len(),
            activities: self.places.iter().map(|o| o.activities.len()).sum(),
            findings,
        }
    }
}

/// The findings of the `forbid` rules among `rules`, at an organisation (and activity).
fn emit(
    out: &mut Vec<Finding>,
    pack: &PolicyPack,
    at: (&str, Option<&str>),
    related: Option<&str>,
    rules: &[String],
) {
    for rule in rules
        .iter()
        .filter_map(|id| pack.rule(id))
        .filter(|r| r.forbids)
    {
        out.push(Finding {
            rule: rule.id.clone(),
            kind: rule.kind.clone(),
            severity: rule.severity,
            organisation: at.0.to_owned(),
            activity: at.1.map(str::to_owned),
            related_activity: related.map(str::to_owned),
            law: rule.law.clone(),
            message: rule.message.clone(),
            remedy: rule.remedy.clone(),
        });
    }
}

/// Moves the findings of one place to the report: most serious first, then by kind, rule and
/// source; a rule fires once per place and source, whatever the number of purposes.
fn settle(here: &mut Vec<Finding>, findings: &mut Vec<Finding>) {
    here.sort_by(|a, b| {
        (a.severity, &a.kind, &a.rule, &a.related_activity).cmp(&(
            b.severity,
            &b.kind,
            &b.rule,
            &b.related_activity,
        ))
    });
    here.dedup_by(|a, b| a.rule == b.rule && a.related_activity == b.related_activity);
    findings.append(here);
}

struct Engine<'a> {
    pack: &'a PolicyPack,
    store: &'a Entities,
    authorizer: Authorizer,
}

impl Engine<'_> {
    fn context(&self, pairs: Vec<(&str, RestrictedExpression)>) -> Result<Context, AuditError> {
        Context::from_pairs(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)))
            .map_err(|e| AuditError::Internal(e.to_string()))
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
        me: &EntityUid,
        source: &EntityUid,
        facts: &ReuseFacts<'_>,
    ) -> Result<Vec<String>, AuditError> {
        let context = facts.context()?;
        let (decision, mut out) = self.decide(Action::Reuse, me, source, context.clone())?;
        if decision == Decision::Allow {
            out.clear();
        } else if out.is_empty() {
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
        principal: &EntityUid,
        resource: &EntityUid,
        context: Context,
    ) -> Result<Vec<String>, AuditError> {
        let (decision, reasons) = self.decide(action, principal, resource, context)?;
        Ok(if decision == Decision::Deny {
            reasons
        } else {
            Vec::new()
        })
    }

    /// The decision and the rules that made it (forbids on Deny, permits on Allow).
    fn decide(
        &self,
        action: Action,
        principal: &EntityUid,
        resource: &EntityUid,
        context: Context,
    ) -> Result<(Decision, Vec<String>), AuditError> {
        let Some(policies) = self.pack.sets.get(&action) else {
            return Ok((Decision::Deny, Vec::new()));
        };
        let schema = cfg!(debug_assertions).then_some(&self.pack.schema);
        let request = Request::new(
            principal.clone(),
            action.uid(),
            resource.clone(),
            context,
            schema,
        )
        .map_err(|e| AuditError::Internal(e.to_string()))?;
        let response = self
            .authorizer
            .is_authorized(&request, policies, self.store);
        if let Some(error) = response.diagnostics().errors().next() {
            return Err(AuditError::Evaluation {
                rule: action.name().to_owned(),
                message: error.to_string(),
            });
        }
        let mut reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        reasons.sort();
        Ok((response.decision(), reasons))
    }
}
