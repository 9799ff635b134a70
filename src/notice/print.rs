//! Notices and consent forms laid out for paper: their sections become a PDF flow.

use crate::render::pdf::{self, Document, Flow};
use crate::render::{RenderError, Style, Templates};

use super::{ConsentForm, Notice, Section};

fn sections(flow: &mut Vec<Flow>, sections: &[Section]) {
    for section in sections {
        flow.push(Flow::Heading(section.heading.clone()));
        for block in &section.blocks {
            flow.extend(block.paragraph.clone().map(Flow::Paragraph));
            flow.extend(block.list.iter().flatten().map(|item| Flow::Item {
                term: item.term.clone(),
                text: item.on_paper(),
            }));
            flow.extend(block.missing.clone().map(Flow::Missing));
        }
    }
}

/// Sections as plain text: headings underlined, items as dashes.
fn sections_text(out: &mut String, sections: &[Section]) {
    for section in sections {
        out.push_str(&format!(
            "\n{}\n{}\n",
            section.heading,
            "-".repeat(section.heading.chars().count())
        ));
        for block in &section.blocks {
            if let Some(text) = block.paragraph.as_ref().or(block.missing.as_ref()) {
                out.push_str(&format!("{text}\n"));
            }
            for item in block.list.iter().flatten() {
                match &item.term {
                    Some(term) => out.push_str(&format!("- {term}\u{a0}: {}\n", item.on_paper())),
                    None => out.push_str(&format!("- {}\n", item.on_paper())),
                }
            }
        }
    }
}

fn title_text(title: &str, organisation: &str) -> String {
    format!(
        "{title}\n{}\n{organisation}\n",
        "=".repeat(title.chars().count())
    )
}

/// The version first: a long organisation name must not push it off the page.
fn footer(organisation: &str, kind: &str, version: &str) -> String {
    format!("{kind}, version {version} — {organisation}")
}

impl Notice {
    pub fn pdf(&self) -> Result<Vec<u8>, RenderError> {
        let mut flow = vec![
            Flow::Letterhead(self.organisation.name.clone()),
            Flow::Title(self.title.clone()),
            Flow::Paragraph(self.intro.clone()),
        ];
        sections(&mut flow, &self.sections);
        flow.push(Flow::Framed(vec![format!(
            "Cette notice est publiée à l'adresse : {}",
            self.link
        )]));
        pdf::write(&Document {
            title: self.title.clone(),
            author: self.organisation.name.clone(),
            subject: format!(
                "Information des personnes (RGPD, art. {}) : {}",
                self.articles, self.activity.name
            ),
            footer: footer(
                &self.organisation.name,
                "Notice d'information",
                &self.version.id,
            ),
            id: self.version.sha256.clone(),
            flow,
        })
    }
}

impl Notice {
    /// The notice as plain text, for an e-mail or a letter.
    pub fn text(&self) -> String {
        let mut out = title_text(&self.title, &self.organisation.name);
        out.push_str(&format!("\n{}\n", self.intro));
        sections_text(&mut out, &self.sections);
        out.push_str(&format!(
            "\nNotice publiée à l'adresse : {} (version {})\n",
            self.link, self.version.id
        ));
        out
    }

    /// The short mention, one sentence per line.
    pub fn mention_text(&self) -> String {
        self.mention
            .iter()
            .map(|line| format!("{line}\n"))
            .collect()
    }
}

impl ConsentForm {
    /// The form as plain text, boxes as `[ ]`.
    pub fn text(&self) -> String {
        let mut out = title_text(&self.title, &self.organisation.name);
        out.push_str(&format!("\n{}\n", self.intro));
        sections_text(&mut out, &self.information);
        out.push_str("\nVos choix\n---------\n");
        for group in &self.groups {
            out.push_str(&format!("{}\n", group.legend));
            for choice in &group.choices {
                out.push_str(&format!("[ ] {}\n", choice.label));
            }
        }
        out.push_str(&format!("\n{}\n", self.withdrawal));
        if let Some(minors) = &self.minors {
            out.push_str(&format!("{minors}\n"));
        }
        for field in &self.child_fields {
            out.push_str(&format!("{field}\u{a0}:\n"));
        }
        for signatory in &self.signatories {
            out.push_str(&format!(
                "\n{signatory}\nNom et prénom\u{a0}:\nDate\u{a0}:\nSignature\u{a0}:\n"
            ));
        }
        out.push_str(&format!(
            "\nNotice complète (version {}) : {}\n",
            self.notice_version.id, self.notice_link
        ));
        out
    }

    pub fn pdf(&self) -> Result<Vec<u8>, RenderError> {
        let mut flow = vec![
            Flow::Letterhead(self.organisation.name.clone()),
            Flow::Title(self.title.clone()),
            Flow::Paragraph(self.intro.clone()),
        ];
        flow.push(Flow::Framed(vec![format!(
            "Avant de donner votre accord, lisez les informations ci-dessous. La notice complète (version {}) est publiée à l'adresse : {}",
            self.notice_version.id, self.notice_link
        )]));
        sections(&mut flow, &self.information);
        flow.push(Flow::Heading("Vos choix".to_owned()));
        for group in &self.groups {
            flow.push(Flow::Strong(group.legend.clone()));
            flow.extend(
                group
                    .choices
                    .iter()
                    .map(|choice| Flow::Checkbox(choice.label.clone())),
            );
        }
        flow.push(Flow::Framed(vec![self.withdrawal.clone()]));
        flow.push(Flow::Heading("Signatures".to_owned()));
        flow.extend(self.minors.clone().map(Flow::Paragraph));
        flow.extend(self.child_fields.iter().cloned().map(Flow::Field));
        flow.extend(self.signatories.iter().cloned().map(Flow::Signature));
        pdf::write(&Document {
            title: self.title.clone(),
            author: self.organisation.name.clone(),
            subject: format!(
                "Recueil du consentement (RGPD, art. 7) : {}",
                self.activity.name
            ),
            footer: footer(
                &self.organisation.name,
                "Formulaire de consentement",
                &self.version.id,
            ),
            id: self.version.sha256.clone(),
            flow,
        })
    }
}

/// The formats a notice or a consent form is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A page (the citizen's full document).
    Html,
    /// A4, to print.
    Pdf,
    /// Plain text.
    Text,
    /// The notice's short mention, as text (the form's text for a consent form).
    Mention,
    /// The short mention as a page.
    MentionHtml,
    /// The document's model.
    Json,
}

impl Format {
    /// The name a stored version gives the files of this format.
    pub fn id(self) -> &'static str {
        match self {
            Format::Html | Format::MentionHtml => "html",
            Format::Pdf => "pdf",
            Format::Text => "text",
            Format::Mention => "mention",
            Format::Json => "json",
        }
    }
}

/// A model as a pretty JSON file.
pub fn json<T: serde::Serialize>(model: &T) -> Result<Vec<u8>, RenderError> {
    let mut bytes = serde_json::to_vec_pretty(model).map_err(|e| RenderError::Render {
        name: "json".to_owned(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// A document that renders to files.
pub trait Render: super::Versioned {
    /// The document as a file of `format`; HTML gets its style sheet as `style` says.
    fn render(
        &self,
        templates: &Templates,
        format: Format,
        style: Style,
    ) -> Result<Vec<u8>, RenderError>;
}

impl Render for Notice {
    fn render(
        &self,
        templates: &Templates,
        format: Format,
        style: Style,
    ) -> Result<Vec<u8>, RenderError> {
        Ok(match format {
            Format::Html => templates
                .document("notice/notice", self, style)?
                .into_bytes(),
            Format::MentionHtml => templates
                .document("notice/mention", self, style)?
                .into_bytes(),
            Format::Pdf => self.pdf()?,
            Format::Text => self.text().into_bytes(),
            Format::Mention => self.mention_text().into_bytes(),
            Format::Json => json(self)?,
        })
    }
}

/// A consent form has no short mention: `Mention` gives its text.
impl Render for ConsentForm {
    fn render(
        &self,
        templates: &Templates,
        format: Format,
        style: Style,
    ) -> Result<Vec<u8>, RenderError> {
        Ok(match format {
            Format::Html | Format::MentionHtml => templates
                .document("notice/consent-form", self, style)?
                .into_bytes(),
            Format::Pdf => self.pdf()?,
            Format::Text | Format::Mention => self.text().into_bytes(),
            Format::Json => json(self)?,
        })
    }
}
