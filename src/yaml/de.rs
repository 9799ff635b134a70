//! A serde deserializer pulling YAML events straight into typed values, with no tree in
//! between: the fast way to read large registers. Scalars resolve exactly as in the tree
//! reader, so both readers accept and refuse the same documents. The events come from the
//! fast reader of plain documents, else from the full parser.

use std::fmt;
use std::str::Chars;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;
use yaml_rust2::parser::{Event, Parser};

use super::fast::FastEvents;
use super::{ALIAS_REFUSED, is_null_scalar, resolve_scalar};

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

/// Reads one YAML document into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, DeError> {
    // The fast reader gives up on documents outside its shape (and on any error, which the
    // full parser then reports in its own words).
    read(&mut FastEvents::new(text)).or_else(|_| read(&mut Parser::new_from_str(text)))
}

fn read<T: DeserializeOwned, E: Events>(events: &mut E) -> Result<T, DeError> {
    let mut de = Deserializer { events };
    de.expect(|e| matches!(e, Event::StreamStart))?;
    de.expect(|e| matches!(e, Event::DocumentStart))?;
    let value = T::deserialize(&mut de)?;
    de.expect(|e| matches!(e, Event::DocumentEnd))?;
    de.expect(|e| matches!(e, Event::StreamEnd))?;
    Ok(value)
}

/// A source of YAML events.
trait Events {
    fn next(&mut self) -> Result<Event, DeError>;
    fn peek(&mut self) -> Result<&Event, DeError>;
}

impl Events for Parser<Chars<'_>> {
    fn next(&mut self) -> Result<Event, DeError> {
        self.next_token()
            .map(|(event, _)| event)
            .map_err(|e| DeError(e.to_string()))
    }

    fn peek(&mut self) -> Result<&Event, DeError> {
        Parser::peek(self)
            .map(|(event, _)| event)
            .map_err(|e| DeError(e.to_string()))
    }
}

impl Events for FastEvents<'_> {
    fn next(&mut self) -> Result<Event, DeError> {
        self.next_event().map_err(gave_up)
    }

    fn peek(&mut self) -> Result<&Event, DeError> {
        self.peek_event().map_err(gave_up)
    }
}

fn gave_up(_: super::fast::GaveUp) -> DeError {
    DeError("document hors de la forme simple".to_owned())
}

struct Deserializer<'e, E> {
    events: &'e mut E,
}

impl<E: Events> Deserializer<'_, E> {
    fn next(&mut self) -> Result<Event, DeError> {
        self.events.next()
    }

    fn peek(&mut self) -> Result<&Event, DeError> {
        self.events.peek()
    }

    fn expect(&mut self, what: impl Fn(&Event) -> bool) -> Result<(), DeError> {
        let event = self.next()?;
        if what(&event) {
            Ok(())
        } else {
            Err(DeError(format!("unexpected YAML event {event:?}")))
        }
    }
}

impl<'de, E: Events> de::Deserializer<'de> for &mut Deserializer<'_, E> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.next()? {
            Event::Scalar(text, style, anchor, tag) => {
                if anchor != 0 {
                    return Err(DeError(ALIAS_REFUSED.to_owned()));
                }
                match resolve_scalar(text, style, tag.as_ref()).map_err(DeError)? {
                    Value::Null => visitor.visit_unit(),
                    Value::Bool(b) => visitor.visit_bool(b),
                    Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                        (Some(i), _) => visitor.visit_i64(i),
                        (None, Some(f)) => visitor.visit_f64(f),
                        (None, None) => Err(DeError("nombre invalide".to_owned())),
                    },
                    Value::String(s) => visitor.visit_string(s),
                    Value::Array(_) | Value::Object(_) => {
                        Err(DeError("scalaire attendu".to_owned()))
                    }
                }
            }
            Event::SequenceStart(0, _) => visitor.visit_seq(Seq { de: self }),
            Event::MappingStart(0, _) => visitor.visit_map(Map {
                de: self,
                keys: Vec::new(),
            }),
            Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(_) => {
                Err(DeError(ALIAS_REFUSED.to_owned()))
            }
            other => Err(DeError(format!("unexpected YAML event {other:?}"))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let is_null = match self.peek()? {
            Event::Scalar(text, style, 0, tag) => is_null_scalar(text, *style, tag.as_ref()),
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
            Event::Scalar(text, _, 0, _) => visitor.visit_enum(text.into_deserializer()),
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

impl<'de, E: Events> SeqAccess<'de> for Seq<'_, '_, E> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        if matches!(self.de.peek()?, Event::SequenceEnd) {
            self.de.next()?;
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

struct Map<'d, 'e, E> {
    de: &'d mut Deserializer<'e, E>,
    /// Keys seen so far: a repeated key is an error, as in the tree reader.
    keys: Vec<String>,
}

impl<'de, E: Events> MapAccess<'de> for Map<'_, '_, E> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.de.next()? {
            Event::MappingEnd => Ok(None),
            Event::Scalar(text, style, 0, tag) => {
                let key = match resolve_scalar(text, style, tag.as_ref()).map_err(DeError)? {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return Err(DeError("clé invalide".to_owned())),
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
