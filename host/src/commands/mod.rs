//! The commands, each written as the steps an admin would follow.

pub mod backup;
pub mod check;
pub mod datastore;
pub mod fixture_pass;
pub mod migrate;
pub mod plan;
pub mod planning;
pub mod plugins;
pub mod recovery;
pub mod restore;
pub mod restore_folders;
pub mod restore_geoserver;
pub mod restore_relocate;
pub mod serve;
