//! Python's `json.dumps(value)` with its default arguments, as migration
//! `base.0100` writes an extra metadata value into a sparse field.
//!
//! Defaults: `ensure_ascii=True` (every character outside `' '..='~'` as
//! `\uXXXX` in lowercase hex, characters beyond the BMP as a surrogate
//! pair), separators `", "` and `": "`, keys in their order. Numbers keep
//! the text they had in the fixture: the 4.4 dump wrote them with Python's
//! own `json`, from the same values the migration reads.

use std::fmt::Write;

use mangler_api::serde_json::Value;

/// `json.dumps(value)`.
pub fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::dumps;
    use mangler_api::serde_json::{self, Value};

    fn parsed(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn matches_pythons_default_separators_and_escapes() {
        // Expected values printed by CPython 3.11's json.dumps.
        assert_eq!(dumps(&parsed("null")), "null");
        assert_eq!(dumps(&parsed("{}")), "{}");
        assert_eq!(dumps(&parsed("[]")), "[]");
        assert_eq!(
            dumps(&parsed(
                r#"{"b": [1, 2.5, -3e-07, true, null], "a": {"x": "y"}}"#
            )),
            r#"{"b": [1, 2.5, -3e-07, true, null], "a": {"x": "y"}}"#
        );
        assert_eq!(
            dumps(&Value::String("café \"q\" \\ / \n\t\u{1}\u{7f} 😀".into())),
            r#""caf\u00e9 \"q\" \\ / \n\t\u0001\u007f \ud83d\ude00""#
        );
        assert_eq!(
            dumps(&parsed(r#"{"ключ": "\u00e9"}"#)),
            r#"{"\u043a\u043b\u044e\u0447": "\u00e9"}"#
        );
    }
}
