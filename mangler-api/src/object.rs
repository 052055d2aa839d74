//! One object of a Django fixture, as a mangler sees it.
//!
//! An object keeps the JSON text it was parsed from; each field stays that
//! text until a mangler reads it (parsed once, on demand) or writes it. When
//! the object is written out, untouched fields are copied verbatim, so a
//! mangler changes exactly the fields it sets and nothing else: number text,
//! string escapes and key order survive, and parsing costs little.

use std::{borrow::Cow, cell::OnceCell, fmt, ops::Range, sync::Arc};

use serde::{
    de::{self, DeserializeSeed, MapAccess, Visitor},
    Deserialize, Deserializer,
};
use serde_json::{value::RawValue, Map, Value};

use crate::ManglerError;

/// A fixture object `{"model": ..., "pk": ..., "fields": {...}}`.
///
/// Reading never marks the object changed; every method that writes does.
/// The object a mangler received, emitted unchanged, reaches the output byte
/// for byte.
#[derive(Debug, Clone)]
pub struct FixtureObject {
    /// The text the spans point into (empty for a new object).
    text: Arc<str>,
    /// Top-level keys in order; `fields` is a placeholder for `fields` below.
    top: Vec<Entry>,
    fields: Vec<Entry>,
    changed: bool,
    /// The number of the host call this object arrived in, if it did.
    pub(crate) origin: Option<u64>,
}

#[derive(Debug, Clone)]
struct Entry {
    key: Key,
    slot: Slot,
}

#[derive(Debug, Clone)]
enum Key {
    /// Unescaped key text at this span of the object's text.
    Span(Range<usize>),
    Owned(String),
}

#[derive(Debug, Clone)]
enum Slot {
    /// The value's JSON text at this span, parsed when first read.
    Raw(Range<usize>, OnceCell<Value>),
    /// A value set by a mangler.
    Set(Value),
}

const FIELDS: &str = "fields";

impl FixtureObject {
    /// A new object of `model` with this pk and fields.
    pub fn new(model: &str, pk: impl Into<Value>, fields: Map<String, Value>) -> Self {
        let set = |key: &str, value: Value| Entry {
            key: Key::Owned(key.to_owned()),
            slot: Slot::Set(value),
        };
        Self {
            text: Arc::from(""),
            top: vec![
                set("model", Value::String(model.to_owned())),
                set("pk", pk.into()),
                set(FIELDS, Value::Null),
            ],
            fields: fields.into_iter().map(|(k, v)| set(&k, v)).collect(),
            changed: true,
            origin: None,
        }
    }

    /// Parses one object of a fixture.
    ///
    /// # Errors
    ///
    /// When the text is not a JSON object with a string `model` and an object `fields`.
    pub fn parse(text: &str) -> Result<Self, ManglerError> {
        let parsed = Parsed::deserialize(&mut serde_json::Deserializer::from_str(text))?;
        let base = text.as_ptr() as usize;
        let span = |s: &str| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        let entries = |raw: Vec<(RawKey<'_>, RawSlot<'_>)>| -> Vec<Entry> {
            raw.into_iter()
                .map(|(key, value)| Entry {
                    key: match key {
                        RawKey(Cow::Borrowed(k)) => Key::Span(span(k)),
                        RawKey(Cow::Owned(k)) => Key::Owned(k),
                    },
                    slot: match value {
                        RawSlot::Raw(raw) => Slot::Raw(span(raw.get()), OnceCell::new()),
                        RawSlot::Fields => Slot::Set(Value::Null),
                    },
                })
                .collect()
        };
        let object = Self {
            text: Arc::from(text),
            top: entries(parsed.top),
            fields: entries(
                parsed
                    .fields
                    .ok_or_else(|| ManglerError::new("the object has no `fields` object"))?,
            ),
            changed: false,
            origin: None,
        };
        match object.top_value("model") {
            Some(Value::String(_)) => Ok(object),
            _ => Err(ManglerError::new("the object has no string `model`")),
        }
    }

    /// Whether any write happened since parsing.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// The model, `app_label.model_name`.
    pub fn model(&self) -> &str {
        self.top_value("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The pk as it is (a number, a string, or absent with natural keys).
    pub fn pk(&self) -> Option<&Value> {
        self.top_value("pk")
    }

    /// The pk as an integer.
    ///
    /// # Errors
    ///
    /// When the pk is absent or not an integer.
    pub fn pk_i64(&self) -> Result<i64, ManglerError> {
        match self.pk() {
            Some(pk) => pk.as_i64().ok_or_else(|| {
                ManglerError::new(format!("pk {pk} is not an integer, so it cannot be offset"))
            }),
            None => Err(ManglerError::new("the object has no pk to offset")),
        }
    }

    /// Sets the pk.
    pub fn set_pk(&mut self, pk: impl Into<Value>) {
        self.changed = true;
        let pk = pk.into();
        let text = &self.text;
        match self.top.iter_mut().find(|e| e.key.as_str(text) == "pk") {
            Some(entry) => entry.slot = Slot::Set(pk),
            None => self.top.insert(
                1.min(self.top.len()),
                Entry {
                    key: Key::Owned("pk".into()),
                    slot: Slot::Set(pk),
                },
            ),
        }
    }

    /// Adds `offset` to the pk; returns the new pk. An offset of 0 changes nothing.
    ///
    /// # Errors
    ///
    /// When the pk is not an integer.
    pub fn shift_pk(&mut self, offset: i64) -> Result<i64, ManglerError> {
        let pk = self.pk_i64()?;
        if offset == 0 {
            return Ok(pk);
        }
        let shifted = checked_shift(pk, offset)?;
        self.set_pk(shifted);
        Ok(shifted)
    }

    /// Adds `offset` to the pk when it is not 0; a pk that is not an integer
    /// (a natural key, a string) is fine as long as nothing is added to it.
    ///
    /// # Errors
    ///
    /// When an offset must be added to a pk that is not an integer.
    pub fn offset_pk(&mut self, offset: i64) -> Result<(), ManglerError> {
        if offset != 0 {
            self.shift_pk(offset)?;
        }
        Ok(())
    }

    /// The value of a field, if present (parsed on first read).
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|e| e.key.as_str(&self.text) == name)
            .map(|e| e.slot.value(&self.text))
    }

    /// A field's value as text, when it is a string.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Value::as_str)
    }

    /// Whether the object has the field.
    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|e| e.key.as_str(&self.text) == name)
    }

    /// The names of the fields, in order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|e| e.key.as_str(&self.text))
    }

    /// Sets a field (added at the end when new, in place when present).
    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.changed = true;
        let slot = Slot::Set(value.into());
        let text = &self.text;
        match self.fields.iter_mut().find(|e| e.key.as_str(text) == name) {
            Some(entry) => entry.slot = slot,
            None => self.fields.push(Entry {
                key: Key::Owned(name.to_owned()),
                slot,
            }),
        }
    }

    /// Removes a field, keeping the order of the others.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let at = self
            .fields
            .iter()
            .position(|e| e.key.as_str(&self.text) == name)?;
        self.changed = true;
        let entry = self.fields.remove(at);
        Some(entry.slot.into_value(&self.text))
    }

    /// Adds `offset` to an integer foreign key; null stays null.
    ///
    /// # Errors
    ///
    /// When the field holds something other than an integer or null.
    pub fn shift_field(&mut self, name: &str, offset: i64) -> Result<(), ManglerError> {
        match self.field(name) {
            None | Some(Value::Null) => Ok(()),
            Some(_) if offset == 0 => Ok(()),
            Some(value) => {
                let current = value.as_i64().ok_or_else(|| {
                    ManglerError::new(format!(
                        "field `{name}` is {value}, not an integer key, so it cannot be offset"
                    ))
                })?;
                let shifted = checked_shift(current, offset)?;
                self.set(name, shifted);
                Ok(())
            }
        }
    }

    /// The object as a JSON value.
    pub fn into_value(self) -> Value {
        serde_json::from_str(&self.to_json()).expect("an object always serialises to valid JSON")
    }

    /// The object as compact JSON text; untouched values keep their text.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 64);
        write_entries(&mut out, &self.text, &self.top, Some(&self.fields));
        out
    }

    fn top_value(&self, key: &str) -> Option<&Value> {
        self.top
            .iter()
            .find(|e| e.key.as_str(&self.text) == key)
            .map(|e| e.slot.value(&self.text))
    }
}

impl fmt::Display for FixtureObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

fn write_entries(out: &mut String, text: &str, entries: &[Entry], fields: Option<&[Entry]>) {
    out.push('{');
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let key = entry.key.as_str(text);
        match &entry.key {
            Key::Span(span) => {
                out.push('"');
                out.push_str(&text[span.clone()]);
                out.push('"');
            }
            Key::Owned(key) => {
                out.push_str(&serde_json::to_string(key).expect("a string serialises"))
            }
        }
        out.push(':');
        match (&entry.slot, fields) {
            (_, Some(fields)) if key == FIELDS => write_entries(out, text, fields, None),
            (Slot::Raw(span, _), _) => out.push_str(&text[span.clone()]),
            (Slot::Set(value), _) => {
                out.push_str(&serde_json::to_string(value).expect("a value serialises"))
            }
        }
    }
    out.push('}');
}

impl Key {
    fn as_str<'a>(&'a self, text: &'a str) -> &'a str {
        match self {
            Key::Span(span) => &text[span.clone()],
            Key::Owned(key) => key,
        }
    }
}

impl Slot {
    fn value<'a>(&'a self, text: &str) -> &'a Value {
        match self {
            Slot::Raw(span, parsed) => parsed.get_or_init(|| {
                serde_json::from_str(&text[span.clone()])
                    .expect("the span was valid JSON when the object was parsed")
            }),
            Slot::Set(value) => value,
        }
    }

    fn into_value(self, text: &str) -> Value {
        match self {
            Slot::Raw(span, parsed) => parsed.into_inner().unwrap_or_else(|| {
                serde_json::from_str(&text[span])
                    .expect("the span was valid JSON when the object was parsed")
            }),
            Slot::Set(value) => value,
        }
    }
}

fn checked_shift(value: i64, offset: i64) -> Result<i64, ManglerError> {
    value
        .checked_add(offset)
        .ok_or_else(|| ManglerError::new(format!("{value} + {offset} overflows a 64-bit key")))
}

/// What one pass of serde_json gives: top-level entries (with `fields`
/// as a placeholder) and the entries of `fields`, all borrowed.
struct Parsed<'a> {
    top: Vec<(RawKey<'a>, RawSlot<'a>)>,
    fields: Option<Vec<(RawKey<'a>, RawSlot<'a>)>>,
}

struct RawKey<'a>(Cow<'a, str>);

enum RawSlot<'a> {
    Raw(&'a RawValue),
    Fields,
}

impl<'de> Deserialize<'de> for RawKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = RawKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RawKey(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawKey(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Entries of a JSON object, values left as raw text.
struct Entries;

impl<'de> DeserializeSeed<'de> for Entries {
    type Value = Vec<(RawKey<'de>, RawSlot<'de>)>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(EntriesVisitor)
    }
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Vec<(RawKey<'de>, RawSlot<'de>)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(32));
        while let Some(key) = map.next_key::<RawKey<'de>>()? {
            entries.push((key, RawSlot::Raw(map.next_value::<&'de RawValue>()?)));
        }
        Ok(entries)
    }
}

impl<'de> Deserialize<'de> for Parsed<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TopVisitor;
        impl<'de> Visitor<'de> for TopVisitor {
            type Value = Parsed<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a fixture object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut parsed = Parsed {
                    top: Vec::with_capacity(3),
                    fields: None,
                };
                while let Some(key) = map.next_key::<RawKey<'de>>()? {
                    if key.0 == FIELDS {
                        parsed.fields = Some(map.next_value_seed(Entries)?);
                        parsed.top.push((key, RawSlot::Fields));
                    } else {
                        parsed
                            .top
                            .push((key, RawSlot::Raw(map.next_value::<&'de RawValue>()?)));
                    }
                }
                Ok(parsed)
            }
        }
        deserializer.deserialize_map(TopVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_keeps_the_object_unchanged_and_writing_marks_it() {
        let mut object =
            FixtureObject::parse(r#"{"model":"a.b","pk":1,"fields":{"x":1.10,"y":null}}"#).unwrap();
        assert_eq!(object.field("x").unwrap().to_string(), "1.10");
        assert!(!object.is_changed());
        object.shift_field("y", 5).unwrap();
        assert!(!object.is_changed(), "a null key stays null");
        object.shift_pk(3).unwrap();
        assert!(object.is_changed());
        assert_eq!(
            object.to_json(),
            r#"{"model":"a.b","pk":4,"fields":{"x":1.10,"y":null}}"#
        );
    }

    #[test]
    fn untouched_values_keep_their_exact_text() {
        let text = r#"{"pk": 7, "model": "a.b", "fields": {"e": 1E5, "s": "caf\u00e9 \"q\"", "n": {"k": [1.0, 2e-7]}, "t": "x"}}"#;
        let mut object = FixtureObject::parse(text).unwrap();
        assert_eq!(object.str_field("s"), Some("café \"q\""));
        object.set("t", "y");
        assert_eq!(
            object.to_json(),
            r#"{"pk":7,"model":"a.b","fields":{"e":1E5,"s":"caf\u00e9 \"q\"","n":{"k": [1.0, 2e-7]},"t":"y"}}"#
        );
    }

    #[test]
    fn a_string_pk_cannot_be_offset_but_may_stay() {
        let mut object = FixtureObject::parse(r#"{"model":"a.b","pk":"k","fields":{}}"#).unwrap();
        object.offset_pk(0).unwrap();
        let err = object.shift_pk(1).unwrap_err();
        assert_eq!(
            err.message(),
            r#"pk "k" is not an integer, so it cannot be offset"#
        );
    }

    #[test]
    fn removing_a_field_keeps_the_order_of_the_others() {
        let mut object =
            FixtureObject::parse(r#"{"model":"a.b","pk":1,"fields":{"a":1,"b":2,"c":3}}"#).unwrap();
        assert_eq!(object.remove("b"), Some(Value::from(2)));
        object.set("d", 4);
        assert_eq!(
            object.to_json(),
            r#"{"model":"a.b","pk":1,"fields":{"a":1,"c":3,"d":4}}"#
        );
        assert_eq!(object.field_names().collect::<Vec<_>>(), ["a", "c", "d"]);
    }

    #[test]
    fn malformed_objects_are_refused() {
        for text in [
            r#"{"model":1,"fields":{}}"#,
            r#"{"model":"a"}"#,
            r#"{"model":"a","fields":[]}"#,
            "[]",
        ] {
            assert!(FixtureObject::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn new_objects_serialise_in_django_order() {
        let mut fields = Map::new();
        fields.insert("x".into(), Value::Null);
        let object = FixtureObject::new("a.b", 3, fields);
        assert_eq!(
            object.to_json(),
            r#"{"model":"a.b","pk":3,"fields":{"x":null}}"#
        );
        assert_eq!(object.into_value()["pk"], 3);
    }
}
