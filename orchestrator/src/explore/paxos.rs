//! Single-decree Paxos under the explorer: no instance may have two values
//! chosen (agreement), and a chosen value is one a proposer proposes in it
//! (validity). One instance is searched, with every proposer proposing
//! (`leader: none`: the dueling case, where every interleaving of the two
//! rounds is possible); a proposer's retry after a failed round is a timer
//! like any other, so rounds can follow each other up to the search's depth.
//! A teaching bug the file switches on (`bugs: [acceptor-forgets-promise]`)
//! is what the search then finds the consequence of.

use super::{Names, Setup};
use crate::experiment::Experiment;
use driver::explore::{Faults, Finding, Invariant, Model, View};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use workloads::paxos::{own_value, Config, Leader, PaxosEvent, PaxosNode};
use workloads::{NodeId, Observation, StableRecords, Time};

/// One instance at a time: the first begins after this, the second never.
const ONE_INSTANCE: Duration = Duration::from_secs(1_000);

/// The values each learner saw chosen, by instance.
#[derive(Clone, Debug, Hash)]
pub(super) struct Agreement {
    names: Names,
    proposers: Vec<NodeId>,
    chosen: BTreeMap<u64, BTreeMap<u64, NodeId>>,
}

impl Invariant for Agreement {
    fn observe(&mut self, node: NodeId, obs: &Observation) {
        if let Observation::Paxos(PaxosEvent::Chosen { instance, value, .. }) = obs {
            self.chosen.entry(*instance).or_default().entry(*value).or_insert(node);
        }
    }

    fn check(&self, _view: &View<'_>) -> Option<Finding> {
        for (instance, values) in &self.chosen {
            if values.len() > 1 {
                let seen: Vec<String> =
                    values.iter().map(|(v, n)| format!("{} saw {v} chosen", self.names.of(*n))).collect();
                return Some(Finding::Violation(format!(
                    "agreement broken in instance {instance}: {}",
                    seen.join(", ")
                )));
            }
            let valid: BTreeSet<u64> = self.proposers.iter().map(|p| own_value(*p, *instance)).collect();
            if let Some((v, n)) = values.iter().find(|(v, _)| !valid.contains(v)) {
                return Some(Finding::Violation(format!(
                    "validity broken in instance {instance}: {} saw {v} chosen, which no proposer proposes",
                    self.names.of(*n)
                )));
            }
        }
        None
    }
}

/// The proposers and acceptors of `exp`, configured by `config`, and their invariant.
pub(super) fn setup(exp: &Experiment, config: &Config, mut faults: Faults) -> Setup<PaxosNode, Agreement> {
    // Every proposer proposes; the detectors' ticks are pushed past the horizon.
    let mut config = Config { leader: Leader::None, interval: ONE_INSTANCE, ..config.clone() };
    config.detector.check = ONE_INSTANCE * 4;
    let nodes =
        exp.topology.nodes.iter().map(|n| PaxosNode::new(n.id, &config, &StableRecords::new())).collect();
    faults.max_delay = Some(config.retry / 2);
    let interval = u64::try_from(ONE_INSTANCE.as_nanos()).unwrap_or(u64::MAX);
    faults.horizon = Some(Time::from_nanos(interval * 2 - 1));
    let invariant = Agreement {
        names: Names::of_nodes(exp),
        proposers: config.proposers.clone(),
        chosen: BTreeMap::new(),
    };
    let checks = if config.bugs.is_empty() {
        "Paxos: at most one value chosen per instance, and only a proposed one"
    } else {
        "Paxos with a teaching bug switched on: at most one value chosen per instance, and only a proposed one"
    };
    Setup { model: Model { nodes, invariant, faults }, checks }
}
