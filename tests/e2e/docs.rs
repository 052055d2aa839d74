//! Every reference in the repository's documentation resolves inside it:
//! relative Markdown links, and paths written in backticks that start at a
//! top-level folder (`host/src/...`, from the repository or from the
//! folder of a crate holding the file), in Markdown files and Rust doc
//! comments.

use std::path::{Path, PathBuf};

use crate::support::repo;

/// Top-level folders a backticked path may start with.
const ROOTS: [&str; 9] = [
    "host/",
    "mangler-api/",
    "manglers/",
    "plugins/",
    "tests/",
    "scripts/",
    "docs/",
    "examples/",
    ".ci/",
];

/// Folders never read: build output and generated or frozen copies.
const SKIPPED: [&str; 4] = [
    "target",
    ".git",
    "fuzz/corpus",
    "tests/plugins/mangler-api-1.0",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let relative = path.strip_prefix(repo()).unwrap().to_owned();
        if SKIPPED.iter().any(|s| relative.starts_with(s)) {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md" || e == "rs") {
            out.push(path);
        }
    }
}

/// The references in `text`: `(target, relative to the file's folder)`.
fn references(text: &str, markdown: bool) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if !(markdown || trimmed.starts_with("//!") || trimmed.starts_with("///")) {
            continue;
        }
        for (i, _) in line.match_indices("](") {
            let rest = &line[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap();
            // `crate::x` and such are rustdoc's intra-doc links, not files.
            if !target.is_empty() && !target.contains([':', ' ']) {
                found.push((target.to_owned(), true));
            }
        }
        for (n, quoted) in line.split('`').enumerate() {
            let plain = quoted.trim_end_matches(['.', ',', ':']);
            if n % 2 == 1
                && ROOTS.iter().any(|r| plain.starts_with(r))
                && !plain.contains(['*', '<', '{', ' ', '$'])
            {
                found.push((plain.to_owned(), false));
            }
        }
    }
    found
}

#[test]
fn every_reference_in_the_docs_resolves_inside_the_repository() {
    let root = repo();
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut broken = Vec::new();
    for file in all {
        let text = std::fs::read_to_string(&file).unwrap();
        let markdown = file.extension().is_some_and(|e| e == "md");
        for (target, relative) in references(&text, markdown) {
            // A backticked path is the repository's, or a crate's own
            // (`tests/real_data.rs` in a plugin's README).
            let resolves = if relative {
                file.parent().unwrap().join(&target).exists()
            } else {
                file.ancestors()
                    .skip(1)
                    .take_while(|dir| dir.starts_with(&root))
                    .any(|dir| dir.join(&target).exists())
            };
            if !resolves {
                broken.push(format!(
                    "{}: {target}",
                    file.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert_eq!(
        broken,
        Vec::<String>::new(),
        "references that point nowhere"
    );
}
