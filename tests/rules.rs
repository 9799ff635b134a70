//! Every rule of the built-in pack, tested twice: a case where it fires, and a look-alike
//! (the smallest change that makes the situation lawful) where it must not.
//!
//! Each case edits `tests/rules/base.yaml`, a clean register (no finding at all), with JSON
//! merge patches (RFC 7396: `null` removes a field) on an organisation or an activity, or by
//! adding activities.

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
    let report = common::audit_text(&apply(edits));
    let (org, activity) = match at.split_once('/') {
        Some((o, a)) => (o, Some(a)),
        None => (at, None),
    };
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
    let findings: Vec<_> = report.findings.iter().map(|f| format!("{}/{:?}: {}", f.organisation, f.activity, f.rule)).collect();
    assert!(findings.is_empty(), "base.yaml must give no finding: {findings:#?}");
}

#[test]
fn each_rule_fires_and_its_lookalike_does_not() {
    let mut failures = Vec::new();
    for case in cases() {
        if !holds(&case, &case.fires) {
            failures.push(format!("{}: did not fire at {} (fired: {:?})", case.rule, case.at, fired_at(&case.fires, case.at)));
        }
        if holds(&case, &case.lookalike) {
            failures.push(format!("{}: fired on its look-alike at {} ({:?})", case.rule, case.at, fired_at(&case.lookalike, case.at)));
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

fn cases() -> Vec<Case> {
    vec![
        case(
            "videoprotection-retention",
            "ville/videoprotection",
            vec![patch("ville/videoprotection", json!({"retention": {"active": "P31D"}}))],
            vec![patch("ville/videoprotection", json!({"retention": {"active": "P30D"}}))],
        ),
        case(
            "dpo-missing",
            "ville",
            vec![patch("ville", json!({"dpo": null}))],
            vec![patch("ville", json!({"dpo": null, "kind": "association"}))],
        ),
    ]
}
