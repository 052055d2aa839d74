//! Cancelling a run of `gnbr serve`: the admin page's Cancel, or the
//! server stopping while a run goes on.
//!
//! A run's thread does its work inside [`Cancel::run`]. The work
//! [`check`]s at its stage boundaries and in its long loops (fixtures,
//! files, tables); the child processes it starts (Django's helper,
//! `pg_dump`, `psql`) are [`watch`]ed, and cancelling kills them, so that
//! a run waiting on one stops waiting. A cancelled run's next check
//! returns an error of kind [`ErrorKind::Cancelled`], which takes the run's
//! usual failure path: a backup's temporary archive is removed, a
//! restore's transaction rolled back and its swap undone by its journal,
//! temporary folders removed. Undoing is [`shielded`]: it is never cut
//! short. Past [`final_step`] (a restore's commit) a run can no longer be
//! cancelled, and the cancel is refused with the reason.
//!
//! Outside a run (the command line, whose Ctrl-C has its own handler in
//! [`crate::scratch`]) every check passes and nothing is watched.

use std::{
    cell::{Cell, RefCell},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    process::Child,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
};

use crate::errors::{Error, ErrorKind};

/// What cancels one run, shared by the run's thread and whoever cancels it.
#[derive(Default)]
pub struct Cancel {
    /// Set once the run is cancelled: what the checks read.
    cancelled: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    state: State,
    /// The child processes the run started outside a shield and that may
    /// still run, as pidfds: killing one that has ended and been reaped
    /// cannot reach another process that took its pid.
    children: Vec<OwnedFd>,
}

#[derive(Default, Clone)]
enum State {
    #[default]
    Running,
    /// Cancelled by whom, as the error names them.
    Cancelled(String),
    /// Past its final step: why it can no longer be cancelled.
    Final(String),
}

thread_local! {
    /// The run this thread does.
    static CURRENT: RefCell<Option<Arc<Cancel>>> = const { RefCell::new(None) };
    /// How many [`shielded`] sections this thread is in.
    static SHIELDS: Cell<u32> = const { Cell::new(0) };
}

impl Cancel {
    /// A run not cancelled yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Cancels the run (`by`: who, as the run's error names them, e.g.
    /// "`admin`"): the child processes it waits on are killed, and its
    /// next check fails. Returns whether this call cancelled it (false:
    /// it was cancelled already).
    ///
    /// # Errors
    ///
    /// Why it can no longer be cancelled, when it is past its final step.
    pub fn cancel(&self, by: &str) -> Result<bool, String> {
        let mut inner = self.lock();
        match &inner.state {
            State::Final(why) => return Err(why.clone()),
            State::Cancelled(_) => return Ok(false),
            State::Running => {}
        }
        inner.state = State::Cancelled(by.to_owned());
        self.cancelled.store(true, Ordering::SeqCst);
        for child in inner.children.drain(..) {
            kill(&child);
        }
        Ok(true)
    }

    /// Who cancelled the run, if it was.
    pub fn cancelled_by(&self) -> Option<String> {
        match &self.lock().state {
            State::Cancelled(by) => Some(by.clone()),
            _ => None,
        }
    }

    /// Does `work` on this thread as the run this cancels.
    pub fn run<T>(self: &Arc<Self>, work: impl FnOnce() -> T) -> T {
        struct Restore(Option<Arc<Cancel>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.set(self.0.take());
            }
        }
        let _restore = Restore(CURRENT.replace(Some(self.clone())));
        work()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The run this thread does, unless there is none or undoing is shielded.
fn current() -> Option<Arc<Cancel>> {
    if SHIELDS.get() > 0 {
        return None;
    }
    CURRENT.with_borrow(Clone::clone)
}

/// The error of a run cancelled by `by`.
fn cancelled(by: &str) -> Error {
    Error::new(ErrorKind::Cancelled, format!("cancelled by {by}"))
}

/// Checks whether the run this thread does was cancelled.
///
/// # Errors
///
/// Of kind [`ErrorKind::Cancelled`], naming who cancelled it.
pub fn check() -> Result<(), Error> {
    let Some(run) = current().filter(|run| run.cancelled.load(Ordering::SeqCst)) else {
        return Ok(());
    };
    match run.cancelled_by() {
        Some(by) => Err(cancelled(&by)),
        None => Ok(()),
    }
}

/// A named point of a run: a fault-injection point ([`crate::fault`]),
/// then a [`check`].
///
/// # Errors
///
/// As [`check`].
pub fn checkpoint(name: &str) -> Result<(), Error> {
    crate::fault::point(name);
    check()
}

/// Whether the run this thread does was cancelled.
pub fn requested() -> bool {
    current().is_some_and(|run| run.cancelled.load(Ordering::SeqCst))
}

/// Passes the run's point of no return: from here on, cancelling it is
/// refused with `why`.
///
/// # Errors
///
/// As [`check`], when it was cancelled before.
pub fn final_step(why: &str) -> Result<(), Error> {
    let Some(run) = current() else {
        return Ok(());
    };
    let mut inner = run.lock();
    match &inner.state {
        State::Cancelled(by) => Err(cancelled(by)),
        _ => {
            inner.state = State::Final(why.to_owned());
            Ok(())
        }
    }
}

/// `error`, a child process's failure, or the cancellation when the run
/// was cancelled (which killed the child).
pub fn or_cancelled(error: Error) -> Error {
    match current().and_then(|run| run.cancelled_by()) {
        Some(by) => {
            tracing::debug!("after the cancel: {error}");
            cancelled(&by)
        }
        None => error,
    }
}

/// Kills `child` when the run this thread does is cancelled (at once
/// when it is already). The caller reaps it as usual.
pub fn watch(child: &Child) {
    let Some(run) = current() else {
        return;
    };
    let Some(fd) = pidfd(child.id()) else {
        return;
    };
    let mut inner = run.lock();
    match inner.state {
        State::Running => {
            inner.children.retain(|fd| !ended(fd));
            inner.children.push(fd);
        }
        State::Cancelled(_) => kill(&fd),
        State::Final(_) => {}
    }
}

/// Does `work`, an undo, without being cut short: its checks pass and the
/// children it starts are not killed by a cancel.
pub fn shielded<T>(work: impl FnOnce() -> T) -> T {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            SHIELDS.set(SHIELDS.get() - 1);
        }
    }
    SHIELDS.set(SHIELDS.get() + 1);
    let _leave = Leave;
    work()
}

/// A pidfd of the child `pid`, which its owner has not reaped yet; `None`
/// when the kernel has none (before Linux 5.3): the child is then not
/// killed by a cancel, which the run sees once the child ends.
fn pidfd(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open(2) with a pid and no flags returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    match i32::try_from(fd) {
        // SAFETY: a new fd of ours, owned from here on.
        Ok(fd) if fd >= 0 => Some(unsafe { OwnedFd::from_raw_fd(fd) }),
        _ => {
            tracing::debug!(
                "no pidfd for child {pid} ({}): a cancel will not stop it",
                std::io::Error::last_os_error()
            );
            None
        }
    }
}

/// SIGKILLs the process of a pidfd (nothing when it has ended).
fn kill(fd: &OwnedFd) {
    // SAFETY: pidfd_send_signal(2) on a pidfd we own, no siginfo, no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

/// Whether the process of a pidfd has ended (its pidfd reads as ready).
fn ended(fd: &OwnedFd) -> bool {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    unsafe { libc::poll(&mut poll, 1, 0) > 0 }
}

#[cfg(test)]
mod tests {
    use std::{
        os::unix::process::ExitStatusExt,
        process::{Command, Stdio},
    };

    use super::{check, final_step, or_cancelled, shielded, watch, Cancel};
    use crate::errors::{Error, ErrorKind};

    fn sleeper() -> std::process::Child {
        Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    #[test]
    fn checks_pass_outside_a_run_and_until_it_is_cancelled() {
        assert!(check().is_ok());
        let cancel = Cancel::new();
        cancel.run(|| {
            assert!(check().is_ok());
            assert_eq!(cancel.cancel("`admin`"), Ok(true));
            assert_eq!(cancel.cancel("`other`"), Ok(false), "once");
            let error = check().unwrap_err();
            assert_eq!(error.kind, ErrorKind::Cancelled);
            assert_eq!(error.message, "cancelled by `admin`");
            assert!(shielded(check).is_ok(), "undoing is not cut short");
            let failed = Error::new(ErrorKind::Target, "psql was killed");
            assert_eq!(or_cancelled(failed).kind, ErrorKind::Cancelled);
        });
        assert!(check().is_ok(), "the run ended");
    }

    #[test]
    fn past_its_final_step_a_run_cannot_be_cancelled() {
        let cancel = Cancel::new();
        cancel.run(|| {
            final_step("the restore is committing").unwrap();
            assert_eq!(
                cancel.cancel("`admin`"),
                Err("the restore is committing".to_owned())
            );
            assert!(check().is_ok());
        });
        let cancelled = Cancel::new();
        cancelled.run(|| {
            cancelled.cancel("`admin`").unwrap();
            assert_eq!(final_step("late").unwrap_err().kind, ErrorKind::Cancelled);
        });
    }

    #[test]
    fn cancelling_kills_the_children_watched_but_not_a_shielded_undo() {
        let cancel = Cancel::new();
        let (mut waited_on, mut undo) = cancel.run(|| {
            let child = sleeper();
            watch(&child);
            let undo = shielded(|| {
                let undo = sleeper();
                watch(&undo);
                undo
            });
            (child, undo)
        });
        let canceller = cancel.clone();
        std::thread::spawn(move || canceller.cancel("`admin`"))
            .join()
            .unwrap()
            .unwrap();
        let status = waited_on.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(undo.try_wait().unwrap().is_none(), "the undo goes on");
        undo.kill().unwrap();
        undo.wait().unwrap();

        let mut late = cancel.run(|| {
            let child = sleeper();
            watch(&child);
            child
        });
        assert_eq!(
            late.wait().unwrap().signal(),
            Some(libc::SIGKILL),
            "a child started after the cancel is killed at once"
        );
    }
}
