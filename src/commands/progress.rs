//! How the CLI shows the engine's [`Progress`]: meters three ways, chosen once per run, and
//! the problems of each checked generation on stdout.
//!
//! - [`Meters::Bar`]: stderr is a terminal; an indicatif bar per phase (items, bytes, rate,
//!   ETA).
//! - [`Meters::LogLine`]: stderr is not a terminal (cron, systemd, a pipe); one plain `info`
//!   line every [`LOG_INTERVAL`] (`FULLSITE_PROGRESS_SECS` overrides it, for tests) with the
//!   counts, bytes and rate, so a journal shows a long backup moving without drowning in
//!   output.
//! - [`Meters::Hidden`]: `-q` (or a `RUST_LOG` that hides `info`).
//!
//! Only this module reads the terminal, the verbosity and `FULLSITE_PROGRESS_SECS`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::human::{bytes, printable};
use crate::integrity::Report;
use crate::progress::{Meter, Progress, Quiet};

/// How often a meter logs when stderr is not a terminal.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The variable overriding [`LOG_INTERVAL`] (seconds, fractions allowed).
const INTERVAL_VAR: &str = "FULLSITE_PROGRESS_SECS";

/// How meters are shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Meters {
    /// A bar on the terminal.
    Bar,
    /// A log line every so often.
    LogLine(Duration),
    /// Nothing.
    Hidden,
}

impl Meters {
    /// The display for this run: hidden when `info` is not logged, a bar when stderr is a
    /// terminal, else log lines.
    pub fn for_stderr() -> Meters {
        if !tracing::enabled!(tracing::Level::INFO) {
            Meters::Hidden
        } else if std::io::stderr().is_terminal() {
            Meters::Bar
        } else {
            Meters::LogLine(log_interval())
        }
    }
}

fn log_interval() -> Duration {
    std::env::var(INTERVAL_VAR)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(LOG_INTERVAL, Duration::from_secs_f64)
}

/// How the problems of a checked generation are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemLines {
    /// One problem a line.
    Plain,
    /// One problem a line, after the generation's name (`verify --all`).
    Named,
    /// Not printed (the command prints JSON instead).
    Hidden,
}

/// The CLI's [`Progress`].
#[derive(Debug, Clone, Copy)]
pub struct CliProgress {
    /// How meters are shown.
    pub meters: Meters,
    /// How problems are printed.
    pub problems: ProblemLines,
}

impl CliProgress {
    /// Meters for this run's stderr, problems printed as `problems` says.
    pub fn new(problems: ProblemLines) -> CliProgress {
        CliProgress {
            meters: Meters::for_stderr(),
            problems,
        }
    }
}

impl Progress for CliProgress {
    fn meter(&self, label: &str, total: Option<u64>) -> Box<dyn Meter> {
        match self.meters {
            Meters::Bar => Box::new(BarMeter::start(label, total)),
            Meters::LogLine(every) => Box::new(LogMeter::start(label, total, every)),
            Meters::Hidden => Box::new(Quiet),
        }
    }

    fn checked(&self, generation: &str, report: &Report) {
        for problem in &report.problems {
            match self.problems {
                ProblemLines::Plain => println!("{problem}"),
                ProblemLines::Named => println!("{}  {problem}", printable(generation)),
                ProblemLines::Hidden => {}
            }
        }
    }
}

/// An indicatif bar; cleared when dropped.
struct BarMeter {
    bar: indicatif::ProgressBar,
    bytes: AtomicU64,
}

impl BarMeter {
    fn start(label: &str, total: Option<u64>) -> BarMeter {
        let bar = match total {
            Some(total) => indicatif::ProgressBar::new(total),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let template = if total.is_some() {
            "{prefix} [{bar:30}] {pos}/{len} {msg} {elapsed_precise} ETA {eta}"
        } else {
            "{prefix} {spinner} {pos} {msg} {elapsed_precise}"
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        BarMeter {
            bar,
            bytes: AtomicU64::new(0),
        }
    }
}

impl Meter for BarMeter {
    fn add(&self, items: u64, byte_count: u64) {
        let total = self.bytes.fetch_add(byte_count, Ordering::Relaxed) + byte_count;
        self.bar.inc(items);
        self.bar.set_message(bytes(total));
    }
}

impl Drop for BarMeter {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[derive(Debug, Default)]
struct Counts {
    items: AtomicU64,
    bytes: AtomicU64,
}

/// Logs the counts every interval from a tokio task; the task stops when the meter is dropped.
struct LogMeter {
    counts: Arc<Counts>,
    logger: tokio::task::JoinHandle<()>,
}

impl LogMeter {
    fn start(label: &str, total: Option<u64>, every: Duration) -> LogMeter {
        let counts = Arc::new(Counts::default());
        let (label, watched) = (label.to_string(), counts.clone());
        let started = Instant::now();
        let logger = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let (items, done) = (
                    watched.items.load(Ordering::Relaxed),
                    watched.bytes.load(Ordering::Relaxed),
                );
                let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
                let of = total.map(|t| format!("/{t}")).unwrap_or_default();
                tracing::info!(
                    "{label}: {items}{of} done, {} at {}/s",
                    bytes(done),
                    bytes(rate as u64)
                );
            }
        });
        LogMeter { counts, logger }
    }
}

impl Meter for LogMeter {
    fn add(&self, items: u64, byte_count: u64) {
        self.counts.items.fetch_add(items, Ordering::Relaxed);
        self.counts.bytes.fetch_add(byte_count, Ordering::Relaxed);
    }
}

impl Drop for LogMeter {
    fn drop(&mut self) {
        self.logger.abort();
    }
}
