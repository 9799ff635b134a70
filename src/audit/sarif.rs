//! SARIF 2.1.0 output, so that findings show up in code-review tools for registers kept in git.

use serde_json::{Value, json};

use super::{Report, Severity};

/// Where the audited file and its activities are, for result locations.
pub struct Artifact<'a> {
    /// The file as given on the command line (a relative URI).
    pub uri: &'a str,
    /// Line of an activity (`organisation/activity`) or organisation, when known.
    pub line_of: &'a dyn Fn(&str, Option<&str>) -> Option<usize>,
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critique | Severity::Elevee => "error",
        Severity::Moyenne => "warning",
        Severity::Info => "note",
    }
}

/// One SARIF log for the reports of one or more files.
pub fn render(reports: &[(Artifact<'_>, &Report)]) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_index = std::collections::BTreeMap::new();
    let mut results = Vec::new();
    let mut pack = None;
    for (artifact, report) in reports {
        pack.get_or_insert_with(|| report.policy_pack.clone());
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
            let mut physical = json!({"artifactLocation": {"uri": artifact.uri}});
            if let Some(line) = (artifact.line_of)(&f.organisation, f.activity.as_deref()) {
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
