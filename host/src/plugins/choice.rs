//! The version-aware choice of a run's manglers: settings.ini's explicit
//! `migrations`, or the chain of plugins ([`super::chain`]) from the
//! backup's GeoNode version to the target's. Shared by `migrate`, `restore`
//! and `plan`.
//!
//! When the backup's version is only known as a range of release lines
//! (`3.0-3.3`), a chain is planned from each line; the run goes on only if
//! every line gets the same chain, else it asks for `--from-version`. So a
//! `~3.3` plugin serves the range `3.0-3.3` only if 3.0-3.2 would get it
//! too, which they never do. Explicit manglers must fit what the fixtures
//! show, unless `--force-manglers`.

use mangler_api::Context;
use semver::VersionReq;
use serde::Serialize;

use crate::{
    config::{FixtureSettings, Settings},
    errors::{Error, ErrorKind},
    plugins::{chain::shortest_chain, LoadedPlugin, ManglerRun, Registry},
    versions::{KnownVersion, Line},
};

/// How a run's manglers were chosen, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The backup's GeoNode version, if known.
    pub source: Option<KnownVersion>,
    /// The target's GeoNode version, if known.
    pub target: Option<KnownVersion>,
    /// The plugins, in order: `name version (from -> to)`.
    pub plugins: Vec<String>,
    /// Where the chain came from.
    pub chosen_by: String,
}

/// Chooses and starts the manglers of a run; `force_manglers` runs
/// settings.ini's explicit manglers even when they do not fit the backup.
///
/// # Errors
///
/// A missing or broken plugin, explicit manglers that do not fit the
/// backup, an unknown source version when a plan is needed, a range of
/// versions whose chains differ, or no chain between the versions; all
/// before anything is touched.
pub fn choose(
    settings: &Settings,
    registry: &Registry,
    context: &Context,
    source: Option<KnownVersion>,
    target: Option<KnownVersion>,
    force_manglers: bool,
) -> Result<(ManglerRun, Plan), Error> {
    let describe = |run: &ManglerRun| -> Vec<String> {
        run.plugins()
            .iter()
            .map(|p| {
                let i = p.handle.info();
                format!("{} {} ({} -> {})", i.name, i.version, i.from, i.to)
            })
            .collect()
    };
    if !settings.fixtures.migrations.is_empty() {
        let run = ManglerRun::prepare(&settings.fixtures, registry, context)?;
        let misfits = misfits(&settings.fixtures, registry, source.as_ref());
        if let (Some(misfit), false) = (misfits.first(), force_manglers) {
            return Err(misfit.clone());
        }
        let plugins = describe(&run);
        let chosen_by = if misfits.is_empty() {
            "settings.ini [fixtures] migrations/manglers (explicit, no plan)".to_owned()
        } else {
            "settings.ini [fixtures] migrations/manglers (explicit, no plan; kept with --force-manglers although they do not fit the backup's version)".to_owned()
        };
        return Ok((
            run,
            Plan {
                source,
                target,
                plugins,
                chosen_by,
            },
        ));
    }
    let (Some(from), Some(to)) = (&source, &target) else {
        let chosen_by = match (&source, &target) {
            (None, Some(to)) => {
                return Err(Error::new(
                    ErrorKind::Input,
                    format!("cannot tell which GeoNode version the backup comes from, so no plugin chain to {} can be planned", to.label()),
                )
                .hint("pass --from-version (e.g. --from-version 4.4), or name the manglers in settings.ini [fixtures]"));
            }
            _ => "no target version and no manglers in settings.ini: fixtures pass unchanged"
                .to_owned(),
        };
        let run = ManglerRun::planned(&settings.fixtures, &[], context)?;
        return Ok((
            run,
            Plan {
                source,
                target,
                plugins: Vec::new(),
                chosen_by,
            },
        ));
    };
    let Some(to_version) = &to.version else {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("the target's GeoNode version is only known as {}", to.lines),
        )
        .hint("pass --to-version"));
    };
    let chain = match &from.version {
        Some(version) => shortest_chain(registry, version, to_version)?,
        None => plan_range(registry, from, to_version)?,
    };
    let run = ManglerRun::planned(&settings.fixtures, &chain, context)?;
    let plugins = describe(&run);
    let chosen_by = if chain.is_empty() {
        format!(
            "same GeoNode release line ({}.{}): no plugin needed",
            to_version.major, to_version.minor
        )
    } else if from.version.is_none() {
        format!(
            "planned from the plugins' declared versions, GeoNode {} -> {to_version} (the same chain from every line of the range)",
            from.lines
        )
    } else {
        format!(
            "planned from the plugins' declared versions, GeoNode {} -> {to_version}",
            from.label()
        )
    };
    Ok((
        run,
        Plan {
            source,
            target,
            plugins,
            chosen_by,
        },
    ))
}

/// The target version as a [`KnownVersion`].
///
/// # Errors
///
/// When `version` is not a GeoNode version.
pub fn target_known(version: &str, how: &str) -> Result<KnownVersion, Error> {
    Ok(KnownVersion::exact(
        crate::versions::parse_version(version, how)?,
        how,
    ))
}

/// The explicit `migrations`/`manglers` entries whose plugin cannot
/// migrate from the backup's version, one refusal each; run after
/// [`ManglerRun::prepare`] has refused unknown plugins and manglers. A
/// requirement that is not semver is not judged.
fn misfits(
    fixtures: &FixtureSettings,
    registry: &Registry,
    source: Option<&KnownVersion>,
) -> Vec<Error> {
    let Some(source) = source else {
        return Vec::new();
    };
    fixtures
        .migrations
        .iter()
        .filter_map(|entry| {
            let info = registry.get(&entry.plugin).ok()?.handle.info();
            let requirement = VersionReq::parse(&info.from).ok()?;
            (!source.fits(&requirement)).then(|| {
                let shown = match (source.exact, &source.contents) {
                    (false, Some(lines)) => format!("the backup's fixtures show GeoNode {lines}"),
                    _ => format!("the backup is GeoNode {}", source.label()),
                };
                Error::new(
                    ErrorKind::Usage,
                    format!(
                        "{} entry {} `{}.{}`: plugin `{}` migrates from GeoNode {}, but {shown} ({})",
                        entry.location,
                        entry.position,
                        entry.plugin,
                        entry.mangler,
                        entry.plugin,
                        info.from,
                        source.how
                    ),
                )
                .hint(
                    "name manglers whose plugin migrates from that version, or drop [fixtures] migrations/manglers to let gnbr plan the chain; if the version is wrong, pass --from-version; to run these manglers anyway, pass --force-manglers"
                )
            })
        })
        .collect()
}

/// The chain from a range of lines: the one every line gets, if they all
/// get the same.
///
/// # Errors
///
/// When the lines get different chains (or some get none): the range
/// does not say which, so the admin must.
fn plan_range<'r>(
    registry: &'r Registry,
    from: &KnownVersion,
    to: &semver::Version,
) -> Result<Vec<&'r LoadedPlugin>, Error> {
    let outcomes: Vec<(Line, Result<Vec<&LoadedPlugin>, Error>)> = from
        .lines
        .lines()
        .into_iter()
        .map(|line| (line, shortest_chain(registry, &line.first_release(), to)))
        .collect();
    let names = |chain: &[&LoadedPlugin]| -> Vec<String> {
        chain.iter().map(|p| p.handle.info().name.clone()).collect()
    };
    let words = |outcome: &Result<Vec<&LoadedPlugin>, Error>| match outcome {
        Ok(chain) if chain.is_empty() => "no plugin needed".to_owned(),
        Ok(chain) => names(chain).join(" -> "),
        Err(_) => "no plugin chain".to_owned(),
    };
    let first = &outcomes[0].1;
    if let Ok(chain) = first {
        let same = outcomes
            .iter()
            .all(|(_, o)| o.as_ref().is_ok_and(|c| names(c) == names(chain)));
        if same {
            return Ok(chain.clone());
        }
    }
    let mut groups: Vec<(Line, Line, String)> = Vec::new();
    for (line, outcome) in &outcomes {
        let said = words(outcome);
        match groups.last_mut() {
            Some((_, last, prev)) if *prev == said => *last = *line,
            _ => groups.push((*line, *line, said)),
        }
    }
    let described: Vec<String> = groups
        .iter()
        .map(|(first, last, said)| {
            let lines = crate::versions::LineRange::new(*first, *last);
            format!("{lines}: {said}")
        })
        .collect();
    let example = outcomes
        .iter()
        .rev()
        .find(|(_, o)| o.is_ok())
        .map_or(from.lines.last, |(line, _)| *line);
    if outcomes.iter().all(|(_, o)| o.is_err()) {
        return Err(Error::new(
            ErrorKind::Plugin,
            format!(
                "no plugin chain migrates any of GeoNode {} to {to}: the backup is GeoNode {} ({})",
                from.lines, from.lines, from.how
            ),
        )
        .hint("add a plugin for one of these versions to the plugin folder, or pass --from-version if the backup's version is known"));
    }
    Err(Error::new(
        ErrorKind::Usage,
        format!(
            "cannot choose the plugin chain: the backup is GeoNode {} ({}), and the chain to GeoNode {to} differs across that range ({})",
            from.lines,
            from.how,
            described.join("; ")
        ),
    )
    .hint(format!(
        "pass --from-version with the version of the GeoNode that made the backup (e.g. --from-version {example})"
    )))
}

impl Plan {
    /// Lines for a human.
    pub fn lines(&self) -> Vec<String> {
        let show = |v: &Option<KnownVersion>| match v {
            Some(k) => format!("GeoNode {} ({})", k.label(), k.how),
            None => "unknown".to_owned(),
        };
        let mut lines = vec![
            format!("source    {}", show(&self.source)),
            format!("target    {}", show(&self.target)),
            format!("chain     {}", self.chosen_by),
        ];
        lines.extend(self.plugins.iter().map(|p| format!("  plugin  {p}")));
        lines
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use mangler_api::{
        client::PluginHandle, export::root_module, FixtureObject, ManglerError, Output, Plugin,
        PluginInfo,
    };
    use semver::Version;

    use super::*;
    use crate::{
        errors::ErrorKind,
        versions::{infer, LineRange, Seen},
    };

    macro_rules! fake_plugin {
        ($ty:ident, $name:literal, $from:literal, $to:literal) => {
            struct $ty;

            impl Plugin for $ty {
                fn info() -> PluginInfo {
                    PluginInfo::new($name, "1.0.0", $from, $to).mangler(
                        "ResourceBaseMangler",
                        &["base.resourcebase"],
                        "",
                    )
                }

                fn open(_: &Context) -> Result<Self, ManglerError> {
                    Ok($ty)
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
            }
        };
    }

    fake_plugin!(Gn20, "gn20_to_24", "~2.0", "2.4.0");
    fake_plugin!(Gn33, "gn33_to_41", "~3.3", "4.1.5");
    fake_plugin!(Gn41, "gn41_to_44", "~4.1", "4.4.5");
    fake_plugin!(Gn44, "gn44_to_51", "~4.4", "5.1.1");

    fn registry() -> Registry {
        let plugins = [
            root_module::<Gn20>(),
            root_module::<Gn33>(),
            root_module::<Gn41>(),
            root_module::<Gn44>(),
        ]
        .into_iter()
        .map(|module| LoadedPlugin {
            handle: PluginHandle::new(module).unwrap(),
            path: PathBuf::from("in-process"),
        })
        .collect();
        Registry {
            plugins,
            ..Registry::default()
        }
    }

    fn settings(manglers: Option<&str>) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.ini");
        let mut text = "[fixtures]\napps = base.resourcebase\ndumps = resourcebases\n".to_owned();
        if let Some(manglers) = manglers {
            text.push_str(&format!(
                "migrations = base.resourcebase\nmanglers = {manglers}\n"
            ));
        }
        std::fs::write(&path, text).unwrap();
        Settings::load(&path).unwrap()
    }

    /// What a 3.x backup shows when its resources tell nothing: layers.
    fn three_something() -> KnownVersion {
        let mut seen = Seen::default();
        seen.first_objects
            .insert("layers.layer".to_owned(), vec!["name".to_owned()]);
        seen.first_objects.insert(
            "maps.maplayer".to_owned(),
            ["map", "name", "ows_url", "local", "store"]
                .map(String::from)
                .to_vec(),
        );
        infer(&seen).unwrap().unwrap()
    }

    fn target(version: &str) -> Option<KnownVersion> {
        Some(target_known(version, "given with --to-version").unwrap())
    }

    fn choose_with(
        manglers: Option<&str>,
        source: KnownVersion,
        to: &str,
        force: bool,
    ) -> Result<Plan, Error> {
        let registry = registry();
        choose(
            &settings(manglers),
            &registry,
            &Context::default(),
            Some(source),
            target(to),
            force,
        )
        .map(|(_, plan)| plan)
    }

    #[test]
    fn a_range_whose_chains_differ_asks_for_from_version() {
        let source = three_something();
        assert_eq!(
            source.lines,
            LineRange::new(Line::new(3, 0), Line::new(3, 3))
        );
        let error = choose_with(None, source, "4.1.5", false).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Usage);
        assert!(
            error
                .message
                .contains("(3.0-3.2: no plugin chain; 3.3: gn33_to_41)"),
            "{}",
            error.message
        );
        assert!(error.hint.unwrap().contains("--from-version 3.3"));
    }

    #[test]
    fn a_single_line_plans_its_chain() {
        let source = KnownVersion::exact(Version::new(3, 3, 3), "given with --from-version");
        let plan = choose_with(None, source, "5.1.1", false).unwrap();
        assert_eq!(
            plan.plugins,
            [
                "gn33_to_41 1.0.0 (~3.3 -> 4.1.5)",
                "gn41_to_44 1.0.0 (~4.1 -> 4.4.5)",
                "gn44_to_51 1.0.0 (~4.4 -> 5.1.1)"
            ]
        );
    }

    #[test]
    fn a_range_with_no_chain_anywhere_says_so() {
        let mut source = three_something();
        source.lines = LineRange::new(Line::new(2, 5), Line::new(2, 6));
        let error = choose_with(None, source, "4.1.5", false).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Plugin);
        assert!(
            error.message.contains("any of GeoNode 2.5-2.6"),
            "{}",
            error.message
        );
    }

    #[test]
    fn explicit_manglers_that_do_not_fit_are_refused_unless_forced() {
        let three_three = || {
            let mut seen = Seen::default();
            seen.first_objects.insert(
                "base.resourcebase".to_owned(),
                vec!["was_approved".to_owned(), "detail_url".to_owned()],
            );
            infer(&seen).unwrap().unwrap()
        };
        let error = choose_with(
            Some("gn20_to_24.ResourceBaseMangler"),
            three_three(),
            "2.4",
            false,
        )
        .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Usage);
        for part in [
            "settings.ini:5: [fixtures] manglers entry 1 `gn20_to_24.ResourceBaseMangler`",
            "plugin `gn20_to_24` migrates from GeoNode ~2.0, but the backup's fixtures show GeoNode 3.3 (inferred from the backup: ",
        ] {
            assert!(error.message.contains(part), "{part}: {}", error.message);
        }
        assert!(error.hint.unwrap().contains("--force-manglers"));

        let forced = choose_with(
            Some("gn20_to_24.ResourceBaseMangler"),
            three_three(),
            "2.4",
            true,
        )
        .unwrap();
        assert!(
            forced.chosen_by.contains("--force-manglers"),
            "{}",
            forced.chosen_by
        );
        // A fitting plugin, a range that holds its line, or no evidence: no refusal.
        assert!(choose_with(
            Some("gn33_to_41.ResourceBaseMangler"),
            three_three(),
            "4.1.5",
            false
        )
        .is_ok());
        assert!(choose_with(
            Some("gn33_to_41.ResourceBaseMangler"),
            three_something(),
            "4.1.5",
            false
        )
        .is_ok());
        let recorded = KnownVersion::exact(
            Version::new(4, 4, 5),
            "recorded in the backup's manifest.json",
        );
        let error = choose_with(
            Some("gn33_to_41.ResourceBaseMangler"),
            recorded,
            "4.1.5",
            false,
        )
        .unwrap_err();
        assert!(
            error
                .message
                .contains("but the backup is GeoNode 4.4.5 (recorded"),
            "{}",
            error.message
        );
    }

    #[test]
    fn the_layout_alone_never_refuses_explicit_manglers() {
        let seen = Seen {
            fixtures_folder: true,
            ..Seen::default()
        };
        let packed = infer(&seen).unwrap().unwrap();
        assert_eq!(packed.label(), "4.1-5.1");
        assert!(choose_with(Some("gn20_to_24.ResourceBaseMangler"), packed, "2.4", false).is_ok());
    }
}
