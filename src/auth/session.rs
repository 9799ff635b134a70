//! Browser sessions and sign-in throttling, kept in memory: a restart signs everyone out, and
//! the throttle is per server process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use super::token::random_secret;

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub login: String,
    /// The synchronizer token every form and state-changing request of the session carries.
    pub csrf: String,
    last_seen: Instant,
}

impl Session {
    /// Whether `token` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        self.csrf.as_bytes().ct_eq(token.as_bytes()).into()
    }
}

/// The live sessions, by session id.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl Sessions {
    /// Opens a session; returns its id.
    pub fn open(&self, login: &str) -> String {
        let id = random_secret();
        let session = Session {
            login: login.to_owned(),
            csrf: random_secret(),
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

/// Counts failed sign-ins by key (a login, an address): past [`MAX_FAILURES`] within the
/// window, sign-in is refused until the oldest failure leaves it, whatever the password.
#[derive(Default)]
pub struct Throttle(Mutex<HashMap<String, Vec<Instant>>>);

impl Throttle {
    /// `Some(seconds to wait)` when any of the keys is throttled.
    pub fn blocked(&self, keys: &[&str]) -> Option<u64> {
        let mut failures = self.0.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|key| {
                let times = failures.get_mut(*key)?;
                times.retain(|t| t.elapsed() < THROTTLE_WINDOW);
                (times.len() >= MAX_FAILURES).then(|| {
                    let oldest = times.iter().min().copied().unwrap_or_else(Instant::now);
                    THROTTLE_WINDOW.saturating_sub(oldest.elapsed()).as_secs() + 1
                })
            })
            .max()
    }

    pub fn fail(&self, keys: &[&str]) {
        let mut failures = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > 100_000 {
            // Bounded memory under a spray of logins: forget expired entries.
            failures.retain(|_, times| times.iter().any(|t| t.elapsed() < THROTTLE_WINDOW));
        }
        for key in keys {
            failures
                .entry((*key).to_owned())
                .or_default()
                .push(Instant::now());
        }
    }

    /// A successful sign-in clears the login's count (not the address's).
    pub fn succeed(&self, login: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(login);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_blocks_after_repeated_failures() {
        let throttle = Throttle::default();
        for _ in 0..MAX_FAILURES - 1 {
            throttle.fail(&["a@ville.fr", "10.0.0.1"]);
        }
        assert_eq!(throttle.blocked(&["a@ville.fr"]), None);
        throttle.fail(&["a@ville.fr", "10.0.0.1"]);
        assert!(throttle.blocked(&["a@ville.fr"]).is_some_and(|s| s > 800));
        assert!(throttle.blocked(&["autre@ville.fr", "10.0.0.1"]).is_some());
        throttle.succeed("a@ville.fr");
        assert_eq!(throttle.blocked(&["a@ville.fr", "10.0.0.2"]), None);
    }

    #[test]
    fn sessions_carry_a_csrf_token() {
        let sessions = Sessions::default();
        let id = sessions.open("a@ville.fr");
        let session = sessions.get(&id).unwrap();
        assert_eq!(session.login, "a@ville.fr");
        assert!(session.csrf_matches(&session.csrf.clone()));
        assert!(!session.csrf_matches("autre"));
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
    }
}
