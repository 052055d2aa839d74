//! The manglers of one run: settings.ini's `migrations` resolved against the
//! registry, one session per plugin, and the chain for each fixture.

use mangler_api::{
    client::{Chain, Session, Stage},
    Context,
};

use super::{LoadedPlugin, Registry};
use crate::{
    config::FixtureSettings,
    errors::{Error, ErrorKind},
};

/// The plugins a run uses, their sessions, and each fixture's chain.
pub struct ManglerRun {
    plugins: Vec<LoadedPlugin>,
    sessions: Vec<Session>,
    stages: Vec<(usize, Stage)>,
}

impl ManglerRun {
    /// Resolves every `migrations` entry and opens one session per plugin.
    ///
    /// # Errors
    ///
    /// Before any session opens: a plugin that is missing or broken, or a
    /// mangler the plugin does not have (naming the settings entry). Then:
    /// a plugin refusing the context.
    pub fn prepare(
        fixtures: &FixtureSettings,
        registry: &Registry,
        context: &Context,
    ) -> Result<Self, Error> {
        let mut plugins: Vec<LoadedPlugin> = Vec::new();
        let mut stages = Vec::new();
        for entry in &fixtures.migrations {
            let plugin = registry.get(&entry.plugin).map_err(|e| Error {
                message: format!(
                    "{} entry {} `{}.{}`: {}",
                    entry.location, entry.position, entry.plugin, entry.mangler, e.message
                ),
                ..e
            })?;
            let info = plugin.handle.info();
            let Some(mangler) = info.find_mangler(&entry.mangler) else {
                let known: Vec<&str> = info.manglers.iter().map(|m| m.name.as_str()).collect();
                return Err(Error::new(
                    ErrorKind::Plugin,
                    format!(
                        "{} entry {}: plugin `{}` ({}) has no mangler `{}`",
                        entry.location,
                        entry.position,
                        entry.plugin,
                        plugin.path.display(),
                        entry.mangler
                    ),
                )
                .hint(format!("its manglers are: {}", known.join(", "))));
            };
            let session = match plugins
                .iter()
                .position(|p| p.handle.info().name == info.name)
            {
                Some(i) => i,
                None => {
                    plugins.push(plugin.clone());
                    plugins.len() - 1
                }
            };
            for &fixture in &entry.applies_to {
                stages.push((
                    fixture,
                    Stage {
                        session,
                        label: format!("{}.{}", info.name, mangler.name),
                        mangler: mangler.clone(),
                    },
                ));
            }
        }
        Self::open(plugins, stages, context)
    }

    /// The manglers of a planned chain of plugins, plugin after plugin: a
    /// mangler runs on the fixtures of its models' apps (`base.resourcebase`
    /// runs on the `base` fixture, or on a `base.resourcebase` one); a
    /// mangler of every model, `*`, runs only when settings.ini names it;
    /// a survey, only for the chain's first plugin.
    ///
    /// # Errors
    ///
    /// A plugin refusing the context.
    pub fn planned(
        fixtures: &FixtureSettings,
        chain: &[&LoadedPlugin],
        context: &Context,
    ) -> Result<Self, Error> {
        let mut stages = Vec::new();
        for (session, plugin) in chain.iter().enumerate() {
            let info = plugin.handle.info();
            // A survey sees the backup as the archive holds it: only the
            // first plugin of a chain reads that.
            for mangler in info
                .manglers
                .iter()
                .filter(|m| !m.models.iter().any(|model| model == "*"))
                .filter(|m| session == 0 || !m.survey)
            {
                for fixture in fixtures
                    .fixtures
                    .iter()
                    .filter(|f| mangler.models.iter().any(|m| fixture_holds(&f.app, m)))
                {
                    stages.push((
                        fixture.position,
                        Stage {
                            session,
                            label: format!("{}.{}", info.name, mangler.name),
                            mangler: mangler.clone(),
                        },
                    ));
                }
            }
        }
        Self::open(
            chain.iter().map(|p| (*p).clone()).collect(),
            stages,
            context,
        )
    }

    fn open(
        plugins: Vec<LoadedPlugin>,
        stages: Vec<(usize, Stage)>,
        context: &Context,
    ) -> Result<Self, Error> {
        let sessions = plugins
            .iter()
            .map(|p| {
                p.handle.open(context).map_err(|m| {
                    Error::new(
                        ErrorKind::Plugin,
                        format!("{} refused to start: {m}", p.path.display()),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            plugins,
            sessions,
            stages,
        })
    }

    /// The plugins used, in the order settings.ini first names them.
    pub fn plugins(&self) -> &[LoadedPlugin] {
        &self.plugins
    }

    /// The chain for the fixture at `position` in `apps` (empty: copied
    /// untouched); surveys are not part of it.
    pub fn chain_for(&self, position: usize) -> Chain {
        self.stages_for(position, false)
    }

    /// The surveys of the fixture at `position` ([`ManglerInfo::survey`]):
    /// what the run shows them before it starts.
    ///
    /// [`ManglerInfo::survey`]: mangler_api::ManglerInfo::survey
    pub fn survey_for(&self, position: usize) -> Chain {
        self.stages_for(position, true)
    }

    fn stages_for(&self, position: usize, survey: bool) -> Chain {
        Chain::new(
            self.stages
                .iter()
                .filter(|(fixture, stage)| *fixture == position && stage.mangler.survey == survey)
                .map(|(_, stage)| stage.clone())
                .collect(),
        )
    }

    /// The sessions, for the chains.
    pub fn sessions_mut(&mut self) -> &mut [Session] {
        &mut self.sessions
    }

    /// Ends every session and returns the plugins' final notes.
    ///
    /// # Errors
    ///
    /// When a plugin fails at the end.
    pub fn finish(mut self) -> Result<Vec<String>, Error> {
        let mut notes = Vec::new();
        for (session, plugin) in self.sessions.iter_mut().zip(&self.plugins) {
            let name = &plugin.handle.info().name;
            notes.extend(
                session
                    .finish()
                    .map_err(|m| Error::new(ErrorKind::Run, m))?
                    .into_iter()
                    .map(|n| format!("{name}: {n}")),
            );
        }
        Ok(notes)
    }
}

/// Whether the fixture of `apps` entry `app` holds objects of `model`.
fn fixture_holds(app: &str, model: &str) -> bool {
    app == model || model.split_once('.').is_some_and(|(label, _)| label == app)
}
