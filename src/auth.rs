//! Users, roles per organisation and passwords. Passwords follow CNIL délibération
//! n° 2022-100 (at least 80 bits of entropy when the password is the only factor) and are
//! stored as salted Argon2id hashes, never in clear.

mod actor;
mod password;
mod session;
mod token;

use serde::{Deserialize, Serialize};

pub use actor::{Actor, Denied, Need, unknown_organisation};
pub use password::{PasswordError, check_password_strength, hash_password, verify_password};
pub use session::{
    IDLE_TIMEOUT, MAX_FAILURES, SESSION_LIFETIME, Session, THROTTLE_WINDOW, TOUCH_AFTER, earlier,
    later, recent_attempts, throttle_wait,
};
pub use token::{TOKEN_PREFIX, new_token, random_bytes, random_secret, token_hash};

/// What a user may do, for one organisation or for all (admin).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, on every organisation: organisations, users, roles.
    Admin,
    /// Keeps the registers of the organisations they serve.
    Dpo,
    /// Reads their organisation's register, generates documents, records consents.
    Agent,
    /// Reads the organisations assigned and runs audits.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dpo => "dpo",
            Role::Agent => "agent",
            Role::Auditor => "auditor",
        }
    }
}

/// A role on one organisation; an admin's grant covers every organisation.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Grant {
    pub role: Role,
    /// `None` only for admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
}

/// A user account, as stored (the hash is never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct User {
    /// The login: an e-mail address.
    pub login: String,
    pub name: String,
    pub grants: Vec<Grant>,
    pub disabled: bool,
}

impl User {
    /// Whether the user may act with `role` (or a stronger one) on `organisation`.
    pub fn can(&self, role: Role, organisation: &str) -> bool {
        !self.disabled
            && self.grants.iter().any(|g| {
                g.role == Role::Admin
                    || (g.organisation.as_deref() == Some(organisation)
                        && (g.role == role || g.role == Role::Dpo && role != Role::Admin))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(grants: Vec<Grant>) -> User {
        User {
            login: "a@ville.fr".into(),
            name: "A".into(),
            grants,
            disabled: false,
        }
    }

    #[test]
    fn roles_are_per_organisation() {
        let dpo = user(vec![Grant {
            role: Role::Dpo,
            organisation: Some("ville".into()),
        }]);
        assert!(dpo.can(Role::Dpo, "ville"));
        assert!(
            dpo.can(Role::Agent, "ville"),
            "a DPO can do what an agent does"
        );
        assert!(!dpo.can(Role::Dpo, "ccas"));
        assert!(!dpo.can(Role::Admin, "ville"));
        let agent = user(vec![Grant {
            role: Role::Agent,
            organisation: Some("ville".into()),
        }]);
        assert!(agent.can(Role::Agent, "ville") && !agent.can(Role::Dpo, "ville"));
        let admin = user(vec![Grant {
            role: Role::Admin,
            organisation: None,
        }]);
        assert!(admin.can(Role::Dpo, "anywhere"));
        let mut disabled = admin.clone();
        disabled.disabled = true;
        assert!(!disabled.can(Role::Agent, "ville"));
    }
}
