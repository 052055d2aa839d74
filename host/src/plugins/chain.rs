//! The chain search: the shortest chain of plugins that takes a backup from
//! one GeoNode version to another, from what each plugin declares (`from`
//! as a semver requirement, `to` as a version). Which chain a run uses, and
//! when, is [`super::choice`]'s.

use semver::{Version, VersionReq};

use super::{LoadedPlugin, Registry};
use crate::errors::{Error, ErrorKind};

/// Two versions are the same GeoNode release line when major and minor agree.
pub fn same_line(a: &Version, b: &Version) -> bool {
    a.major == b.major && a.minor == b.minor
}

/// The shortest chain of plugins from `from` to `to` (empty when they are
/// the same release line); ties go to the plugin names in order.
///
/// # Errors
///
/// When no chain exists, naming the step that is missing.
pub fn shortest_chain<'r>(
    registry: &'r Registry,
    from: &Version,
    to: &Version,
) -> Result<Vec<&'r LoadedPlugin>, Error> {
    if same_line(from, to) {
        return Ok(Vec::new());
    }
    let mut candidates: Vec<(&LoadedPlugin, VersionReq, Version)> = registry
        .plugins
        .iter()
        .filter_map(|p| {
            let info = p.handle.info();
            Some((
                p,
                VersionReq::parse(&info.from).ok()?,
                Version::parse(&info.to).ok()?,
            ))
        })
        .collect();
    candidates.sort_by(|a, b| a.0.handle.info().name.cmp(&b.0.handle.info().name));
    // Breadth first over versions reached, so the first chain found is a shortest one.
    let mut frontier: Vec<(Version, Vec<usize>)> = vec![(from.clone(), Vec::new())];
    let mut reached: Vec<Version> = vec![from.clone()];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for (version, chain) in frontier {
            for (i, (_, requirement, target)) in candidates.iter().enumerate() {
                if !requirement.matches(&version) || same_line(target, &version) {
                    continue;
                }
                if reached.iter().any(|r| same_line(r, target)) {
                    continue;
                }
                let mut longer = chain.clone();
                longer.push(i);
                if same_line(target, to) {
                    return Ok(longer.into_iter().map(|i| candidates[i].0).collect());
                }
                reached.push(target.clone());
                next.push((target.clone(), longer));
            }
        }
        frontier = next;
    }
    let offered: Vec<String> = candidates
        .iter()
        .map(|(p, _, _)| {
            format!(
                "{} ({} -> {})",
                p.handle.info().name,
                p.handle.info().from,
                p.handle.info().to
            )
        })
        .collect();
    let stuck: Vec<String> = reached
        .iter()
        .map(|v| format!("{}.{}", v.major, v.minor))
        .collect();
    Err(Error::new(
        ErrorKind::Plugin,
        format!(
            "no plugin chain migrates GeoNode {from} to {to}: the missing step starts from GeoNode {} (plugins found: {})",
            stuck.join(" or "),
            if offered.is_empty() { "none".to_owned() } else { offered.join(", ") }
        ),
    )
    .hint(format!(
        "install a plugin that migrates from GeoNode {} towards {}.{}, or name the manglers in settings.ini [fixtures] migrations/manglers",
        stuck.last().expect("the start is always reached"),
        to.major,
        to.minor
    )))
}
