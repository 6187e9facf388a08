//! The sans-IO node abstraction every workload implements.

use crate::{Observation, Time};
use rand::RngCore;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt::Debug;
use std::time::Duration;

/// A node of the experiment, by its index in the topology (`replica-1` ... in
/// the order the orchestrator lists them). Names live in the topology; the
/// wire and the protocols use the index.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u16);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A timer a node set for itself; the node chooses the numbers and gets the
/// same number back in [`Node::on_timer`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimerId(pub u64);

/// A protocol message. Besides being serialisable, a message knows how a faulty
/// (value-failing or Byzantine) node would falsify it: the interposer in
/// `faults` stays generic and asks the message.
pub trait Message: Serialize + DeserializeOwned + Clone + Debug + Send + 'static {
    /// Replace the result this message carries with a random wrong one, drawn
    /// from `rng` (each faulty node draws its own). Returns false, leaving the
    /// message untouched, when the message carries no result to falsify.
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool;

    /// Replace the result this message carries with a wrong one that every
    /// node colluding under the same `key` computes identically, so that
    /// colluders agree on the lie. Returns false when there is nothing to falsify.
    fn collude(&mut self, key: u64) -> bool;

    /// Replace the result this message carries with a wrong one that depends
    /// on the receiver `to` (and on `key`), so that a Byzantine node tells
    /// each peer a different lie. Returns false when there is nothing to
    /// falsify; the default falsifies nothing.
    fn equivocate(&mut self, to: NodeId, key: u64) -> bool {
        let _ = (to, key);
        false
    }
}

/// A write to the node's stable storage, which survives a crash of the node.
/// The driver carries out every write of a call, in order, before any send of
/// that call: nothing a node sends can depend on state a crash would lose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StableWrite {
    /// Replace the record `key` with `bytes`, atomically.
    Put { key: String, bytes: Vec<u8> },
    /// Append `bytes` to the record `key` (created empty if absent).
    Append { key: String, bytes: Vec<u8> },
}

/// Whether `key` names a stable record: a plain file name of letters,
/// digits, `-`, `_` and `.`, not starting with a dot nor ending in `.tmp`
/// (every driver refuses a write to any other, as the agent's files would).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with(".tmp")
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A node's stable storage as loaded on a restart: record key to bytes.
pub type StableRecords = std::collections::BTreeMap<String, Vec<u8>>;

/// What a node asks its driver to do, collected during one call.
#[derive(Debug)]
pub struct Effects<M> {
    /// Messages to send, in order.
    pub sends: Vec<(NodeId, M)>,
    /// Timers to set: fire `TimerId` once after the duration.
    pub timers: Vec<(Duration, TimerId)>,
    /// Observations for the orchestrator's recorder, stamped with the time of the call.
    pub observations: Vec<Observation>,
    /// Writes to stable storage, carried out before the sends.
    pub stable: Vec<StableWrite>,
}

impl<M> Default for Effects<M> {
    fn default() -> Self {
        Effects { sends: Vec::new(), timers: Vec::new(), observations: Vec::new(), stable: Vec::new() }
    }
}

impl<M> Effects<M> {
    /// An empty set of effects.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client-history steps among the observations, in order.
    pub fn history(&self) -> Vec<crate::history::Step> {
        self.observations
            .iter()
            .filter_map(|o| match o {
                crate::Observation::History(s) => Some(*s),
                _ => None,
            })
            .collect()
    }

    /// Send `msg` to `to`.
    pub fn send(&mut self, to: NodeId, msg: M) {
        self.sends.push((to, msg));
    }

    /// Fire `id` once, `after` from now.
    pub fn set_timer(&mut self, after: Duration, id: TimerId) {
        self.timers.push((after, id));
    }

    /// Report an observation to the orchestrator.
    pub fn emit(&mut self, obs: Observation) {
        self.observations.push(obs);
    }

    /// Write to stable storage before this call's sends go out.
    pub fn store(&mut self, write: StableWrite) {
        self.stable.push(write);
    }

    /// True when nothing was asked for.
    pub fn is_empty(&self) -> bool {
        self.sends.is_empty()
            && self.timers.is_empty()
            && self.observations.is_empty()
            && self.stable.is_empty()
    }

    /// Forget everything collected (reuse the buffers).
    pub fn clear(&mut self) {
        self.sends.clear();
        self.timers.clear();
        self.observations.clear();
        self.stable.clear();
    }
}

/// A deterministic protocol state machine: no I/O, no clock, no randomness of
/// its own (randomness comes from a seeded RNG it was built with).
pub trait Node: Send {
    /// The messages this node exchanges with its peers.
    type Msg: Message;

    /// The node starts (first start, or restart after a crash: the node was
    /// built knowing which).
    fn on_start(&mut self, now: Time, out: &mut Effects<Self::Msg>);

    /// A message from `from` arrives.
    fn on_message(&mut self, now: Time, from: NodeId, msg: Self::Msg, out: &mut Effects<Self::Msg>);

    /// A timer set earlier fires.
    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Self::Msg>);
}
