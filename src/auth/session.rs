//! Browser sessions and sign-in throttling: the rules, with "now" passed in. Both are kept in
//! the database (`store`), so that every `registre serve` sharing it agrees on them.

use jiff::{SignedDuration, Timestamp};
use subtle::ConstantTimeEq;

use super::token::{random_secret, token_hash};

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: SignedDuration = SignedDuration::from_mins(30);
/// A session ends this long after sign-in, however busy: the cookie expires with it.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(10);
/// How stale the last-seen time of a session may get before a request writes it again: a
/// page read does not cost a write.
pub const TOUCH_AFTER: SignedDuration = SignedDuration::from_mins(1);

/// `t + d`, the end of time if that overflows.
pub fn later(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// `t - d`, the start of time if that overflows.
pub fn earlier(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_sub(d).unwrap_or(Timestamp::MIN)
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub login: String,
    /// The synchronizer token every form and state-changing request of the session carries.
    pub csrf: String,
    /// A fingerprint of the password hash at sign-in: a new password ends the session.
    pub credential: String,
    pub created_at: Timestamp,
    pub last_seen: Timestamp,
}

impl Session {
    /// A new session for an account whose password hash is `password_hash`, and its id (only
    /// its hash is stored: see [`Session::key`]).
    pub fn open(login: &str, password_hash: &str, now: Timestamp) -> (String, Session) {
        let session = Session {
            login: login.to_owned(),
            csrf: random_secret(),
            credential: token_hash(password_hash),
            created_at: now,
            last_seen: now,
        };
        (random_secret(), session)
    }

    /// The stored key of a session id.
    pub fn key(id: &str) -> String {
        token_hash(id)
    }

    /// When the session ends at the latest, whatever it does.
    pub fn expires_at(&self) -> Timestamp {
        later(self.created_at, SESSION_LIFETIME)
    }

    /// Whether the session still holds at `now`: within its lifetime and not idle too long.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at() && now < later(self.last_seen, IDLE_TIMEOUT)
    }

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

/// Failed sign-ins allowed per login and per address within [`THROTTLE_WINDOW`], whoever
/// sends them: a login under attack is locked for everyone until its failures age out, or
/// an administrator unlocks it (`registre user unlock`).
pub const MAX_FAILURES: usize = 5;
/// The window failures are counted in, and how long a throttled key waits.
pub const THROTTLE_WINDOW: SignedDuration = SignedDuration::from_mins(15);

/// The attempts of `attempts` still inside the window at `now`.
pub fn recent_attempts(attempts: &[Timestamp], now: Timestamp) -> Vec<Timestamp> {
    let since = earlier(now, THROTTLE_WINDOW);
    attempts.iter().copied().filter(|t| *t > since).collect()
}

/// Seconds until a key with these recent `attempts` may try again; `None` if it may now.
pub fn throttle_wait(attempts: &[Timestamp], now: Timestamp) -> Option<u64> {
    let mut recent = recent_attempts(attempts, now);
    if recent.len() < MAX_FAILURES {
        return None;
    }
    recent.sort();
    // The key may try again once one attempt fewer than the limit is left in the window.
    let frees = later(recent[recent.len() - MAX_FAILURES], THROTTLE_WINDOW);
    let seconds = frees.duration_since(now).as_secs().max(0);
    Some(u64::try_from(seconds).unwrap_or(0) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> Timestamp {
        later(
            Timestamp::UNIX_EPOCH,
            SignedDuration::from_mins(1000 + minutes),
        )
    }

    #[test]
    fn a_key_waits_once_it_has_failed_too_often() {
        let attempts: Vec<Timestamp> = (0..MAX_FAILURES as i64).map(at).collect();
        assert_eq!(throttle_wait(&attempts[..MAX_FAILURES - 1], at(5)), None);
        let waited = throttle_wait(&attempts, at(5)).unwrap();
        assert!((590..=601).contains(&waited), "{waited}");
        assert_eq!(
            throttle_wait(&attempts, at(16)),
            None,
            "the first failure left the window"
        );
    }

    #[test]
    fn sessions_end_when_idle_or_old() {
        let (id, mut session) = Session::open("a@ville.fr", "$argon2id$old", at(0));
        assert_ne!(Session::key(&id), id);
        assert!(session.is_live(at(29)));
        assert!(!session.is_live(at(31)), "idle for 31 minutes");
        session.last_seen = at(599);
        assert!(session.is_live(at(599)));
        assert!(!session.is_live(at(601)), "past its lifetime, however busy");
        assert!(session.credential_matches("$argon2id$old"));
        assert!(!session.credential_matches("$argon2id$new"));
        assert!(session.csrf_matches(&session.csrf.clone()));
        assert!(!session.csrf_matches("autre"));
    }
}
