//! The one way in to the register, for the web service and the command line alike: each
//! function checks what the actor may do and may see, then reads or writes through the
//! store. Handlers and commands parse their input, call one function here, and shape the
//! answer; no rule lives in them.

mod accounts;
mod consents;
mod documents;
mod proofs;
mod reads;
mod register;
mod setup;

use std::sync::Arc;

use crate::audit::PolicyPack;
use crate::auth::Denied;
use crate::model::InputError;
use crate::store::{Store, StoreError};

pub use accounts::{Accounts, MAX_TOKEN_DAYS, NewToken, TokenRequest, check_login};
pub use consents::{
    Act, ActivityCounts, Allowed, ChoiceCounts, History, LinkActivity, LinkChoice, LinkView,
    MAX_BATCH, Recording, SignedHead, Verification, allowed_csv,
};
pub use documents::{ActivityDocument, DocumentKind, ShownFile};
pub use proofs::{ProofBundle, ProvenEvent, Scan};
pub use reads::ActivityFilter;
pub use register::{in_use_message, may_import};
pub use setup::{FIRST_ADMIN, FirstStart, first_start};

/// The register service: the store and the rules it checks entries against.
#[derive(Clone)]
pub struct Registre {
    pub store: Store,
    pub pack: Arc<PolicyPack>,
    pub accounts: Accounts,
    forms: Arc<consents::Forms>,
}

impl Registre {
    pub fn new(store: Store, pack: Arc<PolicyPack>) -> Self {
        Registre {
            accounts: Accounts::new(store.clone()),
            store,
            pack,
            forms: Arc::default(),
        }
    }
}

/// Why the service refused or failed.
#[derive(Debug)]
pub enum Error {
    /// The input is not YAML or JSON at all.
    Unreadable(InputError),
    /// Well-formed, but not a valid register entry: every error, by path.
    Invalid(Vec<InputError>),
    /// Unknown, or not visible to the actor (the two are not told apart).
    NotFound(String),
    /// Visible to the actor, but not theirs to do.
    Forbidden(String),
    /// The register's current state forbids it.
    Conflict(String),
    /// The database failed or stayed busy.
    Store(StoreError),
    /// Wrong login or password, or a disabled account (the three are not told apart).
    Unauthenticated,
    /// Too many failed sign-ins: retry after this many seconds.
    Throttled(u64),
    /// A fault of the service, never of the input.
    Internal(String),
}

impl Error {
    /// One invalid field.
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![InputError::new(path.to_owned(), message.into())])
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Unreadable(e) => write!(f, "{e}"),
            Error::Invalid(errors) => {
                let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                f.write_str(&list.join("\n"))
            }
            Error::NotFound(m) | Error::Forbidden(m) | Error::Conflict(m) | Error::Internal(m) => {
                f.write_str(m)
            }
            Error::Store(e) => write!(f, "{e}"),
            Error::Unauthenticated => f.write_str("identifiant ou mot de passe incorrect"),
            Error::Throttled(seconds) => {
                write!(f, "trop d'échecs de connexion : réessayez dans {seconds} s")
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Error::NotFound(m),
            StoreError::Conflict(m) => Error::Conflict(m),
            other => Error::Store(other),
        }
    }
}

impl From<Denied> for Error {
    fn from(e: Denied) -> Self {
        match e {
            Denied::Hidden(m) => Error::NotFound(m),
            Denied::Forbidden(m) => Error::Forbidden(m),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Runs memory-hard work (Argon2id takes 19 MiB) on a pool thread, never on a thread that
/// serves requests or waits for the server to stop: the pool ends idle threads after 10 s,
/// and with them what the allocator kept of that memory.
async fn on_pool_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(e.to_string()))
}
