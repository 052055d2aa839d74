//! Temporary folders gnbr works in (in the system's temporary folder),
//! removed when dropped.

use tempfile::TempDir;

use crate::errors::{Error, ErrorKind};

/// A new temporary folder whose name starts with `prefix`.
///
/// # Errors
///
/// When the system's temporary folder cannot be written.
pub fn temp_dir(prefix: &str) -> Result<TempDir, Error> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| {
            Error::new(
                ErrorKind::Run,
                format!(
                    "cannot create a temporary folder in {}: {e}",
                    std::env::temp_dir().display()
                ),
            )
            .hint("free space there, or point TMPDIR at a writable folder")
        })
}
