//! Probing a plugin file in a short-lived child process before this process
//! opens it: a library whose constructor aborts, segfaults, exits or hangs
//! takes down the child, not gnbr, and is reported as a plugin problem
//! naming the file.
//!
//! The child is gnbr itself (`gnbr __probe-plugin PATH`, a hidden command):
//! it loads the file exactly as a run would and prints its verdict. Verdicts
//! are cached by the file's path, size and modification time (and this gnbr
//! executable's), so each library is probed once until it changes.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    os::unix::{fs::MetadataExt, process::ExitStatusExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::{discovery::name_from_file, LoadProblem};

/// The hidden command that probes one file.
pub const PROBE_COMMAND: &str = "__probe-plugin";

/// How long a library may take to load in the child.
const PROBE_DEADLINE: Duration = Duration::from_secs(30);

/// The child's first line, before it opens the library: an executable that
/// does not print it (a test harness) cannot probe.
const STARTED: &str = "gnbr-probe: started";

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The library loaded and described itself: safe to open here.
    Loads,
    /// The library is not a usable plugin, or it killed the child.
    Refused {
        /// The plugin's name, or the one its file name suggests.
        plugin: String,
        /// What is wrong.
        message: String,
    },
}

impl Verdict {
    /// The verdict as a [`LoadProblem`] for `path`, when it refuses.
    pub fn problem(&self, path: &Path) -> Option<LoadProblem> {
        match self {
            Verdict::Loads => None,
            Verdict::Refused { plugin, message } => Some(LoadProblem {
                path: path.to_owned(),
                plugin: plugin.clone(),
                message: message.clone(),
            }),
        }
    }
}

/// The child's side: loads `path` as a run would and prints the verdict.
/// Returns the exit code (0: a verdict was printed).
pub fn run_child(path: &Path) -> i32 {
    let mut out = std::io::stdout().lock();
    // Said before the library runs any code, so that the parent knows this
    // executable probes even when the library then ends the process.
    if writeln!(out, "{STARTED}")
        .and_then(|()| out.flush())
        .is_err()
    {
        return crate::exit_codes::RUN_FAILED;
    }
    let verdict = match super::load::load(path) {
        Ok(_) => Verdict::Loads,
        Err(problem) => Verdict::Refused {
            plugin: problem.plugin,
            message: problem.message,
        },
    };
    match serde_json::to_string(&verdict) {
        Ok(line) if writeln!(out, "{line}").and_then(|()| out.flush()).is_ok() => {
            crate::exit_codes::SUCCESS
        }
        _ => crate::exit_codes::RUN_FAILED,
    }
}

/// Verdicts remembered across runs, in gnbr's cache folder.
pub struct Cache {
    file: Option<PathBuf>,
    host: String,
    entries: BTreeMap<PathBuf, Cached>,
    changed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cached {
    size: u64,
    mtime_ns: i128,
    /// The gnbr executable that probed (its size and modification time).
    host: String,
    verdict: Verdict,
}

impl Cache {
    /// The cache in `$XDG_CACHE_HOME/gnbr` (else `~/.cache/gnbr`); empty and
    /// never written when neither is set.
    pub fn open() -> Self {
        let dir = std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|d| !d.is_empty())
                    .map(|home| PathBuf::from(home).join(".cache"))
            });
        Self::at(dir.map(|d| d.join("gnbr").join("plugin-probes.json")))
    }

    /// The cache kept in `file` (`None`: in memory only).
    pub fn at(file: Option<PathBuf>) -> Self {
        let entries = file
            .as_deref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let host = std::env::current_exe()
            .and_then(std::fs::metadata)
            .map(|m| identity(&m))
            .unwrap_or_default();
        Self {
            file,
            host,
            entries,
            changed: false,
        }
    }

    /// The verdict on `path`: cached, or from a child process. `None` when
    /// this executable cannot probe (it is not gnbr, e.g. a test harness).
    pub fn verdict(&mut self, path: &Path) -> Option<Verdict> {
        let meta = std::fs::metadata(path).ok()?;
        let (size, mtime_ns) = (meta.len(), mtime_ns(&meta));
        let key = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        if let Some(cached) = self.entries.get(&key) {
            if cached.size == size && cached.mtime_ns == mtime_ns && cached.host == self.host {
                return Some(cached.verdict.clone());
            }
        }
        let verdict = probe(path)?;
        self.entries.insert(
            key,
            Cached {
                size,
                mtime_ns,
                host: self.host.clone(),
                verdict: verdict.clone(),
            },
        );
        self.changed = true;
        Some(verdict)
    }

    /// Writes the cache back when a verdict was added; a cache that cannot
    /// be written only costs the probes again next time.
    pub fn save(&self) {
        let Some(file) = self.file.as_deref().filter(|_| self.changed) else {
            return;
        };
        let written = (|| {
            let dir = file.parent().ok_or(std::io::ErrorKind::NotFound)?;
            std::fs::create_dir_all(dir)?;
            let mut temp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(&mut temp, &self.entries)?;
            temp.persist(file).map_err(|e| e.error)?;
            Ok::<(), std::io::Error>(())
        })();
        if let Err(e) = written {
            tracing::debug!("plugin probe cache {} not written: {e}", file.display());
        }
    }
}

fn identity(meta: &std::fs::Metadata) -> String {
    format!("{}:{}", meta.len(), mtime_ns(meta))
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

/// Loads `path` in a child gnbr and reads its verdict.
fn probe(path: &Path) -> Option<Verdict> {
    let exe = std::env::current_exe().ok()?;
    let child = Command::new(exe)
        .arg(PROBE_COMMAND)
        .arg(path)
        .env("GNBR_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            return Some(refused(
                path,
                format!("gnbr could not start the process that checks it first: {e}"),
            ))
        }
    };
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_until(&mut child, Instant::now() + PROBE_DEADLINE);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let mut lines = stdout.lines();
    if lines.next() != Some(STARTED) {
        tracing::debug!(
            "this executable cannot probe plugins (it is not gnbr): {} is loaded in-process",
            path.display()
        );
        return None;
    }
    if let Some(verdict) = lines.next().and_then(|l| serde_json::from_str(l).ok()) {
        return Some(verdict);
    }
    let said = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| format!(" (it said: {})", l.chars().take(300).collect::<String>()))
        .unwrap_or_default();
    let how = match status {
        None => format!(
            "did not finish loading within {} s",
            PROBE_DEADLINE.as_secs()
        ),
        Some(status) => match status.signal() {
            Some(signal) => format!("crashed while loading: {}", signal_name(signal)),
            None => format!(
                "ended the process while loading (exit status {})",
                status.code().unwrap_or(-1)
            ),
        },
    };
    Some(refused(
        path,
        format!("{how}{said}; gnbr loads each plugin in a separate test process first and did not load this one (hint: fix or remove the file)"),
    ))
}

fn refused(path: &Path, message: String) -> Verdict {
    Verdict::Refused {
        plugin: name_from_file(path),
        message,
    }
}

/// Reads a child's pipe to its end on a thread of its own.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A pipe that fails part way keeps what it gave.
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The child's status, or `None` (it is killed) past `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                // Killed and reaped: a child that already ended makes both no-ops.
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGABRT => "SIGABRT, aborted",
        libc::SIGSEGV => "SIGSEGV, invalid memory access",
        libc::SIGBUS => "SIGBUS, bad memory access",
        libc::SIGILL => "SIGILL, illegal instruction",
        libc::SIGFPE => "SIGFPE, arithmetic error",
        libc::SIGKILL => "SIGKILL, killed",
        _ => return format!("signal {signal}"),
    };
    format!("signal {signal} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_cached_by_size_mtime_and_host() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache.json");
        let library = dir.path().join("libx.so");
        std::fs::write(&library, b"not a library").unwrap();
        let mut cache = Cache::at(Some(file.clone()));
        let verdict = Verdict::Refused {
            plugin: "x".into(),
            message: "remembered".into(),
        };
        let meta = std::fs::metadata(&library).unwrap();
        cache.entries.insert(
            library.canonicalize().unwrap(),
            Cached {
                size: meta.len(),
                mtime_ns: mtime_ns(&meta),
                host: cache.host.clone(),
                verdict: verdict.clone(),
            },
        );
        cache.changed = true;
        cache.save();
        let mut again = Cache::at(Some(file));
        assert_eq!(again.verdict(&library), Some(verdict));
        assert!(!again.changed);
        // A changed file is probed again: this test harness cannot probe.
        std::fs::write(&library, b"another library").unwrap();
        assert_eq!(again.verdict(&library), None);
    }
}
