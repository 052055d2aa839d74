//! Putting a restore's folders in place so that a crash at any instant
//! leaves the target wholly old or wholly new: content staged beside what
//! it replaces ([`Staging`]), swapped in by renames recorded in a
//! [`Journal`] that the next gnbr run finishes or undoes ([`recover`]), on
//! the database's word.

mod folder;
pub mod interrupted;
mod journal;
mod stage;

pub use folder::{normalize, real_path, Ownership, TargetFolder, GNBR_PREFIX};
pub use journal::{recover, CatalogRecord, Finished, Journal, Op, Target};
pub use stage::{Replace, Staging};
