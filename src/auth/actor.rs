//! Who acts on the register and what they may do there: the permission rules every way in
//! (web pages, JSON API, command line) applies through the service layer.

use super::{Role, User};

/// Someone acting on the register, with the grants this action may use (a token carries
/// one grant only).
#[derive(Debug, Clone)]
pub struct Actor {
    /// Who is written in the history: the login, and the token's name if any.
    pub author: String,
    pub rights: User,
    /// The API token's id, when the action comes with one: a token may not manage tokens.
    pub token: Option<String>,
}

/// What an action needs on an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read the register (every role).
    Read,
    /// Run audits and read history (auditor, dpo, admin).
    Audit,
    /// Change the register (dpo, admin).
    Edit,
    /// Record consents and withdrawals received by the organisation (agent, dpo, admin).
    RecordConsent,
}

/// Why an action is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The organisation is not visible to the actor: answered as if it did not exist.
    Hidden(String),
    /// Visible, but not the actor's to do.
    Forbidden(String),
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denied::Hidden(m) | Denied::Forbidden(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Denied {}

/// The answer for an organisation that is missing or not visible: the same for both.
pub fn unknown_organisation(organisation: &str) -> Denied {
    Denied::Hidden(format!("organisme `{organisation}` introuvable"))
}

impl Actor {
    /// The command line run on the server: an administrator, named after the system user.
    pub fn command_line(author: &str) -> Self {
        Actor {
            author: author.to_owned(),
            rights: User {
                login: author.to_owned(),
                name: author.to_owned(),
                grants: vec![super::Grant {
                    role: Role::Admin,
                    organisation: None,
                }],
                disabled: false,
            },
            token: None,
        }
    }

    /// A person acting as themselves (a password or a browser session).
    pub fn person(user: User) -> Self {
        Actor {
            author: user.login.clone(),
            rights: user,
            token: None,
        }
    }

    pub fn login(&self) -> &str {
        &self.rights.login
    }

    pub fn is_admin(&self) -> bool {
        !self.rights.disabled && self.rights.grants.iter().any(|g| g.role == Role::Admin)
    }

    pub fn may(&self, need: Need, organisation: &str) -> bool {
        let can = |role| self.rights.can(role, organisation);
        match need {
            Need::Read => can(Role::Agent) || can(Role::Auditor),
            Need::Audit => can(Role::Auditor),
            Need::Edit => can(Role::Dpo),
            Need::RecordConsent => can(Role::Agent),
        }
    }

    /// Whether the actor holds `role` on some organisation (or is an administrator).
    pub fn holds_any(&self, roles: &[Role]) -> bool {
        self.is_admin() || self.rights.grants.iter().any(|g| roles.contains(&g.role))
    }

    /// The organisations the actor holds one of `roles` on.
    pub fn organisations_as(&self, roles: &[Role]) -> std::collections::BTreeSet<String> {
        self.rights
            .grants
            .iter()
            .filter(|g| roles.contains(&g.role))
            .filter_map(|g| g.organisation.clone())
            .collect()
    }

    /// Ok when allowed; [`Denied::Hidden`] when the actor may not even see the organisation
    /// (its existence is not revealed), [`Denied::Forbidden`] when they see it but may not
    /// do this.
    pub fn require(&self, need: Need, organisation: &str) -> Result<(), Denied> {
        if self.may(need, organisation) {
            Ok(())
        } else if self.may(Need::Read, organisation) {
            Err(Denied::Forbidden(format!(
                "votre rôle ne permet pas cette action sur l'organisme `{organisation}`"
            )))
        } else {
            Err(unknown_organisation(organisation))
        }
    }

    pub fn require_admin(&self) -> Result<(), Denied> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Denied::Forbidden("réservé aux administrateurs".into()))
        }
    }
}
