//! A target folder's new content, staged inside it before the swap: one
//! way for every folder a restore replaces (`MEDIA_ROOT`, `ASSETS_ROOT`,
//! GeoServer's data directory).

use std::{
    fs,
    path::{Path, PathBuf},
};

use super::{
    folder::{write_error, TargetFolder},
    journal::{Journal, Op},
};
use crate::errors::Error;

/// What a swap replaces in a target folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replace {
    /// Every entry of the folder but gnbr's own and the nested target
    /// folders (a restore of `uploaded/` replaces all of `MEDIA_ROOT`).
    Everything,
    /// These paths (folder relative, `/`-separated), each renamed whole;
    /// what is not under one of them stays.
    Paths(Vec<String>),
}

/// New content for a target folder, staged in `.gnbr-staging-<run>`
/// inside it (on the same filesystem as what it replaces), not yet in
/// place. The journal it was staged with removes it if it is never
/// swapped.
pub struct Staging {
    folder: TargetFolder,
    dir: PathBuf,
}

impl Staging {
    /// Creates the folder when it is missing, then its staging folder,
    /// journaled in `journal` first.
    ///
    /// # Errors
    ///
    /// When either cannot be created.
    pub fn begin(folder: TargetFolder, journal: &mut Journal) -> Result<Self, Error> {
        folder.create()?;
        let dir = journal.staging_dir(&folder.real)?;
        Ok(Self { folder, dir })
    }

    /// The folder whose content it replaces.
    pub fn folder(&self) -> &TargetFolder {
        &self.folder
    }

    /// Where `relative` (folder relative, `/`-separated) is staged.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// Stages `bytes` as the file `relative`, its folders created.
    ///
    /// # Errors
    ///
    /// When it cannot be written.
    pub fn write(&self, relative: &str, bytes: &[u8]) -> Result<(), Error> {
        let path = self.path(relative);
        create_parent(&path)?;
        fs::write(&path, bytes).map_err(|e| write_error(&path, &e))
    }

    /// Stages `relative` as a symbolic link to `target`, its folders created.
    ///
    /// # Errors
    ///
    /// When it cannot be made.
    pub fn symlink(&self, relative: &str, target: &str) -> Result<(), Error> {
        let path = self.path(relative);
        create_parent(&path)?;
        std::os::unix::fs::symlink(target, &path).map_err(|e| write_error(&path, &e))
    }

    /// Gives everything staged the folder's owner, group and mode, once
    /// staging is done.
    ///
    /// # Errors
    ///
    /// When the folder cannot be read or a staged path cannot be changed.
    pub fn seal(&self) -> Result<(), Error> {
        self.folder.ownership()?.apply_below(&self.dir)
    }

    /// The swap's steps: each path `replace` names renamed into
    /// `.gnbr-previous-<run>` inside the folder, the staged path renamed
    /// into its place, the folders on the way made. The caller hands them
    /// to [`Journal::swap`].
    ///
    /// # Errors
    ///
    /// A folder that cannot be read, or a mount point inside the folder
    /// (which no rename can move).
    pub fn plan(&self, journal: &mut Journal, replace: &Replace) -> Result<Vec<Op>, Error> {
        let previous = journal.previous_dir(&self.folder.real);
        self.folder.plan(&self.dir, &previous, replace)
    }
}

/// Creates the folders above `path`.
fn create_parent(path: &Path) -> Result<(), Error> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(|e| write_error(parent, &e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::{fs, path::Path};

    use super::{Replace, Staging};
    use crate::swap::{Journal, TargetFolder};

    /// Every file under `root` with its text, gnbr's own paths left out.
    fn files(root: &Path) -> Vec<String> {
        let mut found: Vec<String> = walkdir::WalkDir::new(root)
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let relative = e.path().strip_prefix(root).unwrap().display().to_string();
                format!("{relative}={}", fs::read_to_string(e.path()).unwrap())
            })
            .filter(|f| !f.contains(".gnbr-"))
            .collect();
        found.sort();
        found
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn everything_but_a_nested_folder_is_swapped_and_undone() {
        let tmp = tempfile::tempdir().unwrap();
        let media = tmp.path().join("media");
        write(&media.join("a.txt"), "old a");
        write(&media.join("old/b.txt"), "old b");
        write(&media.join("static/assets/c.bin"), "old c");
        write(&media.join("static/d.css"), "old d");
        let mut folders = [
            TargetFolder::resolve(&media),
            TargetFolder::resolve(&media.join("static/assets")),
        ];
        TargetFolder::nest(&mut folders).unwrap();
        let before = files(&media);

        let mut journal = Journal::begin(&media, "r", "db", false).unwrap();
        let staging = Staging::begin(folders[0].clone(), &mut journal).unwrap();
        staging.write("a.txt", b"new a").unwrap();
        staging.write("static/e.css", b"new e").unwrap();
        staging.symlink("link", "a.txt").unwrap();
        staging.seal().unwrap();
        assert_eq!(files(&media), before, "staging changes nothing");

        let ops = staging.plan(&mut journal, &Replace::Everything).unwrap();
        journal.swap(ops).unwrap();
        assert_eq!(
            files(&media),
            [
                "a.txt=new a",
                "static/assets/c.bin=old c",
                "static/e.css=new e"
            ]
        );
        assert_eq!(
            fs::read_link(media.join("link")).unwrap(),
            Path::new("a.txt")
        );
        journal.abort().unwrap();
        assert_eq!(files(&media), before);
        let left: Vec<_> = fs::read_dir(&media)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(".gnbr-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn only_the_named_paths_are_swapped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("gs");
        write(&dir.join("workspaces/sf/old.xml"), "old");
        write(&dir.join("global.xml"), "kept");
        let mut journal = Journal::begin(tmp.path(), "r", "db", true).unwrap();
        let staging = Staging::begin(TargetFolder::resolve(&dir), &mut journal).unwrap();
        staging.write("workspaces/sf/new.xml", b"new").unwrap();
        staging.write("styles/new.sld", b"new style").unwrap();
        let replace = Replace::Paths(vec!["workspaces".into(), "styles".into()]);
        let ops = staging.plan(&mut journal, &replace).unwrap();
        journal.swap(ops).unwrap();
        journal.commit().unwrap();
        let kept = journal.finish().unwrap().kept;
        assert_eq!(
            files(&dir),
            [
                "global.xml=kept",
                "styles/new.sld=new style",
                "workspaces/sf/new.xml=new"
            ]
        );
        assert_eq!(files(&kept[0]), ["workspaces/sf/old.xml=old"]);
    }
}
