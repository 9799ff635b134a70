//! YAML reading and writing through `serde_json::Value`, the one in-memory tree every format shares.
//!
//! Reading follows the YAML 1.2 core schema. Anchors and aliases are refused: a register has no use
//! for them and they make "billion laughs" inputs possible. Positions (1-based lines) of every
//! node can be recorded so that errors found later on the tree can name their line.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use thiserror::Error;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::{Yaml, YamlEmitter};

/// A YAML document that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct YamlError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

/// Lines of the nodes of a document, keyed by their path (`organisations[0].activities[3].id`).
#[derive(Debug, Default, Clone)]
pub struct LineIndex(HashMap<String, usize>);

impl LineIndex {
    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(line) = self.0.get(p) {
                return Some(*line);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// Parses a YAML document into a JSON tree.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    build(text, false).map(|(value, _)| value)
}

/// Parses a YAML document into a JSON tree and records the line of every node.
pub fn parse_with_lines(text: &str) -> Result<(Value, LineIndex), YamlError> {
    build(text, true)
}

fn build(text: &str, with_lines: bool) -> Result<(Value, LineIndex), YamlError> {
    let mut builder = TreeBuilder {
        with_lines,
        ..TreeBuilder::default()
    };
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| YamlError {
        line: Some(e.marker().line()),
        message: format!("YAML illisible : {}", e.info()),
    })?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    let value = builder.documents.into_iter().next().unwrap_or(Value::Null);
    Ok((value, LineIndex(builder.lines)))
}

enum Frame {
    Sequence(Vec<Value>),
    Mapping(Map<String, Value>, Option<String>),
}

#[derive(Default)]
struct TreeBuilder {
    with_lines: bool,
    stack: Vec<Frame>,
    /// Path segments of the open containers, used only when recording lines.
    path: Vec<String>,
    lines: HashMap<String, usize>,
    documents: Vec<Value>,
    error: Option<YamlError>,
}

impl TreeBuilder {
    fn fail(&mut self, mark: Marker, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                line: Some(mark.line()),
                message,
            });
        }
    }

    /// The path segment the next value will take in its parent.
    fn next_segment(&self) -> Option<String> {
        match self.stack.last()? {
            Frame::Sequence(items) => Some(format!("[{}]", items.len())),
            Frame::Mapping(_, Some(key)) => Some(key.clone()),
            Frame::Mapping(_, None) => None,
        }
    }

    fn current_path(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            if !out.is_empty() && !seg.starts_with('[') {
                out.push('.');
            }
            out.push_str(seg);
        }
        out
    }

    fn record_line(&mut self, segment: Option<&String>, mark: Marker) {
        if !self.with_lines {
            return;
        }
        let mut path = self.current_path();
        if let Some(seg) = segment {
            if !path.is_empty() && !seg.starts_with('[') {
                path.push('.');
            }
            path.push_str(seg);
        }
        self.lines.entry(path).or_insert(mark.line());
    }

    /// Places a finished value into the open container, or makes it a document.
    fn push_value(&mut self, value: Value, mark: Marker) {
        match self.stack.last_mut() {
            None => self.documents.push(value),
            Some(Frame::Sequence(items)) => items.push(value),
            Some(Frame::Mapping(map, pending)) => match pending.take() {
                Some(key) => {
                    if map.contains_key(&key) {
                        let message = format!("clé `{key}` en double dans le même bloc");
                        self.fail(mark, message);
                    } else {
                        map.insert(key, value);
                    }
                }
                None => match value {
                    Value::String(key) => *pending = Some(key),
                    Value::Number(n) => *pending = Some(n.to_string()),
                    Value::Bool(b) => *pending = Some(b.to_string()),
                    _ => self.fail(mark, "une clé doit être un texte simple".to_owned()),
                },
            },
        }
    }

    fn is_key_position(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Mapping(_, None)))
    }

    fn open(&mut self, frame: Frame, mark: Marker) {
        if self.is_key_position() {
            self.fail(mark, "une clé doit être un texte simple".to_owned());
        }
        let segment = self.next_segment();
        self.record_line(segment.as_ref(), mark);
        if self.with_lines {
            self.path.push(segment.unwrap_or_default());
        }
        self.stack.push(frame);
    }

    fn close(&mut self, mark: Marker) {
        if self.with_lines {
            self.path.pop();
        }
        let value = match self.stack.pop() {
            Some(Frame::Sequence(items)) => Value::Array(items),
            Some(Frame::Mapping(map, _)) => Value::Object(map),
            None => return,
        };
        self.push_value(value, mark);
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                if anchor != 0 {
                    self.fail(mark, ALIAS_REFUSED.to_owned());
                    return;
                }
                if !self.is_key_position() {
                    let segment = self.next_segment();
                    self.record_line(segment.as_ref(), mark);
                }
                match resolve_scalar(text, style, tag.as_ref()) {
                    Ok(value) => self.push_value(value, mark),
                    Err(message) => self.fail(mark, message),
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) if anchor != 0 => {
                self.fail(mark, ALIAS_REFUSED.to_owned());
            }
            Event::SequenceStart(..) => self.open(Frame::Sequence(Vec::new()), mark),
            Event::MappingStart(..) => self.open(Frame::Mapping(Map::new(), None), mark),
            Event::SequenceEnd | Event::MappingEnd => self.close(mark),
            Event::Alias(_) => self.fail(mark, ALIAS_REFUSED.to_owned()),
            Event::DocumentStart if !self.documents.is_empty() => {
                self.fail(mark, "un seul document YAML est attendu par fichier".to_owned());
            }
            Event::DocumentStart
            | Event::DocumentEnd
            | Event::StreamStart
            | Event::StreamEnd
            | Event::Nothing => {}
        }
    }
}

const ALIAS_REFUSED: &str = "les ancres et alias YAML (`&nom`, `*nom`) ne sont pas acceptés";

/// Resolves a scalar per the YAML 1.2 core schema; quoted and block scalars are always text.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            return match tag.suffix.as_str() {
                "str" => Ok(Value::String(text)),
                "null" => Ok(Value::Null),
                "bool" | "int" | "float" => match plain_scalar(&text) {
                    Value::String(_) => Err(format!("`{text}` n'est pas un `!!{}`", tag.suffix)),
                    value => Ok(value),
                },
                other => Err(format!("étiquette YAML `!!{other}` non prise en charge")),
            };
        }
        return Err(format!("étiquette YAML `{}{}` non prise en charge", tag.handle, tag.suffix));
    }
    if style != TScalarStyle::Plain {
        return Ok(Value::String(text));
    }
    Ok(plain_scalar(&text))
}

fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.') {
        if let Some(n) = parse_int(text) {
            return Value::Number(n.into());
        }
        if is_core_float(text) {
            if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
                return Value::Number(n);
            }
        }
    }
    Value::String(text.to_owned())
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `[-+]? (\.[0-9]+ | [0-9]+ (\.[0-9]*)?) ([eE] [-+]? [0-9]+)?`
fn is_core_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int)
        && frac.is_none_or(digits)
        && !(int.is_empty() && frac.is_none_or(str::is_empty));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

/// Writes a JSON tree as a YAML document (block style, keys in tree order).
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline_strings(true);
    // Writing into a String cannot fail.
    let _ = emitter.dump(&to_yaml(value));
    // The emitter starts documents with `---`; the register format does not need it.
    let body = out.strip_prefix("---\n").unwrap_or(&out).to_owned();
    body + "\n"
}

fn to_yaml(value: &Value) -> Yaml {
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(map) => Yaml::Hash(
            map.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_schema_scalars() {
        let v = parse("a: 1\nb: '1'\nc: true\nd: ~\ne: P1Y\nf: 2024-03-01\ng: 1.5\nh: -3\ni: .5e3\n").unwrap();
        assert_eq!(
            v,
            json!({"a": 1, "b": "1", "c": true, "d": null, "e": "P1Y", "f": "2024-03-01", "g": 1.5, "h": -3, "i": 500.0})
        );
    }

    #[test]
    fn refuses_aliases_and_duplicate_keys() {
        let e = parse("a: &x [1]\nb: *x\n").unwrap_err();
        assert!(e.message.contains("alias"), "{e}");
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("`a`"));
    }

    #[test]
    fn records_lines_by_path() {
        let text = "organisations:\n  - id: x\n    activities:\n      - id: a\n        name: A\n";
        let (_, lines) = parse_with_lines(text).unwrap();
        assert_eq!(lines.line_of("organisations[0].activities[0].name"), Some(5));
        assert_eq!(lines.line_of("organisations[0].activities[0]"), Some(4));
        assert_eq!(lines.line_of("organisations[0].activities[0].missing"), Some(4));
    }

    #[test]
    fn round_trips_through_text() {
        let v = json!({"siren": "216000125", "n": 3, "t": "oui: non", "l": ["a", "b"], "e": [], "o": {}});
        assert_eq!(parse(&to_string(&v)).unwrap(), v);
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.line.is_some());
    }
}
