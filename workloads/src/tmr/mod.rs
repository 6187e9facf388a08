//! Triple (N-) modular redundancy: an open-loop client with an oracle,
//! N = 2k+1 replicas running a deterministic ledger, and voters that forward
//! the majority of the replicas' results.

mod client;
pub mod ledger;
mod msg;
mod replica;
mod voter;

pub use client::Client;
pub use ledger::{Ledger, Op, Snapshot};
pub use msg::Msg;
pub use replica::Replica;
pub use voter::Voter;

use crate::{Effects, Node, NodeId, Time, TimerId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The periodic tick clients and voters use to send due requests and expire deadlines.
const TICK: Duration = Duration::from_millis(1);

/// The one timer every TMR node sets (periodically).
const TICK_TIMER: TimerId = TimerId(1);

/// The part a TMR node plays.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Client,
    Replica,
    Voter,
}

/// A small, named break of the protocol for teaching (off unless the
/// experiment file asks for it): `faultlab explore` finds its consequence.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Bug {
    /// The voter forwards the first result it receives instead of waiting
    /// for a majority: one lying replica whose result arrives first is the
    /// client's answer.
    VoterTrustsFirstReply,
}

/// Everything a TMR node needs to know, sent by the orchestrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// This node's role.
    pub role: Role,
    /// The replicas, in order.
    pub replicas: Vec<NodeId>,
    /// The voters (1 or 3).
    pub voters: Vec<NodeId>,
    /// The clients (one for now: it numbers its own requests).
    pub clients: Vec<NodeId>,
    /// Requests per second the client sends, whatever happens to replies.
    pub rate: f64,
    /// A reply later than this counts as a failure.
    pub deadline: Duration,
    /// How long a voter waits for missing results before deciding.
    pub vote_timeout: Duration,
    /// How long a replica waits for a missing sequence number before it
    /// fetches the state from its peers.
    pub gap_timeout: Duration,
    /// Requests a client keeps outstanding at most (a bound for benchmarks,
    /// which record no history; 0 = open loop, no bound).
    pub window: usize,
    /// Teaching bugs switched on (none unless the file names them).
    #[serde(default)]
    pub bugs: Vec<Bug>,
}

impl Config {
    /// A small topology for tests and examples: replicas first, then
    /// voters, then one client (ids 0, 1, ...), 50 ms deadline, as a client.
    pub fn small(replicas: u16, voters: u16, rate: f64) -> Config {
        Config {
            role: Role::Client,
            replicas: (0..replicas).map(NodeId).collect(),
            voters: (replicas..replicas + voters).map(NodeId).collect(),
            clients: vec![NodeId(replicas + voters)],
            rate,
            deadline: Duration::from_millis(50),
            vote_timeout: Duration::from_millis(20),
            gap_timeout: Duration::from_millis(10),
            window: 0,
            bugs: Vec::new(),
        }
    }
}

/// A TMR node: one of the three roles.
#[derive(Clone, Debug, Hash)]
pub enum TmrNode {
    /// The open-loop client with its oracle.
    Client(Client),
    /// A replica of the ledger.
    Replica(Replica),
    /// A voter.
    Voter(Voter),
}

impl TmrNode {
    /// Node `me` playing `config.role`; a `restarted` replica fetches its state
    /// from its peers before it votes. The workload is deterministic and draws
    /// no randomness, so `seed` is accepted for uniformity and unused.
    pub fn new(me: NodeId, config: &Config, seed: u64, restarted: bool) -> TmrNode {
        let _ = seed;
        match config.role {
            Role::Client => TmrNode::Client(Client::new(config)),
            Role::Replica => TmrNode::Replica(Replica::new(me, config, restarted)),
            Role::Voter => TmrNode::Voter(Voter::new(config)),
        }
    }
}

impl Node for TmrNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        match self {
            TmrNode::Client(n) => n.on_start(now, out),
            TmrNode::Replica(n) => n.on_start(now, out),
            TmrNode::Voter(n) => n.on_start(now, out),
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match self {
            TmrNode::Client(n) => n.on_message(now, from, msg, out),
            TmrNode::Replica(n) => n.on_message(now, from, msg, out),
            TmrNode::Voter(n) => n.on_message(now, from, msg, out),
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match self {
            TmrNode::Client(n) => n.on_timer(now, timer, out),
            TmrNode::Replica(n) => n.on_timer(now, timer, out),
            TmrNode::Voter(n) => n.on_timer(now, timer, out),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The small topology of the tests.
    pub(crate) fn config(replicas: u16, voters: u16, rate: f64) -> Config {
        Config::small(replicas, voters, rate)
    }

    #[test]
    fn new_builds_the_role_the_config_names() {
        let mut cfg = config(3, 1, 100.0);
        assert!(matches!(TmrNode::new(NodeId(4), &cfg, 1, false), TmrNode::Client(_)));
        cfg.role = Role::Voter;
        assert!(matches!(TmrNode::new(NodeId(3), &cfg, 1, false), TmrNode::Voter(_)));
        cfg.role = Role::Replica;
        assert!(matches!(TmrNode::new(NodeId(0), &cfg, 1, true), TmrNode::Replica(_)));
    }
}

crate::any::workload! {
    /// Triple modular redundancy: replicas and a voter, as the registry names it.
    Tmr: Config => TmrNode, |me, config, start| TmrNode::new(me, config, start.seed, start.restarted)
}
