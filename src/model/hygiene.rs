//! Characters a register may not hold: NUL and the other control characters (a NUL cuts
//! text in many tools), and the bidirectional controls that make a text display otherwise
//! than it reads (« Trojan Source »). Looked for in the raw text of a file, escapes included,
//! and in every string and key of a JSON body.

use std::collections::HashSet;

use rayon::prelude::*;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::InputError;

/// Why `c` is refused, if it is.
pub fn refused(c: char) -> Option<String> {
    let code = c as u32;
    if (code < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || code == 0x7f {
        Some(format!("caractère de contrôle U+{code:04X} interdit"))
    } else if (0x202a..=0x202e).contains(&code) || (0x2066..=0x2069).contains(&code) {
        Some(format!(
            "caractère de contrôle bidirectionnel U+{code:04X} interdit : il change l'ordre d'affichage du texte"
        ))
    } else {
        None
    }
}

/// The bytes a refused character, or an escape of one, can start with: a backslash, the
/// control characters but tab and line breaks, and the first byte of U+202A–U+202E and
/// U+2066–U+2069.
const MAY_START_REFUSED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = !matches!(b as u8, b'\t' | b'\n' | b'\r');
        b += 1;
    }
    table[0x7f] = true;
    table[0xe2] = true;
    table[b'\\' as usize] = true;
    table
};

/// The refused characters of a file's text, raw or written as escapes (`\u202E`, `\x00`,
/// `\0`, `\U0000202E`), each with its line. One pass over the bytes, a large text in slices
/// on every core (no character or escape spans a line break, so slices end at one).
pub fn scan_text(text: &str) -> Vec<InputError> {
    const SLICE: usize = 1 << 20;
    let bytes = text.as_bytes();
    let mut bounds = vec![0];
    while let Some(last) = bounds.last().copied()
        && last + SLICE < bytes.len()
    {
        let end = bytes[last + SLICE..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |p| last + SLICE + p + 1);
        bounds.push(end);
    }
    if bounds.last() != Some(&bytes.len()) {
        bounds.push(bytes.len());
    }
    let found: Vec<(usize, char)> = bounds
        .par_windows(2)
        .flat_map_iter(|w| refused_in(text, w[0], w[1]))
        .collect();
    found
        .into_iter()
        .filter_map(|(at, c)| {
            Some(InputError {
                path: String::new(),
                line: Some(bytes[..at].iter().filter(|b| **b == b'\n').count() + 1),
                message: refused(c)?,
            })
        })
        .collect()
}

/// The refused characters in `text[start..end]`, by position in `text`.
fn refused_in(text: &str, start: usize, end: usize) -> Vec<(usize, char)> {
    let bytes = &text.as_bytes()[..end];
    let mut found: Vec<(usize, char)> = Vec::new();
    let mut i = start;
    // Most bytes start nothing refused: skip to the next that may.
    while let Some(skip) = bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|b| MAY_START_REFUSED[usize::from(*b)]))
    {
        i += skip;
        let b = bytes[i];
        if b == b'\\' {
            let escape = |digits: usize| {
                std::str::from_utf8(bytes.get(i + 2..i + 2 + digits)?)
                    .ok()
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .and_then(char::from_u32)
            };
            let c = match bytes.get(i + 1) {
                Some(b'u') => escape(4),
                Some(b'U') => escape(8),
                Some(b'x') => escape(2),
                Some(b'0') => Some('\0'),
                _ => None,
            };
            if let Some(c) = c.filter(|c| refused(*c).is_some()) {
                found.push((i, c));
            }
            // `\\` and the other escapes: the next character starts nothing.
            i += 2;
            continue;
        }
        if (b < 0x20 || b == 0x7f || b == 0xe2)
            && let Some(c) = text.get(i..).and_then(|rest| rest.chars().next())
            && refused(c).is_some()
        {
            found.push((i, c));
        }
        i += 1;
    }
    found
}

/// The problems of a JSON body: keys given twice in one object, keys too long to be a field
/// name, and refused characters in any string or key, each with its path (`purposes[0]`,
/// `dpo.email`).
pub fn json_problems(text: &str, value: &Value) -> Vec<InputError> {
    let mut problems = json_key_problems(text);
    strings(value, String::new(), &mut problems);
    problems
}

/// The keys of a JSON text given twice in one object or longer than [`KEY_LIMIT`]: found
/// while streaming over the text, before any tree is built, so that a file with a key of
/// a hundred megabytes is refused without copying that key around.
pub fn json_key_problems(text: &str) -> Vec<InputError> {
    let mut problems = Vec::new();
    let mut reader = serde_json::Deserializer::from_str(text);
    // A syntax error is reported by the parse that builds the tree.
    let _ = Keys {
        path: String::new(),
        found: &mut problems,
    }
    .deserialize(&mut reader);
    problems
}

/// No field name of the format comes near this many bytes.
pub const KEY_LIMIT: usize = 256;

/// `key` as an error message may show it: long keys are cut, so that an answer never echoes
/// a whole hostile input.
pub fn shown(key: &str) -> std::borrow::Cow<'_, str> {
    const SHOWN: usize = 60;
    if key.len() <= SHOWN {
        return key.into();
    }
    let mut end = SHOWN;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &key[..end]).into()
}

fn child(path: &str, key: &str) -> String {
    let key = shown(key);
    if path.is_empty() {
        key.into_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn check(text: &str, path: &str, problems: &mut Vec<InputError>) {
    if let Some(message) = text.chars().find_map(refused) {
        problems.push(InputError::new(path.to_owned(), message));
    }
}

fn strings(value: &Value, path: String, problems: &mut Vec<InputError>) {
    match value {
        Value::String(s) => check(s, &path, problems),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{path}[{i}]"), problems);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let path = child(&path, key);
                check(key, &path, problems);
                strings(item, path, problems);
            }
        }
        _ => {}
    }
}

/// Walks a JSON document, noting every key repeated within its object or too long.
struct Keys<'a> {
    path: String,
    found: &'a mut Vec<InputError>,
}

impl<'de> DeserializeSeed<'de> for Keys<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Keys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq
            .next_element_seed(Keys {
                path: format!("{}[{i}]", self.path),
                found: &mut *self.found,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = child(&self.path, &key);
            if key.len() > KEY_LIMIT {
                self.found.push(InputError::new(
                    path.clone(),
                    format!(
                        "nom de champ de {} octets : aucun champ du format ne dépasse {KEY_LIMIT} octets",
                        key.len()
                    ),
                ));
            } else if !seen.insert(key.clone()) {
                self.found.push(InputError::new(
                    path.clone(),
                    format!("clé `{key}` donnée deux fois dans le même objet"),
                ));
            }
            map.next_value_seed(Keys {
                path,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_found_raw_and_escaped() {
        let lines: Vec<Option<usize>> =
            scan_text("a: ok\nb: \"x\\u202Ey\"\nc: \"\\\\u202E\"\nd: \"\u{0}\"\ne: \"\\x00\"")
                .iter()
                .map(|e| e.line)
                .collect();
        assert_eq!(lines, [Some(2), Some(4), Some(5)]);
        assert!(scan_text("nom: « Crèche » 🙂 مرحبا\tok").is_empty());
        // A backslash that ends the text starts nothing.
        assert!(scan_text("a: x\\").is_empty());
    }

    #[test]
    fn a_large_text_is_scanned_in_slices_with_the_right_lines() {
        // 60 000 lines of 50 bytes: about three slices of a megabyte.
        let mut lines: Vec<String> = (0..60_000)
            .map(|i| format!("k{i:07}: « texte ordinaire, accentué » ok"))
            .collect();
        lines[1].push('\u{202E}');
        lines[25_000].push_str("\\x00");
        lines[59_999].push('\u{7}');
        let found: Vec<Option<usize>> = scan_text(&lines.join("\n"))
            .iter()
            .map(|e| e.line)
            .collect();
        assert_eq!(found, [Some(2), Some(25_001), Some(60_000)]);
    }

    #[test]
    fn json_bodies_name_repeated_keys_and_controls() {
        let text = r#"{"id": "a", "purposes": ["x\u202ey"], "id": "b", "dpo": {"name": "n", "name": "m"}}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let paths: Vec<String> = json_problems(text, &value)
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["id", "dpo.name", "purposes[0]"]);
    }
}
