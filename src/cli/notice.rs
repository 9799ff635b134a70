//! `registre notice` and `registre consent-form`: an activity's documents, from a register
//! file (offline) or from the database.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::store::{Database, open, store_failure};
use super::{Failure, load_pack, read_register};
use crate::model::{Activity, Organisation, Register};
use crate::notice::{self, Context, Render, Versioned};
use crate::render::{Style, Templates};
use crate::service::{ActivityDocument, DocumentKind, Registre, ShownFile};

#[derive(Debug, clap::Args)]
pub struct DocumentArgs {
    /// Identifiant de l'organisme.
    #[arg(long)]
    pub organisation: String,
    /// Identifiant de l'activité.
    #[arg(long)]
    pub activity: String,
    #[arg(long, value_enum, default_value = "html")]
    pub format: DocumentFormat,
    /// Fichier de registre à lire (la base de données sinon).
    #[arg(long)]
    pub register: Option<PathBuf>,
    /// Fichier de sortie (sortie standard sinon).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Adresse publique du service, pour les liens imprimés (https://registre.exemple.fr).
    #[arg(long, env = "REGISTRE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Sortie en erreur (code 1) si le registre ne donne pas toutes les informations requises.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub database: Database,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocumentFormat {
    /// Page HTML autonome (feuille de style incluse).
    Html,
    /// PDF A4 imprimable.
    Pdf,
    /// Texte brut.
    Text,
    /// Mention courte pour le bas d'un formulaire (texte).
    Mention,
    /// Le modèle du document, en JSON.
    Json,
}

impl From<DocumentFormat> for notice::Format {
    fn from(format: DocumentFormat) -> Self {
        match format {
            DocumentFormat::Html => notice::Format::Html,
            DocumentFormat::Pdf => notice::Format::Pdf,
            DocumentFormat::Text => notice::Format::Text,
            DocumentFormat::Mention => notice::Format::Mention,
            DocumentFormat::Json => notice::Format::Json,
        }
    }
}

pub fn document(args: &DocumentArgs, kind: DocumentKind) -> Result<ExitCode, Failure> {
    let pack =
        std::sync::Arc::new(load_pack(None).map_err(|e| Failure::Input(format!("registre: {e}")))?);
    let failed = |e: &dyn std::fmt::Display| Failure::Input(format!("registre: {e}"));
    // From the database, the versions printed are stored, as those the web shows are.
    let (register, database) = match &args.register {
        Some(path) => (read_register(path, &pack)?.1, None),
        None => {
            let (runtime, store) = open(&args.database)?;
            let register = runtime
                .block_on(store.organisation_with_sources(&args.organisation))
                .map_err(store_failure)?;
            let registre = Registre::new(store, pack.clone());
            (register, Some((runtime, registre)))
        }
    };
    let (organisation, activity) = find(&register, &args.organisation, &args.activity)?;
    let context = Context {
        vocabulary: &pack.vocabulary,
        countries: &pack.countries,
        register: &register,
        public_url: args.public_url.as_deref(),
    };
    let templates = Templates::builtin().map_err(|e| failed(&e))?;
    let format = notice::Format::from(args.format);
    let document =
        ActivityDocument::of(kind, &context, organisation, activity).map_err(|e| failed(&e))?;
    let bytes = document
        .render(&templates, format, Style::Inline)
        .map_err(|e| failed(&e))?;
    if let Some((runtime, registre)) = &database {
        let content = serde_json::to_value(&document).map_err(|e| failed(&e))?;
        // A standalone page (its style sheet inside) is another file than the web's page.
        let rendering = match format {
            notice::Format::Html => "html-standalone",
            other => other.id(),
        };
        runtime
            .block_on(registre.record_shown(ShownFile {
                kind: document.kind_id(),
                organisation: &organisation.id,
                activity: Some(&activity.id),
                version: document.version(),
                content: &content,
                rendering: rendering.to_owned(),
                bytes: &bytes,
            }))
            .map_err(|e| failed(&e))?;
    }
    let missing = document.missing();
    match &args.output {
        Some(path) => std::fs::write(path, &bytes).map_err(|e| {
            Failure::Input(format!(
                "registre: {} : écriture impossible : {e}",
                path.display()
            ))
        })?,
        None => io::stdout().lock().write_all(&bytes)?,
    }
    for gap in missing {
        eprintln!(
            "registre: information manquante : {} ({})",
            gap.information, gap.field
        );
    }
    Ok(if args.strict && !missing.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn find<'r>(
    register: &'r Register,
    organisation: &str,
    activity: &str,
) -> Result<(&'r Organisation, &'r Activity), Failure> {
    let org = register
        .organisations
        .iter()
        .find(|o| o.id == organisation)
        .ok_or_else(|| {
            Failure::Input(format!(
                "registre: --organisation : organisme `{organisation}` introuvable"
            ))
        })?;
    let act = org
        .activities()
        .iter()
        .find(|a| a.id == activity)
        .ok_or_else(|| {
            Failure::Input(format!(
                "registre: --activity : activité `{activity}` introuvable dans `{organisation}`"
            ))
        })?;
    Ok((org, act))
}
