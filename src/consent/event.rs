//! A consent event: what a person (or the holders of parental authority) answered, to which
//! document, when and how (RGPD art. 7.1; LEGAL.md §7). Events hold no personal data: the
//! person is an opaque subject id, their identity lives apart and can be erased.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// What happened. `expired` and `renewal-required` are states derived from the log and the
/// register, never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A form answered with at least one choice accepted.
    Given,
    /// A form answered with every choice declined.
    Refused,
    /// Choices withdrawn.
    Withdrawn,
    /// Choices given again, at renewal or after the notice changed.
    Renewed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Given => "given",
            EventKind::Refused => "refused",
            EventKind::Withdrawn => "withdrawn",
            EventKind::Renewed => "renewed",
        }
    }
}

/// How the answer reached the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// The public form.
    EnLigne,
    /// Paper, at the counter.
    Guichet,
    /// Paper, by post.
    Courrier,
    Email,
    Telephone,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::EnLigne => "en-ligne",
            Channel::Guichet => "guichet",
            Channel::Courrier => "courrier",
            Channel::Email => "email",
            Channel::Telephone => "telephone",
        }
    }

    /// Whether an agent of the organisation took the answer (and must be named).
    pub fn needs_agent(self) -> bool {
        self != Channel::EnLigne
    }
}

/// Who consented, by role; each one an opaque subject id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Signatory {
    pub role: Role,
    pub subject: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The person the data are about, of age.
    Personne,
    /// A holder of parental authority of the child.
    TitulaireAutoriteParentale,
    /// The child, who takes part in the decision (Code civil art. 371-1).
    Enfant,
}

/// One box of the form and its answer: `purpose` or `purpose:medium`, the ids the consent
/// form shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Answer {
    pub choice: String,
    pub accepted: bool,
}

/// The document the person saw: its version and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Document {
    pub version: String,
    pub sha256: String,
}

/// The scanned paper form: its SHA-256, and its media type when the file itself is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evidence {
    pub sha256: String,
    pub media_type: Option<String>,
}

/// An event before it enters the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Draft {
    pub activity: String,
    pub subject: String,
    pub kind: EventKind,
    pub answers: Vec<Answer>,
    pub document: Document,
    /// The hash of what the consent covers (purposes, data, recipients, retention,
    /// transfers) when it was given: a later change of any of them requires a new consent.
    pub scope: String,
    pub language: String,
    pub channel: Channel,
    /// The account of the agent who took a non-web answer.
    pub agent: Option<String>,
    pub evidence: Option<Evidence>,
    /// The date written on a paper form, when it was signed before being recorded.
    pub signed_on: Option<String>,
    pub minor: bool,
    pub signatories: Vec<Signatory>,
}

/// An event of the chain: its draft, its place and the hashes that bind it to the past.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    pub organisation: String,
    /// Its place in the organisation's chain, from 0: also its leaf index in the tree.
    pub seq: u64,
    /// When it was recorded, UTC, RFC 3339.
    pub at: String,
    #[serde(flatten)]
    pub draft: Draft,
    /// The hash of the previous event (64 zeros for the first).
    pub prev: String,
    /// The SHA-256 of everything above.
    pub hash: String,
}

/// The hash the first event of a chain points back to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields an event's hash covers, in a fixed order.
#[derive(Serialize)]
struct Hashed<'e> {
    format: &'static str,
    organisation: &'e str,
    seq: u64,
    at: &'e str,
    draft: &'e Draft,
    prev: &'e str,
}

impl Event {
    /// The event that follows `prev` (hash) at `seq` in `organisation`'s chain.
    pub fn chain(organisation: &str, seq: u64, prev: &str, at: Timestamp, draft: Draft) -> Self {
        let mut event = Event {
            organisation: organisation.to_owned(),
            seq,
            at: at.to_string(),
            draft,
            prev: prev.to_owned(),
            hash: String::new(),
        };
        event.hash = hex::encode(event.computed_hash());
        event
    }

    /// The hash of the event's content, as it is now.
    pub fn computed_hash(&self) -> Hash {
        let hashed = Hashed {
            format: "registre-consent-event/1",
            organisation: &self.organisation,
            seq: self.seq,
            at: &self.at,
            draft: &self.draft,
            prev: &self.prev,
        };
        // Serialising strings, numbers and lists into memory cannot fail.
        let bytes = serde_json::to_vec(&hashed).unwrap_or_default();
        Sha256::digest(bytes).into()
    }

    /// The record id of receipts: the organisation and the place in its chain.
    pub fn id(&self) -> String {
        format!("{}-{}", self.organisation, self.seq)
    }

    /// The answer this event gives for `choice`, if it names it.
    pub fn answer(&self, choice: &str) -> Option<bool> {
        self.draft
            .answers
            .iter()
            .find(|a| a.choice == choice)
            .map(|a| a.accepted)
    }
}
