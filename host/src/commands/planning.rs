//! Which manglers a run applies: settings.ini's explicit `migrations`, or
//! the chain of plugins planned from the backup's GeoNode version to the
//! target's. Shared by `migrate`, `restore` and `plan`.

use mangler_api::Context;
use serde::Serialize;

use crate::{
    config::Settings,
    errors::{Error, ErrorKind},
    plugins::{plan, ManglerRun, Registry},
    versions::KnownVersion,
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

/// Chooses and starts the manglers of a run.
///
/// # Errors
///
/// A missing or broken plugin, an unknown source version when a plan is
/// needed, or no chain between the versions; all before anything is touched.
pub fn choose(
    settings: &Settings,
    registry: &Registry,
    context: &Context,
    source: Option<KnownVersion>,
    target: Option<KnownVersion>,
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
        let plugins = describe(&run);
        let chosen_by =
            "settings.ini [fixtures] migrations/manglers (explicit, no plan)".to_owned();
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
                    format!("cannot tell which GeoNode version the backup comes from, so no plugin chain to {} can be planned", to.version),
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
    let chain = plan(registry, &from.version, &to.version)?;
    let run = ManglerRun::planned(&settings.fixtures, &chain, context)?;
    let plugins = describe(&run);
    let chosen_by = if chain.is_empty() {
        format!(
            "same GeoNode release line ({}.{}): no plugin needed",
            to.version.major, to.version.minor
        )
    } else {
        format!(
            "planned from the plugins' declared versions, GeoNode {} -> {}",
            from.version, to.version
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

/// The context every run starts from: each value from the command line,
/// else settings.ini `[migrate]`, else its default (owner `admin`, basepk 0);
/// the run's timestamp from `SOURCE_DATE_EPOCH` or now.
///
/// # Errors
///
/// When `SOURCE_DATE_EPOCH` is not a number of seconds.
pub fn run_context(
    settings: &Settings,
    owner: Option<&str>,
    siteurl: Option<&str>,
    datastore: Option<&str>,
    basepk: Option<i64>,
) -> Result<Context, Error> {
    let run = &settings.run;
    let pick = |given: Option<&str>, set: &Option<String>| {
        given.map(str::to_owned).or_else(|| set.clone())
    };
    Ok(Context {
        basepk: basepk.or(run.basepk).unwrap_or(0),
        owner: pick(owner, &run.owner).unwrap_or_else(|| "admin".to_owned()),
        datastore: pick(datastore, &run.datastore).unwrap_or_default(),
        siteurl: pick(siteurl, &run.siteurl)
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned(),
        timestamp: crate::time::format_utc(crate::time::run_epoch()?),
        ..Context::default()
    })
}

/// The target version as a [`KnownVersion`].
pub fn target_known(version: &str, how: &str) -> Result<KnownVersion, Error> {
    Ok(KnownVersion {
        version: crate::versions::parse_version(version, how)?,
        how: how.to_owned(),
    })
}

impl Plan {
    /// Lines for a human.
    pub fn lines(&self) -> Vec<String> {
        let show = |v: &Option<KnownVersion>| match v {
            Some(k) => format!("GeoNode {} ({})", k.version, k.how),
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
