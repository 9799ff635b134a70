//! Which rights a person has, by legal basis (RGPD art. 15 to 22 and 7.3): the table of
//! LEGAL.md §2, as data. A notice lists exactly these, with their conditions.

use serde::Serialize;

/// A right of the person, as a notice names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Right {
    Access,
    Rectification,
    Erasure,
    Restriction,
    Objection,
    Portability,
    WithdrawConsent,
    Complaint,
}

impl Right {
    pub const ALL: [Right; 8] = [
        Right::Access,
        Right::Rectification,
        Right::Erasure,
        Right::Restriction,
        Right::Objection,
        Right::Portability,
        Right::WithdrawConsent,
        Right::Complaint,
    ];

    /// The right's name in a notice, with its article.
    pub fn label(self) -> &'static str {
        match self {
            Right::Access => "droit d'accès (art. 15)",
            Right::Rectification => "droit de rectification (art. 16)",
            Right::Erasure => "droit à l'effacement (art. 17)",
            Right::Restriction => "droit à la limitation du traitement (art. 18)",
            Right::Objection => "droit d'opposition (art. 21)",
            Right::Portability => "droit à la portabilité (art. 20)",
            Right::WithdrawConsent => {
                "droit de retirer votre consentement à tout moment (art. 7.3)"
            }
            Right::Complaint => "droit d'introduire une réclamation auprès de la CNIL (art. 77)",
        }
    }
}

impl Right {
    /// The right after « droit », for a one-line mention: « d'accès », « d'effacement ».
    pub fn short(self) -> &'static str {
        match self {
            Right::Access => "d'accès",
            Right::Rectification => "de rectification",
            Right::Erasure => "d'effacement",
            Right::Restriction => "de limitation",
            Right::Objection => "d'opposition",
            Right::Portability => "de portabilité",
            Right::WithdrawConsent => "de retrait du consentement",
            Right::Complaint => "de réclamation auprès de la CNIL",
        }
    }
}

/// Whether a right holds under a legal basis, and on what condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "holds", content = "condition")]
pub enum RightHolds {
    Yes,
    /// Holds, on the condition the notice states.
    When(&'static str),
}

/// The rights a legal basis (a vocabulary id of `legal_bases`) gives, in notice order; `None`
/// for an id that is not a legal basis.
pub fn rights_for(legal_basis: &str) -> Option<Vec<(Right, RightHolds)>> {
    use RightHolds::{When, Yes};
    const AUTOMATED: &str =
        "pour les données que vous avez fournies, lorsque le traitement est automatisé";
    let erasure = match legal_basis {
        "consentement" | "interet-legitime" => Yes,
        "contrat" | "interets-vitaux" => When("lorsque les données ne sont plus nécessaires"),
        "obligation-legale" => When("une fois l'obligation légale éteinte"),
        "mission-interet-public" => {
            When("lorsque les données ne sont plus nécessaires à la mission")
        }
        _ => return None,
    };
    let objection = match legal_basis {
        "mission-interet-public" => Some(When(
            "pour des raisons tenant à votre situation particulière, sauf motifs impérieux",
        )),
        "interet-legitime" => Some(When(
            "pour des raisons tenant à votre situation particulière ; sans condition pour la prospection",
        )),
        _ => None,
    };
    let portability = matches!(legal_basis, "consentement" | "contrat").then_some(When(AUTOMATED));
    let withdraw = (legal_basis == "consentement").then_some(Yes);
    let mut rights = vec![
        (Right::Access, Yes),
        (Right::Rectification, Yes),
        (Right::Erasure, erasure),
        (Right::Restriction, Yes),
    ];
    rights.extend(objection.map(|o| (Right::Objection, o)));
    rights.extend(portability.map(|p| (Right::Portability, p)));
    rights.extend(withdraw.map(|w| (Right::WithdrawConsent, w)));
    rights.push((Right::Complaint, Yes));
    Some(rights)
}

/// The rights of an activity: those of its legal basis and, when it processes special
/// categories with explicit consent (art. 9.2.a), the withdrawal of consent (art. 7.3) and
/// portability (art. 20.1.a) as under consent, except portability under a public task,
/// which art. 20.3 excludes whatever the consent.
pub fn rights_of(legal_basis: &str, explicit_consent: bool) -> Option<Vec<(Right, RightHolds)>> {
    let mut rights = rights_for(legal_basis)?;
    if explicit_consent {
        for (right, holds) in rights_for("consentement")? {
            let from_consent = match right {
                Right::WithdrawConsent => true,
                Right::Portability => legal_basis != "mission-interet-public",
                _ => false,
            };
            if from_consent && !rights.iter().any(|(r, _)| *r == right) {
                rights.push((right, holds));
            }
        }
        rights.sort_by_key(|(right, _)| *right);
    }
    Some(rights)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LEGAL.md §2, row by row: which rights each basis gives (conditions aside).
    #[test]
    fn each_legal_basis_lists_exactly_its_rights() {
        use Right::*;
        let table: [(&str, &[Right]); 6] = [
            (
                "consentement",
                &[
                    Access,
                    Rectification,
                    Erasure,
                    Restriction,
                    Portability,
                    WithdrawConsent,
                    Complaint,
                ],
            ),
            (
                "contrat",
                &[
                    Access,
                    Rectification,
                    Erasure,
                    Restriction,
                    Portability,
                    Complaint,
                ],
            ),
            (
                "obligation-legale",
                &[Access, Rectification, Erasure, Restriction, Complaint],
            ),
            (
                "interets-vitaux",
                &[Access, Rectification, Erasure, Restriction, Complaint],
            ),
            (
                "mission-interet-public",
                &[
                    Access,
                    Rectification,
                    Erasure,
                    Restriction,
                    Objection,
                    Complaint,
                ],
            ),
            (
                "interet-legitime",
                &[
                    Access,
                    Rectification,
                    Erasure,
                    Restriction,
                    Objection,
                    Complaint,
                ],
            ),
        ];
        for (basis, expected) in table {
            let rights: Vec<Right> = rights_for(basis)
                .unwrap()
                .into_iter()
                .map(|(r, _)| r)
                .collect();
            assert_eq!(rights, expected, "{basis}");
        }
        assert_eq!(rights_for("bon-plaisir"), None);
    }

    #[test]
    fn conditions_follow_the_law() {
        let holds = |basis: &str, right: Right| {
            rights_for(basis)
                .unwrap()
                .into_iter()
                .find(|(r, _)| *r == right)
                .map(|(_, h)| h)
        };
        // No erasure while a legal obligation applies; unconditional under consent.
        assert!(
            matches!(holds("obligation-legale", Right::Erasure), Some(RightHolds::When(c)) if c.contains("obligation"))
        );
        assert_eq!(holds("consentement", Right::Erasure), Some(RightHolds::Yes));
        // Objection under public task can be overridden by compelling grounds.
        assert!(
            matches!(holds("mission-interet-public", Right::Objection), Some(RightHolds::When(c)) if c.contains("impérieux"))
        );
        // Portability only for automated processing, never under public task (art. 20.3).
        assert!(
            matches!(holds("contrat", Right::Portability), Some(RightHolds::When(c)) if c.contains("automatisé"))
        );
        assert_eq!(holds("mission-interet-public", Right::Portability), None);
        for right in Right::ALL {
            assert!(!right.label().is_empty());
        }
    }

    #[test]
    fn explicit_consent_adds_withdrawal_and_portability() {
        let rights = |basis: &str| -> Vec<Right> {
            rights_of(basis, true)
                .unwrap()
                .into_iter()
                .map(|(r, _)| r)
                .collect()
        };
        use Right::*;
        // Never portability under a public task (art. 20.3).
        assert_eq!(
            rights("mission-interet-public"),
            [
                Access,
                Rectification,
                Erasure,
                Restriction,
                Objection,
                WithdrawConsent,
                Complaint
            ]
        );
        assert_eq!(
            rights("obligation-legale"),
            [
                Access,
                Rectification,
                Erasure,
                Restriction,
                Portability,
                WithdrawConsent,
                Complaint
            ]
        );
        assert_eq!(
            rights_of("contrat", false),
            rights_for("contrat"),
            "nothing added without explicit consent"
        );
    }

    #[test]
    fn every_vocabulary_legal_basis_has_its_rights() {
        let vocabulary = crate::vocabulary::Vocabulary::builtin().unwrap();
        for term in vocabulary.terms(crate::vocabulary::Kind::LegalBasis) {
            assert!(rights_for(&term.id).is_some(), "{}", term.id);
        }
    }
}
