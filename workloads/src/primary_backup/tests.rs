//! Primary/backup driven with virtual time: three replicas and a client,
//! a fixed network delay, the primary crashing.

use super::*;
use crate::heartbeat::DetectorKind;
use crate::observation::FailoverPhase;
use crate::{Observation, Outcome};
use std::collections::BTreeMap;

const MS: u64 = 1_000_000;

enum Ev {
    Timer(usize, TimerId),
    Deliver(usize, NodeId, Msg),
}

struct Sim {
    nodes: Vec<PrimaryBackupNode>,
    alive: Vec<bool>,
    queue: BTreeMap<(u64, u64), Ev>,
    seq: u64,
    delay: u64,
    seen: Vec<(u64, NodeId, Observation)>,
}

fn config(role: Role) -> Config {
    Config {
        role,
        replicas: vec![NodeId(0), NodeId(1), NodeId(2)],
        clients: vec![NodeId(3)],
        rate: 200.0,
        deadline: Duration::from_millis(100),
        retry: Duration::from_millis(30),
        gap_timeout: Duration::from_millis(20),
        detector: DetectorConfig {
            interval: Duration::from_millis(50),
            check: Duration::from_millis(2),
            kind: DetectorKind::Fixed { timeout: Duration::from_millis(250) },
        },
    }
}

impl Sim {
    fn new(delay_ms: u64) -> Sim {
        let mut nodes: Vec<PrimaryBackupNode> =
            (0..3).map(|i| PrimaryBackupNode::new(NodeId(i), &config(Role::Replica), false)).collect();
        nodes.push(PrimaryBackupNode::new(NodeId(3), &config(Role::Client), false));
        let mut s = Sim {
            nodes,
            alive: vec![true; 4],
            queue: BTreeMap::new(),
            seq: 0,
            delay: delay_ms * MS,
            seen: vec![],
        };
        for i in 0..4 {
            s.start(i, i as u64 * MS);
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
            let mut out = Effects::new();
            let i = match entry.remove() {
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
    }

    fn outcomes(&self, from: u64, to: u64) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for (_, _, o) in &self.seen {
            if let Observation::Request { sent, outcome, .. } = o {
                if sent.as_nanos() >= from && sent.as_nanos() < to {
                    match outcome {
                        Outcome::Ok => c.0 += 1,
                        Outcome::Failed => c.1 += 1,
                        Outcome::Wrong => c.2 += 1,
                    }
                }
            }
        }
        c
    }

    fn replica(&self, i: usize) -> &Replica {
        match &self.nodes[i] {
            PrimaryBackupNode::Replica(r) => r,
            PrimaryBackupNode::Client(_) => panic!("node {i} is the client"),
        }
    }
}

#[test]
fn the_primary_serves_after_the_backups_acknowledge() {
    let mut sim = Sim::new(1);
    sim.run_until(2_000 * MS);
    let (ok, failed, wrong) = sim.outcomes(0, 1_800 * MS);
    assert!(ok >= 350 && failed == 0 && wrong == 0, "{ok} {failed} {wrong}");
    // Replies wait for both backups: they hold everything answered.
    let answered = sim.replica(0).snapshot().seq;
    assert!(sim.replica(1).snapshot().seq + 1 >= answered && sim.replica(2).snapshot().seq + 1 >= answered);
    assert!(sim.seen.iter().all(|(_, _, o)| !matches!(o, Observation::Suspect { .. })));
}

#[test]
fn the_lowest_backup_takes_over_after_the_primary_crashes_and_the_client_follows() {
    let mut sim = Sim::new(1);
    sim.run_until(2_000 * MS);
    sim.alive[0] = false;
    sim.run_until(5_000 * MS);
    let phases: Vec<(u64, NodeId, FailoverPhase)> = sim
        .seen
        .iter()
        .filter_map(|(t, n, o)| match o {
            Observation::Failover { phase, view: 1 } => Some((*t, *n, *phase)),
            _ => None,
        })
        .collect();
    let kinds: Vec<FailoverPhase> = phases.iter().map(|p| p.2).collect();
    assert_eq!(kinds, vec![FailoverPhase::Detected, FailoverPhase::ViewInstalled, FailoverPhase::CaughtUp]);
    assert!(phases.iter().all(|p| p.1 == NodeId(1)), "replica 1 takes over: {phases:?}");
    // Detection: a fixed 250 ms timeout, 50 ms heartbeats, 1 ms delay, 2 ms checks.
    let td = phases[0].0 - 2_000 * MS;
    assert!(td > 200 * MS && td <= 253 * MS, "detected after {} ms", td / MS);
    // Failover is one round trip to replica 2.
    assert!(phases[1].0 - phases[0].0 <= 3 * MS);
    assert_eq!(sim.replica(1).view(), (1, Some(NodeId(1))));
    assert_eq!(sim.replica(2).view(), (1, Some(NodeId(1))));
    assert!(sim.replica(1).is_serving());
    // The client is served again, never wrongly, and lost at most the outage's requests.
    let (ok, failed, wrong) = sim.outcomes(2_400 * MS, 4_800 * MS);
    assert!(ok >= 470 && failed == 0 && wrong == 0, "{ok} {failed} {wrong}");
    let (_, failed, wrong) = sim.outcomes(1_900 * MS, 2_400 * MS);
    assert!(failed > 0 && failed <= 70 && wrong == 0, "{failed}");
}

#[test]
fn a_restarted_replica_rejoins_as_a_backup_with_the_state() {
    let mut sim = Sim::new(1);
    sim.run_until(1_000 * MS);
    sim.alive[0] = false;
    sim.run_until(2_000 * MS);
    sim.nodes[0] = PrimaryBackupNode::new(NodeId(0), &config(Role::Replica), true);
    sim.alive[0] = true;
    sim.start(0, 2_000 * MS);
    sim.run_until(3_000 * MS);
    assert_eq!(sim.replica(0).view(), (1, Some(NodeId(1))));
    assert!(!sim.replica(0).is_serving());
    assert!(sim.replica(0).snapshot().seq + 2 >= sim.replica(1).snapshot().seq);
    let (ok, failed, wrong) = sim.outcomes(2_000 * MS, 2_800 * MS);
    assert!(ok > 150 && failed == 0 && wrong == 0, "the rejoin costs no request: {ok} {failed} {wrong}");
}
