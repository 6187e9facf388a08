//! Message faults as installed on one node's interposer.
//!
//! The orchestrator expands each scheduled fault into rules, one per affected
//! node, and installs / removes them over the control channel. Container-level
//! faults (crash, pause, isolate) never become rules: the backend executes them.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use workloads::NodeId;

/// Identifies an installed rule so it can be removed; unique within a run.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FaultId(pub u64);

/// Which side of the node a fault acts on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Messages this node sends.
    Send,
    /// Messages this node receives.
    Receive,
    /// Both.
    Both,
}

/// Which of a node's links a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkScope {
    /// Every peer.
    All,
    /// Only these peers (the other end of the link).
    Peers(Vec<NodeId>),
}

impl LinkScope {
    /// Whether the link to or from `peer` is in scope.
    pub fn covers(&self, peer: NodeId) -> bool {
        match self {
            LinkScope::All => true,
            LinkScope::Peers(p) => p.contains(&peer),
        }
    }
}

/// How a delay is drawn for each message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DelayDistribution {
    /// Always the same delay.
    Fixed(Duration),
    /// Uniform in [min, max].
    Uniform { min: Duration, max: Duration },
    /// Normal with mean and standard deviation, truncated at zero.
    Normal { mean: Duration, stddev: Duration },
    /// Pareto with scale (the minimum) and shape alpha: a heavy tail.
    Pareto { scale: Duration, shape: f64 },
}

/// How a Byzantine node falsifies the results it sends.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ByzantineMode {
    /// Each faulty node returns its own random wrong result.
    Corrupt,
    /// All colluding nodes return the same wrong result.
    Collude,
    /// Each peer receives its own wrong result: the node tells different
    /// peers different things (the workload's [`workloads::Message::equivocate`]).
    Equivocate,
    /// Each message on a link is replaced by the one sent [`STALE_LAG`]
    /// messages earlier on that link (the first ones repeat the oldest held).
    Stale,
}

/// How many messages back a `Stale` rule replays on each link.
pub const STALE_LAG: usize = 4;

/// One message fault on one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MessageFault {
    /// Drop each message in `direction` on the scoped links with `probability`.
    Omission { direction: Direction, probability: f64, links: LinkScope },
    /// Delay each message sent on the scoped links; order on a link is kept
    /// unless `reorder`.
    Delay { distribution: DelayDistribution, reorder: bool, links: LinkScope },
    /// Falsify the results this node sends. Colluders share `key`.
    Byzantine { mode: ByzantineMode, key: u64, links: LinkScope },
    /// Fail-silent: the node runs but nothing it sends leaves it.
    Silence,
    /// Drop every message to (and, unless one-way, from) these peers: this
    /// node's side of a partition.
    Partition { cut: Vec<NodeId>, one_way: bool },
    /// Processing delay: every message this node receives is handled after a
    /// delay drawn from `distribution`, in arrival order.
    Slow { distribution: DelayDistribution },
    /// The node's clock reads `offset_nanos` off the host's, and runs
    /// `1 + drift` times as fast from the moment the rule takes effect.
    ClockSkew { offset_nanos: i64, drift: f64 },
    /// Each message received from the scoped peers arrives twice with `probability`.
    Duplicate { probability: f64, links: LinkScope },
    /// Receive side of a forgery: messages that arrive from `liar` are taken
    /// to come from `claimed` (the transport does not authenticate senders,
    /// so this is exactly what a node claiming to be another achieves).
    Forge { liar: NodeId, claimed: NodeId },
}
