//! Checks of a structurally sound register against the format and the vocabulary: ids, SIREN,
//! e-mail addresses, periods, dates, countries, duplicates and sources that point nowhere.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use validator::ValidateEmail;

use super::load::InputError;
use super::{Activity, Organisation, Period, Register, Source};
use crate::vocabulary::{Countries, Kind, Vocabulary};

/// Every error of `register`, in file order. Organisations are checked in parallel.
pub(super) fn check(
    register: &Register,
    vocabulary: &Vocabulary,
    countries: &Countries,
    outside: &super::load::Outside,
) -> Vec<InputError> {
    let checker = || Checker {
        vocabulary,
        countries,
        errors: Vec::new(),
    };
    let mut head = checker();
    if register.format != super::FORMAT {
        head.error(
            "format".into(),
            format!(
                "format `{}` inconnu : attendu `{}`",
                register.format,
                super::FORMAT
            ),
        );
    }
    // Sources may point to any organisation of the file, or to activities known to exist
    // outside it (an organisation of the file replaces its namesake outside).
    let mut activities: HashMap<&str, HashSet<&str>> = outside
        .iter()
        .map(|(o, ids)| (o.as_str(), ids.iter().map(String::as_str).collect()))
        .collect();
    activities.extend(register.organisations.iter().map(|o| {
        (
            o.id.as_str(),
            o.activities().iter().map(|a| a.id.as_str()).collect(),
        )
    }));
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    for (i, org) in register.organisations.iter().enumerate() {
        first_of.entry(org.id.as_str()).or_insert(i);
    }
    let per_organisation: Vec<Vec<InputError>> = register
        .organisations
        .par_iter()
        .enumerate()
        .map(|(i, org)| {
            let mut c = checker();
            let path = format!("organisations[{i}]");
            if first_of.get(org.id.as_str()) != Some(&i) {
                c.error(
                    format!("{path}.id"),
                    format!(
                        "identifiant `{}` déjà utilisé par un autre organisme",
                        org.id
                    ),
                );
            }
            c.organisation(&path, org);
            for (j, activity) in org.activities().iter().enumerate() {
                c.sources(
                    &format!("{path}.activities[{j}]"),
                    org,
                    activity,
                    &activities,
                );
            }
            c.errors
        })
        .collect();
    head.errors.extend(per_organisation.into_iter().flatten());
    head.errors
}

struct Checker<'a> {
    vocabulary: &'a Vocabulary,
    countries: &'a Countries,
    errors: Vec<InputError>,
}

impl Checker<'_> {
    fn error(&mut self, path: String, message: String) {
        self.errors.push(InputError::new(path, message));
    }

    fn organisation(&mut self, path: &str, org: &Organisation) {
        self.slug(|| format!("{path}.id"), &org.id);
        self.not_blank(|| format!("{path}.name"), &org.name);
        self.vocab(|| format!("{path}.kind"), Kind::OrganisationKind, &org.kind);
        if let Some(siren) = &org.siren
            && let Err(problem) = check_siren(siren)
        {
            self.error(
                format!("{path}.siren"),
                format!("SIREN `{siren}` invalide : {problem}"),
            );
        }
        self.email(|| format!("{path}.email"), org.email.as_deref());
        if let Some(rep) = &org.representative {
            self.not_blank(|| format!("{path}.representative.name"), &rep.name);
        }
        if let Some(dpo) = &org.dpo {
            self.not_blank(|| format!("{path}.dpo.name"), &dpo.name);
            self.email(|| format!("{path}.dpo.email"), dpo.email.as_deref());
        }
        let mut ids = HashSet::new();
        for (j, activity) in org.activities().iter().enumerate() {
            let path = format!("{path}.activities[{j}]");
            if !ids.insert(activity.id.as_str()) {
                self.error(
                    format!("{path}.id"),
                    format!(
                        "identifiant `{}` déjà utilisé par une autre activité de `{}`",
                        activity.id, org.id
                    ),
                );
            }
            self.activity(&path, activity);
        }
    }

    fn activity(&mut self, path: &str, a: &Activity) {
        self.slug(|| format!("{path}.id"), &a.id);
        self.not_blank(|| format!("{path}.name"), &a.name);
        if let Some(party) = &a.on_behalf_of {
            self.email(
                || format!("{path}.on_behalf_of.email"),
                party.email.as_deref(),
            );
        }
        for (k, party) in a.joint_controllers().iter().enumerate() {
            self.email(
                || format!("{path}.joint_controllers[{k}].email"),
                party.email.as_deref(),
            );
        }
        self.vocab_list(&format!("{path}.purposes"), Kind::Purpose, a.purposes());
        if let Some(basis) = &a.legal_basis {
            self.vocab(|| format!("{path}.legal_basis"), Kind::LegalBasis, basis);
        }
        if let Some(exception) = &a.special_category_exception {
            self.vocab(
                || format!("{path}.special_category_exception"),
                Kind::SpecialCategoryException,
                exception,
            );
        }
        self.vocab_list(
            &format!("{path}.data_subjects"),
            Kind::DataSubject,
            a.data_subjects(),
        );
        self.vocab_list(
            &format!("{path}.data_categories"),
            Kind::DataCategory,
            a.data_categories(),
        );
        for (k, recipient) in a.recipients().iter().enumerate() {
            self.not_blank(|| format!("{path}.recipients[{k}].name"), &recipient.name);
            if let Some(kind) = &recipient.kind {
                self.vocab(
                    || format!("{path}.recipients[{k}].type"),
                    Kind::RecipientType,
                    kind,
                );
            }
        }
        for (k, processor) in a.processors().iter().enumerate() {
            self.not_blank(|| format!("{path}.processors[{k}].name"), &processor.name);
            if let Some(country) = &processor.country {
                self.country(|| format!("{path}.processors[{k}].country"), country);
            }
        }
        for (k, transfer) in a.transfers().iter().enumerate() {
            self.country(
                || format!("{path}.transfers[{k}].country"),
                &transfer.country,
            );
            if let Some(safeguard) = &transfer.safeguard {
                self.vocab(
                    || format!("{path}.transfers[{k}].safeguard"),
                    Kind::TransferSafeguard,
                    safeguard,
                );
            }
        }
        if let Some(retention) = &a.retention {
            let path = format!("{path}.retention");
            self.period(|| format!("{path}.active"), retention.active.as_ref());
            self.period(
                || format!("{path}.intermediate"),
                retention.intermediate.as_ref(),
            );
            if let Some(fate) = &retention.final_fate {
                self.vocab(|| format!("{path}.final"), Kind::RetentionFinal, fate);
            }
            for (category, per) in retention.per_category.iter().flatten() {
                let path = format!("{path}.per_category.{category}");
                self.vocab(|| path.clone(), Kind::DataCategory, category);
                self.period(|| format!("{path}.active"), per.active.as_ref());
                self.period(|| format!("{path}.intermediate"), per.intermediate.as_ref());
                if let Some(fate) = &per.final_fate {
                    self.vocab(|| format!("{path}.final"), Kind::RetentionFinal, fate);
                }
            }
        }
        self.vocab_list(
            &format!("{path}.security_measures"),
            Kind::SecurityMeasure,
            a.security_measures(),
        );
        if let Some(date) = a.dpia.as_ref().and_then(|d| d.date.as_ref())
            && (date.parse::<jiff::civil::Date>().is_err() || date.len() != 10)
        {
            self.error(
                format!("{path}.dpia.date"),
                format!("date `{date}` invalide : attendu AAAA-MM-JJ, par exemple 2024-03-01"),
            );
        }
        self.vocab_list(
            &format!("{path}.dpia_criteria"),
            Kind::DpiaCriterion,
            a.dpia_criteria(),
        );
        if let Some(consent) = &a.consent {
            self.vocab_list(
                &format!("{path}.consent.withdrawal"),
                Kind::WithdrawalChannel,
                consent.withdrawal(),
            );
            self.period(
                || format!("{path}.consent.renewal"),
                consent.renewal.as_ref(),
            );
        }
    }

    fn sources(
        &mut self,
        path: &str,
        org: &Organisation,
        activity: &Activity,
        known: &HashMap<&str, HashSet<&str>>,
    ) {
        for (k, source) in activity.sources().iter().enumerate() {
            let path = format!("{path}.sources[{k}]");
            let Source::Activity(src) = source else {
                continue;
            };
            let source_org = src.organisation.as_deref().unwrap_or(&org.id);
            match known.get(source_org) {
                None => self.error(
                    format!("{path}.organisation"),
                    format!("l'organisme source `{source_org}` n'existe pas dans le registre"),
                ),
                Some(ids) if !ids.contains(src.activity.as_str()) => self.error(
                    format!("{path}.activity"),
                    format!(
                        "l'activité source `{}` n'existe pas dans l'organisme `{source_org}`",
                        src.activity
                    ),
                ),
                Some(_) if source_org == org.id && src.activity == activity.id => self.error(
                    format!("{path}.activity"),
                    "une activité ne peut pas être sa propre source".to_owned(),
                ),
                Some(_) => {}
            }
            if let Some(categories) = &src.categories {
                self.vocab_list(
                    &format!("{path}.categories"),
                    Kind::DataCategory,
                    categories,
                );
            }
            self.vocab_list(
                &format!("{path}.safeguards"),
                Kind::ReuseSafeguard,
                src.safeguards(),
            );
        }
    }

    fn vocab(&mut self, path: impl FnOnce() -> String, kind: Kind, id: &str) {
        if self.vocabulary.contains(kind, id) {
            return;
        }
        let hint = match self.vocabulary.suggest(kind, id) {
            Some(close) => format!(" ; vouliez-vous dire `{close}` ?"),
            None => " ; la commande `registre vocabulary` liste les identifiants admis".to_owned(),
        };
        self.error(
            path(),
            format!(
                "{} `{id}` {} du vocabulaire{hint}",
                kind.noun(),
                kind.unknown()
            ),
        );
    }

    fn vocab_list(&mut self, path: &str, kind: Kind, ids: &[String]) {
        for (k, id) in ids.iter().enumerate() {
            self.vocab(|| format!("{path}[{k}]"), kind, id);
        }
    }

    fn slug(&mut self, path: impl FnOnce() -> String, id: &str) {
        let valid = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            self.error(
                path(),
                format!("identifiant `{id}` invalide : lettres minuscules sans accent, chiffres et tirets uniquement"),
            );
        }
    }

    fn not_blank(&mut self, path: impl FnOnce() -> String, text: &str) {
        if text.trim().is_empty() {
            self.error(path(), "ce champ ne peut pas être vide".to_owned());
        }
    }

    fn email(&mut self, path: impl FnOnce() -> String, email: Option<&str>) {
        if let Some(email) = email
            && !email.validate_email()
        {
            self.error(path(), format!("adresse électronique `{email}` invalide"));
        }
    }

    fn period(&mut self, path: impl FnOnce() -> String, period: Option<&Period>) {
        if let Some(period) = period
            && period.days().is_none()
        {
            self.error(
                    path(),
                    format!(
                        "durée `{period}` invalide : attendu une durée ISO 8601 (P1Y, P6M, P15D…) ou `permanent`"
                    ),
                );
        }
    }

    fn country(&mut self, path: impl FnOnce() -> String, code: &str) {
        if self.countries.get(code).is_none() {
            self.error(
                path(),
                format!("pays `{code}` inconnu : attendu un code ISO 3166-1 à deux lettres majuscules (FR, US…)"),
            );
        }
    }
}

/// A SIREN is 9 digits whose Luhn checksum is zero.
pub fn check_siren(siren: &str) -> Result<(), &'static str> {
    if siren.len() != 9 || !siren.bytes().all(|b| b.is_ascii_digit()) {
        return Err("attendu 9 chiffres");
    }
    let sum: u32 = siren
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    if sum.is_multiple_of(10) {
        Ok(())
    } else {
        Err("la clé de contrôle (formule de Luhn) ne correspond pas")
    }
}

#[cfg(test)]
mod tests {
    use super::check_siren;

    #[test]
    fn siren_luhn_key() {
        assert!(check_siren("216000125").is_ok());
        assert!(check_siren("266000454").is_ok());
        assert!(check_siren("732829320").is_ok());
        assert!(check_siren("216000126").is_err());
        assert!(check_siren("21600012").is_err());
        assert!(check_siren("2160001a5").is_err());
    }
}
