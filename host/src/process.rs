//! The child processes gnbr starts (Django's helper, `pg_dump`, `psql`):
//! each dies with gnbr.

use std::process::Command;

/// Makes the child die with gnbr: a killed gnbr must not leave a load
/// running that could still commit, nor a dump holding its locks.
pub fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches only the child.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}
