//! Commands over the register database: import, export, history.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use jiff::Timestamp;

use super::{Failure, load_pack};
use crate::auth::Actor;
use crate::model;
use crate::service::{self, Registre};
use crate::store::{Closing, Credentials, Past, Store, StoreError};

/// The database used when neither `--database` nor `REGISTRE_DATABASE_URL` says otherwise.
pub const DEFAULT_DATABASE: &str = "surrealkv://data/registre";

#[derive(Debug, clap::Args)]
pub struct Database {
    /// Base de données : surrealkv://DOSSIER (défaut), mem:// ou ws://HÔTE:PORT (identifiants
    /// dans REGISTRE_DATABASE_USER et REGISTRE_DATABASE_PASSWORD).
    #[arg(long = "database", env = "REGISTRE_DATABASE_URL", default_value = DEFAULT_DATABASE)]
    pub url: String,
}

impl Database {
    pub(super) fn credentials() -> Option<Credentials> {
        let username = std::env::var("REGISTRE_DATABASE_USER").ok()?;
        let password = std::env::var("REGISTRE_DATABASE_PASSWORD").unwrap_or_default();
        Some(Credentials { username, password })
    }
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    pub file: PathBuf,
    #[command(flatten)]
    pub database: Database,
    /// Auteur inscrit dans l'historique.
    #[arg(long, env = "USER", default_value = "registre")]
    pub author: String,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Un seul organisme (tous sinon).
    #[arg(long)]
    pub organisation: Option<String>,
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: ExportFormat,
    /// Le registre tel qu'il était à cette date (RFC 3339, par exemple 2026-01-01T00:00:00Z).
    #[arg(long)]
    pub at: Option<Timestamp>,
    #[command(flatten)]
    pub database: Database,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Yaml,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    pub organisation: String,
    pub activity: Option<String>,
    #[command(flatten)]
    pub database: Database,
}

#[derive(Debug, clap::Args)]
pub struct FileArgs {
    pub file: PathBuf,
    #[command(flatten)]
    pub database: Database,
}

pub fn backup(args: &FileArgs) -> Result<ExitCode, Failure> {
    let (runtime, store) = open(&args.database)?;
    runtime
        .block_on(store.backup(&args.file))
        .map_err(store_failure)?;
    println!("base sauvegardée dans {}", args.file.display());
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: &FileArgs) -> Result<ExitCode, Failure> {
    if !args.file.is_file() {
        return Err(Failure::Input(format!(
            "registre: {} : fichier introuvable",
            args.file.display()
        )));
    }
    let (runtime, store) = open(&args.database)?;
    runtime
        .block_on(store.restore(&args.file))
        .map_err(store_failure)?;
    println!("sauvegarde {} restaurée", args.file.display());
    Ok(ExitCode::SUCCESS)
}

/// The runtime of every command: the embedded database evaluates queries on the worker's
/// stack, deeply in a debug build, so workers get room to spare over the 2 MiB default.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()
        .map_err(|e| Failure::Input(format!("registre: {e}")))
}

/// How long a command waits, at its end, for the embedded engine to write out what it holds
/// in memory (a memory table of a gigabyte takes seconds).
pub(super) const CLOSE_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

/// The runtime of a command over the database. Declared before the command's handles on the
/// database, it is dropped after them, and then waits for the embedded engine to close
/// ([`Closing`]), on every way out of the command.
pub(super) struct Runtime {
    runtime: tokio::runtime::Runtime,
    closing: Option<Closing>,
}

impl std::ops::Deref for Runtime {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &Self::Target {
        &self.runtime
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(closing) = self.closing.take()
            && let Err(e) = self.runtime.block_on(closing.wait(CLOSE_WITHIN))
        {
            eprintln!("registre: {e}");
        }
    }
}

pub(super) fn open(database: &Database) -> Result<(Runtime, Store), Failure> {
    let runtime = runtime()?;
    let store = runtime
        .block_on(Store::open(&database.url, Database::credentials().as_ref()))
        .map_err(store_failure)?;
    let runtime = Runtime {
        runtime,
        closing: Some(store.closing()),
    };
    Ok((runtime, store))
}

pub(super) fn store_failure(e: StoreError) -> Failure {
    Failure::Input(format!("registre: {e}"))
}

pub fn import(args: &ImportArgs) -> Result<ExitCode, Failure> {
    let pack = load_pack(None).map_err(|e| Failure::Input(format!("registre: {e}")))?;
    let name = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| Failure::Input(format!("registre: {name}: lecture impossible : {e}")))?;
    let (runtime, store) = open(&args.database)?;
    let registre = Registre::new(store, std::sync::Arc::new(pack));
    let actor = Actor::command_line(&args.author);
    let imported =
        runtime.block_on(registre.import(&actor, text, model::SourceFormat::from_file_name(&name)));
    let summary = imported.map_err(|e| {
        let (errors, unreadable) = match e {
            service::Error::Invalid(errors) => (errors, false),
            service::Error::Unreadable(error) => (vec![error], true),
            other => return Failure::Input(format!("registre: {name}: {other}")),
        };
        Failure::Input(super::describe_load_error(
            &name,
            &model::LoadError { errors, unreadable },
        ))
    })?;
    println!(
        "{} : {} créé(s), {} modifié(s), {} supprimé(s), {} inchangé(s)",
        args.file.display(),
        summary.created,
        summary.updated,
        summary.deleted,
        summary.unchanged
    );
    Ok(ExitCode::SUCCESS)
}

pub fn export(args: &ExportArgs) -> Result<ExitCode, Failure> {
    let (runtime, store) = open(&args.database)?;
    let only = args.organisation.as_deref();
    let register = match args.at {
        Some(at) => runtime.block_on(store.register_at(only, at, Past::Everything)),
        None => runtime.block_on(store.register(only)),
    }
    .map_err(store_failure)?;
    if let Some(id) = only
        && register.organisations.is_empty()
    {
        return Err(Failure::Input(format!(
            "registre: organisme `{id}` inconnu dans la base"
        )));
    }
    let text = match args.format {
        ExportFormat::Yaml => model::to_yaml(&register),
        ExportFormat::Json => model::to_json(&register),
    };
    io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn history(args: &HistoryArgs) -> Result<ExitCode, Failure> {
    let (runtime, store) = open(&args.database)?;
    let changes = runtime
        .block_on(store.history(
            &args.organisation,
            args.activity.as_deref(),
            Past::Everything,
        ))
        .map_err(store_failure)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    for change in &changes {
        let place = change.activity.as_deref().unwrap_or("(organisme)");
        writeln!(
            out,
            "{} {} {place} par {}",
            change.at,
            change.operation.label(),
            change.author
        )?;
        for field in change.diff() {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref().map_or("—".to_owned(), ToString::to_string)
            };
            writeln!(
                out,
                "    {} : {} → {}",
                field.field,
                show(&field.before),
                show(&field.after)
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
