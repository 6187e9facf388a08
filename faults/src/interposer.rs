//! The sans-IO message interposer.
//!
//! INTERFACE ONLY: the behaviour is being written; today every message passes.

use crate::{FaultId, MessageFault};
use workloads::{Message, NodeId, Time};

/// What happens to a message a node sends.
#[derive(Debug, PartialEq)]
pub enum SendDecision<M> {
    /// The message is lost.
    Drop,
    /// Put the (possibly falsified) message on the wire at `at` (now, or later when delayed).
    Deliver { at: Time, msg: M },
}

/// Counters of what the interposer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterposerStats {
    pub dropped_send: u64,
    pub dropped_receive: u64,
    pub delayed: u64,
    pub falsified: u64,
}

/// One node's interposer: the message faults installed on it, and the RNG
/// streams (one per link, derived from the seed) its decisions come from.
#[derive(Debug)]
pub struct Interposer {
    me: NodeId,
    seed: u64,
    rules: Vec<(FaultId, MessageFault)>,
    stats: InterposerStats,
}

impl Interposer {
    /// An interposer for node `me` with no faults installed.
    pub fn new(me: NodeId, seed: u64) -> Self {
        Interposer { me, seed, rules: Vec::new(), stats: InterposerStats::default() }
    }

    /// Install a message fault (replacing one with the same id).
    pub fn install(&mut self, id: FaultId, fault: MessageFault) {
        self.remove(id);
        self.rules.push((id, fault));
    }

    /// Remove a message fault; unknown ids are ignored.
    pub fn remove(&mut self, id: FaultId) {
        self.rules.retain(|(i, _)| *i != id);
    }

    /// Decide the fate of a message this node sends to `to` at `now`.
    pub fn on_send<M: Message>(&mut self, now: Time, to: NodeId, msg: M) -> SendDecision<M> {
        let _ = (self.me, self.seed, to);
        SendDecision::Deliver { at: now, msg }
    }

    /// Decide whether a message from `from` that arrived at `now` reaches the node.
    pub fn on_receive(&mut self, now: Time, from: NodeId) -> bool {
        let _ = (now, from);
        true
    }

    /// What the interposer has done so far.
    pub fn stats(&self) -> &InterposerStats {
        &self.stats
    }
}
