//! `registre consent …`: the consent ledger from the command line, through the same service
//! functions as the web. Output is JSON, as the API gives it.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use jiff::Timestamp;
use serde::Serialize;

use super::store::{Database, open};
use super::{Failure, load_pack};
use crate::auth::Actor;
use crate::consent::{self, Channel, TreeHead};
use crate::service::{self, Act, Recording, Registre};

#[derive(Debug, clap::Subcommand)]
pub enum ConsentCommand {
    /// Enregistre un consentement reçu par un agent (papier au guichet, courrier…).
    Record(RecordArgs),
    /// Enregistre le retrait d'un consentement.
    Withdraw(WithdrawArgs),
    /// Dit si le consentement d'une personne permet l'usage, maintenant.
    Check(CheckArgs),
    /// Identité (sauf effacée) et événements d'une personne.
    History(SubjectArgs),
    /// Efface l'identité d'une personne ; ses événements restent, sous leur identifiant opaque.
    Erase(SubjectArgs),
    /// Recalcule le registre des consentements d'un organisme et le confronte aux têtes
    /// d'arbre publiées.
    Verify(VerifyArgs),
    /// Signe et affiche la tête d'arbre d'un organisme (taille, racine, date, signature).
    Head(OrganisationArgs),
    /// Reconstruit l'état courant des consentements à partir des événements.
    Rebuild(OrganisationArgs),
    /// Reçu d'un événement (ISO/IEC TS 27560, JSON-LD), avec sa preuve d'inclusion ; en PDF
    /// avec --pdf.
    Receipt(ReceiptArgs),
    /// Les personnes dont le consentement permet un usage, maintenant (CSV pour un envoi de
    /// courrier ou la publication de photos, ou JSON).
    Export(ExportArgs),
    /// Nombre de personnes par état pour chaque choix du formulaire d'une activité.
    Counts(ActivityArgs),
    /// Preuve des consentements d'une personne : événements, formulaires vus, preuves
    /// d'inclusion (JSON ; PDF avec --pdf).
    Proof(ProofArgs),
    /// Vérifie un reçu hors ligne avec la clé publique publiée par l'organisme.
    VerifyReceipt(VerifyReceiptArgs),
}

#[derive(Debug, clap::Args)]
pub struct ReceiptArgs {
    #[command(flatten)]
    pub organisation: OrganisationArgs,
    /// Le numéro de l'événement dans le registre de l'organisme.
    #[arg(long)]
    pub event: u64,
    /// Écrit le reçu en PDF dans ce fichier.
    #[arg(long)]
    pub pdf: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ActivityArgs {
    #[command(flatten)]
    pub organisation: OrganisationArgs,
    #[arg(long)]
    pub activity: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub activity: ActivityArgs,
    /// Le choix (identifiant du formulaire) dont l'usage est demandé.
    #[arg(long)]
    pub choice: String,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
}

#[derive(Debug, clap::Args)]
pub struct ProofArgs {
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// Écrit la preuve en PDF dans ce fichier (le JSON va toujours sur la sortie).
    #[arg(long)]
    pub pdf: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyReceiptArgs {
    /// Le reçu (JSON).
    pub file: PathBuf,
    /// La clé publique de l'organisme (hexadécimal), telle qu'il la publie.
    #[arg(long)]
    pub public_key: String,
}

#[derive(Debug, clap::Args)]
pub struct OrganisationArgs {
    #[arg(long)]
    pub organisation: String,
    #[command(flatten)]
    pub database: Database,
    /// Agent inscrit dans les événements et l'historique.
    #[arg(long, env = "USER", default_value = "registre")]
    pub author: String,
}

#[derive(Debug, clap::Args)]
pub struct SubjectArgs {
    #[command(flatten)]
    pub organisation: OrganisationArgs,
    /// L'identifiant opaque de la personne.
    #[arg(long)]
    pub subject: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ChannelArg {
    Guichet,
    Courrier,
    Email,
    Telephone,
}

impl From<ChannelArg> for Channel {
    fn from(channel: ChannelArg) -> Self {
        match channel {
            ChannelArg::Guichet => Channel::Guichet,
            ChannelArg::Courrier => Channel::Courrier,
            ChannelArg::Email => Channel::Email,
            ChannelArg::Telephone => Channel::Telephone,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub organisation: OrganisationArgs,
    #[arg(long)]
    pub activity: String,
    /// Un choix accepté (identifiant du formulaire) ; les autres choix sont refusés.
    #[arg(long = "choice")]
    pub choices: Vec<String>,
    /// Une personne déjà enregistrée (renouvellement) ; une nouvelle sinon.
    #[arg(long)]
    pub subject: Option<String>,
    /// Nom de la personne (ou de l'enfant), gardé à part des événements.
    #[arg(long)]
    pub name: Option<String>,
    /// Adresse électronique pour le reçu, gardée à part des événements.
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long, value_enum)]
    pub channel: ChannelArg,
    /// Date de signature du formulaire papier (AAAA-MM-JJ).
    #[arg(long)]
    pub signed_on: Option<String>,
    /// Le formulaire signé numérisé (PDF, JPEG ou PNG, 10 Mo au plus).
    #[arg(long)]
    pub scan: Option<PathBuf>,
    /// La personne est mineure : signent les titulaires de l'autorité parentale.
    #[arg(long)]
    pub minor: bool,
    /// Nombre de titulaires de l'autorité parentale qui ont signé.
    #[arg(long, default_value_t = 0)]
    pub holders: usize,
    /// L'enfant a signé aussi.
    #[arg(long)]
    pub child_signs: bool,
    /// Renouvellement d'un consentement (avec --subject).
    #[arg(long)]
    pub renew: bool,
}

#[derive(Debug, clap::Args)]
pub struct WithdrawArgs {
    #[command(flatten)]
    pub subject: SubjectArgs,
    #[arg(long)]
    pub activity: String,
    /// Un choix retiré.
    #[arg(long = "choice", required = true)]
    pub choices: Vec<String>,
    #[arg(long, value_enum)]
    pub channel: ChannelArg,
    /// La personne est mineure : le retrait vient d'un titulaire de l'autorité parentale.
    #[arg(long)]
    pub minor: bool,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub subject: SubjectArgs,
    #[arg(long)]
    pub activity: String,
    #[arg(long)]
    pub choice: String,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub organisation: OrganisationArgs,
    /// Une tête d'arbre notée auparavant (fichier JSON, tel que `registre consent head`
    /// l'écrit) ; plusieurs possibles.
    #[arg(long = "head")]
    pub heads: Vec<PathBuf>,
}

pub fn run(command: ConsentCommand) -> Result<ExitCode, Failure> {
    match command {
        ConsentCommand::Record(args) => record(args),
        ConsentCommand::Withdraw(args) => withdraw(args),
        ConsentCommand::Check(args) => {
            let subject = &args.subject;
            with_service(&subject.organisation, async |s, actor, now| {
                let org = &subject.organisation.organisation;
                s.check_consent(
                    &actor,
                    org,
                    &args.activity,
                    &subject.subject,
                    &args.choice,
                    now,
                )
                .await
            })
        }
        ConsentCommand::History(args) => with_service(&args.organisation, async |s, actor, _| {
            s.consent_history(&actor, &args.organisation.organisation, &args.subject)
                .await
        }),
        ConsentCommand::Erase(args) => with_service(&args.organisation, async |s, actor, now| {
            s.erase_consent_subject(&actor, &args.organisation.organisation, &args.subject, now)
                .await
                .map(|()| serde_json::json!({ "erased": args.subject }))
        }),
        ConsentCommand::Verify(args) => verify(&args),
        ConsentCommand::Head(args) => with_service(&args, async |s, actor, now| {
            s.sign_tree_head(&actor, &args.organisation, now).await
        }),
        ConsentCommand::Receipt(args) => with_service(&args.organisation, async |s, actor, now| {
            let org = &args.organisation.organisation;
            if let Some(path) = &args.pdf {
                let pdf = s
                    .consent_receipt_pdf(Some(&actor), org, args.event, None, now)
                    .await?;
                return written(path, &pdf);
            }
            s.consent_receipt(Some(&actor), org, args.event, None, now)
                .await
        }),
        ConsentCommand::Export(args) => export(&args),
        ConsentCommand::Counts(args) => with_service(&args.organisation, async |s, actor, now| {
            s.consent_counts(&actor, &args.organisation.organisation, &args.activity, now)
                .await
        }),
        ConsentCommand::Proof(args) => {
            let subject = &args.subject;
            with_service(&subject.organisation, async |s, actor, now| {
                let org = &subject.organisation.organisation;
                if let Some(path) = &args.pdf {
                    let pdf = s
                        .proof_bundle_pdf(&actor, org, &subject.subject, now)
                        .await?;
                    written(path, &pdf)?;
                }
                let bundle = s.proof_bundle(&actor, org, &subject.subject, now).await?;
                serde_json::to_value(bundle).map_err(|e| service::Error::Internal(e.to_string()))
            })
        }
        ConsentCommand::VerifyReceipt(args) => verify_receipt(&args),
        ConsentCommand::Rebuild(args) => with_service(&args, async |s, actor, _| {
            s.rebuild_consents(&actor, &args.organisation)
                .await
                .map(|answers| serde_json::json!({ "answers": answers }))
        }),
    }
}

/// Opens the service, runs `call` as the command line's actor, prints its answer in JSON.
fn with_service<T: Serialize>(
    args: &OrganisationArgs,
    call: impl AsyncFnOnce(&Registre, Actor, Timestamp) -> service::Result<T>,
) -> Result<ExitCode, Failure> {
    let (runtime, registre) = service_of(&args.database)?;
    let actor = Actor::command_line(&args.author);
    let answer = runtime
        .block_on(call(&registre, actor, Timestamp::now()))
        .map_err(service_failure)?;
    print_json(&answer)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes a file a command was asked for; what the command prints says where.
fn written(path: &std::path::Path, bytes: &[u8]) -> service::Result<serde_json::Value> {
    std::fs::write(path, bytes).map_err(|e| {
        service::Error::Internal(format!("{} : écriture impossible : {e}", path.display()))
    })?;
    Ok(serde_json::json!({ "written": path.display().to_string(), "bytes": bytes.len() }))
}

fn export(args: &ExportArgs) -> Result<ExitCode, Failure> {
    let activity = &args.activity;
    let (runtime, registre) = service_of(&activity.organisation.database)?;
    let actor = Actor::command_line(&activity.organisation.author);
    let people = runtime
        .block_on(registre.allowed_subjects(
            &actor,
            &activity.organisation.organisation,
            &activity.activity,
            &args.choice,
            Timestamp::now(),
        ))
        .map_err(service_failure)?;
    match args.format {
        ExportFormat::Json => print_json(&people)?,
        ExportFormat::Csv => {
            let csv = service::allowed_csv(&people)
                .map_err(|e| Failure::Input(format!("registre: {e}")))?;
            io::stdout().lock().write_all(&csv)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn service_of(database: &Database) -> Result<(super::store::Runtime, Registre), Failure> {
    let pack = load_pack(None).map_err(|e| Failure::Input(format!("registre: {e}")))?;
    let (runtime, store) = open(database)?;
    Ok((runtime, Registre::new(store, std::sync::Arc::new(pack))))
}

fn service_failure(e: service::Error) -> Failure {
    Failure::Input(format!("registre: {e}"))
}

fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

fn record(args: RecordArgs) -> Result<ExitCode, Failure> {
    let scan = match &args.scan {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            Failure::Input(format!(
                "registre: {} : lecture impossible : {e}",
                path.display()
            ))
        })?),
        None => None,
    };
    let identity = (args.name.is_some() || args.email.is_some())
        .then(|| serde_json::json!({ "name": args.name, "email": args.email }));
    let recording = Recording {
        activity: args.activity.clone(),
        act: if args.renew { Act::Renew } else { Act::Answer },
        choices: args.choices.clone(),
        subject: args.subject.clone(),
        identity,
        channel: args.channel.into(),
        evidence: None,
        scan,
        signed_on: args.signed_on.clone(),
        minor: args.minor,
        holders: args.holders,
        child_signs: args.child_signs,
        key: None,
    };
    let org = &args.organisation;
    with_service(org, async |s, actor, now| {
        s.record_consent(Some(&actor), &org.organisation, recording, now)
            .await
    })
}

fn withdraw(args: WithdrawArgs) -> Result<ExitCode, Failure> {
    let recording = Recording::withdrawal(
        &args.activity,
        args.choices.clone(),
        &args.subject.subject,
        args.channel.into(),
        args.minor,
    );
    let org = &args.subject.organisation;
    with_service(org, async |s, actor, now| {
        s.record_consent(Some(&actor), &org.organisation, recording, now)
            .await
    })
}

fn verify(args: &VerifyArgs) -> Result<ExitCode, Failure> {
    let heads = args
        .heads
        .iter()
        .map(read_head)
        .collect::<Result<Vec<TreeHead>, Failure>>()?;
    let (runtime, registre) = service_of(&args.organisation.database)?;
    let actor = Actor::command_line(&args.organisation.author);
    let verification = runtime
        .block_on(registre.verify_consents(
            &actor,
            &args.organisation.organisation,
            &heads,
            Timestamp::now(),
        ))
        .map_err(service_failure)?;
    print_json(&verification)?;
    for problem in &verification.problems {
        eprintln!("registre: {problem}");
    }
    Ok(if verification.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A tree head file: the head alone, or as `registre consent head` writes it.
fn read_head(path: &PathBuf) -> Result<TreeHead, Failure> {
    let failed =
        |message: String| Failure::Input(format!("registre: {} : {message}", path.display()));
    let text =
        std::fs::read_to_string(path).map_err(|e| failed(format!("lecture impossible : {e}")))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| failed(format!("JSON illisible : {e}")))?;
    let head = value.get("head").cloned().unwrap_or(value);
    serde_json::from_value(head).map_err(|e| failed(format!("pas une tête d'arbre : {e}")))
}

fn verify_receipt(args: &VerifyReceiptArgs) -> Result<ExitCode, Failure> {
    let failed =
        |message: String| Failure::Input(format!("registre: {} : {message}", args.file.display()));
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| failed(format!("lecture impossible : {e}")))?;
    let receipt: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| failed(format!("JSON illisible : {e}")))?;
    match consent::receipt::verify(&receipt, &args.public_key) {
        Ok(event) => {
            println!(
                "reçu vérifié : événement n° {} ({}) de l'organisme « {} », inclus dans la tête d'arbre signée",
                event.seq,
                event.draft.kind.as_str(),
                event.organisation
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("registre: {} : {e}", args.file.display());
            Ok(ExitCode::from(1))
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct SyntheticArgs {
    #[command(flatten)]
    pub organisation: OrganisationArgs,
    /// Une activité fondée sur le consentement de l'organisme.
    #[arg(long)]
    pub activity: String,
    #[arg(long, default_value_t = 1000)]
    pub events: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn synthetic(args: &SyntheticArgs) -> Result<ExitCode, Failure> {
    let (runtime, registre) = service_of(&args.organisation.database)?;
    let org = &args.organisation.organisation;
    let started = std::time::Instant::now();
    let done = runtime
        .block_on(
            registre.synthetic_consents(org, &args.activity, args.events, args.seed, |n| {
                if n % 50_000 == 0 || n == args.events {
                    eprintln!("{n} événements ({:.0} s)", started.elapsed().as_secs_f64());
                }
            }),
        )
        .map_err(service_failure)?;
    println!(
        "{done} événements enregistrés pour « {} » de l'organisme `{org}`",
        args.activity
    );
    Ok(ExitCode::SUCCESS)
}
