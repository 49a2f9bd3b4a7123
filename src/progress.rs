//! Progress of long phases (table data, object transfers), owned by the engine.
//!
//! A [`Meter`] counts items and bytes with atomics, so workers update it from anywhere. What it
//! shows depends on where stderr goes: on a terminal, an indicatif bar (items, bytes, rate,
//! ETA); otherwise — cron, systemd, a pipe — one plain `info` log line every
//! [`LOG_INTERVAL`] with the counts, bytes and rate, so a journal shows a long backup moving
//! without drowning in output. `-q` hides both. Dropping the meter stops its display.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::human::bytes;

/// How often a meter logs when stderr is not a terminal (`FULLSITE_PROGRESS_SECS` overrides
/// it, for tests).
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

fn log_interval() -> Duration {
    std::env::var("FULLSITE_PROGRESS_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(LOG_INTERVAL, Duration::from_secs_f64)
}

#[derive(Debug)]
struct Counts {
    items: AtomicU64,
    bytes: AtomicU64,
}

/// Counts one phase's progress and shows it.
pub struct Meter {
    counts: Arc<Counts>,
    bar: Option<indicatif::ProgressBar>,
    logger: Option<tokio::task::JoinHandle<()>>,
}

impl Meter {
    /// Starts a meter for `label` over `total` items (when known). Call inside a tokio runtime.
    pub fn start(label: &str, total: Option<u64>) -> Meter {
        let counts = Arc::new(Counts {
            items: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        let quiet = !tracing::enabled!(tracing::Level::INFO);
        if quiet {
            return Meter {
                counts,
                bar: None,
                logger: None,
            };
        }
        if std::io::stderr().is_terminal() {
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
            return Meter {
                counts,
                bar: Some(bar),
                logger: None,
            };
        }
        let (label, watched) = (label.to_string(), counts.clone());
        let started = Instant::now();
        let logger = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(log_interval());
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
        Meter {
            counts,
            bar: None,
            logger: Some(logger),
        }
    }

    /// Adds finished items and their bytes.
    pub fn add(&self, items: u64, byte_count: u64) {
        self.counts.items.fetch_add(items, Ordering::Relaxed);
        let total = self.counts.bytes.fetch_add(byte_count, Ordering::Relaxed) + byte_count;
        if let Some(bar) = &self.bar {
            bar.inc(items);
            bar.set_message(bytes(total));
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some(logger) = &self.logger {
            logger.abort();
        }
    }
}
