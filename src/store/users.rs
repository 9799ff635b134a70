//! The user repository: accounts, their roles and password hashes.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Store, StoreError, decode};
use crate::auth::{Grant, User};

#[derive(Deserialize)]
struct StoredUser {
    login: String,
    name: String,
    grants: Vec<Grant>,
    disabled: bool,
    password_hash: String,
}

impl StoredUser {
    fn user(self) -> User {
        User {
            login: self.login,
            name: self.name,
            grants: self.grants,
            disabled: self.disabled,
        }
    }
}

impl Store {
    /// Creates an account; an existing login is refused.
    pub async fn add_user(
        &self,
        user: &User,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if self.user_with_hash(&user.login).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "l'utilisateur `{}` existe déjà",
                user.login
            )));
        }
        let record = json!({
            "login": user.login,
            "name": user.name,
            "grants": user.grants,
            "disabled": user.disabled,
            "password_hash": password_hash,
            "at": now.to_string(),
        });
        self.db
            .query(
                "CREATE user CONTENT { login: $u.login, name: $u.name, grants: $u.grants, disabled: $u.disabled,
                    password_hash: $u.password_hash, created_at: <datetime>$u.at, updated_at: <datetime>$u.at };",
            )
            .bind(("u", record))
            .await
            .and_then(|r| r.check())?;
        Ok(())
    }

    /// Every account, by login.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query("SELECT login, name, grants, disabled, password_hash FROM user ORDER BY login")
            .await?
            .take(0)?;
        rows.into_iter()
            .map(|r| decode::<StoredUser>(r).map(StoredUser::user))
            .collect()
    }

    /// An account and its password hash, to check a password.
    pub async fn user_with_hash(&self, login: &str) -> Result<Option<(User, String)>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query("SELECT login, name, grants, disabled, password_hash FROM user WHERE login = $login")
            .bind(("login", login.to_owned()))
            .await?
            .take(0)?;
        rows.into_iter()
            .next()
            .map(|r| {
                decode::<StoredUser>(r).map(|s| {
                    let hash = s.password_hash.clone();
                    (s.user(), hash)
                })
            })
            .transpose()
    }

    /// Replaces a password hash; an unknown login is an error. The account's sessions and
    /// API tokens end with the old password.
    pub async fn set_password(
        &self,
        login: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.update_user(
            login,
            "password_hash = $value",
            Value::String(password_hash.to_owned()),
            true,
            now,
        )
        .await
    }
}

impl Store {
    /// Disables or re-enables an account: a disabled account cannot sign in, and its sessions
    /// and API tokens end; re-enabling it does not bring them back.
    pub async fn set_disabled(
        &self,
        login: &str,
        disabled: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.update_user(
            login,
            "disabled = $value",
            Value::Bool(disabled),
            disabled,
            now,
        )
        .await
    }

    /// Sets one field of an account (`assignment`, with the new value bound as `$value`);
    /// an unknown login is an error. With `end_access`, the account's sessions and API tokens
    /// end in the same transaction.
    async fn update_user(
        &self,
        login: &str,
        assignment: &str,
        value: Value,
        end_access: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let query = format!(
            "BEGIN TRANSACTION;
             LET $updated = (UPDATE user SET {assignment}, updated_at = <datetime>$at WHERE login = $login RETURN VALUE login);
             IF $end_access {{
                 UPDATE token SET revoked = true WHERE owner = $login AND revoked = false;
                 DELETE session WHERE login = $login;
             }};
             RETURN $updated;
             COMMIT TRANSACTION;"
        );
        let updated: Vec<String> = super::retrying(|| async {
            let mut response = self
                .db
                .query(query.as_str())
                .bind(("login", login.to_owned()))
                .bind(("value", value.clone()))
                .bind(("end_access", end_access))
                .bind(("at", now.to_string()))
                .await?;
            super::check_errors(&mut response)?;
            Ok(response.take(3)?)
        })
        .await?;
        if updated.is_empty() {
            return Err(StoreError::NotFound(format!(
                "utilisateur `{login}` inconnu"
            )));
        }
        Ok(())
    }
}
