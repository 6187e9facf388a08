//! The heartbeat workload on the simulator: the real driver, virtual time,
//! a fixed network delay, nodes that start apart and crash.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{collect, fixed as link};
use driver::sim::Sim;
use std::time::Duration;
use workloads::heartbeat::{Config, DetectorConfig, DetectorKind, HeartbeatNode};
use workloads::{NodeId, Observation, Time};

const MS: u64 = 1_000_000;

/// `n` heartbeat nodes started 13 ms apart, as real agents do; what they observed.
struct Mesh {
    sim: Sim<HeartbeatNode>,
    /// (time, monitor, observation).
    seen: Vec<(Time, NodeId, Observation)>,
}

impl Mesh {
    fn new(n: u16, detector: DetectorConfig, delay_ms: u64) -> Mesh {
        let cfg = Config { nodes: (0..n).map(NodeId).collect(), detector };
        let sim = common::sim(n, link(Duration::from_millis(delay_ms)), 1, move |me, _, _| {
            HeartbeatNode::new(me, &cfg)
        });
        let mut mesh = Mesh { sim, seen: Vec::new() };
        for i in 0..n {
            mesh.run_until(u64::from(i) * 13 * MS);
            mesh.sim.start_node(NodeId(i));
        }
        mesh
    }

    fn run_until(&mut self, end: u64) {
        self.sim.run_until(Time(end));
        collect(&mut self.sim, &mut self.seen);
    }

    fn node(&self, i: u16) -> &HeartbeatNode {
        self.sim.driver(NodeId(i)).expect("the node runs").node()
    }

    fn suspicions_of(&self, peer: u16) -> Vec<(u64, NodeId)> {
        self.seen
            .iter()
            .filter(|(_, _, o)| *o == Observation::Suspect { peer: NodeId(peer) })
            .map(|(t, n, _)| (t.as_nanos(), *n))
            .collect()
    }
}

fn fixed(interval_ms: u64, timeout_ms: u64, check_ms: u64) -> DetectorConfig {
    DetectorConfig {
        interval: Duration::from_millis(interval_ms),
        check: Duration::from_millis(check_ms),
        kind: DetectorKind::Fixed { timeout: Duration::from_millis(timeout_ms) },
    }
}

#[test]
fn fixed_timeout_detects_a_crash_within_the_window_and_never_suspects_live_nodes() {
    let (eta, delta, d, g) = (100, 500, 2, 5);
    // Crash node 1 at many phases of its heartbeat period.
    for phase in 0..20u64 {
        let mut sim = Mesh::new(4, fixed(eta, delta, g), d);
        let crash = 3_000 * MS + phase * 5 * MS + 13 * MS;
        sim.run_until(crash);
        sim.sim.crash(NodeId(1));
        sim.run_until(crash + 2_000 * MS);
        let s = sim.suspicions_of(1);
        assert_eq!(s.len(), 3, "every other node suspects node 1 once: {s:?}");
        for (t, monitor) in s {
            let td = t - crash;
            assert!(
                td > (delta - eta + d) * MS && td <= (delta + d + g) * MS,
                "phase {phase}: {monitor} detected after {} ms, outside (Δ − η + d, Δ + d + g]",
                td as f64 / 1e6
            );
        }
        let false_ones = sim
            .seen
            .iter()
            .filter(|(_, _, o)| matches!(o, Observation::Suspect { peer } if *peer != NodeId(1)))
            .count();
        assert_eq!(false_ones, 0);
    }
}

#[test]
fn phi_and_chen_detect_a_crash_and_trust_a_restarted_node() {
    let kinds = [
        DetectorKind::PhiAccrual {
            threshold: 8.0,
            window: 1000,
            min_std_dev: Duration::from_millis(100),
            acceptable_pause: Duration::ZERO,
        },
        DetectorKind::Chen { alpha: Duration::from_millis(200), window: 1000 },
    ];
    for kind in kinds {
        let cfg =
            DetectorConfig { interval: Duration::from_millis(100), check: Duration::from_millis(5), kind };
        let mut sim = Mesh::new(3, cfg.clone(), 1);
        sim.run_until(5_000 * MS);
        assert!(sim.seen.is_empty(), "no suspicion while everyone is up: {:?}", sim.seen);
        sim.sim.crash(NodeId(2));
        sim.run_until(7_000 * MS);
        let s = sim.suspicions_of(2);
        assert_eq!(s.len(), 2, "{cfg:?}");
        for (t, _) in &s {
            let td = (t - 5_000 * MS) as f64 / 1e6;
            // φ: about 5.2 std devs (100 ms floor) past a 100 ms mean; Chen: α past the expected arrival.
            assert!((200.0..=750.0).contains(&td), "{cfg:?}: T_D = {td} ms");
        }
        // Restart node 2 as a new incarnation: both monitors trust it again.
        sim.sim.restart(NodeId(2));
        sim.run_until(8_000 * MS);
        let trusts = sim.seen.iter().filter(|(_, _, o)| *o == Observation::Trust { peer: NodeId(2) }).count();
        assert_eq!(trusts, 2, "{cfg:?}");
        assert!(!sim.node(0).suspects(NodeId(2)) && !sim.node(2).suspects(NodeId(0)));
    }
}
