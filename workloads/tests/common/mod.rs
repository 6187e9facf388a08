//! What every simulated workload test shares: the one simulator, over the
//! real driver and interposer, with a fixed link latency.

// Each test target uses part of it.
#![allow(dead_code)]

use driver::sim::{Latency, Network, Sim};
use driver::Driver;
use faults::{Direction, FaultId, Interposer, LinkScope, MessageFault};
use std::time::Duration;
use workloads::{Node, NodeId, Observation, StableRecords, Time};

/// `n` nodes, not started, built by `node` from (id, incarnation, stable
/// storage); every link takes `latency`, a restart takes no time, the
/// interposers and the network draw from `seed`.
pub fn sim<N: Node + 'static>(
    n: u16,
    latency: Latency,
    seed: u64,
    mut node: impl FnMut(NodeId, u32, StableRecords) -> N + Send + 'static,
) -> Sim<N> {
    let network = Network { latency, restart_time: Duration::ZERO, ..Network::default() };
    let build =
        move |me, incarnation, stable| Driver::new(node(me, incarnation, stable), Interposer::new(me, seed));
    Sim::new(usize::from(n), Time::ZERO, network, seed, Box::new(build))
}

/// Every link takes exactly `d`.
pub fn fixed(d: Duration) -> Latency {
    Latency::Fixed { value: d }
}

/// Move what the nodes observed since the last call into `seen`, as (instant, node, observation).
pub fn collect<N: Node>(sim: &mut Sim<N>, seen: &mut Vec<(Time, NodeId, Observation)>) {
    seen.extend(sim.drain_observations().map(|(n, t, o)| (t, n, o)));
}

/// Start `sim`, let `faults` act on it (recording what it observes along
/// the way), run it until `until`, and return every observation, as
/// (instant, node, observation).
pub fn run_faulted<N: Node>(
    sim: &mut Sim<N>,
    until: Time,
    faults: impl FnOnce(&mut Sim<N>, &mut Vec<(Time, NodeId, Observation)>),
) -> Vec<(Time, NodeId, Observation)> {
    let mut seen = Vec::new();
    sim.start();
    faults(sim, &mut seen);
    sim.run_until(until);
    collect(sim, &mut seen);
    seen
}

/// A rule that loses every message `at` receives from `from` (an omission
/// of probability one on that link).
pub fn lose_from(from: Vec<NodeId>) -> MessageFault {
    MessageFault::Omission { direction: Direction::Receive, probability: 1.0, links: LinkScope::Peers(from) }
}

/// Lose the first message that leaves for `to` and matches `which`, with
/// the real interposer: run until it leaves, then an omission rule on each
/// receiver's link from the sender stands until it has arrived.
pub fn lose_one<N: Node>(
    sim: &mut Sim<N>,
    to: &[NodeId],
    latency: Duration,
    which: impl Fn(&N::Msg) -> bool,
) -> Time {
    sim.record_sent();
    let seen = sim.sent().len();
    loop {
        let from =
            sim.sent()[seen..].iter().find(|m| to.contains(&m.to) && which(&m.msg)).map(|m| (m.at, m.from));
        if let Some((at, from)) = from {
            for r in to {
                sim.install(*r, FaultId(u64::MAX), lose_from(vec![from]));
            }
            sim.run_until(at + latency);
            for r in to {
                sim.remove(*r, FaultId(u64::MAX));
            }
            return at;
        }
        assert!(sim.step().is_some(), "the message never left");
    }
}
