//! The linearizability checker's figures: a 100,000-operation history with 8
//! clients over 100 keys, and how the time grows with concurrency on one key.
//!
//! `cargo bench -p workloads --bench linearizability` prints a table.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};
use workloads::history::simulate::{simulate, Workload};
use workloads::history::{check, pair, Budget, Operation, Value};

fn history(workload: &Workload, seed: u64) -> Vec<Operation> {
    let events = simulate(workload, &mut ChaCha8Rng::seed_from_u64(seed));
    pair(&events).unwrap_or_default()
}

/// The best of `runs` checks, and the verdict.
fn time(ops: &[Operation], runs: usize) -> (Duration, Option<bool>, usize) {
    let mut best = Duration::MAX;
    let mut verdict = None;
    let mut anomaly = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let report = check(ops, Budget::default());
        best = best.min(start.elapsed());
        verdict = report.ok;
        anomaly = report.anomaly.map_or(0, |a| a.ops.len());
    }
    (best, verdict, anomaly)
}

fn row(label: &str, ops: &[Operation], runs: usize) {
    let (elapsed, ok, anomaly) = time(ops, runs);
    let verdict = match ok {
        Some(true) => "linearizable".to_string(),
        Some(false) => format!("not linearizable, anomaly of {anomaly} ops"),
        None => "unknown (budget)".to_string(),
    };
    println!("{label:<58} {:>7} ops {:>10.3} ms  {verdict}", ops.len(), elapsed.as_secs_f64() * 1e3);
}

/// Makes one `ok` read in the second half of the history return a value never written.
fn corrupt(mut ops: Vec<Operation>) -> Vec<Operation> {
    let half = ops.len() / 2;
    if let Some(op) = ops.iter_mut().skip(half).find(|o| o.f == workloads::history::Function::Read) {
        op.value = Value::Single(Some(-1));
    }
    ops
}

fn main() {
    println!("linearizability checker (best of 3 runs)");
    let big = Workload::new(8, 100, 100_000);
    row("8 clients, 100 keys, all ok", &history(&big, 1), 3);
    let faulty = Workload { fail: 0.05, info: 0.05, ..big };
    row("8 clients, 100 keys, 5% fail, 5% info", &history(&faulty, 2), 3);
    let few_values = Workload { values: 5, ..faulty };
    row("8 clients, 100 keys, 5% fail, 5% info, values 0..5", &history(&few_values, 3), 3);
    row("8 clients, 100 keys, one read corrupted (check + shrink)", &corrupt(history(&faulty, 2)), 3);
    println!();
    println!("one key, 1,000 operations");
    for clients in [2, 4, 8, 16, 32] {
        let one_key = Workload::new(clients, 1, 1_000);
        row(&format!("{clients:>2} clients, all ok"), &history(&one_key, 4), 3);
        let faulty = Workload { fail: 0.05, info: 0.05, ..one_key };
        row(&format!("{clients:>2} clients, 5% fail, 5% info"), &history(&faulty, 5), 3);
        let few_values = Workload { values: 5, ..faulty };
        row(&format!("{clients:>2} clients, 5% fail, 5% info, values 0..5"), &history(&few_values, 6), 3);
    }
}
