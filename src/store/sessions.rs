//! Browser sessions and sign-in throttling, in the database: several `registre serve` behind
//! one load balancer share them.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::{Store, StoreError, check_errors, decode, retrying};
use crate::auth::{
    MAX_FAILURES, Session, THROTTLE_WINDOW, TOUCH_AFTER, earlier, later, recent_attempts,
    throttle_wait,
};

#[derive(Deserialize)]
struct StoredSession {
    login: String,
    csrf: String,
    credential: String,
    created_at: String,
    last_seen: String,
}

fn timestamp(text: &str) -> Result<Timestamp, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("date `{text}` : {e}")))
}

/// The error a throttling transaction raises when a key filled up meanwhile.
const THROTTLED: &str = "registre:throttled";

impl Store {
    /// Stores a new session under the hash of its id, and drops the sessions and throttling
    /// counts that have ended.
    pub async fn open_session(
        &self,
        key: &str,
        session: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        retrying(|| async {
            let mut response = self
                .db
                .query(
                    "DELETE session WHERE expires_at < <datetime>$now;
                     DELETE throttle WHERE until < <datetime>$now;
                     CREATE type::record('session', $key) CONTENT {
                        login: $login, csrf: $csrf, credential: $credential,
                        created_at: <datetime>$created, last_seen: <datetime>$created,
                        expires_at: <datetime>$expires };",
                )
                .bind(("key", key.to_owned()))
                .bind(("login", session.login.clone()))
                .bind(("csrf", session.csrf.clone()))
                .bind(("credential", session.credential.clone()))
                .bind(("created", session.created_at.to_string()))
                .bind(("expires", session.expires_at().to_string()))
                .bind(("now", now.to_string()))
                .await?;
            check_errors(&mut response)
        })
        .await
    }

    /// The live session of this key at `now`, its last-seen time brought up to date (written
    /// at most once a minute). An ended session is deleted.
    pub async fn session(&self, key: &str, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query(
                "SELECT login, csrf, credential, <string> created_at AS created_at,
                        <string> last_seen AS last_seen
                 FROM type::record('session', $key)",
            )
            .bind(("key", key.to_owned()))
            .await?
            .take(0)?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        let row: StoredSession = decode(row)?;
        let mut session = Session {
            login: row.login,
            csrf: row.csrf,
            credential: row.credential,
            created_at: timestamp(&row.created_at)?,
            last_seen: timestamp(&row.last_seen)?,
        };
        if !session.is_live(now) {
            self.close_session(key).await?;
            return Ok(None);
        }
        if now.duration_since(session.last_seen) >= TOUCH_AFTER {
            // Two servers touching the same session at once: either time will do.
            let touched = self
                .db
                .query("UPDATE type::record('session', $key) SET last_seen = <datetime>$now")
                .bind(("key", key.to_owned()))
                .bind(("now", now.to_string()))
                .await;
            match touched
                .map_err(StoreError::from)
                .and_then(|mut r| check_errors(&mut r))
            {
                Ok(()) | Err(StoreError::Retryable(_)) => session.last_seen = now,
                Err(e) => return Err(e),
            }
        }
        Ok(Some(session))
    }

    /// Ends a session (signing out).
    pub async fn close_session(&self, key: &str) -> Result<(), StoreError> {
        self.delete_record("session", key).await
    }

    /// Deletes one record of `table`, retrying conflicts.
    async fn delete_record(&self, table: &str, key: &str) -> Result<(), StoreError> {
        retrying(|| async {
            let mut response = self
                .db
                .query("DELETE type::record($table, $key)")
                .bind(("table", table.to_owned()))
                .bind(("key", key.to_owned()))
                .await?;
            check_errors(&mut response)
        })
        .await
    }

    /// Counts a sign-in attempt against each key (a login, an address), or refuses it:
    /// `Ok(Err(seconds to wait))` once a key has [`MAX_FAILURES`] recent attempts. Counting
    /// and checking are one transaction, so concurrent guesses on any server cannot get past
    /// the limit.
    pub async fn count_attempt(
        &self,
        keys: &[&str],
        now: Timestamp,
    ) -> Result<Result<(), u64>, StoreError> {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        retrying(|| async {
            let attempts = self.attempts(&keys).await?;
            if let Some(wait) = attempts
                .iter()
                .filter_map(|times| throttle_wait(times, now))
                .max()
            {
                return Ok(Err(wait));
            }
            let since = earlier(now, THROTTLE_WINDOW);
            let until = later(now, THROTTLE_WINDOW);
            let result = self
                .db
                .query(
                    "BEGIN TRANSACTION;
                     FOR $key IN $keys {
                         LET $recent = ((SELECT VALUE attempts FROM type::record('throttle', $key))[0] ?? [])
                             .filter(|$t| $t > <datetime>$since);
                         IF array::len($recent) >= $max { THROW $throttled };
                         UPSERT type::record('throttle', $key) SET
                             attempts = $recent.append(<datetime>$now), until = <datetime>$until;
                     };
                     COMMIT TRANSACTION;",
                )
                .bind(("keys", keys.clone()))
                .bind(("since", since.to_string()))
                .bind(("until", until.to_string()))
                .bind(("now", now.to_string()))
                .bind(("max", MAX_FAILURES as i64))
                .bind(("throttled", THROTTLED))
                .await;
            let outcome = result
                .map_err(StoreError::from)
                .and_then(|mut r| check_errors(&mut r));
            match outcome {
                // A key filled up between the read and the write: read again for the wait.
                Err(StoreError::Database(m)) if m.contains(THROTTLED) => {
                    Err(StoreError::Retryable(m))
                }
                other => other.map(Ok),
            }
        })
        .await
    }

    /// The attempts recorded for each key, in the order of `keys`.
    async fn attempts(&self, keys: &[String]) -> Result<Vec<Vec<Timestamp>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let rows: Vec<Vec<String>> = self
                .db
                .query("SELECT VALUE attempts.map(|$t| <string> $t) FROM type::record('throttle', $key)")
                .bind(("key", key.clone()))
                .await?
                .take(0)?;
            let times = rows
                .into_iter()
                .flatten()
                .map(|t| timestamp(&t))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(times);
        }
        Ok(out)
    }

    /// Takes back a successful sign-in: the login starts afresh, the address loses one count
    /// (an office of agents signing in is not throttled by its own successes).
    pub async fn succeed_attempt(
        &self,
        login: &str,
        address: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let since = earlier(now, THROTTLE_WINDOW);
        retrying(|| async {
            let mut response = self
                .db
                .query(
                    "BEGIN TRANSACTION;
                     DELETE type::record('throttle', $login);
                     IF $address != NONE {
                         UPDATE type::record('throttle', $address)
                             SET attempts = attempts.filter(|$t| $t > <datetime>$since).slice(0, -1);
                     };
                     COMMIT TRANSACTION;",
                )
                .bind(("login", login.to_owned()))
                .bind(("address", address.map(str::to_owned)))
                .bind(("since", since.to_string()))
                .await?;
            check_errors(&mut response)
        })
        .await
    }

    /// Forgets the failed sign-ins of a login (an administrator's unlock); whether it was
    /// locked at `now`.
    pub async fn unlock(&self, login: &str, now: Timestamp) -> Result<bool, StoreError> {
        let keys = [login.to_owned()];
        let was_locked = self
            .attempts(&keys)
            .await?
            .first()
            .is_some_and(|times| recent_attempts(times, now).len() >= MAX_FAILURES);
        self.delete_record("throttle", login).await?;
        Ok(was_locked)
    }
}
