//! The commands, each written as the steps an admin would follow: each
//! takes its request ([`crate::requests`]) and calls the services and
//! primitives below it, never another command. `gnbr serve` is the admin
//! page's own ([`crate::web::run`]), which starts these commands.

pub mod backup;
pub mod backups;
pub mod check;
pub mod migrate;
pub mod plan;
pub mod plugins;
pub mod prune;
pub mod restore;
pub mod verify;
