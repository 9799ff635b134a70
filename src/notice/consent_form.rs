//! The consent form of a consent-based activity (RGPD art. 4.11, 7 and 8; EDPB guidelines
//! 05/2020): one unticked choice per purpose, and per medium when the data are published;
//! the information consent requires first; how to withdraw; who signs.

use serde::Serialize;

use crate::model::{Activity, Organisation, ParentalConsent};
use crate::vocabulary::Kind;

use super::sections::{WITHDRAWAL_GAP, gap_sentence, withdrawal_sentence};
use super::{Context, Missing, Named, NoticeError, Section, Version, notice};
use crate::render::typography::lowercase_first;

/// The sections of the notice a person must have read before consenting (EDPB guidelines
/// 05/2020 §64: who, why, what data, withdrawal, automated decisions, transfers), in order.
const INFORMATION: [&str; 6] = [
    "responsable",
    "finalites",
    "donnees",
    "conservation",
    "transferts",
    "decision-automatisee",
];

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ConsentForm {
    pub organisation: Named,
    pub activity: Named,
    pub title: String,
    pub intro: String,
    /// What the person must know before consenting, taken from the notice.
    pub information: Vec<Section>,
    /// One group per purpose: a fieldset on the web, a block of boxes on paper.
    pub groups: Vec<ChoiceGroup>,
    pub withdrawal: String,
    /// The people who sign: the person, or the holders of parental authority.
    pub signatories: Vec<String>,
    /// Who must sign for a minor, and why (LIL art. 45).
    pub minors: Option<String>,
    /// What identifies the child the form is about, when minors are concerned.
    pub child_fields: Vec<String>,
    /// The full notice, and the version of it this form refers to.
    pub notice_link: String,
    pub notice_version: Version,
    pub missing: Vec<Missing>,
    pub version: Version,
}

/// The choices of one purpose.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct ChoiceGroup {
    pub legend: String,
    pub choices: Vec<Choice>,
}

/// One box, unticked: its id is what a consent record stores (`purpose` or
/// `purpose:medium`).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Choice {
    pub id: String,
    pub label: String,
}

/// The consent form of `activity`; an error when its legal basis is not consent.
pub fn consent_form(
    context: &Context,
    organisation: &Organisation,
    activity: &Activity,
) -> Result<ConsentForm, NoticeError> {
    if !activity.is_consent_based() {
        return Err(NoticeError::NotConsentBased {
            activity: activity.id.clone(),
        });
    }
    let notice = notice(context, organisation, activity)?;
    // The notice already reports a missing channel; the form says it in place.
    let withdrawal = withdrawal_sentence(context.vocabulary, activity)
        .unwrap_or_else(|| gap_sentence(WITHDRAWAL_GAP));
    let information = INFORMATION
        .iter()
        .filter_map(|id| notice.sections.iter().find(|s| s.id == *id).cloned())
        .collect();
    let mut missing = notice.missing.clone();
    let (signatories, minors) = signatories(context, activity, &mut missing);
    let typeset = crate::render::typography::french;
    let mut form = ConsentForm {
        organisation: notice.organisation.clone(),
        activity: notice.activity.clone(),
        title: typeset(&format!("Formulaire de consentement : {}", activity.name)),
        intro: typeset(&intro(organisation, activity)),
        information,
        groups: groups(context, activity),
        withdrawal: typeset(&withdrawal),
        signatories,
        child_fields: if minors.is_some() {
            vec![
                "Nom et prénom de l'enfant".to_owned(),
                "Date de naissance de l'enfant".to_owned(),
            ]
        } else {
            Vec::new()
        },
        minors: minors.map(|m| typeset(&m)),
        notice_link: notice.link.clone(),
        notice_version: notice.version.clone(),
        missing,
        version: Version::default(),
    };
    form.version = Version::of("consent-form", &form);
    Ok(form)
}

fn intro(organisation: &Organisation, activity: &Activity) -> String {
    let mut intro = format!(
        "{} vous demande votre accord pour les utilisations ci-dessous. Chaque accord est distinct : cochez seulement ce que vous acceptez. Ne rien cocher revient à refuser",
        organisation.name
    );
    // A consent made a condition of a service is not free (art. 7.4): only a register that
    // says it is not backs the promise that refusing costs nothing.
    let settings = activity.consent.as_ref();
    let free = settings.and_then(|c| c.bundled) == Some(false);
    intro.push_str(if free {
        ", sans aucune conséquence pour vous."
    } else {
        "."
    });
    // How long it lasts (LEGAL.md §7: place, duration and purpose stated).
    let renewal = settings
        .and_then(|c| c.renewal.as_ref())
        .filter(|p| !p.is_permanent() && p.days().is_some_and(|d| d > 0));
    if let Some(period) = renewal.and_then(|p| p.in_words()) {
        intro.push_str(&format!(
            " Votre accord est valable {period} ; il vous sera ensuite demandé à nouveau."
        ));
    }
    intro
}

/// One group per purpose. When the activity publishes (recipients of type `public`), each
/// medium is its own choice: accepting the bulletin is not accepting social networks.
fn groups(context: &Context, activity: &Activity) -> Vec<ChoiceGroup> {
    let media: Vec<&str> = activity
        .recipients()
        .iter()
        .filter(|r| r.kind.as_deref() == Some("public"))
        .map(|r| r.name.as_str())
        .collect();
    activity
        .purposes()
        .iter()
        .map(|purpose| {
            let label = context.vocabulary.label(Kind::Purpose, purpose);
            let choices = if media.is_empty() {
                vec![Choice {
                    id: purpose.clone(),
                    label: format!("J'accepte : {}", lowercase_first(label)),
                }]
            } else {
                let mut ids: Vec<String> = Vec::new();
                media
                    .iter()
                    .map(|medium| {
                        // Named after the medium, not its rank: reordering the recipients must
                        // not change what a recorded consent covers.
                        let mut id = format!("{purpose}:{}", slug(medium));
                        if ids.contains(&id) {
                            // Two media with the same slug: told apart by their full names.
                            let hash = crate::digest::sha256_hex(medium.as_bytes());
                            id = format!("{id}-{}", &hash[..8]);
                        }
                        ids.push(id.clone());
                        Choice {
                            id,
                            label: format!("J'accepte : {medium}"),
                        }
                    })
                    .collect()
            };
            ChoiceGroup {
                legend: crate::render::typography::french(label),
                choices: choices
                    .into_iter()
                    .map(|c| Choice {
                        label: crate::render::typography::french(&c.label),
                        ..c
                    })
                    .collect(),
            }
        })
        .collect()
}

/// `text` as a lower-case ASCII id: « Bulletin municipal imprimé » → `bulletin-municipal-imprime`.
fn slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.to_lowercase().chars() {
        let plain = match c {
            'à' | 'â' | 'ä' | 'á' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' => 'i',
            'ô' | 'ö' | 'ó' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ç' => 'c',
            'ÿ' => 'y',
            'œ' => {
                slug.push('o');
                'e'
            }
            'æ' => {
                slug.push('a');
                'e'
            }
            c if c.is_ascii_alphanumeric() => c,
            _ => '-',
        };
        if plain != '-' || !slug.ends_with('-') {
            slug.push(plain);
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(48).collect();
    if slug.is_empty() {
        "support".to_owned()
    } else {
        slug
    }
}

/// Who signs: the person, or for minors the holders of parental authority the register asks
/// for, and the child. For a child's image, the holders' written authorisation (both of them
/// for publication online: Code civil art. 9); otherwise, under 15 the child consents jointly
/// with them, from 15 alone (LIL art. 45).
fn signatories(
    context: &Context,
    activity: &Activity,
    missing: &mut Vec<Missing>,
) -> (Vec<String>, Option<String>) {
    let concerns_minors = activity.data_subjects().iter().any(|s| {
        context
            .vocabulary
            .is_within(Kind::DataSubject, s, "mineurs")
    });
    if !concerns_minors {
        return (vec!["La personne concernée".to_owned()], None);
    }
    let images = activity.data_categories().iter().any(|c| {
        context
            .vocabulary
            .is_within(Kind::DataCategory, c, "images")
    });
    let published = activity
        .recipients()
        .iter()
        .any(|r| r.kind.as_deref() == Some("public"));
    let field = format!("activities[{}].consent.parental_consent", activity.id);
    let parental = activity.consent.as_ref().and_then(|c| c.parental_consent);
    let mut gap = |information: &str| {
        missing.push(Missing {
            field: field.clone(),
            information: information.to_owned(),
        })
    };
    let holders = match parental {
        Some(ParentalConsent::BothHolders) => vec![
            "Premier titulaire de l'autorité parentale".to_owned(),
            "Second titulaire de l'autorité parentale".to_owned(),
        ],
        Some(ParentalConsent::OneHolder) => {
            if images && published {
                gap(
                    "l'accord des deux titulaires de l'autorité parentale, exigé pour publier l'image d'un enfant",
                );
            }
            vec!["Titulaire de l'autorité parentale".to_owned()]
        }
        Some(ParentalConsent::None) | None => {
            // The form still asks both: a child's form signed by no parent is worth nothing.
            gap("qui, parmi les titulaires de l'autorité parentale, consent pour les mineurs");
            vec![
                "Premier titulaire de l'autorité parentale".to_owned(),
                "Second titulaire de l'autorité parentale".to_owned(),
            ]
        }
    };
    let mut signatories = holders;
    signatories.push("L'enfant, s'il est en âge de signer".to_owned());
    let explanation = if images {
        "Pour l'image d'un enfant mineur, l'autorisation écrite des titulaires de l'autorité parentale est requise, et celle des deux pour une publication en ligne (Code civil, art. 9). L'enfant est associé à la décision selon son âge et sa maturité."
    } else {
        "Pour un enfant de moins de 15 ans, le consentement est donné conjointement par l'enfant et par le ou les titulaires de l'autorité parentale ; à partir de 15 ans, l'enfant consent lui-même (loi Informatique et Libertés, art. 45)."
    };
    (signatories, Some(explanation.to_owned()))
}

impl ConsentForm {
    /// Every choice id, in form order: what a consent record may hold.
    pub fn choice_ids(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .flat_map(|g| g.choices.iter().map(|c| c.id.as_str()))
    }
}
