//! Every rule of the built-in pack, tested twice: a case where it fires, and a look-alike
//! (the smallest change that makes the situation lawful) where it must not.
//!
//! Each case edits `tests/rules/base.yaml`, a clean register (no finding at all), with JSON
//! merge patches (RFC 7396: `null` removes a field) on an organisation or an activity, or by
//! adding activities.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::collections::BTreeSet;

use serde_json::{Value, json};

const BASE: &str = include_str!("rules/base.yaml");

/// A change to the base register.
enum Edit {
    /// Merge patch on `org` or `org/activity`.
    Patch(&'static str, Value),
    /// A new activity appended to `org`.
    Add(&'static str, Value),
}

fn patch(target: &'static str, value: Value) -> Edit {
    Edit::Patch(target, value)
}

fn add(org: &'static str, activity: Value) -> Edit {
    Edit::Add(org, activity)
}

struct Case {
    rule: &'static str,
    /// Where the finding is expected: `org` or `org/activity`.
    at: &'static str,
    fires: Vec<Edit>,
    lookalike: Vec<Edit>,
}

fn case(rule: &'static str, at: &'static str, fires: Vec<Edit>, lookalike: Vec<Edit>) -> Case {
    Case {
        rule,
        at,
        fires,
        lookalike,
    }
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn organisation<'a>(register: &'a mut Value, id: &str) -> &'a mut Value {
    register["organisations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|o| o["id"] == id)
        .unwrap_or_else(|| panic!("no organisation `{id}` in base.yaml"))
}

fn apply(edits: &[Edit]) -> String {
    let mut register = registre::yaml::parse(BASE).unwrap();
    for edit in edits {
        match edit {
            Edit::Patch(target, value) => {
                let (org, activity) = match target.split_once('/') {
                    Some((o, a)) => (o, Some(a)),
                    None => (*target, None),
                };
                let org = organisation(&mut register, org);
                let node = match activity {
                    None => org,
                    Some(id) => org["activities"]
                        .as_array_mut()
                        .unwrap()
                        .iter_mut()
                        .find(|a| a["id"] == id)
                        .unwrap_or_else(|| panic!("no activity `{target}` in base.yaml")),
                };
                merge(node, value);
            }
            Edit::Add(org, activity) => {
                organisation(&mut register, org)["activities"]
                    .as_array_mut()
                    .unwrap()
                    .push(activity.clone());
            }
        }
    }
    registre::yaml::to_string(&register)
}

/// The rules (with their kind) that fired at `at`.
fn fired_at(edits: &[Edit], at: &str) -> Vec<(String, String)> {
    let text = apply(edits);
    let (org, activity) = match at.split_once('/') {
        Some((o, a)) => (o, Some(a)),
        None => (at, None),
    };
    // A look-alike that removes the place itself would prove nothing.
    let register = common::load(&text);
    let place = register.organisations.iter().find(|o| o.id == org);
    let exists =
        place.is_some_and(|o| activity.is_none_or(|a| o.activities().iter().any(|x| x.id == a)));
    assert!(exists, "`{at}` does not exist after the edits");
    let report = registre::audit::audit(&register, common::pack()).unwrap();
    report
        .findings
        .iter()
        .filter(|f| f.organisation == org && f.activity.as_deref() == activity)
        .map(|f| (f.rule.clone(), f.kind.clone()))
        .collect()
}

/// A permit rule "fires" when the reuse it covers gets no purpose finding.
fn holds(case: &Case, edits: &[Edit]) -> bool {
    let fired = fired_at(edits, case.at);
    let rule = common::pack().rule(case.rule).unwrap();
    if rule.forbids {
        fired.iter().any(|(r, _)| r == case.rule)
    } else {
        !fired.iter().any(|(_, kind)| kind.starts_with("purpose."))
    }
}

#[test]
fn base_register_is_clean() {
    let report = common::audit_text(BASE);
    let findings: Vec<_> = report
        .findings
        .iter()
        .map(|f| format!("{}/{:?}: {}", f.organisation, f.activity, f.rule))
        .collect();
    assert!(
        findings.is_empty(),
        "base.yaml must give no finding: {findings:#?}"
    );
}

#[test]
fn each_rule_fires_and_its_lookalike_does_not() {
    let mut failures = Vec::new();
    for case in cases() {
        if !holds(&case, &case.fires) {
            failures.push(format!(
                "{}: did not fire at {} (fired: {:?})",
                case.rule,
                case.at,
                fired_at(&case.fires, case.at)
            ));
        }
        if holds(&case, &case.lookalike) {
            failures.push(format!(
                "{}: fired on its look-alike at {} ({:?})",
                case.rule,
                case.at,
                fired_at(&case.lookalike, case.at)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_of_the_pack_has_a_case() {
    let tested: BTreeSet<&str> = cases().iter().map(|c| c.rule).collect();
    let missing: Vec<&str> = common::pack()
        .rules()
        .map(|r| r.id.as_str())
        .filter(|id| !tested.contains(id))
        .collect();
    assert!(missing.is_empty(), "rules without a test case: {missing:?}");
}
/// `base` with the merge patch `changes` applied.
fn with(base: &Value, changes: Value) -> Value {
    let mut out = base.clone();
    merge(&mut out, &changes);
    out
}

/// A new activity in the style of the base, complete and lawful on its own: `fields` (id,
/// name, purposes, subjects, sources …) are merged over a public-task skeleton.
fn activity(fields: Value) -> Value {
    with(
        &json!({
            "legal_basis": "mission-interet-public",
            "legal_basis_text": "Code général des collectivités territoriales, art. L.2121-29",
            "data_subjects": ["administres"],
            "data_categories": ["identite", "coordonnees"],
            "sources": ["person"],
            "recipients": [{"name": "Service instructeur", "type": "interne"}],
            "processors": [],
            "transfers": [],
            "retention": {"active": "P1Y", "final": "destruction"},
            "security_measures": ["controle-acces", "journalisation", "sauvegarde"],
            "dpia": {"status": "not-required"},
            "dpia_criteria": [],
            "automated_decision": false,
            "public": true
        }),
        fields,
    )
}

/// Valid consent settings (granular, not pre-ticked, not bundled, withdrawable, proven).
fn consent() -> Value {
    json!({
        "granular": true,
        "pre_ticked": false,
        "bundled": false,
        "withdrawal": ["en-ligne", "guichet"],
        "records_kept": true
    })
}

/// The payroll of the CCAS agents, run by the commune's HR service on the CCAS's behalf.
fn paie_ccas() -> Value {
    activity(json!({
        "id": "paie-ccas",
        "name": "Paie des agents du CCAS (service commun)",
        "role": "processor",
        "on_behalf_of": {"name": "CCAS de Ville-Exemple", "email": "ccas@ville-exemple.fr"},
        "purposes": ["ressources-humaines.paie"],
        "legal_basis": null,
        "legal_basis_text": null,
        "data_subjects": ["agents"],
        "data_categories": ["identite", "vie-professionnelle", "economique-financier", "nir"],
        "recipients": [{"name": "Service des ressources humaines de la ville", "type": "interne"}],
        "retention": {"active": "P5Y", "final": "tri"},
        "security_measures": ["controle-acces", "journalisation", "sauvegarde", "chiffrement"]
    }))
}

fn cases() -> Vec<Case> {
    // New activities shared by several cases.
    let recommandations = activity(json!({
        "id": "recommandations",
        "name": "Recommandations de lecture personnalisées",
        "purposes": ["culture.recommandations"],
        "data_subjects": ["emprunteurs"],
        "legal_basis_text": "Code du patrimoine, art. L.310-1",
        "sources": [{"activity": "mediatheque", "categories": ["identite", "coordonnees"]}]
    }));
    let recommandations_consent =
        json!({"legal_basis": "consentement", "legal_basis_text": null, "consent": consent()});
    let geolocalisation = activity(json!({
        "id": "geolocalisation-vehicules",
        "name": "Géolocalisation des véhicules de service",
        "purposes": ["ressources-humaines.temps-travail"],
        "legal_basis_text": "Code général de la fonction publique, art. L.611-1 ; délibération du conseil municipal",
        "data_subjects": ["agents"],
        "data_categories": ["identite", "localisation"],
        "retention": {"active": "P2M", "final": "destruction"},
        "dpia_criteria": ["surveillance-systematique"]
    }));
    let stationnement = activity(json!({
        "id": "stationnement",
        "name": "Stationnement payant et forfaits post-stationnement",
        "purposes": ["finances.facturation"],
        "legal_basis_text": "Code général des collectivités territoriales, art. L.2333-87",
        "data_subjects": ["usagers"],
        "data_categories": ["identite", "localisation", "economique-financier"],
        "dpia_criteria": ["grande-echelle"]
    }));
    let electoral_extract = |id: &str, name: &str, purpose: &str, safeguards: Value| {
        activity(json!({
            "id": id,
            "name": name,
            "purposes": [purpose],
            "data_subjects": ["electeurs"],
            "retention": {"active": "P1M", "final": "destruction", "start": "envoi du courrier"},
            "sources": [{
                "activity": "liste-electorale",
                "categories": ["identite", "coordonnees"],
                "safeguards": safeguards
            }]
        }))
    };
    let all_three = json!(["information-art14", "opposition", "destruction-apres-usage"]);
    let contact_canicule = |purpose: &str| {
        activity(json!({
            "id": "contact-canicule",
            "name": "Appels aux personnes inscrites au registre canicule",
            "purposes": [purpose],
            "legal_basis": "obligation-legale",
            "legal_basis_text": "Code de l'action sociale et des familles, art. L.121-6-1",
            "data_subjects": ["personnes-agees", "personnes-handicapees"],
            "sources": [{"activity": "registre-vulnerables", "categories": ["identite", "coordonnees"]}]
        }))
    };
    let extraction_images = |purpose: &str, retention: &str| {
        activity(json!({
            "id": "extraction-images",
            "name": "Extraction d'images de vidéoprotection",
            "purposes": [purpose],
            "legal_basis_text": "Code de la sécurité intérieure, art. L.251-2",
            "data_subjects": ["passants"],
            "data_categories": ["images"],
            "retention": {"active": retention, "final": "destruction"},
            "sources": [{"activity": "videoprotection", "categories": ["images"]}]
        }))
    };
    let envoi_abonnes = |purpose: &str| {
        activity(json!({
            "id": "envoi-abonnes",
            "name": "Envois aux abonnés de la lettre d'information",
            "purposes": [purpose],
            "legal_basis": "consentement",
            "legal_basis_text": null,
            "consent": consent(),
            "data_subjects": ["abonnes"],
            "sources": [{"activity": "lettre-information", "categories": ["identite", "coordonnees"]}]
        }))
    };
    let felicitations = activity(json!({
        "id": "felicitations",
        "name": "Courriers de félicitations aux parents et aux mariés",
        "purposes": ["communication.felicitations"],
        "sources": [{"activity": "etat-civil", "categories": ["identite", "coordonnees"]}]
    }));
    let felicitations_consent =
        json!({"legal_basis": "consentement", "legal_basis_text": null, "consent": consent()});
    let reuse_of = |id: &str, name: &str, purpose: &str, source: &str| {
        activity(json!({
            "id": id,
            "name": name,
            "purposes": [purpose],
            "sources": [{"activity": source, "categories": ["identite", "coordonnees"]}]
        }))
    };
    let information_familles = |categories: Value| {
        activity(json!({
            "id": "information-familles",
            "name": "Information des familles inscrites à l'accueil de loisirs",
            "purposes": ["communication.information-municipale"],
            "data_subjects": ["parents"],
            "sources": [{
                "activity": "periscolaire",
                "categories": categories,
                "compatibility_assessment": "Familles déjà usagères du service, informées des activités de l'accueil ; seules les coordonnées sont utilisées ; opposition à tout moment.",
                "safeguards": ["information-art14", "opposition"]
            }]
        }))
    };
    let programme_culturel = |assessment: Value, retention: &str| {
        activity(json!({
            "id": "programme-culturel",
            "name": "Envoi du programme culturel de la médiathèque aux usagers",
            "purposes": ["communication.information-municipale"],
            "data_subjects": ["emprunteurs"],
            "retention": {"active": retention, "final": "destruction"},
            "sources": [{
                "activity": "mediatheque",
                "categories": ["identite", "coordonnees"],
                "compatibility_assessment": assessment,
                "safeguards": ["information-art14", "opposition"]
            }]
        }))
    };
    let plan_sauvegarde = |assessment: Value| {
        activity(json!({
            "id": "plan-sauvegarde",
            "name": "Plan communal de sauvegarde : personnes à évacuer en priorité",
            "purposes": ["protection-populations.plan-sauvegarde"],
            "legal_basis_text": "Code de la sécurité intérieure, art. L.731-3",
            "special_category_exception": "interet-public-important",
            "data_subjects": ["enfants"],
            "data_categories": ["identite", "coordonnees", "sante.vaccination"],
            "dpia": {"status": "done", "date": "2025-02-01"},
            "sources": [{
                "activity": "periscolaire",
                "categories": ["identite", "coordonnees", "sante.vaccination"],
                "compatibility_assessment": assessment,
                "safeguards": ["information-art14"]
            }]
        }))
    };
    let colis_noel = |assessment: Value| {
        activity(json!({
            "id": "colis-noel",
            "name": "Colis de Noël offerts par la commune aux habitants de plus de 75 ans",
            "purposes": ["action-sociale.colis-aines"],
            "data_subjects": ["personnes-agees"],
            "sources": [{
                "activity": "etat-civil",
                "categories": ["identite", "coordonnees"],
                "compatibility_assessment": assessment,
                "safeguards": ["information-art14", "opposition"]
            }]
        }))
    };
    let etat_civil_to_ccas = |safeguards: Value| {
        json!({"sources": ["person", {
            "activity": "etat-civil",
            "organisation": "ville",
            "categories": ["identite", "coordonnees"],
            "compatibility_assessment": "Les aînés nés dans la commune sont seulement informés de la possibilité de s'inscrire ; le colis reste ouvert à tous sur demande.",
            "safeguards": safeguards
        }]})
    };
    let etudes_surveillees = |source: &str| {
        activity(json!({
            "id": "etudes-surveillees",
            "name": "Études surveillées après la classe",
            "purposes": ["education.periscolaire"],
            "legal_basis_text": "Code de l'éducation, art. L.551-1",
            "data_subjects": ["eleves", "parents"],
            "sources": [{"activity": source, "categories": ["identite", "coordonnees"]}]
        }))
    };
    let campagne = activity(json!({
        "id": "campagne",
        "name": "Envoi de la profession de foi aux électeurs",
        "purposes": ["communication-politique"],
        "legal_basis": "interet-legitime",
        "legal_basis_text": null,
        "data_subjects": ["electeurs"],
        "retention": {"active": "P3M", "final": "destruction"},
        "sources": [{"activity": "liste-electorale", "organisation": "ville",
                     "categories": ["identite", "coordonnees"], "safeguards": ["information-art14"]}]
    }));
    let signalements = |categories: Value, organisation: &str, source: &str| {
        activity(json!({
            "id": "signalements-sante",
            "name": "Transmission au préfet des personnes à contacter en cas d'alerte",
            "purposes": ["protection-populations.plan-sauvegarde"],
            "legal_basis": "obligation-legale",
            "legal_basis_text": "Code de la sécurité intérieure, art. L.731-3",
            "special_category_exception": "interet-public-important",
            "data_categories": categories.clone(),
            "dpia": {"status": "done", "date": "2025-02-01"},
            "sources": [{"activity": source, "organisation": organisation, "categories": categories}]
        }))
    };
    let repas_factures = |purposes: Value| {
        activity(json!({
            "id": "repas-factures",
            "name": "Pointage et facturation des repas",
            "purposes": purposes,
            "data_subjects": ["enfants", "parents"],
            "sources": [{"activity": "cantine", "categories": ["identite", "coordonnees"]}]
        }))
    };
    let assessment = json!(
        "Analyse art. 6.4 documentée : lien avec la finalité d'origine, usagers informés, coordonnées seules, opposition simple."
    );

    vec![
        // ── organisation.cedar ──────────────────────────────────────────────────────────────
        case(
            "dpo-missing",
            "ville",
            vec![patch("ville", json!({"dpo": null}))],
            vec![patch("ville", json!({"dpo": null, "kind": "association"}))],
        ),
        case(
            "controller-contact-missing",
            "ville",
            vec![patch("ville", json!({"address": null, "email": null}))],
            vec![patch("ville", json!({"email": null}))],
        ),
        case(
            "dpo-contact-missing",
            "ville",
            vec![patch("ville", json!({"dpo": {"email": null}}))],
            vec![patch(
                "ville",
                json!({"dpo": {"email": null, "phone": "+33 3 44 00 00 99"}}),
            )],
        ),
        case(
            "non-institutional-email",
            "ville",
            vec![patch(
                "ville",
                json!({"dpo": {"email": "dpo-ville-exemple@laposte.net"}}),
            )],
            vec![patch("ville", json!({"dpo": {"email": "dpo@cdg60.fr"}}))],
        ),
        // ── register.cedar ──────────────────────────────────────────────────────────────────
        case(
            "purposes-missing",
            "ville/urbanisme",
            vec![patch("ville/urbanisme", json!({"purposes": null}))],
            vec![patch("ville/urbanisme", json!({"purposes": ["urbanisme"]}))],
        ),
        case(
            "data-subjects-missing",
            "ville/cimetiere",
            vec![patch("ville/cimetiere", json!({"data_subjects": null}))],
            vec![patch(
                "ville/cimetiere",
                json!({"data_subjects": ["concessionnaires"]}),
            )],
        ),
        case(
            "data-categories-missing",
            "ville/fiscalite",
            vec![patch("ville/fiscalite", json!({"data_categories": []}))],
            vec![patch(
                "ville/fiscalite",
                json!({"data_categories": ["economique-financier"]}),
            )],
        ),
        case(
            "recipients-missing",
            "ville/rh",
            vec![patch("ville/rh", json!({"recipients": []}))],
            vec![patch(
                "ville/rh",
                json!({"recipients": [{"name": "Service des ressources humaines", "type": "interne"}]}),
            )],
        ),
        case(
            "processor-controller-missing",
            "ville/paie-ccas",
            vec![add(
                "ville",
                with(&paie_ccas(), json!({"on_behalf_of": null})),
            )],
            vec![add("ville", paie_ccas())],
        ),
        case(
            "retention-missing",
            "ville/urbanisme",
            vec![patch(
                "ville/urbanisme",
                json!({"retention": {"active": null}}),
            )],
            vec![patch(
                "ville/urbanisme",
                json!({"retention": {"active": null, "per_category": {
                    "identite": {"active": "P10Y"}, "coordonnees": {"active": "P10Y"}
                }}}),
            )],
        ),
        case(
            "security-measures-missing",
            "ville/mediatheque",
            vec![patch("ville/mediatheque", json!({"security_measures": []}))],
            vec![patch(
                "ville/mediatheque",
                json!({"security_measures": ["controle-acces"]}),
            )],
        ),
        case(
            "security-measures-missing-sensitive",
            "ville/paie",
            vec![patch("ville/paie", json!({"security_measures": []}))],
            vec![patch(
                "ville/paie",
                json!({"security_measures": ["controle-acces", "chiffrement"]}),
            )],
        ),
        // ── legal-basis.cedar ───────────────────────────────────────────────────────────────
        case(
            // The register forgets to say the commune only runs the CCAS payroll as processor.
            "legal-basis-missing",
            "ville/paie-ccas",
            vec![add("ville", with(&paie_ccas(), json!({"role": null})))],
            vec![add("ville", paie_ccas())],
        ),
        case(
            "legal-basis-text-missing",
            "ville/cimetiere",
            vec![patch("ville/cimetiere", json!({"legal_basis_text": null}))],
            // A concession is a contract: no text to cite.
            vec![patch(
                "ville/cimetiere",
                json!({"legal_basis": "contrat", "legal_basis_text": null}),
            )],
        ),
        case(
            "legitimate-interest-public-body",
            "ville/lettre-information",
            vec![patch(
                "ville/lettre-information",
                json!({"legal_basis": "interet-legitime"}),
            )],
            vec![
                patch("ville", json!({"kind": "association"})),
                patch(
                    "ville/lettre-information",
                    json!({"legal_basis": "interet-legitime"}),
                ),
            ],
        ),
        case(
            "consent-for-imposed-service",
            "ville/mediatheque",
            vec![patch(
                "ville/mediatheque",
                json!({"legal_basis": "consentement", "legal_basis_text": null, "consent": consent()}),
            )],
            // Personalised recommendations are optional: consent is the right basis there.
            vec![patch(
                "ville/mediatheque",
                json!({"purposes": ["culture.recommandations"], "legal_basis": "consentement",
                       "legal_basis_text": null, "consent": consent()}),
            )],
        ),
        case(
            "reading-profile-without-consent",
            "ville/recommandations",
            vec![add(
                "ville",
                with(&recommandations, json!({"sources": ["person"]})),
            )],
            vec![add(
                "ville",
                with(
                    &with(&recommandations, json!({"sources": ["person"]})),
                    recommandations_consent.clone(),
                ),
            )],
        ),
        // ── consent.cedar ───────────────────────────────────────────────────────────────────
        case(
            "consent-settings-missing",
            "ville/lettre-information",
            vec![patch("ville/lettre-information", json!({"consent": null}))],
            vec![patch(
                "ville/lettre-information",
                json!({"consent": {"withdrawal": ["email"], "renewal": null}}),
            )],
        ),
        case(
            "consent-not-granular",
            "ville/photos",
            vec![patch(
                "ville/photos",
                json!({"consent": {"granular": false}}),
            )],
            vec![patch(
                "ville/photos",
                json!({"consent": {"granular": true, "renewal": null}}),
            )],
        ),
        case(
            "consent-pre-ticked",
            "ville/lettre-information",
            vec![patch(
                "ville/lettre-information",
                json!({"consent": {"pre_ticked": true}}),
            )],
            vec![patch(
                "ville/lettre-information",
                json!({"consent": {"pre_ticked": false}}),
            )],
        ),
        case(
            "consent-bundled",
            "ville/photos",
            vec![patch("ville/photos", json!({"consent": {"bundled": true}}))],
            vec![patch(
                "ville/photos",
                json!({"consent": {"bundled": false}}),
            )],
        ),
        case(
            "consent-no-withdrawal",
            "ville/lettre-information",
            vec![patch(
                "ville/lettre-information",
                json!({"consent": {"withdrawal": []}}),
            )],
            vec![patch(
                "ville/lettre-information",
                json!({"consent": {"withdrawal": ["email"]}}),
            )],
        ),
        case(
            "consent-no-records",
            "ville/lettre-information",
            vec![patch(
                "ville/lettre-information",
                json!({"consent": {"records_kept": null}}),
            )],
            vec![patch(
                "ville/lettre-information",
                json!({"consent": {"records_kept": true}}),
            )],
        ),
        case(
            "consent-minor-without-parents",
            "ville/photos",
            vec![patch(
                "ville/photos",
                json!({"consent": {"parental_consent": "none"}}),
            )],
            // Photos of adults at a municipal event: no parental consent to ask.
            vec![patch(
                "ville/photos",
                json!({"data_subjects": ["administres"], "consent": {"parental_consent": "none"}}),
            )],
        ),
        case(
            "consent-child-images-one-holder",
            "ville/photos",
            vec![patch(
                "ville/photos",
                json!({"consent": {"parental_consent": "one-holder"}}),
            )],
            // Shown only inside the leisure centre, not published: one holder is enough.
            vec![patch(
                "ville/photos",
                json!({"consent": {"parental_consent": "one-holder"}, "recipients": [
                    {"name": "Équipe d'animation (affichage dans les locaux de l'accueil)", "type": "interne"}
                ]}),
            )],
        ),
        // ── dpia.cedar ──────────────────────────────────────────────────────────────────────
        case(
            "dpia-cnil-list-social-support",
            "ccas/accompagnement",
            vec![patch(
                "ccas/accompagnement",
                json!({"dpia": {"status": "none", "date": null, "reference": null}}),
            )],
            vec![patch(
                "ccas/accompagnement",
                json!({"dpia": {"status": "in-progress", "date": null, "reference": null}}),
            )],
        ),
        case(
            "dpia-cnil-list-biometrics-vulnerable",
            "ville/cantine",
            vec![patch(
                "ville/cantine",
                json!({"data_categories": ["identite", "coordonnees", "economique-financier", "biometrie"],
                       "special_category_exception": "consentement-explicite",
                       "consent": with(&consent(), json!({"parental_consent": "both-holders"}))}),
            )],
            vec![patch(
                "ville/cantine",
                json!({"data_categories": ["identite", "coordonnees", "economique-financier", "biometrie"],
                       "special_category_exception": "consentement-explicite",
                       "consent": with(&consent(), json!({"parental_consent": "both-holders"})),
                       "dpia": {"status": "done", "date": "2025-06-15"}}),
            )],
        ),
        case(
            "dpia-cnil-list-employee-monitoring",
            "ville/geolocalisation-vehicules",
            vec![add("ville", geolocalisation.clone())],
            vec![add(
                "ville",
                with(&geolocalisation, json!({"dpia": {"status": "in-progress"}})),
            )],
        ),
        case(
            "dpia-cnil-list-hr-profiling",
            "ville/rh",
            vec![patch(
                "ville/rh",
                json!({"dpia_criteria": ["evaluation-notation"]}),
            )],
            vec![patch(
                "ville/rh",
                json!({"dpia_criteria": ["evaluation-notation"], "dpia": {"status": "done", "date": "2025-03-01"}}),
            )],
        ),
        case(
            "dpia-cnil-list-large-scale-location",
            "ville/stationnement",
            vec![add("ville", stationnement.clone())],
            // Residents' parking permits: large scale, but no location data.
            vec![add(
                "ville",
                with(
                    &stationnement,
                    json!({"data_categories": ["identite", "coordonnees", "economique-financier"]}),
                ),
            )],
        ),
        case(
            // Matching with the CAF file to find unenrolled children: a second criterion.
            "dpia-two-criteria",
            "ville/inscription-scolaire",
            vec![patch(
                "ville/inscription-scolaire",
                json!({"dpia_criteria": ["croisement"]}),
            )],
            // Declaring the criterion the pupils already imply does not count twice.
            vec![patch(
                "ville/inscription-scolaire",
                json!({"dpia_criteria": ["personnes-vulnerables"]}),
            )],
        ),
        // ── retention.cedar ─────────────────────────────────────────────────────────────────
        case(
            "videoprotection-retention",
            "ville/videoprotection",
            vec![patch(
                "ville/videoprotection",
                json!({"retention": {"active": "P31D"}}),
            )],
            vec![patch(
                "ville/videoprotection",
                json!({"retention": {"active": "P30D"}}),
            )],
        ),
        case(
            "permanent-retention",
            "ville/urbanisme",
            vec![patch(
                "ville/urbanisme",
                json!({"retention": {"active": "permanent"}}),
            )],
            vec![patch(
                "ville/urbanisme",
                json!({"retention": {"active": "P10Y", "intermediate": "P20Y"}}),
            )],
        ),
        case(
            "library-retention",
            "ville/mediatheque",
            vec![patch(
                "ville/mediatheque",
                json!({"retention": {"active": "P13M"}}),
            )],
            vec![patch(
                "ville/mediatheque",
                json!({"retention": {"active": "P365D"}}),
            )],
        ),
        case(
            "social-action-retention",
            "ccas/accompagnement",
            vec![patch(
                "ccas/accompagnement",
                json!({"retention": {"active": "P3Y"}}),
            )],
            // Intermediate archiving (appeals, controls) is not the active base.
            vec![patch(
                "ccas/accompagnement",
                json!({"retention": {"active": "P2Y", "intermediate": "P3Y"}}),
            )],
        ),
        case(
            "leisure-centre-health-retention",
            "ville/periscolaire",
            vec![patch(
                "ville/periscolaire",
                json!({"retention": {"active": "P2Y"}}),
            )],
            // Without health data, the enrolment may be kept longer.
            vec![patch(
                "ville/periscolaire",
                json!({"retention": {"active": "P2Y"}, "data_categories": ["identite", "coordonnees"],
                       "special_category_exception": null}),
            )],
        ),
        case(
            "consent-list-retention",
            "ville/lettre-information",
            vec![patch(
                "ville/lettre-information",
                json!({"retention": {"active": "P37M"}}),
            )],
            vec![patch(
                "ville/lettre-information",
                json!({"retention": {"active": "P3Y"}}),
            )],
        ),
        // ── special-categories.cedar ────────────────────────────────────────────────────────
        case(
            "special-category-no-exception",
            "ville/periscolaire",
            vec![patch(
                "ville/periscolaire",
                json!({"special_category_exception": null}),
            )],
            vec![patch(
                "ville/periscolaire",
                json!({"special_category_exception": "sante-publique"}),
            )],
        ),
        case(
            // An association employer keeping conviction data on its staff.
            "criminal-data-private-body",
            "ville/rh",
            vec![
                patch("ville", json!({"kind": "association"})),
                patch(
                    "ville/rh",
                    json!({"data_categories": ["identite", "coordonnees", "vie-professionnelle", "infractions"]}),
                ),
            ],
            // A commune checking the criminal record of its agents (CGFP L.321-1).
            vec![patch(
                "ville/rh",
                json!({"data_categories": ["identite", "coordonnees", "vie-professionnelle", "infractions"]}),
            )],
        ),
        case(
            // The library records thefts on the borrower's file.
            "criminal-data-outside-attributions",
            "ville/mediatheque",
            vec![patch(
                "ville/mediatheque",
                json!({"data_categories": ["identite", "coordonnees", "infractions"]}),
            )],
            // It records the replacement fee of a lost document instead.
            vec![patch(
                "ville/mediatheque",
                json!({"data_categories": ["identite", "coordonnees", "economique-financier"]}),
            )],
        ),
        case(
            // The CCAS social file also bills the meals-on-wheels service.
            "nir-outside-decree",
            "ccas/accompagnement",
            vec![patch(
                "ccas/accompagnement",
                json!({"purposes": ["action-sociale.accompagnement", "finances.facturation"]}),
            )],
            // It also instructs optional aid: social action, where the NIR is allowed.
            vec![patch(
                "ccas/accompagnement",
                json!({"purposes": ["action-sociale.accompagnement", "action-sociale.aide-facultative"]}),
            )],
        ),
        case(
            "school-canteen-health-check",
            "ville/cantine",
            vec![patch(
                "ville/cantine",
                json!({"data_categories": ["identite", "coordonnees", "economique-financier", "sante.vaccination"],
                       "special_category_exception": "interet-public-important",
                       "dpia": {"status": "done", "date": "2025-06-15"}}),
            )],
            // One form for canteen and leisure centre: the ACM records the vaccination check.
            vec![patch(
                "ville/cantine",
                json!({"purposes": ["education.restauration-scolaire", "finances.facturation", "education.periscolaire"],
                       "data_categories": ["identite", "coordonnees", "economique-financier", "sante.vaccination"],
                       "special_category_exception": "interet-public-important",
                       "dpia": {"status": "done", "date": "2025-06-15"}}),
            )],
        ),
        case(
            "health-booklet-copies",
            "ville/cantine",
            vec![patch(
                "ville/cantine",
                json!({"data_categories": ["identite", "coordonnees", "economique-financier", "sante.carnet-sante"],
                       "special_category_exception": "interet-public-important",
                       "dpia": {"status": "done", "date": "2025-06-15"}}),
            )],
            // Allergies (PAI) needed to serve adapted meals.
            vec![patch(
                "ville/cantine",
                json!({"data_categories": ["identite", "coordonnees", "economique-financier", "sante.allergies"],
                       "special_category_exception": "interet-public-important",
                       "dpia": {"status": "done", "date": "2025-06-15"}}),
            )],
        ),
        case(
            // « Menu halal / casher » boxes.
            "school-form-religion",
            "ville/cantine",
            vec![patch(
                "ville/cantine",
                json!({"data_categories": ["identite", "coordonnees", "economique-financier", "convictions-religieuses"]}),
            )],
            // « Sans porc / végétarien »: an eating habit, no belief revealed.
            vec![patch(
                "ville/cantine",
                json!({"data_categories": ["identite", "coordonnees", "economique-financier", "vie-personnelle"]}),
            )],
        ),
        case(
            "school-form-disability",
            "ville/periscolaire",
            vec![patch(
                "ville/periscolaire",
                json!({"data_categories": ["identite", "coordonnees", "sante.vaccination", "sante.handicap"]}),
            )],
            vec![patch(
                "ville/periscolaire",
                json!({"data_categories": ["identite", "coordonnees", "sante.vaccination", "sante.allergies"]}),
            )],
        ),
        // ── transfers.cedar ─────────────────────────────────────────────────────────────────
        case(
            "processor-without-contract",
            "ville/lettre-information",
            vec![patch(
                "ville/lettre-information",
                json!({"processors": [{"name": "Prestataire d'envoi de courriels", "country": "FR"}]}),
            )],
            vec![patch(
                "ville/lettre-information",
                json!({"processors": [
                    {"name": "Prestataire d'envoi de courriels", "contract": true, "country": "FR"},
                    {"name": "Imprimeur du bulletin municipal", "contract": true, "country": "FR"}
                ]}),
            )],
        ),
        case(
            // India has no adequacy decision.
            "transfer-without-safeguard",
            "ville/lettre-information",
            vec![patch(
                "ville/lettre-information",
                json!({"transfers": [{"recipient": "Support technique de la plateforme d'envoi", "country": "IN", "safeguard": "adequation"}]}),
            )],
            vec![patch(
                "ville/lettre-information",
                json!({"transfers": [{"recipient": "Support technique de la plateforme d'envoi", "country": "IN", "safeguard": "clauses-contractuelles-types"}]}),
            )],
        ),
        // ── special-regimes.cedar ───────────────────────────────────────────────────────────
        case(
            "electoral-list-recipients",
            "ville/liste-electorale",
            vec![patch(
                "ville/liste-electorale",
                json!({"recipients": [
                    {"name": "Service élections", "type": "interne"},
                    {"name": "Préfecture", "type": "autorite-publique"},
                    {"name": "Association des commerçants", "type": "tiers"}
                ]}),
            )],
            vec![patch(
                "ville/liste-electorale",
                json!({"recipients": [
                    {"name": "Service élections", "type": "interne"},
                    {"name": "Préfecture", "type": "autorite-publique"},
                    {"name": "Candidats et partis, sur demande (L.37)", "type": "candidat-parti"}
                ]}),
            )],
        ),
        case(
            "electoral-list-other-organisation",
            "ccas/colis-aines",
            vec![patch(
                "ccas/colis-aines",
                json!({"sources": ["person", {"activity": "liste-electorale", "organisation": "ville",
                    "categories": ["identite", "coordonnees"], "safeguards": ["information-art14"]}]}),
            )],
            // The CCAS uses its own social file instead.
            vec![patch(
                "ccas/colis-aines",
                json!({"sources": ["person", {"activity": "accompagnement", "categories": ["identite", "coordonnees"]}]}),
            )],
        ),
        case(
            "electoral-list-commercial",
            "ville/offres-commercants",
            vec![add(
                "ville",
                with(
                    &envoi_abonnes("commercial"),
                    json!({"id": "offres-commercants", "name": "Offres des commerçants partenaires",
                           "data_subjects": ["electeurs"],
                           "sources": [{"activity": "liste-electorale", "categories": ["identite", "coordonnees"]}]}),
                ),
            )],
            // The same offers, sent to people who subscribed to them.
            vec![add(
                "ville",
                with(
                    &envoi_abonnes("commercial"),
                    json!({"id": "offres-commercants", "name": "Offres des commerçants partenaires", "sources": ["person"]}),
                ),
            )],
        ),
        case(
            "electoral-list-political",
            "ville/courrier-electeurs",
            vec![add(
                "ville",
                electoral_extract(
                    "courrier-electeurs",
                    "Courrier du maire aux électeurs",
                    "communication-politique",
                    all_three.clone(),
                ),
            )],
            vec![add(
                "ville",
                electoral_extract(
                    "courrier-electeurs",
                    "Courrier du maire aux électeurs",
                    "communication.information-municipale",
                    all_three.clone(),
                ),
            )],
        ),
        case(
            "electoral-list-selection-file",
            "ville/envoi-aines",
            vec![add(
                "ville",
                electoral_extract(
                    "envoi-aines",
                    "Envoi aux électeurs de plus de 70 ans",
                    "action-sociale.colis-aines",
                    json!([]),
                ),
            )],
            // The commune itself, for the elections (information on proxy voting).
            vec![add(
                "ville",
                electoral_extract(
                    "envoi-aines",
                    "Envoi aux électeurs de plus de 70 ans",
                    "elections.scrutin",
                    json!([]),
                ),
            )],
        ),
        case(
            "electoral-list-municipal-communication",
            "ville/invitation-repas-aines",
            vec![add(
                "ville",
                electoral_extract(
                    "invitation-repas-aines",
                    "Invitation au repas des aînés",
                    "communication.information-municipale",
                    json!(["information-art14", "destruction-apres-usage"]),
                ),
            )],
            // Destroying the extract after use is recommended, not a condition.
            vec![add(
                "ville",
                electoral_extract(
                    "invitation-repas-aines",
                    "Invitation au repas des aînés",
                    "communication.information-municipale",
                    json!(["information-art14", "opposition"]),
                ),
            )],
        ),
        case(
            "vulnerable-register-recipients",
            "ville/registre-vulnerables",
            vec![patch(
                "ville/registre-vulnerables",
                json!({"recipients": [
                    {"name": "Service protection des populations", "type": "interne"},
                    {"name": "Association de visiteurs bénévoles", "type": "tiers"}
                ]}),
            )],
            vec![patch(
                "ville/registre-vulnerables",
                json!({"recipients": [
                    {"name": "Service protection des populations", "type": "interne"},
                    {"name": "Service d'aide à domicile du CCAS, lors du déclenchement du plan", "type": "autorite-publique"}
                ]}),
            )],
        ),
        case(
            // Prevention advice sent outside any alert.
            "vulnerable-register-exclusive-purpose",
            "ville/contact-canicule",
            vec![add(
                "ville",
                contact_canicule("communication.information-municipale"),
            )],
            // Calls when the préfet triggers the plan: the register's own purpose.
            vec![add(
                "ville",
                contact_canicule("protection-populations.registre-vulnerables"),
            )],
        ),
        case(
            "vulnerable-register-prefilled",
            "ville/registre-vulnerables",
            vec![patch(
                "ville/registre-vulnerables",
                json!({"sources": ["person", {"activity": "colis-aines", "organisation": "ccas",
                    "categories": ["identite", "coordonnees"]}]}),
            )],
            // Registration asked by a third party on the person's behalf is allowed.
            vec![patch(
                "ville/registre-vulnerables",
                json!({"sources": ["person", {"external": "Proche, médecin traitant ou service d'aide à domicile, à la demande de la personne",
                    "legal_text": "Code de l'action sociale et des familles, art. L.121-6-1 et R.121-2 s."}]}),
            )],
        ),
        case(
            // The cameras also check the agents' arrival times.
            "videoprotection-staff-monitoring",
            "ville/videoprotection",
            vec![patch(
                "ville/videoprotection",
                json!({"purposes": ["securite.videoprotection", "ressources-humaines.temps-travail"]}),
            )],
            // Users filmed at the entrance of public buildings.
            vec![patch(
                "ville/videoprotection",
                json!({"data_subjects": ["passants", "usagers"]}),
            )],
        ),
        case(
            "videoprotection-reuse",
            "ville/extraction-images",
            vec![add(
                "ville",
                extraction_images("communication.publication-images", "P15D"),
            )],
            vec![add(
                "ville",
                extraction_images("securite.police-municipale", "P15D"),
            )],
        ),
        case(
            "newsletter-political-or-commercial",
            "ville/envoi-abonnes",
            vec![add("ville", envoi_abonnes("commercial"))],
            vec![add(
                "ville",
                envoi_abonnes("communication.information-municipale"),
            )],
        ),
        case(
            "newsletter-recipients",
            "ville/lettre-information",
            vec![patch(
                "ville/lettre-information",
                json!({"recipients": [
                    {"name": "Service communication", "type": "interne"},
                    {"name": "Liste candidate aux municipales", "type": "candidat-parti"}
                ]}),
            )],
            vec![patch(
                "ville/lettre-information",
                json!({"recipients": [
                    {"name": "Service communication", "type": "interne"},
                    {"name": "Prestataire d'envoi de courriels", "type": "sous-traitant"}
                ]}),
            )],
        ),
        case(
            "civil-status-congratulations",
            "ville/felicitations",
            vec![add("ville", felicitations.clone())],
            // Express agreement asked at the birth declaration or the wedding file.
            vec![add(
                "ville",
                with(&felicitations, felicitations_consent.clone()),
            )],
        ),
        case(
            "tax-files-reuse",
            "ville/exploitation-fichier-fiscal",
            vec![add(
                "ville",
                reuse_of(
                    "exploitation-fichier-fiscal",
                    "Courrier de bienvenue aux nouveaux contribuables",
                    "communication.information-municipale",
                    "fiscalite",
                ),
            )],
            vec![add(
                "ville",
                reuse_of(
                    "exploitation-fichier-fiscal",
                    "Étude statistique des bases fiscales",
                    "statistiques",
                    "fiscalite",
                ),
            )],
        ),
        case(
            "urbanism-commercial-reuse",
            "ville/exploitation-urbanisme",
            vec![add(
                "ville",
                reuse_of(
                    "exploitation-urbanisme",
                    "Fichier des porteurs de projets pour les artisans",
                    "commercial",
                    "urbanisme",
                ),
            )],
            vec![add(
                "ville",
                reuse_of(
                    "exploitation-urbanisme",
                    "Observatoire de la construction",
                    "statistiques",
                    "urbanisme",
                ),
            )],
        ),
        case(
            "urbanism-commercial-recipients",
            "ville/urbanisme",
            vec![patch(
                "ville/urbanisme",
                json!({"recipients": [
                    {"name": "Service urbanisme", "type": "interne"},
                    {"name": "Installateurs de panneaux solaires", "type": "tiers-commercial"}
                ]}),
            )],
            // Any person may obtain an urbanism decision (CRPA L.311-1).
            vec![patch(
                "ville/urbanisme",
                json!({"recipients": [
                    {"name": "Service urbanisme", "type": "interne"},
                    {"name": "Tiers demandant communication d'une décision", "type": "tiers"}
                ]}),
            )],
        ),
        case(
            "sensitive-data-communication",
            "ville/information-familles",
            vec![add(
                "ville",
                information_familles(json!(["identite", "coordonnees", "sante.vaccination"])),
            )],
            vec![add(
                "ville",
                information_familles(json!(["identite", "coordonnees"])),
            )],
        ),
        case(
            "library-reading-profile",
            "ville/recommandations",
            vec![add("ville", recommandations.clone())],
            vec![add(
                "ville",
                with(&recommandations, recommandations_consent.clone()),
            )],
        ),
        // ── reuse.cedar: what makes a reuse lawful ──────────────────────────────────────────
        case(
            // Supervised homework drawn from the school enrolment: both in `education`.
            "reuse-same-purpose-family",
            "ville/etudes-surveillees",
            vec![add("ville", etudes_surveillees("inscription-scolaire"))],
            // From the birth records instead: another family of purposes.
            vec![add("ville", etudes_surveillees("etat-civil"))],
        ),
        case(
            "reuse-archiving-statistics-research",
            "ville/prevision-effectifs",
            vec![add(
                "ville",
                reuse_of(
                    "prevision-effectifs",
                    "Prévision des effectifs scolaires",
                    "statistiques",
                    "inscription-scolaire",
                ),
            )],
            vec![add(
                "ville",
                reuse_of(
                    "prevision-effectifs",
                    "Prévision des effectifs scolaires",
                    "communication.information-municipale",
                    "inscription-scolaire",
                ),
            )],
        ),
        case(
            "reuse-consent",
            "ville/envoi-abonnes",
            vec![add(
                "ville",
                envoi_abonnes("communication.information-municipale"),
            )],
            // Without a new consent, the subscribers' file cannot serve a new purpose.
            vec![add(
                "ville",
                with(
                    &envoi_abonnes("communication.information-municipale"),
                    json!({"legal_basis": "mission-interet-public",
                           "legal_basis_text": "Code général des collectivités territoriales, art. L.2121-29",
                           "consent": null}),
                ),
            )],
        ),
        case(
            // Burial permits drawn from the death records.
            "reuse-legal-obligation",
            "ville/autorisations-inhumation",
            vec![add(
                "ville",
                with(
                    &reuse_of(
                        "autorisations-inhumation",
                        "Autorisations d'inhumation",
                        "cimetiere",
                        "etat-civil",
                    ),
                    json!({"legal_basis": "obligation-legale",
                           "legal_basis_text": "Code général des collectivités territoriales, art. R.2213-17 et R.2213-31"}),
                ),
            )],
            vec![add(
                "ville",
                with(
                    &reuse_of(
                        "autorisations-inhumation",
                        "Autorisations d'inhumation",
                        "cimetiere",
                        "etat-civil",
                    ),
                    json!({"legal_basis": "mission-interet-public",
                           "legal_basis_text": "Code général des collectivités territoriales, art. R.2213-17 et R.2213-31"}),
                ),
            )],
        ),
        case(
            "reuse-compatibility-assessment",
            "ville/programme-culturel",
            vec![add("ville", programme_culturel(assessment.clone(), "P1Y"))],
            vec![add("ville", programme_culturel(Value::Null, "P1Y"))],
        ),
        case(
            "reuse-electoral-list-municipal-communication",
            "ville/invitation-repas-aines",
            vec![add(
                "ville",
                electoral_extract(
                    "invitation-repas-aines",
                    "Invitation au repas des aînés",
                    "communication.information-municipale",
                    all_three.clone(),
                ),
            )],
            vec![add(
                "ville",
                electoral_extract(
                    "invitation-repas-aines",
                    "Invitation au repas des aînés",
                    "communication.information-municipale",
                    json!(["information-art14", "destruction-apres-usage"]),
                ),
            )],
        ),
        // ── reuse.cedar: qualifying an unjustified reuse ────────────────────────────────────
        case(
            "reuse-unjustified",
            "ville/lettre-nouveaux-proprietaires",
            vec![add(
                "ville",
                reuse_of(
                    "lettre-nouveaux-proprietaires",
                    "Lettre de bienvenue aux nouveaux propriétaires",
                    "communication.felicitations",
                    "urbanisme",
                ),
            )],
            vec![add(
                "ville",
                with(
                    &reuse_of(
                        "lettre-nouveaux-proprietaires",
                        "Lettre de bienvenue aux nouveaux propriétaires",
                        "communication.felicitations",
                        "urbanisme",
                    ),
                    json!({"sources": [{"activity": "urbanisme", "categories": ["identite", "coordonnees"],
                        "compatibility_assessment": assessment.clone(),
                        "safeguards": ["information-art14", "opposition"]}]}),
                ),
            )],
        ),
        case(
            "reuse-unjustified-sensitive",
            "ville/plan-sauvegarde",
            vec![add("ville", plan_sauvegarde(Value::Null))],
            vec![add("ville", plan_sauvegarde(assessment.clone()))],
        ),
        case(
            "reuse-unjustified-exclusion",
            "ville/colis-noel",
            vec![add("ville", colis_noel(Value::Null))],
            vec![add("ville", colis_noel(assessment.clone()))],
        ),
        // ── reuse.cedar: terms every reuse must meet ────────────────────────────────────────
        case(
            // The library's mailing list outlives the borrower's file (one year after the last loan).
            "reuse-extends-retention",
            "ville/programme-culturel",
            vec![add("ville", programme_culturel(assessment.clone(), "P3Y"))],
            vec![add("ville", programme_culturel(assessment.clone(), "P1Y"))],
        ),
        case(
            "reuse-other-controller-notice",
            "ccas/colis-aines",
            vec![patch(
                "ccas/colis-aines",
                etat_civil_to_ccas(json!(["opposition"])),
            )],
            vec![patch(
                "ccas/colis-aines",
                etat_civil_to_ccas(json!(["opposition", "information-art14"])),
            )],
        ),
        case(
            // The billing of the canteen meals, from the canteen enrolment: the billing file
            // needs no school purpose of its own to be linked to the service it bills.
            "reuse-billing-of-the-service",
            "ville/repas-factures",
            vec![add(
                "ville",
                repas_factures(json!(["finances.facturation"])),
            )],
            // Billing a service from the birth records: not the service the data were collected for.
            vec![add(
                "ville",
                with(
                    &repas_factures(json!(["finances.facturation"])),
                    json!({"sources": [{"activity": "etat-civil", "categories": ["identite", "coordonnees"]}]}),
                ),
            )],
        ),
        // ── Boundaries found in review ──────────────────────────────────────────────────────
        case(
            // Health data kept one school year, billing data five years: the health period counts.
            "leisure-centre-health-retention",
            "ville/periscolaire",
            vec![patch(
                "ville/periscolaire",
                json!({"retention": {"active": "P5Y", "per_category": {"sante.vaccination": {"active": "P2Y"}}}}),
            )],
            vec![patch(
                "ville/periscolaire",
                json!({"retention": {"active": "P5Y", "per_category": {"sante.vaccination": {"active": "P1Y"}}}}),
            )],
        ),
        case(
            // A public body never campaigns with the list; a party may (Code électoral L.37).
            "electoral-list-other-organisation",
            "ccas/campagne",
            vec![add("ccas", campagne.clone())],
            vec![
                patch("ccas", json!({"kind": "association"})),
                add("ccas", campagne.clone()),
            ],
        ),
        case(
            "electoral-list-political",
            "ville/campagne",
            vec![add("ville", campagne.clone())],
            // Sending electoral cards is what the list is for.
            vec![add(
                "ville",
                with(
                    &campagne,
                    json!({"purposes": ["elections.scrutin"], "legal_basis": "obligation-legale",
                           "legal_basis_text": "Code électoral, art. R.25"}),
                ),
            )],
        ),
        case(
            "nir-outside-decree",
            "ville/paie",
            vec![patch(
                "ville/paie",
                json!({"purposes": ["ressources-humaines.paie", "finances.facturation"]}),
            )],
            // Payroll and its accounting: the NIR serves the payroll.
            vec![patch(
                "ville/paie",
                json!({"purposes": ["ressources-humaines.paie", "finances.comptabilite"]}),
            )],
        ),
        case(
            "nir-outside-decree",
            "ville/rh",
            vec![patch(
                "ville/rh",
                json!({"purposes": ["ressources-humaines.recrutement"],
                       "data_categories": ["identite", "coordonnees", "vie-professionnelle", "nir"]}),
            )],
            vec![patch(
                "ville/rh",
                json!({"purposes": ["ressources-humaines.gestion-personnel"],
                       "data_categories": ["identite", "coordonnees", "vie-professionnelle", "nir"]}),
            )],
        ),
        case(
            // A legal obligation of the commune does not carry sensitive data from another body.
            "reuse-legal-obligation",
            "ville/signalements-sante",
            vec![add(
                "ville",
                signalements(json!(["identite", "coordonnees"]), "ville", "etat-civil"),
            )],
            vec![add(
                "ville",
                signalements(
                    json!(["identite", "coordonnees", "sante"]),
                    "ccas",
                    "accompagnement",
                ),
            )],
        ),
        case(
            // Another body's data call for an art. 14 notice even under a legal obligation.
            "reuse-other-controller-notice",
            "ville/signalements-sante",
            vec![add(
                "ville",
                signalements(json!(["identite", "coordonnees"]), "ccas", "accompagnement"),
            )],
            vec![add(
                "ville",
                signalements(json!(["identite", "coordonnees"]), "ville", "etat-civil"),
            )],
        ),
        case(
            "videoprotection-staff-monitoring",
            "ville/videoprotection",
            vec![patch(
                "ville/videoprotection",
                json!({"purposes": ["securite.videoprotection", "ressources-humaines.gestion-personnel"]}),
            )],
            // Agents walking through a filmed entrance are not monitored.
            vec![patch(
                "ville/videoprotection",
                json!({"data_subjects": ["passants", "agents"]}),
            )],
        ),
        case(
            // The art. 6 basis of an imposed service cannot be consent …
            "consent-for-imposed-service",
            "ville/cantine",
            vec![patch(
                "ville/cantine",
                json!({"legal_basis": "consentement", "legal_basis_text": null, "consent": consent()}),
            )],
            // … but an optional health detail of that service may rest on explicit consent
            // (art. 9.2.a): the art. 6 basis and the art. 9 exception are separate questions.
            vec![patch(
                "ville/cantine",
                json!({"data_categories": ["identite", "coordonnees", "economique-financier", "sante.allergies"],
                       "special_category_exception": "consentement-explicite",
                       "consent": with(&consent(), json!({"parental_consent": "both-holders"})),
                       "dpia": {"status": "done", "date": "2025-06-15"}}),
            )],
        ),
        // ── Second pass: the law as corrected (LEGAL §3–§6) ────────────────────────────────
        case(
            "special-category-possible",
            "ville/cantine",
            vec![patch(
                "ville/cantine",
                json!({"description": "Inscription, choix du menu (Halal, Casher, végétarien) et facturation."}),
            )],
            vec![patch(
                "ville/cantine",
                json!({"description": "Inscription, choix du menu (sans porc, végétarien) et facturation."}),
            )],
        ),
        case(
            // The nature of a disability on a school form …
            "school-form-disability",
            "ville/periscolaire",
            vec![patch(
                "ville/periscolaire",
                json!({"data_categories": ["identite", "coordonnees", "sante.vaccination", "sante.handicap"],
                       "special_category_exception": "interet-public-important",
                       "description": "Inscription ; nature du handicap et aménagements nécessaires."}),
            )],
            // … but not the adaptation the child needs (loi 2005-102).
            vec![patch(
                "ville/periscolaire",
                json!({"data_categories": ["identite", "coordonnees", "sante.vaccination", "sante.handicap"],
                       "special_category_exception": "interet-public-important",
                       "description": "Inscription ; besoin d'un accueil adapté et aménagements nécessaires, sans la nature du handicap."}),
            )],
        ),
        case(
            "staff-biometrics-outside-access-control",
            "ville/pointeuse",
            vec![add(
                "ville",
                biometrics(
                    "pointeuse",
                    "Pointeuse biométrique des agents",
                    "ressources-humaines.temps-travail",
                ),
            )],
            vec![add(
                "ville",
                biometrics(
                    "pointeuse",
                    "Contrôle d'accès biométrique à la salle serveur",
                    "ressources-humaines.gestion-personnel",
                ),
            )],
        ),
        case(
            "dpia-staff-biometrics",
            "ville/acces-serveur",
            vec![add(
                "ville",
                with(
                    &biometrics(
                        "acces-serveur",
                        "Contrôle d'accès biométrique à la salle serveur",
                        "ressources-humaines.gestion-personnel",
                    ),
                    json!({"dpia": {"status": "none"}}),
                ),
            )],
            vec![add(
                "ville",
                biometrics(
                    "acces-serveur",
                    "Contrôle d'accès biométrique à la salle serveur",
                    "ressources-humaines.gestion-personnel",
                ),
            )],
        ),
        case(
            // A CCAS entered as a mere public authority is still a CCAS.
            "electoral-list-recipients",
            "ville/liste-electorale",
            vec![patch(
                "ville/liste-electorale",
                json!({"recipients": [{"name": "CCAS de Ville-Exemple", "type": "autorite-publique"}]}),
            )],
            vec![patch(
                "ville/liste-electorale",
                json!({"recipients": [{"name": "Préfecture de l'Oise", "type": "autorite-publique"}]}),
            )],
        ),
        case(
            // Jurors are drawn from the list, as the law provides.
            "reuse-jurors-drawn-from-the-list",
            "ville/tirage",
            vec![add("ville", tirage("Tirage au sort des jurés d'assises"))],
            vec![add(
                "ville",
                tirage("Tirage au sort des participants à la consultation citoyenne"),
            )],
        ),
        case(
            // Since 2024 the register also serves against social isolation …
            "vulnerable-register-exclusive-purpose",
            "ccas/isolement",
            vec![add(
                "ccas",
                from_vulnerable_register("action-sociale.colis-aines"),
            )],
            vec![add(
                "ccas",
                from_vulnerable_register("action-sociale.accompagnement"),
            )],
        ),
        case(
            // … and the département transmits its APA list, unless the person objects.
            "vulnerable-register-prefilled",
            "ville/registre-vulnerables",
            vec![patch(
                "ville/registre-vulnerables",
                json!({"sources": ["person", {"activity": "accompagnement", "organisation": "ccas", "categories": ["identite", "coordonnees"]}]}),
            )],
            vec![
                add(
                    "ccas",
                    activity(
                        json!({"id": "apa", "name": "Allocation personnalisée d'autonomie", "purposes": ["action-sociale.aide-legale"]}),
                    ),
                ),
                patch(
                    "ccas",
                    json!({"kind": "departement", "name": "Conseil départemental de l'Oise"}),
                ),
                patch(
                    "ville/registre-vulnerables",
                    json!({"sources": ["person", {"activity": "apa", "organisation": "ccas", "categories": ["identite", "coordonnees"]}]}),
                ),
            ],
        ),
        case(
            // Land files transmitted for housing policy (LPF L.135 B) are lawful.
            "tax-files-reuse",
            "ville/habitat",
            vec![add("ville", habitat("Repérage des logements vacants"))],
            vec![add(
                "ville",
                habitat(
                    "Repérage des logements vacants (fichiers fonciers, LOVAC, LPF art. L.135 B)",
                ),
            )],
        ),
        case(
            // The one-month ceiling covers every stage.
            "videoprotection-retention",
            "ville/videoprotection",
            vec![patch(
                "ville/videoprotection",
                json!({"retention": {"active": "P20D", "intermediate": "P30D"}}),
            )],
            vec![patch(
                "ville/videoprotection",
                json!({"retention": {"active": "P20D", "intermediate": "P10D"}}),
            )],
        ),
        case(
            // Each category to its own reference: loan details four months after return.
            "library-retention",
            "ville/mediatheque",
            vec![patch(
                "ville/mediatheque",
                json!({"data_categories": ["identite", "coordonnees", "vie-personnelle"],
                       "retention": {"active": "P1Y", "per_category": {"vie-personnelle": {"active": "P1Y"}}}}),
            )],
            vec![patch(
                "ville/mediatheque",
                json!({"data_categories": ["identite", "coordonnees", "vie-personnelle"],
                       "retention": {"active": "P1Y", "per_category": {"vie-personnelle": {"active": "P4M"}}}}),
            )],
        ),
        case(
            "dpia-public-space-monitoring",
            "ville/videoprotection",
            vec![patch(
                "ville/videoprotection",
                json!({"dpia": {"status": "none"}}),
            )],
            vec![patch(
                "ville/videoprotection",
                json!({"dpia": {"status": "none"}, "data_subjects": ["agents"],
                       "name": "Vidéoprotection du local des archives",
                       "description": "Une caméra dans le local des archives, fermé au public."}),
            )],
        ),
        case(
            "dpia-two-criteria-justified",
            "ville/inscription-scolaire",
            vec![patch(
                "ville/inscription-scolaire",
                json!({"dpia_criteria": ["croisement"],
                       "dpia": {"status": "not-required", "justification": "Le croisement se limite au contrôle de la sectorisation, sans décision ni profilage."}}),
            )],
            vec![patch(
                "ville/inscription-scolaire",
                json!({"dpia_criteria": ["croisement"], "dpia": {"status": "not-required"}}),
            )],
        ),
        case(
            "dpia-cnil-list-essms-health",
            "ccas/saad",
            vec![add("ccas", saad(json!({"status": "none"})))],
            vec![add(
                "ccas",
                saad(json!({"status": "done", "date": "2025-03-01"})),
            )],
        ),
        case(
            "dpia-cnil-list-social-housing",
            "ccas/logement",
            vec![add("ccas", logement(json!({"status": "not-required"})))],
            vec![add("ccas", logement(json!({"status": "in-progress"})))],
        ),
        case(
            "dpia-cnil-list-whistleblowing",
            "ville/alertes",
            vec![add("ville", alertes(json!({"status": "none"})))],
            vec![add(
                "ville",
                alertes(json!({"status": "done", "date": "2025-01-10"})),
            )],
        ),
        case(
            "ccas-secrecy-recipients",
            "ccas/accompagnement",
            vec![patch(
                "ccas/accompagnement",
                json!({"recipients": [{"name": "Travailleurs sociaux du CCAS", "type": "interne"},
                                      {"name": "Association caritative du quartier", "type": "tiers"}]}),
            )],
            vec![patch(
                "ccas/accompagnement",
                json!({"recipients": [{"name": "Travailleurs sociaux du CCAS", "type": "interne"},
                                      {"name": "Créanciers payés directement (bailleurs), montant seul", "type": "tiers"}]}),
            )],
        ),
        case(
            "ccas-secrecy-reuse",
            "ville/impayes",
            vec![add("ville", impayes(Value::Null))],
            vec![add(
                "ville",
                impayes(json!(
                    "Convention avec le CCAS ; CASF art. L.133-5 et L.123-5 : seules les aides accordées sont transmises."
                )),
            )],
        ),
        case(
            "consent-fed-by-another-file",
            "ville/infolettre",
            vec![add("ville", infolettre("cantine"))],
            vec![add("ville", infolettre("lettre-information"))],
        ),
        case(
            "newsletter-built-from-formalities",
            "ville/annonces",
            vec![add("ville", annonces("cantine"))],
            vec![add("ville", annonces("mediatheque"))],
        ),
        case(
            // The same purpose, in a family whose purposes otherwise serve different ends.
            "reuse-same-purpose",
            "ville/relances",
            vec![add(
                "ville",
                reuse_of(
                    "relances",
                    "Relances des documents non rendus",
                    "culture.pret-bibliotheque",
                    "mediatheque",
                ),
            )],
            vec![add(
                "ville",
                reuse_of(
                    "relances",
                    "Relances des documents non rendus",
                    "communication.publication-images",
                    "mediatheque",
                ),
            )],
        ),
        case(
            "recruitment-retention",
            "ville/recrutement",
            vec![add("ville", recrutement("P5Y"))],
            vec![add("ville", recrutement("P2Y"))],
        ),
        case(
            "vehicle-geolocation-retention",
            "ville/geolocalisation",
            vec![add(
                "ville",
                vehicle_geolocation("Localisation des véhicules de la voirie.", "P1Y"),
            )],
            vec![add(
                "ville",
                vehicle_geolocation(
                    "Localisation des véhicules de la voirie pour l'optimisation des tournées.",
                    "P1Y",
                ),
            )],
        ),
        case(
            "vehicle-geolocation-speed-or-off-duty",
            "ville/geolocalisation",
            vec![add(
                "ville",
                vehicle_geolocation(
                    "Localisation des véhicules et contrôle de la vitesse.",
                    "P2M",
                ),
            )],
            vec![add(
                "ville",
                vehicle_geolocation(
                    "Localisation des véhicules pendant le service, désactivable par l'agent.",
                    "P2M",
                ),
            )],
        ),
        case(
            "website-trackers-without-consent",
            "ville/site",
            vec![add(
                "ville",
                site("Mesure d'audience du site (Google Analytics)."),
            )],
            vec![add(
                "ville",
                site(
                    "Mesure d'audience du site (Matomo, mesure d'audience exemptée de consentement).",
                ),
            )],
        ),
        case(
            // Billing another service than the one the file was collected for.
            "reuse-billing-of-the-service",
            "ville/repas-factures",
            vec![add(
                "ville",
                with(
                    &repas_factures(json!(["finances.facturation"])),
                    json!({"name": "Facturation des repas de la cantine"}),
                ),
            )],
            vec![add(
                "ville",
                with(
                    &repas_factures(json!(["finances.facturation"])),
                    json!({"name": "Facturation des cours du conservatoire"}),
                ),
            )],
        ),
        case(
            "electoral-list-name-consonance",
            "ccas/campagne",
            vec![add(
                "ccas",
                with(
                    &campagne,
                    json!({"description": "Courrier ciblé selon la consonance des noms."}),
                ),
            )],
            vec![add(
                "ccas",
                with(
                    &campagne,
                    json!({"description": "Courrier par bureau de vote."}),
                ),
            )],
        ),
        case(
            // A party's campaign mailing from the list it obtained (L.37).
            "reuse-electoral-list-campaign",
            "ccas/campagne",
            vec![
                patch(
                    "ccas",
                    json!({"kind": "association", "name": "Parti local (section)"}),
                ),
                add("ccas", campagne.clone()),
            ],
            vec![add("ccas", campagne.clone())],
        ),
        case(
            "reuse-vulnerable-register-by-law",
            "ccas/isolement",
            vec![add(
                "ccas",
                from_vulnerable_register("action-sociale.accompagnement"),
            )],
            vec![add(
                "ccas",
                from_vulnerable_register("action-sociale.aide-facultative"),
            )],
        ),
        case(
            "reuse-land-files-housing",
            "ville/habitat",
            vec![add(
                "ville",
                habitat(
                    "Repérage des logements vacants (fichiers fonciers, LOVAC, LPF art. L.135 B)",
                ),
            )],
            vec![add("ville", habitat("Repérage des logements vacants"))],
        ),
        case(
            "dpia-large-scale-sensitive",
            "ccas/accompagnement",
            vec![patch(
                "ccas/accompagnement",
                json!({"dpia": {"status": "none"}, "dpia_criteria": ["grande-echelle"]}),
            )],
            vec![patch(
                "ccas/accompagnement",
                json!({"dpia_criteria": ["grande-echelle"]}),
            )],
        ),
        case(
            "dpia-automated-evaluation",
            "ville/inscription-scolaire",
            vec![patch(
                "ville/inscription-scolaire",
                json!({"automated_decision": true, "dpia_criteria": ["evaluation-notation"], "dpia": {"status": "none"}}),
            )],
            vec![patch(
                "ville/inscription-scolaire",
                json!({"automated_decision": false, "dpia_criteria": ["evaluation-notation"], "dpia": {"status": "none"}}),
            )],
        ),
        case(
            "social-network-page-joint-controller",
            "ville/page-facebook",
            vec![add("ville", page_facebook(json!([])))],
            vec![add(
                "ville",
                page_facebook(json!([{"name": "Meta Platforms Ireland Ltd"}])),
            )],
        ),
    ]
}

/// An activity processing the agents' biometrics.
fn biometrics(id: &str, name: &str, purpose: &str) -> Value {
    activity(json!({
        "id": id, "name": name, "purposes": [purpose],
        "legal_basis_text": "Code général de la fonction publique ; règlement type biométrie de la CNIL",
        "special_category_exception": "droit-travail-protection-sociale",
        "data_subjects": ["agents"],
        "data_categories": ["identite", "biometrie"],
        "dpia": {"status": "done", "date": "2025-04-01"}
    }))
}

/// A drawing by lot from the electoral list.
fn tirage(name: &str) -> Value {
    activity(json!({
        "id": "tirage", "name": name,
        "purposes": ["communication.information-municipale"],
        "data_subjects": ["electeurs"],
        "sources": [{"activity": "liste-electorale", "categories": ["identite", "coordonnees"]}]
    }))
}

/// A CCAS activity fed by the commune's vulnerable-persons register.
fn from_vulnerable_register(purpose: &str) -> Value {
    activity(json!({
        "id": "isolement", "name": "Appels de convivialité aux personnes isolées",
        "purposes": [purpose],
        "legal_basis_text": "Code de l'action sociale et des familles, art. L.121-6-1",
        "data_subjects": ["personnes-agees"],
        "sources": [{"activity": "registre-vulnerables", "organisation": "ville",
                     "categories": ["identite", "coordonnees"], "safeguards": ["information-art14"]}]
    }))
}

/// A housing-policy activity fed by the local tax files.
fn habitat(name: &str) -> Value {
    activity(json!({
        "id": "habitat", "name": name, "purposes": ["urbanisme"],
        "legal_basis_text": "Code de la construction et de l'habitation, art. L.302-1",
        "data_subjects": ["administres"],
        "sources": [{"activity": "fiscalite", "categories": ["identite", "coordonnees"]}]
    }))
}

/// A home-care service of the CCAS, with its health data.
fn saad(dpia: Value) -> Value {
    activity(json!({
        "id": "saad", "name": "Service d'aide à domicile (SAAD) : plans d'aide et interventions",
        "purposes": ["action-sociale.accompagnement"],
        "legal_basis_text": "Code de l'action sociale et des familles, art. L.312-1 I 6°",
        "special_category_exception": "medecine-prise-en-charge",
        "data_subjects": ["personnes-agees"],
        "data_categories": ["identite", "coordonnees", "sante"],
        "retention": {"active": "P2Y", "final": "destruction"},
        "dpia": dpia
    }))
}

fn logement(dpia: Value) -> Value {
    activity(json!({
        "id": "logement", "name": "Instruction des demandes de logement social",
        "purposes": ["action-sociale.aide-legale"],
        "legal_basis_text": "Code de la construction et de l'habitation, art. L.441-2-1",
        "data_subjects": ["beneficiaires-aide-sociale"],
        "data_categories": ["identite", "coordonnees", "economique-financier"],
        "retention": {"active": "P2Y", "final": "destruction"},
        "dpia": dpia
    }))
}

fn alertes(dpia: Value) -> Value {
    activity(json!({
        "id": "alertes", "name": "Recueil des signalements des lanceurs d'alerte",
        "purposes": ["ressources-humaines.gestion-personnel"],
        "legal_basis": "obligation-legale",
        "legal_basis_text": "Loi n° 2016-1691 (Sapin II), art. 8 ; décret n° 2022-1284",
        "data_subjects": ["agents"],
        "dpia": dpia
    }))
}

/// Unpaid canteen bills followed up from the CCAS's social files.
fn impayes(assessment: Value) -> Value {
    activity(json!({
        "id": "impayes", "name": "Suivi des impayés de cantine",
        "purposes": ["finances.facturation"],
        "data_subjects": ["parents"],
        "sources": [{"activity": "accompagnement", "organisation": "ccas",
                     "categories": ["identite", "coordonnees"], "compatibility_assessment": assessment,
                     "safeguards": ["information-art14"]}]
    }))
}

/// A consent-based newsletter fed by `source`.
fn infolettre(source: &str) -> Value {
    activity(json!({
        "id": "infolettre", "name": "Infolettre des familles",
        "purposes": ["communication.information-municipale"],
        "legal_basis": "consentement", "legal_basis_text": null,
        "consent": consent(),
        "data_subjects": ["parents"],
        "sources": [{"activity": source, "categories": ["identite", "coordonnees"],
                     "compatibility_assessment": "Analyse documentée."}]
    }))
}

/// Municipal announcements mailed to the people of `source`.
fn annonces(source: &str) -> Value {
    activity(json!({
        "id": "annonces", "name": "Envoi des annonces municipales",
        "purposes": ["communication.information-municipale"],
        "data_subjects": ["administres"],
        "sources": [{"activity": source, "categories": ["identite", "coordonnees"],
                     "compatibility_assessment": "Analyse art. 6.4 documentée.",
                     "safeguards": ["information-art14", "opposition"]}]
    }))
}

fn recrutement(retention: &str) -> Value {
    activity(json!({
        "id": "recrutement", "name": "Recrutement : candidatures",
        "purposes": ["ressources-humaines.recrutement"],
        "legal_basis_text": "Code général de la fonction publique, art. L.332-1",
        "data_subjects": ["candidats-recrutement"],
        "data_categories": ["identite", "coordonnees", "vie-professionnelle"],
        "retention": {"active": retention, "final": "destruction", "start": "dernier contact avec le candidat"}
    }))
}

fn vehicle_geolocation(description: &str, retention: &str) -> Value {
    activity(json!({
        "id": "geolocalisation", "name": "Géolocalisation des véhicules de la voirie",
        "description": description,
        "purposes": ["ressources-humaines.gestion-personnel"],
        "legal_basis_text": "Code général des collectivités territoriales, art. L.2121-29",
        "data_subjects": ["agents"],
        "data_categories": ["identite", "localisation"],
        "retention": {"active": retention, "final": "destruction"}
    }))
}

fn site(description: &str) -> Value {
    activity(json!({
        "id": "site", "name": "Site internet de la commune",
        "description": description,
        "purposes": ["communication.information-municipale"],
        "data_subjects": ["usagers"],
        "data_categories": ["connexion"]
    }))
}

fn page_facebook(joint: Value) -> Value {
    activity(json!({
        "id": "page-facebook", "name": "Page Facebook de la commune",
        "purposes": ["communication.information-municipale"],
        "data_subjects": ["usagers"],
        "data_categories": ["identite", "connexion"],
        "joint_controllers": joint
    }))
}

/// The findings of `at` for the rule `rule`, with their source and message.
fn findings_of(edits: &[Edit], at: &str, rule: &str) -> Vec<(Option<String>, String)> {
    let register = common::load(&apply(edits));
    let (org, activity) = at.split_once('/').unwrap();
    registre::audit::audit(&register, common::pack())
        .unwrap()
        .findings
        .into_iter()
        .filter(|f| f.organisation == org && f.activity.as_deref() == Some(activity))
        .filter(|f| f.rule == rule)
        .map(|f| (f.related_activity, f.message))
        .collect()
}

/// An activity of the commune that takes its data from `source` (of `organisation`).
fn file_from(id: &str, name: &str, purpose: &str, source: &str, organisation: &str) -> Value {
    activity(json!({
        "id": id,
        "name": name,
        "purposes": [purpose],
        "sources": [{"activity": source, "organisation": organisation, "compatibility_assessment": "Analyse documentée."}],
    }))
}

#[test]
fn the_regime_of_a_source_follows_its_data_through_other_files() {
    // The electoral list copied into a « fichier des habitants », which the CCAS then uses.
    let chain = vec![
        add(
            "ville",
            file_from(
                "fichier-habitants",
                "Fichier des habitants",
                "communication.information-municipale",
                "liste-electorale",
                "ville",
            ),
        ),
        patch(
            "ccas/colis-aines",
            json!({"sources": [{"activity": "fichier-habitants", "organisation": "ville"}]}),
        ),
    ];
    let found = findings_of(
        &chain,
        "ccas/colis-aines",
        "electoral-list-other-organisation",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    let (source, message) = &found[0];
    assert_eq!(source.as_deref(), Some("liste-electorale"));
    assert!(
        message.contains(
            "« liste-electorale » (ville) → « fichier-habitants » (ville) → « colis-aines »"
        ),
        "the finding names every hop: {message}"
    );
    // The same file fed by a lawful source carries no regime.
    let lawful = vec![
        add(
            "ville",
            file_from(
                "fichier-habitants",
                "Fichier des habitants",
                "communication.information-municipale",
                "lettre-information",
                "ville",
            ),
        ),
        patch(
            "ccas/colis-aines",
            json!({"sources": [{"activity": "fichier-habitants", "organisation": "ville"}]}),
        ),
    ];
    assert!(
        findings_of(
            &lawful,
            "ccas/colis-aines",
            "electoral-list-other-organisation"
        )
        .is_empty()
    );
}

#[test]
fn a_cycle_of_sources_is_walked_once_and_every_regime_on_it_applies() {
    // registre-vulnerables → fichier-habitants → colis-aines (CCAS) → registre-vulnerables.
    let cycle = vec![
        add(
            "ville",
            file_from(
                "fichier-habitants",
                "Fichier des habitants",
                "communication.information-municipale",
                "registre-vulnerables",
                "ville",
            ),
        ),
        patch(
            "ccas/colis-aines",
            json!({"sources": [{"activity": "fichier-habitants", "organisation": "ville"}]}),
        ),
        patch(
            "ville/registre-vulnerables",
            json!({"sources": ["person", {"activity": "colis-aines", "organisation": "ccas"}]}),
        ),
    ];
    let colis = findings_of(
        &cycle,
        "ccas/colis-aines",
        "vulnerable-register-exclusive-purpose",
    );
    assert_eq!(
        colis.iter().map(|(s, _)| s.as_deref()).collect::<Vec<_>>(),
        [Some("registre-vulnerables")],
        "{colis:?}"
    );
    let habitants = findings_of(
        &cycle,
        "ville/fichier-habitants",
        "vulnerable-register-exclusive-purpose",
    );
    assert_eq!(habitants.len(), 1, "{habitants:?}");
    let register = findings_of(
        &cycle,
        "ville/registre-vulnerables",
        "vulnerable-register-prefilled",
    );
    assert!(
        register
            .iter()
            .any(|(s, _)| s.as_deref() == Some("colis-aines")),
        "{register:?}"
    );
}

#[test]
fn possible_special_data_quotes_its_words_and_is_quiet_once_declared() {
    let halal = json!({"description": "Inscription ; choix du menu : Halal, CASHER ou végétarien ; facturation."});
    let found = findings_of(
        &[patch("ville/cantine", halal.clone())],
        "ville/cantine",
        "special-category-possible",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].1.contains("« halal »") && found[0].1.contains("« casher »"),
        "the words found are quoted: {}",
        found[0].1
    );
    // Plurals and accents folded; a word the activity declares the category of is not quoted.
    let biometrics = json!({"name": "Relevé des EMPREINTES digitales", "description": "Diagnostics et allergies."});
    let found = findings_of(
        &[patch(
            "ville/cantine",
            with(
                &biometrics,
                json!({"data_categories": ["identite", "sante.allergies"], "special_category_exception": "interet-public-important"}),
            ),
        )],
        "ville/cantine",
        "special-category-possible",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].1.contains("« empreinte digitale »"),
        "{}",
        found[0].1
    );
    assert!(!found[0].1.contains("allergie"), "{}", found[0].1);
    // Declared: no prompt (the rules on that category judge it).
    let declared = with(
        &halal,
        json!({"data_categories": ["identite", "coordonnees", "economique-financier", "convictions-religieuses"],
               "special_category_exception": "consentement-explicite", "consent": consent()}),
    );
    assert!(
        findings_of(
            &[patch("ville/cantine", declared)],
            "ville/cantine",
            "special-category-possible"
        )
        .is_empty()
    );
}

#[test]
fn the_coverage_of_the_law_names_every_rule_and_only_rules() {
    let text = include_str!("../policies/COVERAGE.md");
    let named: BTreeSet<&str> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|t| t.split(", "))
        .collect();
    let rules: BTreeSet<&str> = common::pack().rules().map(|r| r.id.as_str()).collect();
    let missing: Vec<&&str> = rules
        .iter()
        .filter(|id| {
            !named.contains(**id)
                && !named
                    .iter()
                    .any(|n| n.strip_suffix('*').is_some_and(|p| id.starts_with(p)))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "rules COVERAGE.md does not place: {missing:?}"
    );
    let other = [
        "words.yaml",
        "registre policies list",
        "countries.yaml",
        "dpia.justification",
        "info",
        "adequation",
        "criminal-data-*",
    ];
    let unknown: Vec<&&str> = named
        .iter()
        .filter(|n| !rules.contains(**n) && !other.contains(*n))
        .collect();
    assert!(
        unknown.is_empty(),
        "COVERAGE.md names rules that do not exist: {unknown:?}"
    );
}
