//! Which GeoNode version a backup holds: what the admin says
//! (`--from-version`), else gnbr's manifest, else what its fixtures show.

use std::collections::BTreeMap;

use mangler_api::FixtureObject;
use semver::Version;

use crate::{
    archive::BackupReader,
    errors::{Error, ErrorKind},
    fixtures::FixtureReader,
};

/// A GeoNode version and how gnbr knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KnownVersion {
    /// The version.
    pub version: Version,
    /// How it is known, for the run's report.
    pub how: String,
}

/// Parses a GeoNode version as admins write it (`4.4`, `5.1.1`, `2.0`) or
/// as GeoNode reports it (`5.0.0rc1`, `4.4.5.post1`: the release's
/// `major.minor.patch` counts). `source` says where the text came from
/// (`given with --from-version`), for the error.
///
/// # Errors
///
/// When it does not start with a version.
pub fn parse_version(text: &str, source: &str) -> Result<Version, Error> {
    let mut numbers: Vec<u64> = Vec::new();
    for part in text.trim().split('.').take(3) {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        let Ok(n) = digits.parse() else { break };
        numbers.push(n);
        if digits.len() != part.len() {
            break; // `0rc1`: the version ends with its number
        }
    }
    match numbers[..] {
        [major, minor, patch] => Ok(Version::new(major, minor, patch)),
        [major, minor] => Ok(Version::new(major, minor, 0)),
        _ => Err(Error::new(
            ErrorKind::Usage,
            format!("`{text}` ({source}) is not a GeoNode version"),
        )
        .hint("pass the version with --from-version (or --to-version), written like 4.4 or 5.1.1")),
    }
}

/// The version of the backup in `input`.
///
/// # Errors
///
/// When `given` is not a version, or the backup cannot be read.
pub fn source_version(
    input: &mut BackupReader,
    given: Option<&str>,
) -> Result<Option<KnownVersion>, Error> {
    if let Some(given) = given {
        return Ok(Some(KnownVersion {
            version: parse_version(given, "given with --from-version")?,
            how: "given with --from-version".to_owned(),
        }));
    }
    if let Some(version) = input.manifest().and_then(|m| m.geonode_version.clone()) {
        return Ok(Some(KnownVersion {
            version: parse_version(
                &version,
                &format!("recorded in {}/manifest.json", input.path().display()),
            )?,
            how: "recorded in the backup's manifest.json".to_owned(),
        }));
    }
    let evidence = look(input)?;
    Ok(infer(&evidence))
}

/// The fields of the first object of each telling model, by model.
type Evidence = BTreeMap<&'static str, Vec<String>>;

const TELLING_MODELS: &[&str] = &[
    "base.resourcebase",
    "layers.layer",
    "layers.dataset",
    "people.profile",
    "metadata.sparsefield",
];

fn look(input: &mut BackupReader) -> Result<Evidence, Error> {
    let names: Vec<String> = input
        .entries()
        .iter()
        .filter(|e| {
            e.name.ends_with(".json") && (e.name.starts_with("fixtures/") || !e.name.contains('/'))
        })
        .map(|e| e.name.clone())
        .collect();
    let mut evidence = Evidence::new();
    for name in names {
        let mut reader = FixtureReader::new(input.open_entry(&name)?);
        // A malformed fixture is reported by the run itself; here it only ends the look.
        while let Ok(Some(element)) = reader.next_element() {
            let Some(model) = TELLING_MODELS.iter().find(|m| **m == element.model) else {
                continue;
            };
            if evidence.contains_key(model) {
                continue;
            }
            let fields = FixtureObject::parse(element.text)
                .map(|o| o.field_names().map(str::to_owned).collect())
                .unwrap_or_default();
            evidence.insert(model, fields);
        }
    }
    Ok(evidence)
}

fn infer(evidence: &Evidence) -> Option<KnownVersion> {
    let has = |model: &str, field: &str| {
        evidence
            .get(model)
            .is_some_and(|f| f.iter().any(|x| x == field))
    };
    let seen = |model: &str| evidence.contains_key(model);
    let (version, how) = if seen("metadata.sparsefield")
        || has("base.resourcebase", "auth_config")
        || has("people.profile", "extra_data")
    {
        ("5.1.0", "GeoNode 5 fields (metadata.sparsefield objects, resourcebase.auth_config or profile.extra_data)")
    } else if seen("layers.dataset") && has("layers.dataset", "title_en") {
        (
            "4.4.0",
            "layers.dataset objects with *_en translation fields and no GeoNode 5 field",
        )
    } else if seen("layers.dataset") {
        ("4.4.0", "layers.dataset objects and no GeoNode 5 field")
    } else if has("base.resourcebase", "distribution_url") {
        ("2.0.0", "base.resourcebase objects with distribution_url")
    } else if has("base.resourcebase", "polymorphic_ctype") || seen("layers.layer") {
        (
            "2.4.0",
            "base.resourcebase objects with polymorphic_ctype, or layers.layer objects",
        )
    } else {
        return None;
    };
    Some(KnownVersion {
        version: Version::parse(version).expect("a valid literal"),
        how: format!("inferred from the fixtures: {how}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Models with some of their fields.
    type Sample<'a> = &'a [(&'static str, &'a [&'a str])];

    fn evidence(items: Sample<'_>) -> Evidence {
        items
            .iter()
            .map(|(m, f)| (*m, f.iter().map(|s| (*s).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn versions_are_inferred_from_telling_fields() {
        let cases: &[(Sample<'_>, Option<&str>)] = &[
            (
                &[("base.resourcebase", &["title", "auth_config"])],
                Some("5.1.0"),
            ),
            (
                &[
                    ("layers.dataset", &["title_en"]),
                    ("base.resourcebase", &["title"]),
                ],
                Some("4.4.0"),
            ),
            (
                &[("base.resourcebase", &["distribution_url", "title"])],
                Some("2.0.0"),
            ),
            (
                &[("base.resourcebase", &["polymorphic_ctype"])],
                Some("2.4.0"),
            ),
            (&[("people.profile", &["username"])], None),
        ];
        for (items, expected) in cases {
            let got = infer(&evidence(items)).map(|k| k.version.to_string());
            assert_eq!(got.as_deref(), *expected, "{items:?}");
        }
    }

    #[test]
    fn versions_parse_as_admins_write_them() {
        assert_eq!(parse_version("4.4", "t").unwrap(), Version::new(4, 4, 0));
        assert_eq!(parse_version("5.1.1", "t").unwrap(), Version::new(5, 1, 1));
        assert_eq!(
            parse_version("5.0.0rc1", "t").unwrap(),
            Version::new(5, 0, 0)
        );
        assert_eq!(
            parse_version("4.4.5.post1", "t").unwrap(),
            Version::new(4, 4, 5)
        );
        let error = parse_version("four", "reported by the target GeoNode").unwrap_err();
        assert!(error
            .message
            .contains("`four` (reported by the target GeoNode)"));
        assert!(parse_version("4", "t").is_err());
    }
}
