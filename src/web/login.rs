//! Signing in with a password over HTTP Basic (see [`crate::service::Accounts::sign_in`]
//! for the throttling and the log).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rocket::request::{FromRequest, Outcome, Request};

use super::App;
use super::caller::Caller;
use super::error::{ApiError, reject};

/// The caller of a request that may also sign in with a password (HTTP Basic): creating an
/// API token is how a script starts.
pub struct PasswordLogin(pub Caller);

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
        let address = req.client_ip().map(|a| a.to_string());
        let signed_in = app
            .registre
            .accounts
            .sign_in(&login, &password, address.as_deref())
            .await;
        match signed_in {
            Ok((user, _)) => Outcome::Success(PasswordLogin(Caller {
                actor: crate::auth::Actor::person(user),
                csrf: None,
            })),
            Err(e) => Outcome::Error(reject(req, e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
