//! Countries (ISO 3166-1 alpha-2), the European Economic Area and the adequacy list, as data.

// Keyed by the pack's own ids and words: no hash flooding to fear, a faster hash.
use rustc_hash::FxHashMap as HashMap;

use serde::Deserialize;

use super::VocabularyError;

/// One country of `policies/countries.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Country {
    pub code: String,
    pub name: String,
    /// Member of the European Economic Area: no transfer rules apply.
    #[serde(default)]
    pub eea: bool,
    /// The Commission's adequacy decision, when there is one (RGPD art. 45).
    #[serde(default)]
    pub adequacy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountriesFile {
    updated: String,
    countries: Vec<Country>,
}

/// The country list.
#[derive(Debug, Clone)]
pub struct Countries {
    updated: String,
    by_code: HashMap<String, Country>,
}

/// The country list shipped with registre.
pub const BUILTIN_COUNTRIES: &str = include_str!("../../policies/countries.yaml");

impl Countries {
    pub fn builtin() -> Result<Self, VocabularyError> {
        Self::from_yaml(BUILTIN_COUNTRIES)
    }

    pub fn from_yaml(text: &str) -> Result<Self, VocabularyError> {
        let file: CountriesFile = super::read_data_file(text)?;
        let mut by_code = HashMap::default();
        for country in file.countries {
            if let Some(previous) = by_code.insert(country.code.clone(), country) {
                return Err(VocabularyError::Invalid(format!(
                    "le pays `{}` figure deux fois",
                    previous.code
                )));
            }
        }
        Ok(Countries {
            updated: file.updated,
            by_code,
        })
    }

    pub fn updated(&self) -> &str {
        &self.updated
    }

    pub fn get(&self, code: &str) -> Option<&Country> {
        self.by_code.get(code)
    }
}

impl Countries {
    /// Every country, in code order.
    pub fn all(&self) -> impl Iterator<Item = &Country> {
        let mut all: Vec<&Country> = self.by_code.values().collect();
        all.sort_by(|a, b| a.code.cmp(&b.code));
        all.into_iter()
    }
}
