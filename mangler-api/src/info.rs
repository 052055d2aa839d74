//! What a plugin declares about itself.

use serde::{Deserialize, Serialize};

/// A plugin's self-description, read by the host before any run.
///
/// `from` is a semver requirement on the GeoNode version a backup was made
/// with (`"~2.0"`, `">=4.4, <5.0"`); `to` is the GeoNode version the plugin's
/// output fits (`"2.4.0"`).
///
/// Build it with [`PluginInfo::new`] and its builder methods. Minor
/// versions may add fields, so a struct literal must end with
/// `..Default::default()` to keep compiling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The plugin's name, as settings.ini names it (`gn20_to_24`).
    pub name: String,
    /// The plugin's own version (semver).
    pub version: String,
    /// The GeoNode versions it migrates from (a semver requirement).
    pub from: String,
    /// The GeoNode version it migrates to.
    pub to: String,
    /// One line on what the plugin is for.
    #[serde(default)]
    pub summary: String,
    /// The mangler-api version the plugin was built against.
    #[serde(default)]
    pub api: String,
    /// Its manglers.
    pub manglers: Vec<ManglerInfo>,
}

/// One mangler of a plugin.
///
/// Build it with [`PluginInfo::mangler`] (or [`ManglerInfo::new`]) and the
/// builder methods after it. Minor versions add fields (`emits` in 1.1,
/// `survey` in 1.2), so a struct literal must end with
/// `..Default::default()` to keep compiling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManglerInfo {
    /// The mangler's name (`ResourceBaseMangler`).
    pub name: String,
    /// The models whose objects it receives (`base.resourcebase`); `*` is every model.
    pub models: Vec<String>,
    /// One line on what it does.
    #[serde(default)]
    pub summary: String,
    /// Models of the objects it may add (since mangler-api 1.1; empty when unknown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emits: Vec<String>,
    /// A survey (since mangler-api 1.2): before the run, the host sends it
    /// every object of its models from the backup as the archive holds it,
    /// and discards what it returns, so that the plugin knows facts of
    /// fixtures that come later in `apps` order; in the run itself it gets
    /// nothing. Meant for the first plugin of a chain (the one that reads
    /// the backup as written). Hosts older than 1.2 never survey, and run
    /// it as an ordinary mangler.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub survey: bool,
}

impl PluginInfo {
    /// A plugin description with no manglers yet.
    pub fn new(name: &str, version: &str, from: &str, to: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            summary: String::new(),
            api: crate::API_VERSION.to_owned(),
            manglers: Vec::new(),
        }
    }

    /// Sets the one-line summary.
    pub fn summary(mut self, summary: &str) -> Self {
        self.summary = summary.to_owned();
        self
    }

    /// Adds a mangler handling `models`.
    pub fn mangler(mut self, name: &str, models: &[&str], summary: &str) -> Self {
        self.manglers.push(ManglerInfo::new(name, models, summary));
        self
    }

    /// Makes the last added mangler a survey ([`ManglerInfo::survey`]).
    ///
    /// # Panics
    ///
    /// When no mangler was added yet (a programming error in the plugin).
    pub fn surveying(mut self) -> Self {
        self.manglers
            .last_mut()
            .expect("PluginInfo::surveying called before PluginInfo::mangler")
            .survey = true;
        self
    }

    /// Declares that the last added mangler may add objects of `models`.
    ///
    /// # Panics
    ///
    /// When no mangler was added yet (a programming error in the plugin).
    pub fn emitting(mut self, models: &[&str]) -> Self {
        let last = self
            .manglers
            .last_mut()
            .expect("PluginInfo::emitting called before PluginInfo::mangler");
        last.emits = models.iter().map(|m| (*m).to_owned()).collect();
        self
    }

    /// The mangler with this name.
    pub fn find_mangler(&self, name: &str) -> Option<&ManglerInfo> {
        self.manglers.iter().find(|m| m.name == name)
    }
}

impl ManglerInfo {
    /// A mangler handling `models`, emitting nothing new, no survey.
    pub fn new(name: &str, models: &[&str], summary: &str) -> Self {
        Self {
            name: name.to_owned(),
            models: models.iter().map(|m| (*m).to_owned()).collect(),
            summary: summary.to_owned(),
            ..Self::default()
        }
    }

    /// Whether objects of `model` go to this mangler.
    pub fn handles(&self, model: &str) -> bool {
        self.models.iter().any(|m| m == "*" || m == model)
    }
}
