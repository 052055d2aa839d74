//! Temporary files and folders gnbr works in: private (folders 0700, files
//! 0600: they hold fixtures with password hashes and database data), removed
//! when dropped, and removed too when gnbr is stopped by SIGINT, SIGTERM or
//! SIGHUP ([`install_signal_handler`]).
//!
//! Every such path is registered while it exists. Creating a path and
//! registering it is one step under the registry's lock, and so is removing
//! it and forgetting it; the signal handler takes the same lock and keeps it
//! until gnbr has ended, so no path can be created unregistered, or created
//! again, behind its back. What gnbr makes outside the file system for a
//! while (a throwaway database) is undone by the same handler
//! ([`StopGuard`]).

use std::{
    ffi::CString,
    fs, io,
    os::unix::{ffi::OsStrExt, fs::PermissionsExt},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, MutexGuard, PoisonError,
    },
};

use signal_hook::{
    consts::{SIGHUP, SIGINT, SIGTERM},
    iterator::Signals,
};

use crate::errors::{Error, ErrorKind};

/// The temporary paths that exist now.
static REGISTRY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<PathBuf>> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Work that undoes something gnbr made outside the file system (a
/// throwaway database), by its guard's number.
type Undo = (u64, Box<dyn Fn() + Send>);

/// What a signal must undo besides the temporary paths.
static UNDOS: Mutex<Vec<Undo>> = Mutex::new(Vec::new());

/// The next [`StopGuard`]'s number.
static NEXT_GUARD: AtomicU64 = AtomicU64::new(0);

fn undos() -> MutexGuard<'static, Vec<Undo>> {
    UNDOS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Something gnbr made outside the file system for a while: its undo runs
/// if gnbr is stopped by SIGINT, SIGTERM or SIGHUP while the guard lives;
/// dropping the guard forgets it (the owner undoes it itself).
pub struct StopGuard {
    id: u64,
}

impl StopGuard {
    /// Makes something with `make` and registers `undo` for it, in one
    /// step a signal cannot split (the signal waits, then undoes it). When
    /// `make` fails, `undo` runs at once, for what it may have made before
    /// failing (its child process stopped by the same signal, say).
    ///
    /// # Errors
    ///
    /// What `make` returns; nothing is registered then.
    pub fn create<T>(
        make: impl FnOnce() -> Result<T, Error>,
        undo: impl Fn() + Send + 'static,
    ) -> Result<(T, Self), Error> {
        let mut undos = undos();
        let made = make().inspect_err(|_| undo())?;
        let id = NEXT_GUARD.fetch_add(1, Ordering::Relaxed);
        undos.push((id, Box::new(undo)));
        Ok((made, Self { id }))
    }
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        undos().retain(|(id, _)| *id != self.id);
    }
}

/// A temporary file or folder gnbr created: removed when dropped, or when
/// gnbr is stopped by a signal, unless [`TempPath::keep`] took it over.
#[derive(Debug)]
pub struct TempPath {
    path: PathBuf,
    armed: bool,
}

impl TempPath {
    /// Creates a temporary path with `create`, which returns what it made
    /// and its path, and registers that path, in one step a signal cannot
    /// split.
    ///
    /// # Errors
    ///
    /// What `create` returns.
    pub fn create<T>(
        create: impl FnOnce() -> Result<(T, PathBuf), Error>,
    ) -> Result<(T, Self), Error> {
        let mut paths = registry();
        let (made, path) = create()?;
        paths.push(path.clone());
        Ok((made, Self { path, armed: true }))
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops tracking the path (it took its final name, or is the caller's
    /// to remove); returns it.
    pub fn keep(mut self) -> PathBuf {
        forget(&mut registry(), &self.path);
        self.armed = false;
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if self.armed {
            let mut paths = registry();
            remove(&self.path);
            forget(&mut paths, &self.path);
        }
    }
}

fn forget(paths: &mut Vec<PathBuf>, path: &Path) {
    if let Some(at) = paths.iter().rposition(|p| p == path) {
        paths.swap_remove(at);
    }
}

/// Removes a file or a whole folder, if it is there. Tries again when
/// another thread wrote into the folder while it was being emptied.
fn remove(path: &Path) {
    for _ in 0..10 {
        let removed = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
            Ok(_) => fs::remove_file(path),
            Err(_) => return,
        };
        if removed.is_ok() {
            return;
        }
    }
    tracing::warn!("cannot remove the temporary {}", path.display());
}

/// A new private temporary folder (0700) in the system's temporary folder,
/// whose name starts with `prefix`.
///
/// # Errors
///
/// When the system's temporary folder cannot be written.
pub fn temp_dir(prefix: &str) -> Result<TempPath, Error> {
    TempPath::create(|| {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Run,
                    format!(
                        "cannot create a temporary folder in {}: {e}",
                        std::env::temp_dir().display()
                    ),
                )
                .hint("free space there, or point TMPDIR at a writable folder")
            })?;
        Ok(((), dir.keep()))
    })
    .map(|((), path)| path)
}

/// `path` for `n` = 1, else `<stem>_<n>.<ext>` (`<name>_<n>` without an
/// extension, `<stem>_<n>.zip.age` for an encrypted archive): the names
/// tried, in order, for an output whose name is taken.
pub fn numbered(path: &Path, n: usize) -> PathBuf {
    if n == 1 {
        return path.to_owned();
    }
    if crate::archive::is_encrypted(path) {
        let inner = numbered(&path.with_extension(""), n);
        return PathBuf::from(format!("{}.age", inner.display()));
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    match path.extension() {
        Some(ext) => path.with_file_name(format!("{stem}_{n}.{}", ext.to_string_lossy())),
        None => path.with_file_name(format!("{stem}_{n}")),
    }
}

/// Gives `from` the name `to` unless `to` exists (an error of kind
/// `AlreadyExists`), atomically: a hard link for a file (`from` then has
/// two names), else `renameat2(2)` with `RENAME_NOREPLACE`. On a file
/// system with neither, a folder is renamed (which can only ever replace an
/// empty folder) and a file is refused.
///
/// # Errors
///
/// When `to` exists or the file system refuses.
pub fn place_new(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
        // Folders, and file systems without hard links.
        Err(_) => {}
    }
    let c_from = CString::new(from.as_os_str().as_bytes())?;
    let c_to = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: two valid NUL-terminated paths, relative to the working folder.
    let renamed = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            c_from.as_ptr(),
            libc::AT_FDCWD,
            c_to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if renamed == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS) if from.is_dir() => {
            if to.symlink_metadata().is_ok() {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            fs::rename(from, to)
        }
        Some(libc::EINVAL | libc::ENOSYS) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this file system supports neither hard links nor renames that never replace (use a local file system)",
        )),
        _ => Err(error),
    }
}

/// Makes a folder's entries (names added or removed) durable.
///
/// # Errors
///
/// When the folder cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| {
        Error::new(
            ErrorKind::Run,
            format!("{}: cannot sync the folder: {e}", dir.display()),
        )
    })
}

/// Makes SIGINT, SIGTERM and SIGHUP remove every registered temporary path,
/// then end gnbr by the same signal (so its parent sees, and a shell
/// reports, 130, 143 or 129). Child processes started with
/// `PR_SET_PDEATHSIG` (the Django helper) die with gnbr. Not for `gnbr
/// serve`, which ends on these signals by itself.
///
/// # Errors
///
/// When the handler cannot be installed.
pub fn install_signal_handler() -> Result<(), Error> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(|e| {
        Error::new(
            ErrorKind::Run,
            format!("cannot install gnbr's signal handler: {e}"),
        )
    })?;
    std::thread::Builder::new()
        .name("gnbr-signals".to_owned())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // Held until gnbr ends: nothing is created or registered after the cleanup.
                let undos = undos();
                let paths = registry();
                for path in paths.iter() {
                    remove(path);
                }
                for (_, undo) in undos.iter() {
                    undo();
                }
                eprintln!(
                    "gnbr: stopped by {}; its temporary files were removed",
                    signal_name(signal)
                );
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        })
        .map_err(|e| {
            Error::new(
                ErrorKind::Run,
                format!("cannot start gnbr's signal handler: {e}"),
            )
        })?;
    Ok(())
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "SIGHUP",
    }
}

/// Ends gnbr with `code` once no signal handler is cleaning up (that one
/// ends gnbr itself), removing any temporary path still registered.
pub fn exit(code: i32) -> ! {
    let paths = registry();
    for path in paths.iter() {
        remove(path);
    }
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::{registry, temp_dir, undos, StopGuard};
    use crate::errors::{Error, ErrorKind};

    #[test]
    fn an_undo_is_registered_when_made_run_when_not_and_forgotten_with_its_guard() {
        let count = || undos().len();
        let before = count();
        let (sender, undone) = std::sync::mpsc::channel();
        let failed = StopGuard::create(
            || Err::<(), _>(Error::new(ErrorKind::Run, "not made")),
            move || sender.send(()).unwrap(),
        );
        assert!(failed.is_err());
        assert!(undone.try_recv().is_ok(), "what it may have made is undone");
        assert_eq!(count(), before, "nothing made, nothing registered");
        let ((), guard) = StopGuard::create(|| Ok(()), || {}).unwrap();
        assert_eq!(count(), before + 1);
        drop(guard);
        assert_eq!(count(), before);
    }

    #[test]
    fn a_temporary_folder_is_private_registered_and_removed_when_dropped() {
        let dir = temp_dir("gnbr-test-").unwrap();
        let path = dir.path().to_owned();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(registry().contains(&path));
        std::fs::create_dir(path.join("sub")).unwrap();
        std::fs::write(path.join("sub/file"), "x").unwrap();
        drop(dir);
        assert!(!path.exists());
        assert!(!registry().contains(&path));

        let kept = temp_dir("gnbr-test-").unwrap().keep();
        assert!(kept.is_dir() && !registry().contains(&kept));
        std::fs::remove_dir(kept).unwrap();
    }
}
