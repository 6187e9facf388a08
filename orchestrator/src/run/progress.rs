//! What a headless run prints while it goes: a progress line on a terminal,
//! plain lines otherwise.

use crate::recorder::Recorder;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How to show progress.
#[derive(Debug, Default)]
pub struct Progress {
    mode: Mode,
    last_plain: AtomicU64,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
enum Mode {
    /// A line rewritten in place on stderr.
    Terminal,
    /// A plain line every few seconds.
    #[default]
    Lines,
    /// Nothing.
    Quiet,
}

impl Clone for Progress {
    fn clone(&self) -> Self {
        Progress { mode: self.mode, last_plain: AtomicU64::new(0) }
    }
}

impl Progress {
    /// A progress line when stderr is a terminal, plain lines otherwise.
    pub fn detect() -> Progress {
        let mode = if std::io::stderr().is_terminal() { Mode::Terminal } else { Mode::Lines };
        Progress { mode, last_plain: AtomicU64::new(0) }
    }

    /// Print nothing.
    pub fn quiet() -> Progress {
        Progress { mode: Mode::Quiet, last_plain: AtomicU64::new(0) }
    }

    /// Print one line (clearing the progress line first).
    pub fn line(&self, text: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Terminal => eprintln!("\r\x1b[2K{text}"),
            Mode::Lines => eprintln!("{text}"),
        }
    }

    /// Update the progress display.
    pub fn tick(&self, elapsed: Duration, duration: Duration, rec: &Recorder) {
        let r = rec.requests();
        // A workload that sends no requests has no request availability to show.
        let avail = if r.total > 0 {
            format!("{:>7.3}%", 100.0 * r.ok as f64 / r.total as f64)
        } else {
            format!("{:>8}", "n/a")
        };
        let text = format!(
            "[{:>5.1}/{:.0} s] requests {:>8}  ok {avail}  wrong {}  {}",
            elapsed.as_secs_f64().min(duration.as_secs_f64()),
            duration.as_secs_f64(),
            r.total,
            r.wrong,
            if r.total == 0 {
                "no requests"
            } else if rec.in_outage() {
                "OUTAGE"
            } else {
                "serving"
            }
        );
        match self.mode {
            Mode::Quiet => {}
            Mode::Terminal => {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{text}");
                let _ = err.flush();
            }
            Mode::Lines => {
                let secs = elapsed.as_secs();
                let last = self.last_plain.load(Ordering::Relaxed);
                if secs >= last + 5 {
                    self.last_plain.store(secs, Ordering::Relaxed);
                    eprintln!("{text}");
                }
            }
        }
    }

    /// The run is over: end the progress line.
    pub fn done(&self) {
        if self.mode == Mode::Terminal {
            eprint!("\r\x1b[2K");
        }
    }
}
