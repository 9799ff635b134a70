//! `registre serve`: the register service on the embedded database by default. On first
//! start it creates an administrator account and loads the demo commune.

use std::process::ExitCode;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use rocket::config::{Config, LogLevel};
use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::figment::providers::{Env, Format, Serialized, Toml};

use super::Failure;
use super::store::{DEFAULT_DATABASE, Database, store_failure};
use crate::audit::PolicyPack;
use crate::auth::random_bytes;
use crate::render::Templates;
use crate::service::{self, FIRST_ADMIN, Registre};
use crate::store::Store;
use crate::web::{self, App};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Base de données : surrealkv://DOSSIER, mem:// ou ws://HÔTE:PORT ; sinon `database_url`
    /// de Rocket.toml, sinon surrealkv://data/registre.
    #[arg(long = "database", env = "REGISTRE_DATABASE_URL")]
    pub database: Option<String>,
    /// Adresse d'écoute (127.0.0.1 par défaut, ou `address` de Rocket.toml).
    #[arg(long)]
    pub address: Option<std::net::IpAddr>,
    /// Port (8000 par défaut, ou `port` de Rocket.toml ; 0 : un port libre).
    #[arg(long)]
    pub port: Option<u16>,
    /// Ne charge pas la commune de démonstration dans une base vide.
    #[arg(long)]
    pub no_demo: bool,
}

/// Rocket's own configuration sources (Rocket.toml, `ROCKET_*` variables) over registre's
/// defaults, then the command line.
fn figment(args: &ServeArgs) -> Figment {
    let defaults = Config {
        log_level: LogLevel::Critical,
        cli_colors: false,
        // The client's address is the socket's: a header saying otherwise is trusted only when
        // Rocket.toml names one (behind a reverse proxy), else throttling could be dodged.
        ip_header: None,
        ..Config::default()
    };
    let mut figment = Figment::from(Serialized::defaults(defaults))
        .merge(Toml::file(Env::var_or("ROCKET_CONFIG", "Rocket.toml")).nested())
        .merge(Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global());
    if let Some(address) = args.address {
        figment = figment.merge(("address", address));
    }
    if let Some(port) = args.port {
        figment = figment.merge(("port", port));
    }
    figment
}

/// The address citizens reach the public pages at: an http(s) URL with a host and nothing
/// after its path, given without its final slash.
pub fn public_url(text: &str) -> Result<String, String> {
    let parsed =
        url::Url::parse(text).map_err(|e| format!("`{text}` n'est pas une adresse web : {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "`{text}` : attendu une adresse http:// ou https:// avec un nom d'hôte"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(format!(
            "`{text}` : ni paramètres (?…), ni fragment (#…), ni identifiant dans l'adresse publique"
        ));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// The access log, security events and errors; the database engine's start-up lines are
/// details for whoever debugs it.
const DEFAULT_LOG_FILTER: &str = "info,surrealdb=warn,surrealkv=warn";

/// Log lines on standard error, filtered by `RUST_LOG`, else by `log_filter` in Rocket.toml
/// (else [`DEFAULT_LOG_FILTER`]). Rocket's own lines are off: they would print request
/// details the access log leaves out on purpose.
fn init_logging(figment: &Figment) -> Result<(), Failure> {
    let configured = figment
        .extract_inner::<String>("log_filter")
        .unwrap_or_else(|_| DEFAULT_LOG_FILTER.to_owned());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(format!("{configured},rocket=off")))
        .map_err(|e| {
            Failure::Input(format!(
                "registre: log_filter `{configured}` invalide : {e}"
            ))
        })?;
    // A second call (tests running several servers in one process) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
    Ok(())
}

pub fn serve(args: &ServeArgs) -> Result<ExitCode, Failure> {
    let figment = figment(args);
    init_logging(&figment)?;
    // Refuse a wrong address, port or limit now, with its key, rather than at launch.
    figment
        .extract::<Config>()
        .map_err(|e| Failure::Input(format!("registre: configuration invalide : {e}")))?;
    let public = std::env::var("REGISTRE_PUBLIC_URL")
        .ok()
        .or_else(|| figment.extract_inner::<String>("public_url").ok())
        .map(|text| public_url(&text))
        .transpose()
        .map_err(|e| Failure::Input(format!("registre: public_url : {e}")))?;
    let url = args
        .database
        .clone()
        .or_else(|| figment.extract_inner::<String>("database_url").ok())
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
    let pack =
        Arc::new(PolicyPack::builtin().map_err(|e| Failure::Input(format!("registre: {e}")))?);
    let templates = Templates::builtin().map_err(|e| Failure::Input(format!("registre: {e}")))?;
    let runtime = super::store::runtime()?;
    runtime.block_on(async {
        let store = Store::open(&url, Database::credentials().as_ref())
            .await
            .map_err(store_failure)?;
        let registre = Registre::new(store.clone(), pack.clone());
        first_start(&registre, args.no_demo).await?;
        store.prune(Timestamp::now()).await.map_err(store_failure)?;
        let closing = store.closing();
        let background = [
            tokio::spawn(verify_ledgers(registre.clone())),
            tokio::spawn(publish_heads(registre)),
        ];
        // One key for every server of a shared database.
        let secret = store
            .setting_or_init("secret_key", new_secret_key())
            .await
            .map_err(store_failure)?;
        let mut app = App::new(store, pack, templates);
        app.public_url = public;
        let rocket = web::rocket(app, figment.merge(("secret_key", secret))).attach(
            AdHoc::on_liftoff("address", |rocket| {
                Box::pin(async move {
                    let config = rocket.config();
                    println!(
                        "registre écoute sur http://{}:{}/",
                        config.address, config.port
                    );
                })
            }),
        );
        let launched = rocket.launch().await;
        // Stopped (SIGTERM, Ctrl-C): every handle on the database goes, then the embedded
        // engine writes out what it holds in memory before the process ends.
        for task in background {
            task.abort();
            let _ = task.await;
        }
        let stopped = launched
            .map(drop)
            .map_err(|e| Failure::Input(format!("registre: démarrage impossible : {e}")));
        closing
            .wait(super::store::CLOSE_WITHIN)
            .await
            .map_err(store_failure)?;
        tracing::info!("service arrêté, base de données fermée");
        stopped.map(|()| ExitCode::SUCCESS)
    })
}

/// Verifies every consent ledger once, in the background, after the server starts: a crash
/// is when the embedded engine loses writes (README, « Arrêt du service et base
/// embarquée »), and a loss should be named at once, not at the next audit.
async fn verify_ledgers(registre: Registre) {
    match registre.verify_ledgers(Timestamp::now()).await {
        Ok(verifications) => {
            for v in verifications {
                if v.problems.is_empty() {
                    tracing::info!(
                        "registre des consentements de `{}` vérifié : {} événements",
                        v.organisation,
                        v.events
                    );
                }
                for problem in &v.problems {
                    tracing::error!(
                        "registre des consentements de `{}` : {problem}",
                        v.organisation
                    );
                }
            }
        }
        Err(e) => tracing::error!("registres des consentements non vérifiés : {e}"),
    }
}

/// Signs the tree heads that are due, now and every hour, for as long as the server runs.
async fn publish_heads(registre: Registre) {
    let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        match registre.sign_due_heads(Timestamp::now()).await {
            Ok(0) => {}
            Ok(signed) => tracing::info!("{signed} têtes d'arbre des consentements signées"),
            Err(e) => tracing::error!("têtes d'arbre des consentements non signées : {e}"),
        }
    }
}

/// 512 random bits, base64: the key that signs and encrypts session cookies.
fn new_secret_key() -> String {
    STANDARD.encode(random_bytes::<64>())
}

/// An empty database gets an administrator (its password printed once) and, unless asked
/// not to, the demo commune.
async fn first_start(registre: &Registre, no_demo: bool) -> Result<(), Failure> {
    let done = service::first_start(registre, !no_demo)
        .await
        .map_err(|e| Failure::Input(format!("registre: premier démarrage : {e}")))?;
    if let Some(password) = done.admin_password {
        println!("Premier compte administrateur : {FIRST_ADMIN}");
        println!("Mot de passe (affiché une seule fois) : {password}");
        println!("Changez-le avec : registre user passwd {FIRST_ADMIN}");
    }
    if done.demo_loaded {
        println!("Registre de démonstration chargé (une commune et son CCAS).");
    }
    Ok(())
}
