//! The host side of the boundary: calling a plugin safely, and running a
//! chain of manglers over fixture objects.
//!
//! The `gnbr` host and the golden-case harness both use this module, so a
//! plugin behaves the same under `cargo test` and under `gnbr`.

use std::io;

use abi_stable::std_types::{RResult, RString};
use semver::{Version, VersionReq};
use serde::Deserialize;

use crate::{
    abi::{Batch, Emitted, PluginModRef, SessionBox},
    Context, ManglerInfo, PluginInfo,
};

/// A plugin's root module with its checked description.
#[derive(Clone)]
pub struct PluginHandle {
    module: PluginModRef,
    info: PluginInfo,
}

impl PluginHandle {
    /// Asks the module to describe itself and checks what it says.
    ///
    /// # Errors
    ///
    /// When `describe` fails or panics, or the description is invalid (a
    /// version that is not semver, a mangler without models, a name twice).
    pub fn new(module: PluginModRef) -> Result<Self, String> {
        let json = into_result((module.describe())())?;
        let info: PluginInfo = serde_json::from_str(&json)
            .map_err(|e| format!("the plugin's description is not valid: {e}"))?;
        check_info(&info)?;
        Ok(Self { module, info })
    }

    /// What the plugin declares.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Opens a session for one run.
    ///
    /// # Errors
    ///
    /// When the plugin refuses the context or panics.
    pub fn open(&self, context: &Context) -> Result<Session, String> {
        let context = Context {
            host_api: Some(crate::API_VERSION.to_owned()),
            ..context.clone()
        };
        let context = serde_json::to_string(&context).map_err(|e| e.to_string())?;
        let inner = into_result((self.module.open_session())(context.as_str().into()))?;
        let chunked_ends =
            Version::parse(&self.info.api).is_ok_and(|api| api >= Version::new(1, 1, 0));
        Ok(Session {
            inner,
            chunked_ends,
        })
    }
}

fn check_info(info: &PluginInfo) -> Result<(), String> {
    let name = &info.name;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "plugin name `{name}` must be letters, digits and `_` (it is used in settings.ini)"
        ));
    }
    Version::parse(&info.version).map_err(|e| {
        format!(
            "plugin `{name}`: version `{}` is not semver: {e}",
            info.version
        )
    })?;
    VersionReq::parse(&info.from).map_err(|e| {
        format!(
            "plugin `{name}`: `from` `{}` is not a semver requirement: {e}",
            info.from
        )
    })?;
    Version::parse(&info.to)
        .map_err(|e| format!("plugin `{name}`: `to` `{}` is not semver: {e}", info.to))?;
    for (i, mangler) in info.manglers.iter().enumerate() {
        if mangler.models.is_empty() {
            return Err(format!(
                "plugin `{name}`: mangler `{}` handles no model",
                mangler.name
            ));
        }
        if info.manglers[..i].iter().any(|m| m.name == mangler.name) {
            return Err(format!(
                "plugin `{name}`: mangler `{}` is declared twice",
                mangler.name
            ));
        }
    }
    Ok(())
}

fn into_result<T>(result: RResult<T, RString>) -> Result<T, String> {
    result.into_result().map_err(String::from)
}

/// One plugin's state for one run.
pub struct Session {
    inner: SessionBox,
    /// Whether the plugin hands a fixture's end over in chunks (mangler-api >= 1.1).
    chunked_ends: bool,
}

impl Session {
    /// Mangles one object (JSON text) with the named mangler.
    ///
    /// # Errors
    ///
    /// The plugin's error or panic, naming plugin and mangler.
    pub fn mangle(&mut self, mangler: &str, object: &str) -> Result<Batch, String> {
        into_result(self.inner.mangle(mangler.into(), object.into()))
    }

    /// Tells the mangler its fixture ended; returns what it adds.
    ///
    /// # Errors
    ///
    /// The plugin's error or panic, naming plugin and mangler.
    pub fn end_fixture(&mut self, mangler: &str) -> Result<Batch, String> {
        into_result(self.inner.end_fixture(mangler.into()))
    }

    /// Ends the run; returns the plugin's final notes.
    ///
    /// # Errors
    ///
    /// The plugin's panic.
    pub fn finish(&mut self) -> Result<Vec<String>, String> {
        let batch = into_result(self.inner.finish())?;
        Ok(batch.notes.into_iter().map(String::from).collect())
    }
}

/// One step of a fixture's mangler chain.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Index of the plugin's session in the run's session list.
    pub session: usize,
    /// `plugin.Mangler`, for messages.
    pub label: String,
    /// The mangler, as its plugin declared it.
    pub mangler: ManglerInfo,
}

/// Why a chain stopped.
#[derive(Debug)]
pub enum ChainError {
    /// A plugin failed; the message names plugin and mangler.
    Plugin(String),
    /// Writing the output failed.
    Output(io::Error),
}

/// What one input object became.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Objects written for it.
    pub written: usize,
    /// Whether some mangler changed, dropped or added to it.
    pub changed: bool,
}

/// The manglers a fixture goes through, in order.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    stages: Vec<Stage>,
}

impl Chain {
    /// A chain of these stages.
    pub fn new(stages: Vec<Stage>) -> Self {
        Self { stages }
    }

    /// The stages.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// Whether some stage takes objects of `model`; when none does, the
    /// object can be copied without parsing.
    pub fn handles(&self, model: &str) -> bool {
        self.stages.iter().any(|s| s.mangler.handles(model))
    }

    /// Sends one object through every stage and writes what comes out.
    ///
    /// # Errors
    ///
    /// A plugin's failure, or the writer's.
    pub fn mangle(
        &self,
        sessions: &mut [Session],
        model: &str,
        object: &str,
        notes: &mut Vec<String>,
        write: &mut dyn FnMut(&str) -> io::Result<()>,
    ) -> Result<Outcome, ChainError> {
        self.run_from(0, sessions, model, object, notes, write)
    }

    /// Ends the fixture for every stage, in order; what a stage adds goes
    /// through the stages after it. Returns the number of objects written.
    ///
    /// # Errors
    ///
    /// A plugin's failure, or the writer's.
    pub fn end_fixture(
        &self,
        sessions: &mut [Session],
        notes: &mut Vec<String>,
        write: &mut dyn FnMut(&str) -> io::Result<()>,
    ) -> Result<usize, ChainError> {
        let mut written = 0;
        for (i, stage) in self.stages.iter().enumerate() {
            loop {
                let session = &mut sessions[stage.session];
                let chunked = session.chunked_ends;
                let batch = session
                    .end_fixture(&stage.mangler.name)
                    .map_err(ChainError::Plugin)?;
                let last = !chunked || (batch.objects.is_empty() && batch.notes.is_empty());
                notes.extend(
                    batch
                        .notes
                        .into_iter()
                        .map(|n| format!("{}: {n}", stage.label)),
                );
                for emitted in batch.objects {
                    let Emitted::Json(text) = emitted else {
                        return Err(ChainError::Plugin(format!(
                            "{}: emitted `the input object` at the end of a fixture, where there is none",
                            stage.label
                        )));
                    };
                    written += self
                        .pass_on(i + 1, &stage.label, sessions, &text, notes, write)?
                        .written;
                }
                if last {
                    break;
                }
            }
        }
        Ok(written)
    }

    fn run_from(
        &self,
        first: usize,
        sessions: &mut [Session],
        model: &str,
        object: &str,
        notes: &mut Vec<String>,
        write: &mut dyn FnMut(&str) -> io::Result<()>,
    ) -> Result<Outcome, ChainError> {
        let Some((offset, stage)) = self.stages[first.min(self.stages.len())..]
            .iter()
            .enumerate()
            .find(|(_, s)| s.mangler.handles(model))
        else {
            write(object).map_err(ChainError::Output)?;
            return Ok(Outcome {
                written: 1,
                changed: false,
            });
        };
        let next = first + offset + 1;
        let batch = sessions[stage.session]
            .mangle(&stage.mangler.name, object)
            .map_err(ChainError::Plugin)?;
        notes.extend(
            batch
                .notes
                .into_iter()
                .map(|n| format!("{}: {n}", stage.label)),
        );
        let mut outcome = Outcome {
            written: 0,
            changed: batch.objects.as_slice() != [Emitted::Input],
        };
        for emitted in batch.objects {
            let inner = match emitted {
                Emitted::Input => self.run_from(next, sessions, model, object, notes, write)?,
                Emitted::Json(text) => {
                    self.pass_on(next, &stage.label, sessions, &text, notes, write)?
                }
            };
            outcome.written += inner.written;
            outcome.changed |= inner.changed;
        }
        Ok(outcome)
    }

    /// Sends an object the stage `label` emitted through the stages from
    /// `next` on.
    fn pass_on(
        &self,
        next: usize,
        label: &str,
        sessions: &mut [Session],
        text: &str,
        notes: &mut Vec<String>,
        write: &mut dyn FnMut(&str) -> io::Result<()>,
    ) -> Result<Outcome, ChainError> {
        // The last stage's output needs no model: nothing reads it but the writer.
        if next >= self.stages.len() {
            write(text).map_err(ChainError::Output)?;
            return Ok(Outcome {
                written: 1,
                changed: false,
            });
        }
        let model = model_of(text, label)?;
        self.run_from(next, sessions, &model, text, notes, write)
    }
}

/// Reads the `model` of an object a mangler emitted.
fn model_of(text: &str, label: &str) -> Result<String, ChainError> {
    #[derive(Deserialize)]
    struct Head {
        model: String,
    }
    serde_json::from_str::<Head>(text)
        .map(|h| h.model)
        .map_err(|e| {
            ChainError::Plugin(format!(
                "{label}: emitted an object that is not a fixture object: {e}"
            ))
        })
}
