//! The audit as text for a DPO: grouped by organisation and activity, most serious first,
//! coloured when the output is a terminal.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::{Finding, Report, Severity};
use crate::model::Register;

fn style(severity: Severity) -> Style {
    let colour = match severity {
        Severity::Critique => AnsiColor::Red,
        Severity::Elevee => AnsiColor::Magenta,
        Severity::Moyenne => AnsiColor::Yellow,
        Severity::Info => AnsiColor::Cyan,
    };
    Style::new().fg_color(Some(colour.into())).bold()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n > 1 { many } else { one })
}

/// Writes the report; `out` decides on colours (anstream strips them when not a terminal).
pub fn render(
    out: &mut dyn Write,
    register: &Register,
    report: &Report,
    file: &str,
) -> io::Result<()> {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    writeln!(
        out,
        "{bold}Audit de {file}{bold:#} — règles {} {}",
        report.policy_pack.name, report.policy_pack.version
    )?;
    let counts: Vec<String> = report
        .counts()
        .iter()
        .map(|(s, n)| format!("{} {n}", s.label()))
        .collect();
    writeln!(
        out,
        "{}, {}, {} ({})",
        plural(report.organisations, "organisme", "organismes"),
        plural(report.activities, "activité", "activités"),
        plural(report.findings.len(), "constat", "constats"),
        counts.join(", ")
    )?;
    if report.findings.is_empty() {
        writeln!(
            out,
            "\nAucun constat : le registre respecte toutes les règles du jeu."
        )?;
        return Ok(());
    }
    for org in &register.organisations {
        let mine: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.organisation == org.id)
            .collect();
        if mine.is_empty() {
            continue;
        }
        writeln!(out, "\n{bold}{} ({}){bold:#}", org.name, org.id)?;
        let groups = std::iter::once((None, "Organisme".to_owned())).chain(
            org.activities()
                .iter()
                .map(|a| (Some(a.id.as_str()), format!("{} — {}", a.id, a.name))),
        );
        for (activity, title) in groups {
            let here: Vec<&&Finding> = mine
                .iter()
                .filter(|f| f.activity.as_deref() == activity)
                .collect();
            if here.is_empty() {
                continue;
            }
            writeln!(out, "  {bold}{title}{bold:#}")?;
            for f in here {
                let s = style(f.severity);
                write!(out, "    {s}[{}]{s:#} {}", f.severity.label(), f.kind)?;
                if let Some(related) = &f.related_activity {
                    write!(out, " ← {related}")?;
                }
                writeln!(out, " {dim}({}){dim:#}", f.rule)?;
                writeln!(out, "      {}", f.message)?;
                writeln!(out, "      {dim}Texte :{dim:#} {}", f.law)?;
                writeln!(out, "      {dim}À faire :{dim:#} {}", f.remedy)?;
            }
        }
    }
    Ok(())
}
