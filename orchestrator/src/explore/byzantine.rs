//! OM(m) under the explorer: agreement (IC1) and validity (IC2) among the
//! loyal generals, with the file's `byzantine` targets as the candidate
//! traitors (at most the workload's `traitors` of them lie along one path,
//! each lie falsified as the interposer's collude or equivocate modes would).
//!
//! OM(m) assumes synchrony, so the search does too: every message arrives
//! within one `round`, and a lieutenant decides only once the messages it
//! could still receive have arrived. One instance is searched: the
//! commander's first order, and no second.

use super::{Names, Setup};
use crate::experiment::{ByzantineParams, Experiment};
use driver::explore::{Finding, Invariant, Model, View};
use std::collections::BTreeMap;
use workloads::byzantine::{AgreementEvent, Config, General};
use workloads::{NodeId, Observation, Time};

/// The orders given and the decisions taken so far.
#[derive(Clone, Debug, Hash)]
pub(super) struct Agreement {
    commander: NodeId,
    names: Names,
    /// Per instance, the order the commander meant to give.
    orders: BTreeMap<u64, u64>,
    /// Per instance, each lieutenant's decision.
    decisions: BTreeMap<u64, BTreeMap<NodeId, u64>>,
}

impl Invariant for Agreement {
    fn observe(&mut self, node: NodeId, obs: &Observation) {
        match obs {
            Observation::Agreement(AgreementEvent::Ordered { instance, value }) => {
                self.orders.insert(*instance, *value);
            }
            Observation::Agreement(AgreementEvent::Decided { instance, value, .. }) => {
                self.decisions.entry(*instance).or_default().insert(node, *value);
            }
            _ => {}
        }
    }

    fn check(&self, view: &View<'_>) -> Option<Finding> {
        let loyal = |n: &NodeId| !view.traitors.contains(n);
        let traitors = || view.traitors.iter().map(|&t| self.names.of(t)).collect::<Vec<_>>().join(", ");
        for (instance, decided) in &self.decisions {
            let mut loyal_decisions = decided.iter().filter(|(n, _)| loyal(n));
            if let Some((first, v)) = loyal_decisions.next() {
                if let Some((other, w)) = loyal_decisions.find(|(_, w)| *w != v) {
                    return Some(Finding::Violation(format!(
                        "agreement broken in instance {instance}: loyal {} decided {v}, loyal {} decided {w} (traitor: {})",
                        self.names.of(*first),
                        self.names.of(*other),
                        traitors()
                    )));
                }
            }
            let Some(order) = self.orders.get(instance).filter(|_| loyal(&self.commander)) else { continue };
            if let Some((n, v)) = decided.iter().find(|(n, v)| loyal(n) && *v != order) {
                return Some(Finding::Violation(format!(
                    "validity broken in instance {instance}: the loyal {} ordered {order}, loyal {} decided {v} (traitor: {})",
                    self.names.of(self.commander),
                    self.names.of(*n),
                    traitors()
                )));
            }
        }
        None
    }
}

/// The generals of `exp`, configured by `config`, and their invariant.
pub(super) fn setup(
    exp: &Experiment,
    params: &ByzantineParams,
    config: &Config,
    mut faults: driver::explore::Faults,
) -> Setup<General, Agreement> {
    let nodes = exp.topology.nodes.iter().map(|n| General::new(n.id, config)).collect();
    let names = Names::of_nodes(exp);
    faults.traitors = params.config.m;
    faults.max_delay = Some(config.round);
    // The first order goes out at `interval`; the second would at twice that.
    let interval = u64::try_from(config.interval.as_nanos()).unwrap_or(u64::MAX);
    faults.horizon = Some(Time::from_nanos(interval.saturating_mul(2).saturating_sub(1)));
    let commander = config.generals.first().copied().unwrap_or(NodeId(0));
    let invariant = Agreement { commander, names, orders: BTreeMap::new(), decisions: BTreeMap::new() };
    Setup {
        model: Model { nodes, invariant, faults },
        checks: "agreement and validity among the loyal generals",
    }
}
