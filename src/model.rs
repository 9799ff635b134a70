//! The register of processing activities (RGPD art. 30) and its file format `registre/v1`.
//!
//! The types here are the one model shared by the register file, the store and the audit.
//! They know no I/O: [`load`] turns text into a checked [`Register`], listing every error.

mod check;
mod load;
mod period;
mod register;
mod shape;

pub mod hygiene;

pub use check::check_siren;
pub use load::{
    InputError, LoadError, Outside, SourceFormat, Unchecked, load_str, load_str_within, load_value,
    load_value_within, read_str, to_json, to_yaml,
};
pub use period::Period;
pub use register::*;

/// The format tag every register file starts with.
pub const FORMAT: &str = "registre/v1";
