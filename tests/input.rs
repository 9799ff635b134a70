//! Bad input: every malformed register is refused (exit 2) with every error, its path and its
//! line; a rule with a type error is refused naming its file and line; nothing panics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use common::{registre, stderr};

use std::path::{Path, PathBuf};

use registre::model::{SourceFormat, load_str, to_json, to_yaml};

#[test]
fn malformed_values_are_all_listed_with_path_and_line() {
    let output = registre(&["audit", "tests/fixtures/invalid-values.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "nothing is audited");
    let err = stderr(&output);
    let expected = [
        ("5: organisations[0].kind:", "`comune`"),
        ("6: organisations[0].siren:", "Luhn"),
        ("7: organisations[0].email:", "`pas-une-adresse`"),
        ("8: organisations[0].couleur:", "inconnu"),
        (
            "12: organisations[0].activities[0].purposes[0]:",
            "`education.restauration-scolaire`",
        ),
        (
            "13: organisations[0].activities[0].retention.active:",
            "`P1X`",
        ),
        (
            "14: organisations[0].activities[0].dpia.date:",
            "`2024-13-01`",
        ),
        (
            "16: organisations[0].activities[0].sources[0].activity:",
            "`inexistante`",
        ),
        ("17: organisations[0].activities[1].id:", "déjà utilisé"),
        (
            "19: organisations[0].activities[1].legal_basis:",
            "`consentement`",
        ),
    ];
    for (place, detail) in expected {
        let line = err
            .lines()
            .find(|l| l.contains(place))
            .unwrap_or_else(|| panic!("no error at `{place}` in:\n{err}"));
        assert!(line.contains(detail), "`{line}` should mention {detail}");
    }
    assert!(err.contains("10 erreurs"), "{err}");
}

#[test]
fn malformed_structure_is_all_listed_with_path_and_line() {
    let output = registre(&["audit", "tests/fixtures/invalid-structure.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    for place in [
        "4: organisations[0].name: type invalide : attendu un texte",
        "6: organisations[0].dpo.emial: champ `emial` inconnu",
        "8: organisations[0].activities[0].id: champ obligatoire `id` absent",
        "9: organisations[0].activities[0].purposes: type invalide : attendu une liste",
        "10: organisations[0].activities[0].public: type invalide : attendu un booléen",
        "13: organisations[0].activities[0].sources[0].categorie: champ `categorie` inconnu",
        "14: organisations[0].activities[0].sources[1]: valeur `persone` inconnue",
    ] {
        assert!(err.contains(place), "missing `{place}` in:\n{err}");
    }
}

#[test]
fn an_unknown_field_is_an_error_even_when_empty() {
    let vocabulary = registre::vocabulary::Vocabulary::builtin().unwrap();
    let countries = registre::vocabulary::Countries::builtin().unwrap();
    // A stray key, and a comma that cut an unquoted flow mapping in two.
    let text = "format: registre/v1\norganisations:\n  - id: ville\n    name: Ville\n    kind: commune\n    foo:\n    activities:\n      - id: a\n        name: A\n        recipients:\n          - {name: Service (accueil, état civil), type: interne}\n";
    let error = load_str(text, SourceFormat::Yaml, &vocabulary, &countries).unwrap_err();
    let messages: Vec<String> = error.errors.iter().map(ToString::to_string).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("organisations[0].foo: champ `foo` inconnu")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("recipients[0].état civil)")
                || m.contains("champ `état civil)` inconnu")),
        "{messages:?}"
    );
    // A known field may be null: it stands for an absent one.
    let known = text
        .replace("    foo:\n", "    dpo: ~\n")
        .replace(", état civil", "");
    assert!(load_str(&known, SourceFormat::Yaml, &vocabulary, &countries).is_ok());
}

#[test]
fn yaml_syntax_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, "format: registre/v1\norganisations: [\n").unwrap();
    let output = registre(&["audit", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("broken.yaml:3: YAML illisible"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn missing_files_and_unknown_options_exit_2() {
    let output = registre(&["audit", "tests/fixtures/nowhere.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nowhere.yaml"));
    let output = registre(&[
        "audit",
        "--disable",
        "no-such-rule",
        "examples/commune-demo.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no-such-rule"));
    let output = registre(&["audit", "--format", "xml", "examples/commune-demo.yaml"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn json_registers_are_checked_the_same_way() {
    let pack = common::pack();
    let text = r#"{"format": "registre/v1", "organisations": [{"id": "x", "name": "X", "kind": "commune",
        "siren": "123", "activities": [{"id": "a", "name": "A", "retention": {"active": "1 an"}}]}]}"#;
    let err = load_str(text, SourceFormat::Json, &pack.vocabulary, &pack.countries).unwrap_err();
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "organisations[0].siren",
            "organisations[0].activities[0].retention.active"
        ]
    );
}

#[test]
fn a_rule_with_a_type_error_is_refused_with_file_and_line() {
    let bad = "// a rule on an attribute that does not exist\n\n@id(\"bad-rule\")\n@kind(\"register.incomplete\")\n@severity(\"moyenne\")\n@law(\"RGPD art. 30\")\n@message(\"m\")\n@remedy(\"r\")\nforbid (principal, action == Action::\"declare\", resource)\nwhen { principal.colour == \"bleu\" };\n";
    let dir = common::pack_with("bad.cedar", bad);
    let output = registre(&["policies", "check", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("rules/bad.cedar:10:"), "{err}");
    assert!(err.contains("bad-rule"), "{err}");
    // The audit refuses to run on such a pack.
    let output = registre(&[
        "audit",
        "--policies",
        dir.path().to_str().unwrap(),
        "examples/commune-demo.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_rule_without_annotations_or_with_an_unknown_kind_is_refused() {
    let bad = "@id(\"no-law\")\n@kind(\"register.incomplete\")\n@severity(\"moyenne\")\n@message(\"m\")\n@remedy(\"r\")\nforbid (principal, action == Action::\"declare\", resource);\n\n@id(\"odd-kind\")\n@kind(\"purpose.bad\")\n@severity(\"moyenne\")\n@law(\"l\")\n@message(\"m\")\n@remedy(\"r\")\nforbid (principal, action == Action::\"declare\", resource);\n";
    let dir = common::pack_with("bad.cedar", bad);
    let output = registre(&["policies", "check", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("rules/bad.cedar:1:") && err.contains("@law"),
        "{err}"
    );
    assert!(
        err.contains("rules/bad.cedar:8:") && err.contains("purpose.bad"),
        "{err}"
    );
}

#[test]
fn a_missing_pack_folder_exits_2() {
    let output = registre(&["policies", "check", "tests/fixtures/no-such-pack"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_built_in_pack_checks() {
    let output = registre(&["policies", "check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn registers_round_trip_through_yaml_and_json() {
    let pack = common::pack();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap() != "expected.yaml")
            .collect();
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/commune-demo.yaml"));
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let original = common::load(&text);
        let yaml = to_yaml(&original);
        let again = load_str(&yaml, SourceFormat::Yaml, &pack.vocabulary, &pack.countries).unwrap();
        assert_eq!(again, original, "{} through YAML", file.display());
        let json = to_json(&original);
        let again = load_str(&json, SourceFormat::Json, &pack.vocabulary, &pack.countries).unwrap();
        assert_eq!(again, original, "{} through JSON", file.display());
        // Every field given is written back: the tree read from the file equals the one written.
        let mut tree = registre::yaml::parse(&text).unwrap();
        strip_nulls(&mut tree);
        assert_eq!(
            registre::yaml::parse(&yaml).unwrap(),
            tree,
            "{}",
            file.display()
        );
    }
}

fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}
