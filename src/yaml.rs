//! YAML reading and writing through `serde_json::Value`, the one in-memory tree every format shares.
//!
//! Reading follows the YAML 1.2 core schema. Anchors and aliases are refused: a register has no use
//! for them and they make "billion laughs" inputs possible. Positions (1-based lines) of every
//! node can be recorded so that errors found later on the tree can name their line.

mod de;
mod fast;

use std::collections::HashMap;

pub use de::{DeError, from_str};

use serde_json::{Map, Number, Value};
use thiserror::Error;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

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
    // Events are pulled one by one: the parser's own `load` recurses once per nesting level,
    // which a hostile upload would turn into a stack overflow.
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = parser.next_token().map_err(|e| YamlError {
            line: Some(e.marker().line()),
            message: format!("YAML illisible : {}", e.info()),
        })?;
        let end = event == Event::StreamEnd;
        builder.on_event(event, mark);
        if end || builder.error.is_some() {
            break;
        }
    }
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

/// The deepest nesting read; a register needs fewer than ten levels.
const MAX_DEPTH: usize = 100;

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
        if self.stack.len() >= MAX_DEPTH {
            // Registers are a few levels deep; the tree is walked recursively afterwards.
            self.fail(
                mark,
                format!("imbrication trop profonde (plus de {MAX_DEPTH} niveaux)"),
            );
            return;
        }
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
                self.fail(
                    mark,
                    "un seul document YAML est attendu par fichier".to_owned(),
                );
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

/// What a scalar's text stands for, per the YAML 1.2 core schema (the text itself is not
/// copied: `Text` means the scalar is its text).
#[derive(Debug, Clone, PartialEq)]
enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// Finite.
    Float(Number),
    Text,
}

impl Resolved {
    fn into_value(self, text: String) -> Value {
        match self {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::Number(i.into()),
            Resolved::Float(n) => Value::Number(n),
            Resolved::Text => Value::String(text),
        }
    }
}

/// Resolves a scalar per the YAML 1.2 core schema; quoted and block scalars are always text.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    resolve(&text, style, tag).map(|resolved| resolved.into_value(text))
}

fn resolve(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Result<Resolved, String> {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            return match tag.suffix.as_str() {
                "str" => Ok(Resolved::Text),
                "null" => Ok(Resolved::Null),
                "bool" | "int" | "float" => match resolve_plain(text) {
                    Resolved::Text => Err(format!("`{text}` n'est pas un `!!{}`", tag.suffix)),
                    value => Ok(value),
                },
                other => Err(format!("étiquette YAML `!!{other}` non prise en charge")),
            };
        }
        return Err(format!(
            "étiquette YAML `{}{}` non prise en charge",
            tag.handle, tag.suffix
        ));
    }
    if style != TScalarStyle::Plain {
        return Ok(Resolved::Text);
    }
    Ok(resolve_plain(text))
}

/// Whether a scalar resolves to null, without allocating.
fn is_null_scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> bool {
    match tag {
        Some(tag) => {
            (tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!") && tag.suffix == "null"
        }
        None => style == TScalarStyle::Plain && matches!(text, "" | "~" | "null" | "Null" | "NULL"),
    }
}

fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.') {
        if let Some(n) = parse_int(text) {
            return Resolved::Int(n);
        }
        if is_core_float(text)
            && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
        {
            return Resolved::Float(n);
        }
    }
    Resolved::Text
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

/// Writes a JSON tree as a YAML document in the style of the format's documentation: block
/// mappings, short lists and small flat blocks on one line (`purposes: [a, b]`,
/// `- {name: …, type: interne}`), keys in tree order, text quoted only when needed.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, map, 0),
        other => {
            write_flow(&mut out, other);
            out.push('\n');
        }
    }
    out
}

/// Longest line a flow collection may take before it is written as a block.
const FLOW_WIDTH: usize = 100;

fn write_mapping(out: &mut String, map: &Map<String, Value>, indent: usize) {
    for (i, (key, value)) in map.iter().enumerate() {
        // The first entry of a list item follows its `- ` on the same line.
        if i > 0 {
            push_indent(out, indent);
        }
        write_scalar_text(out, key, false);
        out.push(':');
        write_entry_value(out, value, indent);
    }
}

fn write_entry_value(out: &mut String, value: &Value, indent: usize) {
    if let Value::String(text) = value {
        out.push(' ');
        write_scalar_text(out, text, false);
        out.push('\n');
        return;
    }
    if let Some(flow) = as_flow(value) {
        out.push(' ');
        out.push_str(&flow);
        out.push('\n');
        return;
    }
    out.push('\n');
    match value {
        Value::Object(map) => {
            push_indent(out, indent + 2);
            write_mapping(out, map, indent + 2);
        }
        Value::Array(items) => write_sequence(out, items, indent + 2),
        // Scalars always have a flow form.
        _ => {}
    }
}

fn write_sequence(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        push_indent(out, indent);
        out.push_str("- ");
        if let Value::String(text) = item {
            write_scalar_text(out, text, false);
            out.push('\n');
            continue;
        }
        match (as_flow(item), item) {
            (Some(flow), _) => {
                out.push_str(&flow);
                out.push('\n');
            }
            (None, Value::Object(map)) => write_mapping(out, map, indent + 2),
            (None, Value::Array(inner)) => {
                out.push('\n');
                write_sequence(out, inner, indent + 2);
            }
            (None, _) => {}
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// The one-line form of a value, when it is a scalar, or a short list or block of scalars.
fn as_flow(value: &Value) -> Option<String> {
    let mut out = String::new();
    match value {
        Value::Array(items) if items.iter().all(is_scalar) => write_flow(&mut out, value),
        Value::Object(map) if map.values().all(is_scalar) => write_flow(&mut out, value),
        Value::Array(_) | Value::Object(_) => return None,
        scalar => {
            write_flow(&mut out, scalar);
            return Some(out);
        }
    }
    (out.len() <= FLOW_WIDTH).then_some(out)
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

fn write_flow(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_scalar_text(out, s, true),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_scalar_text(out, key, true);
                out.push_str(": ");
                write_flow(out, item);
            }
            out.push('}');
        }
    }
}

/// Text as a plain scalar when it reads back as the same text, double-quoted otherwise.
fn write_scalar_text(out: &mut String, text: &str, in_flow: bool) {
    if is_plain_safe(text, in_flow) {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn is_plain_safe(text: &str, in_flow: bool) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let indicator = "-?:,[]{}#&*!|>'\"%@`";
    !indicator.contains(first)
        && !first.is_whitespace()
        && !text.ends_with(char::is_whitespace)
        && !text.ends_with(':')
        && !text.contains(": ")
        && !text.contains(" #")
        && !text
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{85}'))
        && !(in_flow && text.contains([',', '[', ']', '{', '}']))
        && resolve_plain(text) == Resolved::Text
}

/// Splits a document whose last top-level key is a block sequence (`key:` then `- …` items
/// to the end) into a header (with `key: []`) and about `pieces` slices of whole items, so
/// that large files can be read on several cores. `None` when there is no such key with
/// items; callers read the whole document then. Only the lines where slices start are looked
/// at: anything else that follows the sequence (another key, a line less indented than its
/// items) ends up in the last slice, which then does not parse on its own as a sequence, and
/// a slice that does not parse sends the caller back to the whole document. So a wrong split
/// can never change what is read.
pub fn split_sequence<'a>(
    text: &'a str,
    key: &str,
    pieces: usize,
) -> Option<(String, Vec<&'a str>)> {
    let key_line = format!("{key}:");
    let mut offset = 0;
    let mut body_start = None;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == key_line {
            body_start = Some((offset, offset + line.len()));
            break;
        }
        offset += line.len();
    }
    let (key_start, body_start) = body_start?;
    // The first item gives the column of the sequence.
    let mut first = None;
    let mut offset = body_start;
    for line in text[body_start..].split_inclusive('\n') {
        let depth = line.bytes().take_while(|b| *b == b' ').count();
        match line.as_bytes().get(depth) {
            None | Some(b'\n' | b'\r' | b'#') => offset += line.len(),
            Some(b'-') if is_item_start(&line.as_bytes()[depth..]) => {
                first = Some((offset, depth));
                break;
            }
            Some(_) => return None,
        }
    }
    let (first, depth) = first?;
    // Slices start at an item of the sequence: a line of exactly `depth` spaces then a dash.
    let marker = format!("\n{}-", " ".repeat(depth));
    let finder = memchr::memmem::Finder::new(marker.as_bytes());
    let bytes = text.as_bytes();
    let target = (text.len() - body_start) / pieces.max(1) + 1;
    let mut slices = Vec::new();
    let mut start = first;
    let mut from = first + target;
    while from < bytes.len() {
        let Some(found) = finder
            .find_iter(&bytes[from - 1..])
            .map(|at| from - 1 + at + 1)
            .find(|at| is_item_start(&bytes[at + depth..]))
        else {
            break;
        };
        slices.push(&text[start..found]);
        start = found;
        from = found + target;
    }
    slices.push(&text[start..]);
    let header = format!("{}{key}: []\n", &text[..key_start]);
    Some((header, slices))
}

/// `-` then a space or the end of the line: a block sequence item.
fn is_item_start(rest: &[u8]) -> bool {
    rest.first() == Some(&b'-') && matches!(rest.get(1), None | Some(b' ' | b'\n' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_schema_scalars() {
        let v =
            parse("a: 1\nb: '1'\nc: true\nd: ~\ne: P1Y\nf: 2024-03-01\ng: 1.5\nh: -3\ni: .5e3\n")
                .unwrap();
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
        assert_eq!(
            lines.line_of("organisations[0].activities[0].name"),
            Some(5)
        );
        assert_eq!(lines.line_of("organisations[0].activities[0]"), Some(4));
        assert_eq!(
            lines.line_of("organisations[0].activities[0].missing"),
            Some(4)
        );
    }

    #[test]
    fn round_trips_through_text() {
        let v = json!({"siren": "216000125", "n": 3, "t": "oui: non", "l": ["a", "b"], "e": [], "o": {}});
        assert_eq!(parse(&to_string(&v)).unwrap(), v);
    }

    #[test]
    fn splits_a_trailing_block_sequence() {
        let text = "format: x\norganisations:\n  - id: a\n    l:\n      - 1\n  - id: b\n\n  # note\n  - id: c\n";
        let (header, slices) = split_sequence(text, "organisations", 3).unwrap();
        assert_eq!(header, "format: x\norganisations: []\n");
        assert_eq!(slices.concat(), text["format: x\norganisations:\n".len()..]);
        assert_eq!(slices.len(), 3);
        // What follows the sequence stays in the last slice, which then does not parse.
        let (_, slices) =
            split_sequence("organisations:\n  - a\nother: 1\n", "organisations", 2).unwrap();
        assert!(from_str::<Vec<serde_json::Value>>(slices.last().unwrap()).is_err());
        let (_, slices) =
            split_sequence("organisations:\n  - a\n - b\n", "organisations", 2).unwrap();
        assert!(from_str::<Vec<serde_json::Value>>(slices.last().unwrap()).is_err());
        assert!(split_sequence("organisations: []\n", "organisations", 2).is_none());
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.line.is_some());
    }
}
