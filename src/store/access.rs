//! API tokens, the security log and service settings.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Store, StoreError, decode};
use crate::auth::{Grant, User};

/// An API token as stored: never the token itself, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Token {
    /// The record key, to list and revoke tokens.
    pub id: String,
    pub name: String,
    /// The account that created it: the token stops working when the account is disabled or
    /// loses the role.
    pub owner: String,
    pub grant: Grant,
    pub created_at: String,
    pub expires_at: String,
    pub revoked: bool,
}

/// One entry of the security log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub success: bool,
    pub address: Option<String>,
}

/// How long security-log entries are kept (CNIL délib. 2021-122: 6 to 12 months).
pub const EVENT_RETENTION_DAYS: i64 = 365;

#[derive(Deserialize)]
struct StoredToken {
    id: String,
    name: String,
    owner: String,
    role: crate::auth::Role,
    organisation: Option<String>,
    created_at: String,
    expires_at: String,
    revoked: bool,
}

impl StoredToken {
    fn token(self) -> Token {
        Token {
            id: self.id,
            name: self.name,
            owner: self.owner,
            grant: Grant {
                role: self.role,
                organisation: self.organisation,
            },
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked: self.revoked,
        }
    }
}

const TOKEN_FIELDS: &str = "record::id(id) AS id, name, owner, role, organisation, <string> created_at AS created_at, <string> expires_at AS expires_at, revoked";

impl Store {
    /// Stores a new token by its hash; returns its id.
    pub async fn add_token(
        &self,
        hash: &str,
        name: &str,
        owner: &str,
        grant: &Grant,
        now: Timestamp,
        lifetime: SignedDuration,
    ) -> Result<String, StoreError> {
        let expires = now
            .checked_add(lifetime)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let ids: Vec<String> = self
            .db
            .query(
                "CREATE token CONTENT { hash: $hash, name: $name, owner: $owner, role: $role, organisation: $org,
                    created_at: <datetime>$at, expires_at: <datetime>$expires, revoked: false } RETURN VALUE record::id(id)",
            )
            .bind(("hash", hash.to_owned()))
            .bind(("name", name.to_owned()))
            .bind(("owner", owner.to_owned()))
            .bind(("role", grant.role.as_str()))
            .bind(("org", grant.organisation.clone()))
            .bind(("at", now.to_string()))
            .bind(("expires", expires.to_string()))
            .await?
            .take(0)?;
        ids.into_iter()
            .next()
            .ok_or_else(|| StoreError::Database("jeton non créé".into()))
    }

    /// The token of this hash, with its owner's account, if it is live: not revoked, not
    /// expired, its owner enabled and still holding the role.
    pub async fn live_token(
        &self,
        hash: &str,
        now: Timestamp,
    ) -> Result<Option<(Token, User)>, StoreError> {
        let mut response = self
            .db
            .query(format!(
                "LET $t = (SELECT {TOKEN_FIELDS} FROM token WHERE hash = $hash AND revoked = false AND expires_at > <datetime>$now)[0];
                 RETURN $t;
                 RETURN (SELECT login, name, grants, disabled FROM user WHERE login = $t.owner)[0];"
            ))
            .bind(("hash", hash.to_owned()))
            .bind(("now", now.to_string()))
            .await?;
        let token: Option<Value> = response.take(1)?;
        let owner: Option<Value> = response.take(2)?;
        let (Some(token), Some(owner)) = (token, owner) else {
            return Ok(None);
        };
        let token = decode::<StoredToken>(token)?.token();
        let owner: User = decode(owner)?;
        let allowed = match &token.grant.organisation {
            Some(org) => owner.can(token.grant.role, org),
            None => owner.grants.iter().any(|g| g.role == token.grant.role),
        };
        Ok((allowed && !owner.disabled).then_some((token, owner)))
    }

    /// Tokens created by `owner` (every token when `None`), newest first.
    pub async fn tokens(&self, owner: Option<&str>) -> Result<Vec<Token>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query(format!(
                "SELECT {TOKEN_FIELDS}, created_at AS at FROM token WHERE $owner = NONE OR owner = $owner ORDER BY at DESC"
            ))
            .bind(("owner", owner.map(str::to_owned)))
            .await?
            .take(0)?;
        rows.into_iter()
            .map(|r| decode::<StoredToken>(r).map(StoredToken::token))
            .collect()
    }

    /// Revokes a token; `owner` restricts to that account's tokens.
    pub async fn revoke_token(&self, id: &str, owner: Option<&str>) -> Result<(), StoreError> {
        let updated: Vec<Value> = self
            .db
            .query("UPDATE type::record('token', $id) SET revoked = true WHERE $owner = NONE OR owner = $owner RETURN id")
            .bind(("id", id.to_owned()))
            .bind(("owner", owner.map(str::to_owned)))
            .await?
            .take(0)?;
        if updated.is_empty() {
            return Err(StoreError::NotFound(format!("jeton `{id}` introuvable")));
        }
        Ok(())
    }

    /// Records a security event, for the web service and the command line alike: a line on
    /// the `security` log target, and an entry of the security log.
    pub async fn security_event(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        success: bool,
        address: Option<&str>,
    ) -> Result<(), StoreError> {
        let event = Event {
            at: Timestamp::now().to_string(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            success,
            address: address.map(str::to_owned),
        };
        tracing::info!(
            target: "security",
            actor = %event.actor,
            action = %event.action,
            target_id = event.target.as_deref().unwrap_or(""),
            success = event.success,
            address = event.address.as_deref().unwrap_or(""),
        );
        self.log_event(&event).await
    }

    /// Appends to the security log.
    pub async fn log_event(&self, event: &Event) -> Result<(), StoreError> {
        self.db
            .query(
                "CREATE event CONTENT { at: <datetime>$e.at, actor: $e.actor, action: $e.action, target: $e.target OR NONE,
                    success: $e.success, address: $e.address OR NONE };",
            )
            .bind(("e", serde_json::to_value(event).map_err(|e| StoreError::Corrupt(e.to_string()))?))
            .await
            .and_then(|r| r.check())?;
        Ok(())
    }

    /// The security log, newest first.
    pub async fn events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query("SELECT <string> at AS at, actor, action, target, success, address, at AS t FROM event ORDER BY t DESC LIMIT $limit")
            .bind(("limit", limit as i64))
            .await?
            .take(0)?;
        rows.into_iter().map(decode).collect()
    }

    /// Deletes security-log entries older than [`EVENT_RETENTION_DAYS`], and the sessions and
    /// throttling counts that have ended.
    pub async fn prune(&self, now: Timestamp) -> Result<(), StoreError> {
        let limit = now
            .checked_sub(SignedDuration::from_hours(24 * EVENT_RETENTION_DAYS))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        self.db
            .query(
                "DELETE event WHERE at < <datetime>$limit;
                 DELETE session WHERE expires_at < <datetime>$now;
                 DELETE throttle WHERE until < <datetime>$now;",
            )
            .bind(("limit", limit.to_string()))
            .bind(("now", now.to_string()))
            .await
            .and_then(|r| r.check())?;
        Ok(())
    }

    /// A setting, created with `init` on first use (kept in the database, so that every
    /// server of a shared database agrees on it).
    pub async fn setting_or_init(&self, key: &str, init: String) -> Result<String, StoreError> {
        let values: Vec<String> = self
            .db
            .query(
                "IF (SELECT VALUE id FROM type::record('setting', $key))[0] = NONE {
                     CREATE type::record('setting', $key) CONTENT { value: $init };
                 };
                 SELECT VALUE value FROM type::record('setting', $key);",
            )
            .bind(("key", key.to_owned()))
            .bind(("init", init))
            .await?
            .take(1)?;
        values
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Database(format!("réglage `{key}` illisible")))
    }
}
