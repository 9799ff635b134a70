//! Signing in with a password: throttled per login and per address, logged, and timed the
//! same whether the login exists or not.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use rocket::request::{FromRequest, Outcome, Request};

use super::App;
use super::caller::Caller;
use super::error::{ApiError, reject};
use crate::auth::{User, verify_password};

/// The caller of a request that may also sign in with a password (HTTP Basic): creating an
/// API token is how a script starts.
pub struct PasswordLogin(pub Caller);

/// A hash no password matches, checked for unknown logins so that they take as long as
/// known ones (the login list is not given away by timing).
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$Wt8Y5QfOvLg4IV2W1e6kR1mQ0OtmwDm3kmbqjvCg5e8";

impl App {
    /// Checks a login and password; gives the account and its password hash (which a session
    /// remembers, to end when the password changes). Refused while the login or the address
    /// is throttled; every attempt goes to the security log.
    pub async fn sign_in(
        &self,
        login: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> Result<(User, String), ApiError> {
        let address = address.map(|a| a.to_string());
        let keys: Vec<&str> = [Some(login), address.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if let Err(wait) = self.store.count_attempt(&keys, Timestamp::now()).await? {
            self.log(login, "login.throttled", None, false, address.as_deref())
                .await;
            return Err(ApiError::Throttled(wait));
        }
        let found = self.store.user_with_hash(login).await?;
        let hash = found
            .as_ref()
            .map_or(DECOY_HASH.to_owned(), |(_, hash)| hash.clone());
        let password = password.to_owned();
        // Each check takes ~19 MiB and a core for a while: a few at a time, the rest wait.
        let matches = {
            let _permit = self
                .password_checks
                .acquire()
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            rocket::tokio::task::spawn_blocking(move || verify_password(&password, &hash))
                .await
                .unwrap_or(false)
        };
        match found {
            Some((user, hash)) if matches && !user.disabled => {
                self.store
                    .succeed_attempt(login, address.as_deref(), Timestamp::now())
                    .await?;
                self.log(login, "login", None, true, address.as_deref())
                    .await;
                Ok((user, hash))
            }
            _ => {
                self.log(login, "login", None, false, address.as_deref())
                    .await;
                Err(ApiError::Unauthenticated)
            }
        }
    }
}

fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (login, password) = decoded.split_once(':')?;
    Some((login.to_owned(), password.to_owned()))
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for PasswordLogin {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        let basic = req
            .headers()
            .get_one("Authorization")
            .and_then(basic_credentials);
        let Some((login, password)) = basic else {
            return req.guard::<Caller>().await.map(PasswordLogin);
        };
        let Some(app) = req.rocket().state::<App>() else {
            return Outcome::Error(reject(req, ApiError::Internal("état absent".into())));
        };
        match app.sign_in(&login, &password, req.client_ip()).await {
            Ok((user, _)) => Outcome::Success(PasswordLogin(Caller {
                actor: crate::auth::Actor {
                    author: user.login.clone(),
                    rights: user,
                },
                csrf: None,
                token: None,
            })),
            Err(e) => Outcome::Error(reject(req, e)),
        }
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

    #[test]
    fn basic_credentials_are_decoded() {
        let header = format!("Basic {}", STANDARD.encode("a@ville.fr:mot:de:passe"));
        assert_eq!(
            basic_credentials(&header),
            Some(("a@ville.fr".into(), "mot:de:passe".into()))
        );
        assert_eq!(basic_credentials("Bearer x"), None);
    }
}
