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

use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, Request, RestrictedExpression};
use rayon::prelude::*;
use thiserror::Error;

pub use finding::{Finding, KINDS, Report, Severity};
pub use pack::{Action, PackError, PackInfo, PackProblem, PolicyPack, Rule};

use crate::model::{Activity, Organisation, Register, Source};
use entities::{activity_uid, organisation_uid, uid};

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
pub fn audit(register: &Register, pack: &PolicyPack) -> Result<Report, AuditError> {
    let mut all_entities = entities::reference_entities(&pack.vocabulary, &pack.countries);
    let built: Vec<Entity> = register
        .organisations
        .par_iter()
        .map(|org| {
            let mut out = vec![entities::organisation_entity(org, &pack.vocabulary)?];
            for activity in org.activities() {
                out.push(entities::activity_entity(org, activity, &pack.vocabulary)?);
            }
            Ok(out)
        })
        .collect::<Result<Vec<Vec<Entity>>, AuditError>>()?
        .into_iter()
        .flatten()
        .collect();
    all_entities.extend(built);
    let store = Entities::from_entities(all_entities, Some(&pack.schema))
        .map_err(|e| AuditError::Internal(e.to_string()))?;

    let engine = Engine {
        pack,
        store: &store,
        authorizer: Authorizer::new(),
        organisations: register.organisations.iter().map(|o| (o.id.as_str(), o)).collect(),
    };
    let mut keyed: Vec<(Position, Finding)> = register
        .organisations
        .par_iter()
        .enumerate()
        .map(|(i, org)| engine.organisation(i, org))
        .collect::<Result<Vec<_>, AuditError>>()?
        .into_iter()
        .flatten()
        .collect();
    keyed.sort_by(|(pa, fa), (pb, fb)| {
        (pa, fa.severity, &fa.kind, &fa.rule, &fa.related_activity)
            .cmp(&(pb, fb.severity, &fb.kind, &fb.rule, &fb.related_activity))
    });
    // A rule fires once per activity and source, whatever the number of purposes.
    keyed.dedup_by(|(pa, fa), (pb, fb)| pa == pb && fa.rule == fb.rule && fa.related_activity == fb.related_activity);

    Ok(Report {
        policy_pack: pack.info.clone(),
        organisations: register.organisations.len(),
        activities: register.organisations.iter().map(|o| o.activities().len()).sum(),
        findings: keyed.into_iter().map(|(_, f)| f).collect(),
    })
}

use cedar_policy::Entity;

/// Where a finding sits in the register: organisation index, then activity index (organisation
/// findings first). Sorting by it gives the file order.
type Position = (usize, Option<usize>);

struct Engine<'a> {
    pack: &'a PolicyPack,
    store: &'a Entities,
    authorizer: Authorizer,
    organisations: HashMap<&'a str, &'a Organisation>,
}

/// Who a request is about, to place its findings.
#[derive(Clone, Copy)]
struct Subject<'a> {
    position: Position,
    organisation: &'a str,
    activity: Option<&'a str>,
    related_activity: Option<&'a str>,
}

impl Engine<'_> {
    fn organisation(&self, index: usize, org: &Organisation) -> Result<Vec<(Position, Finding)>, AuditError> {
        let mut out = Vec::new();
        let here = Subject {
            position: (index, None),
            organisation: &org.id,
            activity: None,
            related_activity: None,
        };
        let org_uid = organisation_uid(&org.id);
        let satisfied = self.ask(Action::Review, &org_uid, &org_uid, Vec::new())?;
        self.findings(&here, satisfied, &mut out);
        let addresses = [
            ("organisation", org.email.as_deref()),
            ("dpo", org.dpo.as_ref().and_then(|d| d.email.as_deref())),
        ];
        for (holder, email) in addresses {
            let Some(domain) = email.and_then(entities::email_domain) else {
                continue;
            };
            let context = vec![
                ("holder".to_owned(), RestrictedExpression::new_string(holder.to_owned())),
                ("domain".to_owned(), RestrictedExpression::new_string(domain)),
            ];
            let satisfied = self.ask(Action::Contact, &org_uid, &org_uid, context)?;
            self.findings(&here, satisfied, &mut out);
        }
        for (j, activity) in org.activities().iter().enumerate() {
            let here = Subject {
                position: (index, Some(j)),
                organisation: &org.id,
                activity: Some(&activity.id),
                related_activity: None,
            };
            self.activity(&here, org, activity, &mut out)?;
        }
        Ok(out)
    }

    fn activity(
        &self,
        here: &Subject<'_>,
        org: &Organisation,
        activity: &Activity,
        out: &mut Vec<(Position, Finding)>,
    ) -> Result<(), AuditError> {
        let me = activity_uid(&org.id, &activity.id);
        let satisfied = self.ask(Action::Declare, &me, &organisation_uid(&org.id), Vec::new())?;
        self.findings(here, satisfied, out);

        for transfer in activity.transfers() {
            let safeguard = transfer.safeguard.clone().unwrap_or_else(|| "aucune".to_owned());
            let context = vec![("safeguard".to_owned(), RestrictedExpression::new_string(safeguard))];
            let satisfied = self.ask(Action::Transfer, &me, &uid("Country", &transfer.country), context)?;
            self.findings(here, satisfied, out);
        }

        for source in activity.sources() {
            let Source::Activity(source) = source else {
                continue;
            };
            let Some((source_org, source_activity)) = entities::find_source(&self.organisations, org, source) else {
                // Dangling sources are refused when the register is loaded.
                continue;
            };
            let it = activity_uid(&source_org.id, &source_activity.id);
            let here = Subject {
                related_activity: Some(&source_activity.id),
                ..*here
            };
            for purpose in activity.purposes() {
                let context = entities::reuse_context(
                    purpose,
                    source,
                    source_activity,
                    source_org.id == org.id,
                    &self.pack.vocabulary,
                );
                let (decision, satisfied) = self.decide(Action::Reuse, &me, &it, context.clone())?;
                if decision == Decision::Deny {
                    if satisfied.is_empty() {
                        // Nothing permits it and nothing forbids it: unjustified, at the
                        // severity of the most serious qualifying rule.
                        let qualifying = self.ask(Action::ReuseUnjustified, &me, &it, context.clone())?;
                        let worst = qualifying
                            .into_iter()
                            .filter_map(|id| self.pack.rule(&id))
                            .min_by(|a, b| (a.severity, &a.id).cmp(&(b.severity, &b.id)))
                            .map(|r| r.id.clone());
                        self.findings(&here, worst.into_iter().collect(), out);
                    } else {
                        self.findings(&here, satisfied, out);
                    }
                }
                let terms = self.ask(Action::ReuseTerms, &me, &it, context)?;
                self.findings(&here, terms, out);
            }
        }
        Ok(())
    }

    /// The ids of the `forbid` rules a request satisfies.
    fn ask(
        &self,
        action: Action,
        principal: &EntityUid,
        resource: &EntityUid,
        context: Vec<(String, RestrictedExpression)>,
    ) -> Result<Vec<String>, AuditError> {
        let (decision, reasons) = self.decide(action, principal, resource, context)?;
        Ok(if decision == Decision::Deny { reasons } else { Vec::new() })
    }

    /// The decision and the rules that made it (forbids on Deny, permits on Allow).
    fn decide(
        &self,
        action: Action,
        principal: &EntityUid,
        resource: &EntityUid,
        context: Vec<(String, RestrictedExpression)>,
    ) -> Result<(Decision, Vec<String>), AuditError> {
        let Some(policies) = self.pack.sets.get(&action) else {
            return Ok((Decision::Deny, Vec::new()));
        };
        let context = Context::from_pairs(context).map_err(|e| AuditError::Internal(e.to_string()))?;
        let request = Request::new(principal.clone(), action.uid(), resource.clone(), context, Some(&self.pack.schema))
            .map_err(|e| AuditError::Internal(e.to_string()))?;
        let response = self.authorizer.is_authorized(&request, policies, self.store);
        if let Some(error) = response.diagnostics().errors().next() {
            return Err(AuditError::Evaluation {
                rule: action.name().to_owned(),
                message: error.to_string(),
            });
        }
        let mut reasons: Vec<String> = response.diagnostics().reason().map(ToString::to_string).collect();
        reasons.sort();
        Ok((response.decision(), reasons))
    }

    fn findings(&self, here: &Subject<'_>, rule_ids: Vec<String>, out: &mut Vec<(Position, Finding)>) {
        for id in rule_ids {
            let Some(rule) = self.pack.rule(&id).filter(|r| r.forbids) else {
                continue;
            };
            out.push((
                here.position,
                Finding {
                    rule: rule.id.clone(),
                    kind: rule.kind.clone(),
                    severity: rule.severity,
                    organisation: here.organisation.to_owned(),
                    activity: here.activity.map(str::to_owned),
                    related_activity: here.related_activity.map(str::to_owned),
                    law: rule.law.clone(),
                    message: rule.message.clone(),
                    remedy: rule.remedy.clone(),
                },
            ));
        }
    }
}
