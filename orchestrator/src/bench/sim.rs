//! `faultlab bench --sim`: how fast the sim backend runs, through the whole
//! run (every node's driver with its interposer and timers, the network
//! model, the recorder, the report), on one core. Message deliveries per wall
//! second measure the machinery; simulated seconds per wall second say how
//! much faster than real time an experiment of that size runs.

use crate::backend::BackendChoice;
use crate::experiment::Experiment;
use crate::run::RunOptions;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One workload to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: &'static str,
    /// Simulated seconds to run (the drain after the end comes on top).
    pub seconds: u64,
    /// The experiment file's text.
    pub text: String,
}

/// The measured workloads: TMR at 2,000 requests/s (about 14,000 messages
/// per simulated second) and heartbeat meshes of 50 and 200 nodes (n(n−1)
/// heartbeats every 100 ms: 24,500 and 398,000 per simulated second).
pub fn scenarios(scale: f64) -> Vec<Scenario> {
    let secs = |s: f64| ((s * scale).round() as u64).max(1);
    let mesh = |n: usize, seconds: u64| Scenario {
        name: if n == 50 { "heartbeat mesh, 50 nodes" } else { "heartbeat mesh, 200 nodes" },
        seconds,
        text: format!(
            "name: bench-mesh-{n}\nseed: 1\nduration: {seconds}s\nbackend: sim\n\
             workload: {{ kind: heartbeat, nodes: {n} }}\n\
             detector: {{ kind: fixed, interval: 100ms, timeout: 500ms }}\n"
        ),
    };
    let tmr = secs(60.0);
    vec![
        Scenario {
            name: "TMR at 2,000 requests/s",
            seconds: tmr,
            text: format!(
                "name: bench-tmr-sim\nseed: 1\nduration: {tmr}s\nbackend: sim\n\
                 workload: {{ kind: tmr, replicas: 3, voters: 1, rate: 2000/s, deadline: 1s }}\n"
            ),
        },
        mesh(50, secs(60.0)),
        mesh(200, secs(10.0)),
    ]
}

/// One measured workload.
#[derive(Clone, Debug, PartialEq)]
pub struct SimPoint {
    pub name: &'static str,
    pub nodes: usize,
    pub simulated_seconds: f64,
    pub wall_seconds: f64,
    /// CPU time the run took on its thread (Linux), which another load on
    /// the machine does not inflate as it does the wall time.
    pub cpu_seconds: Option<f64>,
    /// Messages handed to a node's driver.
    pub delivered: u64,
}

impl SimPoint {
    /// Deliveries per wall second.
    pub fn deliveries_per_second(&self) -> f64 {
        self.delivered as f64 / self.wall_seconds.max(1e-9)
    }

    /// Simulated seconds per wall second (how many times faster than real time).
    pub fn speedup(&self) -> f64 {
        self.simulated_seconds / self.wall_seconds.max(1e-9)
    }

    /// Deliveries per simulated second.
    pub fn messages_per_simulated_second(&self) -> f64 {
        self.delivered as f64 / self.simulated_seconds.max(1e-9)
    }
}

/// The calling thread's time on a CPU so far (the first field of
/// /proc/thread-self/schedstat, in nanoseconds).
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

fn load(s: &Scenario) -> Result<Experiment> {
    Ok(crate::experiment::parse_str(Path::new(&format!("<{}>", s.name)), &s.text)?)
}

/// Run one workload on the sim backend, on the calling thread, and time it.
/// With `out`, events.jsonl and report.json are written there, as a run writes them.
pub async fn measure(s: &Scenario, out: Option<PathBuf>) -> Result<SimPoint> {
    let exp = load(s)?;
    let opts = RunOptions {
        backend: Some(BackendChoice::Sim),
        out_dir: out,
        ..RunOptions::new(PathBuf::from("faultlab"))
    };
    let (wall, cpu) = (Instant::now(), thread_cpu());
    let outcome = crate::run::run(&exp, &opts).await.with_context(|| format!("{} failed", s.name))?;
    let wall_seconds = wall.elapsed().as_secs_f64();
    let cpu_seconds = cpu.zip(thread_cpu()).map(|(a, b)| (b - a).as_secs_f64());
    Ok(SimPoint {
        name: s.name,
        nodes: exp.topology.nodes.len(),
        simulated_seconds: outcome.simulated.unwrap_or(Duration::from_secs(s.seconds)).as_secs_f64(),
        wall_seconds,
        cpu_seconds,
        delivered: outcome.delivered.unwrap_or(0),
    })
}

/// The figures as a table, with the goals beside them.
pub fn render(points: &[SimPoint], events: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "sim backend, one core, whole run (drivers, interposers, timers, network model, recorder{})",
        if events { ", events.jsonl" } else { "" }
    );
    let _ = writeln!(
        s,
        "{:<26} {:>6} {:>7} {:>7} {:>7} {:>10} {:>11} {:>17} {:>11} {:>16}",
        "workload",
        "nodes",
        "sim s",
        "wall s",
        "cpu s",
        "deliveries",
        "msgs/sim s",
        "deliveries/wall s",
        "x real time",
        "deliveries/cpu s"
    );
    for p in points {
        let _ = writeln!(
            s,
            "{:<26} {:>6} {:>7.1} {:>7.2} {:>7} {:>10} {:>11.0} {:>17.0} {:>11.1} {:>16}",
            p.name,
            p.nodes,
            p.simulated_seconds,
            p.wall_seconds,
            p.cpu_seconds.map_or("-".into(), |c| format!("{c:.2}")),
            p.delivered,
            p.messages_per_simulated_second(),
            p.deliveries_per_second(),
            p.speedup(),
            p.cpu_seconds.map_or("-".into(), |c| format!("{:.0}", p.delivered as f64 / c.max(1e-9))),
        );
    }
    let _ = writeln!(
        s,
        "goals: >= 1,000,000 deliveries per wall second; TMR at 2,000/s >= 100x real time; 50-node mesh >= 50x"
    );
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_scenarios_load_and_a_short_one_runs() {
        let all = scenarios(0.02);
        for s in &all {
            load(s).unwrap();
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let p = rt.block_on(measure(&all[1], None)).unwrap();
        assert_eq!(p.nodes, 50);
        // 50 × 49 heartbeats every 100 ms (over the run and the drain after it).
        let per_second = p.messages_per_simulated_second();
        assert!((20_000.0..=26_000.0).contains(&per_second), "{p:?}");
        assert!(render(&[p], false).contains("heartbeat mesh, 50 nodes"));
    }
}
