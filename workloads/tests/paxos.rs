//! Single-decree Paxos on the one simulator (real drivers, real
//! interposer), and every interleaving of a small instance searched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod paxos_search;

use common::{collect, fixed, run_faulted, sim};
use driver::sim::{Latency, Sim};
use paxos_search::{Options, INSTANCE};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use workloads::paxos::{check, own_value, Config, Leader, PaxosEvent, PaxosNode};
use workloads::{NodeId, Observation, Time};

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
    seen(&run_faulted(&mut s, until, faults))
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

/// Search every interleaving of one instance of the real `PaxosNode` (2
/// proposers, 3 acceptors, `ballots` ballots each: see `paxos_search` for
/// what is searched and why its reductions miss no violation): no state
/// has two values chosen or one nobody proposed, some have a value chosen
/// while an acceptor holds the other (the search reaches the contested
/// runs), and the search stays below `most` states.
fn every_interleaving_chooses_at_most_one_value(ballots: u8, most: usize) {
    let began = Instant::now();
    let outcome = paxos_search::search(Options { ballots, amnesia: false, partial_order: true })
        .unwrap_or_else(|v| panic!("{ballots} ballot(s) each: {v:?}"));
    eprintln!(
        "paxos interleavings, {ballots} ballot(s) each: {} distinct states, {} with a value chosen, \
         {} contested, {} final; {} steps over {} distinct steps of the real nodes, in {:.1?}",
        outcome.states,
        outcome.decided,
        outcome.contested,
        outcome.finals.len(),
        outcome.steps,
        outcome.node_steps,
        began.elapsed()
    );
    assert!(outcome.decided > 0 && outcome.contested > 0, "the search never reached a contested decision");
    assert!(outcome.states < most, "{} states: more than this test is meant to search", outcome.states);
}

#[test]
fn every_interleaving_with_one_ballot_each_chooses_at_most_one_value() {
    every_interleaving_chooses_at_most_one_value(1, 300);
}

#[test]
fn every_interleaving_with_two_ballots_each_chooses_at_most_one_value() {
    every_interleaving_chooses_at_most_one_value(2, 100_000);
}

#[test]
fn every_interleaving_with_three_ballots_each_chooses_at_most_one_value() {
    every_interleaving_chooses_at_most_one_value(3, 6_000_000);
}

/// The partial-order reductions (persistent and sleep sets) are sound here:
/// the search reaches the same final states with them as without, in
/// fewer states.
#[test]
fn the_partial_order_reductions_reach_every_final_state() {
    for ballots in [1, 2] {
        let search = |partial_order| {
            paxos_search::search(Options { ballots, amnesia: false, partial_order })
                .unwrap_or_else(|v| panic!("{ballots} ballot(s) each: {v:?}"))
        };
        let (all, reduced) = (search(false), search(true));
        assert!(!all.finals.is_empty());
        assert_eq!(all.finals, reduced.finals, "{ballots} ballot(s) each");
        assert!(reduced.states < all.states, "{} states reduced to {}", all.states, reduced.states);
    }
}

/// The search has teeth: if an acceptor may lose its stable storage (a
/// fresh node in its place, forgetting its promises), it finds two values
/// chosen, with one ballot each.
#[test]
fn an_acceptor_that_forgets_its_promises_lets_two_values_be_chosen() {
    let found = paxos_search::search(Options { ballots: 1, amnesia: true, partial_order: true });
    let Err(violation) = found else { panic!("the search missed the amnesiac acceptor") };
    eprintln!(
        "paxos with amnesia: two values chosen after {} states, the acceptors holding {:?}",
        violation.states, violation.acceptors
    );
    assert_eq!(violation.chosen, vec![own_value(NodeId(0), INSTANCE), own_value(NodeId(1), INSTANCE)]);
}
