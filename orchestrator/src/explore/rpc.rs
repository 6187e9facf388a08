//! RPC under the explorer: a call the server executes more than once (the
//! operation adds to an account, so a second execution is a visible
//! mistake). At-least-once does this when a reply is lost and the client
//! retries; at-most-once filters the retry.
//!
//! The client's timeout assumes a reply within it, so the search does too
//! (messages within half a timeout): a retry then needs a lost message, from
//! the file's omission faults. One call is searched: the client's rate is
//! lowered so that no second call starts.

use super::Setup;
use crate::experiment::Experiment;
use driver::explore::{Faults, Finding, Invariant, Model, View};
use std::collections::BTreeMap;
use workloads::rpc::{Config, RpcEvent, RpcNode};
use workloads::{NodeId, Observation, Time};

/// The calls per second the search lets the client start: one per 1,000 s.
const ONE_CALL_RATE: f64 = 1e-3;

/// The executions seen so far.
#[derive(Clone, Debug, Hash)]
pub(super) struct Once {
    semantics: &'static str,
    /// Per call, the tries the server executed.
    executed: BTreeMap<u64, Vec<u32>>,
}

impl Invariant for Once {
    fn observe(&mut self, _node: NodeId, obs: &Observation) {
        if let Observation::Rpc(RpcEvent::Executed { seq, attempt }) = obs {
            self.executed.entry(*seq).or_default().push(*attempt);
        }
    }

    fn check(&self, _view: &View<'_>) -> Option<Finding> {
        let (seq, tries) = self.executed.iter().find(|(_, tries)| tries.len() > 1)?;
        let tries: Vec<String> = tries.iter().map(u32::to_string).collect();
        Some(Finding::Violation(format!(
            "call {seq} executed {} times ({}: tries {}), though the operation is not idempotent",
            tries.len(),
            self.semantics,
            tries.join(" and ")
        )))
    }
}

/// The client and server of `exp`, configured by `config`, and their invariant.
pub(super) fn setup(exp: &Experiment, config: &Config, mut faults: Faults) -> Setup<RpcNode, Once> {
    let config = Config { rate: ONE_CALL_RATE, ..config.clone() };
    let start = workloads::any::Start::default();
    let nodes = exp.topology.nodes.iter().map(|n| RpcNode::new(n.id, &config, &start)).collect();
    faults.max_delay = Some(config.timeout / 2);
    let period = std::time::Duration::from_secs_f64(1.0 / ONE_CALL_RATE);
    faults.horizon = Some(Time::from_nanos(u64::try_from(period.as_nanos()).unwrap_or(u64::MAX) - 1));
    let invariant = Once { semantics: config.semantics.as_str(), executed: BTreeMap::new() };
    Setup { model: Model { nodes, invariant, faults }, checks: "no call executed twice" }
}
