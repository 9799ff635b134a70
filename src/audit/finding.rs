//! Findings and the audit report, in the shape `spec/findings.md` fixes for outside tools.

use std::fmt;
use std::str::FromStr;

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
}
