//! Retention periods: an ISO 8601 duration (`P1Y`, `P15D`, `P2Y6M`) or `permanent`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A retention period as written in the register. The text is kept as given (round trip);
/// [`Period::days`] measures it the way the audit compares periods (P1M = 30, P1Y = 365).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Period(String);

/// Days the audit counts for a permanent period: longer than any real one.
pub const PERMANENT_DAYS: i64 = 1_000_000_000;

impl Period {
    pub fn new(text: impl Into<String>) -> Self {
        Period(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_permanent(&self) -> bool {
        self.0 == "permanent"
    }

    /// Length in days (permanent = [`PERMANENT_DAYS`]); `None` when the text is not a period.
    pub fn days(&self) -> Option<i64> {
        if self.is_permanent() {
            return Some(PERMANENT_DAYS);
        }
        let span: jiff::Span = self.0.parse().ok()?;
        // ISO 8601 only: jiff also reads its "friendly" format (`1 year`), which the format refuses.
        if !self.0.starts_with('P') {
            return None;
        }
        let hours =
            i64::from(span.get_hours()) + span.get_minutes() / 60 + span.get_seconds() / 3600;
        let days = i64::from(span.get_years()) * 365
            + i64::from(span.get_months()) * 30
            + i64::from(span.get_weeks()) * 7
            + i64::from(span.get_days())
            + hours.div_euclid(24);
        // A partial day still counts as one: retention is never rounded down to zero.
        let partial = i64::from(hours.rem_euclid(24) > 0);
        (days >= 0 && !span.is_negative()).then_some(days + partial)
    }
}

impl Period {
    /// The period in French words, as a notice says it: `P2Y6M` → « 2 ans et 6 mois »,
    /// `permanent` → « sans limite de durée »; `None` when the text is not a period.
    pub fn in_words(&self) -> Option<String> {
        if self.is_permanent() {
            return Some("sans limite de durée".to_owned());
        }
        self.days()?;
        let span: jiff::Span = self.0.parse().ok()?;
        let unit = |n: i64, one: &str, many: &str| match n {
            0 => None,
            1 => Some(format!("1 {one}")),
            n => Some(format!("{n} {many}")),
        };
        let parts: Vec<String> = [
            unit(i64::from(span.get_years()), "an", "ans"),
            unit(i64::from(span.get_months()), "mois", "mois"),
            unit(i64::from(span.get_weeks()), "semaine", "semaines"),
            unit(i64::from(span.get_days()), "jour", "jours"),
            unit(i64::from(span.get_hours()), "heure", "heures"),
            unit(span.get_minutes(), "minute", "minutes"),
        ]
        .into_iter()
        .flatten()
        .collect();
        match parts.split_last() {
            None => Some("aucune conservation".to_owned()),
            Some((last, [])) => Some(last.clone()),
            Some((last, rest)) => Some(format!("{} et {last}", rest.join(", "))),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_in_days() {
        let days = |s: &str| Period::new(s).days();
        assert_eq!(days("P1M"), Some(30));
        assert_eq!(days("P1Y"), Some(365));
        assert_eq!(days("P15D"), Some(15));
        assert_eq!(days("P2Y6M"), Some(910));
        assert_eq!(days("P2W"), Some(14));
        assert_eq!(days("PT36H"), Some(2));
        assert_eq!(days("permanent"), Some(PERMANENT_DAYS));
    }

    #[test]
    fn says_itself_in_french() {
        let words = |s: &str| Period::new(s).in_words();
        assert_eq!(words("P1Y").as_deref(), Some("1 an"));
        assert_eq!(words("P2Y6M").as_deref(), Some("2 ans et 6 mois"));
        assert_eq!(words("P1Y2M3D").as_deref(), Some("1 an, 2 mois et 3 jours"));
        assert_eq!(words("P30D").as_deref(), Some("30 jours"));
        assert_eq!(words("P2W").as_deref(), Some("2 semaines"));
        assert_eq!(words("PT36H").as_deref(), Some("36 heures"));
        assert_eq!(words("permanent").as_deref(), Some("sans limite de durée"));
        assert_eq!(words("P1X"), None);
    }

    #[test]
    fn refuses_what_is_not_iso_8601() {
        for bad in ["1 year", "P", "P1X", "", "-P1D", "P1Y extra", "30 jours"] {
            assert_eq!(Period::new(bad).days(), None, "{bad}");
        }
    }
}
