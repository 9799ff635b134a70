//! The legal scenarios of `tests/scenarios/` give the findings of `expected.yaml`, and the
//! activities listed as clean get no finding of severity critique, elevee or moyenne.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::path::Path;

use registre::audit::Severity;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default)]
    findings: Vec<ExpectedFinding>,
    #[serde(default)]
    clean: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFinding {
    #[serde(default)]
    organisation: Option<String>,
    activity: Option<String>,
    kind: Kinds,
    #[serde(default)]
    related_activity: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Kinds {
    One(String),
    AnyOf(Vec<String>),
}

impl Kinds {
    fn matches(&self, kind: &str) -> bool {
        match self {
            Kinds::One(k) => k == kind,
            Kinds::AnyOf(ks) => ks.iter().any(|k| k == kind),
        }
    }
}

#[test]
fn every_scenario_gives_its_expected_findings() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let expected_text = std::fs::read_to_string(dir.join("expected.yaml")).unwrap();
    let expected: std::collections::BTreeMap<String, Expected> =
        serde_json::from_value(registre::yaml::parse(&expected_text).unwrap()).unwrap();
    assert!(expected.len() >= 17, "expected.yaml lists every scenario");
    let mut failures = Vec::new();
    for (name, expectation) in &expected {
        let text = std::fs::read_to_string(dir.join(format!("{name}.yaml"))).unwrap();
        let report = common::audit_text(&text);
        for want in &expectation.findings {
            let found = report.findings.iter().any(|f| {
                want.kind.matches(&f.kind)
                    && f.activity == want.activity
                    && want
                        .organisation
                        .as_ref()
                        .is_none_or(|o| *o == f.organisation)
                    && want
                        .related_activity
                        .as_ref()
                        .is_none_or(|r| Some(r) == f.related_activity.as_ref())
            });
            if !found {
                failures.push(format!("{name}: missing {want:?}"));
            }
        }
        for clean in &expectation.clean {
            for f in report
                .findings
                .iter()
                .filter(|f| f.activity.as_deref() == Some(clean.as_str()))
            {
                if f.severity.reaches(Severity::Moyenne) {
                    failures.push(format!(
                        "{name}: `{clean}` should be clean but has {} ({}, {})",
                        f.rule, f.kind, f.severity
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn findings_carry_law_message_and_remedy() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let text = std::fs::read_to_string(dir.join("02-liste-electorale-vers-ccas.yaml")).unwrap();
    let report = common::audit_text(&text);
    let forbidden = report
        .findings
        .iter()
        .find(|f| f.kind == "purpose.reuse_forbidden")
        .expect("the electoral list reuse is found");
    assert_eq!(forbidden.organisation, "ccas-ville-exemple");
    assert_eq!(
        forbidden.related_activity.as_deref(),
        Some("liste-electorale")
    );
    assert_eq!(forbidden.severity, Severity::Critique);
    assert!(forbidden.law.contains("L.37"), "{}", forbidden.law);
    assert!(!forbidden.message.is_empty() && !forbidden.remedy.is_empty());
    assert_eq!(report.policy_pack.name, common::pack().info.name);
}
