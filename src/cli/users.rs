//! `registre user add|list|passwd`: accounts of the register service.

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;

use super::Failure;
use super::store::{Database, open};
use crate::auth::{Actor, Grant, Role, User, check_password_strength, hash_password};
use crate::service::{self, Accounts};

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Crée un compte (le mot de passe est demandé, ou lu sur l'entrée standard).
    Add {
        /// Identifiant : l'adresse électronique de la personne.
        login: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        /// L'organisme concerné (tous pour un administrateur).
        #[arg(long, required_if_eq_any = [("role", "dpo"), ("role", "agent"), ("role", "auditor")])]
        organisation: Option<String>,
        /// Lit le mot de passe sur la première ligne de l'entrée standard.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: Database,
    },
    /// Liste les comptes et leurs rôles.
    List {
        #[command(flatten)]
        database: Database,
    },
    /// Change le mot de passe d'un compte.
    Passwd {
        login: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: Database,
    },
    /// Désactive un compte : connexion refusée, sessions et jetons d'API sans effet.
    Disable {
        login: String,
        #[command(flatten)]
        database: Database,
    },
    /// Réactive un compte désactivé (ses anciens jetons d'API restent révoqués).
    Enable {
        login: String,
        #[command(flatten)]
        database: Database,
    },
    /// Lève le blocage d'un identifiant après 5 échecs de connexion en 15 minutes.
    Unlock {
        login: String,
        #[command(flatten)]
        database: Database,
    },
}

pub fn run(command: UserCommand) -> Result<ExitCode, Failure> {
    let actor = command_line();
    match command {
        UserCommand::Add {
            login,
            name,
            role,
            organisation,
            password_stdin,
            database,
        } => {
            let organisation = if role == Role::Admin {
                None
            } else {
                organisation
            };
            let user = User {
                login,
                name,
                grants: vec![Grant { role, organisation }],
                disabled: false,
            };
            service::check_login(&user.login).map_err(refused)?;
            let hash = new_password(&user.login, password_stdin)?;
            let (runtime, accounts) = open_accounts(&database)?;
            runtime
                .block_on(accounts.add_user(&actor, &user, &hash))
                .map_err(refused)?;
            println!("compte `{}` créé ({})", user.login, role.as_str());
        }
        UserCommand::List { database } => {
            let (runtime, accounts) = open_accounts(&database)?;
            let users = runtime.block_on(accounts.users(&actor)).map_err(refused)?;
            let mut out = io::BufWriter::new(io::stdout().lock());
            for user in users {
                let grants: Vec<String> = user
                    .grants
                    .iter()
                    .map(|g| match &g.organisation {
                        Some(o) => format!("{}@{o}", g.role.as_str()),
                        None => g.role.as_str().to_owned(),
                    })
                    .collect();
                let state = if user.disabled { " (désactivé)" } else { "" };
                writeln!(
                    out,
                    "{}\t{}\t{}{state}",
                    user.login,
                    user.name,
                    grants.join(", ")
                )?;
            }
            out.flush()?;
        }
        UserCommand::Passwd {
            login,
            password_stdin,
            database,
        } => {
            let hash = new_password(&login, password_stdin)?;
            let (runtime, accounts) = open_accounts(&database)?;
            runtime
                .block_on(accounts.set_password(&actor, &login, &hash))
                .map_err(refused)?;
            println!("mot de passe de `{login}` changé");
        }
        UserCommand::Disable { login, database } => {
            set_disabled(&actor, &login, true, &database)?;
        }
        UserCommand::Enable { login, database } => {
            set_disabled(&actor, &login, false, &database)?;
        }
        UserCommand::Unlock { login, database } => {
            let (runtime, accounts) = open_accounts(&database)?;
            let was_locked = runtime
                .block_on(accounts.unlock(&actor, &login))
                .map_err(refused)?;
            if was_locked {
                println!("connexion de `{login}` débloquée");
            } else {
                println!("`{login}` n'était pas bloqué ; ses échecs récents sont oubliés");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn set_disabled(
    actor: &Actor,
    login: &str,
    disabled: bool,
    database: &Database,
) -> Result<(), Failure> {
    let (runtime, accounts) = open_accounts(database)?;
    runtime
        .block_on(accounts.set_disabled(actor, login, disabled, None))
        .map_err(refused)?;
    let state = if disabled {
        "désactivé"
    } else {
        "réactivé"
    };
    println!("compte `{login}` {state}");
    Ok(())
}

/// Who acts from the command line, as the security log names them.
fn command_line() -> Actor {
    Actor::command_line(&format!(
        "ligne de commande ({})",
        std::env::var("USER").unwrap_or_else(|_| "inconnu".into())
    ))
}

fn open_accounts(database: &Database) -> Result<(super::store::Runtime, Accounts), Failure> {
    let (runtime, store) = open(database)?;
    Ok((runtime, Accounts::new(store)))
}

fn refused(e: service::Error) -> Failure {
    Failure::Input(format!("registre: {e}"))
}

/// Reads a new password (hidden on a terminal), checks its strength and hashes it.
fn new_password(login: &str, from_stdin: bool) -> Result<String, Failure> {
    let password = if from_stdin || !io::stdin().is_terminal() {
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = rpassword::prompt_password("Mot de passe : ")?;
        let again = rpassword::prompt_password("Encore une fois : ")?;
        if first != again {
            return Err(Failure::Input(
                "registre: les deux saisies diffèrent".to_owned(),
            ));
        }
        first
    };
    check_password_strength(&password, login)
        .map_err(|e| Failure::Input(format!("registre: {e}")))?;
    hash_password(&password).map_err(|e| Failure::Input(format!("registre: {e}")))
}
