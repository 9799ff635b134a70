//! Register types: organisation, activity, sources, recipients, retention, consent settings.
//!
//! Optional fields are `Option` (absent when reading, not written when `None`) so that reading
//! then writing a file gives back exactly the fields it had; accessors give the defaults of
//! the format.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Period;

/// A register file: one or more organisations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    pub format: String,
    pub organisations: Vec<Organisation>,
}

/// A controller or processor and its activities.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub siren: Option<String>,
    pub address: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub representative: Option<Representative>,
    pub dpo: Option<Dpo>,
    pub activities: Option<Vec<Activity>>,
}

impl Organisation {
    pub fn activities(&self) -> &[Activity] {
        self.activities.as_deref().unwrap_or_default()
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Representative {
    pub name: String,
    pub role: Option<String>,
}

/// The data protection officer (RGPD art. 37).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dpo {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub organisation: Option<String>,
    pub cnil_designation: Option<String>,
}

/// Role of the organisation in an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    #[default]
    Controller,
    JointController,
    Processor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Controller => "controller",
            Role::JointController => "joint-controller",
            Role::Processor => "processor",
        }
    }
}

/// Another party named by an activity: a joint controller, the controller a processor acts for.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub name: String,
    pub email: Option<String>,
}

/// A processing activity (a "fiche de registre").
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    pub id: String,
    pub name: String,
    pub role: Option<Role>,
    pub on_behalf_of: Option<Party>,
    pub joint_controllers: Option<Vec<Party>>,
    pub purposes: Option<Vec<String>>,
    pub description: Option<String>,
    pub legal_basis: Option<String>,
    pub legal_basis_text: Option<String>,
    pub special_category_exception: Option<String>,
    pub data_subjects: Option<Vec<String>>,
    pub data_categories: Option<Vec<String>>,
    pub sources: Option<Vec<Source>>,
    pub recipients: Option<Vec<Recipient>>,
    pub processors: Option<Vec<Processor>>,
    pub transfers: Option<Vec<Transfer>>,
    pub retention: Option<Retention>,
    pub security_measures: Option<Vec<String>>,
    pub dpia: Option<Dpia>,
    pub dpia_criteria: Option<Vec<String>>,
    pub consent: Option<ConsentSettings>,
    pub automated_decision: Option<bool>,
    pub public: Option<bool>,
}

fn list<T>(items: &Option<Vec<T>>) -> &[T] {
    items.as_deref().unwrap_or_default()
}

impl Activity {
    /// Consent (6.1.a) or explicit consent (9.2.a) is what makes the processing lawful.
    pub fn is_consent_based(&self) -> bool {
        self.legal_basis.as_deref() == Some("consentement")
            || self.special_category_exception.as_deref() == Some("consentement-explicite")
    }

    pub fn role(&self) -> Role {
        self.role.unwrap_or_default()
    }
    pub fn purposes(&self) -> &[String] {
        list(&self.purposes)
    }
    pub fn data_subjects(&self) -> &[String] {
        list(&self.data_subjects)
    }
    pub fn data_categories(&self) -> &[String] {
        list(&self.data_categories)
    }
    pub fn sources(&self) -> &[Source] {
        list(&self.sources)
    }
    pub fn recipients(&self) -> &[Recipient] {
        list(&self.recipients)
    }
    pub fn processors(&self) -> &[Processor] {
        list(&self.processors)
    }
    pub fn transfers(&self) -> &[Transfer] {
        list(&self.transfers)
    }
    pub fn security_measures(&self) -> &[String] {
        list(&self.security_measures)
    }
    pub fn dpia_criteria(&self) -> &[String] {
        list(&self.dpia_criteria)
    }
    pub fn joint_controllers(&self) -> &[Party] {
        list(&self.joint_controllers)
    }
}

/// Where the data of an activity come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Source {
    /// Collected from the person (`person`): RGPD art. 13.
    Person(PersonSource),
    /// Taken from another activity of a register: RGPD art. 6.4 and 14.
    Activity(ActivitySource),
    /// Received from an outside body: RGPD art. 14.
    External(ExternalSource),
}

/// The plain `person` item of a source list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PersonSource {
    #[serde(rename = "person")]
    Person,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivitySource {
    pub activity: String,
    /// The organisation holding the source activity; the same organisation when absent.
    pub organisation: Option<String>,
    /// The categories reused; all the source's categories when absent.
    pub categories: Option<Vec<String>>,
    /// A documented RGPD art. 6.4 compatibility assessment.
    pub compatibility_assessment: Option<String>,
    pub safeguards: Option<Vec<String>>,
}

impl ActivitySource {
    pub fn safeguards(&self) -> &[String] {
        list(&self.safeguards)
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalSource {
    pub external: String,
    pub legal_text: Option<String>,
}

impl JsonSchema for Source {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Source".into()
    }

    /// The item's shape is chosen by its key, so that an error inside a source names its field
    /// instead of "matches none of the alternatives".
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let person = generator.subschema_for::<PersonSource>();
        let activity = generator.subschema_for::<ActivitySource>();
        let external = generator.subschema_for::<ExternalSource>();
        schemars::json_schema!({
            "if": {"type": "object", "required": ["activity"]},
            "then": activity,
            "else": {
                "if": {"type": "object"},
                "then": external,
                "else": person
            }
        })
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Processor {
    pub name: String,
    /// An RGPD art. 28 contract binds the processor.
    pub contract: Option<bool>,
    pub country: Option<String>,
}

/// A transfer outside the European Economic Area.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub recipient: String,
    pub country: String,
    pub safeguard: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub active: Option<Period>,
    pub intermediate: Option<Period>,
    #[serde(rename = "final")]
    pub final_fate: Option<String>,
    /// When the clock starts, in words.
    pub start: Option<String>,
    pub per_category: Option<IndexMap<String, CategoryRetention>>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRetention {
    pub active: Option<Period>,
    pub intermediate: Option<Period>,
    #[serde(rename = "final")]
    pub final_fate: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DpiaStatus {
    Done,
    InProgress,
    NotRequired,
    None,
}

impl DpiaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DpiaStatus::Done => "done",
            DpiaStatus::InProgress => "in-progress",
            DpiaStatus::NotRequired => "not-required",
            DpiaStatus::None => "none",
        }
    }
}

/// Data protection impact assessment (RGPD art. 35).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dpia {
    pub status: DpiaStatus,
    /// `YYYY-MM-DD`.
    pub date: Option<String>,
    pub reference: Option<String>,
    /// For `not-required`: why no high risk remains although two criteria hold (WP248).
    pub justification: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ParentalConsent {
    BothHolders,
    OneHolder,
    None,
}

impl ParentalConsent {
    pub fn as_str(self) -> &'static str {
        match self {
            ParentalConsent::BothHolders => "both-holders",
            ParentalConsent::OneHolder => "one-holder",
            ParentalConsent::None => "none",
        }
    }
}

/// How consent is collected, for consent-based activities (RGPD art. 7).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentSettings {
    pub granular: Option<bool>,
    pub pre_ticked: Option<bool>,
    pub bundled: Option<bool>,
    pub withdrawal: Option<Vec<String>>,
    pub parental_consent: Option<ParentalConsent>,
    pub records_kept: Option<bool>,
    pub renewal: Option<Period>,
}

impl ConsentSettings {
    pub fn withdrawal(&self) -> &[String] {
        list(&self.withdrawal)
    }
}
