//! The vocabulary of the register: ids, French labels, hierarchies and W3C DPV concepts.
//!
//! It is data (`policies/vocabulary.yaml`, `policies/countries.yaml`), not code: adding an id
//! needs no change here. Hierarchies give rules their reach: a rule on `sante` covers
//! `sante.vaccination`.

mod countries;
mod words;

// Keyed by the pack's own ids and words: no hash flooding to fear, a faster hash.
use rustc_hash::FxHashMap as HashMap;
use std::fmt;

use serde::Deserialize;
use thiserror::Error;

pub use countries::{Countries, Country};
pub use words::{BUILTIN_WORDS, Folded, Words, fold};

/// The lists of the vocabulary, one per kind of id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Purpose,
    DataCategory,
    DataSubject,
    LegalBasis,
    SpecialCategoryException,
    RecipientType,
    TransferSafeguard,
    ReuseSafeguard,
    SecurityMeasure,
    DpiaCriterion,
    OrganisationKind,
    WithdrawalChannel,
    RetentionFinal,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::Purpose,
        Kind::DataCategory,
        Kind::DataSubject,
        Kind::LegalBasis,
        Kind::SpecialCategoryException,
        Kind::RecipientType,
        Kind::TransferSafeguard,
        Kind::ReuseSafeguard,
        Kind::SecurityMeasure,
        Kind::DpiaCriterion,
        Kind::OrganisationKind,
        Kind::WithdrawalChannel,
        Kind::RetentionFinal,
    ];

    /// The key of the list in the vocabulary file.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Purpose => "purposes",
            Kind::DataCategory => "data_categories",
            Kind::DataSubject => "data_subjects",
            Kind::LegalBasis => "legal_bases",
            Kind::SpecialCategoryException => "special_category_exceptions",
            Kind::RecipientType => "recipient_types",
            Kind::TransferSafeguard => "transfer_safeguards",
            Kind::ReuseSafeguard => "reuse_safeguards",
            Kind::SecurityMeasure => "security_measures",
            Kind::DpiaCriterion => "dpia_criteria",
            Kind::OrganisationKind => "organisation_kinds",
            Kind::WithdrawalChannel => "withdrawal_channels",
            Kind::RetentionFinal => "retention_finals",
        }
    }

    /// How a DPO calls an id of this list, in French.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Purpose => "finalité",
            Kind::DataCategory => "catégorie de données",
            Kind::DataSubject => "catégorie de personnes",
            Kind::LegalBasis => "base légale",
            Kind::SpecialCategoryException => "exception de l'article 9.2",
            Kind::RecipientType => "type de destinataire",
            Kind::TransferSafeguard => "garantie de transfert",
            Kind::ReuseSafeguard => "garantie de réutilisation",
            Kind::SecurityMeasure => "mesure de sécurité",
            Kind::DpiaCriterion => "critère d'AIPD",
            Kind::OrganisationKind => "type d'organisme",
            Kind::WithdrawalChannel => "moyen de retrait du consentement",
            Kind::RetentionFinal => "sort final des données",
        }
    }
}

/// One id of the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub parent: Option<String>,
    /// W3C Data Privacy Vocabulary concept, for exports.
    #[serde(default)]
    pub dpv: Option<String>,
    /// Article of the RGPD the id stands for (legal bases, exceptions, safeguards).
    #[serde(default)]
    pub article: Option<String>,
    /// Organisation kinds only: a public body must designate a DPO and cannot rely on
    /// legitimate interest for its tasks.
    #[serde(default)]
    pub public_body: Option<bool>,
    /// DPIA criteria only: what in a register makes the criterion evident.
    #[serde(default)]
    pub implied_by: Option<Implication>,
}

/// Register content that makes a DPIA criterion evident; a parent id covers its children.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Implication {
    #[serde(default)]
    pub purposes: Vec<String>,
    #[serde(default)]
    pub data_categories: Vec<String>,
    #[serde(default)]
    pub data_subjects: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyFile {
    version: String,
    purposes: Vec<Term>,
    data_categories: Vec<Term>,
    data_subjects: Vec<Term>,
    legal_bases: Vec<Term>,
    special_category_exceptions: Vec<Term>,
    recipient_types: Vec<Term>,
    transfer_safeguards: Vec<Term>,
    reuse_safeguards: Vec<Term>,
    security_measures: Vec<Term>,
    dpia_criteria: Vec<Term>,
    organisation_kinds: Vec<Term>,
    withdrawal_channels: Vec<Term>,
    retention_finals: Vec<Term>,
}

#[derive(Debug, Clone, Default)]
struct List {
    terms: Vec<Term>,
    index: HashMap<String, usize>,
}

/// The loaded vocabulary.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    version: String,
    lists: HashMap<Kind, List>,
}

/// A vocabulary file that cannot be used.
#[derive(Debug, Error)]
pub enum VocabularyError {
    #[error("vocabulaire illisible (ligne {line:?}) : {message}")]
    Syntax {
        line: Option<usize>,
        message: String,
    },
    #[error("vocabulaire invalide : {0}")]
    Invalid(String),
}

/// Reads one of the data files of a rule pack.
fn read_data_file<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, VocabularyError> {
    let value = crate::yaml::parse(text).map_err(|e| VocabularyError::Syntax {
        line: e.line,
        message: e.message,
    })?;
    serde_json::from_value(value).map_err(|e| VocabularyError::Invalid(e.to_string()))
}

/// The vocabulary shipped with registre.
pub const BUILTIN_VOCABULARY: &str = include_str!("../policies/vocabulary.yaml");

impl Vocabulary {
    /// The vocabulary shipped with registre.
    pub fn builtin() -> Result<Self, VocabularyError> {
        Self::from_yaml(BUILTIN_VOCABULARY)
    }

    pub fn from_yaml(text: &str) -> Result<Self, VocabularyError> {
        let file: VocabularyFile = read_data_file(text)?;
        let lists = [
            (Kind::Purpose, file.purposes),
            (Kind::DataCategory, file.data_categories),
            (Kind::DataSubject, file.data_subjects),
            (Kind::LegalBasis, file.legal_bases),
            (
                Kind::SpecialCategoryException,
                file.special_category_exceptions,
            ),
            (Kind::RecipientType, file.recipient_types),
            (Kind::TransferSafeguard, file.transfer_safeguards),
            (Kind::ReuseSafeguard, file.reuse_safeguards),
            (Kind::SecurityMeasure, file.security_measures),
            (Kind::DpiaCriterion, file.dpia_criteria),
            (Kind::OrganisationKind, file.organisation_kinds),
            (Kind::WithdrawalChannel, file.withdrawal_channels),
            (Kind::RetentionFinal, file.retention_finals),
        ];
        let mut out = HashMap::default();
        for (kind, terms) in lists {
            out.insert(kind, List::new(kind, terms)?);
        }
        let vocabulary = Vocabulary {
            version: file.version,
            lists: out,
        };
        vocabulary.check_implications()?;
        Ok(vocabulary)
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    fn list(&self, kind: Kind) -> &List {
        // Every kind is inserted by `from_yaml`.
        static EMPTY: std::sync::OnceLock<List> = std::sync::OnceLock::new();
        self.lists
            .get(&kind)
            .unwrap_or_else(|| EMPTY.get_or_init(List::default))
    }

    pub fn terms(&self, kind: Kind) -> &[Term] {
        &self.list(kind).terms
    }

    pub fn term(&self, kind: Kind, id: &str) -> Option<&Term> {
        let list = self.list(kind);
        list.index.get(id).map(|i| &list.terms[*i])
    }

    pub fn contains(&self, kind: Kind, id: &str) -> bool {
        self.list(kind).index.contains_key(id)
    }

    pub fn label<'a>(&'a self, kind: Kind, id: &'a str) -> &'a str {
        self.term(kind, id).map_or(id, |t| t.label.as_str())
    }

    /// `id` then each of its ancestors, nearest first.
    pub fn lineage<'a>(&'a self, kind: Kind, id: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        std::iter::successors(Some(id), move |current| {
            self.term(kind, current).and_then(|t| t.parent.as_deref())
        })
    }

    /// Whether `id` is `ancestor` or one of its descendants.
    pub fn is_within(&self, kind: Kind, id: &str, ancestor: &str) -> bool {
        self.lineage(kind, id).any(|a| a == ancestor)
    }

    /// The top of the hierarchy `id` belongs to (its purpose family, its category family).
    pub fn root<'a>(&'a self, kind: Kind, id: &'a str) -> &'a str {
        self.lineage(kind, id).last().unwrap_or(id)
    }

    /// The closest known id, to suggest when `id` is unknown.
    pub fn suggest(&self, kind: Kind, id: &str) -> Option<&str> {
        self.terms(kind)
            .iter()
            .map(|t| (strsim::jaro_winkler(&t.id, id), t.id.as_str()))
            .filter(|(score, _)| *score > 0.85)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id)| id)
    }

    /// Whether organisations of this kind are public bodies.
    pub fn is_public_body(&self, organisation_kind: &str) -> bool {
        self.term(Kind::OrganisationKind, organisation_kind)
            .and_then(|t| t.public_body)
            .unwrap_or(false)
    }

    fn check_implications(&self) -> Result<(), VocabularyError> {
        for term in self.terms(Kind::DpiaCriterion) {
            let Some(implied) = &term.implied_by else {
                continue;
            };
            let refs = [
                (Kind::Purpose, &implied.purposes),
                (Kind::DataCategory, &implied.data_categories),
                (Kind::DataSubject, &implied.data_subjects),
            ];
            for (kind, ids) in refs {
                if let Some(bad) = ids.iter().find(|id| !self.contains(kind, id)) {
                    return Err(VocabularyError::Invalid(format!(
                        "le critère `{}` renvoie à un identifiant inconnu `{bad}` ({})",
                        term.id,
                        kind.noun()
                    )));
                }
            }
        }
        Ok(())
    }
}

impl List {
    fn new(kind: Kind, terms: Vec<Term>) -> Result<Self, VocabularyError> {
        let mut index = HashMap::with_capacity_and_hasher(terms.len(), Default::default());
        for (i, term) in terms.iter().enumerate() {
            if index.insert(term.id.clone(), i).is_some() {
                return Err(VocabularyError::Invalid(format!(
                    "`{}` figure deux fois dans `{}`",
                    term.id,
                    kind.key()
                )));
            }
        }
        for term in &terms {
            if let Some(parent) = &term.parent
                && !index.contains_key(parent)
            {
                return Err(VocabularyError::Invalid(format!(
                    "le parent `{parent}` de `{}` n'existe pas dans `{}`",
                    term.id,
                    kind.key()
                )));
            }
        }
        let list = List { terms, index };
        // A cycle would make lineage endless.
        for term in &list.terms {
            let mut seen = 0;
            let mut current = term.parent.as_deref();
            while let Some(p) = current {
                seen += 1;
                if seen > list.terms.len() {
                    return Err(VocabularyError::Invalid(format!(
                        "la hiérarchie de `{}` forme une boucle",
                        term.id
                    )));
                }
                current = list
                    .index
                    .get(p)
                    .and_then(|i| list.terms[*i].parent.as_deref());
            }
        }
        Ok(list)
    }
}

impl Kind {
    /// "inconnue" or "inconnu", agreeing with [`Kind::noun`].
    pub fn unknown(self) -> &'static str {
        match self {
            Kind::DpiaCriterion
            | Kind::OrganisationKind
            | Kind::WithdrawalChannel
            | Kind::RetentionFinal
            | Kind::RecipientType => "inconnu",
            _ => "inconnue",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}
