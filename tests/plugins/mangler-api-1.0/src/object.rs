//! One object of a Django fixture, as a mangler sees it.

use serde_json::{Map, Value};

use crate::ManglerError;

/// A fixture object `{"model": ..., "pk": ..., "fields": {...}}`.
///
/// Reading never marks the object changed; every method that writes does.
/// The object a mangler received, emitted unchanged, reaches the output byte
/// for byte.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureObject {
    object: Map<String, Value>,
    changed: bool,
    /// The number of the host call this object arrived in, if it did.
    pub(crate) origin: Option<u64>,
}

impl FixtureObject {
    /// A new object of `model` with this pk and fields.
    pub fn new(model: &str, pk: impl Into<Value>, fields: Map<String, Value>) -> Self {
        let mut object = Map::new();
        object.insert("model".into(), Value::String(model.to_owned()));
        object.insert("pk".into(), pk.into());
        object.insert("fields".into(), Value::Object(fields));
        Self {
            object,
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
        let value: Value = serde_json::from_str(text)?;
        Self::from_value(value)
    }

    /// Wraps a parsed object.
    ///
    /// # Errors
    ///
    /// When the value is not an object with a string `model` and an object `fields`.
    pub fn from_value(value: Value) -> Result<Self, ManglerError> {
        let Value::Object(object) = value else {
            return Err(ManglerError::new("a fixture element must be a JSON object"));
        };
        if !matches!(object.get("model"), Some(Value::String(_))) {
            return Err(ManglerError::new("the object has no string `model`"));
        }
        if !matches!(object.get("fields"), Some(Value::Object(_))) {
            return Err(ManglerError::new("the object has no `fields` object"));
        }
        Ok(Self {
            object,
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
        self.object
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The pk as it is (a number, a string, or absent with natural keys).
    pub fn pk(&self) -> Option<&Value> {
        self.object.get("pk")
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
        self.object.insert("pk".into(), pk.into());
    }

    /// Adds `offset` to the pk (nothing to do for 0).
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

    /// The value of a field, if present.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields().get(name)
    }

    /// A field's value as text, when it is a string.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Value::as_str)
    }

    /// Whether the object has the field.
    pub fn has(&self, name: &str) -> bool {
        self.fields().contains_key(name)
    }

    /// Sets a field (added at the end when new, in place when present).
    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.fields_mut().insert(name.to_owned(), value.into());
    }

    /// Removes a field, keeping the order of the others.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.fields_mut().shift_remove(name)
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
    pub fn fields(&self) -> &Map<String, Value> {
        match self.object.get("fields") {
            Some(Value::Object(fields)) => fields,
            _ => unreachable!("checked when the object was built"),
        }
    }

    /// The fields, for writing (marks the object changed).
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        self.changed = true;
        match self.object.get_mut("fields") {
            Some(Value::Object(fields)) => fields,
            _ => unreachable!("checked when the object was built"),
        }
    }

    /// The object as a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.object)
    }

    /// The object as compact JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.object).expect("a JSON map always serialises")
    }
}

fn checked_shift(value: i64, offset: i64) -> Result<i64, ManglerError> {
    value
        .checked_add(offset)
        .ok_or_else(|| ManglerError::new(format!("{value} + {offset} overflows a 64-bit key")))
}

