//! The command line: each subcommand reads its input, calls the library and maps the outcome
//! to an exit status. Documented exit statuses: 0 success, 1 findings at or above `--fail-on`
//! (or invalid rules for `policies check`), 2 unreadable or invalid input.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::audit::{self, PackError, PolicyPack, Report, Severity};
use crate::demo::{self, SyntheticSpec};
use crate::model::{self, LoadError, Outside, Register, SourceFormat, Unchecked};
use crate::vocabulary::Kind;

#[derive(Debug, Parser)]
#[command(
    name = "registre",
    version,
    about = "Registre des traitements RGPD des collectivités, règles de finalité et audit"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lance le service web (interface et API JSON) ; au premier démarrage, crée un compte
    /// administrateur et charge la commune de démonstration.
    Serve(serve::ServeArgs),
    /// Audite un ou plusieurs fichiers de registre, hors ligne.
    Audit(AuditArgs),
    /// Vérifie un jeu de règles (schéma, annotations, typage).
    Policies {
        #[command(subcommand)]
        command: PoliciesCommand,
    },
    /// Liste les identifiants du vocabulaire et leurs libellés.
    Vocabulary(VocabularyArgs),
    /// Registre de démonstration et registres synthétiques.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// Charge un fichier de registre dans la base (chaque organisme remplace celui de même
    /// identifiant ; chaque modification est historisée).
    Import(store::ImportArgs),
    /// Écrit le registre de la base, tel qu'il est ou tel qu'il était à une date.
    Export(store::ExportArgs),
    /// Liste les modifications d'un organisme ou d'une activité.
    History(store::HistoryArgs),
    /// Sauvegarde toute la base (schéma, registre, historique, comptes) dans un fichier.
    Backup(store::FileArgs),
    /// Restaure une sauvegarde dans une base neuve.
    Restore(store::FileArgs),
    /// Notice d'information d'une activité (RGPD art. 13 et 14) : HTML, PDF, texte ou mention
    /// courte.
    Notice(notice::DocumentArgs),
    /// Formulaire de consentement d'une activité fondée sur le consentement : HTML ou PDF.
    ConsentForm(notice::DocumentArgs),
    /// Registre des consentements : enregistrer, retirer, vérifier, prouver.
    Consent {
        #[command(subcommand)]
        command: consent::ConsentCommand,
    },
    /// Comptes des utilisateurs du service.
    User {
        #[command(subcommand)]
        command: users::UserCommand,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FailOn {
    Critique,
    Elevee,
    Moyenne,
    Info,
}

impl From<FailOn> for Severity {
    fn from(f: FailOn) -> Self {
        match f {
            FailOn::Critique => Severity::Critique,
            FailOn::Elevee => Severity::Elevee,
            FailOn::Moyenne => Severity::Moyenne,
            FailOn::Info => Severity::Info,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Fichiers de registre (YAML ou JSON, format registre/v1).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Sortie en erreur (code 1) dès qu'un constat atteint cette gravité.
    #[arg(long, value_enum, default_value = "critique")]
    pub fail_on: FailOn,
    /// Dossier d'un jeu de règles à la place du jeu intégré.
    #[arg(long)]
    pub policies: Option<PathBuf>,
    /// Désactive une règle par son identifiant (répétable).
    #[arg(long = "disable", value_name = "RULE")]
    pub disabled: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// Vérifie un dossier de règles (le jeu intégré sans argument).
    Check { dir: Option<PathBuf> },
    /// Liste les règles du jeu avec leur type de constat, gravité et texte.
    List { dir: Option<PathBuf> },
}

#[derive(Debug, clap::Args)]
pub struct VocabularyArgs {
    /// Une seule liste (purposes, data_categories, data_subjects, legal_bases …).
    #[arg(long)]
    pub list: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Écrit le registre de démonstration (une commune et son CCAS).
    Register,
    /// Écrit un registre synthétique déterministe pour les essais de charge.
    Synthetic {
        #[arg(long, default_value_t = 700)]
        organisations: usize,
        #[arg(long, default_value_t = 40)]
        activities: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Fichier de sortie (sortie standard sinon); `.json` donne du JSON.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Enregistre dans la base des consentements synthétiques (personnes inventées, en ligne)
    /// pour les essais de charge.
    Consents(consent::SyntheticArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Serve(args) => serve::serve(&args),
        Command::Audit(args) => audit_files(&args),
        Command::Policies { command } => policies(command),
        Command::Vocabulary(args) => vocabulary(&args),
        Command::Demo { command } => demo_command(command),
        Command::Import(args) => store::import(&args),
        Command::Export(args) => store::export(&args),
        Command::History(args) => store::history(&args),
        Command::Notice(args) => notice::document(&args, crate::service::DocumentKind::Notice),
        Command::ConsentForm(args) => {
            notice::document(&args, crate::service::DocumentKind::ConsentForm)
        }
        Command::Consent { command } => consent::run(command),
        Command::User { command } => users::run(command),
        Command::Backup(args) => store::backup(&args),
        Command::Restore(args) => store::restore(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

mod consent;
mod notice;
mod serve;
mod store;
mod users;

/// Why a command stopped.
enum Failure {
    /// The reader of our output went away (`registre audit … | head`): not an error.
    BrokenPipe,
    /// Unreadable or invalid input: exit status 2 with this message.
    Input(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Input(format!("registre: écriture impossible : {e}"))
        }
    }
}

fn load_pack(dir: Option<&Path>) -> Result<PolicyPack, PackError> {
    match dir {
        Some(dir) => PolicyPack::from_dir(dir),
        None => PolicyPack::builtin(),
    }
}

fn read_register(path: &Path, pack: &PolicyPack) -> Result<(String, Register), Failure> {
    let text = read_text(path)?;
    let register = check_register(path, &text, pack)?;
    Ok((text, register))
}

fn read_text(path: &Path) -> Result<String, Failure> {
    let bytes = std::fs::read(path).map_err(|e| Failure::Input(unreadable(path, &e)))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        Failure::Input(not_utf8(path, &e.into_bytes()[..valid]))
    })
}

fn unreadable(path: &Path, error: &io::Error) -> String {
    format!("registre: {}: lecture impossible : {error}", path.display())
}

/// The text of a file, which must be UTF-8.
fn as_text<'b>(path: &Path, bytes: &'b [u8]) -> Result<&'b str, String> {
    simdutf8::basic::from_utf8(bytes).map_err(|_| {
        let valid = std::str::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), str::len);
        not_utf8(path, &bytes[..valid])
    })
}

/// A file that stops being UTF-8 after `valid`: where, to fix it.
fn not_utf8(path: &Path, valid: &[u8]) -> String {
    let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
    format!(
        "registre: {}: le fichier n'est pas en UTF-8 (ligne {line}) ; enregistrez-le en UTF-8",
        path.display()
    )
}

fn check_register(path: &Path, text: &str, pack: &PolicyPack) -> Result<Register, Failure> {
    let name = path.display().to_string();
    let format = SourceFormat::from_file_name(&name);
    model::load_str(text, format, &pack.vocabulary, &pack.countries)
        .map_err(|e| Failure::Input(describe_load_error(&name, &e)))
}

/// `FILE:LINE: path: message`, one line per error.
pub fn describe_load_error(name: &str, error: &LoadError) -> String {
    let n = error.errors.len();
    let mut out = format!(
        "registre: {name}: {n} erreur{} ; le fichier n'a pas été pris en compte",
        if n > 1 { "s" } else { "" }
    );
    for e in &error.errors {
        out.push_str(&format!("\n{name}:"));
        if let Some(line) = e.line {
            out.push_str(&format!("{line}:"));
        }
        if !e.path.is_empty() {
            out.push_str(&format!(" {}:", e.path));
        }
        out.push_str(&format!(" {}", e.message));
    }
    out
}

fn audit_files(args: &AuditArgs) -> Result<ExitCode, Failure> {
    // The rule pack loads while the files are read: together, they are most of the time of
    // a small audit.
    let policies = args.policies.clone();
    let loading = std::thread::spawn(move || load_pack(policies.as_deref()));
    let contents: Vec<Result<Vec<u8>, String>> = args
        .files
        .iter()
        .map(|path| std::fs::read(path).map_err(|e| unreadable(path, &e)))
        .collect();
    let read: Vec<Result<Unchecked<'_>, String>> = args
        .files
        .iter()
        .zip(&contents)
        .map(|(path, bytes)| {
            let format = SourceFormat::from_file_name(&path.display().to_string());
            let text = as_text(path, bytes.as_ref().map_err(String::clone)?)?;
            Ok(model::read_str(text, format))
        })
        .collect();
    let pack = loading
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let mut pack = pack.map_err(|e| Failure::Input(format!("registre: {e}")))?;
    let unknown = pack.disable(&args.disabled);
    if !unknown.is_empty() {
        return Err(Failure::Input(format!(
            "registre: --disable : règle(s) inconnue(s) : {}",
            unknown.join(", ")
        )));
    }
    let mut audited = Vec::new();
    let mut problems = Vec::new();
    for (path, read) in args.files.iter().zip(read) {
        let name = path.display().to_string();
        let checked = read.and_then(|read| {
            let text = read.text();
            read.check(&pack.vocabulary, &pack.countries, &Outside::new())
                .map(|register| (text, register))
                .map_err(|e| describe_load_error(&name, &e))
        });
        match checked {
            Ok((text, register)) => audited.push((name, text, register)),
            Err(message) => problems.push(message),
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Input(problems.join("\n")));
    }
    let mut reports = Vec::new();
    for (name, _, register) in &audited {
        let report = audit::audit(register, &pack)
            .map_err(|e| Failure::Input(format!("registre: {name}: {e}")))?;
        reports.push(report);
    }
    let threshold = Severity::from(args.fail_on);
    let fails = reports.iter().any(|r| r.fails(threshold));

    // Buffered: the standard output flushes at every line otherwise.
    let mut out = io::BufWriter::new(io::stdout().lock());
    match args.format {
        OutputFormat::Json => {
            let report = merge(reports);
            report.write_json_pretty(&mut out)?;
            writeln!(out)?;
            // Freed with the process, as the registers below.
            std::mem::forget(report);
        }
        OutputFormat::Sarif => {
            let files: Vec<audit::sarif::Audited<'_>> = audited
                .iter()
                .zip(&reports)
                .map(|((uri, text, register), report)| audit::sarif::Audited {
                    uri,
                    text,
                    register,
                    report,
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &audit::sarif::render(&files))
                .map_err(io::Error::from)?;
            writeln!(out)?;
        }
        OutputFormat::Text => {
            // Colours only on a terminal (and never with NO_COLOR).
            let choice = anstream::AutoStream::choice(&io::stdout());
            let mut coloured = anstream::AutoStream::new(&mut out as &mut dyn Write, choice);
            for ((name, _, register), report) in audited.iter().zip(&reports) {
                audit::text::render(&mut coloured, register, report, name)?;
            }
        }
    }
    out.flush()?;
    // The process ends here: freeing the registers and the rules piece by piece would only
    // delay the exit.
    std::mem::forget((audited, pack));
    Ok(if fails {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One report for several files: counts add up, findings follow the file order.
fn merge(reports: Vec<Report>) -> Report {
    let mut iter = reports.into_iter();
    let Some(mut first) = iter.next() else {
        return Report {
            policy_pack: audit::PackInfo {
                name: String::new(),
                version: String::new(),
            },
            organisations: 0,
            activities: 0,
            findings: Vec::new(),
        };
    };
    for r in iter {
        first.organisations += r.organisations;
        first.activities += r.activities;
        first.findings.extend(r.findings);
    }
    first
}

fn policies(command: PoliciesCommand) -> Result<ExitCode, Failure> {
    let (dir, list) = match command {
        PoliciesCommand::Check { dir } => (dir, false),
        PoliciesCommand::List { dir } => (dir, true),
    };
    let pack = match load_pack(dir.as_deref()) {
        Ok(pack) => pack,
        Err(e @ PackError::Invalid(_)) => {
            eprintln!("registre: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e @ PackError::Unreadable(_)) => return Err(Failure::Input(format!("registre: {e}"))),
    };
    let mut out = io::stdout().lock();
    if list {
        for rule in pack.rules() {
            if rule.forbids {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    rule.id, rule.kind, rule.severity, rule.law
                )?;
            } else {
                writeln!(out, "{}\tpermet\t-\t{}", rule.id, rule.law)?;
            }
        }
    } else {
        let forbids = pack.rules().filter(|r| r.forbids).count();
        let permits = pack.rules().count() - forbids;
        writeln!(
            out,
            "jeu de règles {} {} valide : {forbids} règles de constat, {permits} règles d'autorisation",
            pack.info.name, pack.info.version
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn vocabulary(args: &VocabularyArgs) -> Result<ExitCode, Failure> {
    let pack = load_pack(None).map_err(|e| Failure::Input(format!("registre: {e}")))?;
    let kinds: Vec<Kind> = match &args.list {
        None => Kind::ALL.to_vec(),
        Some(name) => match Kind::ALL.iter().find(|k| k.key() == name) {
            Some(kind) => vec![*kind],
            None => {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.key()).collect();
                return Err(Failure::Input(format!(
                    "registre: --list : liste `{name}` inconnue ; listes : {}",
                    names.join(", ")
                )));
            }
        },
    };
    let vocabulary = &pack.vocabulary;
    let mut out = io::stdout().lock();
    match args.format {
        ListFormat::Json => {
            let value: serde_json::Map<String, serde_json::Value> = kinds
                .iter()
                .map(|k| {
                    let terms: Vec<_> = vocabulary
                        .terms(*k)
                        .iter()
                        .map(|t| serde_json::json!({"id": t.id, "label": t.label, "parent": t.parent, "dpv": t.dpv}))
                        .collect();
                    (k.key().to_owned(), serde_json::Value::Array(terms))
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &value).map_err(io::Error::from)?;
            writeln!(out)?;
        }
        ListFormat::Text => {
            for kind in kinds {
                writeln!(out, "# {} ({})", kind.key(), kind.noun())?;
                for term in vocabulary.terms(kind) {
                    let depth = vocabulary.lineage(kind, &term.id).count() - 1;
                    writeln!(out, "{}{}\t{}", "  ".repeat(depth), term.id, term.label)?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn demo_command(command: DemoCommand) -> Result<ExitCode, Failure> {
    let pack = load_pack(None).map_err(|e| Failure::Input(format!("registre: {e}")))?;
    let (register, output) = match command {
        DemoCommand::Register => (
            demo::demo_register(&pack.vocabulary, &pack.countries)
                .map_err(|e| Failure::Input(describe_load_error("démo", &e)))?,
            None,
        ),
        DemoCommand::Synthetic {
            organisations,
            activities,
            seed,
            output,
        } => {
            let spec = SyntheticSpec {
                organisations,
                activities,
                seed,
            };
            let register = demo::synthetic(spec, &pack.vocabulary, &pack.countries)
                .map_err(|e| Failure::Input(describe_load_error("démo", &e)))?;
            (register, output)
        }
        DemoCommand::Consents(args) => return consent::synthetic(&args),
    };
    let json = output.as_ref().is_some_and(|p| {
        SourceFormat::from_file_name(&p.display().to_string()) == SourceFormat::Json
    });
    let text = if json {
        model::to_json(&register)
    } else {
        model::to_yaml(&register)
    };
    match output {
        Some(path) => std::fs::write(&path, text).map_err(|e| {
            Failure::Input(format!(
                "registre: {}: écriture impossible : {e}",
                path.display()
            ))
        })?,
        None => io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
