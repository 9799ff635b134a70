//! The structure of a register file, as a JSON Schema generated from the model types, used
//! to list every structural error (unknown field, wrong type, missing id) at once.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::Register;
use super::hygiene::shown;
use super::load::InputError;

fn validator() -> Option<&'static jsonschema::Validator> {
    static VALIDATOR: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            let schema = schema();
            jsonschema::validator_for(&schema).ok()
        })
        .as_ref()
}

/// The JSON Schema of the register format.
pub fn schema() -> Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12();
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<Register>()
        .to_value();
    strip_null(&mut schema);
    schema
}

/// Nulls are removed from the tree before checking (`null` and an absent field mean the same),
/// so the schema drops its `null` alternatives: an error inside an optional block then names
/// its field instead of "matches none of the alternatives".
fn strip_null(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            if let Some(Value::Array(types)) = obj.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    obj.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = obj.get_mut("anyOf") {
                any.retain(|s| s.get("type").and_then(Value::as_str) != Some("null"));
                if let [only] = any.as_slice() {
                    let only = only.clone();
                    obj.remove("anyOf");
                    if let Value::Object(fields) = only {
                        obj.extend(fields);
                    }
                }
            }
            obj.values_mut().for_each(strip_null);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

/// How to set a structural error aside so that the rest of the register can still be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Repair {
    /// Drop the node at this JSON pointer (an unknown field, a value of the wrong type).
    Remove(String),
    /// Put a neutral value for a missing required field of the object at this pointer.
    Fill(String, String),
}

/// A structural error and how to set it aside.
pub(super) struct ShapeError {
    pub error: InputError,
    pub repair: Repair,
}

/// Every structural error of `value` (nulls already removed).
pub(super) fn check(value: &Value) -> Vec<ShapeError> {
    let Some(validator) = validator() else {
        return vec![ShapeError {
            error: InputError::new(
                String::new(),
                "schéma interne du format invalide".to_owned(),
            ),
            repair: Repair::Remove(String::new()),
        }];
    };
    let mut errors = Vec::new();
    for error in validator.iter_errors(value) {
        collect(
            value,
            error.instance_path().as_str(),
            error.kind(),
            &mut errors,
        );
    }
    errors.sort_by(|a, b| a.error.path.cmp(&b.error.path));
    errors.dedup_by(|a, b| a.error.path == b.error.path && a.error.message == b.error.message);
    errors
}

fn collect(root: &Value, pointer: &str, kind: &ValidationErrorKind, out: &mut Vec<ShapeError>) {
    let path = dotted_path(root, pointer);
    let join = |field: &str| {
        let field = shown(field);
        if path.is_empty() {
            field.into_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let child = |field: &str| format!("{pointer}/{}", field.replace('~', "~0").replace('/', "~1"));
    let mut push = |path: String, message: String, repair: Repair| {
        out.push(ShapeError {
            error: InputError::new(path, message),
            repair,
        });
    };
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for field in unexpected {
                push(
                    join(field),
                    format!("champ `{}` inconnu du format registre/v1", shown(field)),
                    Repair::Remove(child(field)),
                );
            }
        }
        ValidationErrorKind::Required { property } => {
            let field = property.as_str().unwrap_or_default();
            push(
                join(field),
                format!("champ obligatoire `{field}` absent"),
                Repair::Fill(pointer.to_owned(), field.to_owned()),
            );
        }
        ValidationErrorKind::Type { kind } => {
            let found = describe(root.pointer(pointer));
            push(
                path.clone(),
                format!("type invalide : attendu {}, trouvé {found}", expected(kind)),
                Repair::Remove(pointer.to_owned()),
            );
        }
        ValidationErrorKind::Enum { options }
        | ValidationErrorKind::Constant {
            expected_value: options,
        } => {
            let allowed: Vec<String> = match options.as_ref() {
                Value::Array(items) => items.iter().map(|v| format!("`{}`", text(v))).collect(),
                other => vec![format!("`{}`", text(other))],
            };
            let found = root.pointer(pointer).map(text).unwrap_or_default();
            push(
                path.clone(),
                format!("valeur `{found}` inconnue : attendu {}", allowed.join(", ")),
                Repair::Remove(pointer.to_owned()),
            );
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // The branch with the fewest errors is the one the author meant.
            if let Some(best) = context.iter().min_by_key(|c| c.len()) {
                for e in best {
                    collect(root, e.instance_path().as_str(), e.kind(), out);
                }
            }
        }
        other => push(
            path.clone(),
            format!("valeur invalide ({other:?})"),
            Repair::Remove(pointer.to_owned()),
        ),
    }
}

fn expected(kind: &TypeKind) -> String {
    let name = |t: &jsonschema::JsonType| match t.to_string().as_str() {
        "string" => "un texte",
        "boolean" => "un booléen (true ou false)",
        "array" => "une liste",
        "object" => "un bloc de champs",
        "integer" | "number" => "un nombre",
        "null" => "rien",
        _ => "une autre valeur",
    };
    match kind {
        TypeKind::Single(t) => name(t).to_owned(),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| name(&t))
            .collect::<Vec<_>>()
            .join(" ou "),
    }
}

fn describe(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "rien".to_owned(),
        Some(Value::Bool(b)) => format!("le booléen `{b}`"),
        Some(Value::Number(n)) => {
            format!("le nombre `{n}` (mettez-le entre guillemets si c'est un texte)")
        }
        Some(Value::String(s)) => format!("le texte `{}`", shorten(s)),
        Some(Value::Array(_)) => "une liste".to_owned(),
        Some(Value::Object(_)) => "un bloc de champs".to_owned(),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => shorten(s),
        other => shorten(&other.to_string()),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// `/organisations/0/activities/3` → `organisations[0].activities[3]`, reading the tree to
/// tell array indexes from object keys.
pub(super) fn dotted_path(root: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut node = Some(root);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match node {
            Some(Value::Array(items)) => {
                out.push_str(&format!("[{segment}]"));
                node = segment.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            other => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&shown(&segment));
                node = other.and_then(|v| v.get(&segment));
            }
        }
    }
    out
}
