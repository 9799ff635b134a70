//! SHA-256 in lower-case hexadecimal: how registre names API tokens, document versions and
//! rendered files.

use sha2::{Digest, Sha256};

pub fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(data)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}
