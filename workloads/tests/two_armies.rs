//! The two generals on the simulator, with the real interposer losing each
//! messenger with probability p: the measured fraction of instances in
//! which one general attacked alone matches p (1 − p)^k.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::fixed;
use faults::{Direction, FaultId, LinkScope, MessageFault};
use std::collections::BTreeMap;
use std::time::Duration;
use workloads::two_armies::{theory, ArmiesEvent, Config, General};
use workloads::{NodeId, Observation, Time};

const A: NodeId = NodeId(0);
const B: NodeId = NodeId(1);

/// Per outcome, how many of `instances` instances ended that way: (both, alone, neither).
fn run(k: u32, p: f64, instances: u64, seed: u64) -> (u64, u64, u64) {
    let config = Config {
        proposer: A,
        other: B,
        rounds: k,
        interval: Duration::from_millis(20),
        round: Duration::from_millis(3),
    };
    let mut sim =
        common::sim(2, fixed(Duration::from_millis(1)), seed, move |me, _, _| General::new(me, &config));
    for g in [A, B] {
        let omission =
            MessageFault::Omission { direction: Direction::Send, probability: p, links: LinkScope::All };
        sim.install(g, FaultId(1), omission);
    }
    sim.start();
    sim.run_until(Time::from_millis(20 * (instances + 2)));
    let mut seen = Vec::new();
    common::collect(&mut sim, &mut seen);
    // Per instance, what each general decided (a general that never heard of it stayed home).
    let mut decided: BTreeMap<u64, BTreeMap<NodeId, bool>> = BTreeMap::new();
    for (_, node, o) in seen {
        match o {
            Observation::TwoArmies(ArmiesEvent::Proposed { instance, .. }) => {
                decided.entry(instance).or_default();
            }
            Observation::TwoArmies(ArmiesEvent::Decided { instance, attack, .. }) => {
                assert!(decided.entry(instance).or_default().insert(node, attack).is_none(), "decided twice");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut counts = (0, 0, 0);
    for d in decided.values().take(instances as usize) {
        match (d.get(&A).copied().unwrap_or(false), d.get(&B).copied().unwrap_or(false)) {
            (true, true) => counts.0 += 1,
            (false, false) => counts.2 += 1,
            _ => counts.1 += 1,
        }
    }
    assert_eq!(counts.0 + counts.1 + counts.2, instances, "every instance was decided");
    counts
}

#[test]
fn without_loss_both_always_attack() {
    for k in [0, 1, 3] {
        assert_eq!(run(k, 0.0, 200, 1), (200, 0, 0), "k={k}");
    }
}

#[test]
fn the_fraction_alone_matches_p_times_one_minus_p_to_the_k() {
    let n = 4000;
    for (p, k) in [(0.3, 1), (0.3, 2), (0.3, 4), (0.1, 1), (0.1, 3), (0.5, 2)] {
        let (both, alone, _) = run(k, p, n, 7 + u64::from(k));
        let expected = theory::outcomes(k, p, p);
        let measured = alone as f64 / n as f64;
        let se = (expected.alone * (1.0 - expected.alone) / n as f64).sqrt();
        eprintln!("p={p} k={k}: alone {measured:.4}, theory {:.4} (se {se:.4})", expected.alone);
        assert!(
            (measured - expected.alone).abs() <= 4.0 * se,
            "p={p} k={k}: alone {measured:.4}, theory {:.4} ± {:.4}",
            expected.alone,
            4.0 * se
        );
        let both_f = both as f64 / n as f64;
        let se_both = (expected.both * (1.0 - expected.both) / n as f64).sqrt();
        assert!((both_f - expected.both).abs() <= 4.0 * se_both, "p={p} k={k}: both {both_f:.4}");
        assert!(alone > 0, "never zero");
    }
}
