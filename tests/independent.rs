//! Registers written from the law alone by DPOs who never saw the rules (`tests/fixtures/
//! independent/`), each with the findings the law calls for (`expected`) and those it rules
//! out (`absent`): the rules are judged on shapes they were not fitted to.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::path::Path;

use registre::audit::Finding;
use serde_json::Value;

/// Whether `finding` has every field `wanted` gives (kind, severity, activity …).
fn matches(finding: &Finding, wanted: &Value) -> bool {
    let finding = serde_json::to_value(finding).unwrap();
    wanted
        .as_object()
        .unwrap()
        .iter()
        .all(|(key, value)| finding.get(key) == Some(value))
}

#[test]
fn registers_written_from_the_law_alone_give_what_the_law_calls_for() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/independent");
    let mut checked = 0;
    let mut failures = Vec::new();
    for set in ["a", "b"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(set))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.ends_with(".yaml") && !name.ends_with(".expected.yaml")
            })
            .collect();
        files.sort();
        for path in files {
            let name = format!("{set}/{}", path.file_name().unwrap().to_string_lossy());
            let expected_path = path.with_extension("expected.yaml");
            let expected =
                registre::yaml::parse(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
            let report = common::audit_text(&std::fs::read_to_string(&path).unwrap());
            for wanted in expected["expected"].as_array().into_iter().flatten() {
                if !report.findings.iter().any(|f| matches(f, wanted)) {
                    failures.push(format!("{name}: missing {wanted}"));
                }
            }
            for unwanted in expected["absent"].as_array().into_iter().flatten() {
                let found: Vec<&str> = report
                    .findings
                    .iter()
                    .filter(|f| matches(f, unwanted))
                    .map(|f| f.rule.as_str())
                    .collect();
                if !found.is_empty() {
                    failures.push(format!("{name}: false alarm {unwanted} from {found:?}"));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} registers found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
