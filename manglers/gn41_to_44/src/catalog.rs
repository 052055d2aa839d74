//! What GeoNode 4.4.5's `migrate` adds to a 4.1.5 database, as fixture facts.

use mangler_api::geonode::DjangoModel;

/// The four content types 4.4.5 adds, in the order `migrate` creates them
/// when some resource has files: `assets.localasset` first (migration
/// `base.0092` saves the first asset, and django-polymorphic creates its
/// content type on the spot), then the rest at `post_migrate`, app by app
/// in `INSTALLED_APPS` order (`base`, `geonode_mapstore_client`, `assets`).
pub const NEW_MODELS: [DjangoModel; 4] = [
    DjangoModel::new("assets", "localasset", "local asset"),
    DjangoModel::new("base", "linkedresource", "linked resource"),
    DjangoModel::new("geonode_mapstore_client", "searchservice", "Search Service"),
    DjangoModel::new("assets", "asset", "asset"),
];

/// The order `post_migrate` creates the permissions of [`NEW_MODELS`] in
/// (indexes into it): app by app, each app's models in definition order,
/// so `assets.asset` comes before `assets.localasset`.
pub const PERMISSION_ORDER: [usize; 4] = [1, 2, 3, 0];

/// Migration `base.0092`: the title of the asset made of a resource's files.
pub const ASSET_TITLE: &str = "Files";

/// Migration `base.0092`: its description.
pub const ASSET_DESCRIPTION: &str = "Original uploaded files";

/// Migration `base.0092`: the link to the asset (`link_type`, `name`).
pub const ASSET_LINK_TYPE: &str = "uploaded";

/// Migration `base.0092`: the link's name.
pub const ASSET_LINK_NAME: &str = "Original upload";

/// Migration `base.0094`: the restriction code type it repairs, by its old identifier.
pub const OTHER_RESTRICTIONS_OLD: &str = "limitation not listed";

/// Migration `base.0094`: the identifier it gets.
pub const OTHER_RESTRICTIONS: &str = "otherRestrictions";

/// GeoNode 4.4.5's `SUPPORTED_DATASET_FILE_TYPES` as migration `base.0092`
/// reads them: each type's id and extensions, in the settings' order.
pub const DATASET_FILE_TYPES: [(&str, &[&str]); 6] = [
    ("shp", &["shp"]),
    ("tiff", &["tiff", "tif", "geotiff", "geotif"]),
    ("csv", &["csv"]),
    ("zip", &["zip"]),
    ("xml", &["xml"]),
    ("sld", &["sld"]),
];

/// Python's `os.path.splitext(path)[1][1:]`: the extension of the last
/// path component without its dot; a leading dot (`.bashrc`) is no extension.
pub fn extension(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem_start = name.len() - name.trim_start_matches('.').len();
    match name[stem_start..].rfind('.') {
        Some(dot) => &name[stem_start + dot + 1..],
        None => "",
    }
}

/// The `extension` of the link migration `base.0092` makes for these
/// files: one file's own extension; of several, the type id of the first
/// file whose extension a supported dataset type lists; else `unknown`.
pub fn link_extension(files: &[String]) -> String {
    let found = match files {
        [one] => Some(extension(one).to_owned()),
        _ => files.iter().find_map(|file| {
            let ext = extension(file);
            DATASET_FILE_TYPES
                .iter()
                .find(|(_, exts)| exts.contains(&ext))
                .map(|(id, _)| (*id).to_owned())
        }),
    };
    found
        .filter(|ext| !ext.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_follow_python_splitext() {
        // Expected values of CPython 3.11's os.path.splitext(p)[1][1:].
        assert_eq!(extension("/m/documents/document/a.pdf"), "pdf");
        assert_eq!(extension("/m/a.tar.gz"), "gz");
        assert_eq!(extension("/m/.bashrc"), "");
        assert_eq!(extension("/m/..x.y"), "y");
        assert_eq!(extension("/m.d/readme"), "");
        assert_eq!(extension("/m/a."), "");
    }

    #[test]
    fn link_extensions_follow_the_migration() {
        let files = |list: &[&str]| list.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>();
        assert_eq!(link_extension(&files(&["/m/a.PDF"])), "PDF");
        assert_eq!(link_extension(&files(&["/m/readme"])), "unknown");
        assert_eq!(
            link_extension(&files(&["/m/a.dbf", "/m/a.prj", "/m/a.shp", "/m/a.shx"])),
            "shp"
        );
        assert_eq!(link_extension(&files(&["/m/a.xml", "/m/a.tif"])), "xml");
        assert_eq!(link_extension(&files(&["/m/a.dbf", "/m/a.prj"])), "unknown");
    }
}
