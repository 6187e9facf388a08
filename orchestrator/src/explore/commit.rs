//! Distributed commit under the explorer: atomicity (no node commits a
//! transaction another aborts) as the invariant, and a participant blocked
//! by 2PC as a state the search reports reaching.
//!
//! The participants' timeouts and "blocked" judgement assume messages arrive
//! within a timeout, so the search does too (within half a timeout). One
//! transaction is searched: the interval is stretched so that no second one
//! starts.

use super::{Names, Setup};
use crate::experiment::Experiment;
use driver::explore::{Faults, Finding, Invariant, Model, View};
use std::collections::BTreeMap;
use std::time::Duration;
use workloads::commit::{CommitEvent, CommitNode, Config, Protocol};
use workloads::{NodeId, Observation, StableRecords, Time};

/// The interval the search gives the coordinator: no second transaction
/// starts before the horizon.
const ONE_TRANSACTION: Duration = Duration::from_secs(3600);

/// The outcomes and blocks seen so far.
#[derive(Clone, Debug, Hash)]
pub(super) struct Atomicity {
    names: Names,
    /// Per transaction, each node's outcome.
    outcomes: BTreeMap<u64, BTreeMap<NodeId, bool>>,
    /// The first participant found blocked, and on which transaction.
    blocked: Option<(NodeId, u64)>,
}

impl Invariant for Atomicity {
    fn observe(&mut self, node: NodeId, obs: &Observation) {
        match obs {
            Observation::Commit(CommitEvent::Decided { txn, commit }) => {
                self.outcomes.entry(*txn).or_default().insert(node, *commit);
            }
            Observation::Commit(CommitEvent::Blocked { txn, .. }) if self.blocked.is_none() => {
                self.blocked = Some((node, *txn));
            }
            _ => {}
        }
    }

    fn check(&self, _view: &View<'_>) -> Option<Finding> {
        for (txn, outcomes) in &self.outcomes {
            let committed = outcomes.iter().find(|(_, c)| **c);
            let aborted = outcomes.iter().find(|(_, c)| !**c);
            if let (Some((c, _)), Some((a, _))) = (committed, aborted) {
                return Some(Finding::Violation(format!(
                    "atomicity broken in transaction {txn}: {} committed, {} aborted",
                    self.names.of(*c),
                    self.names.of(*a)
                )));
            }
        }
        self.blocked.map(|(p, txn)| {
            Finding::Reached(format!(
                "{} is blocked in transaction {txn}: it voted yes, and nobody it can reach knows the outcome",
                self.names.of(p)
            ))
        })
    }
}

/// The coordinator and participants of `exp`, configured by `config`, and their invariant.
pub(super) fn setup(exp: &Experiment, config: &Config, mut faults: Faults) -> Setup<CommitNode, Atomicity> {
    let config = Config { interval: ONE_TRANSACTION, ..config.clone() };
    let nodes =
        exp.topology.nodes.iter().map(|n| CommitNode::new(n.id, &config, &StableRecords::new())).collect();
    faults.max_delay = Some(config.timeout / 2);
    let interval = u64::try_from(ONE_TRANSACTION.as_nanos()).unwrap_or(u64::MAX);
    faults.horizon = Some(Time::from_nanos(interval * 2 - 1));
    let invariant = Atomicity { names: Names::of_nodes(exp), outcomes: BTreeMap::new(), blocked: None };
    let checks = match config.protocol {
        Protocol::TwoPhase => "2PC: atomicity, and whether a participant can be left blocked",
        Protocol::ThreePhase => "3PC: atomicity, and whether a participant can be left blocked",
    };
    Setup { model: Model { nodes, invariant, faults }, checks }
}
