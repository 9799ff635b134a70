//! Consent receipts (ISO/IEC TS 27560:2023, with the field names of the W3C DPV guide
//! « consent-27560 », profile `receipt-eu-gdpr`), in JSON-LD, and what makes them provable
//! offline: the event itself, its hash, the signed tree head that includes it and the
//! inclusion proof. Anyone holding the organisation's published public key can check a
//! receipt with [`verify`] alone.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::event::{Event, EventKind, Role};
use super::head::{HeadError, TreeHead};
use super::merkle::{self, Hash};
use crate::model::{Activity, Organisation};
use crate::vocabulary::{Kind, Vocabulary};

/// The profile a receipt conforms to.
pub const PROFILE: &str = "https://w3id.org/dpv/schema/dpv-27560#receipt-eu-gdpr";
/// The profile of the record inside it.
pub const RECORD_PROFILE: &str = "https://w3id.org/dpv/schema/dpv-27560#record-eu-gdpr";

/// What a receipt is made of.
pub struct Input<'a> {
    pub event: &'a Event,
    pub organisation: &'a Organisation,
    pub activity: &'a Activity,
    pub vocabulary: &'a Vocabulary,
    /// A signed head of a tree that includes the event.
    pub head: &'a TreeHead,
    /// The event's inclusion proof in that tree.
    pub proof: &'a [Hash],
    pub public_key: &'a str,
    /// The public address of the consent form the person saw.
    pub notice_url: String,
    /// The private address where the person manages their consents, when they have one.
    pub manage_url: Option<String>,
    pub created: Timestamp,
}

/// The DPV status of an event's answer.
fn status(event: &Event, accepted: bool) -> &'static str {
    match (event.draft.kind, accepted) {
        (EventKind::Withdrawn, _) => "dpv:ConsentWithdrawn",
        (_, false) => "dpv:ConsentRefused",
        (EventKind::Renewed, true) => "dpv:RenewedConsentGiven",
        _ => "dpv:ConsentGiven",
    }
}

/// Who acted: the person, each holder of parental authority, the child, the agent.
fn indicated_by(event: &Event) -> Vec<Value> {
    let mut out: Vec<Value> = event
        .draft
        .signatories
        .iter()
        .map(|s| {
            let role = match s.role {
                Role::Personne => "dpv:DataSubject",
                Role::TitulaireAutoriteParentale => "dpv:ParentOfDataSubject",
                Role::Enfant => "dpv:Child",
            };
            json!({ "@type": role, "dct:identifier": s.subject })
        })
        .collect();
    if let Some(agent) = &event.draft.agent {
        out.push(json!({ "@type": "dpv:DataController", "dct:identifier": agent, "dct:description": "agent qui a recueilli la réponse" }));
    }
    out
}

fn concept(vocabulary: &Vocabulary, kind: Kind, id: &str) -> Value {
    let term = vocabulary.term(kind, id);
    json!({
        "dct:identifier": id,
        "dct:title": vocabulary.label(kind, id),
        "@type": term.and_then(|t| t.dpv.clone()),
    })
}

/// The receipt of an event, in JSON-LD.
pub fn receipt(input: &Input<'_>) -> Value {
    let Input {
        event,
        organisation,
        activity,
        vocabulary,
        ..
    } = input;
    let consent_based_special =
        activity.special_category_exception.as_deref() == Some("consentement-explicite");
    let legal_basis = if consent_based_special {
        vec!["eu-gdpr:A6-1-a", "eu-gdpr:A9-2-a"]
    } else {
        vec!["eu-gdpr:A6-1-a"]
    };
    let special: Vec<&String> = activity
        .data_categories()
        .iter()
        .filter(|c| vocabulary.is_within(Kind::DataCategory, c, "categorie-particuliere"))
        .collect();
    let personal_data: Vec<Value> = activity
        .data_categories()
        .iter()
        .map(|c| {
            let mut data = concept(vocabulary, Kind::DataCategory, c);
            if special.contains(&c) {
                data["dpv:hasSensitivityLevel"] = json!("dpv:SpecialCategoryPersonalData");
            }
            data
        })
        .collect();
    let retention = activity.retention.as_ref();
    let storage_duration = retention
        .and_then(|r| r.active.as_ref())
        .map(|p| p.as_str().to_owned());
    let mut withdrawal: Vec<Value> = activity
        .consent
        .as_ref()
        .map(|c| c.withdrawal())
        .unwrap_or_default()
        .iter()
        .map(|w| {
            json!({ "@type": "dpv:WithdrawingPermission", "dct:title": vocabulary.label(Kind::WithdrawalChannel, w) })
        })
        .collect();
    if let Some(url) = &input.manage_url {
        withdrawal.insert(
            0,
            json!({ "@type": "dpv:WithdrawingPermission", "dpv:isExercisedAt": url }),
        );
    }
    let validity = match activity.consent.as_ref().and_then(|c| c.renewal.as_ref()) {
        Some(period) => json!({ "@type": "dpv:TemporalDuration", "rdf:value": period.as_str() }),
        None => json!({ "@type": "dpv:UntilEventDuration", "dct:description": "jusqu'au retrait" }),
    };
    let statuses: Vec<Value> = event
        .draft
        .answers
        .iter()
        .map(|a| {
            json!({
                "@type": [status(event, a.accepted), "dpv:ExpressedConsent"],
                "dct:subject": a.choice,
                "dpv:isIndicatedAtTime": event.at,
                "dpv:isIndicatedBy": indicated_by(event),
                "dpv:hasIndicationMethod": event.draft.channel.as_str(),
                "dpv:hasDuration": validity,
            })
        })
        .collect();
    let countries: Vec<&str> = std::iter::once("FR")
        .chain(activity.transfers().iter().map(|t| t.country.as_str()))
        .collect();
    let controller = json!({
        "@type": "dpv:DataController",
        "dpv:hasIdentifier": organisation.id,
        "dpv:hasName": organisation.name,
        "schema:address": organisation.address,
        "schema:email": organisation.email,
    });
    let dpo = organisation.dpo.as_ref().map(|d| {
        json!({ "@type": "dpv:DataProtectionOfficer", "dpv:hasName": d.name, "schema:email": d.email })
    });
    json!({
        "@context": {
            "dpv": "https://w3id.org/dpv#",
            "pd": "https://w3id.org/dpv/pd#",
            "eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#",
            "loc": "https://w3id.org/dpv/loc#",
            "dct": "http://purl.org/dc/terms/",
            "schema": "https://schema.org/",
            "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
            "proof": { "@id": "urn:registre:proof", "@type": "@json" },
        },
        "@type": "dpv:ConsentReceipt",
        "dct:identifier": format!("recu-{}", event.id()),
        "dct:conformsTo": PROFILE,
        "dct:created": input.created.to_string(),
        "dct:publisher": organisation.name,
        "dpv:hasRecordOfActivity": {
            "@type": "dpv:ConsentRecord",
            "dct:identifier": event.id(),
            "dct:conformsTo": RECORD_PROFILE,
            "dpv:hasDataSubject": { "@type": "dpv:DataSubject", "dct:identifier": event.draft.subject },
            "dpv:hasDataController": controller,
            "dpv:hasEntity": dpo.into_iter().collect::<Vec<_>>(),
            "dpv:hasJurisdiction": ["loc:FR", "loc:EU"],
            "dpv:hasApplicableLaw": "eu-gdpr:GDPR",
            "dpv:hasAuthority": { "@type": "dpv:DataProtectionAuthority", "dpv:hasName": "Commission nationale de l'informatique et des libertés (CNIL)", "schema:url": "https://www.cnil.fr" },
            "dpv:hasNotice": {
                "@type": "dpv:ConsentNotice",
                "@id": input.notice_url,
                "dct:language": event.draft.language,
                "dct:hasVersion": event.draft.document.version,
                "dpv:hasHash": event.draft.document.sha256,
            },
            "dpv:hasProcess": {
                "@type": "dpv:Process",
                "dct:title": activity.name,
                "dpv:hasPurpose": activity.purposes().iter().map(|p| concept(vocabulary, Kind::Purpose, p)).collect::<Vec<_>>(),
                "dpv:hasLegalBasis": legal_basis,
                "dpv:hasPersonalData": personal_data,
                "dpv:hasRecipient": activity.recipients().iter().map(|r| json!({ "@type": "dpv:Recipient", "dpv:hasName": r.name })).collect::<Vec<_>>(),
                "dpv:hasStorageCondition": [
                    { "@type": "dpv:StorageLocation", "dpv:hasLocation": countries.iter().map(|c| format!("loc:{c}")).collect::<Vec<_>>() },
                    { "@type": "dpv:StorageDuration", "dpv:hasDuration": storage_duration, "dct:description": retention.and_then(|r| r.start.clone()) },
                ],
                "dpv:hasDataSource": { "@type": "dpv:DataSubjectDataSource", "dpv:hasIndicationMethod": event.draft.channel.as_str() },
            },
            "dpv:hasInvolvementControl": withdrawal,
            "dpv:hasRight": [{ "@type": ["dpv:DataSubjectRight", "eu-gdpr:A7-3"] }],
            "dpv:hasConsentStatus": statuses,
        },
        "proof": {
            "event": event,
            "event_hash": event.hash,
            "leaf_index": event.seq,
            "tree_head": input.head,
            "inclusion_proof": input.proof.iter().map(hex::encode).collect::<Vec<_>>(),
            "public_key": input.public_key,
        },
    })
}

/// Why a receipt does not prove its event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("le reçu n'a pas de preuve lisible : {0}")]
    Unreadable(String),
    #[error("l'événement du reçu a été modifié : son contenu ne donne plus son empreinte")]
    Altered,
    #[error("le reçu est signé par une autre clé que la clé publiée")]
    OtherKey,
    #[error("{0}")]
    Head(#[from] HeadError),
    #[error("la preuve d'inclusion ne relie pas l'événement à la tête d'arbre signée")]
    NotIncluded,
}

/// Checks a receipt offline with the organisation's published `public_key`: its event gives
/// its hash, the tree head is signed by that key, and the inclusion proof links the two.
/// The verified event comes back.
pub fn verify(receipt: &Value, public_key: &str) -> Result<Event, ReceiptError> {
    let proof = &receipt["proof"];
    let read = |key: &str| -> Result<Value, ReceiptError> {
        proof
            .get(key)
            .cloned()
            .ok_or_else(|| ReceiptError::Unreadable(format!("`{key}` manque")))
    };
    let unreadable = |e: serde_json::Error| ReceiptError::Unreadable(e.to_string());
    let event: Event = serde_json::from_value(read("event")?).map_err(unreadable)?;
    let head: TreeHead = serde_json::from_value(read("tree_head")?).map_err(unreadable)?;
    let path: Vec<String> = serde_json::from_value(read("inclusion_proof")?).map_err(unreadable)?;
    if read("public_key")?.as_str() != Some(public_key) {
        return Err(ReceiptError::OtherKey);
    }
    let hash = event.computed_hash();
    if hex::encode(hash) != event.hash {
        return Err(ReceiptError::Altered);
    }
    let root = head.verified_root(public_key)?;
    let path: Vec<Hash> = path
        .iter()
        .map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| ReceiptError::Unreadable("preuve d'inclusion illisible".to_owned()))?;
    let leaf = merkle::leaf_hash(&hash);
    if head.organisation != event.organisation
        || !merkle::verify_inclusion(&leaf, event.seq, head.size, &path, &root)
    {
        return Err(ReceiptError::NotIncluded);
    }
    Ok(event)
}
