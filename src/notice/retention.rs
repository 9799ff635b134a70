//! How long data are kept, in the words of a notice: « 1 an (point de départ : fin de l'année
//! scolaire), puis 8 ans en archives intermédiaires, puis destruction ».

use crate::model::Retention;
use crate::render::typography::lowercase_first;
use crate::vocabulary::{Kind, Vocabulary};

/// The retention sentence of a notice; `None` when the register gives no active period (the
/// audit reports it as `retention.missing`; a notice must not invent one).
pub fn retention_in_words(retention: &Retention, vocabulary: &Vocabulary) -> Option<String> {
    let active = retention.active.as_ref()?.in_words()?;
    let mut sentence = match retention.start.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(start) => format!("{active} (point de départ : {})", start.trim()),
        None => active,
    };
    if let Some(intermediate) = retention.intermediate.as_ref().and_then(|p| p.in_words()) {
        sentence.push_str(&format!(", puis {intermediate} en archives intermédiaires"));
    }
    if let Some(fate) = &retention.final_fate {
        let label = lowercase_first(vocabulary.label(Kind::RetentionFinal, fate));
        // Records kept forever are not destroyed « afterwards »: they go to the archives.
        let link = if retention.active.as_ref().is_some_and(|p| p.is_permanent()) {
            "avec"
        } else {
            "puis"
        };
        sentence.push_str(&format!(", {link} {label}"));
    }
    Some(sentence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Period;

    fn retention(
        active: Option<&str>,
        intermediate: Option<&str>,
        fate: Option<&str>,
        start: Option<&str>,
    ) -> Retention {
        Retention {
            active: active.map(Period::new),
            intermediate: intermediate.map(Period::new),
            final_fate: fate.map(str::to_owned),
            start: start.map(str::to_owned),
            per_category: None,
        }
    }

    #[test]
    fn retention_reads_as_a_sentence() {
        let vocabulary = Vocabulary::builtin().unwrap();
        let canteen = retention(
            Some("P1Y"),
            None,
            Some("destruction"),
            Some("fin de l'année scolaire"),
        );
        assert_eq!(
            retention_in_words(&canteen, &vocabulary).as_deref(),
            Some("1 an (point de départ : fin de l'année scolaire), puis destruction")
        );
        let billing = retention(Some("P2Y"), Some("P8Y"), Some("destruction"), None);
        assert_eq!(
            retention_in_words(&billing, &vocabulary).as_deref(),
            Some("2 ans, puis 8 ans en archives intermédiaires, puis destruction")
        );
        let civil = retention(Some("permanent"), None, Some("archivage-definitif"), None);
        assert_eq!(
            retention_in_words(&civil, &vocabulary).as_deref(),
            Some("sans limite de durée, avec versement aux archives définitives")
        );
        assert_eq!(
            retention_in_words(
                &retention(None, None, Some("destruction"), None),
                &vocabulary
            ),
            None
        );
    }
}
