//! The audit engine: answers shared between activities that look the same never leak from one
//! to another, packs that name entities are honoured, and the report order is the file order.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::path::Path;

use registre::audit::{PolicyPack, audit};

/// Two organisations with the same activity: a commune (public body) and an association.
fn twins() -> String {
    let activity = "
      - id: fichier-adherents
        name: Fichier des adhérents
        purposes: [communication.information-municipale]
        legal_basis: interet-legitime
        data_subjects: [administres]
        data_categories: [identite, coordonnees]
        sources: [person]
        recipients: [{name: Secrétariat, type: interne}]
        retention: {active: P1Y, final: destruction}
        security_measures: [controle-acces]
        dpia: {status: not-required}";
    let org = |id: &str, kind: &str| {
        format!(
            "  - id: {id}\n    name: {id}\n    kind: {kind}\n    address: 1 rue de la Paix\n    email: contact@{id}.fr\n    dpo: {{name: DPO, email: dpo@{id}.fr}}\n    activities:{activity}\n"
        )
    };
    format!(
        "format: registre/v1\norganisations:\n{}{}",
        org("ville", "commune"),
        org("club", "association")
    )
}

#[test]
fn identical_activities_of_different_organisations_get_their_own_answers() {
    let report = common::audit_text(&twins());
    let fired: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.organisation.as_str(), f.rule.as_str()))
        .collect();
    assert_eq!(
        fired,
        [("ville", "legitimate-interest-public-body")],
        "only the public body"
    );
}

#[test]
fn a_pack_naming_an_organisation_is_evaluated_activity_by_activity() {
    let rule = "@id(\"ville-only\")\n@kind(\"register.incomplete\")\n@severity(\"info\")\n@law(\"l\")\n@message(\"m\")\n@remedy(\"r\")\nforbid (principal, action == Action::\"declare\", resource == Organisation::\"club\");\n";
    let dir = common::pack_with("local.cedar", rule);
    let mut pack = PolicyPack::from_dir(dir.path()).unwrap();
    assert!(pack.names_entities());
    assert!(pack.disable(&[]).is_empty());
    let register = common::load(&twins());
    let report = audit(&register, &pack).unwrap();
    let local: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.rule == "ville-only")
        .map(|f| f.organisation.as_str())
        .collect();
    assert_eq!(local, ["club"]);
    assert!(
        !common::pack().names_entities(),
        "the built-in pack shares answers"
    );
}

#[test]
fn reports_are_deterministic_and_in_file_order() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/commune-demo.yaml"),
    )
    .unwrap();
    let first = common::audit_text(&text);
    for _ in 0..3 {
        assert_eq!(common::audit_text(&text), first);
    }
    let register = common::load(&text);
    let order: Vec<usize> = first
        .findings
        .iter()
        .map(|f| {
            register
                .organisations
                .iter()
                .position(|o| o.id == f.organisation)
                .unwrap()
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "organisations in file order"
    );
    assert_eq!(first.organisations, 2);
    assert_eq!(first.activities, 20);
}

#[test]
fn shared_and_sliced_answers_equal_the_plain_evaluation() {
    let pack = common::pack();
    let spec = registre::demo::SyntheticSpec {
        organisations: 12,
        activities: 40,
        seed: 3,
    };
    let register = registre::demo::synthetic(spec, &pack.vocabulary, &pack.countries).unwrap();
    let fast = audit(&register, pack).unwrap();
    assert!(
        fast.findings.len() > 100,
        "the register has defects to find"
    );

    // The same rules plus one that names an organisation: nothing is shared any more.
    let rule = "@id(\"names-an-organisation\")\n@kind(\"register.incomplete\")\n@severity(\"info\")\n@law(\"l\")\n@message(\"m\")\n@remedy(\"r\")\nforbid (principal, action == Action::\"declare\", resource == Organisation::\"nobody\");\n";
    let dir = common::pack_with("local.cedar", rule);
    let plain = PolicyPack::from_dir(dir.path()).unwrap().without_slicing();
    assert!(plain.names_entities());
    let slow = audit(&register, &plain).unwrap();
    assert_eq!(slow.findings, fast.findings);
}
