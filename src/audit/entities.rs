//! The register seen by the rules: Cedar entities (vocabulary, countries, organisations,
//! activities) and the contexts of requests. Only facts go here; every judgement is a rule.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use cedar_policy_core::ast::{
    Context, Eid, Entity, EntityType, EntityUID, Name, PartialValue, Value,
};

use super::PolicyPack;
use crate::model::{Activity, ActivitySource, Organisation};
use crate::vocabulary::{Countries, Folded, Kind, Vocabulary, Words, fold};

/// The entity types of the schema.
const TYPES: [&str; 8] = [
    "Purpose",
    "Category",
    "Subject",
    "Zone",
    "Country",
    "Organisation",
    "Activity",
    "Action",
];

/// `Type::"id"`, for the type names of the schema (parsed once: uids are made by the thousand).
#[expect(
    clippy::expect_used,
    reason = "type names are constants of the schema, valid identifiers"
)]
pub(super) fn uid(type_name: &'static str, id: &str) -> EntityUID {
    static PARSED: OnceLock<Vec<EntityType>> = OnceLock::new();
    let parsed = PARSED.get_or_init(|| {
        TYPES
            .iter()
            .map(|t| EntityType::from(Name::from_str(t).expect("constant type name")))
            .collect()
    });
    let index = TYPES
        .iter()
        .position(|t| *t == type_name)
        .expect("a type of the schema");
    EntityUID::from_components(parsed[index].clone(), Eid::new(id), None)
}

fn vocab_uid(kind: Kind, id: &str) -> EntityUID {
    let type_name = match kind {
        Kind::Purpose => "Purpose",
        Kind::DataCategory => "Category",
        _ => "Subject",
    };
    uid(type_name, id)
}

// Facts become Cedar values directly: Cedar's entity and context constructors would evaluate
// an expression for every attribute of thousands of entities.

pub(super) fn string(s: &str) -> Value {
    Value::from(s)
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::set(items.into_iter().map(string), None)
}

fn uids(items: impl IntoIterator<Item = EntityUID>) -> Value {
    Value::set(items.into_iter().map(Value::from), None)
}

fn flag(b: bool) -> Value {
    Value::from(b)
}

fn long(n: i64) -> Value {
    Value::from(n)
}

/// A request context with these attributes.
pub(super) fn context(pairs: Vec<(&str, Value)>) -> Context {
    let record: BTreeMap<_, _> = pairs.into_iter().map(|(k, v)| (k.into(), v)).collect();
    Context::Value(Arc::new(record))
}

/// The ancestors of an entity, all of them: entity stores are built with their transitive
/// closure already known (the vocabulary is a tree), which Cedar would otherwise recompute for
/// every store.
#[derive(Default)]
struct Ancestry {
    parents: HashSet<EntityUID>,
    indirect: HashSet<EntityUID>,
}

impl Ancestry {
    /// Adds a vocabulary term as a parent, and the terms above it.
    fn add_term(&mut self, vocabulary: &Vocabulary, kind: Kind, id: &str) {
        let mut lineage = vocabulary.lineage(kind, id);
        if let Some(id) = lineage.next() {
            self.parents.insert(vocab_uid(kind, id));
        }
        self.indirect.extend(lineage.map(|a| vocab_uid(kind, a)));
    }

    fn done(mut self) -> Self {
        self.indirect.retain(|a| !self.parents.contains(a));
        self
    }
}

fn entity(
    uid: EntityUID,
    attrs: Vec<(&str, Value)>,
    ancestry: Ancestry,
    tags: Vec<(&str, Value)>,
) -> Entity {
    let partial = |pairs: Vec<(&str, Value)>| {
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), PartialValue::Value(v)))
            .collect::<Vec<_>>()
    };
    let Ancestry { parents, indirect } = ancestry.done();
    Entity::new_with_attr_partial_value(uid, partial(attrs), indirect, parents, partial(tags))
}

/// Purposes, categories and subjects with their families.
pub(super) fn vocabulary_entities(vocabulary: &Vocabulary) -> Vec<Entity> {
    let mut out = Vec::new();
    for kind in [Kind::Purpose, Kind::DataCategory, Kind::DataSubject] {
        for term in vocabulary.terms(kind) {
            let mut ancestry = Ancestry::default();
            if let Some(parent) = &term.parent {
                ancestry.add_term(vocabulary, kind, parent);
            }
            out.push(entity(vocab_uid(kind, &term.id), vec![], ancestry, vec![]));
        }
    }
    out
}

/// Countries in their zones (`Zone::"eee"`, `Zone::"adequation"`).
pub(super) fn country_entities(countries: &Countries) -> Vec<Entity> {
    let mut out = Vec::new();
    for zone in ["eee", "adequation"] {
        out.push(entity(
            uid("Zone", zone),
            vec![],
            Ancestry::default(),
            vec![],
        ));
    }
    for country in countries.all() {
        let mut zones = Ancestry::default();
        if country.eea {
            zones.parents.insert(uid("Zone", "eee"));
        }
        if country.adequacy.is_some() {
            zones.parents.insert(uid("Zone", "adequation"));
        }
        out.push(entity(uid("Country", &country.code), vec![], zones, vec![]));
    }
    out
}

/// An organisation as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct OrganisationFacts<'a> {
    /// Set only when rules name organisations: the facts are then never shared.
    pub identity: Option<&'a str>,
    kind: &'a str,
    /// Its kind, and what its name says it is (`ccas`, `departement`, `caisse-retraite` …).
    natures: Vec<&'a str>,
    public_body: bool,
    has_address: bool,
    has_email: bool,
    has_dpo: bool,
    dpo_has_contact: bool,
}

impl<'a> OrganisationFacts<'a> {
    pub fn of(org: &'a Organisation, pack: &'a PolicyPack, named: bool) -> Self {
        let vocabulary = &pack.vocabulary;
        OrganisationFacts {
            identity: named.then_some(org.id.as_str()),
            kind: &org.kind,
            natures: organisation_natures(org, &pack.words),
            public_body: vocabulary.is_public_body(&org.kind),
            has_address: has_text(org.address.as_deref()),
            has_email: has_text(org.email.as_deref()),
            has_dpo: org.dpo.is_some(),
            dpo_has_contact: org
                .dpo
                .as_ref()
                .is_some_and(|d| d.email.is_some() || d.phone.is_some()),
        }
    }

    pub fn to_entity(&self, uid: EntityUID) -> Entity {
        let b = flag;
        entity(
            uid,
            vec![
                ("kind", string(self.kind)),
                ("natures", strings(self.natures.iter().copied())),
                ("public_body", b(self.public_body)),
                ("has_address", b(self.has_address)),
                ("has_email", b(self.has_email)),
                ("has_dpo", b(self.has_dpo)),
                ("dpo_has_contact", b(self.dpo_has_contact)),
            ],
            Ancestry::default(),
            vec![],
        )
    }
}

/// What an organisation is: its kind, and the nature its name reveals.
pub(super) fn organisation_natures<'a>(org: &'a Organisation, words: &'a Words) -> Vec<&'a str> {
    set([Some(org.kind.as_str()), words.nature(&org.name)]
        .into_iter()
        .flatten())
}

fn has_text(s: Option<&str>) -> bool {
    s.is_some_and(|s| !s.trim().is_empty())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ConsentFacts<'a> {
    granular: Option<bool>,
    pre_ticked: Option<bool>,
    bundled: Option<bool>,
    withdrawal: Vec<&'a str>,
    parental_consent: Option<&'static str>,
    records_kept: Option<bool>,
}

/// An activity as the rules see it (the attributes of `Activity` in the schema). Two
/// activities with the same facts get the same answers, so each distinct one is asked once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ActivityFacts<'a> {
    /// Set only when rules name activities or organisations: the facts are then never shared.
    identity: Option<(&'a str, &'a str)>,
    /// Index of the organisation's facts.
    pub organisation: usize,
    role: &'static str,
    has_on_behalf_of: bool,
    purposes: Vec<&'a str>,
    data_categories: Vec<&'a str>,
    data_subjects: Vec<&'a str>,
    legal_basis: Option<&'a str>,
    has_legal_basis_text: bool,
    special_category_exception: Option<&'a str>,
    has_recipients: bool,
    has_joint_controllers: bool,
    recipient_types: Vec<&'a str>,
    /// What each recipient is: the nature its name reveals, or else its type.
    recipient_natures: Vec<&'a str>,
    processor_contracts: Vec<bool>,
    retention_days: Option<i64>,
    /// Longest time in any form: active plus intermediate, per category included.
    retention_total_days: Option<i64>,
    retention_permanent: bool,
    /// Longest period for the data of each category family held (the entity's tags).
    category_retention: Vec<(&'a str, i64)>,
    security_measures: Vec<&'a str>,
    dpia_status: Option<&'static str>,
    dpia_justified: bool,
    dpia_criteria: Vec<&'a str>,
    consent: Option<ConsentFacts<'a>>,
    automated_decision: bool,
    pub consent_based: bool,
    /// The special categories the name and description reveal (`special_category.possible`).
    revealed_categories: Vec<&'a str>,
    /// What the activity is by the words of its name, description, recipients and
    /// processors (`jures-assises`, `logement-social` …).
    cases: Vec<&'a str>,
    /// The families of the services its name names (what a billing file bills).
    named_families: Vec<&'a str>,
    /// Other activities take data from it: it is a file others are filled from.
    pub is_source: bool,
}

/// Sorted and without repeats: a set, in a form that hashes.
fn set<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = items.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl<'a> ActivityFacts<'a> {
    pub fn of(
        org: &'a Organisation,
        organisation: usize,
        a: &'a Activity,
        pack: &'a PolicyPack,
        named: bool,
        is_source: bool,
        text: &TextFacts<'a>,
    ) -> Self {
        let vocabulary = &pack.vocabulary;
        let strs = |v: &'a [String]| set(v.iter().map(String::as_str));
        let mut contracts: Vec<bool> = a
            .processors()
            .iter()
            .map(|p| p.contract.unwrap_or(false))
            .collect();
        contracts.sort_unstable();
        contracts.dedup();
        ActivityFacts {
            identity: named.then_some((org.id.as_str(), a.id.as_str())),
            organisation,
            role: a.role().as_str(),
            has_on_behalf_of: a.on_behalf_of.is_some(),
            purposes: strs(a.purposes()),
            data_categories: strs(a.data_categories()),
            data_subjects: strs(a.data_subjects()),
            legal_basis: a.legal_basis.as_deref(),
            has_legal_basis_text: has_text(a.legal_basis_text.as_deref()),
            special_category_exception: a.special_category_exception.as_deref(),
            has_recipients: !a.recipients().is_empty(),
            has_joint_controllers: !a.joint_controllers().is_empty(),
            recipient_types: set(a.recipients().iter().filter_map(|r| r.kind.as_deref())),
            recipient_natures: text.recipient_natures.clone(),
            processor_contracts: contracts,
            retention_days: retention_days(a),
            retention_total_days: retention_total_days(a),
            retention_permanent: retention_periods(a).any(|p| p.is_permanent()),
            category_retention: category_retention(a, vocabulary),
            security_measures: strs(a.security_measures()),
            dpia_status: a.dpia.as_ref().map(|d| d.status.as_str()),
            dpia_justified: a.dpia.as_ref().is_some_and(|d| {
                d.status.as_str() == "not-required" && has_text(d.justification.as_deref())
            }),
            dpia_criteria: dpia_criteria(a, vocabulary),
            consent: a.consent.as_ref().map(|c| ConsentFacts {
                granular: c.granular,
                pre_ticked: c.pre_ticked,
                bundled: c.bundled,
                withdrawal: strs(c.withdrawal()),
                parental_consent: c.parental_consent.map(|p| p.as_str()),
                records_kept: c.records_kept,
            }),
            automated_decision: a.automated_decision.unwrap_or(false),
            consent_based: a.is_consent_based(),
            revealed_categories: text.revealed_categories.clone(),
            named_families: text.named_families.clone(),
            cases: text.cases.clone(),
            is_source,
        }
    }

    /// The vocabulary entities the activity is `in`: its purposes, categories and subjects
    /// with their families.
    pub fn ancestors(&self, vocabulary: &'a Vocabulary) -> super::slice::Ancestors<'a> {
        let lists = [
            ("Purpose", Kind::Purpose, &self.purposes),
            ("Category", Kind::DataCategory, &self.data_categories),
            ("Subject", Kind::DataSubject, &self.data_subjects),
        ];
        lists
            .into_iter()
            .flat_map(|(type_name, kind, ids)| {
                ids.iter()
                    .flat_map(move |id| vocabulary.lineage(kind, id))
                    .map(move |id| (type_name, id))
            })
            .collect()
    }

    pub fn identity(&self) -> Option<(&'a str, &'a str)> {
        self.identity
    }

    pub fn to_entity(
        &self,
        uid: EntityUID,
        organisation: EntityUID,
        vocabulary: &Vocabulary,
    ) -> Entity {
        let mut ancestry = Ancestry::default();
        ancestry.parents.insert(organisation);
        let terms = [
            (Kind::Purpose, &self.purposes),
            (Kind::DataCategory, &self.data_categories),
            (Kind::DataSubject, &self.data_subjects),
        ];
        for (kind, ids) in terms {
            for id in ids {
                ancestry.add_term(vocabulary, kind, id);
            }
        }
        let b = flag;
        let mut attrs = vec![
            ("role", string(self.role)),
            ("has_on_behalf_of", b(self.has_on_behalf_of)),
            (
                "purposes",
                uids(self.purposes.iter().map(|p| vocab_uid(Kind::Purpose, p))),
            ),
            (
                "data_categories",
                uids(
                    self.data_categories
                        .iter()
                        .map(|c| vocab_uid(Kind::DataCategory, c)),
                ),
            ),
            (
                "data_subjects",
                uids(
                    self.data_subjects
                        .iter()
                        .map(|s| vocab_uid(Kind::DataSubject, s)),
                ),
            ),
            ("has_legal_basis_text", b(self.has_legal_basis_text)),
            ("has_recipients", b(self.has_recipients)),
            ("has_joint_controllers", b(self.has_joint_controllers)),
            (
                "recipient_types",
                strings(self.recipient_types.iter().copied()),
            ),
            (
                "recipient_natures",
                strings(self.recipient_natures.iter().copied()),
            ),
            (
                "revealed_categories",
                uids(
                    self.revealed_categories
                        .iter()
                        .map(|c| vocab_uid(Kind::DataCategory, c)),
                ),
            ),
            ("cases", strings(self.cases.iter().copied())),
            (
                "named_families",
                uids(
                    self.named_families
                        .iter()
                        .map(|p| vocab_uid(Kind::Purpose, p)),
                ),
            ),
            ("is_source", b(self.is_source)),
            (
                "processor_contracts",
                Value::set(self.processor_contracts.iter().map(|c| b(*c)), None),
            ),
            ("retention_permanent", b(self.retention_permanent)),
            (
                "security_measures",
                strings(self.security_measures.iter().copied()),
            ),
            ("dpia_criteria", strings(self.dpia_criteria.iter().copied())),
            ("dpia_justified", b(self.dpia_justified)),
            ("dpia_criteria_count", long(self.dpia_criteria.len() as i64)),
            ("automated_decision", b(self.automated_decision)),
            ("consent_based", b(self.consent_based)),
        ];
        if let Some(basis) = self.legal_basis {
            attrs.push(("legal_basis", string(basis)));
        }
        if let Some(exception) = self.special_category_exception {
            attrs.push(("special_category_exception", string(exception)));
        }
        if let Some(days) = self.retention_days {
            attrs.push(("retention_days", long(days)));
        }
        if let Some(days) = self.retention_total_days {
            attrs.push(("retention_total_days", long(days)));
        }
        if let Some(status) = self.dpia_status {
            attrs.push(("dpia_status", string(status)));
        }
        if let Some(consent) = &self.consent {
            let mut fields = vec![("withdrawal", strings(consent.withdrawal.iter().copied()))];
            let flags = [
                ("granular", consent.granular),
                ("pre_ticked", consent.pre_ticked),
                ("bundled", consent.bundled),
                ("records_kept", consent.records_kept),
            ];
            fields.extend(flags.into_iter().filter_map(|(k, v)| Some((k, b(v?)))));
            if let Some(parental) = consent.parental_consent {
                fields.push(("parental_consent", string(parental)));
            }
            attrs.push(("consent", Value::record(fields, None)));
        }
        let tags = self
            .category_retention
            .iter()
            .map(|(category, days)| (*category, long(*days)))
            .collect();
        entity(uid, attrs, ancestry, tags)
    }
}

/// The free text of an activity, as read by the word lists (`policies/words.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TextKey<'a> {
    name: &'a str,
    description: Option<&'a str>,
    legal_basis_text: Option<&'a str>,
    recipients: Vec<(&'a str, Option<&'a str>)>,
    others: Vec<&'a str>,
}

impl<'a> TextKey<'a> {
    pub fn of(a: &'a Activity) -> Self {
        TextKey {
            name: &a.name,
            description: a.description.as_deref(),
            legal_basis_text: a.legal_basis_text.as_deref(),
            recipients: a
                .recipients()
                .iter()
                .map(|r| (r.name.as_str(), r.kind.as_deref()))
                .collect(),
            others: a
                .processors()
                .iter()
                .map(|p| p.name.as_str())
                .chain(a.joint_controllers().iter().map(|p| p.name.as_str()))
                .collect(),
        }
    }
}

/// What the free text of an activity says (the same text reads the same, so registers that
/// repeat activities read each text once).
#[derive(Debug, Clone, Default)]
pub(super) struct TextFacts<'a> {
    recipient_natures: Vec<&'a str>,
    revealed_categories: Vec<&'a str>,
    named_families: Vec<&'a str>,
    cases: Vec<&'a str>,
}

impl<'a> TextFacts<'a> {
    pub fn of(key: &TextKey<'a>, pack: &'a PolicyPack) -> Self {
        let words = &pack.words;
        let own = own_words(key.name, key.description);
        // What the activity is also shows in the text it cites and the bodies it deals with.
        let parties = fold(
            &key.recipients
                .iter()
                .map(|(name, _)| *name)
                .chain(key.legal_basis_text)
                .chain(key.others.iter().copied())
                .collect::<Vec<_>>()
                .join(" ; "),
        );
        TextFacts {
            recipient_natures: set(key
                .recipients
                .iter()
                .filter_map(|(name, kind)| words.nature(name).or(*kind))),
            revealed_categories: set(words
                .special_categories(std::slice::from_ref(&own))
                .into_iter()
                .map(|(id, _)| id)),
            // The name says what the activity is; its description may name its sources.
            named_families: set(words
                .purposes(&[fold(key.name)])
                .into_iter()
                .map(|p| pack.vocabulary.root(Kind::Purpose, p))),
            cases: set(words.cases(&[own, parties])),
        }
    }
}

/// An activity's own words: its name and description, which reveal its special categories.
pub(super) fn own_words(name: &str, description: Option<&str>) -> Folded {
    fold(&format!("{name} ; {}", description.unwrap_or("")))
}

/// For each category family the activity holds, the longest period applying to its data: the
/// category's own period when `per_category` gives one, the activity's active period otherwise.
fn category_retention<'a>(a: &'a Activity, vocabulary: &'a Vocabulary) -> Vec<(&'a str, i64)> {
    let retention = a.retention.as_ref();
    let general = retention
        .and_then(|r| r.active.as_ref())
        .and_then(|p| p.days());
    let mut out: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for category in a.data_categories() {
        let own = retention
            .and_then(|r| r.per_category.as_ref())
            .and_then(|m| m.get(category))
            .and_then(|c| c.active.as_ref())
            .and_then(|p| p.days());
        let Some(days) = own.or(general) else {
            continue;
        };
        for family in vocabulary.lineage(Kind::DataCategory, category) {
            let entry = out.entry(family).or_insert(days);
            *entry = (*entry).max(days);
        }
    }
    out.into_iter().collect()
}

fn retention_periods(a: &Activity) -> impl Iterator<Item = &crate::model::Period> {
    let retention = a.retention.as_ref();
    let active = retention.and_then(|r| r.active.as_ref());
    let per_category = retention
        .and_then(|r| r.per_category.as_ref())
        .into_iter()
        .flat_map(|m| m.values().filter_map(|c| c.active.as_ref()));
    active.into_iter().chain(per_category)
}

/// The longest active period of the activity, per-category periods included.
pub(super) fn retention_days(a: &Activity) -> Option<i64> {
    retention_periods(a).filter_map(|p| p.days()).max()
}

/// The longest time data of the activity are kept in any form: each active period (the
/// activity's, each category's) plus the intermediate period that follows it.
pub(super) fn retention_total_days(a: &Activity) -> Option<i64> {
    let retention = a.retention.as_ref()?;
    let days = |p: Option<&crate::model::Period>| p.and_then(|p| p.days());
    let general = days(retention.intermediate.as_ref()).unwrap_or(0);
    let own = days(retention.active.as_ref()).map(|d| d + general);
    let per_category = retention
        .per_category
        .iter()
        .flat_map(|m| m.values())
        .filter_map(|c| {
            let active = days(c.active.as_ref()).or(days(retention.active.as_ref()))?;
            Some(active + days(c.intermediate.as_ref()).unwrap_or(general))
        });
    own.into_iter().chain(per_category).max()
}

/// The DPIA criteria the DPO declared, plus those the register makes evident.
fn dpia_criteria<'a>(a: &'a Activity, vocabulary: &'a Vocabulary) -> Vec<&'a str> {
    let mut out: Vec<&str> = a.dpia_criteria().iter().map(String::as_str).collect();
    let within = |kind: Kind, ids: &[String], targets: &[String]| {
        ids.iter()
            .any(|id| targets.iter().any(|t| vocabulary.is_within(kind, id, t)))
    };
    for criterion in vocabulary.terms(Kind::DpiaCriterion) {
        let Some(implied) = &criterion.implied_by else {
            continue;
        };
        if within(Kind::Purpose, a.purposes(), &implied.purposes)
            || within(
                Kind::DataCategory,
                a.data_categories(),
                &implied.data_categories,
            )
            || within(Kind::DataSubject, a.data_subjects(), &implied.data_subjects)
        {
            out.push(&criterion.id);
        }
    }
    set(out)
}

/// A reuse as the rules see it: the new purpose and what is taken from the source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ReuseFacts<'a> {
    purpose: &'a str,
    purpose_family: &'a str,
    /// The categories reused with their families.
    categories: Vec<&'a str>,
    safeguards: Vec<&'a str>,
    assessment: bool,
    same_organisation: bool,
    public_body: bool,
    shares_family: bool,
    /// The data come through other files (a source of a source).
    pub indirect: bool,
    /// What the source's organisation is (its kind, and what its name says).
    source_natures: Vec<&'a str>,
    /// What the reusing organisation is.
    reuser_natures: Vec<&'a str>,
}

impl<'a> ReuseFacts<'a> {
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts of one reuse, each named"
    )]
    pub fn of(
        purpose: &'a str,
        source: &'a ActivitySource,
        source_activity: &'a Activity,
        same_organisation: bool,
        public_body: bool,
        indirect: bool,
        natures: (Vec<&'a str>, Vec<&'a str>),
        reusing_activity: &'a Activity,
        vocabulary: &'a Vocabulary,
    ) -> Self {
        let family = |p: &'a String| vocabulary.root(Kind::Purpose, p);
        let shares_family = reusing_activity.purposes().iter().any(|p| {
            source_activity
                .purposes()
                .iter()
                .any(|q| family(p) == family(q))
        });
        let reused = source
            .categories
            .as_deref()
            .unwrap_or(source_activity.data_categories());
        ReuseFacts {
            purpose,
            purpose_family: vocabulary.root(Kind::Purpose, purpose),
            categories: set(reused
                .iter()
                .flat_map(|c| vocabulary.lineage(Kind::DataCategory, c))),
            safeguards: set(source.safeguards().iter().map(String::as_str)),
            assessment: has_text(source.compatibility_assessment.as_deref()),
            same_organisation,
            public_body,
            shares_family,
            indirect,
            source_natures: natures.0,
            reuser_natures: natures.1,
        }
    }

    pub fn context(&self) -> Context {
        let b = flag;
        let pairs = vec![
            (
                "purpose",
                Value::from(vocab_uid(Kind::Purpose, self.purpose)),
            ),
            (
                "purpose_family",
                Value::from(vocab_uid(Kind::Purpose, self.purpose_family)),
            ),
            (
                "categories",
                uids(
                    self.categories
                        .iter()
                        .map(|c| vocab_uid(Kind::DataCategory, c)),
                ),
            ),
            ("safeguards", strings(self.safeguards.iter().copied())),
            ("assessment", b(self.assessment)),
            ("same_organisation", b(self.same_organisation)),
            ("public_body", b(self.public_body)),
            ("shares_family", b(self.shares_family)),
            ("indirect", b(self.indirect)),
            (
                "source_natures",
                strings(self.source_natures.iter().copied()),
            ),
            (
                "reuser_natures",
                strings(self.reuser_natures.iter().copied()),
            ),
        ];
        context(pairs)
    }
}

/// Lower-case domain of an e-mail address.
pub(super) fn email_domain(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_ascii_lowercase())
}
