//! The error a plugin returns.

use std::fmt;

/// An error from a plugin: a message for the admin, ideally with the fix.
///
/// The host adds the plugin, mangler, fixture, object index and pk, so the
/// message only needs to say what is wrong with the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManglerError {
    message: String,
}

impl ManglerError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ManglerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ManglerError {}

impl From<serde_json::Error> for ManglerError {
    fn from(err: serde_json::Error) -> Self {
        Self::new(format!("invalid JSON: {err}"))
    }
}
