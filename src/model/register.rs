//! Register types: organisation, activity, sources, recipients, retention, consent settings.
//!
//! Optional fields are `Option` so that reading then writing a file gives back exactly the
//! fields it had; accessors give the defaults of the format.

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    pub id: String,
    pub name: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siren: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative: Option<Representative>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpo: Option<Dpo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activities: Option<Vec<Activity>>,
}

impl Organisation {
    pub fn activities(&self) -> &[Activity] {
        self.activities.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Representative {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The data protection officer (RGPD art. 37).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dpo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A processing activity (a "fiche de registre").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<Party>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint_controllers: Option<Vec<Party>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purposes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_category_exception: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_subjects: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_categories: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<Source>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<Recipient>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processors: Option<Vec<Processor>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<Vec<Transfer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_measures: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpia: Option<Dpia>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpia_criteria: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_decision: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
}

fn list<T>(items: &Option<Vec<T>>) -> &[T] {
    items.as_deref().unwrap_or_default()
}

impl Activity {
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivitySource {
    pub activity: String,
    /// The organisation holding the source activity; the same organisation when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// The categories reused; all the source's categories when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// A documented RGPD art. 6.4 compatibility assessment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_assessment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safeguards: Option<Vec<String>>,
}

impl ActivitySource {
    pub fn safeguards(&self) -> &[String] {
        list(&self.safeguards)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalSource {
    pub external: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Processor {
    pub name: String,
    /// An RGPD art. 28 contract binds the processor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A transfer outside the European Economic Area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub recipient: String,
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safeguard: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Period>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate: Option<Period>,
    #[serde(rename = "final", default, skip_serializing_if = "Option::is_none")]
    pub final_fate: Option<String>,
    /// When the clock starts, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_category: Option<IndexMap<String, CategoryRetention>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRetention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Period>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate: Option<Period>,
    #[serde(rename = "final", default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dpia {
    pub status: DpiaStatus,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granular: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_ticked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawal: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parental_consent: Option<ParentalConsent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_kept: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<Period>,
}

impl ConsentSettings {
    pub fn withdrawal(&self) -> &[String] {
        list(&self.withdrawal)
    }
}
