//! Triple (N-) modular redundancy: an open-loop client with an oracle,
//! N = 2k+1 replicas running a deterministic ledger, and voters that forward
//! the majority of the replicas' results.

use crate::NodeId;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The part a TMR node plays.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Client,
    Replica,
    Voter,
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
    /// Requests a client keeps outstanding at most (a bound for benchmarks; 0 = open loop, no bound).
    pub window: usize,
}
