//! The change log: each change of an organisation or activity, who made it and when, a
//! readable field-by-field difference, and the register rebuilt as of a date.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{StoreError, assemble, decode, register_of};
use crate::model::Register;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    /// The word a DPO reads.
    pub fn label(self) -> &'static str {
        match self {
            Operation::Create => "création",
            Operation::Update => "modification",
            Operation::Delete => "suppression",
        }
    }
}

/// One change, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// RFC 3339 time of the change.
    pub at: String,
    pub author: String,
    pub organisation: String,
    /// `None` for a change of the organisation's own fields.
    pub activity: Option<String>,
    pub operation: Operation,
    /// Place of the organisation or activity in the register, after the change.
    pub position: Option<i64>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A field that a change added, removed or modified.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Change {
    pub(super) fn decode(value: Value) -> Result<Self, StoreError> {
        decode(value)
    }

    /// The fields the change touched, in field order.
    pub fn diff(&self) -> Vec<FieldChange> {
        let empty = serde_json::Map::new();
        let before = self
            .before
            .as_ref()
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let after = self
            .after
            .as_ref()
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let fields: std::collections::BTreeSet<&String> =
            before.keys().chain(after.keys()).collect();
        fields
            .into_iter()
            .filter(|f| before.get(*f) != after.get(*f))
            .map(|f| FieldChange {
                field: f.clone(),
                before: before.get(f).cloned(),
                after: after.get(f).cloned(),
            })
            .collect()
    }
}

/// The register as the changes, applied in order, leave it.
pub(super) fn replay(changes: &[Change]) -> Result<Register, StoreError> {
    let mut organisations: BTreeMap<String, (i64, Value)> = BTreeMap::new();
    let mut activities: BTreeMap<(String, String), (i64, Value)> = BTreeMap::new();
    for change in changes {
        let state = match (&change.after, change.operation) {
            (Some(after), Operation::Create | Operation::Update) => {
                Some((change.position.unwrap_or(0), after.clone()))
            }
            _ => None,
        };
        match &change.activity {
            None => match state {
                Some(s) => {
                    organisations.insert(change.organisation.clone(), s);
                }
                None => {
                    organisations.remove(&change.organisation);
                }
            },
            Some(activity) => {
                let key = (change.organisation.clone(), activity.clone());
                match state {
                    Some(s) => {
                        activities.insert(key, s);
                    }
                    None => {
                        activities.remove(&key);
                    }
                }
            }
        }
    }
    let mut by_org: BTreeMap<String, Vec<(i64, Value)>> = BTreeMap::new();
    for ((org, _), (position, doc)) in activities {
        if organisations.contains_key(&org) {
            by_org.entry(org).or_default().push((position, doc));
        }
    }
    let rows = organisations
        .into_iter()
        .map(|(slug, (position, doc))| (position, slug, doc))
        .collect();
    Ok(register_of(assemble(rows, by_org)?))
}
