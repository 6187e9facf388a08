//! The control protocol between the orchestrator and an agent, and the data
//! path's handshake. Both are length-delimited frames (u32 big-endian length)
//! carrying postcard-encoded values.

use faults::{FaultId, MessageFault};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;
use workloads::{NodeId, Observation, Time};

/// Environment variable carrying the per-run control token into an agent.
pub const TOKEN_ENV: &str = "FAULTLAB_TOKEN";

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Which workload node an agent hosts (one variant per registered workload).
pub type WorkloadConfig = workloads::any::AnyConfig;

/// A peer's data address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    pub id: NodeId,
    pub name: String,
    pub addr: SocketAddr,
}

/// An agent's whole configuration, sent once after the handshake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// The run this agent belongs to.
    pub run_id: String,
    /// This node.
    pub node: NodeId,
    /// This node's name (`replica-1`).
    pub name: String,
    /// Where to listen for peers' data connections.
    pub listen: SocketAddr,
    /// Every other node of the run.
    pub peers: Vec<Peer>,
    /// The workload node to run.
    pub workload: WorkloadConfig,
    /// Seed of this node's RNG streams (derived from the experiment's seed,
    /// the node and its incarnation).
    pub seed: u64,
    /// 0 on the first start, then one more on each restart.
    pub incarnation: u32,
    /// Message faults already active when the node (re)starts.
    pub faults: Vec<(FaultId, MessageFault)>,
    /// How often the agent sends its observations up.
    pub flush_interval: Duration,
    /// The node's stable-storage directory, which survives its crash (None:
    /// writes are dropped). Emptied on the first start of a run.
    #[serde(default)]
    pub state_dir: Option<std::path::PathBuf>,
}

/// Orchestrator to agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Down {
    /// First frame: proves the orchestrator owns this run.
    Hello { token: String },
    /// The configuration; the agent binds its data port and answers `Ready`.
    Configure(Box<AgentConfig>),
    /// Start the node (every agent is ready, so peers can be reached).
    Start,
    /// Install a message fault.
    Install { id: FaultId, fault: MessageFault },
    /// Remove a message fault.
    Remove { id: FaultId },
    /// Keep-alive for the agent's watchdog.
    Ping,
    /// Stop the node and exit.
    Shutdown,
}

/// Agent to orchestrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Up {
    /// Answer to `Hello`.
    Hello { pid: u32 },
    /// The data port is bound; the node waits for `Start`.
    Ready,
    /// Observations, each stamped with the agent's monotonic clock.
    Observations(Vec<(Time, Observation)>),
    /// Periodic transport counters.
    Stats(AgentStats),
    /// Something went wrong; the agent exits after sending it.
    Error(String),
}

/// Transport and interposer counters of one agent since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStats {
    pub messages_sent: u64,
    pub messages_received: u64,
    pub dropped_send: u64,
    pub dropped_receive: u64,
    pub delayed: u64,
    pub falsified: u64,
    /// Messages the transport dropped because their peer could not be reached.
    pub dropped_unreachable: u64,
    /// The worst lateness of the agent's own loop since the last stats, and
    /// when it ended: a host stall as this agent saw it.
    #[serde(default)]
    pub worst_lag: Option<(Time, Duration)>,
}

/// First frame on a data connection: who is sending, and the proof that it
/// holds the run's secret token (not merely its run id, which is printed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataHello {
    pub from: NodeId,
    /// [`data_proof`] of the run's token and `from`.
    pub proof: [u8; 32],
}

/// The keyed hash a sender `from` presents on its data connections:
/// SHA-256 over a domain tag, the run's token and the node id. Only holders
/// of the token can make it, and it names one node, so a connection cannot
/// claim another node's id. The data network is private and the token is
/// fresh per run, so a replayed proof gains nothing an agent does not have.
pub fn data_proof(token: &str, from: NodeId) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"faultlab data hello v1\0");
    h.update(u64::try_from(token.len()).unwrap_or(u64::MAX).to_be_bytes());
    h.update(token.as_bytes());
    h.update(from.0.to_be_bytes());
    h.finalize().into()
}

impl DataHello {
    /// The hello node `from` sends in the run whose token is `token`.
    pub fn new(token: &str, from: NodeId) -> DataHello {
        DataHello { from, proof: data_proof(token, from) }
    }

    /// Whether the hello was made with `token` for the node it names
    /// (compared in constant time).
    pub fn verify(&self, token: &str) -> bool {
        let want = data_proof(token, self.from);
        want.iter().zip(self.proof.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}
