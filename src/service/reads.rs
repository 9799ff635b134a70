//! Reads of the register: what the actor may see, narrowed before anything is computed.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;

use super::{Error, Registre, Result};
use crate::audit::{self, Report};
use crate::auth::{Actor, Need, Role, unknown_organisation};
use crate::model::{Activity, Organisation, Register};
use crate::store::{Change, DocumentVersion, Past};
use crate::vocabulary::Kind;

/// What an activity list keeps; each filter narrows it.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    /// A purpose id, or one of its ancestors in the vocabulary.
    pub purpose: Option<String>,
    /// A data category id, or an ancestor.
    pub category: Option<String>,
    /// A data subject id, or an ancestor.
    pub subject: Option<String>,
    pub legal_basis: Option<String>,
    pub public: Option<bool>,
    /// Words that must all appear in the name or description, case-insensitive.
    pub words: Vec<String>,
}

/// The roles that audit: findings, history, past registers.
const AUDITING: [Role; 2] = [Role::Dpo, Role::Auditor];

/// How far back the actor reads: a deleted organisation's history is for administrators.
fn past(actor: &Actor) -> Past {
    if actor.is_admin() {
        Past::Everything
    } else {
        Past::Current
    }
}

impl ActivityFilter {
    fn keeps(&self, registre: &Registre, activity: &Activity) -> bool {
        let vocabulary = &registre.pack.vocabulary;
        let under = |kind: Kind, ids: &[String], wanted: &Option<String>| {
            wanted
                .as_deref()
                .is_none_or(|w| ids.iter().any(|id| vocabulary.is_within(kind, id, w)))
        };
        let text = format!(
            "{} {}",
            activity.name,
            activity.description.as_deref().unwrap_or("")
        )
        .to_lowercase();
        under(Kind::Purpose, activity.purposes(), &self.purpose)
            && under(
                Kind::DataCategory,
                activity.data_categories(),
                &self.category,
            )
            && under(Kind::DataSubject, activity.data_subjects(), &self.subject)
            && self
                .legal_basis
                .as_deref()
                .is_none_or(|b| activity.legal_basis.as_deref() == Some(b))
            && self
                .public
                .is_none_or(|p| activity.public.unwrap_or(false) == p)
            && self.words.iter().all(|w| text.contains(&w.to_lowercase()))
    }
}

impl Registre {
    /// The organisations the actor reads, without their activities.
    pub async fn organisations(&self, actor: &Actor) -> Result<Vec<Organisation>> {
        let mut list = self.store.organisations().await?;
        list.retain(|o| actor.may(Need::Read, &o.id));
        for org in &mut list {
            org.activities = None;
        }
        Ok(list)
    }

    /// The organisations the actor reads, each with its number of activities.
    pub async fn organisations_counted(&self, actor: &Actor) -> Result<Vec<(Organisation, usize)>> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for (org, _) in self.store.activity_keys().await? {
            *counts.entry(org).or_default() += 1;
        }
        Ok(self
            .organisations(actor)
            .await?
            .into_iter()
            .map(|o| {
                let count = counts.get(&o.id).copied().unwrap_or(0);
                (o, count)
            })
            .collect())
    }

    /// The activities of an organisation the actor reads, those `filter` keeps.
    pub async fn activities(
        &self,
        actor: &Actor,
        org: &str,
        filter: &ActivityFilter,
    ) -> Result<Vec<Activity>> {
        self.organisation(actor, Need::Read, org).await?;
        let mut list = self.store.activities(org).await?;
        list.retain(|a| filter.keeps(self, a));
        Ok(list)
    }

    /// One activity of an organisation the actor reads.
    pub async fn activity(&self, actor: &Actor, org: &str, id: &str) -> Result<Activity> {
        actor.require(Need::Read, org)?;
        self.store
            .activity(org, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("activité `{id}` introuvable dans `{org}`")))
    }

    /// The changes of an organisation (or of one of its activities) the actor audits, oldest
    /// first.
    pub async fn history(
        &self,
        actor: &Actor,
        org: &str,
        activity: Option<&str>,
    ) -> Result<Vec<Change>> {
        actor.require(Need::Audit, org)?;
        let changes = self.store.history(org, activity, past(actor)).await?;
        if changes.is_empty() {
            return Err(match activity {
                None => unknown_organisation(org).into(),
                Some(id) => Error::NotFound(format!(
                    "aucun historique pour l'activité `{id}` de `{org}`"
                )),
            });
        }
        Ok(changes)
    }

    /// The register the actor reads, in the file format: one organisation with the sources
    /// it takes data from, or every organisation visible. As of a date (`at`), it is history:
    /// only organisations the actor audits.
    pub async fn register(
        &self,
        actor: &Actor,
        org: Option<&str>,
        at: Option<Timestamp>,
    ) -> Result<Register> {
        let need = if at.is_some() {
            Need::Audit
        } else {
            Need::Read
        };
        if let Some(org) = org {
            actor.require(need, org)?;
        }
        let mut register = match (org, at) {
            (_, Some(at)) => self.store.register_at(org, at, past(actor)).await?,
            (Some(org), None) => self.store.organisation_with_sources(org).await?,
            (None, None) => self.store.register(None).await?,
        };
        if let Some(org) = org
            && !register.organisations.iter().any(|o| o.id == org)
        {
            return Err(unknown_organisation(org).into());
        }
        // The sources of the organisation asked for are kept as far as the actor reads them.
        let shown = if org.is_some() { Need::Read } else { need };
        register.organisations.retain(|o| actor.may(shown, &o.id));
        Ok(register)
    }

    /// The audit of one organisation, or of all those the actor audits. Only what is audited
    /// and the sources it takes data from is read; the findings kept are those of the
    /// organisations audited.
    pub async fn audit(&self, actor: &Actor, org: Option<&str>) -> Result<Report> {
        let register = match org {
            Some(org) => {
                actor.require(Need::Audit, org)?;
                let register = self.store.organisation_with_sources(org).await?;
                if !register.organisations.iter().any(|o| o.id == org) {
                    return Err(unknown_organisation(org).into());
                }
                register
            }
            None if actor.is_admin() => self.store.register(None).await?,
            None if actor.holds_any(&AUDITING) => {
                let roots = actor.organisations_as(&AUDITING);
                self.store.organisations_with_sources(&roots).await?
            }
            None => {
                return Err(Error::Forbidden(
                    "les audits sont réservés aux auditeurs, DPO et administrateurs".into(),
                ));
            }
        };
        let audited: BTreeSet<String> = register
            .organisations
            .iter()
            .filter(|o| org.is_none_or(|id| o.id == id) && actor.may(Need::Audit, &o.id))
            .map(|o| o.id.clone())
            .collect();
        let activities = register
            .organisations
            .iter()
            .filter(|o| audited.contains(&o.id))
            .map(|o| o.activities().len())
            .sum();
        let pack = self.pack.clone();
        // The engine is CPU-bound: off the threads that serve requests.
        let mut report = tokio::task::spawn_blocking(move || audit::audit(&register, &pack))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(|e| Error::Internal(e.to_string()))?;
        report
            .findings
            .retain(|f| audited.contains(&f.organisation));
        report.organisations = audited.len();
        report.activities = activities;
        Ok(report)
    }

    /// The document versions stored for an organisation the actor reads.
    pub async fn document_versions(
        &self,
        actor: &Actor,
        org: &str,
    ) -> Result<Vec<DocumentVersion>> {
        actor.require(Need::Read, org)?;
        Ok(self.store.document_versions(org).await?)
    }

    /// One stored document version, by its short id.
    pub async fn document_version(
        &self,
        actor: &Actor,
        org: &str,
        version: &str,
    ) -> Result<DocumentVersion> {
        actor.require(Need::Read, org)?;
        self.store
            .document_version(org, version)
            .await?
            .ok_or_else(|| Error::NotFound(format!("version `{version}` introuvable")))
    }
}
