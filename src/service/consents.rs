//! Consents, for the public form, the agents and the command line alike: the answer is held
//! to the activity's consent form as the register gives it now, recorded with the version of
//! the form, checked against the register of the day, verified against the tree heads.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::{Error, Registre, Result};
use crate::auth::{Actor, Need, random_bytes, unknown_organisation};
use crate::consent::{
    self, Answer, Channel, Check, Document, Draft, Event, EventKind, Evidence, Role, Signatory,
    TreeHead, verify,
};
use crate::model::{Activity, Register};
use crate::notice::{ConsentForm, Context, Versioned};
use crate::store::{Answered, Entry, Rendering, Shown, StoreError, SubjectRange};

/// What the person does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Answers the form: the choices named are accepted, the others declined.
    Answer,
    /// Withdraws the choices named.
    Withdraw,
    /// Answers the form again, at renewal.
    Renew,
}

/// A consent to record.
#[derive(Debug, Clone)]
pub struct Recording {
    pub activity: String,
    pub act: Act,
    /// The choice ids (see the consent form) accepted, or withdrawn.
    pub choices: Vec<String>,
    /// The person, once known; a new subject otherwise.
    pub subject: Option<String>,
    /// Who a new subject is (name, e-mail, the child): kept apart from the events.
    pub identity: Option<Value>,
    pub channel: Channel,
    /// The hash of the scanned paper form, when only the hash is given.
    pub evidence: Option<Evidence>,
    /// The scanned paper form itself (PDF, JPEG or PNG, 10 MB at most): kept, and its hash
    /// put in the event.
    pub scan: Option<Vec<u8>>,
    pub signed_on: Option<String>,
    pub minor: bool,
    /// For a minor: how many holders of parental authority sign (1 or 2), and whether the
    /// child signs too.
    pub holders: usize,
    pub child_signs: bool,
    /// The idempotency key of a form submission: the same key records once.
    pub key: Option<String>,
}

impl Recording {
    /// A new person's answer to a form: `choices` accepted, the others declined; for a minor,
    /// both holders of parental authority sign.
    pub fn answer(
        activity: &str,
        choices: Vec<String>,
        identity: Value,
        channel: Channel,
        minor: bool,
    ) -> Self {
        Recording {
            activity: activity.to_owned(),
            act: Act::Answer,
            choices,
            subject: None,
            identity: Some(identity),
            channel,
            evidence: None,
            scan: None,
            signed_on: None,
            minor,
            holders: if minor { 2 } else { 0 },
            child_signs: false,
            key: None,
        }
    }

    /// `subject` withdraws `choices`; for a minor, one holder of parental authority is enough.
    pub fn withdrawal(
        activity: &str,
        choices: Vec<String>,
        subject: &str,
        channel: Channel,
        minor: bool,
    ) -> Self {
        Recording {
            activity: activity.to_owned(),
            act: Act::Withdraw,
            choices,
            subject: Some(subject.to_owned()),
            identity: None,
            channel,
            evidence: None,
            scan: None,
            signed_on: None,
            minor,
            holders: usize::from(minor),
            child_signs: false,
            key: None,
        }
    }
}

/// How long a computed consent form serves checks and recordings before the register is read
/// again.
pub const FORM_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// An activity's consent form as the register gave it, with what checks need of it.
pub struct FormOf {
    /// The register of the organisation, reduced to the activity and what it refers to.
    pub register: Register,
    pub form: ConsentForm,
    /// The form's model as stored with the events, and its SHA-256.
    content: Value,
    content_sha256: String,
    /// What consent to the activity covers now (see [`consent::scope`]).
    pub scope: String,
    index: usize,
}

impl FormOf {
    pub fn activity(&self) -> &Activity {
        &self.register.organisations[0].activities()[self.index]
    }

    pub fn requirement(&self) -> consent::Requirement<'_> {
        consent::requirement(self.activity(), &self.scope)
    }
}

/// An organisation's id and an activity's.
type ActivityKey = (String, String);

/// The consent forms computed lately, by organisation and activity, with when.
#[derive(Default)]
pub struct Forms(
    std::sync::Mutex<std::collections::HashMap<ActivityKey, (std::time::Instant, Arc<FormOf>)>>,
);

impl Forms {
    fn get(&self, key: &(String, String)) -> Option<Arc<FormOf>> {
        let forms = self.0.lock().unwrap_or_else(|e| e.into_inner());
        forms
            .get(key)
            .filter(|(at, _)| at.elapsed() < FORM_TTL)
            .map(|(_, form)| form.clone())
    }

    fn put(&self, key: (String, String), form: Arc<FormOf>) {
        let mut forms = self.0.lock().unwrap_or_else(|e| e.into_inner());
        forms.retain(|_, (at, _)| at.elapsed() < FORM_TTL);
        forms.insert(key, (std::time::Instant::now(), form));
    }
}

/// A person's consents: who they are (unless erased) and every event about them.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct History {
    pub subject: String,
    pub identity: Option<Value>,
    pub events: Vec<Event>,
}

/// What a person sees behind their private link.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub organisation: String,
    pub activities: Vec<LinkActivity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkActivity {
    pub id: String,
    pub name: String,
    pub choices: Vec<LinkChoice>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkChoice {
    pub id: String,
    pub label: String,
    /// `given`, `refused`, `withdrawn`, `expired`, `renewal-required`…
    pub status: &'static str,
    /// The status in words.
    pub status_label: &'static str,
    pub allowed: bool,
    /// When the answer it rests on was recorded.
    pub since: String,
}

/// The French words of a status, for the person.
fn status_label(status: consent::Status) -> &'static str {
    match status {
        consent::Status::Given => "accordé",
        consent::Status::NeverAsked => "jamais demandé",
        consent::Status::Refused => "refusé",
        consent::Status::Withdrawn => "retiré",
        consent::Status::Expired => "expiré (à renouveler)",
        consent::Status::RenewalRequired => "à renouveler (le traitement a changé)",
        consent::Status::IncompleteParental => "incomplet (l'accord des deux parents est requis)",
    }
}

/// A signed tree head and the public key to check it with.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SignedHead {
    pub head: TreeHead,
    pub public_key: String,
}

/// The result of verifying a ledger.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Verification {
    pub organisation: String,
    pub events: u64,
    /// The root of the tree of every event, hexadecimal.
    pub root: String,
    /// What does not match, first the chain then each tree head given: empty when the
    /// ledger verifies.
    pub problems: Vec<String>,
}

/// How many people are in each state for each choice of an activity's form, now.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ActivityCounts {
    pub organisation: String,
    pub activity: String,
    pub choices: Vec<ChoiceCounts>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ChoiceCounts {
    pub choice: String,
    pub label: String,
    pub given: usize,
    pub refused: usize,
    pub withdrawn: usize,
    pub expired: usize,
    pub renewal_required: usize,
    pub incomplete_parental: usize,
}

impl ChoiceCounts {
    fn count(&mut self, status: consent::Status) {
        let counter = match status {
            consent::Status::Given => &mut self.given,
            consent::Status::Refused => &mut self.refused,
            consent::Status::Withdrawn => &mut self.withdrawn,
            consent::Status::Expired => &mut self.expired,
            consent::Status::RenewalRequired => &mut self.renewal_required,
            consent::Status::IncompleteParental => &mut self.incomplete_parental,
            // Nobody is counted who never answered.
            consent::Status::NeverAsked => return,
        };
        *counter += 1;
    }
}

/// A person whose consent allows a use now: who to write to, whose photo may be published.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Allowed {
    pub subject: String,
    /// The person's name (the holders' names for a child), unless erased.
    pub name: Option<String>,
    /// The child's name, for a consent given for a minor.
    pub child: Option<String>,
    pub email: Option<String>,
    /// The event the consent rests on, and when it was recorded.
    pub event: u64,
    pub since: String,
}

/// The people a use is allowed for, as CSV (RFC 4180, UTF-8, a header line): for a mailing
/// tool or the photo service.
pub fn allowed_csv(people: &[Allowed]) -> std::result::Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "personne",
        "nom",
        "enfant",
        "courriel",
        "evenement",
        "depuis",
    ])?;
    for p in people {
        let event = p.event.to_string();
        out.write_record([
            p.subject.as_str(),
            p.name.as_deref().unwrap_or_default(),
            p.child.as_deref().unwrap_or_default(),
            p.email.as_deref().unwrap_or_default(),
            event.as_str(),
            p.since.as_str(),
        ])?;
    }
    out.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

/// The names an identity holds, one string: « name », or « names » joined (the online form
/// takes each holder of parental authority).
fn names(identity: &Value, single: &str, several: &str) -> Option<String> {
    let joined = match identity.get(several) {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => identity.get(single).and_then(Value::as_str)?.to_owned(),
    };
    (!joined.is_empty()).then_some(joined)
}

impl Registre {
    /// The activity's consent form as the register gives it, with the register: computed at
    /// most once every [`FORM_TTL`] per activity and process, so that checks and recordings
    /// under load do not rebuild the notice each time. A register change is seen within that
    /// delay.
    pub(super) async fn consent_form(&self, org: &str, activity: &str) -> Result<Arc<FormOf>> {
        let key = (org.to_owned(), activity.to_owned());
        if let Some(fresh) = self.forms.get(&key) {
            return Ok(fresh);
        }
        let register = self.document_register(org, Some(activity)).await?;
        let organisation = &register.organisations[0];
        let found = find_activity(organisation.activities(), activity)?;
        let context = Context {
            vocabulary: &self.pack.vocabulary,
            countries: &self.pack.countries,
            register: &register,
            public_url: None,
        };
        let form = crate::notice::consent_form(&context, organisation, found)
            .map_err(|e| Error::invalid("activity", e.to_string()))?;
        let scope = consent::scope(found);
        let index = organisation
            .activities()
            .iter()
            .position(|a| a.id == activity)
            .unwrap_or_default();
        let content = serde_json::to_value(&form).map_err(|e| Error::Internal(e.to_string()))?;
        let content_sha256 = crate::digest::sha256_hex(content.to_string().as_bytes());
        let computed = Arc::new(FormOf {
            register,
            form,
            content,
            content_sha256,
            scope,
            index,
        });
        self.forms.put(key, computed.clone());
        Ok(computed)
    }

    /// Forgets the consent forms computed from the register: this process sees its own
    /// changes at once (other servers within [`FORM_TTL`]).
    pub(super) fn register_changed(&self) {
        self.forms
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Records a consent or a withdrawal. `actor` is the agent who took it, `None` for the
    /// person themselves on the public form.
    pub async fn record_consent(
        &self,
        actor: Option<&Actor>,
        org: &str,
        recording: Recording,
        now: Timestamp,
    ) -> Result<Event> {
        let mut events = self
            .record_consents(actor, org, vec![(recording, now)])
            .await?;
        events
            .pop()
            .ok_or_else(|| Error::Internal("aucun événement enregistré".to_owned()))
    }

    /// Records several answers to one activity's form at once, in order, in one transaction
    /// (a campaign of paper forms, the demo); every one is checked as [`Registre::record_consent`]
    /// checks it, and none is recorded if one is refused.
    pub async fn record_consents(
        &self,
        actor: Option<&Actor>,
        org: &str,
        recordings: Vec<(Recording, Timestamp)>,
    ) -> Result<Vec<Event>> {
        let Some((first, _)) = recordings.first() else {
            return Ok(Vec::new());
        };
        if let Some(actor) = actor {
            actor.require(Need::RecordConsent, org)?;
        }
        let activity_id = first.activity.clone();
        let computed = self.consent_form(org, &activity_id).await?;
        let (activity, form) = (computed.activity(), &computed.form);
        let choices: Vec<&str> = form.choice_ids().collect();
        let version = form.version().clone();
        let mut drafts = Vec::with_capacity(recordings.len());
        for (recording, _) in &recordings {
            if let Some(key) = &recording.key
                && let Some(event) = self.store.submission(org, key).await?
            {
                // Sent twice (a double click, a reload): the first recording stands.
                if recordings.len() == 1 {
                    return Ok(vec![event]);
                }
                return Err(Error::Conflict(format!(
                    "envoi déjà enregistré (événement n° {})",
                    event.seq
                )));
            }
        }
        for (recording, at) in recordings {
            if recording.activity != activity_id {
                return Err(Error::invalid("activity", "une seule activité par envoi"));
            }
            let subject = self.subject_of(actor, org, &recording).await?;
            let draft = draft(actor, activity, &choices, &version, &subject, &recording)?;
            let identity = recording.subject.is_none().then(|| {
                recording
                    .identity
                    .clone()
                    .unwrap_or(Value::Object(Default::default()))
            });
            drafts.push(Entry {
                draft,
                identity,
                at,
                key: recording.key,
                scan: recording.scan,
            });
        }
        let shown = Shown {
            kind: "consent-form",
            organisation: org,
            activity: Some(&activity.id),
            version: &version,
            content: &computed.content,
            rendering: Rendering {
                format: "json".to_owned(),
                sha256: computed.content_sha256.clone(),
            },
        };
        let single_key = match drafts.as_slice() {
            [one] => one.key.clone(),
            _ => None,
        };
        match self.store.append_consents(org, drafts, &shown).await {
            // The same form sent twice at once: the other one was recorded first.
            Err(StoreError::Conflict(_)) if single_key.is_some() => {
                let key = single_key.unwrap_or_default();
                match self.store.submission(org, &key).await? {
                    Some(event) => Ok(vec![event]),
                    None => Err(Error::Conflict("envoi déjà enregistré".to_owned())),
                }
            }
            other => Ok(other?),
        }
    }

    /// The subject a recording is about: the one it names, which must exist, or a new one.
    async fn subject_of(
        &self,
        actor: Option<&Actor>,
        org: &str,
        recording: &Recording,
    ) -> Result<String> {
        if actor.is_none() && recording.channel != Channel::EnLigne {
            return Err(Error::invalid(
                "channel",
                "seul un agent enregistre un consentement reçu hors du formulaire en ligne",
            ));
        }
        match &recording.subject {
            Some(subject) => {
                if self.store.consent_subject(org, subject).await?.is_none() {
                    return Err(Error::NotFound(format!("personne `{subject}` introuvable")));
                }
                Ok(subject.clone())
            }
            None if recording.act == Act::Withdraw => Err(Error::invalid(
                "subject",
                "un retrait porte sur une personne déjà enregistrée",
            )),
            None => Ok(hex::encode(random_bytes::<16>())),
        }
    }

    /// Whether `subject`'s consent to `choice` of `activity` allows the use now, held to the
    /// register as it is now.
    pub async fn check_consent(
        &self,
        actor: &Actor,
        org: &str,
        activity: &str,
        subject: &str,
        choice: &str,
        now: Timestamp,
    ) -> Result<Check> {
        let mut checks = self
            .check_consents(actor, org, activity, &[subject.to_owned()], choice, now)
            .await?;
        Ok(checks
            .pop()
            .map_or_else(Check::never_asked, |(_, check)| check))
    }

    /// [`Registre::check_consent`] for many subjects at once (at most [`MAX_BATCH`]), in the
    /// order given.
    pub async fn check_consents(
        &self,
        actor: &Actor,
        org: &str,
        activity: &str,
        subjects: &[String],
        choice: &str,
        now: Timestamp,
    ) -> Result<Vec<(String, Check)>> {
        actor.require(Need::Read, org)?;
        if subjects.len() > MAX_BATCH {
            return Err(Error::invalid(
                "subjects",
                format!(
                    "{} personnes ; {MAX_BATCH} au plus par demande",
                    subjects.len()
                ),
            ));
        }
        let computed = self.consent_form(org, activity).await?;
        let requirement = computed.requirement();
        let currents = self
            .store
            .consent_currents(org, activity, choice, subjects)
            .await?;
        Ok(subjects
            .iter()
            .map(|subject| {
                let check = currents
                    .get(subject)
                    .map_or_else(Check::never_asked, |c| c.check(&requirement, now));
                (subject.clone(), check)
            })
            .collect())
    }

    /// How many people are in each state for each choice of `activity`, now.
    pub async fn consent_counts(
        &self,
        actor: &Actor,
        org: &str,
        activity: &str,
        now: Timestamp,
    ) -> Result<ActivityCounts> {
        actor.require(Need::Read, org)?;
        let computed = self.consent_form(org, activity).await?;
        let requirement = computed.requirement();
        let mut choices: Vec<ChoiceCounts> = computed
            .form
            .groups
            .iter()
            .flat_map(|g| g.choices.iter())
            .map(|c| ChoiceCounts {
                choice: c.id.clone(),
                label: c.label.clone(),
                ..ChoiceCounts::default()
            })
            .collect();
        self.each_current(org, activity, false, |answered| {
            let status = answered.current.status(&requirement, now);
            match choices.iter_mut().find(|c| c.choice == answered.choice) {
                Some(counts) => counts.count(status),
                // A choice the form no longer offers: its answers still count, under its id.
                None => {
                    let mut counts = ChoiceCounts {
                        choice: answered.choice.clone(),
                        label: answered.choice.clone(),
                        ..ChoiceCounts::default()
                    };
                    counts.count(status);
                    choices.push(counts);
                }
            }
        })
        .await?;
        Ok(ActivityCounts {
            organisation: org.to_owned(),
            activity: activity.to_owned(),
            choices,
        })
    }

    /// The people whose consent to `choice` of `activity` allows the use now, with who they
    /// are: the list for the mailing or the photo service. Agents of the organisation only.
    pub async fn allowed_subjects(
        &self,
        actor: &Actor,
        org: &str,
        activity: &str,
        choice: &str,
        now: Timestamp,
    ) -> Result<Vec<Allowed>> {
        actor.require(Need::RecordConsent, org)?;
        let computed = self.consent_form(org, activity).await?;
        let form = &computed.form;
        let choices: Vec<&str> = form.choice_ids().collect();
        known_choice("choice", choice, &choices)?;
        let requirement = computed.requirement();
        let mut allowed = Vec::new();
        self.each_current(org, activity, true, |a| {
            if a.choice != choice || !a.current.check(&requirement, now).allowed {
                return;
            }
            let identity = a.identity.unwrap_or_default();
            allowed.push(Allowed {
                subject: a.subject,
                name: names(&identity, "name", "names"),
                child: names(&identity, "child", "child"),
                email: identity
                    .get("email")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                event: a.current.seq,
                since: a.current.at.to_string(),
            });
        })
        .await?;
        Ok(allowed)
    }

    /// Calls `each` on every last answer to `activity`, by subject then choice, a range of
    /// subjects at a time: memory holds 1/256 of them, however many people answered.
    async fn each_current(
        &self,
        org: &str,
        activity: &str,
        identities: bool,
        mut each: impl FnMut(Answered),
    ) -> Result<()> {
        for range in SubjectRange::all() {
            self.store
                .activity_currents(org, activity, &range, identities)
                .await?
                .into_iter()
                .for_each(&mut each);
        }
        Ok(())
    }

    /// A new private link to `subject`'s consents: the token to put in the link (only its
    /// hash is kept). Given to the person when they consent online, or on a paper receipt.
    pub async fn management_link(
        &self,
        org: &str,
        subject: &str,
        now: Timestamp,
    ) -> Result<String> {
        if self.store.consent_subject(org, subject).await?.is_none() {
            return Err(Error::NotFound(format!("personne `{subject}` introuvable")));
        }
        let token = crate::auth::random_secret();
        self.store
            .add_consent_link(org, subject, &crate::auth::token_hash(&token), now)
            .await?;
        Ok(token)
    }

    /// The person a management link opens; not found for an unknown or erased link (the
    /// two are not told apart).
    pub async fn subject_by_link(&self, org: &str, token: &str) -> Result<String> {
        self.store
            .consent_link(org, &crate::auth::token_hash(token))
            .await?
            .ok_or_else(|| Error::NotFound("lien inconnu ou expiré".to_owned()))
    }

    /// The consent form of a published activity, as the public page shows it.
    pub async fn public_consent_form(&self, org: &str, activity: &str) -> Result<ConsentForm> {
        let computed = self.consent_form(org, activity).await?;
        if computed.activity().public != Some(true) {
            return Err(Error::NotFound(format!(
                "activité `{activity}` introuvable"
            )));
        }
        Ok(computed.form.clone())
    }

    /// What the person of a management link sees: each choice they answered, and its status
    /// now.
    pub async fn consents_by_link(
        &self,
        org: &str,
        token: &str,
        now: Timestamp,
    ) -> Result<LinkView> {
        let subject = self.subject_by_link(org, token).await?;
        let events = self.store.subject_events(org, &subject).await?;
        let organisation = self
            .store
            .organisation_with_activities(org)
            .await?
            .ok_or_else(|| unknown_organisation(org))?;
        let state = consent::State::of(&events);
        let mut activities: Vec<LinkActivity> = Vec::new();
        for activity in organisation.activities() {
            let answered: Vec<&str> = state
                .iter()
                .filter(|(a, s, _, _)| *a == activity.id && *s == subject)
                .map(|(_, _, c, _)| c)
                .collect();
            if answered.is_empty() {
                continue;
            }
            let computed = self.consent_form(org, &activity.id).await?;
            let requirement = computed.requirement();
            let mut choices: Vec<LinkChoice> = computed
                .form
                .groups
                .iter()
                .flat_map(|g| g.choices.iter())
                .filter_map(|c| {
                    let current = state.current(&activity.id, &subject, &c.id)?;
                    let check = current.check(&requirement, now);
                    Some(LinkChoice {
                        id: c.id.clone(),
                        label: c.label.clone(),
                        status: check.status.as_str(),
                        status_label: status_label(check.status),
                        allowed: check.allowed,
                        since: current.at.to_string(),
                    })
                })
                .collect();
            choices.sort_by(|a, b| a.label.cmp(&b.label));
            activities.push(LinkActivity {
                id: activity.id.clone(),
                name: activity.name.clone(),
                choices,
            });
        }
        Ok(LinkView {
            organisation: organisation.name.clone(),
            activities,
        })
    }

    /// The receipt of one of the link's person's events: JSON-LD, or a PDF when `pdf`.
    pub async fn receipt_by_link(
        &self,
        org: &str,
        token: &str,
        seq: u64,
        manage_url: String,
        pdf: bool,
        now: Timestamp,
    ) -> Result<Vec<u8>> {
        let subject = self.subject_by_link(org, token).await?;
        let event = self.store.consent_event(org, seq).await?;
        if event.is_none_or(|e| e.draft.subject != subject) {
            return Err(Error::NotFound(format!("reçu n° {seq} introuvable")));
        }
        if pdf {
            return self
                .consent_receipt_pdf(None, org, seq, Some(manage_url), now)
                .await;
        }
        let receipt = self
            .consent_receipt(None, org, seq, Some(manage_url), now)
            .await?;
        Ok(receipt.to_string().into_bytes())
    }

    /// Withdraws `choices` of `activity` for the person of a management link, in one step:
    /// online, by the person themselves (for a child, one holder of parental authority is
    /// enough to withdraw).
    pub async fn withdraw_by_link(
        &self,
        org: &str,
        token: &str,
        activity: &str,
        choices: Vec<String>,
        now: Timestamp,
    ) -> Result<Event> {
        let subject = self.subject_by_link(org, token).await?;
        let minor = self
            .store
            .subject_events(org, &subject)
            .await?
            .iter()
            .rev()
            .find(|e| e.draft.activity == activity)
            .is_some_and(|e| e.draft.minor);
        let recording = Recording::withdrawal(activity, choices, &subject, Channel::EnLigne, minor);
        self.record_consent(None, org, recording, now).await
    }

    /// A person's identity (unless erased) and every event about them.
    pub async fn consent_history(
        &self,
        actor: &Actor,
        org: &str,
        subject: &str,
    ) -> Result<History> {
        actor.require(Need::Read, org)?;
        let identity = self
            .store
            .consent_subject(org, subject)
            .await?
            .ok_or_else(|| Error::NotFound(format!("personne `{subject}` introuvable")))?;
        Ok(History {
            subject: subject.to_owned(),
            identity,
            events: self.store.subject_events(org, subject).await?,
        })
    }

    /// Erases who a person is; their events stay, under their opaque id.
    pub async fn erase_consent_subject(
        &self,
        actor: &Actor,
        org: &str,
        subject: &str,
        now: Timestamp,
    ) -> Result<()> {
        actor.require(Need::Edit, org)?;
        Ok(self.store.erase_consent_subject(org, subject, now).await?)
    }

    /// Recomputes the ledger of `org` and holds against it every tree head it signed, and
    /// `noted`: heads kept elsewhere (a rewrite by someone with database access can replace
    /// the stored heads, never the copies others noted).
    pub async fn verify_consents(
        &self,
        actor: &Actor,
        org: &str,
        noted: &[TreeHead],
        now: Timestamp,
    ) -> Result<Verification> {
        actor.require(Need::Audit, org)?;
        self.verification(org, noted, now).await
    }

    /// Verifies the ledger of every organisation that has one (see
    /// [`Registre::verify_consents`]): `registre serve` runs it after each start.
    pub async fn verify_ledgers(&self, now: Timestamp) -> Result<Vec<Verification>> {
        let mut verifications = Vec::new();
        for org in self.store.organisation_ids().await? {
            if self.store.chain_head(&org).await?.next > 0 {
                verifications.push(self.verification(&org, &[], now).await?);
            }
        }
        Ok(verifications)
    }

    async fn verification(
        &self,
        org: &str,
        noted: &[TreeHead],
        now: Timestamp,
    ) -> Result<Verification> {
        let mut heads = self.store.tree_heads(org).await?;
        heads.extend_from_slice(noted);
        let public = self.store.ledger_key(now).await?.public_hex();
        let (tree, mut problems) = match self.store.verify_consents(org).await? {
            Ok(tree) => (tree, Vec::new()),
            Err(broken) => (consent::merkle::Tree::new(), vec![broken.to_string()]),
        };
        if problems.is_empty() {
            if let Some(fault) = self.store.tree_fault(org, &tree).await? {
                problems.push(fault.to_string());
            }
            for head in &heads {
                if let Err(mismatch) = verify::head(org, &tree, head, &public) {
                    problems.push(mismatch.to_string());
                }
            }
            // Each head noted, against the next larger one: the log only grew between them.
            let mut noted: Vec<&TreeHead> = noted.iter().collect();
            noted.sort_by_key(|h| h.size);
            for pair in noted.windows(2) {
                if let Err(mismatch) = verify::grew(&tree, pair[0], pair[1], &public) {
                    problems.push(mismatch.to_string());
                }
            }
        }
        Ok(Verification {
            organisation: org.to_owned(),
            events: tree.size(),
            root: hex::encode(tree.root(tree.size()).unwrap_or_default()),
            problems,
        })
    }

    /// Signs the head of `org`'s tree as it stands.
    pub async fn sign_tree_head(
        &self,
        actor: &Actor,
        org: &str,
        now: Timestamp,
    ) -> Result<SignedHead> {
        actor.require(Need::Read, org)?;
        let head = self.store.sign_tree_head(org, now).await?;
        let public_key = self.store.ledger_key(now).await?.public_hex();
        Ok(SignedHead { head, public_key })
    }

    /// The last tree head `org` signed and its public key, as published for anyone to note:
    /// `None` before the first one.
    pub async fn published_head(&self, org: &str, now: Timestamp) -> Result<Option<SignedHead>> {
        if self.store.organisation(org).await?.is_none() {
            return Err(unknown_organisation(org).into());
        }
        let Some(head) = self.store.tree_heads(org).await?.pop() else {
            return Ok(None);
        };
        let public_key = self.store.ledger_key(now).await?.public_hex();
        Ok(Some(SignedHead { head, public_key }))
    }

    /// Signs a tree head for each organisation whose ledger grew since its last head and whose
    /// last head is a day old (or that has none): `registre serve` runs it every hour, so a
    /// head is published at least daily. The number signed.
    pub async fn sign_due_heads(&self, now: Timestamp) -> Result<usize> {
        let mut signed = 0;
        for org in self.store.organisation_ids().await? {
            let size = self.store.chain_head(&org).await?.next;
            let last = self.store.tree_heads(&org).await?.pop();
            let due = match &last {
                None => size > 0,
                Some(head) => {
                    let old = head
                        .time
                        .parse::<Timestamp>()
                        .is_ok_and(|t| now.duration_since(t) >= HEAD_EVERY);
                    head.size < size && old
                }
            };
            if due {
                self.store.sign_tree_head(&org, now).await?;
                signed += 1;
            }
        }
        Ok(signed)
    }

    /// The receipt of event `seq` of `org` (ISO/IEC TS 27560, JSON-LD) with its proof: a tree
    /// head including it is signed when the last one does not. `actor` is an agent of the
    /// organisation, or `None` for the person on the confirmation page.
    pub async fn consent_receipt(
        &self,
        actor: Option<&Actor>,
        org: &str,
        seq: u64,
        manage_url: Option<String>,
        now: Timestamp,
    ) -> Result<Value> {
        if let Some(actor) = actor {
            actor.require(Need::Read, org)?;
        }
        let event = self.stored_event(org, seq).await?;
        let register = self
            .document_register(org, Some(&event.draft.activity))
            .await?;
        let organisation = &register.organisations[0];
        let activity = find_activity(organisation.activities(), &event.draft.activity)?;
        let head = self.proving_head(org, seq + 1, now).await?;
        let proof = self.inclusion_of(&event, &head).await?;
        let public_key = self.store.ledger_key(now).await?.public_hex();
        let context = Context {
            vocabulary: &self.pack.vocabulary,
            countries: &self.pack.countries,
            register: &register,
            public_url: None,
        };
        let notice_url = context.link(&format!("/o/{org}/consentement/{}", activity.id));
        Ok(consent::receipt::receipt(&consent::receipt::Input {
            event: &event,
            organisation,
            activity,
            vocabulary: &self.pack.vocabulary,
            head: &head,
            proof: &proof,
            public_key: &public_key,
            notice_url,
            manage_url,
            created: now,
        }))
    }

    /// Rebuilds the read model of `org` from its events; the number of current answers.
    pub async fn rebuild_consents(&self, actor: &Actor, org: &str) -> Result<usize> {
        actor.require(Need::Edit, org)?;
        Ok(self.store.rebuild_consent_state(org).await?)
    }
}

/// How often a grown ledger gets a new signed tree head.
pub const HEAD_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// The most subjects one batch check asks about.
pub const MAX_BATCH: usize = 10_000;

/// The draft of `recording` by `subject`, checked against the form's `choices`.
fn draft(
    actor: Option<&Actor>,
    activity: &Activity,
    choices: &[&str],
    version: &crate::notice::Version,
    subject: &str,
    recording: &Recording,
) -> Result<Draft> {
    for choice in &recording.choices {
        known_choice("choices", choice, choices)?;
    }
    let (kind, answers) = answers(recording, choices);
    let draft = Draft {
        activity: activity.id.clone(),
        subject: subject.to_owned(),
        kind,
        answers,
        document: Document {
            version: version.id.clone(),
            sha256: version.sha256.clone(),
        },
        scope: consent::scope(activity),
        language: "fr".to_owned(),
        channel: recording.channel,
        agent: actor.map(|a| a.author.clone()),
        evidence: match &recording.scan {
            Some(scan) => {
                Some(consent::evidence(scan).map_err(|e| Error::invalid("scan", e.message))?)
            }
            None => recording.evidence.clone(),
        },
        signed_on: recording.signed_on.clone(),
        minor: recording.minor,
        signatories: signatories(subject, recording),
    };
    draft
        .check(activity, choices)
        .map_err(|e| Error::invalid(&e.field, e.message))?;
    Ok(draft)
}

/// `choice` is one of the form's `choices`, or `field` is refused naming them.
fn known_choice(field: &str, choice: &str, choices: &[&str]) -> Result<()> {
    if choices.contains(&choice) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!(
            "le choix « {choice} » n'existe pas dans ce formulaire (choix possibles : {})",
            choices.join(", ")
        ),
    ))
}

fn find_activity<'a>(activities: &'a [Activity], id: &str) -> Result<&'a Activity> {
    activities
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| Error::NotFound(format!("activité `{id}` introuvable")))
}

/// The event kind and the answers of a recording, over the form's `choices`.
fn answers(recording: &Recording, choices: &[&str]) -> (EventKind, Vec<Answer>) {
    let named = |c: &str| recording.choices.iter().any(|n| n == c);
    if recording.act == Act::Withdraw {
        let answers = recording
            .choices
            .iter()
            .map(|c| Answer {
                choice: c.clone(),
                accepted: false,
            })
            .collect();
        return (EventKind::Withdrawn, answers);
    }
    let answers: Vec<Answer> = choices
        .iter()
        .map(|c| Answer {
            choice: (*c).to_owned(),
            accepted: named(c),
        })
        .collect();
    let kind = match (recording.act, answers.iter().any(|a| a.accepted)) {
        (_, false) => EventKind::Refused,
        (Act::Renew, true) => EventKind::Renewed,
        _ => EventKind::Given,
    };
    (kind, answers)
}

/// Who signs: the person, or each holder of parental authority (and the child if they sign),
/// each under an id derived from the subject's.
fn signatories(subject: &str, recording: &Recording) -> Vec<Signatory> {
    if !recording.minor {
        return vec![Signatory {
            role: Role::Personne,
            subject: subject.to_owned(),
        }];
    }
    let mut out: Vec<Signatory> = (1..=recording.holders)
        .map(|n| Signatory {
            role: Role::TitulaireAutoriteParentale,
            subject: format!("{subject}-parent-{n}"),
        })
        .collect();
    if recording.child_signs {
        out.push(Signatory {
            role: Role::Enfant,
            subject: subject.to_owned(),
        });
    }
    out
}
