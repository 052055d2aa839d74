//! The SDK for gnbr mangler plugins.
//!
//! A mangler plugin migrates GeoNode fixtures (Django's JSON serialisation)
//! from one GeoNode version to another. It is a `cdylib` that depends on this
//! crate only: it describes itself ([`PluginInfo`]), opens a [`Plugin`]
//! session per run from a [`Context`], and mangles one [`FixtureObject`] at a
//! time, emitting zero or more objects through an [`Output`].
//! [`export_plugin!`] turns such a type into a library the `gnbr` host loads.
//!
//! ```
//! use mangler_api::prelude::*;
//!
//! struct Rename;
//!
//! impl Plugin for Rename {
//!     fn info() -> PluginInfo {
//!         PluginInfo::new("rename", env!("CARGO_PKG_VERSION"), "~2.4", "2.4.0")
//!             .summary("Renames every map.")
//!             .mangler("MapMangler", &["maps.map"], "Sets the title to `renamed`.")
//!     }
//!     fn open(_context: &Context) -> Result<Self, ManglerError> {
//!         Ok(Rename)
//!     }
//!     fn mangle(&mut self, _mangler: &str, mut object: FixtureObject, out: &mut Output)
//!         -> Result<(), ManglerError>
//!     {
//!         object.set("title", "renamed");
//!         out.emit(object);
//!         Ok(())
//!     }
//! }
//!
//! mangler_api::export_plugin!(Rename);
//! ```
//!
//! The ABI underneath ([`abi`]) is `abi_stable`; plugin code never names it.
//! Every panic inside a plugin is caught at the boundary and reported as an
//! error naming the plugin and the mangler: a plugin cannot take the host down.
//!
//! Host-side code ([`client`]) and the golden-case harness ([`testing`]) live
//! here too, so that `cargo test` in a plugin crate and `gnbr plugins test`
//! run a plugin through the very same calls.

// `#[sabi_trait]` and `#[derive(StableAbi)]` expand to impls that rustc's
// `non_local_definitions` lint flags; the expansion is abi_stable's, not ours.
#![allow(non_local_definitions)]

pub mod abi;
pub mod client;
mod context;
mod error;
#[doc(hidden)]
pub mod export;
pub mod geonode;
mod info;
mod object;
mod plugin;
/// The fixture scanner the host splits fixtures with and
/// [`FixtureObject::parse`] reads objects with: shared with the host, not
/// part of the plugin API (hidden, outside the SDK's semver promise).
#[doc(hidden)]
pub mod scan;
pub mod testing;

pub use context::Context;
pub use error::ManglerError;
pub use info::{ManglerInfo, PluginInfo};
pub use object::FixtureObject;
pub use plugin::{Output, Plugin};

#[doc(hidden)]
pub use abi_stable;
pub use serde_json;

/// The version of this interface crate, which is the plugin ABI version.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything a plugin usually needs, in one import.
pub mod prelude {
    pub use crate::{
        Context, FixtureObject, ManglerError, ManglerInfo, Output, Plugin, PluginInfo,
    };
    pub use serde_json::{json, Value};
}
