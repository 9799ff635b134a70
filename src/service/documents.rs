//! The documents of an activity, computed from the register, and the record of the versions
//! shown: what a consent proves was read.

use serde::Serialize;

use super::{Error, Registre, Result};
use crate::digest::sha256_hex;
use crate::model::{Activity, Organisation, Register, Source};
use crate::notice::{
    self, ConsentForm, Context, Format, Missing, Notice, NoticeError, Render, Version, Versioned,
};
use crate::render::{RenderError, Style, Templates};
use crate::store::{Rendering, Shown};

/// Which document of an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// The information notice (RGPD art. 13 and 14).
    Notice,
    /// The consent form, for activities based on consent.
    ConsentForm,
}

/// An activity's notice or consent form.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ActivityDocument {
    Notice(Notice),
    ConsentForm(ConsentForm),
}

impl ActivityDocument {
    /// The document of `kind` for `activity`; an error when the activity has none (a
    /// processor's notice, a form without consent).
    pub fn of(
        kind: DocumentKind,
        context: &Context,
        organisation: &Organisation,
        activity: &Activity,
    ) -> std::result::Result<Self, NoticeError> {
        Ok(match kind {
            DocumentKind::Notice => {
                ActivityDocument::Notice(notice::notice(context, organisation, activity)?)
            }
            DocumentKind::ConsentForm => ActivityDocument::ConsentForm(notice::consent_form(
                context,
                organisation,
                activity,
            )?),
        })
    }

    /// The kind's id in the stored versions.
    pub fn kind_id(&self) -> &'static str {
        match self {
            // The mention says part of the notice: it is one version of it.
            ActivityDocument::Notice(_) => "notice",
            ActivityDocument::ConsentForm(_) => "consent-form",
        }
    }

    /// What the register does not say and the document should.
    pub fn missing(&self) -> &[Missing] {
        match self {
            ActivityDocument::Notice(n) => &n.missing,
            ActivityDocument::ConsentForm(f) => &f.missing,
        }
    }
}

impl Versioned for ActivityDocument {
    fn version(&self) -> &Version {
        match self {
            ActivityDocument::Notice(n) => n.version(),
            ActivityDocument::ConsentForm(f) => f.version(),
        }
    }
}

impl Render for ActivityDocument {
    fn render(
        &self,
        templates: &Templates,
        format: Format,
        style: Style,
    ) -> std::result::Result<Vec<u8>, RenderError> {
        match self {
            ActivityDocument::Notice(n) => n.render(templates, format, style),
            ActivityDocument::ConsentForm(f) => f.render(templates, format, style),
        }
    }
}

/// A document as shown to someone: which one, of what, and the file made of it.
pub struct ShownFile<'a> {
    /// `notice`, `consent-form`, `privacy-page`, `public-register`.
    pub kind: &'a str,
    pub organisation: &'a str,
    pub activity: Option<&'a str>,
    pub version: &'a Version,
    /// The document's model, as its version's hash covers it.
    pub content: &'a serde_json::Value,
    /// How the file is named among the version's renderings (`html`, `pdf`, `html-page-2`).
    pub rendering: String,
    pub bytes: &'a [u8],
}

impl Registre {
    /// Records that a file of a document version was shown: the version the first time, and
    /// each distinct file made from it.
    pub async fn record_shown(&self, file: ShownFile<'_>) -> Result<()> {
        let shown = Shown {
            kind: file.kind,
            organisation: file.organisation,
            activity: file.activity,
            version: file.version,
            content: file.content,
            rendering: Rendering {
                format: file.rendering,
                sha256: sha256_hex(file.bytes),
            },
        };
        self.store
            .record_document(shown, jiff::Timestamp::now())
            .await?;
        Ok(())
    }

    /// What an organisation's documents are made from: the organisation, with the
    /// organisations `activity` takes data from (art. 14 names them); only those, so that a
    /// public page costs a few queries whatever the register.
    pub async fn document_register(&self, org: &str, activity: Option<&str>) -> Result<Register> {
        let organisation = self
            .store
            .organisation_with_activities(org)
            .await?
            .ok_or_else(|| Error::NotFound(format!("organisme `{org}` introuvable")))?;
        let mut others: Vec<String> = organisation
            .activities()
            .iter()
            .filter(|a| Some(a.id.as_str()) == activity)
            .flat_map(|a| a.sources())
            .filter_map(|s| match s {
                Source::Activity(source) => source.organisation.clone(),
                _ => None,
            })
            .filter(|id| id != org)
            .collect();
        others.sort();
        others.dedup();
        let mut organisations = vec![organisation];
        for id in others {
            organisations.extend(self.store.organisation_with_activities(&id).await?);
        }
        Ok(Register {
            format: crate::model::FORMAT.to_owned(),
            organisations,
        })
    }
}
