//! `gnbr serve`: the admin web page (being built).

use crate::{
    cli::{GlobalArgs, ServeArgs},
    errors::{Error, ErrorKind},
    ui::Ui,
};

/// Runs the admin web page until stopped.
///
/// # Errors
///
/// Always, until the page lands.
pub fn run(args: &ServeArgs, _global: &GlobalArgs, _ui: Ui) -> Result<i32, Error> {
    Err(Error::new(
        ErrorKind::Usage,
        format!(
            "gnbr serve on {} is not available in this build yet",
            args.listen
        ),
    ))
}
