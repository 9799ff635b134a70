//! The bodies the JSON API answers with, one type each, so that the OpenAPI document
//! describes them from the same definitions the handlers serialise.

use schemars::JsonSchema;
use serde::Serialize;

use crate::auth::{Grant, User};
use crate::model::{Activity, Organisation};
use crate::service::NewToken;
use crate::store::{Change, DocumentVersion, FieldChange, Operation, Token};

/// The authenticated caller.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Me {
    pub login: String,
    pub name: String,
    /// The roles this request may use (an API token carries one).
    pub grants: Vec<Grant>,
}

/// The organisations visible to the caller, without their activities.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrganisationList {
    pub organisations: Vec<Organisation>,
}

/// An organisation's activities, those the filters keep.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActivityList {
    pub organisation: String,
    pub activities: Vec<Activity>,
}

/// One change of the register, with its differences field by field.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HistoryEntry {
    /// RFC 3339 time of the change.
    pub at: String,
    pub author: String,
    pub operation: Operation,
    /// The operation in French: création, modification, suppression.
    pub label: String,
    /// `null` for a change of the organisation's own fields.
    pub activity: Option<String>,
    pub changes: Vec<FieldChange>,
}

/// Changes, oldest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct History {
    pub history: Vec<HistoryEntry>,
}

impl From<Vec<Change>> for History {
    fn from(changes: Vec<Change>) -> Self {
        History {
            history: changes
                .into_iter()
                .map(|c| HistoryEntry {
                    changes: c.diff(),
                    at: c.at,
                    author: c.author,
                    operation: c.operation,
                    label: c.operation.label().to_owned(),
                    activity: c.activity,
                })
                .collect(),
        }
    }
}

/// API tokens, never their secret.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenList {
    pub tokens: Vec<Token>,
}

/// A token just created, with its secret: shown this once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedToken {
    pub id: String,
    /// The secret to send as `Authorization: Bearer …`.
    pub token: String,
    pub name: String,
    pub grant: Grant,
    pub days: i64,
    pub note: String,
}

impl From<NewToken> for CreatedToken {
    fn from(t: NewToken) -> Self {
        CreatedToken {
            id: t.id,
            token: t.secret,
            name: t.name,
            grant: t.grant,
            days: t.days,
            note: "conservez ce jeton : il n'est affiché qu'une fois".to_owned(),
        }
    }
}

/// Every account.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

/// The document versions of an organisation, without their content.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DocumentVersions {
    pub organisation: String,
    pub versions: Vec<DocumentVersion>,
}
