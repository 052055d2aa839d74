//! GeoServer: its data directory (what of it a backup carries and how it is
//! put back), the host-specific values in its catalog (rewritten when the
//! target differs, in the data directory or in a Backup & Restore archive),
//! its REST API (core endpoints and the Backup & Restore module's jobs),
//! the running GeoServer a backup or restore talks to, its datastore's
//! tables in an archive ([`datastore`]), and GeoServer's side of a restore
//! ([`restore`]).
//!
//! Facts followed: `spec/geoserver.md`. No GeoServer runs on the machines
//! this is tested on: the REST client is tested against a test double of
//! the API (`tests/geoserver-double/`), the data directory code against a
//! real data directory (GeoServer's CITE data dir, copied there).
//!
//! Not here: dumping and restoring one table of the datastore
//! (`postgres::tables`).

pub mod br;
pub mod br_archive;
pub mod datadir;
pub mod datastore;
pub mod rest;
pub mod restore;
pub mod rewrite;
pub mod server;
mod xml;

use std::fmt;

/// A password: never printed, logged or serialised (its `Debug` shows
/// `***`, it has no `Display` and no `Serialize`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The password itself, for the one place that sends or writes it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces every occurrence of each non-empty secret in `text` by `***`:
/// for text that came back from a server and may echo what was sent.
pub(crate) fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if !secret.is_empty() {
            out = out.replace(secret.expose(), "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{scrub, Secret};

    #[test]
    fn secrets_never_show() {
        let secret = Secret::new("s3cret");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{:?}", Some(vec![secret.clone()])), "Some([***])");
        assert_eq!(
            scrub(
                "bad password s3cret for s3cret",
                &[&secret, &Secret::default()]
            ),
            "bad password *** for ***"
        );
    }
}
