//! How gnbr talks while it works: progress (a bar on a terminal, plain lines
//! otherwise, JSON lines with `--json`), warnings, and nothing but errors
//! with `--quiet`.

use std::{
    fmt,
    io::IsTerminal,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

/// How a warning's line starts (the admin page finds a run's warnings by it).
pub const WARNING: &str = "warning: ";

/// How often `--json` progress events and the admin page's progress are
/// renewed, at most.
const EVENT_EVERY: Duration = Duration::from_secs(1);
/// How often a plain progress line is printed, at most.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// Output settings for one command.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Errors only.
    pub quiet: bool,
    /// The result goes to stdout as JSON; progress and warnings stay on stderr.
    pub json: bool,
    /// Also hands every status and warning line, and the latest progress,
    /// to this (even with `quiet`), and draws no progress bar: the admin
    /// page keeps a run's log and shows its progress with it.
    pub log: Option<LogSink>,
}

/// Receives a run's lines, without the `gnbr: ` prefix, and its progress.
#[derive(Clone, Copy)]
pub struct LogSink {
    /// Gets each status and warning line.
    pub line: &'static (dyn Fn(&str) + Send + Sync),
    /// Gets the latest progress, about once a second; `None` once it ended.
    pub progress: &'static (dyn Fn(Option<&ProgressEvent>) + Send + Sync),
}

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

    /// Progress of a long run, starting with `stage` over `total` (when
    /// known) of `unit`: a bar on a terminal, a plain line every ten
    /// seconds otherwise, JSON lines on stderr with `--json`, nothing with
    /// `--quiet`; the log sink gets it in any case.
    pub fn progress(&self, stage: &str, unit: Unit, total: Option<u64>) -> Progress {
        let terminal = self.log.is_none() && std::io::stderr().is_terminal();
        let now = Instant::now();
        let mut progress = Progress {
            meter: Meter::new(stage, unit, total, now),
            bar: None,
            json: !self.quiet && self.json,
            lines: !self.quiet && !self.json && !terminal,
            quiet: self.quiet,
            log: self.log,
            events: Every::new(EVENT_EVERY),
            plain: Every::new(LINE_EVERY),
            step_start: 0,
            unsent: false,
            finished: false,
        };
        if !self.quiet && !self.json && terminal {
            progress.bar = Some(progress.new_bar());
        }
        progress.tell(now, true);
        progress
    }
}

/// The progress of a copy told as `(bytes done, of total)`, shown as
/// `stage` from the copy's first word on; it ends when this is dropped.
pub fn copy_progress(ui: Ui, stage: &str) -> impl FnMut(u64, u64) {
    let stage = stage.to_owned();
    let mut progress: Option<Progress> = None;
    move |done, total| {
        progress
            .get_or_insert_with(|| ui.progress(&stage, Unit::Bytes, Some(total)))
            .update(done);
    }
}

/// What a progress counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Fixture objects.
    Objects,
    /// GeoNode resources.
    Resources,
    /// Bytes.
    Bytes,
}

impl Unit {
    /// `count` of this unit as people read it: `1,234 objects`, `12.3 MB`.
    pub fn count(self, count: u64) -> String {
        match self {
            Self::Bytes => size(count),
            Self::Objects => format!("{} objects", thousands(count)),
            Self::Resources => format!("{} resources", thousands(count)),
        }
    }

    /// A rate of this unit per second: `250/s`, `5.10 MB/s`.
    fn rate(self, per_second: f64) -> String {
        let whole = per_second.round() as u64;
        match self {
            Self::Bytes => format!("{}/s", size(whole)),
            _ => format!("{}/s", thousands(whole)),
        }
    }
}

/// Where a long step is: what `--json` prints as `{"event":"progress",...}`,
/// the admin page shows above a run's log, and a plain line says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressEvent {
    /// What is going on: `loading`, `reindexing`, `dumping`, ...
    pub stage: String,
    /// How much of it is done.
    pub done: u64,
    /// Of how much, when known.
    pub total: Option<u64>,
    /// What `done` and `total` count.
    pub unit: Unit,
    /// Units per second since the stage began (to a hundredth), once measurable.
    pub rate: Option<f64>,
    /// Seconds left at that rate, when the total is known.
    pub eta_seconds: Option<u64>,
    /// The part being worked on (a fixture, an archive entry), with its own count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl fmt::Display for ProgressEvent {
    /// `loading: 1,234 of 10,000 objects (fixtures/base.json), 250/s, about 36 s left`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.stage)?;
        match (self.total, self.unit) {
            (Some(total), Unit::Bytes) => {
                write!(f, "{} of {}", size(self.done), size(total))?;
            }
            (Some(total), unit) => {
                let all = unit.count(total);
                write!(f, "{} of {all}", thousands(self.done))?;
            }
            (None, unit) => f.write_str(&unit.count(self.done))?,
        }
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        if let Some(rate) = self.rate {
            write!(f, ", {}", self.unit.rate(rate))?;
        }
        if let Some(eta) = self.eta_seconds {
            write!(f, ", about {} left", duration(eta))?;
        }
        Ok(())
    }
}

/// One stage's counts and when it began: its rate and time left at any instant.
#[derive(Debug, Clone)]
struct Meter {
    stage: String,
    unit: Unit,
    total: Option<u64>,
    done: u64,
    detail: Option<String>,
    began: Instant,
    done_at_start: u64,
}

impl Meter {
    fn new(stage: &str, unit: Unit, total: Option<u64>, now: Instant) -> Self {
        Self {
            stage: stage.to_owned(),
            unit,
            total,
            done: 0,
            detail: None,
            began: now,
            done_at_start: 0,
        }
    }

    /// Where the stage is at `now`: the rate counts what was done since it
    /// began (from one second on), the time left is what remains at that rate.
    fn event(&self, now: Instant) -> ProgressEvent {
        let seconds = now.saturating_duration_since(self.began).as_secs_f64();
        let counted = self.done.saturating_sub(self.done_at_start);
        let rate = (seconds >= 1.0 && counted > 0)
            .then(|| (counted as f64 / seconds * 100.0).round() / 100.0);
        let eta_seconds = rate
            .zip(self.total)
            .map(|(rate, total)| (total.saturating_sub(self.done) as f64 / rate).ceil() as u64);
        ProgressEvent {
            stage: self.stage.clone(),
            done: self.done,
            total: self.total,
            unit: self.unit,
            rate,
            eta_seconds,
            detail: self.detail.clone(),
        }
    }
}

/// At most once per interval.
#[derive(Debug, Clone, Copy)]
struct Every {
    interval: Duration,
    last: Option<Instant>,
}

impl Every {
    const fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
        }
    }

    /// Whether the interval passed since the last time it was due (or it
    /// never was), or it is `forced`; if so, `now` is the last time.
    fn due(&mut self, now: Instant, forced: bool) -> bool {
        let due = forced
            || self
                .last
                .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if due {
            self.last = Some(now);
        }
        due
    }
}

/// Progress of a long run, stage after stage; cleared when dropped.
pub struct Progress {
    meter: Meter,
    bar: Option<ProgressBar>,
    json: bool,
    lines: bool,
    quiet: bool,
    log: Option<LogSink>,
    events: Every,
    plain: Every,
    /// What a step-counted stage had done before its current step.
    step_start: u64,
    /// Whether the counts changed since the last JSON event or sink update.
    unsent: bool,
    finished: bool,
}

impl Progress {
    /// Begins another stage: `stage` over `total` (when known) of `unit`.
    pub fn stage(&mut self, stage: &str, unit: Unit, total: Option<u64>) {
        let now = Instant::now();
        self.flush(now);
        self.meter = Meter::new(stage, unit, total, now);
        self.finished = false;
        if let Some(old) = self.bar.take() {
            old.finish_and_clear();
            self.bar = Some(self.new_bar());
        }
        self.tell(now, true);
    }

    /// Moves on to `stage` when it is another than the current one (a
    /// count from elsewhere, such as the Django helper, names its stage).
    pub fn at(&mut self, stage: &str, unit: Unit, total: Option<u64>) {
        if self.meter.stage != stage {
            self.stage(stage, unit, total);
        }
    }

    /// `done` of the stage so far.
    pub fn update(&mut self, done: u64) {
        self.meter.done = done;
        self.tell(Instant::now(), false);
    }

    /// Names the part of the stage being worked on (a fixture, an entry)
    /// and its own count.
    pub fn detail(&mut self, detail: &str) {
        if self.meter.detail.as_deref() == Some(detail) {
            return;
        }
        self.meter.detail = Some(detail.to_owned());
        if let Some(bar) = &self.bar {
            bar.set_message(self.bar_message());
        }
    }

    /// Starts a step (a fixture, a copy) of a stage counted in bytes;
    /// `done` bytes were handled before it. Said as a status line when
    /// there is no bar.
    pub fn step(&mut self, label: &str, done: u64) {
        self.step_start = done;
        self.detail(label);
        if self.bar.is_none() {
            emit(self.log, self.quiet, label);
        }
        self.update(done);
    }

    /// Bytes handled within the current step.
    pub fn advance(&mut self, in_step: u64) {
        self.update(self.step_start + in_step);
    }

    /// A status line, above the bar when there is one.
    pub fn info(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| emit(self.log, self.quiet, line)),
            None => emit(self.log, self.quiet, line),
        }
    }

    /// Ends the progress display: the bar cleared, the last counts sent
    /// with `--json`, the admin page's progress taken away.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.flush(Instant::now());
        if let Some(sink) = self.log {
            (sink.progress)(None);
        }
    }

    /// Sends the stage's last counts with `--json` if they changed since
    /// its last event: a stage's end is never left out.
    fn flush(&mut self, now: Instant) {
        if self.json && self.unsent {
            eprintln!("{}", json_line(&self.meter.event(now)));
        }
        self.unsent = false;
    }

    /// Shows the counts as of `now`: the bar always, JSON events and the
    /// sink at most once a second, plain lines every ten seconds; `forced`
    /// (a stage's start) shows them at once.
    fn tell(&mut self, now: Instant, forced: bool) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.meter.done);
        }
        self.unsent = true;
        if (self.json || self.log.is_some()) && self.events.due(now, forced) {
            let event = self.meter.event(now);
            if self.json {
                eprintln!("{}", json_line(&event));
            }
            if let Some(sink) = self.log {
                (sink.progress)(Some(&event));
            }
            self.unsent = false;
        }
        if self.lines && self.plain.due(now, forced) {
            eprintln!("gnbr: {}", self.meter.event(now));
        }
    }

    /// A bar for the stage: its unit and total.
    fn new_bar(&self) -> ProgressBar {
        let counts = match (self.meter.unit, self.meter.total) {
            (Unit::Bytes, Some(_)) => "[{bar:25}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            (Unit::Bytes, None) => "{bytes} {bytes_per_sec}",
            (_, Some(_)) => "[{bar:25}] {human_pos}/{human_len} {per_sec} eta {eta}",
            (_, None) => "{human_pos} {per_sec}",
        };
        // The label takes what the counts leave of the terminal's width.
        let style = ProgressStyle::with_template(&format!("{{wide_msg}} {counts}"))
            .expect("a valid template")
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(self.meter.total, ProgressDrawTarget::hidden())
            .with_style(style)
            .with_message(self.bar_message())
            .with_position(self.meter.done);
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar
    }

    /// The bar's label: the stage and what it works on.
    fn bar_message(&self) -> String {
        match &self.meter.detail {
            Some(detail) => format!("{} {detail}", self.meter.stage),
            None => self.meter.stage.clone(),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A progress event as `--json` prints it on stderr: `{"event":"progress",...}`.
fn json_line(event: &ProgressEvent) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        event: &'static str,
        #[serde(flatten)]
        progress: &'a ProgressEvent,
    }
    let line = Line {
        event: "progress",
        progress: event,
    };
    serde_json::to_string(&line).expect("a progress event serialises")
}

/// A line to the log sink, and to stderr unless quiet.
fn emit(log: Option<LogSink>, quiet: bool, line: &str) {
    if let Some(sink) = log {
        (sink.line)(line);
    }
    if !quiet {
        eprintln!("gnbr: {line}");
    }
}

/// A count with thousands separated: `1,234,567`.
pub fn thousands(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
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

/// A time left as people say it: `36 s`, `4 min`, `2 h 5 min`.
fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", (s + 30) / 60),
        s => {
            let minutes = (s + 30) / 60;
            format!("{} h {} min", minutes / 60, minutes % 60)
        }
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

#[cfg(test)]
mod tests {
    use std::{
        sync::Mutex,
        time::{Duration, Instant},
    };

    use super::{duration, json_line, thousands, Every, LogSink, Meter, ProgressEvent, Ui, Unit};

    fn loading(done: u64, rate: Option<f64>, eta_seconds: Option<u64>) -> ProgressEvent {
        ProgressEvent {
            stage: "loading".to_owned(),
            done,
            total: Some(10_000),
            unit: Unit::Objects,
            rate,
            eta_seconds,
            detail: None,
        }
    }

    #[test]
    fn progress_reads_as_a_line() {
        assert_eq!(
            loading(1_234, Some(250.4), Some(36)).to_string(),
            "loading: 1,234 of 10,000 objects, 250/s, about 36 s left"
        );
        assert_eq!(
            loading(0, None, None).to_string(),
            "loading: 0 of 10,000 objects"
        );
        let fixture = ProgressEvent {
            detail: Some("fixtures/base.json 200 of 5,000".to_owned()),
            ..loading(1_234, None, None)
        };
        assert_eq!(
            fixture.to_string(),
            "loading: 1,234 of 10,000 objects (fixtures/base.json 200 of 5,000)"
        );
        let dumping = ProgressEvent {
            stage: "dumping".to_owned(),
            done: 12_345_678,
            total: None,
            unit: Unit::Bytes,
            rate: Some(5_100_000.0),
            eta_seconds: None,
            detail: Some("base".to_owned()),
        };
        assert_eq!(dumping.to_string(), "dumping: 12.3 MB (base), 5.10 MB/s");
        let copying = ProgressEvent {
            stage: "copying uploaded files".to_owned(),
            done: 1_500,
            total: Some(2_000_000),
            unit: Unit::Bytes,
            rate: None,
            eta_seconds: Some(4_000),
            detail: None,
        };
        assert_eq!(
            copying.to_string(),
            "copying uploaded files: 1.50 KB of 2.00 MB, about 1 h 7 min left"
        );
    }

    #[test]
    fn counts_and_times_read_as_people_read_them() {
        for (count, shown) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(thousands(count), shown);
        }
        for (seconds, shown) in [
            (0, "0 s"),
            (59, "59 s"),
            (60, "1 min"),
            (89, "1 min"),
            (90, "2 min"),
            (3_600, "1 h 0 min"),
            (7_500, "2 h 5 min"),
        ] {
            assert_eq!(duration(seconds), shown);
        }
    }

    #[test]
    fn rate_and_time_left_come_from_what_was_done_since_the_stage_began() {
        let began = Instant::now();
        let mut meter = Meter::new("loading", Unit::Objects, Some(10_000), began);
        assert_eq!(meter.event(began), loading(0, None, None));
        meter.done = 200;
        // Under a second in, there is no rate yet.
        assert_eq!(
            meter.event(began + Duration::from_millis(900)),
            loading(200, None, None)
        );
        meter.done = 500;
        assert_eq!(
            meter.event(began + Duration::from_secs(2)),
            loading(500, Some(250.0), Some(38))
        );
        meter.done = 10_000;
        assert_eq!(
            meter.event(began + Duration::from_secs(40)),
            loading(10_000, Some(250.0), Some(0))
        );
        let mut open = Meter::new("dumping", Unit::Bytes, None, began);
        open.done = 3_000;
        let event = open.event(began + Duration::from_secs(3));
        assert_eq!((event.rate, event.eta_seconds), (Some(1_000.0), None));
    }

    #[test]
    fn events_and_lines_are_due_once_per_interval_or_when_forced() {
        let start = Instant::now();
        let mut every = Every::new(Duration::from_secs(1));
        assert!(every.due(start, false), "the first time is due");
        assert!(!every.due(start + Duration::from_millis(500), false));
        assert!(
            every.due(start + Duration::from_millis(600), true),
            "forced"
        );
        assert!(!every.due(start + Duration::from_millis(1_500), false));
        assert!(every.due(start + Duration::from_millis(1_600), false));
    }

    #[test]
    fn json_progress_is_one_line_of_the_documented_shape() {
        let line = json_line(&loading(1_234, Some(250.0), Some(36)));
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "event": "progress", "stage": "loading", "done": 1234, "total": 10000,
                "unit": "objects", "rate": 250.0, "eta_seconds": 36
            })
        );
        let open = ProgressEvent {
            total: None,
            rate: None,
            eta_seconds: None,
            detail: Some("base".to_owned()),
            ..loading(5, None, None)
        };
        let value: serde_json::Value = serde_json::from_str(&json_line(&open)).unwrap();
        assert_eq!(value["total"], serde_json::Value::Null);
        assert_eq!(value["detail"], "base");
    }

    static SEEN: Mutex<Vec<Option<String>>> = Mutex::new(Vec::new());

    #[test]
    fn the_log_sink_gets_each_stage_and_none_once_it_ended_but_no_lines() {
        let ui = Ui {
            quiet: true,
            json: false,
            log: Some(LogSink {
                line: &|line| SEEN.lock().unwrap().push(Some(format!("line {line}"))),
                progress: &|event| {
                    SEEN.lock()
                        .unwrap()
                        .push(event.map(|e| format!("progress {e}")))
                },
            }),
        };
        let mut progress = ui.progress("loading", Unit::Objects, Some(10));
        progress.stage("reindexing", Unit::Resources, Some(3));
        progress.finish();
        drop(progress);
        assert_eq!(
            *SEEN.lock().unwrap(),
            [
                Some("progress loading: 0 of 10 objects".to_owned()),
                Some("progress reindexing: 0 of 3 resources".to_owned()),
                None
            ]
        );
    }
}
