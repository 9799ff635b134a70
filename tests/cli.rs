//! The `registre` command as a DPO or a CI job uses it: outputs, exit statuses, generators.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use common::{registre, stdout};

use std::process::Command;

use serde_json::Value;

#[test]
fn json_report_follows_the_spec() {
    let output = registre(&[
        "audit",
        "--format",
        "json",
        "tests/scenarios/02-liste-electorale-vers-ccas.yaml",
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a critique finding fails the default threshold"
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["organisations"], 2);
    assert_eq!(report["activities"], 2);
    assert!(
        report["policy_pack"]["name"].is_string() && report["policy_pack"]["version"].is_string()
    );
    let findings = report["findings"].as_array().unwrap();
    let keys = [
        "rule",
        "kind",
        "severity",
        "organisation",
        "activity",
        "related_activity",
        "law",
        "message",
        "remedy",
    ];
    for f in findings {
        let object = f.as_object().unwrap();
        assert_eq!(
            object.keys().collect::<Vec<_>>(),
            keys,
            "fields and their order"
        );
        assert!(
            ["critique", "elevee", "moyenne", "info"].contains(&f["severity"].as_str().unwrap())
        );
        assert!(registre::audit::KINDS.contains(&f["kind"].as_str().unwrap()));
    }
    let reuse = findings
        .iter()
        .find(|f| f["kind"] == "purpose.reuse_forbidden")
        .unwrap();
    assert_eq!(reuse["related_activity"], "liste-electorale");
    let retention = findings
        .iter()
        .find(|f| f["kind"] == "retention.missing")
        .unwrap();
    assert!(
        retention["related_activity"].is_null(),
        "null outside reuse findings"
    );
}

#[test]
fn fail_on_sets_the_exit_status() {
    // Scenario 04 has one finding, of severity moyenne.
    let file = "tests/scenarios/04-invitation-aines-sans-garanties.yaml";
    assert_eq!(registre(&["audit", file]).status.code(), Some(0));
    assert_eq!(
        registre(&["audit", "--fail-on", "elevee", file])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        registre(&["audit", "--fail-on", "moyenne", file])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        registre(&["audit", "--fail-on", "info", file])
            .status
            .code(),
        Some(1)
    );
    let clean = "tests/scenarios/01-liste-electorale.yaml";
    assert_eq!(
        registre(&["audit", "--fail-on", "info", clean])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn disabling_a_rule_removes_its_findings() {
    let file = "tests/scenarios/11-videoprotection-90-jours.yaml";
    let output = registre(&[
        "audit",
        "--format",
        "json",
        "--disable",
        "videoprotection-retention",
        file,
    ]);
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] != "videoprotection-retention")
    );
}

#[test]
fn text_report_is_grouped_by_organisation_and_activity() {
    let output = registre(&["audit", "examples/commune-demo.yaml"]);
    let text = stdout(&output);
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes when not writing to a terminal"
    );
    let commune = text
        .find("Commune de Saint-Aubin-sur-Oise (saint-aubin)")
        .unwrap();
    let ccas = text.find("(ccas-saint-aubin)").unwrap();
    let cantine = text.find("cantine — ").unwrap();
    let colis = text.find("colis-aines — ").unwrap();
    assert!(
        commune < cantine && cantine < ccas && ccas < colis,
        "{text}"
    );
    assert!(
        text.contains("[critique] purpose.reuse_forbidden ← liste-electorale"),
        "{text}"
    );
    assert!(text.contains("À faire :"));
}

#[test]
fn sarif_output_places_findings_on_their_activity() {
    let output = registre(&[
        "audit",
        "--format",
        "sarif",
        "tests/scenarios/11-videoprotection-90-jours.yaml",
    ]);
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "registre");
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "videoprotection-retention");
    assert_eq!(result["level"], "error");
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "tests/scenarios/11-videoprotection-90-jours.yaml"
    );
    // The activity starts on line 18 of the scenario (`- id: videoprotection`).
    assert_eq!(location["region"]["startLine"], 18);
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(
        rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "videoprotection-retention"
    );
}

#[test]
fn several_files_give_one_report() {
    let output = registre(&[
        "audit",
        "--format",
        "json",
        "tests/scenarios/09-facturation-nir.yaml",
        "tests/scenarios/17-syndicat-sans-dpo.yaml",
    ]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["organisations"], 2);
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"nir.unauthorised") && kinds.contains(&"dpo.missing"),
        "{kinds:?}"
    );
}

#[test]
fn vocabulary_lists_ids_with_french_labels() {
    let text = stdout(&registre(&["vocabulary", "--list", "purposes"]));
    assert!(
        text.contains("elections.liste-electorale\tTenue de la liste électorale"),
        "{text}"
    );
    assert!(
        text.contains("  education.restauration-scolaire"),
        "children are indented under their parent"
    );
    let json: Value =
        serde_json::from_slice(&registre(&["vocabulary", "--format", "json"]).stdout).unwrap();
    let categories = json["data_categories"].as_array().unwrap();
    let vaccination = categories
        .iter()
        .find(|c| c["id"] == "sante.vaccination")
        .unwrap();
    assert_eq!(vaccination["parent"], "sante");
    assert_eq!(
        registre(&["vocabulary", "--list", "nope"]).status.code(),
        Some(2)
    );
}

#[test]
fn synthetic_registers_are_deterministic_and_realistic() {
    let synthetic = |seed: &str| {
        registre(&[
            "demo",
            "synthetic",
            "--organisations",
            "20",
            "--activities",
            "40",
            "--seed",
            seed,
        ])
    };
    let first = synthetic("7");
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(
        first.stdout,
        synthetic("7").stdout,
        "same seed, same register"
    );
    assert_ne!(first.stdout, synthetic("8").stdout);

    let register = common::load(&stdout(&first));
    assert_eq!(register.organisations.len(), 20);
    let activities: Vec<_> = register
        .organisations
        .iter()
        .flat_map(|o| o.activities())
        .collect();
    assert_eq!(activities.len(), 800);
    let reusing = activities
        .iter()
        .filter(|a| {
            a.sources()
                .iter()
                .any(|s| matches!(s, registre::model::Source::Activity(_)))
        })
        .count();
    let share = reusing as f64 / activities.len() as f64;
    assert!(
        (0.18..0.32).contains(&share),
        "about a quarter reuse another activity: {share}"
    );

    let report = registre::audit::audit(&register, common::pack()).unwrap();
    let with_findings: std::collections::BTreeSet<_> = report
        .findings
        .iter()
        .filter(|f| f.severity.reaches(registre::audit::Severity::Moyenne))
        .filter_map(|f| f.activity.as_ref().map(|a| (&f.organisation, a)))
        .collect();
    assert!(
        with_findings.len() > 100 && with_findings.len() < 700,
        "a mix of compliant and defective activities: {}",
        with_findings.len()
    );
}

#[test]
fn demo_register_prints_and_audits() {
    let output = registre(&["demo", "register"]);
    let register = common::load(&stdout(&output));
    assert_eq!(register.organisations.len(), 2);
    assert!(
        register
            .organisations
            .iter()
            .map(|o| o.activities().len())
            .sum::<usize>()
            >= 20
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_registre"))
        .args(["demo", "synthetic", "--organisations", "50"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The reader goes away after 16 bytes.
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_register_not_in_utf8_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.yaml");
    // « Mairie » then « Médiathèque » saved in Latin-1, as an old spreadsheet export would.
    let mut text = b"format: registre/v1\norganisations:\n  - id: ville\n    name: M".to_vec();
    text.extend_from_slice(&[0xE9]);
    text.extend_from_slice(b"diath\xE8que\n");
    std::fs::write(&path, text).unwrap();
    let output = registre(&["audit", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let message = common::stderr(&output);
    assert!(
        message.contains("n'est pas en UTF-8 (ligne 4)"),
        "{message}"
    );
}
