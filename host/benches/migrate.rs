//! `cargo bench -p gnbr --bench migrate [-- --mb N]`: throughput and peak
//! memory of `gnbr migrate` on a generated GeoNode 2.0-shaped backup, next
//! to a plain serde_json parse-and-serialise of the same fixture, and of
//! the GeoNode 3.3 -> 5.1 plugin chain on a generated 3.3-shaped backup.
//!
//! Generates `target/bench/gn20-backup/` with N MB (default 300) of
//! `base.resourcebase` (mangled by gn20_to_24.ResourceBaseMangler) and N MB
//! of `base.link` (untouched), then runs the release `gnbr` three ways and
//! prints MB/s and peak RSS. Then generates `target/bench/gn33-backup-N/`,
//! a GeoNode 3.3 backup (its layout: fixtures at the root) made of the real
//! 3.3.3 backup of `manglers/gn33_to_41/tests/data` with its resources,
//! links, layers, attributes, maps, map layers and documents repeated under
//! new keys to about N MB, and migrates it to 5.1.1 through `gn33_to_41`,
//! `gn41_to_44` and `gn44_to_51`, at N/4 MB and N MB so that the peak
//! memory of both shows whether it stays flat. Build the release binary
//! and plugins first (`cargo build --release`); the bench refuses to time
//! a debug build.

use std::{
    fs::{self, File},
    io::{BufWriter, Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serde-baseline") {
        serde_baseline(Path::new(&args[i + 1]), Path::new(&args[i + 2]));
        return;
    }
    let mb: u64 = args
        .iter()
        .position(|a| a == "--mb")
        .map(|i| args[i + 1].parse().expect("--mb takes a number"))
        .unwrap_or(300);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let gnbr = repo.join("target/release/gnbr");
    assert!(
        gnbr.exists(),
        "build the release binary first: cargo build --release"
    );
    let work = repo.join("target/bench");
    let backup = work.join("gn20-backup");
    generate(&backup, mb * 1_000_000);
    let mangled = settings(
        &work,
        "mangled.ini",
        "migrations = base.resourcebase\nmanglers = gn20_to_24.ResourceBaseMangler\n",
    );
    let untouched = settings(&work, "untouched.ini", "");
    let resources = backup.join("fixtures/resourcebases.json");
    let size = fs::metadata(&resources).unwrap().len();
    let out = work.join("out");

    println!(
        "fixture size: {:.0} MB each (base.resourcebase mangled, base.link untouched)",
        size as f64 / 1e6
    );
    println!("{:<62} {:>9} {:>12}", "run", "MB/s", "peak RSS MB");
    let row = |label: &str, bytes: u64, seconds: f64, rss_kb: i64| {
        println!(
            "{label:<62} {:>9.0} {:>12.1}",
            bytes as f64 / 1e6 / seconds,
            rss_kb as f64 / 1024.0
        );
    };
    let gnbr_run = |ini: &Path, dry_run: bool| {
        let _ = fs::remove_dir_all(&out);
        let mut c = Command::new(&gnbr);
        c.arg("-c")
            .arg(ini)
            .arg("--json")
            .arg("migrate")
            .arg("--backup-file")
            .arg(&backup);
        if dry_run {
            c.arg("--dry-run");
        } else {
            c.arg("--output").arg(&out);
        }
        c.env("SOURCE_DATE_EPOCH", "1700000000")
            .stderr(Stdio::null());
        let (seconds, rss_kb, stdout) = measure(&mut c);
        let report: serde_json::Value =
            serde_json::from_slice(&stdout).expect("gnbr --json prints a report");
        let fixture = |entry: &str| {
            let fixtures = report["fixtures"]
                .as_array()
                .expect("a report lists fixtures");
            let f = fixtures
                .iter()
                .find(|f| f["entry"] == entry)
                .expect("the fixture was migrated");
            (
                f["bytes_in"].as_u64().unwrap(),
                f["seconds"].as_f64().unwrap(),
            )
        };
        (
            seconds,
            rss_kb,
            fixture("fixtures/resourcebases.json"),
            fixture("fixtures/links.json"),
        )
    };
    let runs = [
        (&mangled, false, "gnbr migrate", "mangled"),
        (
            &mangled,
            true,
            "gnbr migrate --dry-run (no writes)",
            "mangled",
        ),
        (
            &untouched,
            false,
            "gnbr migrate, no manglers configured",
            "untouched",
        ),
    ];
    for (ini, dry_run, label, mangling) in runs {
        let (seconds, rss, (rb, rs), (lb, ls)) = gnbr_run(ini, dry_run);
        row(&format!("{label}: whole run"), rb + lb, seconds, rss);
        row(&format!("  resourcebases.json ({mangling})"), rb, rs, rss);
        row("  links.json (untouched)", lb, ls, rss);
    }
    let mut baseline = Command::new(std::env::current_exe().unwrap());
    baseline
        .arg("--serde-baseline")
        .arg(&resources)
        .arg(work.join("serde-out.json"));
    let (seconds, rss, _) = measure(&mut baseline);
    row(
        "serde_json: resourcebases.json whole into a Value and back",
        size,
        seconds,
        rss,
    );
    let _ = fs::remove_dir_all(&out);

    println!();
    println!("GeoNode 3.3 -> 5.1.1 (gn33_to_41, gn41_to_44, gn44_to_51), whole run:");
    println!("{:<62} {:>9} {:>12}", "backup", "MB/s", "peak RSS MB");
    for size in [mb / 4, mb] {
        let backup = work.join(format!("gn33-backup-{size}"));
        generate_33(&repo, &backup, size * 1_000_000);
        let ini = work.join("gn33.ini");
        let apps = fs::read_to_string(repo.join("tests/data/geonode-3.3.3-settings.ini")).unwrap();
        let fixtures = &apps[apps.find("[fixtures]").expect("a [fixtures] section")..];
        fs::write(
            &ini,
            format!(
                "{fixtures}\n[migrate]\nowner = admin\nsiteurl = https://geonode.example.org\n"
            ),
        )
        .unwrap();
        let _ = fs::remove_dir_all(&out);
        let mut c = Command::new(&gnbr);
        c.arg("-c")
            .arg(&ini)
            .args([
                "--json",
                "migrate",
                "--to-version",
                "5.1.1",
                "--backup-file",
            ])
            .arg(&backup)
            .arg("--output")
            .arg(&out)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .stderr(Stdio::null());
        let (seconds, rss, stdout) = measure(&mut c);
        let report: serde_json::Value =
            serde_json::from_slice(&stdout).expect("gnbr --json prints a report");
        let bytes: u64 = report["fixtures"]
            .as_array()
            .expect("a report lists fixtures")
            .iter()
            .map(|f| f["bytes_in"].as_u64().unwrap())
            .sum();
        row(
            &format!("{:.0} MB of fixtures", bytes as f64 / 1e6),
            bytes,
            seconds,
            rss,
        );
    }
    let _ = fs::remove_dir_all(&out);
}

/// Models of the 3.3 template repeated per copy, with the fields that refer
/// to another repeated object (moved with it).
const REPEATED_33: &[(&str, &[&str])] = &[
    ("base.resourcebase", &[]),
    ("base.link", &["resource"]),
    ("layers.layer", &[]),
    ("layers.attribute", &["layer"]),
    ("maps.map", &[]),
    ("maps.maplayer", &["map"]),
    ("documents.document", &[]),
];

/// Primary keys of copy `k` are the template's plus `k * PK_STRIDE`.
const PK_STRIDE: i64 = 1_000_000;

/// Writes a GeoNode 3.3 backup of about `bytes` of fixtures from the real
/// 3.3.3 backup, unless it exists.
fn generate_33(repo: &Path, dir: &Path, bytes: u64) {
    let marker = dir.with_extension("complete");
    if marker.exists() {
        return;
    }
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).unwrap();
    let template = repo.join("manglers/gn33_to_41/tests/data/geonode-3.3.3-backup");
    let mut files: Vec<PathBuf> = fs::read_dir(&template)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let fixtures: Vec<(PathBuf, Vec<serde_json::Value>)> = files
        .into_iter()
        .map(|p| {
            let objects = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
            (p, objects)
        })
        .collect();
    let repeated_size: u64 = fixtures
        .iter()
        .flat_map(|(_, objects)| objects)
        .filter(|o| REPEATED_33.iter().any(|(m, _)| o["model"] == *m))
        .map(|o| o.to_string().len() as u64 + 2)
        .sum();
    let copies = (bytes / repeated_size).max(1) as i64;
    for (path, objects) in &fixtures {
        let mut out = BufWriter::new(File::create(dir.join(path.file_name().unwrap())).unwrap());
        out.write_all(b"[").unwrap();
        let mut first = true;
        for copy in 0..copies {
            for object in objects {
                let Some((_, refs)) = REPEATED_33.iter().find(|(m, _)| object["model"] == *m)
                else {
                    if copy > 0 {
                        continue;
                    }
                    if !first {
                        out.write_all(b", ").unwrap();
                    }
                    first = false;
                    serde_json::to_writer(&mut out, object).unwrap();
                    continue;
                };
                let mut object = object.clone();
                shift_33(&mut object, refs, copy);
                if !first {
                    out.write_all(b", ").unwrap();
                }
                first = false;
                serde_json::to_writer(&mut out, &object).unwrap();
            }
        }
        out.write_all(b"]").unwrap();
    }
    fs::write(marker, "").unwrap();
}

/// Moves a template object to copy `copy`: its pk and the repeated objects
/// it refers to by `refs`; names and uuids made unique.
fn shift_33(object: &mut serde_json::Value, refs: &[&str], copy: i64) {
    if copy == 0 {
        return;
    }
    let pk = object["pk"].as_i64().unwrap();
    object["pk"] = (pk + copy * PK_STRIDE).into();
    let fields = object["fields"].as_object_mut().unwrap();
    for field in refs {
        if let Some(id) = fields.get(*field).and_then(serde_json::Value::as_i64) {
            fields.insert((*field).to_owned(), (id + copy * PK_STRIDE).into());
        }
    }
    if let Some(uuid) = fields.get("uuid").and_then(|u| u.as_str()) {
        let uuid = format!("{}{copy:08x}", &uuid[..uuid.len() - 8]);
        fields.insert("uuid".to_owned(), uuid.into());
    }
    // A dataset's name, its resource's alternate (`geonode:CA`) and a map
    // layer's name when it is that alternate (not the background's `mapnik`).
    let (field, always) = match object["model"].as_str() {
        Some("layers.layer") => ("name", true),
        Some("base.resourcebase") => ("alternate", false),
        Some("maps.maplayer") => ("name", false),
        _ => return,
    };
    let fields = object["fields"].as_object_mut().unwrap();
    if let Some(text) = fields.get(field).and_then(|n| n.as_str()) {
        if always || text.contains(':') {
            let text = format!("{text}_{copy}");
            fields.insert(field.to_owned(), text.into());
        }
    }
}

/// Runs a command; returns its wall time, its peak RSS in KiB and its stdout.
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also gives the child's peak RSS"
)]
fn measure(command: &mut Command) -> (f64, i64, Vec<u8>) {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_end(&mut stdout)
        .expect("stdout reads");
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid we hold.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed"
    );
    (seconds, usage.ru_maxrss, stdout)
}

fn serde_baseline(input: &Path, output: &Path) {
    let mut text = Vec::new();
    File::open(input).unwrap().read_to_end(&mut text).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let out = BufWriter::new(File::create(output).unwrap());
    serde_json::to_writer(out, &value).unwrap();
}

fn settings(dir: &Path, name: &str, migrations: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(
        &path,
        format!("[fixtures]\napps = base.resourcebase,base.link\ndumps = resourcebases,links\n{migrations}\n[migrate]\nowner = admin\n"),
    )
    .unwrap();
    path
}

/// Writes the two fixtures, each about `bytes` long, unless they exist.
fn generate(dir: &Path, bytes: u64) {
    let marker = dir.with_extension(format!("generated-{bytes}"));
    if marker.exists() {
        return;
    }
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir.join("fixtures")).unwrap();
    write_fixture(&dir.join("fixtures/resourcebases.json"), bytes, resource);
    write_fixture(&dir.join("fixtures/links.json"), bytes, link);
    fs::write(marker, "").unwrap();
}

fn write_fixture(path: &Path, bytes: u64, object: fn(u64) -> String) {
    let mut out = BufWriter::new(File::create(path).unwrap());
    out.write_all(b"[").unwrap();
    let (mut written, mut pk) = (0u64, 1u64);
    while written < bytes {
        let text = object(pk);
        if pk > 1 {
            out.write_all(b", ").unwrap();
        }
        out.write_all(text.as_bytes()).unwrap();
        written += text.len() as u64 + 2;
        pk += 1;
    }
    out.write_all(b"]").unwrap();
}

fn resource(pk: u64) -> String {
    let kind = ["layers", "maps", "documents"][(pk % 3) as usize];
    format!(
        concat!(
            r#"{{"pk": {pk}, "model": "base.resourcebase", "fields": {{"uuid": "6a9f1c3e-{pk:04x}-11e3-9c5a-0800279d6a3f", "owner": {owner}, "#,
            r#""title": "Rivi\u00e8res et lacs du bassin {pk} \u2014 \u00e9dition {ed}", "date": "2013-0{m}-1{d}T10:2{d}:3{m}", "date_type": "publication", "edition": null, "#,
            r#""abstract": "Hydrographic network of the basin, digitised from 1:50 000 maps; includes rivers, lakes, reservoirs and canals. Précis: réseau hydrographique.", "#,
            r#""purpose": null, "maintenance_frequency": null, "restriction_code_type": null, "constraints_other": null, "license": null, "language": "eng", "category": {cat}, "#,
            r#""spatial_representation_type": null, "temporal_extent_start": null, "temporal_extent_end": null, "supplemental_information": "No information provided", "#,
            r#""distribution_url": "http://demo.geonode.org:8080/{kind}/geonode:basin_{pk}", "distribution_description": "Web address (URL)", "data_quality_statement": null, "#,
            r#""bbox_x0": -123.{pk}1, "bbox_x1": -122.0050000000000, "bbox_y0": 47.1099999999999{d}, "bbox_y1": 48.5e0, "srid": "EPSG:4326", "csw_typename": "gmd:MD_Metadata", "#,
            r#""csw_schema": "http://www.isotc211.org/2005/gmd", "csw_mdsource": "local", "csw_insert_date": "2013-05-1{d}T10:2{d}:30", "csw_type": "dataset", "#,
            r#""csw_anytext": "basin_{pk} rivers lakes hydrography water {kind} geonode demo \u00e9t\u00e9 \ud83c\udf0d", "csw_wkt_geometry": "POLYGON((-123.1 47.1,-123.1 48.5,-122.0 48.5,-122.0 47.1,-123.1 47.1))", "#,
            r#""metadata_uploaded": false, "metadata_xml": "<gmd:MD_Metadata xmlns:gmd=\"http://www.isotc211.org/2005/gmd\"/>", "thumbnail": {pk}, "contacts": [], "regions": [{region}], "keywords": []}}}}"#
        ),
        pk = pk,
        owner = if pk % 97 == 0 {
            "null".to_owned()
        } else {
            (pk % 7 + 1).to_string()
        },
        ed = pk % 5,
        m = pk % 9 + 1,
        d = pk % 10,
        cat = pk % 19 + 1,
        kind = kind,
        region = pk % 200 + 1,
    )
}

fn link(pk: u64) -> String {
    format!(
        concat!(
            r#"{{"pk": {pk}, "model": "base.link", "fields": {{"resource": {res}, "extension": "zip", "link_type": "data", "name": "Zipped Shapefile", "#,
            r#""mime": "SHAPE-ZIP", "url": "http://demo.geonode.org:8080/geoserver/wfs?format_options=charset%3AUTF-8&typename=geonode%3Abasin_{res}&outputFormat=SHAPE-ZIP&version=1.0.0&service=WFS&request=GetFeature", "#,
            r#""description": "Fichier de formes zipp\u00e9 \u2014 r\u00e9seau hydrographique du bassin {res}, 1.10 \u00e9dition", "size": {size}, "ratio": 1.1099999999999999}}}}"#
        ),
        pk = pk,
        res = pk / 3 + 1,
        size = pk * 1237,
    )
}
