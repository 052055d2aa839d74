//! The one error type the commands return, with its exit code, its causes
//! and its hint.

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
    /// The run was cancelled (the admin page's Cancel, or `gnbr serve`
    /// stopping); what it had begun was undone.
    Cancelled,
}

/// An error for the admin: what happened, what it happened because of (its
/// cause, which may have its own), and what to do about it.
///
/// Shown as its message, one `caused by:` line per cause, then the hint:
///
/// ```text
/// the restore committed, but its swap's journal cannot be removed
///   caused by: cannot remove /srv/media/.gnbr-journal: Permission denied
///   hint: ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Its kind.
    pub kind: ErrorKind,
    /// What happened, naming the file and object.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// What it happened because of, when that is an error of its own.
    pub cause: Option<Box<Error>>,
}

impl Error {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
            cause: None,
        }
    }

    /// Adds the fix.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// This error, said as what was being done when it happened: a new
    /// error of the same kind with `message`, caused by this one.
    pub fn context(self, message: impl Into<String>) -> Self {
        Self {
            kind: self.kind,
            message: message.into(),
            hint: None,
            cause: Some(Box::new(self)),
        }
    }

    /// Adds `cause` at the end of this error's chain: what the last of its
    /// causes happened because of.
    pub fn caused_by(mut self, cause: Error) -> Self {
        let mut last = &mut self.cause;
        while let Some(next) = last {
            last = &mut next.cause;
        }
        *last = Some(Box::new(cause));
        self
    }

    /// Its causes, the nearest first.
    pub fn causes(&self) -> impl Iterator<Item = &Error> {
        std::iter::successors(self.cause.as_deref(), |e| e.cause.as_deref())
    }

    /// The fix shown: its own hint, else the nearest cause's.
    pub fn shown_hint(&self) -> Option<&str> {
        std::iter::once(self)
            .chain(self.causes())
            .find_map(|e| e.hint.as_deref())
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
            ErrorKind::Cancelled => exit_codes::CANCELLED,
        }
    }

    /// The error as JSON, for `--json`: its causes' messages, the nearest
    /// first, under `causes`.
    pub fn to_json(&self) -> serde_json::Value {
        let causes: Vec<&str> = self.causes().map(|e| e.message.as_str()).collect();
        serde_json::json!({
            "error": {
                "kind": self.kind,
                "message": self.message,
                "causes": causes,
                "hint": self.shown_hint(),
                "exit_code": self.exit_code(),
            }
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for cause in self.causes() {
            write!(f, "\n  caused by: {}", cause.message)?;
        }
        if let Some(hint) = self.shown_hint() {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::{Error, ErrorKind};

    #[test]
    fn causes_are_shown_nearest_first_and_the_hint_last() {
        let error = Error::new(ErrorKind::Target, "cannot remove /m/.journal: denied")
            .hint("make /m writable")
            .context("the restore committed, but its journal stays")
            .caused_by(Error::new(ErrorKind::Run, "the disk is full"));
        assert_eq!(error.kind, ErrorKind::Target);
        assert_eq!(
            error.to_string(),
            "the restore committed, but its journal stays\n  caused by: cannot remove /m/.journal: denied\n  caused by: the disk is full\n  hint: make /m writable"
        );
        assert_eq!(
            error.to_json()["error"]["causes"],
            serde_json::json!(["cannot remove /m/.journal: denied", "the disk is full"])
        );
        assert_eq!(error.to_json()["error"]["hint"], "make /m writable");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(source.is_some_and(|s| s.starts_with("cannot remove")));
    }

    #[test]
    fn an_error_without_causes_is_its_message_and_hint() {
        let error = Error::new(ErrorKind::Usage, "no settings.ini").hint("pass -c");
        assert_eq!(error.to_string(), "no settings.ini\n  hint: pass -c");
        assert_eq!(error.exit_code(), crate::exit_codes::USAGE);
    }
}
