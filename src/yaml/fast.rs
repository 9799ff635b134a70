//! The events of the plain shape most registers are written in, several times faster than the
//! full parser: block mappings and sequences indented with spaces, and on each line a key, a
//! `- ` item, a one-line scalar (plain, single- or double-quoted) or a one-line flow
//! collection of such scalars. For those documents it yields exactly the events the full
//! parser yields; at the first line outside that shape it gives up, and the caller reads the
//! document with the full parser. No YAML parser reads a 40 MB register fast enough for the
//! audit's budget (about 60 MB/s per core, measured), hence this one.

use std::borrow::Cow;
use std::collections::VecDeque;

use yaml_rust2::scanner::TScalarStyle;

use super::de::Ev;

/// The document is outside the shape this reader knows (not necessarily wrong YAML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaveUp;

type Step<T = ()> = Result<T, GaveUp>;

/// A block collection still open, with the column of its keys or dashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Map(usize),
    Seq(usize),
}

/// The events of one document, a line at a time.
pub struct FastEvents<'a> {
    lines: Lines<'a>,
    open: Vec<Open>,
    /// The column of a key whose value starts on a later line (`key:` and nothing after).
    pending: Option<usize>,
    queue: VecDeque<Ev<'a>>,
    started: bool,
    finished: bool,
}

impl<'a> FastEvents<'a> {
    pub fn new(text: &'a str) -> Self {
        FastEvents {
            lines: Lines::new(text),
            open: Vec::new(),
            pending: None,
            queue: VecDeque::new(),
            started: false,
            finished: false,
        }
    }

    pub fn next_event(&mut self) -> Step<Ev<'a>> {
        self.fill()?;
        self.queue.pop_front().ok_or(GaveUp)
    }

    pub fn peek_event(&mut self) -> Step<&Ev<'a>> {
        self.fill()?;
        self.queue.front().ok_or(GaveUp)
    }

    fn fill(&mut self) -> Step {
        while self.queue.is_empty() && !self.finished {
            match self.lines.next()? {
                Some((column, content)) => self.line(column, content)?,
                None => self.end()?,
            }
        }
        Ok(())
    }

    fn end(&mut self) -> Step {
        if !self.started {
            return Err(GaveUp);
        }
        if self.pending.take().is_some() {
            self.queue.push_back(empty_scalar());
        }
        while let Some(open) = self.open.pop() {
            self.queue.push_back(end_of(open));
        }
        self.queue.push_back(Ev::DocumentEnd);
        self.queue.push_back(Ev::StreamEnd);
        self.finished = true;
        Ok(())
    }

    fn line(&mut self, column: usize, content: &'a str) -> Step {
        let item = is_item(content);
        if !self.started {
            self.started = true;
            self.queue.push_back(Ev::StreamStart);
            self.queue.push_back(Ev::DocumentStart);
            return self.open_block(column, content, item);
        }
        if let Some(key_column) = self.pending.take() {
            if column > key_column {
                return self.open_block(column, content, item);
            }
            self.queue.push_back(empty_scalar());
        }
        while let Some(open) = self.open.last().copied() {
            if open_column(open) <= column {
                break;
            }
            self.open.pop();
            self.queue.push_back(end_of(open));
        }
        match (self.open.last(), item) {
            (Some(Open::Map(c)), false) if *c == column => self.entry(column, content),
            (Some(Open::Seq(c)), true) if *c == column => self.item(column, content),
            // A sequence at its key's column, a misaligned line, a second root node.
            _ => Err(GaveUp),
        }
    }

    /// A block collection whose first line is this one.
    fn open_block(&mut self, column: usize, content: &'a str, item: bool) -> Step {
        if item {
            self.open.push(Open::Seq(column));
            self.queue.push_back(Ev::SequenceStart);
            self.item(column, content)
        } else {
            self.open.push(Open::Map(column));
            self.queue.push_back(Ev::MappingStart);
            self.entry(column, content)
        }
    }

    /// `key: value` or `key:`, the key at `column`.
    fn entry(&mut self, column: usize, content: &'a str) -> Step {
        let (key, value) = split_key(content)?;
        self.entry_parts(column, key, value)
    }

    /// An entry already split into its key and what follows the colon.
    fn entry_parts(&mut self, column: usize, key: &'a str, value: &'a str) -> Step {
        self.queue.push_back(scalar(key, TScalarStyle::Plain));
        if value.is_empty() {
            self.pending = Some(column);
            Ok(())
        } else {
            self.inline(value, column)
        }
    }

    /// `- value`, `- key: value` or `- key:`, the dash at `column`.
    fn item(&mut self, column: usize, content: &'a str) -> Step {
        let after = &content[1..];
        let value = after.trim_start_matches(' ');
        if value.is_empty() || value.starts_with('#') || is_item(value) {
            return Err(GaveUp);
        }
        let value_column = column + 1 + (after.len() - value.len());
        if let Ok((key, rest)) = split_key(value) {
            self.open.push(Open::Map(value_column));
            self.queue.push_back(Ev::MappingStart);
            return self.entry_parts(value_column, key, rest);
        }
        self.inline(value, column)
    }

    /// A value on its key's or dash's line. A line after it further right would continue it
    /// (a scalar over several lines) or be an error: either way, the full parser's business.
    fn inline(&mut self, value: &'a str, column: usize) -> Step {
        let rest = match value.as_bytes()[0] {
            b'[' => self.flow(&value[1..], b']')?,
            b'{' => self.flow(&value[1..], b'}')?,
            b'"' => {
                let (text, rest) = double_quoted(&value[1..])?;
                self.queue
                    .push_back(scalar(text, TScalarStyle::DoubleQuoted));
                rest
            }
            b'\'' => {
                let (text, rest) = single_quoted(&value[1..])?;
                self.queue
                    .push_back(scalar(text, TScalarStyle::SingleQuoted));
                rest
            }
            _ => {
                let text = plain(value)?;
                self.queue.push_back(scalar(text, TScalarStyle::Plain));
                ""
            }
        };
        line_end(rest)?;
        match self.lines.peek_column()? {
            Some(next) if next > column => Err(GaveUp),
            _ => Ok(()),
        }
    }

    /// A flow sequence (`close` is `]`) or mapping (`}`) of scalars, after its opening
    /// bracket: what follows its closing bracket.
    fn flow(&mut self, mut text: &'a str, close: u8) -> Step<&'a str> {
        let mapping = close == b'}';
        self.queue.push_back(if mapping {
            Ev::MappingStart
        } else {
            Ev::SequenceStart
        });
        text = text.trim_start_matches(' ');
        if text.as_bytes().first() == Some(&close) {
            self.queue.push_back(flow_end(mapping));
            return Ok(&text[1..]);
        }
        loop {
            if mapping {
                let colon = text.find(':').ok_or(GaveUp)?;
                let key = &text[..colon];
                if !is_key(key) || !matches!(text.as_bytes().get(colon + 1), Some(b' ')) {
                    return Err(GaveUp);
                }
                self.queue.push_back(scalar(key, TScalarStyle::Plain));
                text = text[colon + 1..].trim_start_matches(' ');
            }
            text = self.flow_scalar(text)?.trim_start_matches(' ');
            match text.as_bytes().first() {
                Some(b',') => {
                    text = text[1..].trim_start_matches(' ');
                    // `[a, ]` and `[a,,b]`: left to the full parser.
                    if matches!(text.as_bytes().first(), None | Some(b',' | b']' | b'}')) {
                        return Err(GaveUp);
                    }
                }
                Some(c) if *c == close => {
                    self.queue.push_back(flow_end(mapping));
                    return Ok(&text[1..]);
                }
                _ => return Err(GaveUp),
            }
        }
    }

    /// One scalar inside a flow collection: what follows it.
    fn flow_scalar(&mut self, text: &'a str) -> Step<&'a str> {
        let (event, rest) = match text.as_bytes().first() {
            Some(b'"') => {
                let (value, rest) = double_quoted(&text[1..])?;
                (scalar(value, TScalarStyle::DoubleQuoted), rest)
            }
            Some(b'\'') => {
                let (value, rest) = single_quoted(&text[1..])?;
                (scalar(value, TScalarStyle::SingleQuoted), rest)
            }
            _ => {
                let end = text
                    .find([',', ']', '}', '[', '{'])
                    .filter(|end| matches!(text.as_bytes()[*end], b',' | b']' | b'}'))
                    .ok_or(GaveUp)?;
                let value = text[..end].trim_end_matches(' ');
                if value.is_empty() || value.contains(':') || value.contains(" #") {
                    return Err(GaveUp);
                }
                (scalar(plain(value)?, TScalarStyle::Plain), &text[end..])
            }
        };
        self.queue.push_back(event);
        Ok(rest)
    }
}

/// The lines of a document that hold something (blank and comment-only lines are skipped):
/// the column of their first character, and their content from there (no line break).
struct Lines<'a> {
    rest: &'a str,
    /// The next line, when it has been looked at already.
    peeked: Option<Option<(usize, &'a str)>>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            rest: text,
            peeked: None,
        }
    }

    fn next(&mut self) -> Step<Option<(usize, &'a str)>> {
        match self.peeked.take() {
            Some(line) => Ok(line),
            None => self.read(),
        }
    }

    /// The column of the next line that holds something.
    fn peek_column(&mut self) -> Step<Option<usize>> {
        let line = match self.peeked {
            Some(line) => line,
            None => {
                let line = self.read()?;
                self.peeked = Some(line);
                line
            }
        };
        Ok(line.map(|(column, _)| column))
    }

    fn read(&mut self) -> Step<Option<(usize, &'a str)>> {
        loop {
            if self.rest.is_empty() {
                return Ok(None);
            }
            let (line, rest) = match memchr::memchr(b'\n', self.rest.as_bytes()) {
                Some(end) => (&self.rest[..end], &self.rest[end + 1..]),
                None => (self.rest, ""),
            };
            self.rest = rest;
            if let Some(found) = content(line)? {
                return Ok(Some(found));
            }
        }
    }
}

fn content(line: &str) -> Step<Option<(usize, &str)>> {
    if !plain_characters(line) {
        return Err(GaveUp);
    }
    let trimmed = line.trim_start_matches(' ');
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let column = line.len() - trimmed.len();
    if column == 0 && (trimmed.starts_with("---") || trimmed.starts_with("...")) {
        return Err(GaveUp);
    }
    Ok(Some((column, trimmed.trim_end_matches(' '))))
}

/// No tab, carriage return, control character, byte-order mark or YAML 1.1 line break (NEL,
/// U+2028, U+2029): the full parser decides what those mean.
fn plain_characters(line: &str) -> bool {
    let bytes = line.as_bytes();
    // Most lines are printable ASCII, which the compiler checks many bytes at a time.
    if bytes.iter().all(|b| matches!(b, 0x20..=0x7E)) {
        return true;
    }
    bytes.iter().enumerate().all(|(i, b)| match b {
        0..=0x1F | 0x7F => false,
        // U+0080 to U+009F.
        0xC2 => !matches!(bytes.get(i + 1), Some(0x80..=0x9F)),
        // U+2028, U+2029.
        0xE2 => !matches!(
            (bytes.get(i + 1), bytes.get(i + 2)),
            (Some(0x80), Some(0xA8 | 0xA9))
        ),
        // U+FEFF, U+FFFE, U+FFFF.
        0xEF => !matches!(
            (bytes.get(i + 1), bytes.get(i + 2)),
            (Some(0xBB), Some(0xBF)) | (Some(0xBF), Some(0xBE | 0xBF))
        ),
        _ => true,
    })
}

fn is_item(content: &str) -> bool {
    matches!(content.as_bytes(), [b'-'] | [b'-', b' ', ..])
}

/// `key: value` or `key:` with a simple key: the key, and the value (empty when the value
/// starts on a later line or there is only a comment).
fn split_key(content: &str) -> Step<(&str, &str)> {
    let colon = content.find(':').ok_or(GaveUp)?;
    let key = &content[..colon];
    let after = &content[colon + 1..];
    if !is_key(key) || !(after.is_empty() || after.starts_with(' ')) {
        return Err(GaveUp);
    }
    let value = after.trim_start_matches(' ');
    Ok((key, if value.starts_with('#') { "" } else { value }))
}

/// Keys as registers write them: letters, digits and `_ - . /`, not starting with `-`.
fn is_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('-')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
}

/// A plain scalar that is the rest of a line: up to a comment, never one that the full
/// parser would read otherwise (an indicator first, `: ` inside, `:` last).
fn plain(value: &str) -> Step<&str> {
    let bytes = value.as_bytes();
    let mut end = bytes.len();
    for at in memchr::memchr2_iter(b':', b'#', bytes) {
        match bytes[at] {
            b':' if matches!(bytes.get(at + 1), None | Some(b' ')) => return Err(GaveUp),
            b'#' if at > 0 && bytes[at - 1] == b' ' => {
                end = at;
                break;
            }
            _ => {}
        }
    }
    let value = value[..end].trim_end_matches(' ');
    let first = value.as_bytes().first().ok_or(GaveUp)?;
    let indicator = matches!(
        first,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    );
    // `-5` is a number, `-x` a string: both plain; `- x` would be an item.
    let signed = *first == b'-' && value.len() > 1 && value.as_bytes()[1] != b' ';
    if indicator && !signed {
        return Err(GaveUp);
    }
    Ok(value)
}

/// A double-quoted scalar on one line, after its opening quote: its value and what follows.
fn double_quoted(text: &str) -> Step<(Cow<'_, str>, &str)> {
    match memchr::memchr2(b'"', b'\\', text.as_bytes()) {
        Some(end) if text.as_bytes()[end] == b'"' => {
            return Ok((Cow::Borrowed(&text[..end]), &text[end + 1..]));
        }
        None => return Err(GaveUp),
        Some(_) => {}
    }
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((Cow::Owned(value), &text[i + 1..])),
            '\\' => {
                let (_, escaped) = chars.next().ok_or(GaveUp)?;
                match escaped {
                    '\\' | '"' | '/' => value.push(escaped),
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    _ => return Err(GaveUp),
                }
            }
            _ => value.push(c),
        }
    }
    Err(GaveUp)
}

/// A single-quoted scalar on one line, after its opening quote (`''` is a quote).
fn single_quoted(text: &str) -> Step<(Cow<'_, str>, &str)> {
    let quote = text.find('\'').ok_or(GaveUp)?;
    if !text[quote + 1..].starts_with('\'') {
        return Ok((Cow::Borrowed(&text[..quote]), &text[quote + 1..]));
    }
    let mut value = String::new();
    let mut rest = text;
    loop {
        let quote = rest.find('\'').ok_or(GaveUp)?;
        value.push_str(&rest[..quote]);
        if rest[quote + 1..].starts_with('\'') {
            value.push('\'');
            rest = &rest[quote + 2..];
        } else {
            return Ok((Cow::Owned(value), &rest[quote + 1..]));
        }
    }
}

/// After a value, only spaces, then a comment, may end the line.
fn line_end(rest: &str) -> Step {
    let trimmed = rest.trim_start_matches(' ');
    if trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len()) {
        Ok(())
    } else {
        Err(GaveUp)
    }
}

fn open_column(open: Open) -> usize {
    match open {
        Open::Map(c) | Open::Seq(c) => c,
    }
}

fn end_of(open: Open) -> Ev<'static> {
    match open {
        Open::Map(_) => Ev::MappingEnd,
        Open::Seq(_) => Ev::SequenceEnd,
    }
}

fn flow_end(mapping: bool) -> Ev<'static> {
    if mapping {
        Ev::MappingEnd
    } else {
        Ev::SequenceEnd
    }
}

fn scalar<'a>(text: impl Into<Cow<'a, str>>, style: TScalarStyle) -> Ev<'a> {
    Ev::Scalar(text.into(), style, None)
}

fn empty_scalar() -> Ev<'static> {
    scalar("", TScalarStyle::Plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use yaml_rust2::parser::Parser;

    /// Every event of the fast reader, or `None` when it gives up.
    fn fast(text: &str) -> Option<Vec<Ev<'_>>> {
        let mut events = FastEvents::new(text);
        let mut out = Vec::new();
        loop {
            let event = events.next_event().ok()?;
            let end = event == Ev::StreamEnd;
            out.push(event);
            if end {
                return Some(out);
            }
        }
    }

    /// Every event of the full parser, or `None` at an error.
    fn full(text: &str) -> Option<Vec<Ev<'static>>> {
        let mut parser = Parser::new_from_str(text);
        let mut out = Vec::new();
        loop {
            let event = Ev::from(parser.next_token().ok()?.0);
            let end = event == Ev::StreamEnd;
            out.push(event);
            if end {
                return Some(out);
            }
        }
    }

    /// The fast reader gives the full parser's events, or gives up: never other events, and
    /// never events for a document the full parser refuses.
    fn agrees(text: &str) -> bool {
        match fast(text) {
            None => true,
            Some(events) => full(text).as_ref() == Some(&events),
        }
    }

    fn fixtures() -> Vec<(String, String)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "yaml") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    out.push((path.display().to_string(), text));
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        walk(&root.join("tests"), &mut out);
        walk(&root.join("policies"), &mut out);
        out
    }

    #[test]
    fn reads_every_fixture_as_the_full_parser_does() {
        let files = fixtures();
        assert!(files.len() > 100, "{} fixtures", files.len());
        let mut read = 0;
        for (name, text) in &files {
            assert!(agrees(text), "{name}");
            read += usize::from(fast(text).is_some());
        }
        // The shape is the common one: most fixtures are read fast.
        assert!(
            read * 2 > files.len(),
            "{read} of {} read fast",
            files.len()
        );
    }

    #[test]
    fn reads_the_shapes_registers_are_written_in() {
        let documents = [
            "a: 1\nb:\n  c: [x, 'y''s', \"z\\\"\"]\n  d: {k: v, l: \"w, v\"}\n",
            "list:\n  - id: a\n    tags: []\n    map: {}\n  - plain # comment\n  - -5\n",
            "a:\n\n  # note\n  b: c  # trailing\nd: ~\ne:\nf: \"\"\n",
            "  - id: x\n    name: y\n  - id: z\n",
            "k: valeur « française », l'été ; 20 % - non\n",
        ];
        for text in documents {
            assert!(fast(text).is_some(), "gave up on {text:?}");
            assert!(agrees(text), "{text:?}");
        }
    }

    #[test]
    fn gives_up_outside_its_shape() {
        let documents = [
            "a: first line\n  continued\n",
            "a: |\n  block\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a:\n- indentless\n",
            "---\na: 1\n",
            "\"quoted key\": 1\n",
            "a: [multi,\n  line]\n",
            "a: \"multi\n  line\"\n",
            "a:\tb\n",
            "a: b\r\n",
            "\u{feff}a: 1\n",
            "a: b: c\n",
            "- - nested\n",
            "a: \"\\x41\"\n",
            "a: [x, [y]]\n",
            "a: {k: [v]}\n",
            "a: [x, ]\n",
            "key:value\n",
            "a: \"x\"# no space\n",
            "",
            "# only a comment\n",
        ];
        for text in documents {
            assert!(fast(text).is_none(), "read {text:?}");
        }
    }

    /// Fixtures with characters deleted, inserted or replaced at random, the characters that
    /// make YAML's structure most of the time.
    #[test]
    fn agrees_on_damaged_documents() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(30);
        let alphabet = [
            " ", "  ", "\n", ":", ": ", "-", "- ", "#", " #", "\"", "'", "[", "]", "{", "}", ",",
            "\\", "\t", "|", ">", "&", "*", "!", "?", "~", "é", "\u{a0}", "x",
        ];
        let files = fixtures();
        let mut checked = 0;
        for (name, text) in files.iter().filter(|(_, t)| fast(t).is_some()).take(40) {
            let chars: Vec<char> = text.chars().collect();
            for _ in 0..60 {
                let at = rng.random_range(0..chars.len());
                let mut damaged: String = chars[..at].iter().collect();
                let insert = alphabet[rng.random_range(0..alphabet.len())];
                let skip = rng.random_range(0..3);
                if skip != 1 {
                    damaged.push_str(insert);
                }
                let from = (at + usize::from(skip > 0)).min(chars.len());
                damaged.extend(&chars[from..]);
                assert!(agrees(&damaged), "{name}, damaged at {at}: {damaged:?}");
                checked += 1;
            }
        }
        assert!(checked >= 1000, "{checked} damaged documents");
    }
}
