//! `faultlab bench`: voted requests per second and latency of the TMR service
//! with no faults, measured end to end through real agents; and (`deploy`)
//! the time to bring agents up on the docker backend beside docker-compose;
//! and (`sim`) how fast the sim backend runs; and (`checker`) how fast the
//! linearizability checker decides a large history; and (`explore`) how
//! many states per second the model checker searches.

pub mod checker;
pub mod deploy;
pub mod explore;
pub mod sim;

use crate::backend::BackendChoice;
use crate::run::RunOptions;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Requests kept outstanding by the client.
    pub windows: Vec<usize>,
    /// Length of each measurement.
    pub seconds: u64,
    pub backend: BackendChoice,
    pub agent_exe: PathBuf,
    /// The `tmr-limit` reference binary, run at the same window for a ratio.
    pub limit: Option<PathBuf>,
    /// Measure the accuracy of this fixed delay on every replica -> voter
    /// link instead of the windows.
    pub delay: Option<Duration>,
}

/// One measured point.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchPoint {
    pub window: usize,
    pub voted_per_second: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// The reference's voted requests per second at the same window.
    pub limit_per_second: Option<f64>,
    /// Requests answered correctly, and unanimous votes the voter counted
    /// (evidence that every answered request was really voted on).
    pub ok: u64,
    pub unanimous: u64,
}

/// How exactly a fixed delay is injected: the same open-loop TMR load run
/// without and with the delay on every replica -> voter link.
#[derive(Clone, Debug, PartialEq)]
pub struct DelayPoint {
    pub delay: Duration,
    /// Requests per second, open loop, in both runs.
    pub rate: u32,
    /// p50, p99, max latency in microseconds without the delay.
    pub base_us: [f64; 3],
    /// The same with the delay.
    pub delayed_us: [f64; 3],
    /// Requests answered in each run.
    pub ok: [u64; 2],
}

impl DelayPoint {
    /// What the delay added at p50 and p99 minus the delay asked for, in
    /// microseconds: the injection's error (0 is exact).
    pub fn errors_us(&self) -> [f64; 2] {
        let d = self.delay.as_secs_f64() * 1e6;
        [self.delayed_us[0] - self.base_us[0] - d, self.delayed_us[1] - self.base_us[1] - d]
    }
}

/// The open-loop rate of the delay measurement: low enough that the host's
/// load does not depend on the delay, high enough for a stable p99.
pub const DELAY_RATE: u32 = 200;

fn experiment(seconds: u64, rate: u32, delay: Option<Duration>) -> Result<crate::experiment::Experiment> {
    let mut text = format!(
        "name: bench-tmr\nseed: 1\nduration: {seconds}s\nworkload:\n  kind: tmr\n  replicas: 3\n  voters: 1\n  rate: {rate}/s\n  deadline: 1s\n"
    );
    if let Some(d) = delay {
        // Installed before the agents start and kept to the end: every
        // replica's result reaches the voter exactly `d` late.
        text.push_str("faults:\n");
        for r in 1..=3 {
            let _ = writeln!(
                text,
                "  - {{ at: 0s, for: {seconds}s, kind: delay, link: replica-{r} -> voter-1, distribution: fixed, delay: {}us }}",
                d.as_micros()
            );
        }
    }
    Ok(crate::experiment::parse_str(Path::new("<bench>"), &text)?)
}

/// Run the reference at `window` and parse its `voted_req_per_s=` figure.
fn run_limit(exe: &Path, window: usize, seconds: u64) -> Result<f64> {
    let out = std::process::Command::new(exe)
        .arg(window.to_string())
        .arg(seconds.to_string())
        .output()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("voted_req_per_s="))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{} printed no voted_req_per_s: {text}", exe.display()))
}

/// Measure every window in turn.
pub async fn run(opts: &BenchOptions) -> Result<Vec<BenchPoint>> {
    let mut points = Vec::new();
    for &window in &opts.windows {
        let exp = experiment(opts.seconds, 1, None)?;
        let run =
            RunOptions { backend: Some(opts.backend), window, ..RunOptions::new(opts.agent_exe.clone()) };
        let outcome = crate::run::run(&exp, &run).await?;
        let r = &outcome.report;
        let us = |v: Option<f64>| v.unwrap_or(0.0) * 1e6;
        let limit_per_second = match &opts.limit {
            Some(exe) => Some(run_limit(exe, window, opts.seconds)?),
            None => None,
        };
        points.push(BenchPoint {
            window,
            voted_per_second: r.requests.ok as f64 / r.duration_seconds,
            p50_us: us(r.latency_seconds.p50),
            p99_us: us(r.latency_seconds.p99),
            max_us: us(r.latency_seconds.max),
            limit_per_second,
            ok: r.requests.ok,
            unanimous: r.tmr.as_ref().map_or(0, |t| t.unanimous),
        });
    }
    Ok(points)
}

/// Measure the delay's accuracy: the same open-loop load without, then with, `delay`.
pub async fn delay_accuracy(opts: &BenchOptions, delay: Duration) -> Result<DelayPoint> {
    // Window 0: the client sends at the experiment's rate whatever the replies.
    let run =
        RunOptions { backend: Some(opts.backend), window: 0, ..RunOptions::new(opts.agent_exe.clone()) };
    let mut lat = [[0.0; 3]; 2];
    let mut ok = [0; 2];
    for (i, d) in [None, Some(delay)].into_iter().enumerate() {
        let r = crate::run::run(&experiment(opts.seconds, DELAY_RATE, d)?, &run).await?.report;
        let us = |v: Option<f64>| v.unwrap_or(0.0) * 1e6;
        lat[i] = [us(r.latency_seconds.p50), us(r.latency_seconds.p99), us(r.latency_seconds.max)];
        ok[i] = r.requests.ok;
    }
    Ok(DelayPoint { delay, rate: DELAY_RATE, base_us: lat[0], delayed_us: lat[1], ok })
}

/// Pairs of runs `faultlab bench --delay` makes.
pub const DELAY_ROUNDS: usize = 3;

/// The delay measurement as a table: each round, then the median errors.
pub fn render_delay(rounds: &[DelayPoint]) -> String {
    let mut s = String::new();
    let Some(first) = rounds.first() else { return s };
    let _ = writeln!(
        s,
        "TMR at {}/s open loop; fixed delay {} on replica-1..3 -> voter-1",
        first.rate,
        humantime::format_duration(first.delay)
    );
    let _ = writeln!(
        s,
        "{:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>13} {:>13}",
        "round",
        "base p50",
        "base p99",
        "delay p50",
        "delay p99",
        "delay max",
        "ok",
        "p50 error us",
        "p99 error us"
    );
    for (i, p) in rounds.iter().enumerate() {
        let [e50, e99] = p.errors_us();
        let _ = writeln!(
            s,
            "{:>5} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10} {e50:>13.1} {e99:>13.1}",
            i + 1,
            p.base_us[0],
            p.base_us[1],
            p.delayed_us[0],
            p.delayed_us[1],
            p.delayed_us[2],
            p.ok[1]
        );
    }
    let median = |k: usize| {
        let mut v: Vec<f64> = rounds.iter().map(|p| p.errors_us()[k]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (m50, m99) = (median(0), median(1));
    let verdict = if m50.abs() <= 1000.0 && m99.abs() <= 1000.0 { "within" } else { "outside" };
    let _ = writeln!(
        s,
        "median error: p50 {m50:+.1} us, p99 {m99:+.1} us ({verdict} the +/-1 ms goal; error = added latency - delay)"
    );
    s
}

/// The figures as a table.
pub fn render(points: &[BenchPoint], backend: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "TMR, 3 replicas, 1 voter, no faults, backend {backend}");
    let _ = writeln!(
        s,
        "{:>7} {:>12} {:>9} {:>9} {:>9} {:>12} {:>6} {:>10} {:>10}",
        "window", "voted req/s", "p50 us", "p99 us", "max us", "tmr-limit/s", "ratio", "ok", "unanimous"
    );
    for p in points {
        let (limit, ratio) = match p.limit_per_second {
            Some(l) if l > 0.0 => (format!("{l:.0}"), format!("{:.2}", p.voted_per_second / l)),
            _ => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "{:>7} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>12} {:>6} {:>10} {:>10}",
            p.window, p.voted_per_second, p.p50_us, p.p99_us, p.max_us, limit, ratio, p.ok, p.unanimous
        );
    }
    s
}
