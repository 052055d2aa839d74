//! The trait a plugin implements, and where its objects go.

use std::{
    fmt,
    sync::{Mutex, PoisonError},
};

use crate::{abi::Emitted, Context, FixtureObject, ManglerError, PluginInfo};

/// A mangler plugin: its description, and its state for one run.
///
/// The host creates one value per run with [`Plugin::open`] and keeps it for
/// every fixture of the run, in the order of settings.ini's `apps` list, so a
/// mangler may rely on what earlier fixtures held (resource titles, say).
pub trait Plugin: Send + Sized + 'static {
    /// Describes the plugin: name, versions, manglers.
    fn info() -> PluginInfo;

    /// Starts a run.
    ///
    /// # Errors
    ///
    /// When the context lacks something the plugin needs.
    fn open(context: &Context) -> Result<Self, ManglerError>;

    /// Mangles one object of a model that `mangler` declares it handles.
    ///
    /// Emit the object (changed or not) to keep it, emit nothing to drop it,
    /// emit more to add objects after it.
    ///
    /// # Errors
    ///
    /// When the object cannot be migrated; the run stops and names the object.
    fn mangle(
        &mut self,
        mangler: &str,
        object: FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError>;

    /// Called after the last object of a fixture that `mangler` was applied to.
    ///
    /// # Errors
    ///
    /// When the fixture as a whole cannot be migrated.
    fn end_fixture(&mut self, mangler: &str, out: &mut Output) -> Result<(), ManglerError> {
        let _ = (mangler, out);
        Ok(())
    }

    /// Called once at the end of the run, for final notes.
    fn finish(&mut self, out: &mut Output) {
        let _ = out;
    }
}

/// Objects made on demand, for what a fixture's end adds.
pub type LaterObjects = Box<dyn Iterator<Item = FixtureObject> + Send>;

/// Collects what a mangler emits: objects to write and notes for the report.
#[derive(Default)]
pub struct Output {
    /// The call whose input object may be written back as it was read.
    pub(crate) input: Option<u64>,
    pub(crate) objects: Vec<Emitted>,
    pub(crate) notes: Vec<String>,
    /// In a mutex, never locked (only taken whole), so that `Output` stays
    /// `Sync` and unwind-safe as in mangler-api 1.0.
    pub(crate) later: Option<Mutex<LaterObjects>>,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("input", &self.input)
            .field("objects", &self.objects)
            .field("notes", &self.notes)
            .field(
                "later",
                &self.later.as_ref().map(|_| "objects made on demand"),
            )
            .finish()
    }
}

impl Output {
    /// Writes an object; an object read from the input and never changed is
    /// written exactly as it was read.
    pub fn emit(&mut self, object: FixtureObject) {
        if !object.is_changed() && object.origin.is_some() && object.origin == self.input {
            self.objects.push(Emitted::Input);
        } else {
            self.objects.push(Emitted::Json(object.to_json().into()));
        }
    }

    /// At the end of a fixture: writes every object `objects` yields, after
    /// those emitted, made one chunk at a time as the host takes them, so a
    /// plugin adding one object per resource keeps only what it needs to
    /// make them (a host older than mangler-api 1.1 takes them all at once).
    pub fn emit_all(&mut self, objects: impl Iterator<Item = FixtureObject> + Send + 'static) {
        self.later = Some(Mutex::new(Box::new(objects)));
    }

    /// Adds a line to the run's report: something the admin should know.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Takes what `emit_all` was given, if anything.
    pub(crate) fn take_later(&mut self) -> Option<LaterObjects> {
        self.later
            .take()
            .map(|later| later.into_inner().unwrap_or_else(PoisonError::into_inner))
    }
}
