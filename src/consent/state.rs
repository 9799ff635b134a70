//! The current state of each consent, derived from the log: for each activity, subject and
//! choice, the last event that answered it. Whether that answer still allows the use is
//! decided at the time of asking, against the register as it is then: the renewal period,
//! the scope of what was consented to, the holders of parental authority required.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::Serialize;

use super::event::{Event, EventKind, Role};
use crate::model::{ParentalConsent, Period};

/// The last answer to one choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub kind: EventKind,
    pub accepted: bool,
    /// The event it rests on.
    pub seq: u64,
    pub id: String,
    pub at: Timestamp,
    pub scope: String,
    pub minor: bool,
    /// How many holders of parental authority signed.
    pub holders: usize,
}

/// What the register requires of a consent to an activity now.
#[derive(Debug, Clone)]
pub struct Requirement<'r> {
    /// The scope of the activity as the register describes it now.
    pub scope: &'r str,
    /// How long a consent lasts before it must be asked again (`consent.renewal`).
    pub renewal: Option<&'r Period>,
    pub parental: Option<ParentalConsent>,
}

/// The state of a consent at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Given (or renewed), and still valid: the only state that allows the use.
    Given,
    NeverAsked,
    Refused,
    Withdrawn,
    /// Given longer ago than the renewal period.
    Expired,
    /// Given to a version of the activity that has changed in what consent covers.
    RenewalRequired,
    /// Given by one holder of parental authority where the register requires both.
    IncompleteParental,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Given => "given",
            Status::NeverAsked => "never-asked",
            Status::Refused => "refused",
            Status::Withdrawn => "withdrawn",
            Status::Expired => "expired",
            Status::RenewalRequired => "renewal-required",
            Status::IncompleteParental => "incomplete-parental",
        }
    }
}

impl Current {
    /// The status of this answer at `now`, held to `requirement`.
    pub fn status(&self, requirement: &Requirement<'_>, now: Timestamp) -> Status {
        match (self.kind, self.accepted) {
            (EventKind::Withdrawn, _) => return Status::Withdrawn,
            (_, false) => return Status::Refused,
            _ => {}
        }
        let both = requirement.parental == Some(ParentalConsent::BothHolders);
        if self.minor && both && self.holders < 2 {
            return Status::IncompleteParental;
        }
        if let Some(period) = requirement.renewal
            && expires(self.at, period).is_some_and(|end| end <= now)
        {
            return Status::Expired;
        }
        if self.scope != requirement.scope {
            return Status::RenewalRequired;
        }
        Status::Given
    }
}

impl Current {
    /// The answer to « may this be done now? » that this answer gives.
    pub fn check(&self, requirement: &Requirement<'_>, now: Timestamp) -> Check {
        let status = self.status(requirement, now);
        Check {
            allowed: status == Status::Given,
            status,
            event: Some(self.id.clone()),
        }
    }
}

/// When a consent given at `at` expires after `period`: calendar years and months, in UTC;
/// `None` for a permanent period or one that cannot be read.
pub fn expires(at: Timestamp, period: &Period) -> Option<Timestamp> {
    if period.is_permanent() {
        return None;
    }
    let span: Span = period.as_str().parse().ok()?;
    let utc = TimeZone::UTC;
    let end = utc.to_datetime(at).checked_add(span).ok()?;
    utc.to_timestamp(end).ok()
}

/// The current answers of a ledger, by activity, subject and choice.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct State {
    answers: HashMap<(String, String, String), Current>,
}

impl State {
    pub fn new() -> Self {
        State::default()
    }

    /// The state after `events`, in chain order.
    pub fn of<'e>(events: impl IntoIterator<Item = &'e Event>) -> Self {
        let mut state = State::new();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Takes `event` into account: each choice it answers now rests on it.
    pub fn apply(&mut self, event: &Event) {
        let Ok(at) = event.at.parse::<Timestamp>() else {
            return;
        };
        let holders = event
            .draft
            .signatories
            .iter()
            .filter(|s| s.role == Role::TitulaireAutoriteParentale)
            .count();
        for answer in &event.draft.answers {
            let key = (
                event.draft.activity.clone(),
                event.draft.subject.clone(),
                answer.choice.clone(),
            );
            self.answers.insert(
                key,
                Current {
                    kind: event.draft.kind,
                    accepted: answer.accepted && event.draft.kind != EventKind::Withdrawn,
                    seq: event.seq,
                    id: event.id(),
                    at,
                    scope: event.draft.scope.clone(),
                    minor: event.draft.minor,
                    holders,
                },
            );
        }
    }

    /// The last answer of `subject` to `choice` of `activity`.
    pub fn current(&self, activity: &str, subject: &str, choice: &str) -> Option<&Current> {
        self.answers
            .get(&(activity.to_owned(), subject.to_owned(), choice.to_owned()))
    }

    /// Every current answer: activity, subject, choice and answer.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &str, &Current)> {
        self.answers
            .iter()
            .map(|((a, s, c), current)| (a.as_str(), s.as_str(), c.as_str(), current))
    }

    /// Whether `subject`'s consent to `choice` of `activity` allows the use at `now`.
    pub fn check(
        &self,
        activity: &str,
        subject: &str,
        choice: &str,
        requirement: &Requirement<'_>,
        now: Timestamp,
    ) -> Check {
        self.current(activity, subject, choice)
            .map_or_else(Check::never_asked, |c| c.check(requirement, now))
    }
}

/// The answer to « may this be done for this person, now? ».
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Check {
    pub allowed: bool,
    /// `given` when allowed; otherwise the reason it is not.
    pub status: Status,
    /// The record id of the event the answer rests on.
    pub event: Option<String>,
}

impl Check {
    /// For a person never asked.
    pub fn never_asked() -> Self {
        Check {
            allowed: false,
            status: Status::NeverAsked,
            event: None,
        }
    }
}
