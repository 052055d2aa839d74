//! What [`export_plugin!`](crate::export_plugin) expands to: the adapter from a
//! safe [`Plugin`] to the ABI, with every panic caught at the boundary.

use std::{
    cell::{Cell, RefCell},
    panic::{self, AssertUnwindSafe},
    sync::Once,
};

use abi_stable::{
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RResult, RStr, RString},
};

use crate::{
    abi::{AbiSession, AbiSession_TO, Batch, PluginMod, PluginModRef, SessionBox},
    plugin::LaterObjects,
    Context, FixtureObject, Output, Plugin, PluginInfo,
};

/// abi_stable's mangled name of the root-module static, spelled out because
/// `#[export_name]` takes only a literal (checked by a unit test).
pub const ROOT_SYMBOL_LITERAL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// Exports a [`Plugin`] type as the plugin of this library.
///
/// Expands to the library header the host looks up, and to a function
/// `gnbr_plugin()` returning the root module, for in-process tests.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static GNBR_PLUGIN_HEADER: $crate::abi_stable::library::LibHeader = {
            extern "C" fn constructor() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(gnbr_plugin)
            }
            // SAFETY: `constructor` returns the root module of type `PluginModRef`.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<
                    $crate::abi::PluginModRef,
                >(
                    constructor, $crate::abi_stable::library::CheckTypeLayout::Yes
                )
            }
        };

        /// This library's plugin, without loading the library (for tests).
        pub fn gnbr_plugin() -> $crate::abi::PluginModRef {
            $crate::export::root_module::<$plugin>()
        }
    };
}

/// Builds the root module of plugin `P`.
pub fn root_module<P: Plugin>() -> PluginModRef {
    PluginMod {
        describe: describe::<P>,
        open_session: open_session::<P>,
    }
    .leak_into_prefix()
}

fn plugin_info<P: Plugin>() -> PluginInfo {
    let mut info = P::info();
    info.api = crate::API_VERSION.to_owned();
    info
}

extern "C" fn describe<P: Plugin>() -> RResult<RString, RString> {
    let who = "the plugin, describing itself,";
    match guarded(who, || {
        serde_json::to_string(&plugin_info::<P>()).map_err(|e| e.to_string())
    }) {
        Ok(json) => RResult::ROk(json.into()),
        Err(failure) => RResult::RErr(failure.into_message(who)),
    }
}

extern "C" fn open_session<P: Plugin>(context: RStr<'_>) -> RResult<SessionBox, RString> {
    let who = "the plugin, opening a session,";
    let opened = guarded(who, || {
        let info = plugin_info::<P>();
        let context: Context = serde_json::from_str(context.as_str())
            .map_err(|e| format!("plugin `{}`: unreadable run context: {e}", info.name))?;
        let plugin = P::open(&context).map_err(|e| format!("plugin `{}`: {e}", info.name))?;
        let chunked_ends = context
            .host_api
            .as_deref()
            .and_then(|v| semver::Version::parse(v).ok())
            .is_some_and(|v| v >= semver::Version::new(1, 1, 0));
        Ok(AbiSession_TO::from_value(
            SessionAdapter {
                plugin,
                info,
                calls: 0,
                poisoned: None,
                chunked_ends,
                ending: Ending::Idle,
            },
            TD_Opaque,
        ))
    });
    match opened {
        Ok(session) => RResult::ROk(session),
        Err(failure) => RResult::RErr(failure.into_message(who)),
    }
}

struct SessionAdapter<P> {
    plugin: P,
    info: PluginInfo,
    calls: u64,
    poisoned: Option<String>,
    /// Whether the host takes a fixture's end chunk by chunk (mangler-api
    /// 1.1 hosts, which say so in the context); older hosts call
    /// `end_fixture` once and get everything.
    chunked_ends: bool,
    ending: Ending,
}

/// Where a fixture's end stands, for the mangler named: the host calls
/// `end_fixture` until it gets an empty batch, and the plugin's own
/// `end_fixture` runs once.
enum Ending {
    Idle,
    Draining(String, LaterObjects),
    Drained(String),
}

/// Objects handed to the host per `end_fixture` call.
const END_CHUNK: usize = 1024;

impl<P: Plugin> SessionAdapter<P> {
    /// Runs one call of `mangler`, catching its panics and naming it in errors.
    fn call(
        &mut self,
        mangler: &str,
        input: Option<&str>,
        body: impl FnOnce(&mut P, Option<FixtureObject>, &mut Output) -> Result<(), String>,
    ) -> RResult<Batch, RString> {
        let who = format!("{}.{}", self.info.name, mangler);
        if let Some(panic) = &self.poisoned {
            return RResult::RErr(
                format!("{who}: not called, the session stopped after {panic}").into(),
            );
        }
        if !mangler.is_empty() && self.info.find_mangler(mangler).is_none() {
            let known: Vec<&str> = self.info.manglers.iter().map(|m| m.name.as_str()).collect();
            return RResult::RErr(
                format!(
                    "{who}: the plugin has no mangler `{mangler}` (it has: {})",
                    known.join(", ")
                )
                .into(),
            );
        }
        self.calls += 1;
        let call = self.calls;
        let plugin = &mut self.plugin;
        let result = guarded(&who, || {
            let object = match input {
                Some(text) => {
                    let mut object = FixtureObject::parse(text).map_err(|e| e.to_string())?;
                    object.origin = Some(call);
                    Some(object)
                }
                None => None,
            };
            let mut out = Output {
                input: input.map(|_| call),
                ..Output::default()
            };
            body(plugin, object, &mut out)?;
            Ok(Batch {
                objects: out.objects.into(),
                notes: out.notes.into_iter().map(RString::from).collect(),
            })
        });
        match result {
            Ok(batch) => RResult::ROk(batch),
            Err(Failure::Error(message)) => RResult::RErr(format!("{who}: {message}").into()),
            Err(panic @ Failure::Panic(_)) => {
                self.poisoned = Some(format!("a panic in `{who}`"));
                RResult::RErr(panic.into_message(&who))
            }
        }
    }
}

impl<P: Plugin> AbiSession for SessionAdapter<P> {
    fn mangle(&mut self, mangler: RStr<'_>, object: RStr<'_>) -> RResult<Batch, RString> {
        let name = mangler.as_str();
        self.call(name, Some(object.as_str()), |plugin, object, out| {
            let object = object.expect("mangle always has an input object");
            plugin.mangle(name, object, out).map_err(|e| e.to_string())
        })
    }

    fn end_fixture(&mut self, mangler: RStr<'_>) -> RResult<Batch, RString> {
        let name = mangler.as_str();
        // Leftovers of another mangler's end are never handed to this one.
        let mut later = match std::mem::replace(&mut self.ending, Ending::Idle) {
            Ending::Drained(of) if of == name => return RResult::ROk(Batch::default()),
            Ending::Draining(of, later) if of == name => Some(later),
            _ => None,
        };
        let first = later.is_none();
        let chunk_size = if self.chunked_ends {
            END_CHUNK
        } else {
            usize::MAX
        };
        let result = self.call(name, None, |plugin, _, out| {
            if first {
                plugin.end_fixture(name, out).map_err(|e| e.to_string())?;
                later = out.take_later();
            }
            if let Some(objects) = &mut later {
                let room = chunk_size.saturating_sub(out.objects.len());
                let chunk: Vec<FixtureObject> = objects.take(room).collect();
                if chunk.len() < room {
                    later = None;
                }
                for object in chunk {
                    out.emit(object);
                }
            }
            Ok(())
        });
        if let RResult::ROk(batch) = &result {
            self.ending = match later {
                Some(later) => Ending::Draining(name.to_owned(), later),
                None if !self.chunked_ends => Ending::Idle,
                None if batch.objects.is_empty() && batch.notes.is_empty() => Ending::Idle,
                None => Ending::Drained(name.to_owned()),
            };
        }
        result
    }

    fn finish(&mut self) -> RResult<Batch, RString> {
        self.call("", None, |plugin, _, out| {
            plugin.finish(out);
            Ok(())
        })
    }
}

/// Why a guarded call failed.
enum Failure {
    Error(String),
    Panic(String),
}

impl Failure {
    /// The message for the host, naming `who` failed.
    fn into_message(self, who: &str) -> RString {
        match self {
            Failure::Error(message) => message.into(),
            Failure::Panic(message) => format!("{who} panicked: {message}").into(),
        }
    }
}

thread_local! {
    static IN_GUARDED_CALL: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `body`, turning a panic into [`Failure::Panic`] with its message and
/// place. The panic hook stays silent for guarded calls, so a panicking
/// plugin prints nothing; other panics go to the hook that was there before.
fn guarded<T>(who: &str, body: impl FnOnce() -> Result<T, String>) -> Result<T, Failure> {
    install_panic_hook();
    let was_guarded = IN_GUARDED_CALL.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(body));
    IN_GUARDED_CALL.with(|g| g.set(was_guarded));
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(message)) => Err(Failure::Error(message)),
        Err(_) => {
            let message = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| format!("{who} panicked"));
            Err(Failure::Panic(message))
        }
    }
}

fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_GUARDED_CALL.with(Cell::get) {
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-text panic payload".to_owned());
                let place = info
                    .location()
                    .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{payload}{place}")));
            } else {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use abi_stable::std_types::RStr;

    use super::open_session;
    use crate::{Context, FixtureObject, ManglerError, ManglerInfo, Output, Plugin, PluginInfo};

    /// At the end of mangler `a`'s fixture: 3 objects, then 2500 made on demand.
    struct Ender;

    fn object(pk: i64) -> FixtureObject {
        FixtureObject::new("app.model", pk, serde_json::Map::new())
    }

    impl Plugin for Ender {
        fn info() -> PluginInfo {
            PluginInfo {
                name: "ender".to_owned(),
                version: "1.0.0".to_owned(),
                from: "*".to_owned(),
                to: "1.0.0".to_owned(),
                summary: String::new(),
                api: String::new(),
                manglers: ["a", "b"]
                    .map(|name| ManglerInfo {
                        name: name.to_owned(),
                        models: vec!["app.model".to_owned()],
                        summary: String::new(),
                        emits: Vec::new(),
                        survey: false,
                    })
                    .into(),
            }
        }

        fn open(_: &Context) -> Result<Self, ManglerError> {
            Ok(Ender)
        }

        fn mangle(
            &mut self,
            _: &str,
            object: FixtureObject,
            out: &mut Output,
        ) -> Result<(), ManglerError> {
            out.emit(object);
            Ok(())
        }

        fn end_fixture(&mut self, mangler: &str, out: &mut Output) -> Result<(), ManglerError> {
            if mangler == "a" {
                (0..3).for_each(|pk| out.emit(object(pk)));
                out.emit_all((3..2503).map(object));
            }
            Ok(())
        }
    }

    /// The objects of each `end_fixture` call for `a` until an empty one
    /// (at most `calls`), then of one call for `b`.
    fn ends(host_api: Option<&str>, calls: usize) -> (Vec<usize>, usize) {
        let context = Context {
            host_api: host_api.map(str::to_owned),
            ..Context::default()
        };
        let context = serde_json::to_string(&context).unwrap();
        let mut session = open_session::<Ender>(RStr::from(context.as_str())).unwrap();
        let mut sizes = Vec::new();
        for _ in 0..calls {
            let n = session.end_fixture(RStr::from("a")).unwrap().objects.len();
            sizes.push(n);
            if n == 0 {
                break;
            }
        }
        let b = session.end_fixture(RStr::from("b")).unwrap().objects.len();
        (sizes, b)
    }

    #[test]
    fn a_fixture_end_comes_in_chunks_to_a_1_1_host_and_whole_to_older_ones() {
        assert_eq!(ends(Some("1.1.0"), 10), (vec![1024, 1024, 455, 0], 0));
        // A 1.0 host calls once per mangler: nothing is lost, nothing is
        // left over for the next mangler's fixture.
        assert_eq!(ends(None, 1), (vec![2503], 0));
    }

    #[test]
    fn an_object_serde_json_cannot_read_is_an_error_naming_the_field_not_a_panic() {
        let mut session = open_session::<Ender>(RStr::from("{}")).unwrap();
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        for (field, name) in [(r#""\ud800""#, "x"), (deep.as_str(), "y")] {
            let text = format!(r#"{{"model":"app.model","pk":1,"fields":{{"{name}":{field}}}}}"#);
            let error = session
                .mangle(RStr::from("a"), RStr::from(text.as_str()))
                .unwrap_err();
            assert!(
                error.starts_with(&format!("ender.a: field `{name}` cannot be read: ")),
                "{error}"
            );
        }
        let fine = r#"{"model":"app.model","pk":1,"fields":{"x":"\ud83c\udf0d"}}"#;
        let batch = session.mangle(RStr::from("a"), RStr::from(fine)).unwrap();
        assert_eq!(batch.objects.len(), 1, "the session goes on");
    }
}
