//! The consent ledger (RGPD art. 7; LEGAL.md §7): append-only events per organisation, each
//! bound to the one before by its hash and all of them leaves of a Merkle tree whose signed
//! heads are published; the current state of every consent derived from the log. Pure: the
//! time is passed in, the store keeps the events, web and CLI only call these functions.

mod event;
mod head;
pub mod merkle;
pub mod receipt;
mod state;
pub mod verify;

use jiff::Timestamp;
use serde::Serialize;

pub use event::{
    Answer, Channel, Document, Draft, Event, EventKind, Evidence, GENESIS, Role, Signatory,
};
pub use head::{HeadError, LedgerKey, TreeHead};
pub use state::{Check, Current, Requirement, State, Status, expires};

use crate::digest::sha256_hex;
use crate::model::{Activity, ParentalConsent};

/// Where an organisation's chain stands: the place of the next event and the hash it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub next: u64,
    pub prev: String,
}

impl Default for ChainHead {
    fn default() -> Self {
        ChainHead {
            next: 0,
            prev: GENESIS.to_owned(),
        }
    }
}

impl ChainHead {
    /// The event `draft` becomes at this head, and the head after it.
    pub fn append(&self, organisation: &str, at: Timestamp, draft: Draft) -> (Event, ChainHead) {
        let event = Event::chain(organisation, self.next, &self.prev, at, draft);
        let head = ChainHead {
            next: self.next + 1,
            prev: event.hash.clone(),
        };
        (event, head)
    }
}

/// The scope of a consent to `activity`: the hash of what the person agreed to (purposes,
/// data, recipients, retention, transfers). A change of any of them requires a new consent;
/// a change elsewhere (a security measure, a typo in the description) does not.
pub fn scope(activity: &Activity) -> String {
    #[derive(Serialize)]
    struct Scope<'a> {
        purposes: &'a [String],
        data_categories: &'a [String],
        recipients: Vec<(&'a str, Option<&'a str>)>,
        retention: &'a Option<crate::model::Retention>,
        transfers: Vec<(&'a str, &'a str, Option<&'a str>)>,
    }
    let scope = Scope {
        purposes: activity.purposes(),
        data_categories: activity.data_categories(),
        recipients: activity
            .recipients()
            .iter()
            .map(|r| (r.name.as_str(), r.kind.as_deref()))
            .collect(),
        retention: &activity.retention,
        transfers: activity
            .transfers()
            .iter()
            .map(|t| {
                (
                    t.recipient.as_str(),
                    t.country.as_str(),
                    t.safeguard.as_deref(),
                )
            })
            .collect(),
    };
    // Serialising strings and lists into memory cannot fail.
    sha256_hex(&serde_json::to_vec(&scope).unwrap_or_default())
}

/// What the register requires now of the consents to `activity`; `scope` is [`scope`] of it.
pub fn requirement<'a>(activity: &'a Activity, scope: &'a str) -> Requirement<'a> {
    let settings = activity.consent.as_ref();
    Requirement {
        scope,
        renewal: settings.and_then(|c| c.renewal.as_ref()),
        parental: settings.and_then(|c| c.parental_consent),
    }
}

/// A draft that cannot be recorded: the field and what is wrong with it, in French.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field} : {message}")]
pub struct DraftError {
    pub field: String,
    pub message: String,
}

fn refuse(field: &str, message: impl Into<String>) -> DraftError {
    DraftError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The largest scanned paper form kept as evidence.
pub const MAX_EVIDENCE_BYTES: usize = 10 * 1024 * 1024;

/// The evidence of a scanned paper form: a PDF, JPEG or PNG file (told by its content), at
/// most [`MAX_EVIDENCE_BYTES`].
pub fn evidence(bytes: &[u8]) -> Result<Evidence, DraftError> {
    if bytes.len() > MAX_EVIDENCE_BYTES {
        return Err(refuse(
            "evidence",
            format!("le fichier fait {} octets ; 10 Mo au plus", bytes.len()),
        ));
    }
    let media_type = infer::get(bytes)
        .map(|t| t.mime_type())
        .filter(|m| matches!(*m, "application/pdf" | "image/jpeg" | "image/png"))
        .ok_or_else(|| {
            refuse(
                "evidence",
                "le formulaire numérisé doit être un PDF, un JPEG ou un PNG",
            )
        })?;
    Ok(Evidence {
        sha256: sha256_hex(bytes),
        media_type: Some(media_type.to_owned()),
    })
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Draft {
    /// Checks the draft against the activity it is about and the choice ids of its form.
    pub fn check(&self, activity: &Activity, choices: &[&str]) -> Result<(), DraftError> {
        if !activity.is_consent_based() {
            return Err(refuse(
                "activity",
                format!(
                    "le traitement « {} » ne repose pas sur le consentement",
                    activity.id
                ),
            ));
        }
        if self.activity != activity.id {
            return Err(refuse("activity", "ne correspond pas au formulaire"));
        }
        if self.subject.trim().is_empty() {
            return Err(refuse("subject", "la personne n'est pas identifiée"));
        }
        if self.answers.is_empty() {
            return Err(refuse("answers", "aucun choix n'est renseigné"));
        }
        for (i, answer) in self.answers.iter().enumerate() {
            if !choices.contains(&answer.choice.as_str()) {
                return Err(refuse(
                    "answers",
                    format!(
                        "le choix « {} » n'existe pas dans ce formulaire (choix possibles : {})",
                        answer.choice,
                        choices.join(", ")
                    ),
                ));
            }
            if self.answers[..i].iter().any(|a| a.choice == answer.choice) {
                return Err(refuse(
                    "answers",
                    format!("le choix « {} » est donné deux fois", answer.choice),
                ));
            }
        }
        let accepted = self.answers.iter().any(|a| a.accepted);
        match self.kind {
            EventKind::Given | EventKind::Renewed if !accepted => {
                return Err(refuse("kind", "aucun choix n'est accepté : c'est un refus"));
            }
            EventKind::Refused | EventKind::Withdrawn if accepted => {
                return Err(refuse(
                    "answers",
                    "un refus ou un retrait ne peut accepter aucun choix",
                ));
            }
            _ => {}
        }
        if !is_sha256_hex(&self.document.sha256) {
            return Err(refuse(
                "document.sha256",
                "doit être une empreinte SHA-256 en hexadécimal (64 caractères)",
            ));
        }
        if self.channel.needs_agent() && self.agent.as_deref().is_none_or(str::is_empty) {
            return Err(refuse(
                "agent",
                "l'agent qui a reçu le consentement doit être indiqué hors formulaire en ligne",
            ));
        }
        if let Some(evidence) = &self.evidence
            && !is_sha256_hex(&evidence.sha256)
        {
            return Err(refuse(
                "evidence.sha256",
                "doit être une empreinte SHA-256 en hexadécimal (64 caractères)",
            ));
        }
        if let Some(date) = &self.signed_on
            && (date.len() != 10 || date.parse::<jiff::civil::Date>().is_err())
        {
            return Err(refuse("signed_on", "doit être une date AAAA-MM-JJ"));
        }
        self.check_signatories(activity)
    }

    fn check_signatories(&self, activity: &Activity) -> Result<(), DraftError> {
        if self.signatories.is_empty() {
            return Err(refuse("signatories", "personne n'a signé"));
        }
        if self.signatories.iter().any(|s| s.subject.trim().is_empty()) {
            return Err(refuse("signatories", "un signataire n'est pas identifié"));
        }
        let holders = self
            .signatories
            .iter()
            .filter(|s| s.role == Role::TitulaireAutoriteParentale)
            .count();
        if !self.minor {
            if holders > 0 || self.signatories.iter().any(|s| s.role == Role::Enfant) {
                return Err(refuse(
                    "minor",
                    "des titulaires de l'autorité parentale signent : la personne est mineure",
                ));
            }
            return Ok(());
        }
        // A withdrawal by one holder is enough (art. 7.3): consent must hold for both.
        let parental = activity.consent.as_ref().and_then(|c| c.parental_consent);
        if holders == 0 && parental != Some(ParentalConsent::None) {
            return Err(refuse(
                "signatories",
                "pour un mineur, un titulaire de l'autorité parentale au moins doit signer",
            ));
        }
        if holders > 2 {
            return Err(refuse(
                "signatories",
                "deux titulaires de l'autorité parentale au plus",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Recipient;

    /// A consent-based activity about minors, both holders required, renewed every year.
    fn photos() -> Activity {
        crate::yaml::from_str(
            r#"
id: photos
name: Photos des événements
purposes: [communication.publication-images]
legal_basis: consentement
data_subjects: [enfants]
data_categories: [images]
recipients:
  - {name: Site internet, type: public}
retention: {active: P1Y, final: destruction}
security_measures: [controle-acces]
consent: {granular: true, pre_ticked: false, bundled: false, withdrawal: [en-ligne],
          parental_consent: both-holders, records_kept: true, renewal: P1Y}
"#,
        )
        .unwrap()
    }

    const CHOICES: [&str; 2] = [
        "communication.publication-images:site",
        "communication.publication-images:bulletin",
    ];

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn draft(activity: &Activity, subject: &str, kind: EventKind, accepted: bool) -> Draft {
        Draft {
            activity: activity.id.clone(),
            subject: subject.to_owned(),
            kind,
            answers: vec![Answer {
                choice: CHOICES[0].to_owned(),
                accepted,
            }],
            document: Document {
                version: "0123456789ab".to_owned(),
                sha256: "ab".repeat(32),
            },
            scope: scope(activity),
            language: "fr".to_owned(),
            channel: Channel::EnLigne,
            agent: None,
            evidence: None,
            signed_on: None,
            minor: true,
            signatories: vec![
                Signatory {
                    role: Role::TitulaireAutoriteParentale,
                    subject: format!("{subject}-p1"),
                },
                Signatory {
                    role: Role::TitulaireAutoriteParentale,
                    subject: format!("{subject}-p2"),
                },
            ],
        }
    }

    /// A chain of `n` events for subjects s0, s1, … (every third one a withdrawal).
    fn ledger(n: u64) -> Vec<Event> {
        let activity = photos();
        let mut head = ChainHead::default();
        (0..n)
            .map(|i| {
                let kind = if i % 3 == 2 {
                    EventKind::Withdrawn
                } else {
                    EventKind::Given
                };
                let d = draft(
                    &activity,
                    &format!("s{}", i / 3),
                    kind,
                    kind == EventKind::Given,
                );
                let (event, next) = head.append("commune-a", at("2026-01-10T09:00:00Z"), d);
                head = next;
                event
            })
            .collect()
    }

    fn broken(events: &[Event]) -> verify::Broken {
        verify::chain("commune-a", events).unwrap_err()
    }

    #[test]
    fn an_untouched_ledger_verifies_and_its_tree_holds_every_event() {
        let events = ledger(10);
        let tree = verify::chain("commune-a", &events).unwrap();
        assert_eq!(tree.size(), 10);
        let root = tree.root(10).unwrap();
        for event in &events {
            let leaf = merkle::leaf_hash(&event.computed_hash());
            let proof = tree.inclusion_proof(event.seq, 10).unwrap();
            assert!(merkle::verify_inclusion(
                &leaf, event.seq, 10, &proof, &root
            ));
        }
    }

    #[test]
    fn a_changed_event_is_named() {
        let mut events = ledger(10);
        events[4].draft.answers[0].accepted = false;
        let b = broken(&events);
        assert_eq!((b.position, &b.problem), (4, &verify::Problem::Altered));
        assert!(b.to_string().contains("commune-a-4"), "{b}");
    }

    #[test]
    fn a_deleted_event_is_named() {
        let mut events = ledger(10);
        events.remove(6);
        let b = broken(&events);
        assert_eq!(b.position, 6);
        assert_eq!(b.problem, verify::Problem::OutOfPlace { seq: 7 });
        assert!(b.to_string().contains("supprimés"), "{b}");
    }

    #[test]
    fn reordered_events_are_named() {
        let mut events = ledger(10);
        events.swap(2, 3);
        let b = broken(&events);
        assert_eq!(b.position, 2);
        assert_eq!(b.problem, verify::Problem::OutOfPlace { seq: 3 });
    }

    #[test]
    fn an_inserted_event_is_named_even_with_its_own_hash_right() {
        let mut events = ledger(10);
        let activity = photos();
        // Someone with database access slips an event in and renumbers what follows,
        // recomputing each changed event's hash but not the links after the insertion.
        let forged = Event::chain(
            "commune-a",
            5,
            &events[4].hash,
            at("2026-01-10T09:00:00Z"),
            draft(&activity, "intrus", EventKind::Given, true),
        );
        events.insert(5, forged);
        for (i, e) in events.iter_mut().enumerate().skip(6) {
            e.seq = i as u64;
            e.hash = hex::encode(e.computed_hash());
        }
        let b = broken(&events);
        assert_eq!((b.position, &b.problem), (6, &verify::Problem::Unlinked));
    }

    #[test]
    fn a_consistently_rewritten_ledger_fails_against_a_head_published_before() {
        let key = LedgerKey::generate();
        let events = ledger(12);
        let tree = verify::chain("commune-a", &events).unwrap();
        let noted = key.sign(
            "commune-a",
            8,
            &tree.root(8).unwrap(),
            at("2026-01-11T00:00:00Z"),
        );
        assert_eq!(
            verify::head("commune-a", &tree, &noted, &key.public_hex()),
            Ok(())
        );

        // The whole chain rebuilt from event 3 on, every hash and link right.
        let activity = photos();
        let mut head = ChainHead {
            next: 3,
            prev: events[2].hash.clone(),
        };
        let mut rewritten = events[..3].to_vec();
        for e in &events[3..] {
            let mut d = e.draft.clone();
            if e.seq == 3 {
                d = draft(&activity, "s1", EventKind::Given, true);
                d.signatories.truncate(1);
            }
            let (event, next) = head.append("commune-a", at("2026-01-10T09:00:00Z"), d);
            head = next;
            rewritten.push(event);
        }
        let tree = verify::chain("commune-a", &rewritten).unwrap();
        let mismatch = verify::head("commune-a", &tree, &noted, &key.public_hex()).unwrap_err();
        assert!(matches!(
            mismatch,
            verify::HeadMismatch::Rewritten { size: 8, .. }
        ));
        assert!(mismatch.to_string().contains("réécrit"), "{mismatch}");

        // Truncated below the head: the missing events are reported.
        let tree = verify::chain("commune-a", &events[..5]).unwrap();
        assert!(matches!(
            verify::head("commune-a", &tree, &noted, &key.public_hex()),
            Err(verify::HeadMismatch::Shorter {
                size: 8,
                held: 5,
                ..
            })
        ));
    }

    #[test]
    fn the_check_follows_the_last_answer() {
        let activity = photos();
        let scope = scope(&activity);
        let requirement = requirement(&activity, &scope);
        let state = State::of(&ledger(6));
        let now = at("2026-06-01T00:00:00Z");
        let check = |subject: &str| state.check("photos", subject, CHOICES[0], &requirement, now);

        // s0 and s1: given twice, then withdrawn.
        let s0 = check("s0");
        assert_eq!((s0.allowed, s0.status), (false, Status::Withdrawn));
        assert_eq!(s0.event.as_deref(), Some("commune-a-2"));
        let never = check("nobody");
        assert_eq!(
            (never.allowed, never.status, never.event),
            (false, Status::NeverAsked, None)
        );
        let other_choice = state.check("photos", "s0", CHOICES[1], &requirement, now);
        assert_eq!(other_choice.status, Status::NeverAsked);

        let mut events = ledger(6);
        let mut head = ChainHead {
            next: 6,
            prev: events[5].hash.clone(),
        };
        for (subject, kind, accepted) in [
            ("s0", EventKind::Given, true),
            ("s2", EventKind::Refused, false),
        ] {
            let (event, next) = head.append(
                "commune-a",
                at("2026-02-01T00:00:00Z"),
                draft(&activity, subject, kind, accepted),
            );
            events.push(event);
            head = next;
        }
        let state = State::of(&events);
        let s0 = state.check("photos", "s0", CHOICES[0], &requirement, now);
        assert_eq!((s0.allowed, s0.status), (true, Status::Given));
        let s2 = state.check("photos", "s2", CHOICES[0], &requirement, now);
        assert_eq!((s2.allowed, s2.status), (false, Status::Refused));
    }

    #[test]
    fn a_consent_expires_after_its_renewal_period() {
        let activity = photos();
        let scope = scope(&activity);
        let requirement = requirement(&activity, &scope);
        let (event, _) = ChainHead::default().append(
            "commune-a",
            at("2026-01-10T09:00:00Z"),
            draft(&activity, "s0", EventKind::Given, true),
        );
        let state = State::of([&event]);
        let on = |now: &str| {
            state
                .check("photos", "s0", CHOICES[0], &requirement, at(now))
                .status
        };
        assert_eq!(on("2027-01-10T08:59:59Z"), Status::Given);
        assert_eq!(on("2027-01-10T09:00:00Z"), Status::Expired);
    }

    #[test]
    fn a_change_of_what_consent_covers_requires_renewal_and_a_security_measure_does_not() {
        let activity = photos();
        let (event, _) = ChainHead::default().append(
            "commune-a",
            at("2026-01-10T09:00:00Z"),
            draft(&activity, "s0", EventKind::Given, true),
        );
        let state = State::of([&event]);
        let status = |changed: &Activity| {
            let scope = scope(changed);
            let requirement = requirement(changed, &scope);
            state
                .check(
                    "photos",
                    "s0",
                    CHOICES[0],
                    &requirement,
                    at("2026-03-01T00:00:00Z"),
                )
                .status
        };
        let mut secured = activity.clone();
        secured.security_measures = Some(vec!["chiffrement".to_owned()]);
        secured.description = Some("Avec une faute de frappe corrigée.".to_owned());
        assert_eq!(status(&secured), Status::Given);

        let mut shared = activity.clone();
        shared.recipients.get_or_insert_default().push(Recipient {
            name: "Page de la commune sur un réseau social".to_owned(),
            kind: Some("public".to_owned()),
        });
        assert_eq!(status(&shared), Status::RenewalRequired);
        let mut longer = activity.clone();
        if let Some(r) = longer.retention.as_mut() {
            r.active = Some(crate::model::Period::new("P5Y"));
        }
        assert_eq!(status(&longer), Status::RenewalRequired);
    }

    #[test]
    fn one_holder_where_both_are_required_is_incomplete() {
        let activity = photos();
        let scope = scope(&activity);
        let requirement = requirement(&activity, &scope);
        let mut one = draft(&activity, "s0", EventKind::Given, true);
        one.signatories.truncate(1);
        assert_eq!(one.check(&activity, &CHOICES), Ok(()));
        let (event, _) = ChainHead::default().append("commune-a", at("2026-01-10T09:00:00Z"), one);
        let check = State::of([&event]).check(
            "photos",
            "s0",
            CHOICES[0],
            &requirement,
            at("2026-02-01T00:00:00Z"),
        );
        assert_eq!(
            (check.allowed, check.status),
            (false, Status::IncompleteParental)
        );
    }

    #[test]
    fn a_draft_that_cannot_be_recorded_names_its_field() {
        let activity = photos();
        let good = draft(&activity, "s0", EventKind::Given, true);
        assert_eq!(good.check(&activity, &CHOICES), Ok(()));
        let field = |change: &dyn Fn(&mut Draft)| {
            let mut d = good.clone();
            change(&mut d);
            d.check(&activity, &CHOICES).unwrap_err().field
        };
        assert_eq!(
            field(&|d| d.answers[0].choice = "autre".to_owned()),
            "answers"
        );
        assert_eq!(field(&|d| d.answers.push(d.answers[0].clone())), "answers");
        assert_eq!(field(&|d| d.answers.clear()), "answers");
        assert_eq!(field(&|d| d.answers[0].accepted = false), "kind");
        assert_eq!(field(&|d| d.kind = EventKind::Withdrawn), "answers");
        assert_eq!(field(&|d| d.subject = " ".to_owned()), "subject");
        assert_eq!(
            field(&|d| d.document.sha256 = "abc".to_owned()),
            "document.sha256"
        );
        assert_eq!(field(&|d| d.channel = Channel::Guichet), "agent");
        assert_eq!(field(&|d| d.signatories.clear()), "signatories");
        assert_eq!(field(&|d| d.minor = false), "minor");
        assert_eq!(
            field(&|d| {
                d.channel = Channel::Courrier;
                d.agent = Some("agent-1".to_owned());
                d.signed_on = Some("7 décembre".to_owned());
            }),
            "signed_on"
        );
        assert_eq!(
            field(&|d| {
                d.evidence = Some(Evidence {
                    sha256: "scan".to_owned(),
                    media_type: None,
                })
            }),
            "evidence.sha256"
        );
        let mut not_consent = activity.clone();
        not_consent.legal_basis = Some("mission-interet-public".to_owned());
        assert_eq!(
            good.check(&not_consent, &CHOICES).unwrap_err().field,
            "activity"
        );
    }

    #[test]
    fn evidence_is_a_pdf_jpeg_or_png_by_its_content() {
        let pdf = evidence(b"%PDF-1.7\n1 0 obj\n").unwrap();
        assert_eq!(pdf.media_type.as_deref(), Some("application/pdf"));
        assert_eq!(pdf.sha256, sha256_hex(b"%PDF-1.7\n1 0 obj\n"));
        let png = evidence(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
        assert_eq!(png.media_type.as_deref(), Some("image/png"));
        assert_eq!(
            evidence(b"<html>scan.pdf</html>").unwrap_err().field,
            "evidence"
        );
        let huge = vec![b'%'; MAX_EVIDENCE_BYTES + 1];
        assert!(evidence(&huge).unwrap_err().message.contains("10 Mo"));
    }

    #[test]
    fn no_identity_enters_the_chain() {
        // Events carry opaque ids only: the fields a name or an e-mail could go in do not exist.
        let event = &ledger(1)[0];
        let json = serde_json::to_value(event).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for forbidden in ["name", "email", "ip", "user_agent", "child_name"] {
            assert!(!keys.contains(&forbidden), "{forbidden} in {keys:?}");
        }
    }
}
