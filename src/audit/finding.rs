//! Findings and the audit report, in the shape `spec/findings.md` fixes for outside tools.

use std::fmt;
use std::io;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::pack::PackInfo;

/// Every finding kind (`spec/findings.md`). Kinds are stable: tools match on them.
pub const KINDS: [&str; 20] = [
    "register.incomplete",
    "legal_basis.missing",
    "legal_basis.inappropriate",
    "purpose.reuse_forbidden",
    "purpose.reuse_conditional",
    "purpose.reuse_unjustified",
    "special_category.no_exception",
    "special_category.possible",
    "criminal_data.unauthorised",
    "nir.unauthorised",
    "minimisation.excessive",
    "retention.missing",
    "retention.excessive",
    "dpia.required",
    "transfer.no_safeguard",
    "processor.no_contract",
    "consent.invalid",
    "identity.non_institutional_email",
    "dpo.missing",
    "security.measures_missing",
];

/// How serious a finding is, most serious first.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critique,
    Elevee,
    Moyenne,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critique,
        Severity::Elevee,
        Severity::Moyenne,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critique => "critique",
            Severity::Elevee => "elevee",
            Severity::Moyenne => "moyenne",
            Severity::Info => "info",
        }
    }

    /// The label a DPO reads.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Critique => "critique",
            Severity::Elevee => "élevée",
            Severity::Moyenne => "moyenne",
            Severity::Info => "info",
        }
    }

    /// Whether a finding of this severity reaches `threshold` (`critique` reaches `elevee`).
    pub fn reaches(self, threshold: Severity) -> bool {
        self <= threshold
    }
}

impl FromStr for Severity {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One defect of the register, with the law it breaks and the remedy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    pub rule: String,
    pub kind: String,
    pub severity: Severity,
    pub organisation: String,
    /// `None` for organisation-level findings.
    pub activity: Option<String>,
    /// The source activity, for reuse findings.
    pub related_activity: Option<String>,
    pub law: String,
    pub message: String,
    pub remedy: String,
}

/// The result of an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    pub policy_pack: PackInfo,
    pub organisations: usize,
    pub activities: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether some finding reaches `threshold` (exit status 1 of `registre audit`).
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity.reaches(threshold))
    }

    /// Number of findings per severity, most serious first.
    pub fn counts(&self) -> [(Severity, usize); 4] {
        Severity::ALL.map(|s| (s, self.findings.iter().filter(|f| f.severity == s).count()))
    }

    /// The report as `serde_json::to_writer_pretty` writes it, byte for byte, its findings
    /// formatted on every core: the report of a territory runs to tens of megabytes.
    pub fn write_json_pretty(&self, out: &mut impl io::Write) -> io::Result<()> {
        let header = Report {
            policy_pack: self.policy_pack.clone(),
            organisations: self.organisations,
            activities: self.activities,
            findings: Vec::new(),
        };
        let header = serde_json::to_string_pretty(&header)?;
        // `findings` is the last field: the header ends with `"findings": []` and `}`.
        let Some(head) = header.strip_suffix("[]\n}") else {
            return Err(io::Error::other("forme inattendue du rapport JSON"));
        };
        if self.findings.is_empty() {
            return out.write_all(header.as_bytes());
        }
        out.write_all(head.as_bytes())?;
        out.write_all(b"[\n")?;
        let parts: Vec<Vec<u8>> = self
            .findings
            .par_chunks(512)
            .map(|chunk| {
                let mut part = Vec::new();
                for finding in chunk {
                    if !part.is_empty() {
                        part.extend_from_slice(b",\n");
                    }
                    // Each finding two levels in: four more spaces on each of its lines (its
                    // text holds no line break, JSON escapes them).
                    part.extend_from_slice(b"    ");
                    for byte in serde_json::to_vec_pretty(finding)? {
                        part.push(byte);
                        if byte == b'\n' {
                            part.extend_from_slice(b"    ");
                        }
                    }
                }
                Ok(part)
            })
            .collect::<Result<_, serde_json::Error>>()?;
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.write_all(b",\n")?;
            }
            out.write_all(part)?;
        }
        out.write_all(b"\n  ]\n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(findings: usize) -> Report {
        Report {
            policy_pack: PackInfo {
                name: "registre-base".to_owned(),
                version: "2.0".to_owned(),
            },
            organisations: 3,
            activities: 12,
            findings: (0..findings)
                .map(|i| Finding {
                    rule: format!("regle-{i}"),
                    kind: KINDS[i % KINDS.len()].to_owned(),
                    severity: Severity::ALL[i % 4],
                    organisation: "ville-é".to_owned(),
                    activity: (i % 3 != 0).then(|| format!("activite-{i}")),
                    related_activity: (i % 5 == 0).then(|| "liste \"électorale\"".to_owned()),
                    law: "RGPD, art. 5.1.b\nligne".to_owned(),
                    message: "« texte » avec \\ et \t".to_owned(),
                    remedy: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn writes_the_report_as_serde_json_does() {
        for n in [0, 1, 2, 511, 512, 513, 1500] {
            let report = report(n);
            let mut written = Vec::new();
            report.write_json_pretty(&mut written).unwrap();
            let expected = serde_json::to_string_pretty(&report).unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                expected,
                "{n} findings"
            );
        }
    }
}
