//! 2PC and 3PC on the simulator: messages take 1 ms, timers fire on time,
//! and the coordinator crashes and restarts with its own stable storage.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::fixed;
use driver::sim::Sim;
use std::collections::BTreeMap;
use std::time::Duration;
use workloads::commit::{CommitEvent, CommitNode, Config, Protocol};
use workloads::{NodeId, Observation, Time};

const COORD: NodeId = NodeId(0);

fn config(protocol: Protocol) -> Config {
    Config::small(protocol)
}

/// The coordinator and the participants on the simulator; the commit events seen.
struct Net {
    sim: Sim<CommitNode>,
    events: Vec<(u64, NodeId, CommitEvent)>,
}

impl Net {
    fn new(config: Config) -> Net {
        let n = 1 + config.participants.len() as u16;
        let sim = common::sim(n, fixed(Duration::from_millis(1)), 1, move |me, _, stable| {
            CommitNode::new(me, &config, &stable)
        });
        let mut net = Net { sim, events: Vec::new() };
        net.sim.start();
        net
    }

    fn run_until(&mut self, until: u64) {
        self.sim.run_until(Time::from_millis(until));
        for (id, at, o) in self.sim.drain_observations() {
            match o {
                Observation::Commit(e) => self.events.push((at.as_nanos() / 1_000_000, id, e)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn count(&self, f: impl Fn(&CommitEvent) -> bool) -> usize {
        self.events.iter().filter(|(_, _, e)| f(e)).count()
    }

    /// Per transaction, the set of outcomes nodes reached.
    fn outcomes(&self) -> BTreeMap<u64, Vec<bool>> {
        let mut m: BTreeMap<u64, Vec<bool>> = BTreeMap::new();
        for (_, _, e) in &self.events {
            if let CommitEvent::Decided { txn, commit } = e {
                m.entry(*txn).or_default().push(*commit);
            }
        }
        m
    }
}

fn atomic(net: &Net) {
    for (txn, v) in net.outcomes() {
        assert!(v.iter().all(|c| *c == v[0]), "txn {txn} both committed and aborted: {v:?}");
    }
}

#[test]
fn without_faults_every_transaction_commits_everywhere() {
    for p in [Protocol::TwoPhase, Protocol::ThreePhase] {
        let mut net = Net::new(config(p));
        net.run_until(3000);
        let started = net.count(|e| matches!(e, CommitEvent::Started { .. }));
        assert!(started >= 28, "{started}");
        let decided = net.outcomes();
        let full = decided.values().filter(|v| v.len() == 4 && v.iter().all(|c| *c)).count();
        assert!(full >= started - 3, "{p:?}: {full} of {started} committed by all four");
        assert_eq!(net.count(|e| matches!(e, CommitEvent::Blocked { .. })), 0);
    }
}

#[test]
fn a_no_vote_aborts_the_transaction_everywhere() {
    let mut c = config(Protocol::TwoPhase);
    c.abort_probability = 0.3;
    let mut net = Net::new(c);
    net.run_until(3000);
    let o = net.outcomes();
    assert!(o.values().any(|v| v.contains(&false)));
    assert!(o.values().any(|v| v.contains(&true)));
    atomic(&net);
}

#[test]
fn two_phase_commit_blocks_when_the_coordinator_dies_after_the_votes() {
    let mut net = Net::new(config(Protocol::TwoPhase));
    // 1000 ms: transactions started at 800 and 900 have every vote and wait
    // for the decision log write (250 ms).
    net.run_until(1000);
    net.sim.crash(COORD);
    net.run_until(4000);
    let blocked: Vec<u64> = net
        .events
        .iter()
        .filter_map(|(_, _, e)| match e {
            CommitEvent::Blocked { txn, .. } => Some(*txn),
            _ => None,
        })
        .collect();
    assert!(blocked.len() >= 6, "3 participants x at least 2 transactions blocked: {blocked:?}");
    // Nobody decided the blocked transactions while the coordinator was down.
    let o = net.outcomes();
    for txn in &blocked {
        assert!(!o.contains_key(txn), "txn {txn} decided without the coordinator");
    }
    // It comes back, reads its log, and aborts what it had not decided: they unblock.
    net.sim.restart(COORD);
    net.run_until(5000);
    assert_eq!(net.count(|e| matches!(e, CommitEvent::Recovered { in_doubt } if *in_doubt >= 2)), 1);
    let unblocked: Vec<Duration> = net
        .events
        .iter()
        .filter_map(|(_, _, e)| match e {
            CommitEvent::Unblocked { blocked, .. } => Some(*blocked),
            _ => None,
        })
        .collect();
    assert_eq!(unblocked.len(), blocked.len());
    assert!(unblocked.iter().all(|d| *d >= Duration::from_millis(2000)), "{unblocked:?}");
    let o = net.outcomes();
    for txn in &blocked {
        assert!(o[txn].iter().all(|c| !c), "an undecided transaction is aborted on recovery");
    }
    atomic(&net);
}

#[test]
fn three_phase_commit_terminates_without_the_coordinator() {
    let mut net = Net::new(config(Protocol::ThreePhase));
    net.run_until(1000);
    net.sim.crash(COORD);
    net.run_until(2500);
    assert_eq!(net.count(|e| matches!(e, CommitEvent::Blocked { .. })), 0);
    let terminated = net.count(|e| matches!(e, CommitEvent::Terminated { .. }));
    assert!(terminated >= 2, "{terminated}");
    // Every transaction any participant voted on is decided by all three participants.
    let o = net.outcomes();
    for (txn, v) in &o {
        assert!(v.len() >= 3, "txn {txn}: {v:?}");
    }
    // The coordinator recovers and learns the outcomes from the participants.
    net.sim.restart(COORD);
    net.run_until(4000);
    atomic(&net);
    let o = net.outcomes();
    let partial = o.iter().filter(|(t, v)| v.len() < 4 && **t < 35).count();
    assert_eq!(partial, 0, "{o:?}");
}
