//! Reading a register file: text → tree → structure → checks, reporting every error with its
//! path and, for YAML, its line.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use rayon::prelude::*;

use super::{Organisation, Register, check, shape};
use crate::vocabulary::{Countries, Vocabulary};

/// One problem of a register file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Where, as `organisations[0].activities[3].retention.active`; empty for the whole file.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl InputError {
    pub fn new(path: String, message: String) -> Self {
        InputError {
            path,
            line: None,
            message,
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "ligne {line}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// A register file that cannot be read; holds every error found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub errors: Vec<InputError>,
    /// The text is not YAML or JSON at all (rather than a register with errors).
    pub unreadable: bool,
}

impl std::error::Error for LoadError {}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{n} erreur{} dans le registre",
            if n > 1 { "s" } else { "" }
        )?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

/// The syntax of a register file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Yaml,
    Json,
}

impl SourceFormat {
    /// JSON for `.json` files, YAML otherwise (JSON is valid YAML, but slower to read that way).
    pub fn from_file_name(name: &str) -> Self {
        if name.to_ascii_lowercase().ends_with(".json") {
            SourceFormat::Json
        } else {
            SourceFormat::Yaml
        }
    }
}

/// Activities that exist outside a register, by organisation: sources may point to them when
/// their organisation is not in the register itself (an import of one organisation whose
/// activities take data from another one already stored).
pub type Outside = std::collections::HashMap<String, std::collections::HashSet<String>>;

/// Reads and checks a register.
pub fn load_str(
    text: &str,
    format: SourceFormat,
    vocabulary: &Vocabulary,
    countries: &Countries,
) -> Result<Register, LoadError> {
    load_str_within(text, format, vocabulary, countries, &Outside::new())
}

/// [`load_str`], sources also allowed to point to the activities of `outside`.
pub fn load_str_within(
    text: &str,
    format: SourceFormat,
    vocabulary: &Vocabulary,
    countries: &Countries,
    outside: &Outside,
) -> Result<Register, LoadError> {
    read_str(text, format).check(vocabulary, countries, outside)
}

/// A register file read, not yet checked. Reading needs no vocabulary: a large register can
/// be read while the rule pack loads.
pub struct Unchecked<'t> {
    text: &'t str,
    format: SourceFormat,
    read: Reading,
}

enum Reading {
    /// Refused before reading (a value too large, too deep…).
    Refused(Vec<InputError>),
    /// Read the fast way.
    Read(Register),
    /// Left to the thorough reader, which lists every error.
    Unread,
}

/// Reads a register file; [`Unchecked::check`] then checks it.
pub fn read_str(text: &str, format: SourceFormat) -> Unchecked<'_> {
    let refused = super::hygiene::scan_text(text);
    let read = if !refused.is_empty() {
        Reading::Refused(refused)
    } else {
        read_fast(text, format).map_or(Reading::Unread, Reading::Read)
    };
    Unchecked { text, format, read }
}

impl<'t> Unchecked<'t> {
    /// The text read.
    pub fn text(&self) -> &'t str {
        self.text
    }

    /// Checks the register against the vocabulary; sources may also point to the activities
    /// of `outside`.
    pub fn check(
        self,
        vocabulary: &Vocabulary,
        countries: &Countries,
        outside: &Outside,
    ) -> Result<Register, LoadError> {
        let Unchecked { text, format, read } = self;
        match read {
            Reading::Refused(errors) => Err(LoadError {
                errors,
                unreadable: false,
            }),
            Reading::Read(register) => {
                let errors = check::check(&register, vocabulary, countries, outside);
                if errors.is_empty() {
                    Ok(register)
                } else {
                    Err(LoadError {
                        errors: with_lines(text, format, errors),
                        unreadable: false,
                    })
                }
            }
            Reading::Unread => read_thorough(text, format, vocabulary, countries, outside),
        }
    }
}

/// Files larger than this are read on several cores.
const PARALLEL_READ_BYTES: usize = 1 << 20;

/// Reads a well-formed register straight into the model, with no tree in between (a large
/// register is read in slices, in parallel). `None` at the first problem of any kind: the
/// thorough reader then lists every error.
fn read_fast(text: &str, format: SourceFormat) -> Option<Register> {
    if format == SourceFormat::Json {
        return serde_json::from_str(text).ok();
    }
    if text.len() >= PARALLEL_READ_BYTES {
        let pieces = 4 * rayon::current_num_threads();
        if let Some((header, slices)) = crate::yaml::split_sequence(text, "organisations", pieces) {
            let mut register: Register = crate::yaml::from_str(&header).ok()?;
            let parts: Vec<Vec<Organisation>> = slices
                .par_iter()
                .map(|slice| crate::yaml::from_str(slice).ok())
                .collect::<Option<_>>()?;
            register.organisations = parts.into_iter().flatten().collect();
            return Some(register);
        }
    }
    crate::yaml::from_str(text).ok()
}

/// Reads any document into a tree, then lists every structural error (with lines for YAML)
/// before checking values.
fn read_thorough(
    text: &str,
    format: SourceFormat,
    vocabulary: &Vocabulary,
    countries: &Countries,
    outside: &Outside,
) -> Result<Register, LoadError> {
    let value = match format {
        SourceFormat::Yaml => crate::yaml::parse(text).map_err(|e| LoadError {
            errors: vec![InputError {
                path: String::new(),
                line: e.line,
                message: e.message,
            }],
            unreadable: true,
        })?,
        SourceFormat::Json => {
            let keys = super::hygiene::json_key_problems(text);
            if !keys.is_empty() {
                return Err(LoadError {
                    errors: keys,
                    unreadable: false,
                });
            }
            serde_json::from_str(text).map_err(|e| LoadError {
                errors: vec![InputError {
                    path: String::new(),
                    line: Some(e.line()),
                    message: format!("JSON illisible : {e}"),
                }],
                unreadable: true,
            })?
        }
    };
    load_value_within(value, vocabulary, countries, outside).map_err(|e| LoadError {
        errors: with_lines(text, format, e.errors),
        unreadable: false,
    })
}

/// Checks a register given as a JSON tree (an API request body), listing every error with its
/// path.
pub fn load_value(
    value: Value,
    vocabulary: &Vocabulary,
    countries: &Countries,
) -> Result<Register, LoadError> {
    load_value_within(value, vocabulary, countries, &Outside::new())
}

/// [`load_value`], sources also allowed to point to the activities of `outside`.
pub fn load_value_within(
    mut value: Value,
    vocabulary: &Vocabulary,
    countries: &Countries,
    outside: &Outside,
) -> Result<Register, LoadError> {
    // A null stands for an absent field, but an unknown field stays an error whatever its
    // value (a stray `foo:`, a comma cut in an unquoted flow mapping).
    let unknown = unknown_null_fields(&value);
    remove_nulls(&mut value);
    let errors = match Register::deserialize(&value) {
        Ok(register) => {
            let mut errors = unknown;
            errors.extend(check::check(&register, vocabulary, countries, outside));
            if errors.is_empty() {
                return Ok(register);
            }
            errors
        }
        Err(serde_error) => {
            let shape_errors = shape::check(&value);
            if shape_errors.is_empty() {
                vec![InputError::new(String::new(), serde_error.to_string())]
            } else {
                with_value_errors(value, shape_errors, vocabulary, countries, outside)
            }
        }
    };
    Err(LoadError {
        errors,
        unreadable: false,
    })
}

/// The structural errors, plus the errors of values found once the structural ones are set
/// aside, so that one reading lists them all. Value errors inside a repaired part are left
/// out: they would only echo the structural error.
fn with_value_errors(
    mut value: Value,
    shape_errors: Vec<shape::ShapeError>,
    vocabulary: &Vocabulary,
    countries: &Countries,
    outside: &Outside,
) -> Vec<InputError> {
    let mut hidden: Vec<String> = Vec::new();
    let mut removals: Vec<&str> = Vec::new();
    for e in &shape_errors {
        match &e.repair {
            shape::Repair::Remove(pointer) => {
                removals.push(pointer);
                // Removing a list item shifts the items after it.
                let parent = pointer.rsplit_once('/').map_or("", |(p, _)| p);
                if value.pointer(parent).is_some_and(Value::is_array) {
                    hidden.push(shape::dotted_path(&value, parent));
                } else {
                    hidden.push(e.error.path.clone());
                }
            }
            shape::Repair::Fill(pointer, field) => {
                hidden.push(e.error.path.clone());
                let neutral = match field.as_str() {
                    "organisations" => Value::Array(Vec::new()),
                    "status" => Value::String("none".to_owned()),
                    _ => Value::String(String::new()),
                };
                if let Some(Value::Object(map)) = value.pointer_mut(pointer) {
                    map.insert(field.clone(), neutral);
                }
            }
        }
    }
    // Deepest and last first, so that earlier pointers stay valid.
    removals.sort_by(|a, b| b.cmp(a));
    for pointer in removals {
        remove_pointer(&mut value, pointer);
    }
    let mut errors: Vec<InputError> = shape_errors.into_iter().map(|e| e.error).collect();
    if let Ok(register) = Register::deserialize(&value) {
        let under = |path: &str, hidden: &str| {
            hidden.is_empty()
                || path == hidden
                || path
                    .strip_prefix(hidden)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        };
        errors.extend(
            check::check(&register, vocabulary, countries, outside)
                .into_iter()
                .filter(|e| !hidden.iter().any(|h| under(&e.path, h))),
        );
    }
    errors
}

fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.shift_remove(&key);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// Fills in the line of each error; only done when there are errors, so valid files are
/// read without recording positions.
fn with_lines(text: &str, format: SourceFormat, mut errors: Vec<InputError>) -> Vec<InputError> {
    if format == SourceFormat::Yaml
        && let Ok((_, lines)) = crate::yaml::parse_with_lines(text)
    {
        for error in &mut errors {
            error.line = error.line.or_else(|| lines.line_of(&error.path));
        }
    }
    // In file order (a stable sort: errors without a line keep the order they were found in).
    errors.sort_by_key(|e| e.line);
    errors
}

/// `field: null` means the same as no field at all.
/// The unknown fields of `value` whose value is null (the others are found once nulls are
/// removed).
fn unknown_null_fields(value: &Value) -> Vec<InputError> {
    shape::check(value)
        .into_iter()
        .filter(|e| match &e.repair {
            shape::Repair::Remove(pointer) => {
                value.pointer(pointer).is_some_and(Value::is_null)
                    && e.error.message.contains("inconnu")
            }
            shape::Repair::Fill(..) => false,
        })
        .map(|e| e.error)
        .collect()
}

fn remove_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(remove_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_nulls),
        _ => {}
    }
}

/// Writes a register as YAML in the `registre/v1` format.
pub fn to_yaml(register: &Register) -> String {
    crate::yaml::to_string(&to_value(register))
}

/// Writes a register as pretty JSON in the `registre/v1` format.
pub fn to_json(register: &Register) -> String {
    serde_json::to_string_pretty(&to_value(register)).unwrap_or_default() + "\n"
}

fn to_value(register: &Register) -> Value {
    // The model serialises only strings, booleans, lists and maps: this cannot fail.
    serde_json::to_value(register).unwrap_or(Value::Null)
}
