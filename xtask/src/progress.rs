//! Progress on long work: a bar with the current cell, elapsed time and the
//! estimated remainder on a terminal; plain lines otherwise (CI logs).
//! The estimate is in planned seconds of measurement, not cell counts, since
//! a 30 s throughput cell and a 5 ms cold sample are not alike.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    planned_ms: u64,
    done_ms: u64,
}

impl Progress {
    pub fn new(planned: Duration) -> Progress {
        let planned_ms = planned.as_millis().max(1) as u64;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(planned_ms);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% eta {eta} {msg}",
                )
                .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            planned_ms,
            done_ms: 0,
        }
    }

    /// A cell begins.
    pub fn cell(&self, label: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(label.to_owned()),
            None => eprintln!("[{:>6.1}s] {label}", self.started.elapsed().as_secs_f64()),
        }
    }

    /// A cell ended; `planned` is the share of the plan it stood for.
    pub fn done(&mut self, label: &str, planned: Duration, outcome: &str) {
        self.done_ms = (self.done_ms + planned.as_millis() as u64).min(self.planned_ms);
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.done_ms);
                bar.println(format!("{label}: {outcome}"));
            }
            None => eprintln!(
                "[{:>6.1}s] {label}: {outcome} ({:.0}% of plan)",
                self.started.elapsed().as_secs_f64(),
                self.done_ms as f64 * 100.0 / self.planned_ms as f64
            ),
        }
    }

    /// A line that is not a cell (a skip, a failure).
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
