//! The one error type the commands return, with its exit code and hint.

use std::fmt;

use crate::exit_codes;

/// What kind of failure, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The command line or settings.ini is wrong.
    Usage,
    /// A plugin cannot be loaded, is unknown, or no plugin chain fits.
    Plugin,
    /// The backup is damaged or malformed.
    Input,
    /// The target cannot be reached or is not ready.
    Target,
    /// The run failed part way (a plugin call, a write); nothing was left half-done.
    Run,
    /// The admin declined, or a safety check refused the run.
    Refused,
}

/// An error for the admin: what happened, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Its kind.
    pub kind: ErrorKind,
    /// What happened, naming the file and object.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Error {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds the fix.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::Usage => exit_codes::USAGE,
            ErrorKind::Plugin => exit_codes::PLUGIN,
            ErrorKind::Input => exit_codes::INPUT,
            ErrorKind::Target => exit_codes::TARGET,
            ErrorKind::Run => exit_codes::RUN_FAILED,
            ErrorKind::Refused => exit_codes::REFUSED,
        }
    }

    /// The error as JSON, for `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "kind": self.kind,
                "message": self.message,
                "hint": self.hint,
                "exit_code": self.exit_code(),
            }
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
