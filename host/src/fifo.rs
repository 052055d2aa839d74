//! FIFOs between gnbr and the helpers it runs: Django's `dumpdata` writes
//! a backup's fixtures into FIFOs gnbr reads ([`open_for_reading`]), and
//! gnbr serves a restore's sealed fixtures to Django's `loaddata` through
//! FIFOs, decrypted as they are written ([`serve`]): what goes through a
//! FIFO is never on disk.

use std::{
    ffi::CString,
    fs::{self, File},
    io::{self, Read},
    os::{
        fd::AsRawFd,
        unix::{ffi::OsStrExt, fs::OpenOptionsExt},
    },
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError,
    },
    thread::JoinHandle,
    time::Duration,
};

use crate::errors::{Error, ErrorKind};

/// Opens the FIFO `path` for reading once its writer opened it, or fails
/// when the run is cancelled or the writer exited first (`writer_exited`):
/// a writer that died before it opened the FIFO would leave a blocking
/// open waiting forever (an [`io::ErrorKind::UnexpectedEof`] error).
pub fn open_for_reading(path: &Path, writer_exited: &dyn Fn() -> bool) -> io::Result<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let fd = file.as_raw_fd();
    loop {
        // Asked before the poll: a writer gone by then has either opened
        // the FIFO (the poll sees it) or never will.
        let exited = writer_exited();
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd. A FIFO no writer has opened yet is not
        // ready; it is once one has (data, or its end).
        let ready = unsafe { libc::poll(&mut poll, 1, if exited { 0 } else { 200 }) };
        if ready > 0 {
            break;
        }
        let error = io::Error::last_os_error();
        if ready < 0 && error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
        if crate::cancel::requested() {
            return Err(io::Error::other("the run was cancelled"));
        }
        if exited && ready == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "its writer exited before it opened it",
            ));
        }
    }
    clear_nonblocking(&file)?;
    Ok(file)
}

/// Makes the FIFO `path` (0600).
///
/// # Errors
///
/// When it cannot be created (its name taken, its folder not writable).
pub fn make(path: &Path) -> Result<(), Error> {
    mkfifo(path).map_err(|e| {
        Error::new(
            ErrorKind::Run,
            format!("cannot create {}: {e}", path.display()),
        )
    })
}

fn mkfifo(path: &Path) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes()).expect("a temporary path has no NUL");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Puts a new FIFO in the place of `path`: whoever opens `path` from now
/// on gets the new one, while a reader of the old one sees its end when
/// its writer closes it, never the next reader's content.
fn renew(path: &Path) -> io::Result<()> {
    let mut next = path.as_os_str().to_owned();
    next.push(".next");
    let next = PathBuf::from(next);
    mkfifo(&next)?;
    fs::rename(&next, path)
}

/// How long [`serve`] waits between looks for a reader.
const READER_POLL: Duration = Duration::from_millis(5);

/// What each FIFO of [`serve`] gives: the content of the FIFO at that index.
pub type Content = dyn Fn(usize) -> io::Result<Box<dyn Read + Send>> + Send;

/// FIFOs being served by a thread of gnbr's, until this is dropped.
pub struct Served {
    stop: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Served {
    /// The first failure to give a FIFO its content (its content could not
    /// be read), if any: its reader then saw its content cut short.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves the FIFOs `fifos` on a thread of gnbr's: whenever a reader has
/// one open, puts a new FIFO in its place (for the next reader), writes
/// this reader `content` of its index to the end and closes it; as often
/// as it is opened (a reader may read a file twice), until the [`Served`]
/// returned is dropped. A reader that goes away early ends that one
/// write; nothing waits for a reader that never comes.
pub fn serve(fifos: Vec<PathBuf>, content: Box<Content>) -> Served {
    let stop = Arc::new(AtomicBool::new(false));
    let failure = Arc::new(Mutex::new(None));
    let thread = {
        let (stop, failure) = (stop.clone(), failure.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let mut served = false;
                for (index, fifo) in fifos.iter().enumerate() {
                    let Some(opened) = writer_for_reader(fifo) else {
                        continue;
                    };
                    served |= opened.is_ok();
                    // Closed only after a failure is recorded: the reader
                    // sees the end, and then may ask for the failure.
                    let mut out = None;
                    let written = opened.and_then(|file| {
                        let out = out.insert(file);
                        renew(fifo)?;
                        io::copy(&mut content(index)?, out)
                    });
                    match written {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                            tracing::debug!("{}: its reader went away: {e}", fifo.display());
                        }
                        Err(e) => {
                            let mut first = failure.lock().unwrap_or_else(PoisonError::into_inner);
                            first.get_or_insert_with(|| format!("{}: {e}", fifo.display()));
                        }
                    }
                    drop(out);
                }
                if !served {
                    std::thread::sleep(READER_POLL);
                }
            }
        })
    };
    Served {
        stop,
        failure,
        thread: Some(thread),
    }
}

/// The FIFO `path` opened for writing when a reader has it open (its
/// writes then block as usual), `None` while none has.
fn writer_for_reader(path: &Path) -> Option<io::Result<File>> {
    let file = match fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return None,
        Err(e) => return Some(Err(e)),
    };
    Some(clear_nonblocking(&file).map(|()| file))
}

/// Makes reads and writes of `file` wait again.
fn clear_nonblocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl(2) on our own open fd, clearing O_NONBLOCK.
    let cleared = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
    };
    if cleared {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::{make, open_for_reading, serve};
    use std::io::{Read, Write};

    #[test]
    fn a_fifo_whose_writer_died_unopened_is_an_error_not_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("1.fifo");
        make(&fifo).unwrap();
        let error = open_for_reading(&fifo, &|| true).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
    }

    #[test]
    fn a_fifo_written_by_a_writer_now_gone_is_still_read() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("1.fifo");
        make(&fifo).unwrap();
        // The writer is gone only once it has written and closed the FIFO.
        let gone = Arc::new(AtomicBool::new(false));
        let reader = {
            let (fifo, gone) = (fifo.clone(), gone.clone());
            std::thread::spawn(move || {
                let mut file = open_for_reading(&fifo, &|| gone.load(Ordering::SeqCst)).unwrap();
                let mut text = String::new();
                file.read_to_string(&mut text).unwrap();
                text
            })
        };
        // Opening for writing waits for the reader's open.
        let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        writer.write_all(b"[]").unwrap();
        drop(writer);
        gone.store(true, Ordering::SeqCst);
        assert_eq!(reader.join().unwrap(), "[]");
    }

    #[test]
    fn a_served_fifo_gives_its_content_each_time_it_is_read_and_none_waits() {
        let dir = tempfile::tempdir().unwrap();
        let fifos: Vec<_> = ["a.json", "b.json", "never.json"]
            .iter()
            .map(|name| dir.path().join(name))
            .collect();
        for fifo in &fifos {
            make(fifo).unwrap();
        }
        let served = serve(
            fifos.clone(),
            Box::new(|index| {
                let text = format!("[{index}]").repeat(100_000);
                Ok(Box::new(std::io::Cursor::new(text)) as Box<dyn Read + Send>)
            }),
        );
        // Each read whole, once: compared by length and ends (a failure
        // would otherwise print them whole).
        let read = |path: &std::path::Path| {
            let text = std::fs::read_to_string(path).unwrap();
            (
                text.len(),
                text[..3].to_owned(),
                text[text.len() - 3..].to_owned(),
            )
        };
        let whole = |n: &str| (300_000, format!("[{n}]"), format!("[{n}]"));
        assert_eq!(read(&fifos[1]), whole("1"));
        assert_eq!(read(&fifos[0]), whole("0"));
        assert_eq!(read(&fifos[1]), whole("1"), "read again");
        // A reader that stops early does not stop the others.
        let mut head = [0; 3];
        std::fs::File::open(&fifos[0])
            .unwrap()
            .read_exact(&mut head)
            .unwrap();
        assert_eq!(&head, b"[0]");
        assert_eq!(read(&fifos[0]), whole("0"));
        assert_eq!(served.failure(), None);
        // Dropped with a FIFO never opened: nothing waits for its reader.
        drop(served);
    }

    #[test]
    fn content_that_cannot_be_read_is_a_failure_and_cuts_the_fifo_short() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("a.json");
        make(&fifo).unwrap();
        let served = serve(
            vec![fifo.clone()],
            Box::new(|_| Err(std::io::Error::other("cannot decrypt"))),
        );
        assert_eq!(std::fs::read_to_string(&fifo).unwrap(), "");
        let failure = served.failure().unwrap();
        assert!(failure.contains("a.json: cannot decrypt"), "{failure}");
    }
}
