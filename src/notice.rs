//! Citizen notices (RGPD art. 13 and 14), computed from the register. This first part is the
//! rights each legal basis gives, which every notice lists, and retention in words.

mod retention;
mod rights;

pub use retention::retention_in_words;
pub use rights::{Right, RightHolds, rights_for};
