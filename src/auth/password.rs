//! Password strength (CNIL délibération n° 2022-100) and Argon2id hashing.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use thiserror::Error;

/// Entropy a password must reach when it is the only authentication factor.
pub const MIN_ENTROPY_BITS: f64 = 80.0;

/// A password that cannot be accepted, with what to do about it.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PasswordError {
    #[error(
        "mot de passe trop faible ({bits:.0} bits d'entropie, {MIN_ENTROPY_BITS:.0} exigés par la CNIL) : \
         utilisez au moins 12 caractères mêlant majuscules, minuscules, chiffres et caractères spéciaux, \
         ou une phrase de passe plus longue"
    )]
    TooWeak { bits: f64 },
    #[error("le mot de passe ne doit pas contenir l'identifiant")]
    ContainsLogin,
    #[error("le mot de passe n'a pas pu être chiffré : {0}")]
    Hashing(String),
}

/// Entropy as the CNIL counts it: length × log2(size of the alphabets used).
pub fn entropy_bits(password: &str) -> f64 {
    let mut alphabet = 0u32;
    let has = |f: fn(char) -> bool| password.chars().any(f);
    if has(|c| c.is_ascii_lowercase()) {
        alphabet += 26;
    }
    if has(|c| c.is_ascii_uppercase()) {
        alphabet += 26;
    }
    if has(|c| c.is_ascii_digit()) {
        alphabet += 10;
    }
    if has(|c| c.is_ascii_punctuation() || c == ' ') {
        alphabet += 33;
    }
    if has(|c| !c.is_ascii()) {
        // Accented letters and other characters: counted as a small extra alphabet.
        alphabet += 30;
    }
    let length = password.chars().count() as f64;
    if alphabet == 0 {
        return 0.0;
    }
    length * f64::from(alphabet).log2()
}

/// Refuses passwords below [`MIN_ENTROPY_BITS`] or containing the login.
pub fn check_password_strength(password: &str, login: &str) -> Result<(), PasswordError> {
    let local = login.split('@').next().unwrap_or(login).to_lowercase();
    if local.len() >= 3 && password.to_lowercase().contains(&local) {
        return Err(PasswordError::ContainsLogin);
    }
    let bits = entropy_bits(password);
    if bits < MIN_ENTROPY_BITS {
        return Err(PasswordError::TooWeak { bits });
    }
    Ok(())
}

/// A salted Argon2id hash in PHC format.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Whether `password` matches a stored hash (in constant time).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cnil_examples() {
        // 12 characters of four kinds: about 79 bits with a 95-character alphabet; 13 pass.
        assert!(check_password_strength("Tr0ub4dor&3xY", "agent@ville.fr").is_ok());
        assert!(check_password_strength("Tr0ub4dor&3", "agent@ville.fr").is_err());
        // A long passphrase of lower-case words passes, a short one does not.
        assert!(
            check_password_strength("cheval batterie agrafe correct", "agent@ville.fr").is_ok()
        );
        assert!(check_password_strength("motdepasse", "agent@ville.fr").is_err());
        assert_eq!(
            check_password_strength("Marie.Martin-2026-Bureau!", "marie.martin@ville.fr"),
            Err(PasswordError::ContainsLogin)
        );
    }

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let a = hash_password("cheval batterie agrafe correct").unwrap();
        let b = hash_password("cheval batterie agrafe correct").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "a new salt each time");
        assert!(verify_password("cheval batterie agrafe correct", &a));
        assert!(!verify_password("cheval batterie agrafe correcte", &a));
        assert!(!verify_password("x", "not a hash"));
    }
}
