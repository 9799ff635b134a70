//! Words of a register's free text (names, descriptions) that reveal what its ids may not say:
//! a « régime halal » filed under `vie-personnelle`, a CCAS entered as `autorite-publique`,
//! jurors drawn from the electoral list. The lists are data (`policies/words.yaml`).
//!
//! Text and phrases are compared folded: lower case, without accents, a final `s` or `x`
//! dropped and `-aux` read `-al` (plurals), punctuation and apostrophes as spaces. A phrase
//! matches its words in a row; right after a negation (« sans », « aucun »…) it does not.

use std::collections::{BTreeMap, HashSet};
// Keyed by the pack's own ids and words: no hash flooding to fear, a faster hash.
use rustc_hash::FxHashMap as HashMap;

use serde::Deserialize;

use super::{Kind, Vocabulary, VocabularyError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WordsFile {
    negations: Vec<String>,
    special_categories: BTreeMap<String, Vec<String>>,
    natures: Vec<BTreeMap<String, Vec<String>>>,
    cases: BTreeMap<String, Vec<String>>,
    purposes: BTreeMap<String, Vec<String>>,
}

/// A phrase as written in the list, and its folded words.
#[derive(Debug, Clone)]
struct Phrase {
    written: String,
    folded: Vec<String>,
}

/// An entry of a list: what the phrases reveal (a category id, a nature, a case), and them.
#[derive(Debug, Clone)]
struct Entry {
    id: String,
    phrases: Vec<Phrase>,
}

/// The lists, in the order of [`List`].
const LISTS: usize = 4;

/// Which list an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    SpecialCategories = 0,
    Natures = 1,
    Cases = 2,
    Purposes = 3,
}

/// The word lists.
#[derive(Debug, Clone)]
pub struct Words {
    negations: HashSet<String>,
    lists: [Vec<Entry>; LISTS],
    /// Each phrase, by its first folded word: a text is read once, whatever the lists' length.
    by_first_word: HashMap<String, Vec<(List, usize, usize)>>,
}

/// A text folded once, to look for many phrases in it.
#[derive(Debug, PartialEq, Eq)]
pub struct Folded {
    words: Vec<String>,
    /// For each word, the position of the first word of its clause: a negation reaches no
    /// further than its clause (« sans porc, halal »).
    clause_start: Vec<usize>,
}

/// The words of a text, folded.
pub fn fold(text: &str) -> Folded {
    let plain = join_acronyms(&deunicode::deunicode(text).to_lowercase());
    let mut words = Vec::new();
    let mut clause_start = Vec::new();
    for clause in plain.split([',', ';', '.', ':', '(', ')', '/', '|', '\n']) {
        let start = words.len();
        for word in clause
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            words.push(fold_word(word));
            clause_start.push(start);
        }
    }
    Folded {
        words,
        clause_start,
    }
}

/// « c.c.a.s. » reads « ccas »: a run of single letters each followed by a dot is one word.
fn join_acronyms(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for chunk in text.split_inclusive(char::is_whitespace) {
        let core = chunk.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '.');
        let letters: Vec<&str> = core.split('.').filter(|l| !l.is_empty()).collect();
        let acronym = letters.len() >= 2
            && letters.iter().all(|l| l.len() == 1)
            && core.matches('.').count() >= letters.len() - 1;
        if acronym && let Some(at) = chunk.find(core) {
            out.push_str(&chunk[..at]);
            out.push_str(&letters.concat());
            out.push_str(&chunk[at + core.len()..]);
        } else {
            out.push_str(chunk);
        }
    }
    out
}

fn fold_word(word: &str) -> String {
    if word.len() > 4
        && let Some(stem) = word.strip_suffix("aux")
    {
        return format!("{stem}al");
    }
    match word.strip_suffix(['s', 'x']) {
        Some(stem) if stem.len() > 2 => stem.to_owned(),
        _ => word.to_owned(),
    }
}

fn entries(
    lists: impl IntoIterator<Item = (String, Vec<String>)>,
) -> Result<Vec<Entry>, VocabularyError> {
    lists
        .into_iter()
        .map(|(id, phrases)| {
            let phrases = phrases
                .into_iter()
                .map(|written| {
                    let folded = fold(&written).words;
                    if folded.is_empty() {
                        return Err(VocabularyError::Invalid(format!(
                            "mots de `{id}` : « {written} » ne contient aucun mot"
                        )));
                    }
                    Ok(Phrase { written, folded })
                })
                .collect::<Result<_, _>>()?;
            Ok(Entry { id, phrases })
        })
        .collect()
}

/// The words shipped with registre.
pub const BUILTIN_WORDS: &str = include_str!("../../policies/words.yaml");

impl Words {
    /// Reads the lists; the category ids must be ids of the vocabulary.
    pub fn from_yaml(text: &str, vocabulary: &Vocabulary) -> Result<Self, VocabularyError> {
        let file: WordsFile = super::read_data_file(text)?;
        if let Some(unknown) = file
            .special_categories
            .keys()
            .find(|id| !vocabulary.contains(Kind::DataCategory, id))
        {
            return Err(VocabularyError::Invalid(format!(
                "special_categories : catégorie de données inconnue `{unknown}`"
            )));
        }
        if let Some(unknown) = file
            .purposes
            .keys()
            .find(|id| !vocabulary.contains(Kind::Purpose, id))
        {
            return Err(VocabularyError::Invalid(format!(
                "purposes : finalité inconnue `{unknown}`"
            )));
        }
        let lists = [
            entries(file.special_categories)?,
            // Natures are listed most specific first: the first that matches a name wins.
            entries(file.natures.into_iter().flatten())?,
            entries(file.cases)?,
            entries(file.purposes)?,
        ];
        let mut by_first_word: HashMap<String, Vec<(List, usize, usize)>> = HashMap::default();
        let kinds = [
            List::SpecialCategories,
            List::Natures,
            List::Cases,
            List::Purposes,
        ];
        for (list, entries) in kinds.into_iter().zip(&lists) {
            for (e, entry) in entries.iter().enumerate() {
                for (p, phrase) in entry.phrases.iter().enumerate() {
                    by_first_word
                        .entry(phrase.folded[0].clone())
                        .or_default()
                        .push((list, e, p));
                }
            }
        }
        Ok(Words {
            negations: file.negations.iter().flat_map(|n| fold(n).words).collect(),
            lists,
            by_first_word,
        })
    }

    /// Whether one of the two words before a phrase, in its clause and articles aside, is a
    /// negation (« sans la nature du handicap », « aucune exploitation de la vitesse »).
    fn negated(&self, before: &[String]) -> bool {
        // Folded: « les » reads « le », « des » reads « de ».
        const ARTICLES: [&str; 8] = ["la", "le", "l", "de", "d", "du", "un", "une"];
        before
            .iter()
            .rev()
            .filter(|w| !ARTICLES.contains(&w.as_str()))
            .take(2)
            .any(|w| self.negations.contains(w))
    }

    /// The phrases of `list` found in `texts`, not right after a negation, as (entry,
    /// phrase) positions in the list, in list order and without repeats.
    fn found(&self, list: List, texts: &[Folded]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for text in texts {
            for (at, word) in text.words.iter().enumerate() {
                let negated = self.negated(&text.words[text.clause_start[at]..at]);
                if negated {
                    continue;
                }
                for (l, e, p) in self.by_first_word.get(word).into_iter().flatten() {
                    let folded = &self.lists[*l as usize][*e].phrases[*p].folded;
                    if *l == list && text.words[at..].starts_with(folded) {
                        out.push((*e, *p));
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The special categories (or criminal data, or the NIR) the texts reveal, by category
    /// id, with the words found (as written in the list).
    pub fn special_categories<'w>(&'w self, texts: &[Folded]) -> Vec<(&'w str, Vec<&'w str>)> {
        let entries = &self.lists[List::SpecialCategories as usize];
        let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
        for (e, p) in self.found(List::SpecialCategories, texts) {
            let entry = &entries[e];
            let written = entry.phrases[p].written.as_str();
            match out.last_mut() {
                Some((id, words)) if *id == entry.id => words.push(written),
                _ => out.push((entry.id.as_str(), vec![written])),
            }
        }
        out
    }

    /// The ids of `list` whose phrases the texts hold, once each.
    fn ids<'w>(&'w self, list: List, texts: &[Folded]) -> Vec<&'w str> {
        let entries = &self.lists[list as usize];
        let mut out: Vec<&str> = self
            .found(list, texts)
            .into_iter()
            .map(|(e, _)| entries[e].id.as_str())
            .collect();
        out.dedup();
        out
    }

    /// The cases the texts reveal (`jures-assises`, `logement-social` …).
    pub fn cases<'w>(&'w self, texts: &[Folded]) -> Vec<&'w str> {
        self.ids(List::Cases, texts)
    }

    /// The purposes the texts name (« cantine » names `education.restauration-scolaire`).
    pub fn purposes<'w>(&'w self, texts: &[Folded]) -> Vec<&'w str> {
        self.ids(List::Purposes, texts)
    }

    /// What a body is by its name (`ccas`, `association`, `prefecture` …): the first nature
    /// of the list whose words the name holds.
    pub fn nature(&self, name: &str) -> Option<&str> {
        self.found(List::Natures, &[fold(name)])
            .first()
            .map(|(e, _)| self.lists[List::Natures as usize][*e].id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words() -> Words {
        let vocabulary = Vocabulary::builtin().unwrap_or_else(|e| unreachable!("{e}"));
        Words::from_yaml(BUILTIN_WORDS, &vocabulary).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn accents_case_and_plurals_are_folded() {
        let w = words();
        let found = w.special_categories(&[fold("Choix des RÉGIMES : Halal, Casher, végétarien")]);
        assert!(
            found
                .iter()
                .any(|(id, words)| *id == "convictions-religieuses"
                    && words.contains(&"halal")
                    && words.contains(&"casher")),
            "{found:?}"
        );
        let found = w.special_categories(&[fold("Relevé des empreintes digitales des agents")]);
        assert!(found.iter().any(|(id, _)| *id == "biometrie"), "{found:?}");
        assert_eq!(
            fold("logements sociaux").words,
            fold("Logement social").words
        );
    }

    #[test]
    fn a_negated_word_does_not_count() {
        let w = words();
        assert!(
            w.special_categories(&[fold("Menus sans porc ; aucune allergie n'est recueillie")])
                .is_empty()
        );
        assert!(
            !w.special_categories(&[fold("Liste des allergies")])
                .is_empty()
        );
        // A negation reaches no further than its clause.
        let menu = w.special_categories(&[fold("menu : standard / sans porc / halal")]);
        assert!(!menu.is_empty(), "{menu:?}");
    }

    #[test]
    fn a_body_is_known_by_its_name() {
        let w = words();
        assert_eq!(w.nature("CCAS de Ville-Exemple"), Some("ccas"));
        assert_eq!(w.nature("C.C.A.S. de Saint-Trojan"), Some("ccas"));
        assert_eq!(w.nature("Centre communal d'action sociale"), Some("ccas"));
        assert_eq!(
            w.nature("Association ADMR d'aide à domicile"),
            Some("aide-domicile")
        );
        assert_eq!(w.nature("Préfecture de l'Oise"), Some("prefecture"));
        assert_eq!(w.nature("Service état civil"), None);
    }
}
