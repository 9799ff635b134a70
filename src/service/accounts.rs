//! Accounts, API tokens and sign-in, each change written to the security log with who made it
//! and from where: the same code for the web service and the command line.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Semaphore;

use super::{Error, Result, on_pool_thread};
use crate::auth::{
    Actor, Grant, Need, Role, Session, User, new_token, token_hash, verify_password,
};
use crate::store::{Store, Token};

/// The longest an API token lives, in days.
pub const MAX_TOKEN_DAYS: i64 = 366;

/// A hash no password matches, checked for unknown logins so that they take as long as
/// known ones (the login list is not given away by timing).
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$Wt8Y5QfOvLg4IV2W1e6kR1mQ0OtmwDm3kmbqjvCg5e8";

/// Password checks run at once: each takes ~19 MiB and a core for a while (Argon2id is
/// memory- and CPU-hard by design), the rest wait.
const CONCURRENT_PASSWORD_CHECKS: usize = 2;

/// The accounts service.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    password_checks: Arc<Semaphore>,
}

/// A token asked for: its name, the one grant it carries, and its lifetime.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub name: String,
    pub role: Role,
    /// Required for every role but admin.
    pub organisation: Option<String>,
    /// 1 to [`MAX_TOKEN_DAYS`].
    pub days: i64,
}

/// A token just created: the only time its secret is known.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    pub secret: String,
    pub name: String,
    pub grant: Grant,
    pub days: i64,
}

/// A login is an e-mail address.
pub fn check_login(login: &str) -> Result<()> {
    if validator::ValidateEmail::validate_email(&login) {
        Ok(())
    } else {
        Err(Error::invalid(
            "login",
            format!("identifiant `{login}` invalide : attendu une adresse électronique"),
        ))
    }
}

impl Accounts {
    pub fn new(store: Store) -> Self {
        Accounts {
            store,
            password_checks: Arc::new(Semaphore::new(CONCURRENT_PASSWORD_CHECKS)),
        }
    }

    /// Appends to the security log; a failure to log is reported, not fatal to the action.
    pub async fn log(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        success: bool,
        address: Option<&str>,
    ) {
        if let Err(e) = self
            .store
            .security_event(actor, action, target, success, address)
            .await
        {
            tracing::error!(target: "security", "journal de sécurité non écrit : {e}");
        }
    }

    /// Checks a login and password; gives the account and its password hash (which a session
    /// remembers, to end when the password changes). Refused while the login or the address
    /// is throttled; every attempt goes to the security log.
    pub async fn sign_in(
        &self,
        login: &str,
        password: &str,
        address: Option<&str>,
    ) -> Result<(User, String)> {
        let keys: Vec<&str> = [Some(login), address].into_iter().flatten().collect();
        if let Err(wait) = self.store.count_attempt(&keys, Timestamp::now()).await? {
            self.log(login, "login.throttled", None, false, address)
                .await;
            return Err(Error::Throttled(wait));
        }
        let found = self.store.user_with_hash(login).await?;
        let hash = found
            .as_ref()
            .map_or(DECOY_HASH.to_owned(), |(_, hash)| hash.clone());
        let password = password.to_owned();
        let matches = {
            let _permit = self
                .password_checks
                .acquire()
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            on_pool_thread(move || verify_password(&password, &hash)).await?
        };
        match found {
            Some((user, hash)) if matches && !user.disabled => {
                self.store
                    .succeed_attempt(login, address, Timestamp::now())
                    .await?;
                self.log(login, "login", None, true, address).await;
                Ok((user, hash))
            }
            _ => {
                self.log(login, "login", None, false, address).await;
                Err(Error::Unauthenticated)
            }
        }
    }

    /// The actor an API token acts as, if the token is live: its owner, with the token's one
    /// grant.
    pub async fn token_actor(&self, secret: &str) -> Result<Option<Actor>> {
        let hash = token_hash(secret);
        let Some((token, owner)) = self.store.live_token(&hash, Timestamp::now()).await? else {
            return Ok(None);
        };
        let rights = User {
            grants: vec![token.grant],
            ..owner
        };
        Ok(Some(Actor {
            author: format!("{} (jeton « {} »)", rights.login, token.name),
            rights,
            token: Some(token.id),
        }))
    }

    /// Opens a browser session for an account just signed in: its id, for the cookie, and the
    /// session (its CSRF token and end).
    pub async fn open_session(
        &self,
        user: &User,
        password_hash: &str,
    ) -> Result<(String, Session)> {
        let now = Timestamp::now();
        let (id, session) = Session::open(&user.login, password_hash, now);
        self.store
            .open_session(&Session::key(&id), &session, now)
            .await?;
        Ok((id, session))
    }

    /// The person behind a live session, and the session. A disabled account, or a password
    /// changed since sign-in, ends it.
    pub async fn session(&self, id: &str) -> Result<Option<(Actor, Session)>> {
        let key = Session::key(id);
        let Some(session) = self.store.session(&key, Timestamp::now()).await? else {
            return Ok(None);
        };
        let Some((user, hash)) = self.store.user_with_hash(&session.login).await? else {
            return Ok(None);
        };
        if user.disabled || !session.credential_matches(&hash) {
            self.store.close_session(&key).await?;
            return Ok(None);
        }
        Ok(Some((Actor::person(user), session)))
    }

    /// Ends a session (signing out).
    pub async fn close_session(&self, id: &str) -> Result<()> {
        Ok(self.store.close_session(&Session::key(id)).await?)
    }

    /// Tokens are managed with a password or a browser session, never with a token: a token
    /// cannot mint a longer-lived one, nor list or revoke its owner's others.
    fn refuse_token(actor: &Actor) -> Result<()> {
        if actor.token.is_some() {
            return Err(Error::Forbidden(
                "les jetons se gèrent avec le mot de passe (HTTP Basic) ou une session, pas avec un jeton".into(),
            ));
        }
        Ok(())
    }

    /// The actor's tokens (every token for an administrator), newest first.
    pub async fn tokens(&self, actor: &Actor) -> Result<Vec<Token>> {
        Self::refuse_token(actor)?;
        let owner = (!actor.is_admin()).then(|| actor.login());
        Ok(self.store.tokens(owner).await?)
    }

    /// Creates an API token for one organisation and role the actor holds.
    pub async fn create_token(
        &self,
        actor: &Actor,
        request: TokenRequest,
        address: Option<&str>,
    ) -> Result<NewToken> {
        Self::refuse_token(actor)?;
        if !(1..=MAX_TOKEN_DAYS).contains(&request.days) {
            return Err(Error::invalid(
                "days",
                format!("doit être un nombre entier entre 1 et {MAX_TOKEN_DAYS}"),
            ));
        }
        let grant = if request.role == Role::Admin {
            actor.require_admin()?;
            Grant {
                role: Role::Admin,
                organisation: None,
            }
        } else {
            let Some(org) = request.organisation else {
                return Err(Error::invalid("organisation", "champ obligatoire"));
            };
            if !actor.rights.can(request.role, &org) {
                actor.require(Need::Read, &org)?;
                return Err(Error::Forbidden(format!(
                    "vous n'avez pas le rôle `{}` sur `{org}`",
                    request.role.as_str()
                )));
            }
            Grant {
                role: request.role,
                organisation: Some(org),
            }
        };
        let (secret, hash) = new_token();
        let id = self
            .store
            .add_token(
                &hash,
                &request.name,
                actor.login(),
                &grant,
                Timestamp::now(),
                SignedDuration::from_hours(24 * request.days),
            )
            .await?;
        self.log(&actor.author, "token.create", Some(&id), true, address)
            .await;
        Ok(NewToken {
            id,
            secret,
            name: request.name,
            grant,
            days: request.days,
        })
    }

    /// Revokes a token of the actor's (any token, for an administrator).
    pub async fn revoke_token(&self, actor: &Actor, id: &str, address: Option<&str>) -> Result<()> {
        Self::refuse_token(actor)?;
        let owner = (!actor.is_admin()).then(|| actor.login());
        self.store.revoke_token(id, owner).await?;
        self.log(&actor.author, "token.revoke", Some(id), true, address)
            .await;
        Ok(())
    }

    /// Every account (administrators only).
    pub async fn users(&self, actor: &Actor) -> Result<Vec<User>> {
        actor.require_admin()?;
        Ok(self.store.users().await?)
    }

    /// Creates an account with a password already hashed (administrators only).
    pub async fn add_user(&self, actor: &Actor, user: &User, password_hash: &str) -> Result<()> {
        actor.require_admin()?;
        check_login(&user.login)?;
        self.store
            .add_user(user, password_hash, Timestamp::now())
            .await?;
        self.log(&actor.author, "user.add", Some(&user.login), true, None)
            .await;
        Ok(())
    }

    /// Replaces an account's password (administrators only): its sessions and tokens end.
    pub async fn set_password(
        &self,
        actor: &Actor,
        login: &str,
        password_hash: &str,
    ) -> Result<()> {
        actor.require_admin()?;
        self.store
            .set_password(login, password_hash, Timestamp::now())
            .await?;
        self.log(&actor.author, "user.passwd", Some(login), true, None)
            .await;
        Ok(())
    }

    /// Disables or re-enables an account (administrators only, never their own): a disabled
    /// account's sessions and tokens end, and re-enabling it does not bring them back.
    pub async fn set_disabled(
        &self,
        actor: &Actor,
        login: &str,
        disabled: bool,
        address: Option<&str>,
    ) -> Result<()> {
        actor.require_admin()?;
        if disabled && login == actor.login() {
            return Err(Error::Conflict(
                "un administrateur ne peut pas désactiver son propre compte".into(),
            ));
        }
        self.store
            .set_disabled(login, disabled, Timestamp::now())
            .await?;
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        self.log(&actor.author, action, Some(login), true, address)
            .await;
        Ok(())
    }

    /// Lifts the sign-in lock of a login (administrators only); whether it was locked.
    pub async fn unlock(&self, actor: &Actor, login: &str) -> Result<bool> {
        actor.require_admin()?;
        let was_locked = self.store.unlock(login, Timestamp::now()).await?;
        self.log(&actor.author, "user.unlock", Some(login), true, None)
            .await;
        Ok(was_locked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoy_hash_is_a_valid_argon2id_hash() {
        // A malformed decoy would make unknown logins fail fast, which timing would reveal.
        assert!(argon2::PasswordHash::new(DECOY_HASH).is_ok());
        assert!(!verify_password("anything", DECOY_HASH));
    }
}
