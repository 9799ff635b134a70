//! SARIF 2.1.0 output, so that findings show up in code-review tools for registers kept in git.

use serde_json::{Value, json};

use super::{Report, Severity};
use crate::model::Register;
use crate::yaml::LineIndex;

/// One audited file.
pub struct Audited<'a> {
    /// The file as given on the command line (a relative URI).
    pub uri: &'a str,
    pub text: &'a str,
    pub register: &'a Register,
    pub report: &'a Report,
}

/// The line where an organisation or one of its activities starts (YAML files only).
fn line_of(
    lines: &LineIndex,
    register: &Register,
    organisation: &str,
    activity: Option<&str>,
) -> Option<usize> {
    let i = register
        .organisations
        .iter()
        .position(|o| o.id == organisation)?;
    let path = match activity {
        None => format!("organisations[{i}]"),
        Some(a) => {
            let j = register.organisations[i]
                .activities()
                .iter()
                .position(|x| x.id == a)?;
            format!("organisations[{i}].activities[{j}]")
        }
    };
    lines.line_of(&path)
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critique | Severity::Elevee => "error",
        Severity::Moyenne => "warning",
        Severity::Info => "note",
    }
}

/// One SARIF log for the reports of one or more files.
pub fn render(files: &[Audited<'_>]) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_index = std::collections::BTreeMap::new();
    let mut results = Vec::new();
    let mut pack = None;
    for file in files {
        let report = file.report;
        pack.get_or_insert_with(|| report.policy_pack.clone());
        let lines = crate::yaml::parse_with_lines(file.text)
            .ok()
            .map(|(_, lines)| lines);
        for f in &report.findings {
            let index = *rule_index.entry(f.rule.clone()).or_insert_with(|| {
                rules.push(json!({
                    "id": f.rule,
                    "name": f.kind,
                    "shortDescription": {"text": f.kind},
                    "fullDescription": {"text": f.message},
                    "help": {"text": format!("{}\nBase : {}", f.remedy, f.law)},
                    "defaultConfiguration": {"level": level(f.severity)},
                    "properties": {"kind": f.kind, "severity": f.severity.as_str(), "law": f.law}
                }));
                rules.len() - 1
            });
            let mut physical = json!({"artifactLocation": {"uri": file.uri}});
            let line = lines
                .as_ref()
                .and_then(|l| line_of(l, file.register, &f.organisation, f.activity.as_deref()));
            if let Some(line) = line {
                physical["region"] = json!({"startLine": line});
            }
            let logical = match &f.activity {
                Some(a) => format!("{}/{a}", f.organisation),
                None => f.organisation.clone(),
            };
            let mut text = format!("{} — {}", logical, f.message);
            if let Some(related) = &f.related_activity {
                text.push_str(&format!(" (source : {related})"));
            }
            results.push(json!({
                "ruleId": f.rule,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": physical,
                    "logicalLocations": [{"fullyQualifiedName": logical, "kind": "module"}]
                }],
                "properties": {
                    "kind": f.kind,
                    "severity": f.severity.as_str(),
                    "organisation": f.organisation,
                    "activity": f.activity,
                    "related_activity": f.related_activity,
                    "law": f.law,
                    "remedy": f.remedy
                }
            }));
        }
    }
    let pack = pack.map(|p| json!({"name": p.name, "version": p.version}));
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "registre",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://www.cnil.fr/fr/RGDP-le-registre-des-activites-de-traitement",
                "rules": rules,
                "properties": {"policy_pack": pack}
            }},
            "results": results
        }]
    })
}
