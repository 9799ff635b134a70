//! A serde deserializer pulling YAML events straight into typed values, with no tree in
//! between: the fast way to read large registers. Scalars resolve exactly as in the tree
//! reader, so both readers accept and refuse the same documents. The events come from the
//! fast reader of plain documents, else from the full parser.

use std::borrow::Cow;
use std::fmt;
use std::str::Chars;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use super::fast::FastEvents;
use super::{ALIAS_REFUSED, Resolved, is_null_scalar, resolve};

/// Why the fast reader gave up; the caller then reads the document the slow, thorough way.
#[derive(Debug)]
pub struct DeError(String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

/// A YAML event whose scalar borrows its text from the document where it can: the fast reader
/// copies nothing, the full parser's events are taken over as they are.
#[derive(Debug, Clone, PartialEq)]
pub enum Ev<'a> {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    MappingStart,
    MappingEnd,
    SequenceStart,
    SequenceEnd,
    Scalar(Cow<'a, str>, TScalarStyle, Option<Box<Tag>>),
    /// An alias, or a node with an anchor: refused.
    Anchored,
}

impl From<Event> for Ev<'_> {
    fn from(event: Event) -> Self {
        match event {
            Event::StreamStart => Ev::StreamStart,
            Event::StreamEnd => Ev::StreamEnd,
            Event::DocumentStart => Ev::DocumentStart,
            Event::DocumentEnd => Ev::DocumentEnd,
            Event::MappingStart(0, _) => Ev::MappingStart,
            Event::MappingEnd => Ev::MappingEnd,
            Event::SequenceStart(0, _) => Ev::SequenceStart,
            Event::SequenceEnd => Ev::SequenceEnd,
            Event::Scalar(text, style, 0, tag) => {
                Ev::Scalar(Cow::Owned(text), style, tag.map(Box::new))
            }
            // `Nothing` is never given out by the parser.
            Event::Nothing
            | Event::Alias(_)
            | Event::Scalar(..)
            | Event::MappingStart(..)
            | Event::SequenceStart(..) => Ev::Anchored,
        }
    }
}

/// Reads one YAML document into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, DeError> {
    // The fast reader gives up on documents outside its shape (and on any error, which the
    // full parser then reports in its own words).
    read(&mut FastEvents::new(text)).or_else(|_| {
        read(&mut Full {
            parser: Parser::new_from_str(text),
            next: None,
        })
    })
}

fn read<'a, T: DeserializeOwned, E: Events<'a>>(events: &mut E) -> Result<T, DeError> {
    let mut de = Deserializer { events };
    de.expect(|e| matches!(e, Ev::StreamStart))?;
    de.expect(|e| matches!(e, Ev::DocumentStart))?;
    let value = T::deserialize(&mut de)?;
    de.expect(|e| matches!(e, Ev::DocumentEnd))?;
    de.expect(|e| matches!(e, Ev::StreamEnd))?;
    Ok(value)
}

/// A source of YAML events.
trait Events<'a> {
    fn next(&mut self) -> Result<Ev<'a>, DeError>;
    fn peek(&mut self) -> Result<&Ev<'a>, DeError>;
}

/// The full parser, its next event converted ahead of time so that it can be looked at.
struct Full<'t> {
    parser: Parser<Chars<'t>>,
    next: Option<Ev<'t>>,
}

impl<'t> Events<'t> for Full<'t> {
    fn next(&mut self) -> Result<Ev<'t>, DeError> {
        match self.next.take() {
            Some(event) => Ok(event),
            None => self
                .parser
                .next_token()
                .map(|(event, _)| event.into())
                .map_err(|e| DeError(e.to_string())),
        }
    }

    fn peek(&mut self) -> Result<&Ev<'t>, DeError> {
        if self.next.is_none() {
            let event = Events::next(self)?;
            self.next = Some(event);
        }
        self.next
            .as_ref()
            .ok_or_else(|| DeError("fin du document".to_owned()))
    }
}

impl<'a> Events<'a> for FastEvents<'a> {
    fn next(&mut self) -> Result<Ev<'a>, DeError> {
        self.next_event().map_err(gave_up)
    }

    fn peek(&mut self) -> Result<&Ev<'a>, DeError> {
        self.peek_event().map_err(gave_up)
    }
}

fn gave_up(_: super::fast::GaveUp) -> DeError {
    DeError("document hors de la forme simple".to_owned())
}

struct Deserializer<'e, E> {
    events: &'e mut E,
}

impl<'a, E: Events<'a>> Deserializer<'_, E> {
    fn next(&mut self) -> Result<Ev<'a>, DeError> {
        self.events.next()
    }

    fn peek(&mut self) -> Result<&Ev<'a>, DeError> {
        self.events.peek()
    }

    fn expect(&mut self, what: impl Fn(&Ev<'a>) -> bool) -> Result<(), DeError> {
        let event = self.next()?;
        if what(&event) {
            Ok(())
        } else {
            Err(DeError(format!("unexpected YAML event {event:?}")))
        }
    }
}

impl<'de, 'a, E: Events<'a>> de::Deserializer<'de> for &mut Deserializer<'_, E> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.next()? {
            Ev::Scalar(text, style, tag) => {
                match resolve(&text, style, tag.as_deref()).map_err(DeError)? {
                    Resolved::Null => visitor.visit_unit(),
                    Resolved::Bool(b) => visitor.visit_bool(b),
                    Resolved::Int(i) => visitor.visit_i64(i),
                    Resolved::Float(n) => match n.as_f64() {
                        Some(f) => visitor.visit_f64(f),
                        None => Err(DeError("nombre invalide".to_owned())),
                    },
                    Resolved::Text => match text {
                        Cow::Borrowed(text) => visitor.visit_str(text),
                        Cow::Owned(text) => visitor.visit_string(text),
                    },
                }
            }
            Ev::SequenceStart => visitor.visit_seq(Seq { de: self }),
            Ev::MappingStart => visitor.visit_map(Map {
                de: self,
                keys: Vec::new(),
            }),
            Ev::Anchored => Err(DeError(ALIAS_REFUSED.to_owned())),
            other => Err(DeError(format!("unexpected YAML event {other:?}"))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let is_null = match self.peek()? {
            Ev::Scalar(text, style, tag) => is_null_scalar(text, *style, tag.as_deref()),
            _ => false,
        };
        if is_null {
            self.next()?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    /// Unit variants only (`role: processor`): the format has no other enums.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.next()? {
            Ev::Scalar(text, _, _) => visitor.visit_enum(text.as_ref().into_deserializer()),
            other => Err(DeError(format!(
                "valeur d'énumération attendue, {other:?} trouvé"
            ))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct Seq<'d, 'e, E> {
    de: &'d mut Deserializer<'e, E>,
}

impl<'de, 'a, E: Events<'a>> SeqAccess<'de> for Seq<'_, '_, E> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        if matches!(self.de.peek()?, Ev::SequenceEnd) {
            self.de.next()?;
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

struct Map<'d, 'e, 'a, E> {
    de: &'d mut Deserializer<'e, E>,
    /// Keys seen so far: a repeated key is an error, as in the tree reader.
    keys: Vec<Cow<'a, str>>,
}

impl<'de, 'a, E: Events<'a>> MapAccess<'de> for Map<'_, '_, 'a, E> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.de.next()? {
            Ev::MappingEnd => Ok(None),
            Ev::Scalar(text, style, tag) => {
                // A key is text, as in the tree reader: numbers and booleans by their JSON form.
                let key = match resolve(&text, style, tag.as_deref()).map_err(DeError)? {
                    Resolved::Text => text,
                    Resolved::Int(i) => Cow::Owned(i.to_string()),
                    Resolved::Float(n) => Cow::Owned(n.to_string()),
                    Resolved::Bool(b) => Cow::Owned(b.to_string()),
                    Resolved::Null => return Err(DeError("clé invalide".to_owned())),
                };
                if self.keys.contains(&key) {
                    return Err(DeError(format!("clé `{key}` en double")));
                }
                let value = seed.deserialize(de::value::StrDeserializer::<DeError>::new(&key))?;
                self.keys.push(key);
                Ok(Some(value))
            }
            other => Err(DeError(format!("clé invalide {other:?}"))),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        seed.deserialize(&mut *self.de)
    }
}
