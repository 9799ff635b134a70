//! Signed tree heads: the organisation's ledger key signs the size and root of its tree at a
//! time. Published on the organisation's public pages, a head noted by anyone pins the past:
//! a ledger rewritten afterwards, even consistently, no longer contains it.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::merkle::Hash;

/// The key that signs an organisation's tree heads (Ed25519).
pub struct LedgerKey(SigningKey);

impl LedgerKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        let key = LedgerKey(SigningKey::from_bytes(&seed));
        seed.zeroize();
        key
    }

    /// The key stored as its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        LedgerKey(SigningKey::from_bytes(seed))
    }

    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key, in hexadecimal: what the organisation publishes.
    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    /// The head of `organisation`'s tree of `size` events with root `root`, at `time`.
    pub fn sign(&self, organisation: &str, size: u64, root: &Hash, time: Timestamp) -> TreeHead {
        let mut head = TreeHead {
            organisation: organisation.to_owned(),
            size,
            root: hex::encode(root),
            time: time.to_string(),
            signature: String::new(),
        };
        head.signature = hex::encode(self.0.sign(&head.message()).to_bytes());
        head
    }
}

impl std::fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(f, "LedgerKey({})", self.public_hex())
    }
}

/// A signed tree head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TreeHead {
    pub organisation: String,
    /// The number of events the tree holds.
    pub size: u64,
    /// Its root hash, hexadecimal.
    pub root: String,
    /// When it was signed, UTC, RFC 3339.
    pub time: String,
    /// The Ed25519 signature of the fields above, hexadecimal.
    pub signature: String,
}

/// Why a tree head cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("la clé publique n'est pas une clé Ed25519 en hexadécimal")]
    Key,
    #[error("la signature de la tête d'arbre du {time} ne correspond pas à la clé publique")]
    Signature { time: String },
    #[error("la tête d'arbre du {time} a une empreinte racine illisible")]
    Root { time: String },
}

impl TreeHead {
    /// The bytes the signature covers.
    fn message(&self) -> Vec<u8> {
        format!(
            "registre-tree-head/1\n{}\n{}\n{}\n{}",
            self.organisation, self.size, self.root, self.time
        )
        .into_bytes()
    }

    /// The root, once the signature is checked against `public_key` (hexadecimal).
    pub fn verified_root(&self, public_key: &str) -> Result<Hash, HeadError> {
        let key: [u8; 32] = hex::decode(public_key)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(HeadError::Key)?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| HeadError::Key)?;
        let signature = hex::decode(&self.signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .ok_or_else(|| HeadError::Signature {
                time: self.time.clone(),
            })?;
        key.verify_strict(&self.message(), &signature)
            .map_err(|_| HeadError::Signature {
                time: self.time.clone(),
            })?;
        hex::decode(&self.root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| HeadError::Root {
                time: self.time.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_verifies_with_its_key_only_and_unaltered() {
        let key = LedgerKey::generate();
        let root = [7u8; 32];
        let head = key.sign(
            "commune-a",
            12,
            &root,
            "2026-12-07T10:00:00Z".parse().unwrap(),
        );
        assert_eq!(head.verified_root(&key.public_hex()), Ok(root));

        let other = LedgerKey::generate();
        assert!(matches!(
            head.verified_root(&other.public_hex()),
            Err(HeadError::Signature { .. })
        ));
        for altered in [
            TreeHead {
                size: 11,
                ..head.clone()
            },
            TreeHead {
                organisation: "commune-b".to_owned(),
                ..head.clone()
            },
            TreeHead {
                root: hex::encode([8u8; 32]),
                ..head.clone()
            },
        ] {
            assert!(altered.verified_root(&key.public_hex()).is_err());
        }
        assert_eq!(head.verified_root("zz"), Err(HeadError::Key));
    }

    #[test]
    fn a_key_comes_back_from_its_seed() {
        let key = LedgerKey::generate();
        let again = LedgerKey::from_seed(&key.seed());
        assert_eq!(key.public_hex(), again.public_hex());
        assert!(!format!("{key:?}").contains(&hex::encode(key.seed())));
    }
}
