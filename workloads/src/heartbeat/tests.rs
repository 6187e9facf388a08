//! The heartbeat workload driven with virtual time: a tiny event loop over
//! nodes, timers and a fixed network delay.

use super::*;
use crate::Observation;
use std::collections::BTreeMap;
use std::time::Duration;

const MS: u64 = 1_000_000;

/// Nodes, pending timers and messages in flight, advanced in time order.
struct Sim {
    nodes: Vec<HeartbeatNode>,
    alive: Vec<bool>,
    /// (time, sequence) → event; the sequence keeps insertion order at equal times.
    queue: BTreeMap<(u64, u64), Ev>,
    seq: u64,
    delay: u64,
    now: u64,
    /// (time, monitor, observation).
    seen: Vec<(u64, NodeId, Observation)>,
}

enum Ev {
    Timer(usize, TimerId),
    Deliver(usize, NodeId, Msg),
}

impl Sim {
    fn new(n: u16, detector: DetectorConfig, delay_ms: u64) -> Sim {
        let cfg = Config { nodes: (0..n).map(NodeId).collect(), detector };
        let nodes = (0..n).map(|i| HeartbeatNode::new(NodeId(i), &cfg)).collect();
        let mut s = Sim {
            nodes,
            alive: vec![true; usize::from(n)],
            queue: BTreeMap::new(),
            seq: 0,
            delay: delay_ms * MS,
            now: 0,
            seen: Vec::new(),
        };
        for i in 0..usize::from(n) {
            // Nodes start a little apart, as real agents do.
            s.start(i, i as u64 * 13 * MS);
        }
        s
    }

    fn start(&mut self, i: usize, at: u64) {
        let mut out = Effects::new();
        self.nodes[i].on_start(Time(at), &mut out);
        self.apply(i, at, out);
    }

    fn apply(&mut self, i: usize, at: u64, out: Effects<Msg>) {
        for (after, id) in out.timers {
            self.seq += 1;
            self.queue.insert((at + after.as_nanos() as u64, self.seq), Ev::Timer(i, id));
        }
        for (to, m) in out.sends {
            self.seq += 1;
            self.queue
                .insert((at + self.delay, self.seq), Ev::Deliver(usize::from(to.0), NodeId(i as u16), m));
        }
        for o in out.observations {
            self.seen.push((at, NodeId(i as u16), o));
        }
    }

    fn run_until(&mut self, end: u64) {
        while let Some(entry) = self.queue.first_entry() {
            let (t, _) = *entry.key();
            if t > end {
                break;
            }
            let ev = entry.remove();
            self.now = t;
            let mut out = Effects::new();
            let i = match ev {
                Ev::Timer(i, id) if self.alive[i] => {
                    self.nodes[i].on_timer(Time(t), id, &mut out);
                    i
                }
                Ev::Deliver(i, from, m) if self.alive[i] => {
                    self.nodes[i].on_message(Time(t), from, m, &mut out);
                    i
                }
                _ => continue,
            };
            self.apply(i, t, out);
        }
        self.now = end;
    }

    /// The node stops: its pending timers and messages to it are dropped.
    fn crash(&mut self, i: usize) {
        self.alive[i] = false;
    }

    fn suspicions_of(&self, peer: u16) -> Vec<(u64, NodeId)> {
        self.seen
            .iter()
            .filter(|(_, _, o)| *o == Observation::Suspect { peer: NodeId(peer) })
            .map(|(t, n, _)| (*t, *n))
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
        let mut sim = Sim::new(4, fixed(eta, delta, g), d);
        let crash = 3_000 * MS + phase * 5 * MS + 13 * MS;
        sim.run_until(crash);
        sim.crash(1);
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
        let mut sim = Sim::new(3, cfg.clone(), 1);
        sim.run_until(5_000 * MS);
        assert!(sim.seen.is_empty(), "no suspicion while everyone is up: {:?}", sim.seen);
        sim.crash(2);
        sim.run_until(7_000 * MS);
        let s = sim.suspicions_of(2);
        assert_eq!(s.len(), 2, "{cfg:?}");
        for (t, _) in &s {
            let td = (t - 5_000 * MS) as f64 / 1e6;
            // φ: about 5.2 std devs (100 ms floor) past a 100 ms mean; Chen: α past the expected arrival.
            assert!((200.0..=750.0).contains(&td), "{cfg:?}: T_D = {td} ms");
        }
        // Restart node 2 as a new incarnation: both monitors trust it again.
        let c = Config { nodes: (0..3).map(NodeId).collect(), detector: cfg.clone() };
        sim.nodes[2] = HeartbeatNode::new(NodeId(2), &c);
        sim.alive[2] = true;
        sim.start(2, 7_000 * MS);
        sim.run_until(8_000 * MS);
        let trusts = sim.seen.iter().filter(|(_, _, o)| *o == Observation::Trust { peer: NodeId(2) }).count();
        assert_eq!(trusts, 2, "{cfg:?}");
        assert!(!sim.nodes[0].suspects(NodeId(2)) && !sim.nodes[2].suspects(NodeId(0)));
    }
}
