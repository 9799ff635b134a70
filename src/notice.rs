//! Citizen notices (RGPD art. 13 and 14), computed from the register. This first part is the
//! rights each legal basis gives, which every notice lists.

mod rights;

pub use rights::{Right, RightHolds, rights_for};
