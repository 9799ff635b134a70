//! The organisation's public pages: its privacy page, listing the notice of every public
//! activity, and its public register (the art. 30 fields a citizen may read).

use serde::Serialize;

use crate::model::{Activity, Organisation};
use crate::vocabulary::Kind;

use super::sections::{Gaps, controller, dpo, exercise};
use super::{
    Block, Context, Item, Missing, Named, Section, Version, notice_path, retention_in_words,
    typeset,
};
use crate::render::typography::lowercase_first;

/// The privacy page (« Données personnelles ») of an organisation.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PrivacyPage {
    pub organisation: Named,
    pub title: String,
    pub intro: String,
    /// Controller, DPO, then how to exercise one's rights.
    pub sections: Vec<Section>,
    pub activities: Vec<Entry>,
    pub missing: Vec<Missing>,
    pub version: Version,
}

/// The public register of an organisation.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PublicRegister {
    pub organisation: Named,
    pub title: String,
    pub intro: String,
    pub sections: Vec<Section>,
    pub activities: Vec<Entry>,
    pub version: Version,
}

/// One public activity: its name, its notice and what the page shows of it.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Entry {
    pub id: String,
    pub name: String,
    pub link: String,
    pub fields: Vec<Item>,
}

/// Activities flagged `public` and done as controller: a processor's activities are the
/// controller's to publish.
fn public_activities(organisation: &Organisation) -> impl Iterator<Item = &Activity> {
    organisation
        .activities()
        .iter()
        .filter(|a| a.public == Some(true) && a.role() != crate::model::Role::Processor)
}

pub fn privacy_page(context: &Context, organisation: &Organisation) -> PrivacyPage {
    let mut gaps = Gaps::of_organisation();
    let mut sections = vec![
        controller(organisation, &[], &mut gaps),
        dpo(organisation, &mut gaps),
        Section {
            id: "droits",
            heading: "Vos droits".to_owned(),
            blocks: std::iter::once(Block::paragraph(
                "Vos droits dépendent de la base légale de chaque traitement : la notice de chacun les précise.",
            ))
            .chain(exercise(organisation))
            .collect(),
        },
    ];
    typeset(&mut sections);
    let activities = public_activities(organisation)
        .map(|activity| {
            let mut fields = vec![purposes(context, activity)];
            fields.extend(legal_basis(context, activity));
            entry(context, organisation, activity, fields)
        })
        .collect();
    let mut page = PrivacyPage {
        organisation: Named::of_organisation(organisation),
        title: "Protection de vos données personnelles".to_owned(),
        intro: crate::render::typography::french(&format!(
            "{} utilise des données personnelles pour rendre ses services. Cette page présente chacun de ces traitements ; sa notice détaille vos droits.",
            organisation.name
        )),
        sections,
        activities,
        missing: gaps.missing,
        version: Version::default(),
    };
    page.version = Version::of("privacy-page", &page);
    page
}

pub fn public_register(context: &Context, organisation: &Organisation) -> PublicRegister {
    let mut gaps = Gaps::of_organisation();
    let mut sections = vec![
        controller(organisation, &[], &mut gaps),
        dpo(organisation, &mut gaps),
    ];
    typeset(&mut sections);
    let vocabulary = context.vocabulary;
    let labels = |kind: Kind, ids: &[String]| -> String {
        let labels: Vec<&str> = ids.iter().map(|id| vocabulary.label(kind, id)).collect();
        labels.join(" ; ")
    };
    let activities = public_activities(organisation)
        .map(|activity| {
            let mut fields = vec![purposes(context, activity)];
            fields.extend(legal_basis(context, activity));
            let recipients: Vec<&str> = activity
                .recipients()
                .iter()
                .map(|r| r.name.as_str())
                .chain(activity.processors().iter().map(|p| p.name.as_str()))
                .collect();
            let transfers: Vec<String> = activity
                .transfers()
                .iter()
                .map(|t| {
                    let country = context
                        .countries
                        .get(&t.country)
                        .map_or(t.country.as_str(), |c| c.name.as_str());
                    format!("{} ({country})", t.recipient)
                })
                .collect();
            // An empty list says « aucun »; a field the register leaves out says so.
            let listed = |text: String, field_given: bool| match (text.is_empty(), field_given) {
                (false, _) => text,
                (true, true) => "aucun".to_owned(),
                (true, false) => "non renseigné".to_owned(),
            };
            fields.extend([
                Item::term(
                    "Personnes concernées",
                    listed(labels(Kind::DataSubject, activity.data_subjects()), false),
                ),
                Item::term(
                    "Données",
                    listed(
                        labels(Kind::DataCategory, activity.data_categories()),
                        false,
                    ),
                ),
                Item::term(
                    "Destinataires",
                    listed(
                        recipients.join(" ; "),
                        activity.recipients.is_some() || activity.processors.is_some(),
                    ),
                ),
                Item::term(
                    "Transferts hors de l'Espace économique européen",
                    listed(transfers.join(" ; "), activity.transfers.is_some()),
                ),
                Item::term(
                    "Durée de conservation",
                    activity
                        .retention
                        .as_ref()
                        .and_then(|r| retention_in_words(r, vocabulary))
                        .unwrap_or_else(|| "non renseignée".to_owned()),
                ),
            ]);
            // Security measures stay out of the public extract: listing them maps the weak
            // activities for an attacker.
            entry(context, organisation, activity, fields)
        })
        .collect();
    let mut register = PublicRegister {
        organisation: Named::of_organisation(organisation),
        title: "Registre des activités de traitement".to_owned(),
        intro: crate::render::typography::french(&format!(
            "Extrait public du registre des activités de traitement de {} (RGPD, art. 30) : les traitements qu'il met en œuvre, pourquoi, sur quelle base, avec quelles données et pour combien de temps.",
            organisation.name
        )),
        sections,
        activities,
        version: Version::default(),
    };
    register.version = Version::of("public-register", &register);
    register
}

fn entry(
    context: &Context,
    organisation: &Organisation,
    activity: &Activity,
    mut fields: Vec<Item>,
) -> Entry {
    fields.iter_mut().for_each(Item::typeset);
    Entry {
        id: activity.id.clone(),
        name: crate::render::typography::french(&activity.name),
        link: context.link(&notice_path(&organisation.id, &activity.id)),
        fields,
    }
}

fn purposes(context: &Context, activity: &Activity) -> Item {
    let labels: Vec<&str> = activity
        .purposes()
        .iter()
        .map(|p| context.vocabulary.label(Kind::Purpose, p))
        .collect();
    let text = if labels.is_empty() {
        "non renseignées".to_owned()
    } else {
        labels.join(" ; ")
    };
    Item::term("Finalités", text)
}

fn legal_basis(context: &Context, activity: &Activity) -> Option<Item> {
    let basis = activity.legal_basis.as_deref()?;
    let mut text = lowercase_first(context.vocabulary.label(Kind::LegalBasis, basis));
    if let Some(reference) = &activity.legal_basis_text {
        text.push_str(&format!(" ({reference})"));
    }
    Some(Item::term("Base légale", text))
}
