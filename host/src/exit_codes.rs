//! gnbr's exit codes, one constant each; scripts may rely on them.

/// Everything asked for was done.
pub const SUCCESS: i32 = 0;
/// The run failed part way (a plugin call, a write); its output was not left behind.
pub const RUN_FAILED: i32 = 1;
/// The command line or settings.ini is wrong.
pub const USAGE: i32 = 2;
/// A plugin could not be loaded, is unknown, or no plugin chain fits the versions.
pub const PLUGIN: i32 = 3;
/// The backup is damaged or malformed (checksums, layout, fixtures).
pub const INPUT: i32 = 4;
/// The target cannot be reached or is not ready.
pub const TARGET: i32 = 5;
/// The admin declined, or a safety check refused the run.
pub const REFUSED: i32 = 6;
/// Golden cases ran and some failed (`gnbr plugins test`).
pub const CASES_FAILED: i32 = 7;
/// The run was cancelled and what it had begun undone (a run of `gnbr
/// serve` cancelled on its page, or by stopping the server: its error's
/// `exit_code`); 128 + SIGINT, what a shell shows for a command stopped by Ctrl-C.
pub const CANCELLED: i32 = 130;
