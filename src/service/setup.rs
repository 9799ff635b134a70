//! First start of a service: an empty database gets its first administrator and, unless
//! asked not to, the demo commune.

use jiff::Timestamp;

use super::{Error, Result, on_pool_thread};
use crate::audit::PolicyPack;
use crate::auth::{Grant, Role, User, hash_password, random_secret};
use crate::store::Store;

/// The first administrator's login, created on first start.
pub const FIRST_ADMIN: &str = "admin@registre.invalid";

/// What the first start did.
#[derive(Debug, Default)]
pub struct FirstStart {
    /// The first administrator's password, to show once, when the account was created now.
    pub admin_password: Option<String>,
    /// Whether the demo commune was loaded now.
    pub demo_loaded: bool,
}

/// Creates what an empty database lacks; a database already in use is left as it is.
pub async fn first_start(store: &Store, pack: &PolicyPack, demo: bool) -> Result<FirstStart> {
    let now = Timestamp::now();
    let mut done = FirstStart::default();
    if store.users().await?.is_empty() {
        let password = random_secret();
        let secret = password.clone();
        let hash = on_pool_thread(move || hash_password(&secret))
            .await?
            .map_err(|e| Error::Internal(e.to_string()))?;
        let admin = User {
            login: FIRST_ADMIN.to_owned(),
            name: "Administrateur".to_owned(),
            grants: vec![Grant {
                role: Role::Admin,
                organisation: None,
            }],
            disabled: false,
        };
        store.add_user(&admin, &hash, now).await?;
        store
            .security_event(
                "premier démarrage",
                "user.add",
                Some(FIRST_ADMIN),
                true,
                None,
            )
            .await?;
        done.admin_password = Some(password);
    }
    if demo && store.organisation_ids().await?.is_empty() {
        let register = crate::demo::demo_register(&pack.vocabulary, &pack.countries)
            .map_err(|e| Error::Internal(format!("registre de démonstration : {e}")))?;
        store
            .import(&register, "registre (démonstration)", now)
            .await?;
        done.demo_loaded = true;
    }
    Ok(done)
}
