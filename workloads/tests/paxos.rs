//! Single-decree Paxos on the one simulator (real drivers, real
//! interposer), and every interleaving of a small instance by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{collect, fixed, sim};
use driver::sim::{Latency, Sim};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;
use workloads::paxos::{check, own_value, Config, Leader, Msg, PaxosEvent, PaxosNode};
use workloads::{Effects, Node, NodeId, Observation, Time};

fn paxos(config: &Config, latency: Latency, seed: u64) -> Sim<PaxosNode> {
    let n = (config.proposers.len() + config.acceptors.len()) as u16;
    let cfg = config.clone();
    sim(n, latency, seed, move |me, _, stable| PaxosNode::new(me, &cfg, &stable))
}

/// What the learners saw chosen and the proposers proposed, as (instance, value).
#[derive(Default)]
struct Seen {
    chosen: Vec<(u64, u64)>,
    proposed: Vec<(u64, u64)>,
    failed_rounds: usize,
    chosen_at: BTreeMap<u64, Time>,
}

fn seen(obs: &[(Time, NodeId, Observation)]) -> Seen {
    let mut s = Seen::default();
    for (t, _, o) in obs {
        match o {
            Observation::Paxos(PaxosEvent::Chosen { instance, value, .. }) => {
                s.chosen.push((*instance, *value));
                s.chosen_at.entry(*instance).or_insert(*t);
            }
            Observation::Paxos(PaxosEvent::Round { instance, value, .. }) => {
                s.proposed.push((*instance, *value))
            }
            Observation::Paxos(PaxosEvent::RoundFailed { .. }) => s.failed_rounds += 1,
            _ => {}
        }
    }
    s
}

fn run(
    config: &Config,
    seed: u64,
    until: Time,
    faults: impl FnOnce(&mut Sim<PaxosNode>, &mut Vec<(Time, NodeId, Observation)>),
) -> Seen {
    let mut s = paxos(config, fixed(Duration::from_micros(300)), seed);
    let mut obs = Vec::new();
    s.start();
    faults(&mut s, &mut obs);
    s.run_until(until);
    collect(&mut s, &mut obs);
    seen(&obs)
}

#[test]
fn an_elected_leader_decides_every_instance_in_one_round() {
    let cfg = Config::small(2, 5, Leader::Elected);
    let s = run(&cfg, 1, Time::from_millis(2100), |_, _| {});
    let instances: BTreeSet<u64> = s.chosen.iter().map(|c| c.0).collect();
    assert!(instances.len() >= 9, "{instances:?}");
    let inv = check(&s.chosen, &cfg.proposers);
    assert_eq!((inv.agreement_violations, inv.validity_violations), (0, 0));
    assert_eq!(s.failed_rounds, 0, "a lone leader is never refused");
    // Only the leader (proposer 0) proposed, so its values were chosen.
    assert!(s.chosen.iter().all(|(i, v)| *v == own_value(NodeId(0), *i)));
}

#[test]
fn two_of_five_acceptors_down_it_still_decides_three_it_waits_for_them() {
    let cfg = Config::small(2, 5, Leader::Elected);
    // Acceptors are nodes 2..=6. Two down from 0.5 s: every instance still decides.
    let s = run(&cfg, 2, Time::from_millis(2100), |s, _| {
        s.run_until(Time::from_millis(500));
        s.crash(NodeId(2));
        s.crash(NodeId(3));
    });
    let after: BTreeSet<u64> = s.chosen.iter().map(|c| c.0).filter(|i| *i >= 3).collect();
    assert_eq!(after.len(), 8, "instances 3..=10 decide with 3 of 5 acceptors: {after:?}");
    // Three down from 0.5 s to 1.5 s: nothing decides meanwhile, all decide after.
    let s = run(&cfg, 3, Time::from_millis(2500), |s, obs| {
        s.run_until(Time::from_millis(500));
        for a in 2..5 {
            s.crash(NodeId(a));
        }
        s.run_until(Time::from_millis(1500));
        collect(s, obs);
        for a in 2..5 {
            s.restart(NodeId(a));
        }
    });
    let during: Vec<_> = s
        .chosen_at
        .iter()
        .filter(|(_, t)| **t > Time::from_millis(510) && **t < Time::from_millis(1500))
        .collect();
    assert!(during.is_empty(), "decided with 2 of 5 acceptors: {during:?}");
    let decided: BTreeSet<u64> = s.chosen.iter().map(|c| c.0).collect();
    assert!(
        (3..=11).all(|i| decided.contains(&i)),
        "the instances begun while they were down decide after: {decided:?}"
    );
    let inv = check(&s.chosen, &cfg.proposers);
    assert_eq!((inv.agreement_violations, inv.validity_violations), (0, 0));
}

#[test]
fn dueling_proposers_fail_rounds_but_never_choose_two_values() {
    let cfg = Config::small(3, 3, Leader::None);
    let s = run(&cfg, 4, Time::from_millis(2100), |_, _| {});
    assert!(
        s.failed_rounds > 10,
        "three proposers at once preempt each other: {} failed rounds",
        s.failed_rounds
    );
    let inv = check(&s.chosen, &cfg.proposers);
    assert_eq!((inv.agreement_violations, inv.validity_violations), (0, 0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the latencies, the leader mode and the crashes of
    /// proposers and acceptors (restarted or not), no instance ever has two
    /// values chosen, and every chosen value was proposed in it.
    #[test]
    fn agreement_and_validity_hold_under_crashes_and_jitter(
        seed in 0u64..1_000,
        elected in any::<bool>(),
        crashes in proptest::collection::vec((0u16..6, 100u64..1500, 0u64..400), 0..4),
    ) {
        let cfg = Config::small(2, 4, if elected { Leader::Elected } else { Leader::None });
        let jitter = Latency::Exponential { mean: Duration::from_micros(800) };
        let mut s = paxos(&cfg, jitter, seed);
        let mut obs = Vec::new();
        s.start();
        let mut plan: Vec<_> = crashes;
        plan.sort_by_key(|c| c.1);
        for (node, at, down) in plan {
            s.run_until(Time::from_millis(at));
            s.crash(NodeId(node));
            if down > 0 {
                s.run_until(Time::from_millis(at + down));
                s.restart(NodeId(node));
            }
        }
        s.run_until(Time::from_millis(2000));
        collect(&mut s, &mut obs);
        let seen = seen(&obs);
        let inv = check(&seen.chosen, &cfg.proposers);
        prop_assert_eq!(inv.agreement_violations, 0);
        prop_assert_eq!(inv.validity_violations, 0);
    }
}

/// Every interleaving of one instance with 2 proposers and 3 acceptors, each
/// proposer with one ballot (the two ballots contend: the higher one may
/// preempt the lower at any point): any message in flight may be delivered
/// next (one never delivered is lost), and a proposer may give up its round
/// (its retry timer) at any point; a proposer refused does not try again. A value is chosen when a majority of acceptors
/// accepted it in one ballot (the learners' rule, checked on the acceptors'
/// own acceptances rather than by delivering every `Accepted`). States are
/// deduplicated by a hash of their contents.
#[test]
fn every_interleaving_of_a_small_instance_chooses_at_most_one_value() {
    use std::hash::{DefaultHasher, Hash, Hasher};
    const INSTANCE: u64 = 7;
    const BALLOTS: usize = 1;
    let cfg = Config::small(2, 3, Leader::None);
    let now = Time::from_millis(1);
    #[derive(Clone)]
    struct State {
        nodes: Vec<PaxosNode>,
        flight: Vec<(NodeId, NodeId, Msg)>,
        /// Rounds each proposer began.
        rounds: [usize; 2],
        /// Every (ballot, value) each acceptor accepted, ever.
        accepted: BTreeSet<(workloads::paxos::Ballot, u64, NodeId)>,
    }
    impl State {
        fn chosen(&self) -> BTreeSet<u64> {
            let mut votes: BTreeMap<(workloads::paxos::Ballot, u64), usize> = BTreeMap::new();
            for (b, v, _) in &self.accepted {
                *votes.entry((*b, *v)).or_default() += 1;
            }
            votes.into_iter().filter(|(_, n)| *n >= 2).map(|((_, v), _)| v).collect()
        }
        fn key(&self) -> u64 {
            let mut flight: Vec<String> = self.flight.iter().map(|f| format!("{f:?}")).collect();
            flight.sort();
            let mut h = DefaultHasher::new();
            format!("{:?}", self.nodes).hash(&mut h);
            flight.hash(&mut h);
            self.rounds.hash(&mut h);
            h.finish()
        }
        /// Take what node `from` asked for: its sends join the flight
        /// (acceptances are recorded instead), its rounds are counted.
        fn apply(&mut self, from: NodeId, out: &mut Effects<Msg>) {
            for (to, m) in out.sends.drain(..) {
                match m {
                    Msg::Accepted { ballot, value, .. } => {
                        self.accepted.insert((ballot, value, from));
                    }
                    m => self.flight.push((from, to, m)),
                }
            }
            for o in out.observations.drain(..) {
                if let Observation::Paxos(PaxosEvent::Round { .. }) = o {
                    self.rounds[usize::from(from.0)] += 1;
                }
            }
            out.clear();
        }
    }
    let mut start = State {
        nodes: (0..5).map(|i| PaxosNode::new(NodeId(i), &cfg, &Default::default())).collect(),
        flight: Vec::new(),
        rounds: [0, 0],
        accepted: BTreeSet::new(),
    };
    let mut out = Effects::new();
    for p in 0..2u16 {
        // Each proposer begins the instance (what its instance timer does).
        let at = Time::from_nanos(INSTANCE * cfg.interval.as_nanos() as u64);
        start.nodes[usize::from(p)].on_timer(at, workloads::TimerId(1), &mut out);
        start.apply(NodeId(p), &mut out);
    }
    let valid = [own_value(NodeId(0), INSTANCE), own_value(NodeId(1), INSTANCE)];
    let mut stack = vec![start];
    let mut visited = HashSet::new();
    let (mut states, mut decided, mut both) = (0usize, 0usize, 0usize);
    while let Some(state) = stack.pop() {
        if !visited.insert(state.key()) {
            continue;
        }
        states += 1;
        let chosen = state.chosen();
        assert!(chosen.len() <= 1, "two values chosen: {chosen:?}");
        assert!(chosen.iter().all(|v| valid.contains(v)), "a value nobody proposed: {chosen:?}");
        decided += usize::from(!chosen.is_empty());
        // Both proposers' values were accepted somewhere, one of them chosen:
        // the interleavings where agreement is at stake.
        let values: BTreeSet<u64> = state.accepted.iter().map(|a| a.1).collect();
        both += usize::from(values.len() == 2 && !chosen.is_empty());
        assert!(states < 3_000_000, "the state space is larger than this test is meant to search");
        // Past its budget of ballots a proposer is left where it is.
        if state.rounds.iter().any(|r| *r > BALLOTS) {
            continue;
        }
        // Any message in flight may arrive next. A lost message is one that
        // never arrives: every state on the way is checked, so losses are covered.
        for i in 0..state.flight.len() {
            let mut next = state.clone();
            let (from, to, msg) = next.flight.swap_remove(i);
            next.nodes[usize::from(to.0)].on_message(now, from, msg, &mut out);
            next.apply(to, &mut out);
            stack.push(next);
        }
        for p in 0..2usize {
            if state.nodes[p].ballot(INSTANCE).is_some() {
                let mut next = state.clone();
                next.nodes[p].retry(now, INSTANCE, &mut out);
                next.apply(NodeId(p as u16), &mut out);
                stack.push(next);
            }
        }
    }
    assert!(decided > 0 && both > 0, "the search never reached a contested decision ({states} states)");
    eprintln!(
        "paxos interleavings: {states} distinct states, {decided} with a value chosen, {both} contested"
    );
}
