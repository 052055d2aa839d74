//! How gnbr talks while it works: progress (a bar on a terminal, plain lines
//! otherwise), warnings, and nothing but errors with `--quiet`.

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

/// Output settings for one command.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Errors only.
    pub quiet: bool,
    /// The result goes to stdout as JSON; progress and warnings stay on stderr.
    pub json: bool,
}

impl Ui {
    /// A status line on stderr.
    pub fn info(&self, line: &str) {
        if !self.quiet {
            eprintln!("gnbr: {line}");
        }
    }

    /// A warning on stderr (also with `--json`).
    pub fn warn(&self, line: &str) {
        if !self.quiet {
            eprintln!("gnbr: warning: {line}");
        }
    }

    /// Progress over `total` bytes.
    pub fn progress(&self, total: u64) -> Progress {
        let bar = (!self.quiet && std::io::stderr().is_terminal()).then(|| {
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
            None if !self.quiet => eprintln!("gnbr: {label}"),
            None => {}
        }
    }

    /// Bytes handled within the current step.
    pub fn advance(&mut self, in_step: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(self.done_before + in_step),
            None if !self.quiet && self.last_line.elapsed() > Duration::from_secs(10) => {
                self.last_line = Instant::now();
                eprintln!("gnbr: {}: {} MB read", self.label, in_step / 1_000_000);
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
