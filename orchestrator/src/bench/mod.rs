//! `faultlab bench`: voted requests per second and latency of the TMR service
//! with no faults, measured end to end through real agents; and (`deploy`)
//! the time to bring agents up on the docker backend beside docker-compose.

pub mod deploy;

use crate::backend::BackendChoice;
use crate::run::RunOptions;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

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

fn experiment(seconds: u64) -> Result<crate::experiment::Experiment> {
    let text = format!(
        "name: bench-tmr\nseed: 1\nduration: {seconds}s\nworkload:\n  kind: tmr\n  replicas: 3\n  voters: 1\n  rate: 1/s\n  deadline: 1s\n"
    );
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
        let exp = experiment(opts.seconds)?;
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
