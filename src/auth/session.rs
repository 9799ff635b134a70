//! Browser sessions and sign-in throttling, kept in memory: a restart signs everyone out, and
//! the throttle is per server process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use super::token::{random_secret, token_hash};

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub login: String,
    /// The synchronizer token every form and state-changing request of the session carries.
    pub csrf: String,
    /// A fingerprint of the password hash at sign-in: a new password ends the session.
    credential: String,
    last_seen: Instant,
}

impl Session {
    /// Whether `token` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        self.csrf.as_bytes().ct_eq(token.as_bytes()).into()
    }

    /// Whether the account's password is still the one the session signed in with.
    pub fn credential_matches(&self, password_hash: &str) -> bool {
        self.credential
            .as_bytes()
            .ct_eq(token_hash(password_hash).as_bytes())
            .into()
    }
}

/// The live sessions, by session id.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl Sessions {
    /// Opens a session for an account whose password hash is `password_hash`; returns its id.
    pub fn open(&self, login: &str, password_hash: &str) -> String {
        let id = random_secret();
        let session = Session {
            login: login.to_owned(),
            csrf: random_secret(),
            credential: token_hash(password_hash),
            last_seen: Instant::now(),
        };
        let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| s.last_seen.elapsed() < IDLE_TIMEOUT);
        sessions.insert(id.clone(), session);
        id
    }

    /// The live session of this id, marked as just used.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let session = sessions.get_mut(id)?;
        if session.last_seen.elapsed() >= IDLE_TIMEOUT {
            sessions.remove(id);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    pub fn close(&self, id: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// Failed sign-ins allowed per login and per address within [`THROTTLE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// The window failures are counted in, and how long a throttled key waits.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Most keys tracked at once: past this, sign-in is refused until old attempts expire, so
/// that a spray of logins cannot exhaust memory.
const MAX_KEYS: usize = 100_000;

/// Counts sign-in attempts by key (a login, an address). An attempt is counted *before* the
/// password is checked, so that concurrent guesses cannot slip past the limit; a successful
/// one is then taken back. Past [`MAX_FAILURES`] within the window, sign-in is refused until
/// the oldest attempt leaves it, whatever the password.
#[derive(Default)]
pub struct Throttle(Mutex<HashMap<String, Vec<Instant>>>);

impl Throttle {
    /// Counts an attempt on every key, or refuses it: `Err(seconds to wait)`.
    pub fn attempt(&self, keys: &[&str]) -> Result<(), u64> {
        let mut attempts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if attempts.len() >= MAX_KEYS {
            attempts.retain(|_, times| {
                times.retain(|t| t.elapsed() < THROTTLE_WINDOW);
                !times.is_empty()
            });
            if attempts.len() >= MAX_KEYS {
                return Err(THROTTLE_WINDOW.as_secs());
            }
        }
        let wait = keys
            .iter()
            .filter_map(|key| {
                let times = attempts.get_mut(*key)?;
                times.retain(|t| t.elapsed() < THROTTLE_WINDOW);
                (times.len() >= MAX_FAILURES).then(|| {
                    let oldest = times.iter().min().copied().unwrap_or_else(Instant::now);
                    THROTTLE_WINDOW.saturating_sub(oldest.elapsed()).as_secs() + 1
                })
            })
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        for key in keys {
            attempts
                .entry((*key).to_owned())
                .or_default()
                .push(Instant::now());
        }
        Ok(())
    }

    /// Takes back a successful attempt: the login starts afresh, the address loses one count.
    pub fn succeed(&self, login: &str, address: Option<&str>) {
        let mut attempts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        attempts.remove(login);
        if let Some(times) = address.and_then(|a| attempts.get_mut(a)) {
            times.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_blocks_after_repeated_failures() {
        let throttle = Throttle::default();
        for _ in 0..MAX_FAILURES {
            assert_eq!(throttle.attempt(&["a@ville.fr", "10.0.0.1"]), Ok(()));
        }
        let refused = throttle.attempt(&["a@ville.fr", "10.0.0.2"]);
        assert!(refused.is_err_and(|s| s > 800), "{refused:?}");
        assert!(throttle.attempt(&["autre@ville.fr", "10.0.0.1"]).is_err());
        throttle.succeed("a@ville.fr", None);
        assert_eq!(throttle.attempt(&["a@ville.fr", "10.0.0.2"]), Ok(()));
    }

    #[test]
    fn successful_sign_ins_do_not_throttle_an_office() {
        let throttle = Throttle::default();
        for i in 0..3 * MAX_FAILURES {
            let login = format!("agent{i}@ville.fr");
            assert_eq!(throttle.attempt(&[&login, "10.0.0.1"]), Ok(()));
            throttle.succeed(&login, Some("10.0.0.1"));
        }
    }

    #[test]
    fn sessions_carry_a_csrf_token() {
        let sessions = Sessions::default();
        let id = sessions.open("a@ville.fr", "$argon2id$old");
        let session = sessions.get(&id).unwrap();
        assert!(session.credential_matches("$argon2id$old"));
        assert!(!session.credential_matches("$argon2id$new"));
        assert_eq!(session.login, "a@ville.fr");
        assert!(session.csrf_matches(&session.csrf.clone()));
        assert!(!session.csrf_matches("autre"));
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
    }
}
