//! The version of a document: the SHA-256 of what it says. Built from the document's model,
//! not from the register, so it changes exactly when the register content it shows changes,
//! and not when an unrelated field (a security measure, a DPIA date) does.

use serde::Serialize;

use crate::digest::sha256_hex;

/// A document version: its short id, printed on the document, and the full hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct Version {
    /// The first 12 hexadecimal digits of the hash: short enough to read over the phone.
    pub id: String,
    pub sha256: String,
}

impl Version {
    /// The version of a document of `kind`, hashed in its JSON form (fields in struct order,
    /// so the hash is stable).
    pub fn of<T: Serialize>(kind: &str, content: &T) -> Version {
        let mut bytes = kind.as_bytes().to_vec();
        bytes.push(0);
        // Serialising structs of strings and lists cannot fail.
        let _ = serde_json::to_writer(&mut bytes, content);
        let sha256 = sha256_hex(&bytes);
        Version {
            id: sha256[..12].to_owned(),
            sha256,
        }
    }
}
