//! One object of a Django fixture, as a mangler sees it.
//!
//! An object keeps the JSON text it was parsed from; each field stays that
//! text until a mangler reads it (parsed once, on demand) or writes it. When
//! the object is written out, untouched fields are copied verbatim, so a
//! mangler changes exactly the fields it sets and nothing else: number text,
//! string escapes and key order survive, and parsing costs little.

use std::{
    borrow::Cow,
    fmt,
    ops::Range,
    sync::{Arc, OnceLock},
};

use serde::{
    de::{self, DeserializeSeed, MapAccess, Visitor},
    Deserialize, Deserializer,
};
use serde_json::{value::RawValue, Map, Value};

use crate::{
    scan::{skip_ws, Record, Scanner},
    ManglerError,
};

/// A fixture object `{"model": ..., "pk": ..., "fields": {...}}`.
///
/// Reading never marks the object changed; every method that writes does.
/// The object a mangler received, emitted unchanged, reaches the output byte
/// for byte.
///
/// Two objects are equal when they hold the same JSON values (model, pk,
/// fields and any other key), whatever their text, key order or history.
#[derive(Debug, Clone)]
pub struct FixtureObject {
    /// The text the spans point into (empty for a new object).
    text: Arc<str>,
    /// Top-level keys in order; `fields` is a placeholder for `fields` below.
    top: Vec<Entry>,
    fields: Vec<Entry>,
    /// The fields as one map, once the deprecated `fields_mut` made it:
    /// from then on the map holds them and `fields` is empty.
    map: Option<Map<String, Value>>,
    /// The deprecated `fields()` view of `fields`, made on first call and
    /// dropped by every write.
    view: OnceLock<Map<String, Value>>,
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
    /// The value's JSON text at this span, parsed when first read
    /// (checked readable when the object was parsed).
    Raw(Range<usize>, OnceLock<Value>),
    /// A value set by a mangler.
    Set(Value),
}

/// Where an object's fields are.
#[derive(Clone, Copy)]
enum Fields<'a> {
    /// Entries over the object's text.
    Entries(&'a [Entry]),
    /// The map the deprecated `fields_mut` made.
    Map(&'a Map<String, Value>),
}

const FIELDS: &str = "fields";

/// Values nested this deep or deeper are read in full when an object is
/// parsed, to refuse what serde_json cannot read (it stops at 128 levels)
/// there rather than when a mangler reads the field.
const DEPTH_TO_CHECK: usize = 64;

impl FixtureObject {
    /// A new object of `model` with this pk and fields.
    pub fn new(model: &str, pk: impl Into<Value>, fields: Map<String, Value>) -> Self {
        let set = |key: String, value: Value| Entry {
            key: Key::Owned(key),
            slot: Slot::Set(value),
        };
        Self {
            text: Arc::from(""),
            top: vec![
                set("model".to_owned(), Value::String(model.to_owned())),
                set("pk".to_owned(), pk.into()),
                set(FIELDS.to_owned(), Value::Null),
            ],
            fields: fields.into_iter().map(|(k, v)| set(k, v)).collect(),
            map: None,
            view: OnceLock::new(),
            changed: true,
            origin: None,
        }
    }

    /// Parses one object of a fixture.
    ///
    /// Values stay text until read, but what serde_json could not read back
    /// (an escaped UTF-16 surrogate without its other half, nesting 128
    /// levels deep) is refused here, naming the field, so that reading a
    /// field never fails.
    ///
    /// # Errors
    ///
    /// When the text is not a JSON object with a string `model` and an
    /// object `fields`, or holds a value serde_json cannot read.
    pub fn parse(text: &str) -> Result<Self, ManglerError> {
        Self::parse_scanned(text).map_or_else(|| Self::parse_with_serde(text), Ok)
    }

    /// Parses with serde_json: any text [`FixtureObject::parse_scanned`]
    /// does not take, with serde_json's own messages for what is wrong.
    fn parse_with_serde(text: &str) -> Result<Self, ManglerError> {
        let parsed = Parsed::deserialize(&mut serde_json::Deserializer::from_str(text))?;
        let base = text.as_ptr() as usize;
        let span = |s: &str| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        let entries = |raw: Vec<(RawKey<'_>, RawSlot<'_>)>, within: &str| {
            raw.into_iter()
                .map(|(RawKey(key), value)| {
                    let slot = match value {
                        RawSlot::Raw(raw) => {
                            let parsed = match read_if_doubtful(raw.get(), within, &key)? {
                                Some(value) => OnceLock::from(value),
                                None => OnceLock::new(),
                            };
                            Slot::Raw(span(raw.get()), parsed)
                        }
                        RawSlot::Fields => Slot::Set(Value::Null),
                    };
                    let key = match key {
                        Cow::Borrowed(k) => Key::Span(span(k)),
                        Cow::Owned(k) => Key::Owned(k),
                    };
                    Ok(Entry { key, slot })
                })
                .collect::<Result<Vec<Entry>, ManglerError>>()
        };
        let fields = parsed
            .fields
            .ok_or_else(|| ManglerError::new("the object has no `fields` object"))?;
        let object = Self {
            text: Arc::from(text),
            top: entries(parsed.top, "")?,
            fields: entries(fields, "field ")?,
            map: None,
            view: OnceLock::new(),
            changed: false,
            origin: None,
        };
        match object.top_value("model") {
            Some(Value::String(_)) => Ok(object),
            _ => Err(ManglerError::new("the object has no string `model`")),
        }
    }

    /// Parses in one pass of the [`Scanner`], which checks what the
    /// serde_json path below checks (and what serde_json could not read
    /// back), into the same object. `None` for anything it does not take
    /// (malformed text, an escaped key, text after the object, a key twice):
    /// the serde_json path gives that one its result or its error.
    fn parse_scanned(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let mut layout = Layout::new(bytes);
        let scanned = Scanner::default()
            .element_recorded(bytes, &mut layout)
            .ok()?;
        if layout.escaped_key || skip_ws(bytes, scanned.len) != bytes.len() {
            return None;
        }
        Some(Self {
            text: Arc::from(text),
            top: layout.top,
            fields: layout.fields,
            map: None,
            view: OnceLock::new(),
            changed: false,
            origin: None,
        })
    }

    /// Wraps a parsed object.
    ///
    /// # Errors
    ///
    /// When the value is not an object with a string `model` and an object `fields`.
    #[deprecated(
        since = "1.1.0",
        note = "use `FixtureObject::parse` on the object's text, which keeps untouched values \
                as they were written, or `FixtureObject::new`"
    )]
    pub fn from_value(value: Value) -> Result<Self, ManglerError> {
        let Value::Object(object) = value else {
            return Err(ManglerError::new("a fixture element must be a JSON object"));
        };
        if !matches!(object.get("model"), Some(Value::String(_))) {
            return Err(ManglerError::new("the object has no string `model`"));
        }
        let set = |(key, value): (String, Value)| Entry {
            key: Key::Owned(key),
            slot: Slot::Set(value),
        };
        let mut fields = None;
        let mut top = Vec::with_capacity(object.len());
        for (key, value) in object {
            if key == FIELDS {
                let Value::Object(map) = value else {
                    return Err(ManglerError::new("the object has no `fields` object"));
                };
                fields = Some(map.into_iter().map(set).collect());
                top.push(set((key, Value::Null)));
            } else {
                top.push(set((key, value)));
            }
        }
        Ok(Self {
            text: Arc::from(""),
            top,
            fields: fields.ok_or_else(|| ManglerError::new("the object has no `fields` object"))?,
            map: None,
            view: OnceLock::new(),
            changed: false,
            origin: None,
        })
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
        match self.top.iter_mut().find(|e| e.key.is(text, "pk")) {
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
        match self.stored_fields() {
            Fields::Entries(entries) => entries
                .iter()
                .find(|e| e.key.is(&self.text, name))
                .map(|e| e.slot.value(&self.text)),
            Fields::Map(map) => map.get(name),
        }
    }

    /// A field's value as text, when it is a string.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Value::as_str)
    }

    /// Whether the object has the field.
    pub fn has(&self, name: &str) -> bool {
        match self.stored_fields() {
            Fields::Entries(entries) => entries.iter().any(|e| e.key.is(&self.text, name)),
            Fields::Map(map) => map.contains_key(name),
        }
    }

    /// The names of the fields, in order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        let (entries, map) = match self.stored_fields() {
            Fields::Entries(entries) => (entries, None),
            Fields::Map(map) => (&[][..], Some(map)),
        };
        entries
            .iter()
            .map(|e| e.key.as_str(&self.text))
            .chain(map.into_iter().flat_map(|m| m.keys().map(String::as_str)))
    }

    /// Sets a field (added at the end when new, in place when present).
    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.changed = true;
        self.view.take();
        let value = value.into();
        if let Some(map) = &mut self.map {
            map.insert(name.to_owned(), value);
            return;
        }
        let slot = Slot::Set(value);
        let text = &self.text;
        match self.fields.iter_mut().find(|e| e.key.is(text, name)) {
            Some(entry) => entry.slot = slot,
            None => self.fields.push(Entry {
                key: Key::Owned(name.to_owned()),
                slot,
            }),
        }
    }

    /// Removes a field, keeping the order of the others.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let removed = match &mut self.map {
            Some(map) => map.shift_remove(name),
            None => {
                let at = self
                    .fields
                    .iter()
                    .position(|e| e.key.is(&self.text, name))?;
                Some(self.fields.remove(at).slot.into_value(&self.text))
            }
        };
        if removed.is_some() {
            self.changed = true;
            self.view.take();
        }
        removed
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

    /// The fields, read only.
    #[deprecated(
        since = "1.1.0",
        note = "use `field`, `str_field`, `has` and `field_names`, which parse only the fields \
                they read"
    )]
    pub fn fields(&self) -> &Map<String, Value> {
        match self.stored_fields() {
            Fields::Entries(entries) => self.view.get_or_init(|| entries_map(&self.text, entries)),
            Fields::Map(map) => map,
        }
    }

    /// The fields, for writing (marks the object changed). From then on
    /// the object writes every field as a value: untouched fields keep
    /// their values but not necessarily their exact text.
    #[deprecated(
        since = "1.1.0",
        note = "use `set` and `remove`, which keep every other field's text as it was"
    )]
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        self.changed = true;
        self.view.take();
        let map = match self.map.take() {
            Some(map) => map,
            None => std::mem::take(&mut self.fields)
                .into_iter()
                .map(|e| {
                    (
                        e.key.as_str(&self.text).to_owned(),
                        e.slot.into_value(&self.text),
                    )
                })
                .collect(),
        };
        self.map.insert(map)
    }

    /// The object as a JSON value.
    pub fn into_value(self) -> Value {
        self.to_value()
    }

    /// The object as compact JSON text; untouched values keep their text.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(self.text.len() + 64);
        write_entries(&mut out, &self.text, &self.top, Some(self.stored_fields()));
        String::from_utf8(out).expect("an object's text and serde_json's output are UTF-8")
    }

    /// The object as a JSON value, built without parsing its text again.
    fn to_value(&self) -> Value {
        let fields = match self.stored_fields() {
            Fields::Entries(entries) => entries_map(&self.text, entries),
            Fields::Map(map) => map.clone(),
        };
        Value::Object(
            self.top
                .iter()
                .map(|e| {
                    let key = e.key.as_str(&self.text);
                    let value = if key == FIELDS {
                        Value::Object(fields.clone())
                    } else {
                        e.slot.value(&self.text).clone()
                    };
                    (key.to_owned(), value)
                })
                .collect(),
        )
    }

    fn stored_fields(&self) -> Fields<'_> {
        match &self.map {
            Some(map) => Fields::Map(map),
            None => Fields::Entries(&self.fields),
        }
    }

    fn top_value(&self, key: &str) -> Option<&Value> {
        self.top
            .iter()
            .find(|e| e.key.is(&self.text, key))
            .map(|e| e.slot.value(&self.text))
    }
}

impl PartialEq for FixtureObject {
    fn eq(&self, other: &Self) -> bool {
        self.to_value() == other.to_value()
    }
}

impl fmt::Display for FixtureObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Entries as a map of their values (of a key written twice, the last
/// value, as serde_json reads it).
fn entries_map(text: &str, entries: &[Entry]) -> Map<String, Value> {
    entries
        .iter()
        .map(|e| (e.key.as_str(text).to_owned(), e.slot.value(text).clone()))
        .collect()
}

fn write_entries(out: &mut Vec<u8>, text: &str, entries: &[Entry], fields: Option<Fields<'_>>) {
    out.push(b'{');
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let key = entry.key.as_str(text);
        match &entry.key {
            Key::Span(span) => {
                out.push(b'"');
                out.extend_from_slice(text[span.clone()].as_bytes());
                out.push(b'"');
            }
            Key::Owned(key) => write_json(out, key),
        }
        out.push(b':');
        match (&entry.slot, fields) {
            (_, Some(Fields::Entries(fields))) if key == FIELDS => {
                write_entries(out, text, fields, None)
            }
            (_, Some(Fields::Map(map))) if key == FIELDS => write_json(out, map),
            (Slot::Raw(span, _), _) => out.extend_from_slice(text[span.clone()].as_bytes()),
            (Slot::Set(value), _) => write_json(out, value),
        }
    }
    out.push(b'}');
}

/// Appends the JSON text of a key, value or map (which always serialise),
/// with no string of its own.
fn write_json(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    serde_json::to_writer(out, value).expect("strings and JSON values always serialise");
}

impl Key {
    fn as_str<'a>(&'a self, text: &'a str) -> &'a str {
        match self {
            Key::Span(span) => &text[span.clone()],
            Key::Owned(key) => key,
        }
    }

    /// Whether the key is `name`; the lengths first, as a lookup compares
    /// `name` with most of an object's keys.
    fn is(&self, text: &str, name: &str) -> bool {
        match self {
            Key::Span(span) => {
                span.len() == name.len()
                    && text.as_bytes().get(span.clone()) == Some(name.as_bytes())
            }
            Key::Owned(key) => key == name,
        }
    }
}

impl Slot {
    fn value<'a>(&'a self, text: &str) -> &'a Value {
        match self {
            Slot::Raw(span, parsed) => parsed.get_or_init(|| read_checked(&text[span.clone()])),
            Slot::Set(value) => value,
        }
    }

    fn into_value(self, text: &str) -> Value {
        match self {
            Slot::Raw(span, parsed) => parsed
                .into_inner()
                .unwrap_or_else(|| read_checked(&text[span])),
            Slot::Set(value) => value,
        }
    }
}

/// Reads a value's text that [`read_if_doubtful`] let through when the
/// object was parsed, so serde_json reads it.
fn read_checked(raw: &str) -> Value {
    serde_json::from_str(raw).expect("the value was checked readable when the object was parsed")
}

/// Reads the raw value of key `key` (`within` says where: `""` or
/// `"field "`) in full when serde_json might fail to read it later: when
/// it holds a `\u` escape that may be half of a surrogate pair, or nests
/// [`DEPTH_TO_CHECK`] levels deep. Everything else serde_json reads once
/// the value is well-formed, which parsing the object checked.
///
/// # Errors
///
/// When serde_json cannot read it, naming the key and why.
fn read_if_doubtful(raw: &str, within: &str, key: &str) -> Result<Option<Value>, ManglerError> {
    let Some(doubt) = doubt(raw.as_bytes()) else {
        return Ok(None);
    };
    serde_json::from_str(raw).map(Some).map_err(|err| {
        let why = match doubt {
            Doubt::Deep => "values nested 128 levels deep are more than serde_json reads",
            Doubt::Surrogate => {
                "an escaped UTF-16 surrogate without its other half is not a character"
            }
        };
        ManglerError::new(format!("{within}`{key}` cannot be read: {err} ({why})"))
    })
}

/// Why a value's text is read in full when its object is parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Doubt {
    /// It nests [`DEPTH_TO_CHECK`] levels deep.
    Deep,
    /// It holds a `\u` escape of a code unit `dXXX`.
    Surrogate,
}

/// One pass over a well-formed value's text: whether it may hold what
/// serde_json cannot read.
fn doubt(raw: &[u8]) -> Option<Doubt> {
    // Most values are a string, number or literal (nothing nested: a bracket
    // in a string is text) without escapes: one memchr says so.
    if !matches!(raw.first(), Some(b'[' | b'{')) && !raw.contains(&b'\\') {
        return None;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        match c {
            b'\\' if in_string => {
                if raw.get(i + 1) == Some(&b'u') && matches!(raw.get(i + 2), Some(b'd' | b'D')) {
                    return Some(Doubt::Surrogate);
                }
                i += 1;
            }
            b'"' => in_string = !in_string,
            b'[' | b'{' if !in_string => {
                depth += 1;
                if depth >= DEPTH_TO_CHECK {
                    return Some(Doubt::Deep);
                }
            }
            b']' | b'}' if !in_string => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

fn checked_shift(value: i64, offset: i64) -> Result<i64, ManglerError> {
    value
        .checked_add(offset)
        .ok_or_else(|| ManglerError::new(format!("{value} + {offset} overflows a 64-bit key")))
}

/// An object's entries as the scanner finds them: its keys and values
/// (depth 1), and those of its `fields` (depth 2).
struct Layout<'a> {
    text: &'a [u8],
    top: Vec<Entry>,
    fields: Vec<Entry>,
    /// The last key at depth 1 and at depth 2.
    keys: [Range<usize>; 2],
    /// Where the last object or array at depth 1 and at depth 2 opened.
    opened: [usize; 2],
    /// Whether the value at depth 1 being read is `fields`.
    in_fields: bool,
    /// Whether a key the object keeps has an escape (serde_json unescapes it).
    escaped_key: bool,
}

impl<'a> Layout<'a> {
    fn new(text: &'a [u8]) -> Self {
        Self {
            text,
            top: Vec::with_capacity(3),
            // GeoNode's resources have 40 to 60 fields: one allocation for most.
            fields: Vec::with_capacity(64),
            keys: [0..0, 0..0],
            opened: [0, 0],
            in_fields: false,
            escaped_key: false,
        }
    }

    fn push(&mut self, depth: usize, slot: Slot) {
        let key = Key::Span(self.keys[depth - 1].clone());
        let entries = if depth == 1 {
            &mut self.top
        } else {
            &mut self.fields
        };
        entries.push(Entry { key, slot });
    }

    /// Whether a key or value at `depth` is one the object keeps.
    fn kept(&self, depth: usize) -> bool {
        depth == 1 || (depth == 2 && self.in_fields)
    }
}

impl Record for Layout<'_> {
    fn key(&mut self, depth: usize, span: Range<usize>) {
        if !self.kept(depth) {
            return;
        }
        let key = &self.text[span.clone()];
        self.escaped_key |= key.contains(&b'\\');
        if depth == 1 {
            self.in_fields = key == FIELDS.as_bytes();
        }
        self.keys[depth - 1] = span;
    }

    fn scalar(&mut self, depth: usize, span: Range<usize>) {
        if self.kept(depth) {
            self.push(depth, Slot::Raw(span, OnceLock::new()));
        }
    }

    fn open(&mut self, depth: usize, at: usize) {
        if let 1 | 2 = depth {
            self.opened[depth - 1] = at;
        }
    }

    fn close(&mut self, depth: usize, end: usize) {
        if depth == 1 && self.in_fields {
            self.in_fields = false;
            self.push(1, Slot::Set(Value::Null));
        } else if self.kept(depth) {
            self.push(
                depth,
                Slot::Raw(self.opened[depth - 1]..end, OnceLock::new()),
            );
        }
    }
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
        // GeoNode's resources have 40 to 60 fields: one allocation for most.
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(64));
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

    /// Each key and value of an object (`fields`' own), as text.
    fn entries(object: &FixtureObject) -> Vec<(String, String)> {
        let text = &object.text;
        let shown = |e: &Entry| {
            let value = match &e.slot {
                Slot::Raw(span, _) => format!("raw {}", &text[span.clone()]),
                Slot::Set(value) => format!("set {value}"),
            };
            (e.key.as_str(text).to_owned(), value)
        };
        object.top.iter().chain(&object.fields).map(shown).collect()
    }

    /// Whether the scanner's parse and serde_json's agree on `text`: the
    /// same entries and text out, or the scanner leaves it to serde_json.
    fn agree(text: &str) -> Option<bool> {
        let scanned = FixtureObject::parse_scanned(text)?;
        let serde =
            FixtureObject::parse_with_serde(text).expect("serde_json reads what the scanner takes");
        assert_eq!(entries(&scanned), entries(&serde), "{text}");
        assert_eq!(scanned.to_json(), serde.to_json(), "{text}");
        assert_eq!(scanned, serde, "{text}");
        Some(true)
    }

    #[test]
    fn the_scanner_parses_as_serde_json_does() {
        let nested = format!(
            r#"{{"model":"a","fields":{{"d":{}1{}}}}}"#,
            "[".repeat(70),
            "]".repeat(70)
        );
        for text in [
            r#"{"model":"a.b","pk":1,"fields":{"x":1.10,"y":null}}"#,
            " {\n \"pk\" : 7 ,\t\"model\":\"a.b\", \"fields\" : { \"e\" : 1E5 , \"s\": \"caf\\u00e9 \\\"q\\\"\" } } \n",
            r#"{"model":"a","extra":[[1,{"k":2}],{"fields":3}],"fields":{"n":{"k":[1.0,2e-7]},"a":[],"o":{},"t":true,"f":false}}"#,
            r#"{"fields":{},"model":"a","pk":"k"}"#,
            r#"{"model":"a","fields":{"x":1,"x":2},"z":{"fields":{"q":1}}}"#,
            r#"{"model":"a","fields":{"s":"\ud83c\udf0d \u00e9t\u00e9 \/ \b\f\n\r\t"}}"#,
            &nested,
        ] {
            assert_eq!(agree(text), Some(true), "{text}");
        }
        for left in [
            r#"{"model":"a","fields":{"k\u0065y":1}}"#,
            r#"{"model":"a","fi\u0065lds":{}}"#,
            r#"{"model":"a","fields":{}} trailing"#,
            r#"{"model":"a","fields":{},"fields":{}}"#,
            r#"{"model":"a","model":"b","fields":{}}"#,
            r#"{"model":"a","fields":{"x":"\ud800"}}"#,
            r#"{"model":"a","fields":{"x":01}}"#,
            r#"{"model":1,"fields":{}}"#,
            r#"{"model":"a"}"#,
            "[]",
        ] {
            assert_eq!(agree(left), None, "{left}");
        }
    }

    #[test]
    fn the_scanner_parses_every_real_fixture_object_as_serde_json_does() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let mut objects = 0;
        let mut folders = vec![repo.join("tests/data"), repo.join("manglers")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let Ok(elements) = serde_json::from_str::<Vec<&RawValue>>(&text) else {
                    continue;
                };
                for element in elements {
                    if FixtureObject::parse_with_serde(element.get()).is_ok() {
                        assert_eq!(agree(element.get()), Some(true), "{}", path.display());
                        objects += 1;
                    }
                }
            }
        }
        assert!(objects > 5000, "the real fixtures are found ({objects})");
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

    /// A parsed object with an escaped `é`, a number with its own text and
    /// a nested value, all untouched.
    const TEXT: &str =
        r#"{"model":"a.b","pk":7,"fields":{"s":"caf\u00e9","n":1.50,"o":{"k":[1,2]},"x":null}}"#;

    #[test]
    #[allow(deprecated)]
    fn the_fields_map_of_1_0_shows_every_field_and_follows_writes() {
        let mut object = FixtureObject::parse(TEXT).unwrap();
        let fields = object.fields();
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            ["s", "n", "o", "x"],
            "in order"
        );
        assert_eq!(fields["s"], "café");
        assert_eq!(fields["n"].to_string(), "1.50");
        assert_eq!(fields["o"], serde_json::json!({"k": [1, 2]}));
        assert!(!object.is_changed(), "reading changes nothing");
        assert_eq!(object.to_json(), TEXT);

        object.set("x", 3);
        object.remove("o");
        object.set("new", true);
        assert_eq!(
            serde_json::to_string(object.fields()).unwrap(),
            r#"{"s":"café","n":1.50,"x":3,"new":true}"#,
            "the view follows the writes made after it was first read"
        );
        assert_eq!(
            object.to_json(),
            r#"{"model":"a.b","pk":7,"fields":{"s":"caf\u00e9","n":1.50,"x":3,"new":true}}"#,
            "untouched fields keep their text"
        );
    }

    #[test]
    #[allow(deprecated)]
    fn writing_through_the_fields_map_of_1_0_is_seen_by_every_other_method() {
        let mut object = FixtureObject::parse(TEXT).unwrap();
        let fields = object.fields_mut();
        fields.insert("x".into(), Value::from("set"));
        fields.shift_remove("n");
        fields.insert("added".into(), Value::from(1));
        assert!(object.is_changed());
        assert_eq!(object.str_field("x"), Some("set"));
        assert_eq!(object.field("n"), None);
        assert!(object.has("added") && !object.has("n"));
        assert_eq!(
            object.field_names().collect::<Vec<_>>(),
            ["s", "o", "x", "added"]
        );
        object.set("s", "other");
        assert_eq!(object.remove("o"), Some(serde_json::json!({"k": [1, 2]})));
        object.shift_field("added", 10).unwrap();
        object.shift_pk(1).unwrap();
        assert_eq!(object.fields_mut().len(), 3);
        let expected = r#"{"model":"a.b","pk":8,"fields":{"s":"other","x":"set","added":11}}"#;
        assert_eq!(object.to_json(), expected);
        assert_eq!(object.clone().into_value().to_string(), expected);
        assert_eq!(object.fields()["added"], 11);
    }

    #[test]
    #[allow(deprecated)]
    fn objects_from_values_as_in_1_0() {
        let value = serde_json::json!({"pk": 3, "model": "a.b", "fields": {"t": "x", "n": 2}});
        let object = FixtureObject::from_value(value.clone()).unwrap();
        assert!(!object.is_changed());
        assert_eq!((object.model(), object.pk_i64().unwrap()), ("a.b", 3));
        assert_eq!(object.str_field("t"), Some("x"));
        assert_eq!(object.to_json(), value.to_string(), "keys in their order");
        assert_eq!(object.into_value(), value);
        for (value, error) in [
            (
                serde_json::json!([1]),
                "a fixture element must be a JSON object",
            ),
            (
                serde_json::json!({"fields": {}}),
                "the object has no string `model`",
            ),
            (
                serde_json::json!({"model": "a"}),
                "the object has no `fields` object",
            ),
            (
                serde_json::json!({"model": "a", "fields": []}),
                "the object has no `fields` object",
            ),
        ] {
            let refused = FixtureObject::from_value(value.clone()).unwrap_err();
            assert_eq!(refused.message(), error, "{value}");
        }
    }

    #[test]
    fn objects_are_equal_when_their_values_are() {
        let parsed = FixtureObject::parse(TEXT).unwrap();
        let spaced = FixtureObject::parse(
            r#"{"fields": {"x": null, "o": {"k": [1, 2]}, "n": 1.50, "s": "café"}, "pk": 7, "model": "a.b"}"#,
        )
        .unwrap();
        assert_eq!(parsed, spaced, "text, key order and escapes do not count");
        let mut fields = Map::new();
        for key in ["s", "n", "o", "x"] {
            fields.insert(key.into(), parsed.field(key).unwrap().clone());
        }
        let new = FixtureObject::new("a.b", 7, fields);
        assert!(new.is_changed() && !parsed.is_changed());
        assert_eq!(new, parsed, "nor whether it was changed");
        let mut changed = parsed.clone();
        changed.set("x", 0);
        assert_ne!(changed, parsed);
        changed.set("x", Value::Null);
        assert_eq!(changed, parsed);
        changed.set_pk(8);
        assert_ne!(changed, parsed);
    }

    #[test]
    fn the_1_0_traits_are_kept() {
        fn shared<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
        shared::<FixtureObject>();
        shared::<crate::Output>();
        let mut out = crate::Output::default();
        out.note("a note");
        out.emit_all(std::iter::empty());
        let shown = format!("{out:?}");
        assert!(
            shown.contains("a note") && shown.contains("on demand"),
            "{shown}"
        );
    }

    #[test]
    fn values_serde_json_cannot_read_are_refused_when_parsed_naming_the_field() {
        let object =
            |field: &str| format!(r#"{{"model":"a.b","pk":1,"fields":{{"ok":1,"bad":{field}}}}}"#);
        let surrogate = "(an escaped UTF-16 surrogate without its other half is not a character)";
        let deep = "(values nested 128 levels deep are more than serde_json reads)";
        for (field, why) in [
            (r#""a\ud800""#.to_owned(), surrogate),
            (r#""\udc00""#.to_owned(), surrogate),
            (r#"["\ud800\u0041"]"#.to_owned(), surrogate),
            (format!("{}1{}", "[".repeat(128), "]".repeat(128)), deep),
            (
                format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)),
                deep,
            ),
        ] {
            let refused = FixtureObject::parse(&object(&field)).unwrap_err();
            let message = refused.message();
            assert!(
                message.starts_with("field `bad` cannot be read: ") && message.ends_with(why),
                "{message}"
            );
        }
        let refused =
            FixtureObject::parse(r#"{"model":"a.b","pk":"\udfff","fields":{}}"#).unwrap_err();
        assert!(
            refused.message().starts_with("`pk` cannot be read: "),
            "{refused}"
        );
    }

    #[test]
    fn what_serde_json_reads_stays_readable_and_untouched() {
        let deepest = format!("{}1{}", "[".repeat(127), "]".repeat(127));
        for field in [
            r#""\ud83c\udf0d \uD7FF \\ud800 [[[[""#.to_owned(),
            format!(
                "{}1{}",
                "[".repeat(DEPTH_TO_CHECK),
                "]".repeat(DEPTH_TO_CHECK)
            ),
            format!(r#"["]]]]]]]]]", {}]"#, &deepest[2..deepest.len() - 2]),
            deepest,
        ] {
            let text = format!(r#"{{"model":"a.b","pk":1,"fields":{{"f":{field}}}}}"#);
            let object = FixtureObject::parse(&text).unwrap();
            let expected: Value = serde_json::from_str(&field).unwrap();
            assert_eq!(object.field("f"), Some(&expected));
            assert_eq!(object.to_json(), text);
            assert_eq!(object.into_value()["fields"]["f"], expected);
        }
    }
}
