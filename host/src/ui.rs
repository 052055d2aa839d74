//! How gnbr talks while it works: progress (a bar on a terminal, plain lines
//! otherwise), warnings, and nothing but errors with `--quiet`.

use std::{
    fmt,
    io::IsTerminal,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

/// How a warning's line starts (the admin page finds a run's warnings by it).
pub const WARNING: &str = "warning: ";

/// Output settings for one command.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Errors only.
    pub quiet: bool,
    /// The result goes to stdout as JSON; progress and warnings stay on stderr.
    pub json: bool,
    /// Also hands every status, warning and progress line to this (even
    /// with `quiet`), and draws no progress bar: the admin page keeps a
    /// run's log with it.
    pub log: Option<LogSink>,
}

/// Receives a run's lines, without the `gnbr: ` prefix.
#[derive(Clone, Copy)]
pub struct LogSink(pub &'static (dyn Fn(&str) + Send + Sync));

impl fmt::Debug for LogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogSink")
    }
}

impl Ui {
    /// A status line on stderr.
    pub fn info(&self, line: &str) {
        emit(self.log, self.quiet, line);
    }

    /// A warning on stderr (also with `--json`).
    pub fn warn(&self, line: &str) {
        emit(self.log, self.quiet, &format!("{WARNING}{line}"));
    }

    /// Prints a command's result as JSON with `--json`; returns whether
    /// the caller should print it as text (neither `--json` nor `--quiet`).
    pub fn report(&self, report: &impl serde::Serialize) -> bool {
        if self.json {
            println!(
                "{}",
                serde_json::to_string(report).expect("a report serialises")
            );
            return false;
        }
        !self.quiet
    }

    /// Progress over `total` bytes.
    pub fn progress(&self, total: u64) -> Progress {
        let terminal = self.log.is_none() && std::io::stderr().is_terminal();
        let bar = (!self.quiet && terminal).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            quiet: self.quiet,
            log: self.log,
            label: String::new(),
            last_line: Instant::now(),
            done_before: 0,
        }
    }
}

/// Progress of a long run.
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    log: Option<LogSink>,
    label: String,
    last_line: Instant,
    done_before: u64,
}

impl Progress {
    /// Starts a step (a fixture, a copy); `done` bytes were handled before it.
    pub fn step(&mut self, label: &str, done: u64) {
        self.label = label.to_owned();
        self.done_before = done;
        match &self.bar {
            Some(bar) => {
                bar.set_message(label.to_owned());
                bar.set_position(done);
            }
            None => emit(self.log, self.quiet, label),
        }
    }

    /// Bytes handled within the current step.
    pub fn advance(&mut self, in_step: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(self.done_before + in_step),
            None if self.last_line.elapsed() > Duration::from_secs(10) => {
                self.last_line = Instant::now();
                let line = format!("{}: {} MB read", self.label, in_step / 1_000_000);
                emit(self.log, self.quiet, &line);
            }
            None => {}
        }
    }

    /// Ends the progress display.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A line to the log sink, and to stderr unless quiet.
fn emit(log: Option<LogSink>, quiet: bool, line: &str) {
    if let Some(LogSink(sink)) = log {
        sink(line);
    }
    if !quiet {
        eprintln!("gnbr: {line}");
    }
}

/// Prints rows under headers, columns padded to their widest cell.
pub fn print_table<const N: usize>(headers: &[&str; N], rows: &[[String; N]]) {
    let mut widths = headers.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A size as people read it: `512 bytes`, `1.5 KB`, `12.3 MB`, `123 MB`, `4.20 GB`
/// (decimal units; three significant digits from 1 KB up).
pub fn size(bytes: u64) -> String {
    let units = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")];
    let value = bytes as f64;
    let Some((unit, name)) = units.iter().find(|(unit, _)| value >= *unit) else {
        return plural(bytes, "byte");
    };
    let scaled = value / unit;
    // Rounding may carry into the next unit's range (999.96 KB): shown as 1000 KB.
    let decimals = match scaled {
        s if s < 9.995 => 2,
        s if s < 99.95 => 1,
        _ => 0,
    };
    format!("{scaled:.decimals$} {name}")
}

/// `count` and `noun`, in the plural unless `count` is 1: `1 file`, `0 files`, `2 files`.
pub fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
