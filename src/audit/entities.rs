//! The register seen by the rules: Cedar entities (vocabulary, countries, organisations,
//! activities) and the contexts of requests. Only facts go here; every judgement is a rule.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};

use super::AuditError;
use crate::model::{Activity, ActivitySource, Organisation};
use crate::vocabulary::{Countries, Kind, Vocabulary};

/// `Type::"id"`, for the type names of the schema.
#[expect(clippy::expect_used, reason = "type names are constants of the schema, valid identifiers")]
pub(super) fn uid(type_name: &'static str, id: &str) -> EntityUid {
    let type_name = EntityTypeName::from_str(type_name).expect("constant type name");
    EntityUid::from_type_name_and_id(type_name, EntityId::new(id))
}

pub(super) fn activity_uid(organisation: &str, activity: &str) -> EntityUid {
    uid("Activity", &format!("{organisation}/{activity}"))
}

pub(super) fn organisation_uid(organisation: &str) -> EntityUid {
    uid("Organisation", organisation)
}

fn vocab_uid(kind: Kind, id: &str) -> EntityUid {
    let type_name = match kind {
        Kind::Purpose => "Purpose",
        Kind::DataCategory => "Category",
        _ => "Subject",
    };
    uid(type_name, id)
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.into_iter().map(string))
}

fn uids(items: impl IntoIterator<Item = EntityUid>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.into_iter().map(RestrictedExpression::new_entity_uid))
}

fn entity(
    uid: EntityUid,
    attrs: Vec<(&str, RestrictedExpression)>,
    parents: HashSet<EntityUid>,
) -> Result<Entity, AuditError> {
    let attrs = attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Entity::new(uid, attrs, parents).map_err(|e| AuditError::Internal(e.to_string()))
}

/// Purposes, categories and subjects with their parents, and countries in their zones.
pub(super) fn reference_entities(vocabulary: &Vocabulary, countries: &Countries) -> Vec<Entity> {
    let mut out = Vec::new();
    for kind in [Kind::Purpose, Kind::DataCategory, Kind::DataSubject] {
        for term in vocabulary.terms(kind) {
            let parents = term.parent.iter().map(|p| vocab_uid(kind, p)).collect();
            out.push(Entity::new_no_attrs(vocab_uid(kind, &term.id), parents));
        }
    }
    out.push(Entity::new_no_attrs(uid("Zone", "eee"), HashSet::new()));
    out.push(Entity::new_no_attrs(uid("Zone", "adequation"), HashSet::new()));
    for country in countries.all() {
        let mut zones = HashSet::new();
        if country.eea {
            zones.insert(uid("Zone", "eee"));
        }
        if country.adequacy.is_some() {
            zones.insert(uid("Zone", "adequation"));
        }
        out.push(Entity::new_no_attrs(uid("Country", &country.code), zones));
    }
    out
}

pub(super) fn organisation_entity(org: &Organisation, vocabulary: &Vocabulary) -> Result<Entity, AuditError> {
    let dpo_has_contact = org
        .dpo
        .as_ref()
        .is_some_and(|d| d.email.is_some() || d.phone.is_some());
    entity(
        organisation_uid(&org.id),
        vec![
            ("kind", string(&org.kind)),
            ("public_body", RestrictedExpression::new_bool(vocabulary.is_public_body(&org.kind))),
            ("has_address", RestrictedExpression::new_bool(has_text(org.address.as_deref()))),
            ("has_email", RestrictedExpression::new_bool(has_text(org.email.as_deref()))),
            ("has_dpo", RestrictedExpression::new_bool(org.dpo.is_some())),
            ("dpo_has_contact", RestrictedExpression::new_bool(dpo_has_contact)),
        ],
        HashSet::new(),
    )
}

fn has_text(s: Option<&str>) -> bool {
    s.is_some_and(|s| !s.trim().is_empty())
}

pub(super) fn activity_entity(
    org: &Organisation,
    a: &Activity,
    vocabulary: &Vocabulary,
) -> Result<Entity, AuditError> {
    let mut parents: HashSet<EntityUid> = HashSet::new();
    parents.insert(organisation_uid(&org.id));
    parents.extend(a.purposes().iter().map(|p| vocab_uid(Kind::Purpose, p)));
    parents.extend(a.data_categories().iter().map(|c| vocab_uid(Kind::DataCategory, c)));
    parents.extend(a.data_subjects().iter().map(|s| vocab_uid(Kind::DataSubject, s)));

    let bool_ = RestrictedExpression::new_bool;
    let mut attrs = vec![
        ("role", string(a.role().as_str())),
        ("has_on_behalf_of", bool_(a.on_behalf_of.is_some())),
        ("purposes", uids(a.purposes().iter().map(|p| vocab_uid(Kind::Purpose, p)))),
        ("data_categories", uids(a.data_categories().iter().map(|c| vocab_uid(Kind::DataCategory, c)))),
        ("data_subjects", uids(a.data_subjects().iter().map(|s| vocab_uid(Kind::DataSubject, s)))),
        ("has_legal_basis_text", bool_(has_text(a.legal_basis_text.as_deref()))),
        ("has_recipients", bool_(!a.recipients().is_empty())),
        ("recipient_types", strings(a.recipients().iter().filter_map(|r| r.kind.as_deref()))),
        (
            "processor_contracts",
            RestrictedExpression::new_set(a.processors().iter().map(|p| bool_(p.contract.unwrap_or(false)))),
        ),
        ("retention_permanent", bool_(retention_periods(a).any(|p| p.is_permanent()))),
        ("security_measures", strings(a.security_measures().iter().map(String::as_str))),
        ("automated_decision", bool_(a.automated_decision.unwrap_or(false))),
        ("consent_based", bool_(is_consent_based(a))),
    ];
    if let Some(basis) = &a.legal_basis {
        attrs.push(("legal_basis", string(basis)));
    }
    if let Some(exception) = &a.special_category_exception {
        attrs.push(("special_category_exception", string(exception)));
    }
    if let Some(days) = retention_days(a) {
        attrs.push(("retention_days", RestrictedExpression::new_long(days)));
    }
    if let Some(dpia) = &a.dpia {
        attrs.push(("dpia_status", string(dpia.status.as_str())));
    }
    let criteria = dpia_criteria(a, vocabulary);
    attrs.push(("dpia_criteria_count", RestrictedExpression::new_long(criteria.len() as i64)));
    attrs.push(("dpia_criteria", strings(criteria.iter().map(String::as_str))));
    if let Some(consent) = &a.consent {
        let mut fields = vec![(
            "withdrawal".to_owned(),
            strings(consent.withdrawal().iter().map(String::as_str)),
        )];
        let flags = [
            ("granular", consent.granular),
            ("pre_ticked", consent.pre_ticked),
            ("bundled", consent.bundled),
            ("records_kept", consent.records_kept),
        ];
        fields.extend(flags.into_iter().filter_map(|(k, v)| Some((k.to_owned(), bool_(v?)))));
        if let Some(parental) = consent.parental_consent {
            fields.push(("parental_consent".to_owned(), string(parental.as_str())));
        }
        let record = RestrictedExpression::new_record(fields).map_err(|e| AuditError::Internal(e.to_string()))?;
        attrs.push(("consent", record));
    }
    entity(activity_uid(&org.id, &a.id), attrs, parents)
}

/// Consent (6.1.a) or explicit consent (9.2.a) is what makes the processing lawful.
fn is_consent_based(a: &Activity) -> bool {
    a.legal_basis.as_deref() == Some("consentement")
        || a.special_category_exception.as_deref() == Some("consentement-explicite")
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

/// The DPIA criteria the DPO declared, plus those the register makes evident.
fn dpia_criteria(a: &Activity, vocabulary: &Vocabulary) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = a.dpia_criteria().iter().cloned().collect();
    let within = |kind: Kind, ids: &[String], targets: &[String]| {
        ids.iter()
            .any(|id| targets.iter().any(|t| vocabulary.is_within(kind, id, t)))
    };
    for criterion in vocabulary.terms(Kind::DpiaCriterion) {
        let Some(implied) = &criterion.implied_by else {
            continue;
        };
        if within(Kind::Purpose, a.purposes(), &implied.purposes)
            || within(Kind::DataCategory, a.data_categories(), &implied.data_categories)
            || within(Kind::DataSubject, a.data_subjects(), &implied.data_subjects)
        {
            out.insert(criterion.id.clone());
        }
    }
    out
}

/// Context of a reuse request: the new purpose and what is taken from the source.
pub(super) fn reuse_context(
    purpose: &str,
    source: &ActivitySource,
    source_activity: &Activity,
    same_organisation: bool,
    vocabulary: &Vocabulary,
) -> Vec<(String, RestrictedExpression)> {
    let reused = source
        .categories
        .as_deref()
        .unwrap_or(source_activity.data_categories());
    let categories: BTreeSet<&str> = reused
        .iter()
        .flat_map(|c| vocabulary.lineage(Kind::DataCategory, c))
        .collect();
    let bool_ = RestrictedExpression::new_bool;
    vec![
        ("purpose".to_owned(), RestrictedExpression::new_entity_uid(vocab_uid(Kind::Purpose, purpose))),
        (
            "purpose_family".to_owned(),
            RestrictedExpression::new_entity_uid(vocab_uid(Kind::Purpose, vocabulary.root(Kind::Purpose, purpose))),
        ),
        (
            "categories".to_owned(),
            uids(categories.into_iter().map(|c| vocab_uid(Kind::DataCategory, c))),
        ),
        ("safeguards".to_owned(), strings(source.safeguards().iter().map(String::as_str))),
        ("assessment".to_owned(), bool_(has_text(source.compatibility_assessment.as_deref()))),
        ("same_organisation".to_owned(), bool_(same_organisation)),
    ]
}

/// Lower-case domain of an e-mail address.
pub(super) fn email_domain(email: &str) -> Option<String> {
    email.rsplit_once('@').map(|(_, d)| d.trim().to_ascii_lowercase())
}

/// Finds the organisation and activity a source points to (checked when the register loaded).
pub(super) fn find_source<'r>(
    organisations: &HashMap<&str, &'r Organisation>,
    org: &'r Organisation,
    source: &ActivitySource,
) -> Option<(&'r Organisation, &'r Activity)> {
    let source_org = match &source.organisation {
        Some(id) if *id != org.id => *organisations.get(id.as_str())?,
        _ => org,
    };
    let activity = source_org.activities().iter().find(|a| a.id == source.activity)?;
    Some((source_org, activity))
}
