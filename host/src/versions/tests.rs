use super::*;

/// Models with the fields of their first object.
type Objects<'a> = &'a [(&'static str, &'a [&'a str])];

/// The fields every complete `base.resourcebase` has, plus `extra`.
fn resource(extra: &[&'static str]) -> Vec<&'static str> {
    let anchors = COMPLETE.iter().find(|(m, _)| *m == "base.resourcebase");
    let mut fields = anchors.map(|(_, f)| f.to_vec()).unwrap_or_default();
    fields.extend_from_slice(extra);
    fields
}

fn seen(objects: Objects<'_>, content_types: Option<&[&str]>, layout: &[&str]) -> Seen {
    Seen {
        first_objects: objects
            .iter()
            .map(|(m, f)| ((*m).to_owned(), f.iter().map(|s| (*s).to_owned()).collect()))
            .collect(),
        content_types: content_types.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
        root_fixtures: layout.contains(&"root"),
        fixtures_folder: layout.contains(&"fixtures/"),
        folders: layout
            .iter()
            .filter(|l| l.ends_with("_dirs/"))
            .map(|s| (*s).to_owned())
            .collect(),
    }
}

fn lines_of(seen: &Seen) -> Option<String> {
    infer(seen).unwrap().map(|k| k.lines.to_string())
}

/// A field, the first and the last line that have it.
type Lifetime = (&'static str, (u64, u64), (u64, u64));

/// When `base.resourcebase` fields came and went (first and last line), as
/// GeoNode's models and migrations show.
const RESOURCE_FIELDS: &[Lifetime] = &[
    ("thumbnail", (2, 0), (2, 0)),
    ("distribution_url", (2, 0), (2, 4)),
    ("bbox_x0", (2, 0), (3, 1)),
    ("thumbnail_url", (2, 4), (5, 1)),
    ("polymorphic_ctype", (2, 4), (5, 1)),
    ("detail_url", (2, 4), (3, 3)),
    ("metadata_uploaded_preserve", (2, 5), (5, 1)),
    ("alternate", (2, 7), (5, 1)),
    ("is_approved", (2, 8), (5, 1)),
    ("dirty_state", (3, 0), (5, 1)),
    ("attribution", (3, 1), (5, 1)),
    ("ll_bbox_polygon", (3, 2), (5, 1)),
    ("was_approved", (3, 3), (5, 1)),
    ("metadata", (3, 3), (5, 0)),
    ("blob", (4, 0), (5, 1)),
    ("files", (4, 0), (4, 3)),
    ("advertised", (4, 3), (5, 1)),
    ("auth_config", (5, 1), (5, 1)),
];

/// The line each model got its content type in (content types never go).
const CONTENT_TYPES: &[(&str, (u64, u64))] = &[
    ("base.resourcebase", (2, 0)),
    ("layers.layer", (2, 0)),
    ("base.configuration", (3, 0)),
    ("geoapps.geoapp", (3, 2)),
    ("layers.dataset", (4, 0)),
    ("base.linkedresource", (4, 2)),
    ("assets.asset", (4, 4)),
    ("metadata.sparsefield", (5, 0)),
    ("security.authconfig", (5, 1)),
];

/// A backup of `line` as GeoNode's `backup` writes it: a complete
/// resource, every content type, the layout of the line's last release.
fn backup_of(line: Line) -> Seen {
    let within =
        |a: (u64, u64), b: (u64, u64)| Line::new(a.0, a.1) <= line && line <= Line::new(b.0, b.1);
    let extra: Vec<&str> = RESOURCE_FIELDS
        .iter()
        .filter(|(_, a, b)| within(*a, *b))
        .map(|(f, _, _)| *f)
        .collect();
    let types: Vec<&str> = CONTENT_TYPES
        .iter()
        .filter(|(_, a)| within(*a, (9, 9)))
        .map(|(m, _)| *m)
        .collect();
    let layout: &[&str] = if line >= Line::new(4, 1) {
        &["fixtures/"]
    } else if line >= Line::new(2, 5) {
        &["root", "static_dirs/", "template_dirs/", "locale_dirs/"]
    } else {
        &["root"]
    };
    seen(
        &[("base.resourcebase", &resource(&extra))],
        Some(&types),
        layout,
    )
}

#[test]
fn every_release_line_has_a_fingerprint() {
    let expected = [
        "2.0", "2.4", "2.5-2.6", "2.5-2.6", "2.7", "2.8-2.10", "2.8-2.10", "3.0", "3.1", "3.2",
        "3.3", "4.0-4.1", "4.1", "4.2", "4.3", "4.4", "5.0", "5.1",
    ];
    for (line, expected) in LINES.iter().zip(expected) {
        let backup = backup_of(*line);
        assert_eq!(
            lines_of(&backup).as_deref(),
            Some(expected),
            "{line}: {backup:?}"
        );
    }
}

#[test]
fn telling_details_narrow_ranges_to_one_line() {
    let with = |line: Line, model: &'static str, fields: &'static [&'static str]| {
        let mut backup = backup_of(line);
        backup.first_objects.insert(
            model.to_owned(),
            fields.iter().map(|f| (*f).to_owned()).collect(),
        );
        lines_of(&backup)
    };
    // 2.5 still had the layer's `service` link.
    assert_eq!(
        with(Line::new(2, 5), "layers.layer", &["name", "service"]).as_deref(),
        Some("2.5")
    );
    // Map layers without opacity: 4.0 or 4.1, whatever the layout.
    let mut old = backup_of(Line::new(4, 1));
    old.fixtures_folder = false;
    old.root_fixtures = true;
    old.first_objects.insert(
        "maps.maplayer".to_owned(),
        ["map", "name", "ows_url", "local", "dataset"]
            .map(String::from)
            .to_vec(),
    );
    assert_eq!(lines_of(&old).as_deref(), Some("4.0-4.1"));
    // 5.0's services held credentials.
    assert_eq!(
        with(Line::new(5, 0), "services.service", &["username"]).as_deref(),
        Some("5.0")
    );
}

#[test]
fn a_single_line_gets_a_version_a_range_does_not() {
    let rb = "base.resourcebase";
    let one = infer(&seen(&[(rb, &["was_approved", "detail_url"])], None, &[]))
        .unwrap()
        .unwrap();
    assert_eq!(one.version, Some(Version::new(3, 3, 0)));
    assert!(
        one.how.starts_with("inferred from the backup: "),
        "{}",
        one.how
    );
    assert!(
        one.how
            .contains("`base.resourcebase` has `was_approved` (GeoNode 3.3-5.1)"),
        "{}",
        one.how
    );
    let range = infer(&seen(&[("layers.layer", &["name"])], None, &["root"]))
        .unwrap()
        .unwrap();
    assert_eq!(
        (range.version.clone(), range.label()),
        (None, "2.0-3.3".to_owned())
    );
    assert_eq!(
        range.contents,
        Some(LineRange::new(Line::new(2, 0), Line::new(3, 3)))
    );
}

#[test]
fn absence_counts_only_in_complete_objects() {
    let rb = "base.resourcebase";
    // A hand-made object without the anchors: its missing fields say nothing.
    assert_eq!(
        lines_of(&seen(&[(rb, &["title", "blob"])], None, &[])).as_deref(),
        Some("4.0-5.1")
    );
    // A complete 4.4 resource: no `files` and no `auth_config` count.
    let mut complete = backup_of(Line::new(4, 4));
    complete.content_types = None;
    complete.fixtures_folder = false;
    assert_eq!(lines_of(&complete).as_deref(), Some("4.4-5.0"));
    // No objects of a model at all is no evidence either.
    assert_eq!(
        lines_of(&seen(&[("people.profile", &["username"])], None, &[])).as_deref(),
        Some("2.4-5.1")
    );
    assert_eq!(lines_of(&Seen::default()), None);
}

#[test]
fn content_types_only_ever_raise_the_lower_bound() {
    let rb = "base.resourcebase";
    // A 3.3 database upgraded in place keeps `layers.layer`'s stale content type.
    let upgraded = seen(
        &[],
        Some(&[
            rb,
            "layers.layer",
            "base.configuration",
            "geoapps.geoapp",
            "layers.dataset",
            "base.linkedresource",
        ]),
        &[],
    );
    assert_eq!(lines_of(&upgraded).as_deref(), Some("4.2-4.3"));
}

#[test]
fn the_layout_narrows_but_never_overrules_the_fixtures() {
    let rb = "base.resourcebase";
    let repacked = infer(&seen(
        &[(rb, &["was_approved", "detail_url"])],
        None,
        &["fixtures/"],
    ))
    .unwrap()
    .unwrap();
    assert_eq!(repacked.lines.to_string(), "3.3");
    assert!(
        repacked
            .how
            .contains("layout (fixtures under `fixtures/` (GeoNode 4.1-5.1)) fits none"),
        "{}",
        repacked.how
    );
    let layout_only = infer(&seen(&[(rb, &["title"])], None, &["fixtures/"]))
        .unwrap()
        .unwrap();
    assert_eq!(
        (layout_only.label(), layout_only.contents),
        ("4.1-5.1".to_owned(), None)
    );
}

#[test]
fn contradicting_fixtures_are_an_error() {
    let rb = "base.resourcebase";
    let error = infer(&seen(
        &[(rb, &["thumbnail"]), ("layers.dataset", &["name"])],
        None,
        &[],
    ))
    .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Input);
    assert!(
        error.message.contains("contradict each other"),
        "{}",
        error.message
    );
    assert!(error.hint.unwrap().contains("--from-version"));
}

#[test]
fn ranges_fit_requirements_of_any_of_their_lines() {
    let range =
        |a: (u64, u64), b: (u64, u64)| LineRange::new(Line::new(a.0, a.1), Line::new(b.0, b.1));
    let req = |r: &str| VersionReq::parse(r).unwrap();
    assert!(range((3, 0), (3, 3)).fits(&req("~3.3")));
    assert!(!range((3, 0), (3, 2)).fits(&req("~3.3")));
    assert!(range((4, 1), (4, 1)).fits(&req(">=4.1.2, <4.2")));
    // Releases newer than the table look like its newest line.
    assert!(range((4, 4), (5, 1)).fits(&req("~5.2")));
    assert!(range((2, 4), (5, 1)).fits(&req("~9.0")));
    assert!(!range((4, 4), (5, 0)).fits(&req("~5.2")));
    assert_eq!(range((2, 5), (2, 10)).lines().len(), 5);
    assert_eq!(range((9, 0), (9, 0)).lines(), vec![Line::new(9, 0)]);
    assert_eq!(range((2, 8), (2, 10)).to_string(), "2.8-2.10");
}

#[test]
fn every_row_is_about_the_fixtures_or_the_layout_not_both() {
    for row in FINGERPRINTS {
        let layout = row.clues.iter().filter(|c| c.is_layout()).count();
        assert!(layout == 0 || layout == row.clues.len(), "{row}");
        assert!(row.lines.first <= row.lines.last, "{row}");
        for line in [row.lines.first, row.lines.last] {
            assert!(LINES.contains(&line), "{row}");
        }
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
