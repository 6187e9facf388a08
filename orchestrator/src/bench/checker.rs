//! `faultlab bench --checker`: the linearizability checker on generated
//! histories (linearizable by construction, from clients of one correct
//! register per key): a large one of 100,000 operations by 8 clients over
//! 100 keys, and how the time grows as more clients share one key.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::fmt::Write;
use std::time::Instant;
use workloads::history::simulate::{simulate, Workload};
use workloads::history::{self, Budget};

/// One measured history.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckerPoint {
    pub clients: usize,
    pub keys: u64,
    pub ops: usize,
    /// Share of operations that end `info` (outcome unknown).
    pub info: f64,
    /// Pairing events into operations, seconds.
    pub pair_seconds: f64,
    /// The check itself, seconds.
    pub check_seconds: f64,
    /// Steps of the search on the one key of a single-key history.
    pub steps: Option<u64>,
    /// The verdict (true: linearizable; None: out of budget).
    pub ok: Option<bool>,
}

/// Generate and check one history.
pub fn measure(clients: usize, keys: u64, ops: usize, info: f64, seed: u64) -> CheckerPoint {
    let workload = Workload { info, ..Workload::new(clients, keys, ops) };
    let events = simulate(&workload, &mut ChaCha8Rng::seed_from_u64(seed));
    let t = Instant::now();
    let paired = history::pair(&events);
    let pair_seconds = t.elapsed().as_secs_f64();
    let Ok(paired) = paired else {
        return CheckerPoint {
            clients,
            keys,
            ops,
            info,
            pair_seconds,
            check_seconds: 0.0,
            steps: None,
            ok: None,
        };
    };
    let t = Instant::now();
    let (ok, steps) = if keys == 1 {
        let (verdict, steps) = history::search::check_key_spending(&paired, Budget::default());
        let ok = match verdict {
            history::Verdict::Linearizable => Some(true),
            history::Verdict::NotLinearizable => Some(false),
            history::Verdict::Unknown => None,
        };
        (ok, Some(steps))
    } else {
        (history::check(&paired, Budget::default()).ok, None)
    };
    let check_seconds = t.elapsed().as_secs_f64();
    CheckerPoint { clients, keys, ops: paired.len(), info, pair_seconds, check_seconds, steps, ok }
}

/// The large history, then one key shared by more and more clients.
pub fn run() -> Vec<CheckerPoint> {
    let mut points = vec![measure(8, 100, 100_000, 0.0, 1), measure(8, 100, 100_000, 0.02, 2)];
    for clients in [1, 2, 4, 8, 16, 32, 64] {
        points.push(measure(clients, 1, 10_000, 0.0, 3));
    }
    for clients in [2, 8, 32] {
        points.push(measure(clients, 1, 10_000, 0.02, 4));
    }
    points
}

/// The figures as a table.
pub fn render(points: &[CheckerPoint]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "linearizability checker (Wing-Gong with Lowe's cache, per key), generated linearizable histories"
    );
    let _ = writeln!(
        s,
        "{:>7} {:>5} {:>8} {:>5} {:>8} {:>9} {:>12} {:>11} {:>7}",
        "clients", "keys", "ops", "info", "pair s", "check s", "ops/check s", "steps", "verdict"
    );
    for p in points {
        let _ = writeln!(
            s,
            "{:>7} {:>5} {:>8} {:>4.0}% {:>8.3} {:>9.3} {:>12.0} {:>11} {:>7}",
            p.clients,
            p.keys,
            p.ops,
            p.info * 100.0,
            p.pair_seconds,
            p.check_seconds,
            p.ops as f64 / p.check_seconds.max(1e-9),
            p.steps.map_or("-".into(), |n| n.to_string()),
            match p.ok {
                Some(true) => "ok",
                Some(false) => "FAIL",
                None => "unknown",
            }
        );
    }
    let _ = writeln!(
        s,
        "unknown: the search on that key ran out of its budget (10^6 cached states, 10^8 steps) before deciding"
    );
    let _ = writeln!(s, "goal: 100,000 operations, 8 clients, 100 keys, checked in under 10 s");
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn small_histories_check_linearizable_and_render() {
        let big = measure(8, 10, 2_000, 0.02, 1);
        assert_eq!(big.ok, Some(true));
        assert!(big.ops >= 2_000);
        let one = measure(4, 1, 500, 0.0, 2);
        assert_eq!(one.ok, Some(true));
        assert!(one.steps.is_some_and(|s| s > 0));
        assert!(render(&[big, one]).contains("checked in under 10 s"));
    }
}
