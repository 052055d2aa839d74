//! The scheduler inside `gnbr serve`: every few seconds it looks at each
//! definition's schedule ([`crate::schedule::due`]), records the scheduled
//! runs that were missed, and starts the due backup through the same path
//! as "Run the Backup". A due run waits (stored, so a restart keeps it)
//! while another run goes on, and starts when it ends.

use std::{
    sync::{Condvar, Mutex, PoisonError},
    thread::JoinHandle,
    time::Duration,
};

use super::{
    now,
    store::{Backup, SCHEDULER},
    App,
};
use crate::{
    errors::{Error, ErrorKind},
    schedule::{due, Schedule},
    time::{format_utc, parse_utc},
    ui::plural,
};

/// The test hook that stops the scheduler's clock at a UTC time
/// (`YYYY-MM-DDTHH:MM:SSZ`): read by `gnbr serve` only.
pub const TEST_NOW_ENV: &str = "GNBR_TEST_NOW";

/// How often the scheduler looks.
const LOOK_EVERY: Duration = Duration::from_secs(15);

/// The scheduler's clock, its thread, and what stops it.
pub(super) struct Scheduler {
    /// `GNBR_TEST_NOW`, when set: the scheduler's time stands still there.
    fixed_now: Option<i64>,
    /// Set when `gnbr serve` stops; held while the scheduler looks.
    stopped: Mutex<bool>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Scheduler {
    /// A scheduler on the system clock, or on `GNBR_TEST_NOW`'s.
    ///
    /// # Errors
    ///
    /// When `GNBR_TEST_NOW` is set but not a UTC time.
    pub(super) fn from_env() -> Result<Self, Error> {
        let fixed_now = match std::env::var(TEST_NOW_ENV) {
            Ok(text) => Some(parse_utc(text.trim()).ok_or_else(|| {
                Error::new(
                    ErrorKind::Usage,
                    format!("{TEST_NOW_ENV} is `{text}`, not a UTC time"),
                )
                .hint("unset it (it is a test hook), or set it as 2026-12-03T02:30:00Z")
            })?),
            Err(_) => None,
        };
        Ok(Self {
            fixed_now,
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        })
    }
}

impl App {
    /// The scheduler's time: seconds since the epoch.
    pub(super) fn schedule_now(&self) -> i64 {
        self.scheduler.fixed_now.unwrap_or_else(now)
    }

    /// Starts the scheduler's thread, which looks at once, then every few seconds.
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub(super) fn start_scheduler(self: &std::sync::Arc<Self>) -> Result<(), Error> {
        let app = self.clone();
        let thread = std::thread::Builder::new()
            .name("gnbr-scheduler".to_owned())
            .spawn(move || app.run_scheduler())
            .map_err(|e| Error::new(ErrorKind::Run, format!("cannot start the scheduler: {e}")))?;
        *lock(&self.scheduler.thread) = Some(thread);
        Ok(())
    }

    /// Stops the scheduler and waits for its thread: no scheduled run
    /// starts after this returns.
    pub(super) fn stop_scheduler(&self) {
        *lock(&self.scheduler.stopped) = true;
        self.scheduler.wake.notify_all();
        if let Some(thread) = lock(&self.scheduler.thread).take() {
            if thread.join().is_err() {
                tracing::error!("the scheduler's thread ended unexpectedly");
            }
        }
    }

    fn run_scheduler(&self) {
        let mut stopped = lock(&self.scheduler.stopped);
        while !*stopped {
            self.look(self.schedule_now());
            stopped = self
                .scheduler
                .wake
                .wait_timeout(stopped, LOOK_EVERY)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Looks at every definition's schedule at `now`.
    pub(super) fn look(&self, now: i64) {
        let backups = match self.store().backups() {
            Ok(backups) => backups,
            Err(e) => {
                tracing::error!("the scheduler cannot read the backups: {e}");
                return;
            }
        };
        for backup in backups.iter().filter(|b| b.schedule.is_some()) {
            if let Err(e) = self.look_at(backup, now) {
                tracing::error!("the schedule of `{}`: {e}", backup.name);
            }
        }
    }

    /// Records what `backup`'s schedule missed until `now`, and starts its
    /// due run unless another run is going on (then it waits).
    fn look_at(&self, backup: &Backup, now: i64) -> Result<(), Error> {
        let Some(text) = &backup.schedule else {
            return Ok(());
        };
        let schedule = Schedule::parse(text)?;
        let mut pending = backup.schedule_pending;
        if let Some(checked) = backup.schedule_checked {
            let due = due(&schedule, checked, now);
            if let Some(first) = due.first_missed {
                let why = if due.catch_up {
                    "gnbr serve was not running at those times (or the machine slept); one catch-up run replaces them"
                } else {
                    "they came due within one look of the scheduler, and a schedule runs once at a time"
                };
                let message = format!(
                    "missed {} since {} UTC (schedule `{}`, UTC): {why}",
                    plural(due.missed, "scheduled run"),
                    shown(first),
                    schedule.text()
                );
                tracing::warn!("`{}`: {message}", backup.name);
                self.store()
                    .record_missed(backup, (due.missed, first), &message, now)?;
            }
            if let Some(at) = due.run_now {
                match pending {
                    Some(waiting) => {
                        let message = format!(
                            "missed 1 scheduled run since {} UTC (schedule `{}`, UTC): the run due at {} UTC was still waiting for another run to end",
                            shown(at),
                            schedule.text(),
                            shown(waiting)
                        );
                        self.store().record_missed(backup, (1, at), &message, now)?;
                    }
                    None => pending = Some(at),
                }
                if let (Some(other), None) = (self.current(), backup.schedule_pending) {
                    tracing::info!(
                        "the scheduled backup of `{}` due at {} UTC waits for run #{other} to end",
                        backup.name,
                        shown(at)
                    );
                }
            }
        }
        if let Some(at) = pending.filter(|_| self.current().is_none()) {
            let note = format!(
                "scheduled run (schedule `{}`, UTC) for {} UTC",
                schedule.text(),
                shown(at)
            );
            match self.start_backup(backup, SCHEDULER, Some(note)) {
                Ok(id) => {
                    tracing::info!("run #{id}: the scheduled backup of `{}`", backup.name);
                    pending = None;
                }
                Err(e) if e.kind == ErrorKind::Refused => {}
                Err(e) => tracing::error!(
                    "cannot start the scheduled backup of `{}`: {e}",
                    backup.name
                ),
            }
        }
        self.store().schedule_looked(backup.id, now, pending)
    }
}

/// A time as the log and the runs list say it: `YYYY-MM-DD HH:MM:SS`.
fn shown(epoch: i64) -> String {
    format_utc(epoch).replace('T', " ")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
