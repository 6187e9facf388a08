//! Multi-Paxos behind a key-value service on the one simulator: the
//! clients' histories are linearizable and every replica applies the same
//! log, through leader crashes, restarts, partitions and loss; a leader
//! change goes through detection, election and catch-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{collect, fixed, lose_from, run_faulted, sim};
use driver::sim::{Latency, Sim};
use faults::{Direction, FaultId, LinkScope, MessageFault};
use proptest::prelude::*;
use std::time::Duration;
use workloads::history::{check_events, Budget, Event, EventType};
use workloads::multi_paxos::{divergences, Config, MpEvent, MultiPaxos, MultiPaxosNode};
use workloads::observation::FailoverPhase;
use workloads::{any::Start, any::Workload, NodeId, Observation, Time};

fn cluster(cfg: &Config, latency: Latency, seed: u64) -> Sim<MultiPaxosNode> {
    let n = (cfg.replicas.len() + cfg.clients.len()) as u16;
    let cfg = cfg.clone();
    sim(n, latency, seed, move |me, incarnation, stable| {
        MultiPaxos::node(me, &cfg, &Start { seed, restarted: incarnation > 0, stable })
    })
}

/// What a run showed: the history, the replicas' log digests, their events.
struct Seen {
    history: Vec<Event>,
    applied: Vec<(u64, u64)>,
    obs: Vec<(Time, NodeId, Observation)>,
}

impl Seen {
    fn of(obs: Vec<(Time, NodeId, Observation)>) -> Seen {
        let mut history = Vec::new();
        let mut applied = Vec::new();
        for (t, _, o) in &obs {
            match o {
                Observation::History(step) => history.push(step.at(*t)),
                Observation::MultiPaxos(MpEvent::Applied { upto, digest }) => applied.push((*upto, *digest)),
                _ => {}
            }
        }
        Seen { history, applied, obs }
    }

    fn linearizable(&self) -> Option<bool> {
        check_events(&self.history, Budget::default()).expect("a well-formed history").ok
    }

    fn count(&self, kind: EventType) -> usize {
        self.history.iter().filter(|e| e.kind == kind).count()
    }

    /// When `node` first reported `what`, at or after `from`.
    fn first(&self, from: Time, what: impl Fn(NodeId, &Observation) -> bool) -> Option<Time> {
        self.obs.iter().find(|(t, n, o)| *t >= from && what(*n, o)).map(|(t, _, _)| *t)
    }
}

fn run(
    cfg: &Config,
    seed: u64,
    until: Time,
    faults: impl FnOnce(&mut Sim<MultiPaxosNode>, &mut Vec<(Time, NodeId, Observation)>),
) -> (Sim<MultiPaxosNode>, Seen) {
    let mut s = cluster(cfg, fixed(Duration::from_micros(300)), seed);
    let obs = run_faulted(&mut s, until, faults);
    (s, Seen::of(obs))
}

fn replica(s: &Sim<MultiPaxosNode>, id: u16) -> &workloads::multi_paxos::Replica {
    match &s.driver(NodeId(id)).expect("a node").node() {
        MultiPaxosNode::Replica(r) => r,
        MultiPaxosNode::Client(_) => panic!("node {id} is a client"),
    }
}

/// Every pair of replicas agrees on every slot both learned.
fn logs_agree(s: &Sim<MultiPaxosNode>, replicas: u16) {
    for a in 0..replicas {
        for b in a + 1..replicas {
            let (la, lb) = (replica(s, a).chosen(), replica(s, b).chosen());
            for (slot, cmd) in la {
                if let Some(other) = lb.get(slot) {
                    assert_eq!(cmd, other, "replicas {a} and {b} chose differently in slot {slot}");
                }
            }
        }
    }
}

#[test]
fn a_stable_leader_serves_every_operation_and_the_history_is_linearizable() {
    let cfg = Config::small(3, 2);
    let (s, seen) = run(&cfg, 1, Time::from_millis(3000), |_, _| {});
    let (ok, info) = (seen.count(EventType::Ok) + seen.count(EventType::Fail), seen.count(EventType::Info));
    assert!(ok > 250, "two clients at 50/s for 3 s: {ok} answered");
    assert_eq!(info, 0, "no operation times out without faults");
    assert_eq!(seen.linearizable(), Some(true));
    assert!(replica(&s, 0).leads());
    logs_agree(&s, 3);
    assert_eq!(divergences(&seen.applied), 0);
    // Every replica applied (almost) the whole log: followers learn from the acceptances.
    let applied: Vec<u64> = (0..3).map(|r| replica(&s, r).applied()).collect();
    assert!(applied.iter().all(|a| *a + 2 >= applied[0] && *a > 250), "{applied:?}");
}

#[test]
fn a_leader_crash_is_detected_a_new_leader_elected_and_the_restarted_replica_catches_up() {
    let cfg = Config::small(3, 2);
    let crash = Time::from_millis(1000);
    let (s, seen) = run(&cfg, 2, Time::from_millis(4000), |s, _| {
        s.run_until(crash);
        s.crash(NodeId(0));
        s.run_until(Time::from_millis(2500));
        s.restart(NodeId(0));
    });
    let phase = |p: FailoverPhase| {
        move |n: NodeId, o: &Observation| {
            n == NodeId(1) && matches!(o, Observation::Failover { phase, .. } if *phase == p)
        }
    };
    let detected = seen.first(crash, phase(FailoverPhase::Detected)).expect("replica 1 stood");
    let elected = seen.first(detected, phase(FailoverPhase::ViewInstalled)).expect("replica 1 elected");
    let serving = seen.first(elected, phase(FailoverPhase::CaughtUp)).expect("replica 1 serving");
    // Detection is the detector's timeout (100 ms) plus at most a check period and a heartbeat interval.
    let detection = detected.as_nanos() - crash.as_nanos();
    assert!((100_000_000..=130_000_000).contains(&detection), "detection {detection} ns");
    assert!(elected.as_nanos() - detected.as_nanos() < 5_000_000, "election takes a round trip");
    assert!(serving >= elected);
    // The restarted replica stands again (it is the lowest), so it catches up as it leads.
    let caught = seen.first(Time::from_millis(2500), |n, o| {
        n == NodeId(0) && matches!(o, Observation::MultiPaxos(MpEvent::CaughtUp { slots }) if *slots > 50)
    });
    assert!(caught.is_some(), "replica 0 caught up on the slots it missed");
    assert!(replica(&s, 0).leads(), "the lowest replica leads again");
    assert_eq!(seen.linearizable(), Some(true));
    logs_agree(&s, 3);
    assert_eq!(divergences(&seen.applied), 0);
    // Operations went on after the takeover.
    let late =
        seen.history.iter().filter(|e| e.kind == EventType::Ok && e.t > Time::from_millis(1500)).count();
    assert!(late > 200, "{late} operations completed after the takeover");
}

/// Both directions between every node of `a` and every node of `b` lose everything.
fn partition(s: &mut Sim<MultiPaxosNode>, a: &[u16], b: &[u16], id: u64) {
    let ids = |v: &[u16]| v.iter().copied().map(NodeId).collect::<Vec<_>>();
    for &x in a {
        s.install(NodeId(x), FaultId(id), lose_from(ids(b)));
    }
    for &y in b {
        s.install(NodeId(y), FaultId(id), lose_from(ids(a)));
    }
}

fn heal(s: &mut Sim<MultiPaxosNode>, nodes: &[u16], id: u64) {
    for &x in nodes {
        s.remove(NodeId(x), FaultId(id));
    }
}

#[test]
fn a_partitioned_leader_cannot_commit_and_the_majority_side_elects_another() {
    let cfg = Config::small(3, 2);
    // Replica 0 (the leader) and client 3 on one side; replicas 1, 2 and client 4 on the other.
    let (s, seen) = run(&cfg, 3, Time::from_millis(5000), |s, _| {
        s.run_until(Time::from_millis(1000));
        partition(s, &[0, 3], &[1, 2, 4], 1);
        s.run_until(Time::from_millis(3000));
        heal(s, &[0, 1, 2, 3, 4], 1);
    });
    let during = |p: u64| {
        seen.history
            .iter()
            .filter(|e| {
                e.process % (1 << 16) == p
                    && e.kind == EventType::Ok
                    && e.t > Time::from_millis(1200)
                    && e.t < Time::from_millis(3000)
            })
            .count()
    };
    assert_eq!(during(3), 0, "the minority side's client completes nothing");
    assert!(during(4) > 50, "the majority side's client is served: {}", during(4));
    assert!(seen.count(EventType::Info) > 0, "the minority client's operations time out");
    assert_eq!(seen.linearizable(), Some(true));
    logs_agree(&s, 3);
    assert_eq!(divergences(&seen.applied), 0);
    assert!(replica(&s, 0).leads(), "after the heal the lowest replica leads again");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Whatever the latencies, the loss and the crashes and restarts of
    /// replicas, the history stays linearizable and the logs agree.
    #[test]
    fn linearizable_and_one_log_under_crashes_loss_and_jitter(
        seed in 0u64..1_000,
        loss in 0.0f64..0.1,
        crashes in proptest::collection::vec((0u16..3, 200u64..2500, 50u64..800), 0..4),
    ) {
        let cfg = Config::small(3, 2);
        let latency = Latency::Normal { mean: Duration::from_micros(500), stddev: Duration::from_micros(300) };
        let mut s = cluster(&cfg, latency, seed);
        let mut obs = Vec::new();
        for n in 0..5 {
            s.install(NodeId(n), FaultId(9), MessageFault::Omission {
                direction: Direction::Receive,
                probability: loss,
                links: LinkScope::All,
            });
        }
        s.start();
        let mut events: Vec<(u64, u16, bool)> = Vec::new();
        for (r, at, down) in crashes {
            events.push((at, r, false));
            events.push((at + down, r, true));
        }
        events.sort();
        for (at, r, up) in events {
            s.run_until(Time::from_millis(at));
            if up { s.restart(NodeId(r)) } else { s.crash(NodeId(r)) }
        }
        s.run_until(Time::from_millis(4000));
        collect(&mut s, &mut obs);
        let seen = Seen::of(obs);
        // Not vacuous: the service served in every case (a majority is up most of the time).
        prop_assert!(seen.count(EventType::Ok) > 50, "{} ok", seen.count(EventType::Ok));
        prop_assert_eq!(seen.linearizable(), Some(true));
        prop_assert_eq!(divergences(&seen.applied), 0);
        for a in 0..3u16 {
            for b in a + 1..3 {
                if let (Some(x), Some(y)) = (s.driver(NodeId(a)), s.driver(NodeId(b))) {
                    if let (MultiPaxosNode::Replica(x), MultiPaxosNode::Replica(y)) = (x.node(), y.node()) {
                        for (slot, cmd) in x.chosen() {
                            if let Some(other) = y.chosen().get(slot) {
                                prop_assert_eq!(cmd, other);
                            }
                        }
                    }
                }
            }
        }
    }
}
