//! TMR under the explorer: no wrong output with at most k liars among the
//! 2k+1 replicas. The file's `byzantine` targets are the candidate liars (at
//! most k of them lie along one path, as the collude or equivocate modes
//! would); the client judges every voted answer against its own copy of the
//! ledger, and a wrong one is the violation.
//!
//! One request is searched: the client sends it at its start and no second
//! one, and no timer fires (the vote is decided by the messages alone), so
//! the search covers every order in which the requests, the results and the
//! outputs can arrive. A teaching bug the file switches on (`bugs:
//! [voter-trusts-first-reply]`) is what the search then finds the
//! consequence of.

use super::{Names, Setup};
use crate::experiment::Experiment;
use driver::explore::{Faults, Finding, Invariant, Model, View};
use std::collections::BTreeMap;
use workloads::tmr::{Config, Role, TmrNode};
use workloads::{NodeId, Observation, Outcome, Time};

/// The calls per second the search lets the client start: one per 1,000 s.
const ONE_REQUEST_RATE: f64 = 1e-3;

/// The answers the client judged wrong.
#[derive(Clone, Debug, Hash)]
pub(super) struct RightAnswers {
    names: Names,
    /// The liars the replicas' majority tolerates.
    k: usize,
    /// The requests answered wrongly, by sequence number: the client that saw it.
    wrong: BTreeMap<u64, NodeId>,
}

impl Invariant for RightAnswers {
    fn observe(&mut self, node: NodeId, obs: &Observation) {
        if let Observation::Request { seq, outcome: Outcome::Wrong, .. } = obs {
            self.wrong.entry(*seq).or_insert(node);
        }
    }

    fn check(&self, view: &View<'_>) -> Option<Finding> {
        let (seq, client) = self.wrong.iter().next()?;
        if view.traitors.len() > self.k {
            return None;
        }
        let liars: Vec<String> = view.traitors.iter().map(|&t| self.names.of(t)).collect();
        Some(Finding::Violation(format!(
            "{} got a wrong answer to request {seq} with {} liar(s) among the replicas, at most {} tolerated (liar: {})",
            self.names.of(*client),
            liars.len(),
            self.k,
            if liars.is_empty() { "none".to_string() } else { liars.join(", ") }
        )))
    }
}

/// The replicas, voters and client of `exp`, configured by `config` (any
/// node's; each node gets its own role), and their invariant.
pub(super) fn setup(exp: &Experiment, config: &Config, mut faults: Faults) -> Setup<TmrNode, RightAnswers> {
    let config = Config { rate: ONE_REQUEST_RATE, window: 0, ..config.clone() };
    let role = |id: NodeId| {
        if config.replicas.contains(&id) {
            Role::Replica
        } else if config.voters.contains(&id) {
            Role::Voter
        } else {
            Role::Client
        }
    };
    let nodes = exp
        .topology
        .nodes
        .iter()
        .map(|n| TmrNode::new(n.id, &Config { role: role(n.id), ..config.clone() }, exp.seed, false))
        .collect();
    let k = config.replicas.len().saturating_sub(1) / 2;
    faults.traitors = k;
    faults.max_delay = Some(config.vote_timeout / 2);
    // The periodic ticks (1 ms) never fire: the request goes out at the start.
    faults.horizon = Some(Time::ZERO);
    let invariant = RightAnswers { names: Names::of_nodes(exp), k, wrong: BTreeMap::new() };
    let checks = if config.bugs.is_empty() {
        "TMR: no wrong answer with at most k liars among 2k+1 replicas"
    } else {
        "TMR with a teaching bug switched on: no wrong answer with at most k liars among 2k+1 replicas"
    };
    Setup { model: Model { nodes, invariant, faults }, checks }
}
