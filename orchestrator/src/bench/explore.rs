//! `faultlab bench --explore`: how fast the model checker goes. OM(1) with
//! four and with five generals (one traitor among the commander and a
//! lieutenant), searched breadth-first until every reachable state is
//! checked, several times each on this one thread; the figures are
//! distinct states per second of wall time (median, with the lowest and
//! highest) and per second of this thread's CPU time (median), which a
//! machine shared with other work changes less.

use crate::explore::{dispatch, Options, Setup, WithSetup};
use anyhow::{bail, Result};
use driver::explore::{self, Bounds, Invariant, Stats, Strategy};
use std::fmt::Write;
use std::hash::Hash;
use std::path::Path;
use std::time::Duration;
use workloads::Node;

/// One model, searched `runs` times.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplorePoint {
    pub name: String,
    pub states: usize,
    pub transitions: usize,
    /// Each run's wall time, seconds, sorted.
    pub seconds: Vec<f64>,
    /// Each run's CPU time on this thread, seconds, sorted.
    pub cpu_seconds: Vec<f64>,
}

impl ExplorePoint {
    /// Distinct states per second of the median run.
    pub fn states_per_second(&self) -> f64 {
        self.states as f64 / median(&self.seconds).max(1e-9)
    }

    /// Distinct states per CPU second of the median run.
    pub fn states_per_cpu_second(&self) -> f64 {
        self.states as f64 / median(&self.cpu_seconds).max(1e-9)
    }
}

/// This thread's CPU time so far, seconds.
fn thread_cpu() -> f64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or(0.0, |t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// OM(1) with `generals` generals, either the commander or lieutenant-3 a traitor.
fn om1(generals: usize) -> String {
    format!(
        "name: om1-{generals}\nseed: 21\nduration: 30s\nbackend: sim\n\
         workload: {{ kind: byzantine-agreement, generals: {generals}, traitors: 1, interval: 200ms, round: 40ms }}\n\
         faults:\n  \
         - {{ at: 3s, for: 10s, kind: byzantine, target: lieutenant-3, mode: corrupt }}\n  \
         - {{ at: 16s, for: 10s, kind: byzantine, target: commander-1, mode: equivocate }}\n"
    )
}

/// Searches a setup once, to the end.
struct Once;

impl WithSetup for Once {
    type Out = (Stats, bool);

    fn with<N, I>(self, setup: Setup<N, I>) -> Result<(Stats, bool)>
    where
        N: Node + Clone + Hash,
        N::Msg: Hash + PartialEq,
        I: Invariant,
    {
        let bounds = Bounds { depth: 1_000, states: 100_000_000, time: Duration::from_secs(600) };
        let report = explore::explore(&setup.model, bounds, Strategy::Bfs, &mut |_| {});
        Ok((report.stats, report.exhaustive()))
    }
}

/// Search `text`'s model `runs` times.
pub fn measure(name: &str, text: &str, runs: usize) -> Result<ExplorePoint> {
    let exp = crate::experiment::parse_str(Path::new(name), text)?;
    let mut seconds = Vec::new();
    let mut cpu_seconds = Vec::new();
    let mut figures = (0, 0);
    for _ in 0..runs.max(1) {
        let cpu = thread_cpu();
        let Some((stats, exhaustive)) = dispatch(&exp, Options::default(), Once)? else {
            bail!("{name}: explore does not support this workload");
        };
        if !exhaustive {
            bail!("{name}: the search did not cover every state");
        }
        figures = (stats.states, stats.transitions);
        seconds.push(stats.elapsed.as_secs_f64());
        cpu_seconds.push(thread_cpu() - cpu);
    }
    seconds.sort_by(f64::total_cmp);
    cpu_seconds.sort_by(f64::total_cmp);
    Ok(ExplorePoint {
        name: name.to_string(),
        states: figures.0,
        transitions: figures.1,
        seconds,
        cpu_seconds,
    })
}

/// OM(1) with four generals (20 runs: it takes milliseconds) and five (5 runs).
pub fn run() -> Result<Vec<ExplorePoint>> {
    Ok(vec![
        measure("OM(1), N = 4, 1 traitor", &om1(4), 20)?,
        measure("OM(1), N = 5, 1 traitor", &om1(5), 5)?,
    ])
}

/// The figures as a table.
pub fn render(points: &[ExplorePoint]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "explore: breadth-first, every reachable state checked, one thread; states/s of the median run (lowest–highest)"
    );
    let _ = writeln!(
        s,
        "{:<26} {:>10} {:>12} {:>5} {:>10} {:>12} {:>22} {:>10} {:>14}",
        "model",
        "states",
        "transitions",
        "runs",
        "median s",
        "states/s",
        "range states/s",
        "CPU s",
        "states/CPU s"
    );
    for p in points {
        let lo = p.states as f64 / p.seconds.last().copied().unwrap_or(0.0).max(1e-9);
        let hi = p.states as f64 / p.seconds.first().copied().unwrap_or(0.0).max(1e-9);
        let _ = writeln!(
            s,
            "{:<26} {:>10} {:>12} {:>5} {:>10.4} {:>12.0} {:>22} {:>10.4} {:>14.0}",
            p.name,
            p.states,
            p.transitions,
            p.seconds.len(),
            median(&p.seconds),
            p.states_per_second(),
            format!("{lo:.0}–{hi:.0}"),
            median(&p.cpu_seconds),
            p.states_per_cpu_second()
        );
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn om1_with_four_generals_is_searched_to_the_end_and_rendered() {
        let p = measure("om1-4", &om1(4), 2).unwrap();
        // The state count of the search (the README and the explore test give the same).
        assert_eq!(p.states, 2_686);
        assert!(p.transitions > p.states);
        assert_eq!(p.seconds.len(), 2);
        assert_eq!(p.cpu_seconds.len(), 2);
        assert!(p.cpu_seconds[1] > 0.0, "the search takes some CPU time");
        assert!(p.seconds[0] <= p.seconds[1]);
        let table = render(&[p]);
        assert!(table.contains("om1-4") && table.contains("2686"), "{table}");
    }

    #[test]
    fn median_of_odd_and_even_runs() {
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
    }
}
