//! mangler-api 1.0.0, frozen: the interface a plugin of the previous minor
//! version was built against (no `ManglerInfo::emits`, no `geonode` helpers,
//! no host-side client or golden harness).

#![allow(non_local_definitions)]

pub mod abi;
mod context;
mod error;
#[doc(hidden)]
pub mod export;
mod info;
mod object;
mod plugin;

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
    pub use crate::{Context, FixtureObject, ManglerError, ManglerInfo, Output, Plugin, PluginInfo};
    pub use serde_json::{json, Value};
}
