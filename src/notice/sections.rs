//! The parts every document of an organisation shares: who the controller and the DPO are,
//! how to exercise one's rights, and how a gap of the register is said.

use crate::model::{Activity, Organisation};
use crate::render::typography::lowercase_first;
use crate::vocabulary::{Kind, Vocabulary};

use super::{Block, Item, Missing, Section};

/// The CNIL, where every person may complain (art. 77).
pub const CNIL_ADDRESS: &str = "CNIL, 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07";
pub const CNIL_COMPLAINT_URL: &str = "https://www.cnil.fr/fr/adresser-une-plainte";

/// The register fields a document needs and does not find, with their place in the file.
pub(super) struct Gaps {
    /// The activity the fields belong to; organisation fields when absent.
    activity: Option<String>,
    pub missing: Vec<Missing>,
}

impl Gaps {
    pub fn of_activity(activity: &Activity) -> Self {
        Gaps {
            activity: Some(activity.id.clone()),
            missing: Vec::new(),
        }
    }

    pub fn of_organisation() -> Self {
        Gaps {
            activity: None,
            missing: Vec::new(),
        }
    }

    /// Records a gap and returns the block that says it where the information belongs.
    pub fn gap(&mut self, field: &str, information: &str) -> Block {
        let field = match &self.activity {
            Some(activity) if !field.starts_with("dpo") && !field.starts_with("organisation") => {
                format!("activities[{activity}].{field}")
            }
            _ => field.to_owned(),
        };
        self.missing.push(Missing {
            field,
            information: information.to_owned(),
        });
        Block::missing(gap_sentence(information))
    }
}

/// Who the controller is and how to reach them (art. 13.1.a), with the joint controllers.
pub(super) fn controller(
    organisation: &Organisation,
    joint: &[crate::model::Party],
    gaps: &mut Gaps,
) -> Section {
    let mut items = vec![Item::term("Responsable du traitement", &organisation.name)];
    if let Some(representative) = &organisation.representative {
        let role = representative
            .role
            .as_deref()
            .unwrap_or("représentant légal");
        items.push(Item::term(
            "Représenté par",
            format!("{}, {}", representative.name, lowercase_first(role)),
        ));
    }
    items.extend(
        organisation
            .address
            .as_ref()
            .map(|a| Item::term("Adresse", a)),
    );
    items.extend(
        organisation
            .email
            .as_ref()
            .map(|e| Item::term("Courriel", e).link(format!("mailto:{e}"))),
    );
    items.extend(
        organisation
            .phone
            .as_ref()
            .map(|p| Item::term("Téléphone", p)),
    );
    let mut blocks = vec![Block::list(items)];
    if organisation.address.is_none() && organisation.email.is_none() {
        blocks.push(gaps.gap(
            "organisation.address",
            "l'adresse ou le courriel du responsable du traitement",
        ));
    }
    if !joint.is_empty() {
        blocks.push(Block::paragraph(
            "Ce traitement est mis en œuvre conjointement avec (art. 26) :",
        ));
        blocks.push(Block::list(
            joint
                .iter()
                .map(|p| match &p.email {
                    Some(e) => Item::term(&p.name, e).link(format!("mailto:{e}")),
                    None => Item::text(&p.name),
                })
                .collect(),
        ));
    }
    Section {
        id: "responsable",
        heading: "Qui traite vos données ?".to_owned(),
        blocks,
    }
}

/// The DPO and how to reach them (art. 13.1.b).
pub(super) fn dpo(organisation: &Organisation, gaps: &mut Gaps) -> Section {
    let blocks = match &organisation.dpo {
        None => vec![gaps.gap("dpo", "le délégué à la protection des données")],
        Some(dpo) => {
            let mut items = vec![Item::term("Délégué", &dpo.name)];
            items.extend(
                dpo.organisation
                    .as_ref()
                    .map(|o| Item::term("Structure", o)),
            );
            items.extend(
                dpo.email
                    .as_ref()
                    .map(|e| Item::term("Courriel", e).link(format!("mailto:{e}"))),
            );
            items.extend(dpo.phone.as_ref().map(|p| Item::term("Téléphone", p)));
            let mut blocks = vec![
                Block::paragraph(format!(
                    "{} a désigné un délégué à la protection des données, que vous pouvez \
                     contacter pour toute question sur vos données :",
                    organisation.name
                )),
                Block::list(items),
            ];
            if dpo.email.is_none() && dpo.phone.is_none() {
                blocks.push(gaps.gap("dpo.email", "le moyen de contacter le délégué"));
            }
            blocks
        }
    };
    Section {
        id: "delegue",
        heading: "Délégué à la protection des données".to_owned(),
        blocks,
    }
}

/// Who answers requests: the DPO when there is one, else the controller.
/// Who answers requests, with the preposition « adressez-vous » takes (« au délégué … »,
/// « à Commune de … »), and how to reach them.
pub(super) fn contact(organisation: &Organisation) -> (String, Vec<Item>) {
    let mut items = Vec::new();
    let (who, email, phone) = match &organisation.dpo {
        Some(dpo) => (
            format!(
                "au délégué à la protection des données de {} ({})",
                organisation.name, dpo.name
            ),
            dpo.email.as_ref(),
            dpo.phone.as_ref(),
        ),
        None => (
            format!("à {}", organisation.name),
            organisation.email.as_ref(),
            organisation.phone.as_ref(),
        ),
    };
    items.extend(email.map(|e| Item::term("Courriel", e).link(format!("mailto:{e}"))));
    items.extend(phone.map(|p| Item::term("Téléphone", p)));
    items.extend(
        organisation
            .address
            .as_ref()
            .map(|a| Item::term("Courrier", format!("{}, {a}", organisation.name))),
    );
    (who, items)
}

/// What a notice lacks when the register names no way to withdraw consent.
pub(super) const WITHDRAWAL_GAP: &str = "comment retirer votre consentement";

/// Art. 7.3: withdrawing is as easy as consenting, through the channels of the register;
/// `None` when it names none.
pub(super) fn withdrawal_sentence(vocabulary: &Vocabulary, activity: &Activity) -> Option<String> {
    let channels = activity.consent.as_ref()?.withdrawal();
    if channels.is_empty() {
        return None;
    }
    let labels: Vec<String> = channels
        .iter()
        .map(|c| lowercase_first(vocabulary.label(Kind::WithdrawalChannel, c)))
        .collect();
    Some(format!(
        "Vous pouvez retirer votre consentement à tout moment, aussi simplement que vous l'avez donné : {}. Le retrait ne remet pas en cause ce qui a été fait avant lui.",
        labels.join(", ")
    ))
}

/// The sentence that stands where the register lacks `information`.
pub(super) fn gap_sentence(information: &str) -> String {
    format!("Information non renseignée dans le registre : {information}.")
}

/// How to exercise one's rights, post-mortem directives and the CNIL: the same for every
/// activity of an organisation.
pub(super) fn exercise(organisation: &Organisation) -> Vec<Block> {
    let (who, items) = contact(organisation);
    vec![
        Block::paragraph(
            "Vous pouvez aussi définir des directives sur le sort de vos données après votre décès (loi Informatique et Libertés, art. 85).",
        ),
        Block::paragraph(format!(
            "Pour exercer vos droits, adressez-vous {who}. Une réponse vous est apportée dans un délai d'un mois, qui peut être prolongé de deux mois si la demande est complexe (RGPD, art. 12.3).",
        )),
        Block::list(items),
        Block::paragraph(
            "Si vous estimez que vos droits ne sont pas respectés, vous pouvez à tout moment adresser une réclamation à la CNIL (RGPD, art. 77) :",
        ),
        Block::list(vec![
            Item::term("En ligne", "formulaire de plainte sur cnil.fr").link(CNIL_COMPLAINT_URL),
            Item::term("Par courrier", CNIL_ADDRESS),
        ]),
    ]
}
