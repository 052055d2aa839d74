//! End-to-end tests: the `gnbr` binary with the plugins cargo built, test
//! plugins built against other interface versions, real zip archives.
//!
//! Run with `cargo test --workspace` (or the README's test command), which
//! builds the `gnbr` binary and the shipped plugins first.

mod backup;
mod browser;
mod cross_version;
mod datastore;
mod docs;
mod fuzz_corpus;
mod geonode;
mod geoserver;
mod geoserver_part;
mod migrate;
mod plugin_loading;
mod reindex;
mod relocate;
mod restore;
mod serve;
mod support;
mod swap;
mod verify;
