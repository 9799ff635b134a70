//! Writes to the register: organisations, activities and whole files, each checked with the
//! same code as a register file, within what the actor may see.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Error, Registre, Result};
use crate::auth::{Actor, Need, Role, unknown_organisation};
use crate::model::{
    self, Activity, InputError, Organisation, Outside, Register, Source, SourceFormat,
};
use crate::store::{ImportSummary, StoreError, WriteMode, Written};

impl Registre {
    /// An organisation the actor may act on with `need` (its activities are not loaded).
    pub async fn organisation(&self, actor: &Actor, need: Need, org: &str) -> Result<Organisation> {
        actor.require(need, org)?;
        Ok(self
            .store
            .organisation(org)
            .await?
            .ok_or_else(|| unknown_organisation(org))?)
    }

    /// Creates an organisation (administrators only).
    pub async fn create_organisation(&self, actor: &Actor, body: Value) -> Result<Organisation> {
        actor.require_admin()?;
        let org = self.checked_organisation(body)?;
        self.store
            .save_organisation(&org, WriteMode::Create, &actor.author, Timestamp::now())
            .await?;
        self.register_changed();
        Ok(org)
    }

    /// Replaces an organisation's own fields; its id stays the one of the address.
    pub async fn update_organisation(
        &self,
        actor: &Actor,
        org: &str,
        body: Value,
    ) -> Result<Organisation> {
        self.organisation(actor, Need::Edit, org).await?;
        let updated = self.checked_organisation(body)?;
        if updated.id != org {
            return Err(Error::invalid(
                "id",
                format!("l'identifiant doit rester `{org}` (celui de l'adresse)"),
            ));
        }
        self.store
            .save_organisation(&updated, WriteMode::Update, &actor.author, Timestamp::now())
            .await?;
        self.register_changed();
        Ok(updated)
    }

    /// Deletes an organisation, with the roles and tokens on it (administrators only).
    pub async fn delete_organisation(&self, actor: &Actor, org: &str) -> Result<()> {
        actor.require(Need::Read, org)?;
        actor.require_admin()?;
        self.store
            .delete_organisation(org, &actor.author, Timestamp::now())
            .await
            .map_err(|e| in_use_message(e, actor))?;
        self.register_changed();
        Ok(())
    }

    /// Checks an activity body for `org` and writes it (`id`: the one of the address, for an
    /// update). Its sources may be activities of its own organisation, of organisations the
    /// actor reads, or (so that a CCAS's DPO keeps their sheet whose data come from the
    /// commune) those the stored sheet already takes data from: any other source is reported
    /// missing, whether it exists or not.
    pub async fn write_activity(
        &self,
        actor: &Actor,
        org: &str,
        id: Option<&str>,
        body: Value,
        mode: WriteMode,
    ) -> Result<(Written, Activity)> {
        actor.require(Need::Edit, org)?;
        if let (Some(id), Some(body_id)) = (id, body.get("id").and_then(Value::as_str))
            && body_id != id
        {
            return Err(Error::invalid(
                "id",
                format!("l'identifiant doit rester `{id}` (celui de l'adresse)"),
            ));
        }
        let organisation = self.organisation(actor, Need::Edit, org).await?;
        let stored = match body.get("id").and_then(Value::as_str) {
            Some(id) if mode == WriteMode::Update => self.store.activity(org, id).await?,
            _ => None,
        };
        let linked: BTreeSet<(String, String)> = stored
            .iter()
            .flat_map(|a| a.sources())
            .filter_map(|s| match s {
                Source::Activity(s) => Some((
                    s.organisation.clone().unwrap_or_else(|| org.to_owned()),
                    s.activity.clone(),
                )),
                _ => None,
            })
            .collect();
        let mut own = organisation.clone();
        own.activities = Some(Vec::new());
        let mut outside = Outside::new();
        for (source_org, source_activity) in named_sources(&body, org) {
            let known = actor.may(Need::Read, &source_org)
                || linked.contains(&(source_org.clone(), source_activity.clone()));
            if !known {
                continue;
            }
            let Some(mut activity) = self.store.activity(&source_org, &source_activity).await?
            else {
                continue;
            };
            if source_org == org {
                // Only the entry is checked: the source's own sources are not loaded.
                activity.sources = None;
                own.activities.get_or_insert_with(Vec::new).push(activity);
            } else {
                outside
                    .entry(source_org)
                    .or_default()
                    .insert(source_activity);
            }
        }
        let sources = Register {
            format: model::FORMAT.to_owned(),
            organisations: vec![own],
        };
        let activity = self.checked_activity(&organisation, body, &sources, &outside)?;
        let outcome = self
            .store
            .save_activity(org, &activity, mode, &actor.author, Timestamp::now())
            .await?;
        self.register_changed();
        Ok((outcome, activity))
    }

    /// Deletes an activity no other activity takes data from.
    pub async fn delete_activity(&self, actor: &Actor, org: &str, id: &str) -> Result<()> {
        actor.require(Need::Edit, org)?;
        self.store
            .delete_activity(org, id, &actor.author, Timestamp::now())
            .await
            .map_err(|e| in_use_message(e, actor))?;
        self.register_changed();
        Ok(())
    }

    /// Imports a register file, all or nothing: administrators create organisations, a DPO
    /// rewrites those they serve.
    pub async fn import(
        &self,
        actor: &Actor,
        text: String,
        format: SourceFormat,
    ) -> Result<ImportSummary> {
        may_import(actor)?;
        let pack = self.pack.clone();
        let outside = self.import_outside(actor).await?;
        // Reading is CPU-bound: on a blocking thread, the text dropped as soon as it is read.
        let register = tokio::task::spawn_blocking(move || {
            model::load_str_within(&text, format, &pack.vocabulary, &pack.countries, &outside)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|mut e| {
            if e.unreadable && e.errors.len() == 1 {
                Error::Unreadable(e.errors.remove(0))
            } else {
                Error::Invalid(e.errors)
            }
        })?;
        let existing: BTreeSet<String> = self.store.organisation_ids().await?.into_iter().collect();
        for org in &register.organisations {
            let allowed = if existing.contains(&org.id) {
                actor.may(Need::Edit, &org.id)
            } else {
                actor.is_admin()
            };
            if !allowed {
                // The same answer whether the organisation is missing or someone else's.
                return Err(Error::Forbidden(format!(
                    "vous ne pouvez pas écrire l'organisme `{}` (il n'est pas parmi les vôtres ; seul un administrateur crée un organisme)",
                    org.id
                )));
            }
        }
        let summary = self
            .store
            .import(&register, &actor.author, Timestamp::now())
            .await
            .map_err(|e| in_use_message(e, actor))?;
        self.register_changed();
        Ok(summary)
    }

    /// The stored activities an imported file may take data from without holding their
    /// organisation: those of organisations the actor reads, and those the actor's own
    /// sheets already take data from (a CCAS's sheets whose data come from the commune).
    async fn import_outside(&self, actor: &Actor) -> Result<Outside> {
        let keys: BTreeSet<(String, String)> =
            self.store.activity_keys().await?.into_iter().collect();
        let mut outside = Outside::new();
        let mut add = |org: &str, activity: &str| {
            outside
                .entry(org.to_owned())
                .or_default()
                .insert(activity.to_owned());
        };
        for (org, activity) in &keys {
            if actor.may(Need::Read, org) {
                add(org, activity);
            }
        }
        for link in self.store.source_links().await? {
            let target = (link.source.organisation, link.source.activity);
            if actor.may(Need::Edit, &link.user.organisation) && keys.contains(&target) {
                add(&target.0, &target.1);
            }
        }
        Ok(outside)
    }

    /// An organisation's own fields, checked (activities are written one by one).
    fn checked_organisation(&self, body: Value) -> Result<Organisation> {
        if body.get("activities").is_some() {
            return Err(Error::invalid(
                "activities",
                "les activités s'écrivent une à une, par …/activities, ou avec l'import du registre",
            ));
        }
        let register = json!({ "format": model::FORMAT, "organisations": [body] });
        let mut register = self.check(register, "organisations[0]", &Outside::new())?;
        Ok(register.organisations.remove(0))
    }

    /// An activity of `organisation`, checked with `sources`: the stored organisations
    /// holding the activities it takes data from (so that its sources are checked to exist).
    fn checked_activity(
        &self,
        organisation: &Organisation,
        body: Value,
        sources: &Register,
        outside: &Outside,
    ) -> Result<Activity> {
        let internal = |e: serde_json::Error| Error::Internal(e.to_string());
        let mut organisations: Vec<Value> = Vec::new();
        let mut own = organisation.clone();
        own.activities = None;
        let mut own = serde_json::to_value(own).map_err(internal)?;
        let body_id = body.get("id").and_then(Value::as_str).map(str::to_owned);
        let mut own_activities = vec![body];
        for source_org in &sources.organisations {
            if source_org.id == organisation.id {
                // The other activities of the same organisation come after the new one, so
                // that its path stays `organisations[0].activities[0]`.
                for a in source_org
                    .activities()
                    .iter()
                    .filter(|a| Some(&a.id) != body_id.as_ref())
                {
                    own_activities.push(serde_json::to_value(a).map_err(internal)?);
                }
            } else {
                organisations.push(serde_json::to_value(source_org).map_err(internal)?);
            }
        }
        own["activities"] = Value::Array(own_activities);
        organisations.insert(0, own);
        let register = json!({ "format": model::FORMAT, "organisations": organisations });
        let mut register = self.check(register, "organisations[0].activities[0]", outside)?;
        let mut own = register.organisations.remove(0);
        Ok(own.activities.take().unwrap_or_default().remove(0))
    }

    /// Checks a register built around the entry at `at`; keeps the errors of the entry, with
    /// paths relative to it.
    fn check(&self, register: Value, at: &str, outside: &Outside) -> Result<Register> {
        model::load_value_within(
            register,
            &self.pack.vocabulary,
            &self.pack.countries,
            outside,
        )
        .map_err(|e| {
            let errors: Vec<InputError> = e
                .errors
                .into_iter()
                .filter_map(|error| relative(error, at))
                .collect();
            if errors.is_empty() {
                Error::Internal("registre stocké incohérent".into())
            } else {
                Error::Invalid(errors)
            }
        })
    }
}

/// Whether the actor may import register files at all (before anything is read): DPOs and
/// administrators.
pub fn may_import(actor: &Actor) -> Result<()> {
    if actor.holds_any(&[Role::Dpo]) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "l'import est réservé aux DPO et aux administrateurs".into(),
        ))
    }
}

/// A deletion refused because other activities take data from it: names those the actor
/// may read, and only says that others exist beyond.
pub fn in_use_message(error: StoreError, actor: &Actor) -> Error {
    let StoreError::InUse { what, dependents } = error else {
        return error.into();
    };
    let (known, hidden): (Vec<_>, Vec<_>) = dependents
        .iter()
        .partition(|d| actor.may(Need::Read, &d.organisation));
    let mut users: Vec<String> = known
        .iter()
        .map(|d| format!("{}/{}", d.organisation, d.activity))
        .collect();
    if !hidden.is_empty() {
        users.push("des activités d'autres organismes".to_owned());
    }
    Error::Conflict(format!(
        "{what} est la source de données de : {} ; ces activités doivent d'abord cesser d'en dépendre",
        users.join(", ")
    ))
}

fn relative(mut error: InputError, at: &str) -> Option<InputError> {
    let rest = error.path.strip_prefix(at)?;
    error.path = match rest.strip_prefix('.') {
        Some(field) => field.to_owned(),
        None if rest.is_empty() || rest.starts_with('[') => rest.to_owned(),
        None => return None,
    };
    Some(error)
}

/// The activities a body names as sources, as (organisation, activity) pairs: read leniently,
/// since the body is checked afterwards.
fn named_sources(body: &Value, organisation: &str) -> Vec<(String, String)> {
    body.get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| serde_json::from_value::<Source>(s.clone()).ok())
        .filter_map(|s| match s {
            Source::Activity(a) => Some((
                a.organisation.unwrap_or_else(|| organisation.to_owned()),
                a.activity,
            )),
            _ => None,
        })
        .collect()
}
