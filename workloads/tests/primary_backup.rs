//! Primary/backup on the simulator: three replicas and a client over the
//! real driver, a fixed network delay, the primary crashing.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{collect, fixed};
use driver::sim::Sim;
use std::time::Duration;
use workloads::heartbeat::{DetectorConfig, DetectorKind};
use workloads::observation::FailoverPhase;
use workloads::primary_backup::{Config, PrimaryBackupNode, Replica, Role};
use workloads::{NodeId, Observation, Outcome, Time};

const MS: u64 = 1_000_000;

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
        keys: 0,
    }
}

/// The replicas and the client, started 1 ms apart; what they observed.
struct Service {
    sim: Sim<PrimaryBackupNode>,
    seen: Vec<(u64, NodeId, Observation)>,
}

impl Service {
    fn new(delay_ms: u64) -> Service {
        let sim = common::sim(4, fixed(Duration::from_millis(delay_ms)), 1, |me, incarnation, _| {
            let role = if me.0 < 3 { Role::Replica } else { Role::Client };
            PrimaryBackupNode::new(me, &config(role), incarnation > 0)
        });
        let mut s = Service { sim, seen: Vec::new() };
        for i in 0..4 {
            s.run_until(u64::from(i) * MS);
            s.sim.start_node(NodeId(i));
        }
        s
    }

    fn run_until(&mut self, end: u64) {
        self.sim.run_until(Time(end));
        let mut seen = Vec::new();
        collect(&mut self.sim, &mut seen);
        self.seen.extend(seen.into_iter().map(|(t, n, o)| (t.as_nanos(), n, o)));
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

    fn replica(&self, i: u16) -> &Replica {
        match self.sim.driver(NodeId(i)).expect("the replica runs").node() {
            PrimaryBackupNode::Replica(r) => r,
            _ => panic!("node {i} is a client"),
        }
    }
}

#[test]
fn the_primary_serves_after_the_backups_acknowledge() {
    let mut sim = Service::new(1);
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
    let mut sim = Service::new(1);
    sim.run_until(2_000 * MS);
    sim.sim.crash(NodeId(0));
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
    let mut sim = Service::new(1);
    sim.run_until(1_000 * MS);
    sim.sim.crash(NodeId(0));
    sim.run_until(2_000 * MS);
    sim.sim.restart(NodeId(0));
    sim.run_until(3_000 * MS);
    assert_eq!(sim.replica(0).view(), (1, Some(NodeId(1))));
    assert!(!sim.replica(0).is_serving());
    assert!(sim.replica(0).snapshot().seq + 2 >= sim.replica(1).snapshot().seq);
    let (ok, failed, wrong) = sim.outcomes(2_000 * MS, 2_800 * MS);
    assert!(ok > 150 && failed == 0 && wrong == 0, "the rejoin costs no request: {ok} {failed} {wrong}");
}

#[test]
fn key_value_clients_record_a_linearizable_history_across_a_failover() {
    use workloads::history::{check_events, Budget};
    let mut sim = common::sim(5, fixed(Duration::from_millis(1)), 1, |me, incarnation, _| {
        let role = if me.0 < 3 { Role::Replica } else { Role::Client };
        let kv = Config { keys: 2, clients: vec![NodeId(3), NodeId(4)], ..config(role) };
        PrimaryBackupNode::new(me, &kv, incarnation > 0)
    });
    for i in 0..5 {
        sim.run_until(Time(u64::from(i) * MS));
        sim.start_node(NodeId(i));
    }
    sim.run_until(Time(1_000 * MS));
    sim.crash(NodeId(0));
    sim.run_until(Time(3_000 * MS));
    let mut seen = Vec::new();
    collect(&mut sim, &mut seen);
    let events: Vec<_> = seen
        .iter()
        .filter_map(|(t, _, o)| match o {
            Observation::History(step) => Some(step.at(*t)),
            _ => None,
        })
        .collect();
    let ok = events.iter().filter(|e| e.kind == workloads::history::EventType::Ok).count();
    assert!(ok > 400, "{ok} operations ok in 3 s of two clients at 200/s");
    let late = events.iter().filter(|e| e.t > Time(2_000 * MS)).count();
    assert!(late > 100, "the clients go on with the new primary: {late}");
    let verdict = check_events(&events, Budget::default()).unwrap();
    assert_eq!(verdict.ok, Some(true), "{verdict:?}");
}
