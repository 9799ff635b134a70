//! Citizen notices (RGPD art. 13 and 14) and consent forms, computed from the register, never
//! typed by hand.
//!
//! A document here is a model: its sentences, in French, grouped in sections. The HTML
//! templates and the PDF layout only lay it out, so both say exactly the same thing, and its
//! version is the hash of what it says (see [`Version`]).

mod build;
mod consent_form;
mod pages;
mod print;
mod proof;
mod retention;
mod rights;
mod sections;
mod version;

use serde::Serialize;
use thiserror::Error;

use crate::model::{Activity, Organisation, Register};
use crate::vocabulary::{Countries, Vocabulary};

pub use build::notice;
pub use consent_form::{Choice, ConsentForm, consent_form};
pub use pages::{PrivacyPage, PublicRegister, privacy_page, public_register};
pub use print::{Format, Render, json};
pub use proof::{Papers, Proven};
pub use retention::retention_in_words;
pub use rights::{Right, RightHolds, rights_for, rights_of};
pub use version::Version;

/// What a notice is built from: the vocabulary for labels, the countries for transfers, the
/// register for the sources of art. 14, and where the public pages live.
pub struct Context<'a> {
    pub vocabulary: &'a Vocabulary,
    pub countries: &'a Countries,
    /// Organisations a source may point to; the activity's own is enough for art. 13.
    pub register: &'a Register,
    /// Address of the public pages (`https://registre.example.fr`), for links printed on paper;
    /// relative links when absent.
    pub public_url: Option<&'a str>,
}

impl Context<'_> {
    /// The public address of a page, absolute when the public URL is known.
    pub fn link(&self, path: &str) -> String {
        match self.public_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => path.to_owned(),
        }
    }
}

/// A document that carries its version.
pub trait Versioned {
    fn version(&self) -> &Version;
}

macro_rules! versioned {
    ($($document:ty),*) => {
        $(impl Versioned for $document {
            fn version(&self) -> &Version {
                &self.version
            }
        })*
    };
}

versioned!(Notice, ConsentForm, PrivacyPage, PublicRegister);

/// The public path of an activity's notice.
pub fn notice_path(organisation: &str, activity: &str) -> String {
    format!("/o/{organisation}/traitements/{activity}")
}

#[derive(Debug, Error, PartialEq)]
pub enum NoticeError {
    /// A processor does not inform the people: the controller it works for does (art. 28).
    #[error(
        "le traitement `{activity}` est mené en sous-traitance pour {controller} : la notice relève de ce responsable"
    )]
    Processor {
        activity: String,
        controller: String,
    },
    #[error(
        "le traitement `{activity}` n'est pas fondé sur le consentement : pas de formulaire de consentement"
    )]
    NotConsentBased { activity: String },
}

/// The full notice of one activity.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Notice {
    pub organisation: Named,
    pub activity: Named,
    /// « Vos données personnelles : … ».
    pub title: String,
    /// The articles the notice answers: « 13 », « 14 » or « 13 et 14 ».
    pub articles: &'static str,
    pub intro: String,
    pub sections: Vec<Section>,
    /// A few lines for the bottom of a form, pointing to the full notice.
    pub mention: Vec<String>,
    /// Where the full notice is published.
    pub link: String,
    /// Register fields the notice needs and the register leaves out.
    pub missing: Vec<Missing>,
    pub version: Version,
}

/// An id and its display name.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Named {
    pub id: String,
    pub name: String,
}

impl Named {
    fn of_organisation(organisation: &Organisation) -> Self {
        Named {
            id: organisation.id.clone(),
            name: organisation.name.clone(),
        }
    }

    fn of_activity(activity: &Activity) -> Self {
        Named {
            id: activity.id.clone(),
            name: activity.name.clone(),
        }
    }
}

/// A titled part of a document.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Section {
    /// Anchor in the HTML page.
    pub id: &'static str,
    pub heading: String,
    pub blocks: Vec<Block>,
}

/// A paragraph, a list or a gap in the register. Exactly one field is set; the others are null
/// (templates test them with `#if`).
#[derive(Debug, Clone, Serialize, PartialEq, Default, schemars::JsonSchema)]
pub struct Block {
    pub paragraph: Option<String>,
    pub list: Option<Vec<Item>>,
    /// The register does not give this information: said where it belongs.
    pub missing: Option<String>,
}

impl Block {
    fn paragraph(text: impl Into<String>) -> Self {
        Block {
            paragraph: Some(text.into()),
            ..Block::default()
        }
    }

    fn list(items: Vec<Item>) -> Self {
        Block {
            list: Some(items),
            ..Block::default()
        }
    }

    fn missing(text: impl Into<String>) -> Self {
        Block {
            missing: Some(text.into()),
            ..Block::default()
        }
    }
}

/// An item of a list: an optional term in bold, its text, and an optional link.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Item {
    pub term: Option<String>,
    pub text: String,
    pub href: Option<String>,
}

impl Item {
    fn text(text: impl Into<String>) -> Self {
        Item {
            term: None,
            text: text.into(),
            href: None,
        }
    }

    fn term(term: impl Into<String>, text: impl Into<String>) -> Self {
        Item {
            term: Some(term.into()),
            text: text.into(),
            href: None,
        }
    }

    fn link(mut self, href: impl Into<String>) -> Self {
        self.href = Some(href.into());
        self
    }

    /// The item in French typography.
    fn typeset(&mut self) {
        use crate::render::typography::french;
        self.text = french(&self.text);
        if let Some(term) = &mut self.term {
            *term = french(term);
        }
    }

    /// The text as paper shows it: a web address that is not the text itself is printed
    /// after it (an e-mail address already is the text).
    pub fn on_paper(&self) -> String {
        match &self.href {
            Some(href) if !href.starts_with("mailto:") && *href != self.text => {
                format!("{} ({href})", self.text)
            }
            _ => self.text.clone(),
        }
    }
}

/// A field of the register the notice needs and does not find.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Missing {
    /// Where it goes in the register file (`activities[cantine].retention.active`).
    pub field: String,
    /// What a notice cannot say without it, in French.
    pub information: String,
}

/// The French typography of [`crate::render::typography`], applied to every text of a
/// document once it is built.
fn typeset(sections: &mut [Section]) {
    use crate::render::typography::french;
    for section in sections {
        section.heading = french(&section.heading);
        for block in &mut section.blocks {
            for text in [&mut block.paragraph, &mut block.missing]
                .into_iter()
                .flatten()
            {
                *text = french(text);
            }
            block.list.iter_mut().flatten().for_each(Item::typeset);
        }
    }
}
