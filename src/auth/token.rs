//! Secrets handed to clients: API tokens and session ids. 256 random bits each, so only a
//! SHA-256 of an API token is stored (a slow hash adds nothing to a secret this long).

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The prefix that tells a registre API token apart (and lets secret scanners find leaks).
pub const TOKEN_PREFIX: &str = "rgt_";

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// 32 random bytes from the operating system, in URL-safe base64.
pub fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A new API token, and the hash to store.
pub fn new_token() -> (String, String) {
    let token = format!("{TOKEN_PREFIX}{}", random_secret());
    let hash = token_hash(&token);
    (token, hash)
}

/// The stored form of a token: SHA-256, lowercase hex.
pub fn token_hash(token: &str) -> String {
    crate::digest::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_hashed() {
        let (a, hash_a) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert_eq!(hash_a.len(), 64);
        assert_eq!(token_hash(&a), hash_a);
        assert!(!hash_a.contains(&a[TOKEN_PREFIX.len()..]));
    }
}
