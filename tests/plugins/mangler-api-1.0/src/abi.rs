//! The binary interface between the host and a plugin.
//!
//! Frozen since mangler-api 1.0: this module never grows. New capabilities
//! travel as data (fields of the JSON descriptor and context), so a plugin
//! built against any 1.x release loads in every later 1.x host. The host
//! checks the interface version and the layout of these types at load time.

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, RResult, RStr, RString, RVec},
    StableAbi,
};

/// The root module a plugin exports: two functions, never more.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// Returns the plugin's [`crate::PluginInfo`] as JSON.
    pub describe: extern "C" fn() -> RResult<RString, RString>,
    /// Opens a session for one run, given the run's [`crate::Context`] as JSON.
    #[sabi(last_prefix_field)]
    pub open_session: extern "C" fn(context: RStr<'_>) -> RResult<SessionBox, RString>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "gnbr_mangler";
    const NAME: &'static str = "gnbr_mangler";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// One object a mangler emitted.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub enum Emitted {
    /// The input object, unchanged: the host writes the bytes it read.
    Input,
    /// A new or changed object, as JSON text.
    Json(RString),
}

/// What one call into a session produced.
#[repr(C)]
#[derive(StableAbi, Debug, Default)]
pub struct Batch {
    /// The objects to write, in order.
    pub objects: RVec<Emitted>,
    /// Lines for the run's report (things an admin should know).
    pub notes: RVec<RString>,
}

/// A plugin's state for one run, across all its fixtures.
#[sabi_trait]
pub trait AbiSession: Send {
    /// Mangles one object (JSON text) with the named mangler.
    fn mangle(&mut self, mangler: RStr<'_>, object: RStr<'_>) -> RResult<Batch, RString>;

    /// Called once after the last object of a fixture the mangler handled.
    fn end_fixture(&mut self, mangler: RStr<'_>) -> RResult<Batch, RString>;

    /// Called once at the end of the run; only notes are expected.
    #[sabi(last_prefix_field)]
    fn finish(&mut self) -> RResult<Batch, RString>;
}

/// A boxed session as it crosses the boundary.
pub type SessionBox = AbiSession_TO<'static, RBox<()>>;

/// The symbol under which a plugin exports its root module (abi_stable's).
pub const ROOT_SYMBOL: &str = abi_stable::library::ROOT_MODULE_LOADER_NAME;

