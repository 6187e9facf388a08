//! Running the N runs of a series. On the real backends they go one after
//! the other (they share the host's ports, containers and CPU). On the sim
//! backend each run is CPU-bound and owns all it touches, so several run at
//! once on worker threads; results are put back in run order, and each run's
//! seed depends only on its index, so nothing in the aggregate depends on
//! how many threads there were.

use super::{run_seed, RunResult};
use crate::backend::BackendChoice;
use crate::experiment::Experiment;
use crate::run::{Progress, RunOptions, Stop};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Worker threads for a series on the sim backend: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Whether the runs of `exp` under `opts` are simulated.
pub fn simulated(exp: &Experiment, opts: &RunOptions) -> bool {
    opts.backend.unwrap_or(exp.backend) == BackendChoice::Sim
}

/// Run `i` (1-based) of `n`: its options and output directory.
fn one(opts: &RunOptions, base: u64, i: usize, n: usize) -> (u64, Option<PathBuf>, RunOptions) {
    let seed = run_seed(base, i);
    let dir = opts.out_dir.as_ref().map(|d| d.join(format!("run-{i:03}")));
    // The exporter lingers after the last run only, not between runs.
    let linger = if i == n { opts.metrics_linger } else { Duration::ZERO };
    let run = RunOptions { seed: Some(seed), out_dir: dir.clone(), metrics_linger: linger, ..opts.clone() };
    (seed, dir, run)
}

/// One run to its end, its report.html written; the result and whether it was interrupted.
async fn run_one(exp: &Experiment, opts: &RunOptions, base: u64, i: usize, n: usize) -> Result<RunResult> {
    let (seed, dir, run) = one(opts, base, i, n);
    let outcome = crate::run::run(exp, &run).await.with_context(|| format!("run {i} of {n} failed"))?;
    if let Some(d) = &dir {
        crate::html::write_for_dir(d)?;
    }
    let report = serde_json::to_value(&outcome.report)?;
    Ok(RunResult { index: i, seed, dir, report })
}

fn interrupted(r: &RunResult) -> bool {
    crate::report::lookup(&r.report, "interrupted") == Some(1.0)
}

/// The runs one after the other; stops after an interrupted run.
pub async fn sequential(exp: &Experiment, opts: &RunOptions, base: u64, n: usize) -> Result<Vec<RunResult>> {
    let mut runs = Vec::new();
    for i in 1..=n {
        opts.progress.line(&format!("run {i} of {n} (seed {})", run_seed(base, i)));
        let r = run_one(exp, opts, base, i, n).await?;
        let stop = interrupted(&r);
        runs.push(r);
        if stop {
            opts.progress.line("interrupted: the statistics cover the runs so far");
            break;
        }
    }
    Ok(runs)
}

/// The runs on `threads` worker threads, each with its own current-thread
/// runtime, taking the next run index as it frees up. Ctrl-C interrupts
/// the runs in flight (each listens for it) and starts no more; the series
/// then covers the runs up to the first interrupted or missing one, as a
/// sequential series would. `--metrics-addr` serves one run at a time, so
/// with it the runs go one after the other.
pub async fn parallel(
    exp: &Experiment,
    opts: &RunOptions,
    base: u64,
    n: usize,
    threads: usize,
) -> Result<Vec<RunResult>> {
    let threads = if opts.metrics_addr.is_some() { 1 } else { threads.clamp(1, n.max(1)) };
    let halt = Arc::new(AtomicBool::new(false));
    let mut stop = Stop::new()?;
    let work = {
        let (exp, opts, halt) = (exp.clone(), opts.clone(), halt.clone());
        tokio::task::spawn_blocking(move || pool(&exp, &opts, base, n, threads, &halt))
    };
    tokio::pin!(work);
    let done = tokio::select! {
        r = &mut work => r,
        _ = stop.recv() => {
            halt.store(true, Ordering::SeqCst);
            work.await
        }
    };
    let mut results = done.context("a run's worker thread panicked")?;
    results.sort_by_key(|(i, _)| *i);
    let mut runs = Vec::with_capacity(results.len());
    for (i, r) in results {
        if i != runs.len() + 1 {
            break;
        }
        let r = r?;
        let stop = interrupted(&r);
        runs.push(r);
        if stop {
            break;
        }
    }
    if runs.len() < n {
        opts.progress.line("interrupted: the statistics cover the runs so far");
    }
    Ok(runs)
}

type Slot = (usize, Result<RunResult>);

fn pool(
    exp: &Experiment,
    opts: &RunOptions,
    base: u64,
    n: usize,
    threads: usize,
    halt: &AtomicBool,
) -> Vec<Slot> {
    let next = AtomicUsize::new(1);
    let finished = AtomicUsize::new(0);
    let results: Mutex<Vec<Slot>> = Mutex::new(Vec::with_capacity(n));
    // Runs print nothing of their own: their progress lines would interleave.
    let quiet = RunOptions { progress: Progress::quiet(), ..opts.clone() };
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        halt.store(true, Ordering::SeqCst);
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        push(&results, (i, Err(anyhow::Error::new(e).context("cannot start a runtime"))));
                        return;
                    }
                };
                loop {
                    if halt.load(Ordering::SeqCst) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i > n {
                        return;
                    }
                    let r = rt.block_on(run_one(exp, &quiet, base, i, n));
                    let last = match &r {
                        Ok(run) => interrupted(run),
                        Err(_) => true,
                    };
                    if last {
                        halt.store(true, Ordering::SeqCst);
                    }
                    let k = finished.fetch_add(1, Ordering::SeqCst) + 1;
                    opts.progress
                        .line(&format!("run {i} of {n} done (seed {}), {k} finished", run_seed(base, i)));
                    push(&results, (i, r));
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn push(results: &Mutex<Vec<Slot>>, slot: Slot) {
    results.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(slot);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// What a series says, without what differs between two runs of it by
    /// design: the run ids and the output directories.
    fn without_wall_fields(mut v: Value, out: &std::path::Path) -> Value {
        fn strip(v: &mut Value, out: &str) {
            match v {
                Value::Object(m) => {
                    m.remove("run_id");
                    for x in m.values_mut() {
                        strip(x, out);
                    }
                }
                Value::Array(a) => a.iter_mut().for_each(|x| strip(x, out)),
                Value::String(s) if s.starts_with(out) => *s = s[out.len()..].to_string(),
                _ => {}
            }
        }
        strip(&mut v, &out.display().to_string());
        v
    }

    #[test]
    fn a_simulated_series_is_the_same_on_one_thread_and_on_three() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../experiments/tmr-reliability-model.yaml");
        let exp = crate::experiment::load(&path).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut seen = Vec::new();
        for threads in [1, 3] {
            let dir = tempfile::tempdir().unwrap();
            let opts = RunOptions {
                backend: Some(BackendChoice::Sim),
                duration: Some(Duration::from_secs(15)),
                out_dir: Some(dir.path().to_path_buf()),
                ..RunOptions::new(PathBuf::from("faultlab"))
            };
            let outcome = rt.block_on(super::super::run_on(&exp, &opts, 6, threads)).unwrap();
            assert_eq!(outcome.repeat.runs, 6);
            for i in 1..=6 {
                let run = dir.path().join(format!("run-{i:03}"));
                assert!(
                    run.join("report.json").exists() && run.join("events.jsonl").exists(),
                    "{}",
                    run.display()
                );
                let r: Value =
                    serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
                assert_eq!(r["seed"].as_u64(), Some(run_seed(exp.seed, i)));
            }
            let events: Vec<String> = (1..=6)
                .map(|i| {
                    std::fs::read_to_string(dir.path().join(format!("run-{i:03}/events.jsonl"))).unwrap()
                })
                .collect();
            seen.push((without_wall_fields(outcome.report, dir.path()), events));
        }
        assert!(seen[0].0["repeat"]["failures"].as_u64().unwrap() > 0, "{}", seen[0].0);
        assert_eq!(seen[0].0, seen[1].0, "the aggregate does not depend on the threads");
        assert_eq!(seen[0].1, seen[1].1, "nor does any run's events.jsonl");
    }
}
