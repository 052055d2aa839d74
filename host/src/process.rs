//! The child processes gnbr starts (Django's helper, `pg_dump`, `psql`):
//! each dies with gnbr, and gnbr can tell when one has died.

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

/// Whether gnbr's child `pid` has exited, without reaping it (its
/// `wait` still gets the status): a reader waiting for that child to
/// open a FIFO stops waiting when it never will.
pub fn has_exited(pid: u32) -> bool {
    loop {
        // SAFETY: waitid fills `info`, zeroed here; WNOWAIT leaves the
        // child unreaped, WNOHANG returns at once.
        let (status, info) = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let status = libc::waitid(
                libc::P_PID,
                pid,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            (status, info)
        };
        if status == 0 {
            // SAFETY: si_pid is set by a successful waitid, 0 while running.
            return unsafe { info.si_pid() } != 0;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // ECHILD: not (or no longer) a child that could still write.
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::has_exited;

    #[test]
    fn a_child_is_seen_to_exit_and_can_still_be_waited_for() {
        let mut running = std::process::Command::new("sleep")
            .arg("3600")
            .spawn()
            .unwrap();
        assert!(!has_exited(running.id()));
        running.kill().unwrap();
        let mut done = std::process::Command::new("true").spawn().unwrap();
        while !has_exited(done.id()) {
            std::thread::yield_now();
        }
        assert!(done.wait().unwrap().success(), "still unreaped");
        assert!(!running.wait().unwrap().success());
    }
}
