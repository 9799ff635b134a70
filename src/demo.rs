//! The demo commune and a deterministic generator of large synthetic registers for scale tests.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{
    Activity, ActivitySource, Dpo, LoadError, Organisation, Period, Processor, Register,
    Representative, Source, SourceFormat, Transfer, load_str,
};
use crate::vocabulary::{Countries, Vocabulary};

/// The demo register: a commune and its CCAS, with a few typical defects.
pub const DEMO_REGISTER: &str = include_str!("../examples/commune-demo.yaml");

/// The demo register, checked.
pub fn demo_register(
    vocabulary: &Vocabulary,
    countries: &Countries,
) -> Result<Register, LoadError> {
    load_str(DEMO_REGISTER, SourceFormat::Yaml, vocabulary, countries)
}

/// Shape of a synthetic register.
#[derive(Debug, Clone, Copy)]
pub struct SyntheticSpec {
    pub organisations: usize,
    pub activities: usize,
    pub seed: u64,
}

/// Defects the generator plants, each the way a real register gets it wrong.
const DEFECTS: [fn(&mut Activity); 12] = [
    |a| a.retention = None,
    |a| set_retention(a, "P10Y"),
    |a| {
        a.data_categories
            .get_or_insert_with(Vec::new)
            .push("sante.carnet-sante".into())
    },
    |a| {
        a.data_categories
            .get_or_insert_with(Vec::new)
            .push("nir".into())
    },
    |a| a.special_category_exception = None,
    |a| a.recipients = Some(Vec::new()),
    |a| a.legal_basis = Some("interet-legitime".into()),
    |a| a.legal_basis_text = None,
    |a| a.security_measures = Some(Vec::new()),
    |a| a.dpia = None,
    |a| {
        a.processors.get_or_insert_with(Vec::new).push(Processor {
            name: "Prestataire informatique".into(),
            contract: Some(false),
            country: Some("FR".into()),
        })
    },
    |a| {
        a.transfers.get_or_insert_with(Vec::new).push(Transfer {
            recipient: "Service de messagerie".into(),
            country: "US".into(),
            safeguard: Some("aucune".into()),
        })
    },
];

fn set_retention(a: &mut Activity, period: &str) {
    if let Some(retention) = a.retention.as_mut() {
        retention.active = Some(Period::new(period));
    }
}

/// A SIREN with a valid Luhn key, from an 8-digit body.
fn siren(body: u32) -> String {
    let body = format!("{:08}", body % 100_000_000);
    (0..10)
        .map(|key| format!("{body}{key}"))
        .find(|s| crate::model::check_siren(s).is_ok())
        .unwrap_or_default()
}

/// A synthetic register: organisations made of the demo's activities, about a quarter of
/// them reusing another activity's data, a third with a planted defect. The same spec always
/// gives the same register.
pub fn synthetic(
    spec: SyntheticSpec,
    vocabulary: &Vocabulary,
    countries: &Countries,
) -> Result<Register, LoadError> {
    let demo = demo_register(vocabulary, countries)?;
    let templates: Vec<Activity> = demo
        .organisations
        .iter()
        .flat_map(|o| o.activities().iter().cloned())
        .map(|mut a| {
            a.sources = Some(vec![Source::Person(crate::model::PersonSource::Person)]);
            a
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let kinds = [
        "commune", "commune", "commune", "commune", "commune", "ccas", "ccas", "epci", "syndicat",
    ];
    let mut organisations: Vec<Organisation> = Vec::with_capacity(spec.organisations);
    for o in 0..spec.organisations {
        let id = format!("org-{o:05}");
        let kind = kinds[rng.random_range(0..kinds.len())];
        let domain = if rng.random_bool(0.1) {
            "wanadoo.fr".to_owned()
        } else {
            format!("{id}.fr")
        };
        let dpo = (!rng.random_bool(0.05)).then(|| Dpo {
            name: "Service DPO mutualisé".into(),
            email: Some("dpo@opsn-exemple.fr".into()),
            phone: None,
            organisation: Some("OPSN Exemple".into()),
            cnil_designation: Some(format!("DPO-{:06}", 100_000 + o)),
        });
        let mut activities: Vec<Activity> = Vec::with_capacity(spec.activities);
        for n in 0..spec.activities {
            let mut a = templates[rng.random_range(0..templates.len())].clone();
            a.id = format!("{}-{n}", a.id);
            if n > 0 && rng.random_bool(0.25) {
                let reuse_other = o > 0 && rng.random_bool(0.05);
                let (source_org, pool) = if reuse_other {
                    let other = &organisations[rng.random_range(0..o)];
                    (Some(other.id.clone()), other.activities())
                } else {
                    (None, activities.as_slice())
                };
                if let Some(source) = pool.get(rng.random_range(0..pool.len().max(1))) {
                    let safeguards = if rng.random_bool(0.5) {
                        vec![
                            "information-art14".into(),
                            "opposition".into(),
                            "destruction-apres-usage".into(),
                        ]
                    } else {
                        Vec::new()
                    };
                    let activity_source = ActivitySource {
                        activity: source.id.clone(),
                        organisation: source_org,
                        categories: Some(
                            source.data_categories().iter().take(2).cloned().collect(),
                        ),
                        compatibility_assessment: rng.random_bool(0.3).then(|| {
                            "Analyse de compatibilité documentée par le DPO (art. 6.4).".into()
                        }),
                        safeguards: Some(safeguards),
                    };
                    a.sources
                        .get_or_insert_with(Vec::new)
                        .push(Source::Activity(activity_source));
                }
            }
            if rng.random_bool(0.3) {
                DEFECTS[rng.random_range(0..DEFECTS.len())](&mut a);
            }
            activities.push(a);
        }
        organisations.push(Organisation {
            name: format!("Organisme synthétique {o}"),
            kind: kind.into(),
            siren: Some(siren(21_600_000 + o as u32)),
            address: Some(format!(
                "{} place de la Mairie, 60000 Ville-{o}",
                1 + o % 20
            )),
            email: Some(format!("contact@{domain}")),
            phone: None,
            representative: Some(Representative {
                name: "Claire Dupont".into(),
                role: Some("Maire".into()),
            }),
            dpo,
            activities: Some(activities),
            id,
        });
    }
    Ok(Register {
        format: crate::model::FORMAT.into(),
        organisations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sirens_are_valid() {
        for body in [0, 21_600_012, 99_999_999] {
            assert!(crate::model::check_siren(&siren(body)).is_ok());
        }
    }
}
