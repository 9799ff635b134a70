//! The papers that prove a person's consents, for print: the receipt of one answer, and the
//! proof bundle of all of a person's answers with the forms they saw. Both are laid out from
//! the events, the form versions as stored (what the person read, not the register of today)
//! and the signed tree head that includes the events.

use serde::Deserialize;
use serde_json::Value;

use crate::consent::{Channel, Event, EventKind, Role, TreeHead};
use crate::render::RenderError;
use crate::render::pdf::{self, Document, Flow};
use crate::render::typography::{french, moment};

/// One event and its inclusion proof in the tree of `head` (hexadecimal hashes).
pub struct Proven<'a> {
    pub event: &'a Event,
    pub inclusion: &'a [String],
}

/// What a paper is made of.
pub struct Papers<'a> {
    /// The organisation's name.
    pub organisation: &'a str,
    pub events: &'a [Proven<'a>],
    /// The stored content (JSON) of each form version the events name, by version id.
    pub forms: &'a [(String, Value)],
    pub head: &'a TreeHead,
    pub public_key: &'a str,
    /// Where the person manages their consents, when they have a private link.
    pub manage_url: Option<&'a str>,
}

/// The parts of a stored consent form a paper shows; the rest of it is in the JSON bundle.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Form {
    title: String,
    intro: String,
    activity: Named,
    information: Vec<Section>,
    groups: Vec<Group>,
    withdrawal: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Named {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Section {
    heading: String,
    blocks: Vec<Block>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Block {
    paragraph: Option<String>,
    list: Option<Vec<Item>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Item {
    term: Option<String>,
    text: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Group {
    legend: String,
    choices: Vec<Choice>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Choice {
    id: String,
    label: String,
}

impl Papers<'_> {
    fn form(&self, version: &str) -> Form {
        self.forms
            .iter()
            .find(|(id, _)| id == version)
            .and_then(|(_, content)| Form::deserialize(content).ok())
            .unwrap_or_default()
    }

    /// The receipt of the first event: what was answered, how it was recorded, its proof.
    pub fn receipt_pdf(&self) -> Result<Vec<u8>, RenderError> {
        let Some(proven) = self.events.first() else {
            return Err(no_event());
        };
        let event = proven.event;
        let form = self.form(&event.draft.document.version);
        let title = match event.draft.kind {
            EventKind::Withdrawn => "Reçu de retrait de consentement",
            EventKind::Refused => "Reçu de refus de consentement",
            _ => "Reçu de consentement",
        };
        let mut flow = vec![
            Flow::Letterhead(self.organisation.to_owned()),
            Flow::Title(title.to_owned()),
            Flow::Paragraph(french(&format!(
                "Ce reçu atteste de la réponse enregistrée le {} pour le traitement « {} ». Gardez-le : il prouve ce que vous avez répondu, même si le registre était modifié ensuite.",
                moment(&event.at),
                activity_name(&form, event)
            ))),
        ];
        self.event_flow(&mut flow, proven, &form);
        self.withdrawal_flow(&mut flow, &form);
        self.proof_flow(&mut flow);
        self.write(title, event, flow)
    }

    /// The proof bundle: every event about the person, each form version they saw, the proof.
    pub fn bundle_pdf(&self, subject: &str) -> Result<Vec<u8>, RenderError> {
        let Some(first) = self.events.first() else {
            return Err(no_event());
        };
        let title = "Preuve des consentements";
        let mut flow = vec![
            Flow::Letterhead(self.organisation.to_owned()),
            Flow::Title(title.to_owned()),
            Flow::Paragraph(french(&format!(
                "Ce document rassemble {} pour la personne d'identifiant {subject} (RGPD, art. 7.1 : le responsable du traitement est en mesure de démontrer le consentement), le texte exact des formulaires qu'elle a vus et de quoi vérifier que rien n'a été réécrit. Le fichier JSON qui l'accompagne contient les mêmes éléments, sous une forme vérifiable par un programme.",
                match self.events.len() {
                    1 => "la réponse enregistrée".to_owned(),
                    n => format!("les {n} réponses enregistrées"),
                }
            ))),
        ];
        for proven in self.events {
            let form = self.form(&proven.event.draft.document.version);
            self.event_flow(&mut flow, proven, &form);
        }
        let mut shown: Vec<&str> = Vec::new();
        for proven in self.events {
            let version = proven.event.draft.document.version.as_str();
            if shown.contains(&version) {
                continue;
            }
            shown.push(version);
            form_flow(&mut flow, version, &self.form(version));
        }
        self.proof_flow(&mut flow);
        self.write(title, first.event, flow)
    }

    fn event_flow(&self, flow: &mut Vec<Flow>, proven: &Proven<'_>, form: &Form) {
        let event = proven.event;
        let draft = &event.draft;
        flow.push(Flow::Heading(french(&format!(
            "Réponse n° {} : {} le {}",
            event.seq,
            kind_label(draft.kind),
            moment(&event.at)
        ))));
        flow.push(Flow::Strong(french(&activity_name(form, event))));
        for answer in &draft.answers {
            let answered = match (draft.kind, answer.accepted) {
                (EventKind::Withdrawn, _) => "retiré",
                (_, true) => "accepté",
                (_, false) => "refusé",
            };
            flow.push(Flow::Item {
                term: Some(french(&choice_label(form, &answer.choice))),
                text: answered.to_owned(),
            });
        }
        let mut facts = vec![
            ("Canal", channel_label(draft.channel).to_owned()),
            (
                "Formulaire vu",
                format!(
                    "version {} (SHA-256 {})",
                    draft.document.version, draft.document.sha256
                ),
            ),
            ("Signataires", signatories(event)),
        ];
        if let Some(agent) = &draft.agent {
            facts.push(("Agent qui l'a enregistrée", agent.clone()));
        }
        if let Some(signed_on) = &draft.signed_on {
            facts.push(("Date de signature", signed_on.clone()));
        }
        if let Some(evidence) = &draft.evidence {
            facts.push((
                "Formulaire papier numérisé",
                format!("SHA-256 {}", evidence.sha256),
            ));
        }
        facts.push(("Empreinte de l'événement", event.hash.clone()));
        facts.push((
            "Preuve d'inclusion",
            if proven.inclusion.is_empty() {
                "aucune empreinte (l'arbre ne compte que cet événement)".to_owned()
            } else {
                proven.inclusion.join(" ")
            },
        ));
        flow.extend(facts.into_iter().map(|(term, text)| Flow::Item {
            term: Some(french(term)),
            text,
        }));
    }

    fn withdrawal_flow(&self, flow: &mut Vec<Flow>, form: &Form) {
        flow.push(Flow::Heading("Retirer votre consentement".to_owned()));
        let mut lines = Vec::new();
        if let Some(url) = self.manage_url {
            lines.push(format!(
                "En ligne, en une étape, à votre adresse personnelle : {url}"
            ));
        }
        if !form.withdrawal.is_empty() {
            lines.push(form.withdrawal.clone());
        }
        if lines.is_empty() {
            lines.push(
                "Vous pouvez retirer votre consentement à tout moment, aussi simplement que vous l'avez donné (RGPD, art. 7.3).".to_owned(),
            );
        }
        flow.push(Flow::Framed(
            lines.into_iter().map(|l| french(&l)).collect(),
        ));
    }

    fn proof_flow(&self, flow: &mut Vec<Flow>) {
        let head = self.head;
        flow.push(Flow::Heading("Comment vérifier ce document".to_owned()));
        flow.push(Flow::Paragraph(french(
            "Chaque réponse est un événement d'un registre que l'on ne peut que compléter : chacun porte l'empreinte (SHA-256) du précédent, et tous forment un arbre de Merkle (RFC 9162). L'organisme signe régulièrement la tête de cet arbre et la publie ; la preuve d'inclusion ci-dessus relie l'empreinte de chaque événement à la tête signée ci-dessous. Toute modification d'un événement après coup change ces empreintes et se voit. La vérification se fait avec le fichier JSON du reçu ou de la preuve et la clé publique de l'organisme (commande « registre consent verify-receipt »).",
        )));
        flow.extend(
            [
                ("Événements dans l'arbre", head.size.to_string()),
                ("Racine de l'arbre", head.root.clone()),
                ("Tête de l'arbre signée le", moment(&head.time)),
                ("Signature (Ed25519)", head.signature.clone()),
                ("Clé publique de l'organisme", self.public_key.to_owned()),
            ]
            .into_iter()
            .map(|(term, text)| Flow::Item {
                term: Some(french(term)),
                text,
            }),
        );
    }

    fn write(&self, title: &str, event: &Event, flow: Vec<Flow>) -> Result<Vec<u8>, RenderError> {
        pdf::write(&Document {
            title: title.to_owned(),
            author: self.organisation.to_owned(),
            subject: "Preuve du consentement (RGPD, art. 7.1)".to_owned(),
            footer: format!(
                "{title}, événement n° {} — {}",
                event.seq, self.organisation
            ),
            id: event.hash.clone(),
            flow,
        })
    }
}

/// A form version as the person saw it: its text, its information and its choices.
fn form_flow(flow: &mut Vec<Flow>, version: &str, form: &Form) {
    flow.push(Flow::Heading(format!("Formulaire vu, version {version}")));
    if form.title.is_empty() {
        flow.push(Flow::Missing(
            "Le contenu de cette version n'est plus conservé.".to_owned(),
        ));
        return;
    }
    flow.push(Flow::Strong(form.title.clone()));
    flow.push(Flow::Paragraph(form.intro.clone()));
    for section in &form.information {
        flow.push(Flow::Strong(section.heading.clone()));
        for block in &section.blocks {
            flow.extend(block.paragraph.clone().map(Flow::Paragraph));
            flow.extend(block.list.iter().flatten().map(|item| Flow::Item {
                term: item.term.clone(),
                text: item.text.clone(),
            }));
        }
    }
    for group in &form.groups {
        flow.push(Flow::Strong(group.legend.clone()));
        flow.extend(group.choices.iter().map(|c| Flow::Item {
            term: None,
            text: c.label.clone(),
        }));
    }
    flow.push(Flow::Paragraph(form.withdrawal.clone()));
}

fn no_event() -> RenderError {
    RenderError::Render {
        name: "preuve".to_owned(),
        message: "aucun événement".to_owned(),
    }
}

fn activity_name(form: &Form, event: &Event) -> String {
    if form.activity.name.is_empty() {
        event.draft.activity.clone()
    } else {
        form.activity.name.clone()
    }
}

/// What a choice is about, without the « J'accepte » of the box: the answer follows it.
fn choice_label(form: &Form, choice: &str) -> String {
    let label = form
        .groups
        .iter()
        .flat_map(|g| g.choices.iter())
        .find(|c| c.id == choice)
        .map_or(choice, |c| c.label.as_str());
    let about = label
        .strip_prefix("J'accepte")
        .map_or(label, |rest| rest.trim_start_matches([' ', '\u{a0}', ':']));
    crate::render::typography::uppercase_first(about)
}

fn kind_label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Given => "consentement donné",
        EventKind::Refused => "consentement refusé",
        EventKind::Withdrawn => "consentement retiré",
        EventKind::Renewed => "consentement renouvelé",
    }
}

fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::EnLigne => "formulaire en ligne",
        Channel::Guichet => "papier, au guichet",
        Channel::Courrier => "courrier",
        Channel::Email => "courrier électronique",
        Channel::Telephone => "téléphone",
    }
}

fn signatories(event: &Event) -> String {
    let roles: Vec<&str> = event
        .draft
        .signatories
        .iter()
        .map(|s| match s.role {
            Role::Personne => "la personne",
            Role::TitulaireAutoriteParentale => "un titulaire de l'autorité parentale",
            Role::Enfant => "l'enfant",
        })
        .collect();
    roles.join(", ")
}
