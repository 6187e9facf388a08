//! Primary/backup (passive replication): an open-loop client sends requests
//! to the primary, which applies each, forwards it to the backups and
//! replies once every backup it trusts has acknowledged it. Replicas exchange
//! heartbeats; when the backup with the lowest id among those still trusted
//! suspects the primary it takes over in a new view, catches up from the
//! others and starts serving. The client retries against the new primary.
//!
//! Each failover reports three phases (`Observation::Failover`): detection
//! (the suspicion), the view installed (every trusted replica acknowledged
//! the new view, fencing the old primary) and caught up (the new primary
//! holds the most advanced state among them and serves).

mod client;
mod msg;
mod replica;

pub use crate::kv::KvClient;
pub use client::Client;
pub use msg::Msg;
pub use replica::Replica;

use crate::heartbeat::DetectorConfig;
use crate::{Effects, Node, NodeId, Time, TimerId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The periodic tick of clients and replicas.
const TICK: Duration = Duration::from_millis(1);
const TICK_TIMER: TimerId = TimerId(1);
const BEAT_TIMER: TimerId = TimerId(2);

/// The part a node plays.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Client,
    Replica,
}

/// Everything a primary/backup node needs to know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub role: Role,
    /// The replicas in id order; the first is the primary of view 0.
    pub replicas: Vec<NodeId>,
    /// The clients (one in request mode: it numbers its own requests).
    pub clients: Vec<NodeId>,
    /// Requests per second the client sends, whatever happens to replies.
    pub rate: f64,
    /// A reply later than this counts as a failure.
    pub deadline: Duration,
    /// How long the client waits for a reply before sending the request again.
    pub retry: Duration,
    /// How long a primary waits for a missing request before re-deriving it.
    pub gap_timeout: Duration,
    /// Heartbeats between replicas and their detector.
    pub detector: DetectorConfig,
    /// Key-value mode when above zero: the replicas hold this many registers,
    /// and each client reads, writes and compare-and-sets them one operation
    /// at a time (`rate` per second), recording its history; 0: requests on
    /// the ledger, as the open-loop client sends them.
    #[serde(default)]
    pub keys: u64,
}

impl Config {
    /// What a key-value client needs: it starts with the primary of view 0.
    fn kv_client(&self) -> crate::kv::ClientConfig {
        crate::kv::ClientConfig {
            first: self.replicas.first().copied().unwrap_or(NodeId(0)),
            keys: self.keys,
            rate: self.rate,
            deadline: self.deadline,
            retry: self.retry,
        }
    }
}

impl crate::kv::KvWire for Msg {
    fn request(id: u64, op: crate::kv::KvOp) -> Msg {
        Msg::KvRequest { id, op }
    }
}

/// A primary/backup node.
#[derive(Debug)]
pub enum PrimaryBackupNode {
    Client(Box<Client>),
    KvClient(Box<KvClient>),
    Replica(Box<Replica>),
}

impl PrimaryBackupNode {
    /// Node `me` playing `config.role`; a `restarted` replica fetches the state before serving.
    pub fn new(me: NodeId, config: &Config, restarted: bool) -> PrimaryBackupNode {
        match config.role {
            Role::Client if config.keys > 0 => {
                PrimaryBackupNode::KvClient(Box::new(KvClient::new(me, &config.kv_client())))
            }
            Role::Client => PrimaryBackupNode::Client(Box::new(Client::new(config))),
            Role::Replica => PrimaryBackupNode::Replica(Box::new(Replica::new(me, config, restarted))),
        }
    }
}

impl Node for PrimaryBackupNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        match self {
            PrimaryBackupNode::Client(n) => n.on_start(now, out),
            PrimaryBackupNode::KvClient(n) => n.on_start(now, out),
            PrimaryBackupNode::Replica(n) => n.on_start(now, out),
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match self {
            PrimaryBackupNode::Client(n) => n.on_message(now, from, msg, out),
            PrimaryBackupNode::KvClient(n) => match msg {
                Msg::KvReply { id, ok, value } => n.on_reply(now, id, ok, value, out),
                Msg::Primary { view, primary } => n.on_leader(now, view, primary, out),
                _ => {}
            },
            PrimaryBackupNode::Replica(n) => n.on_message(now, from, msg, out),
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match self {
            PrimaryBackupNode::Client(n) => n.on_timer(now, timer, out),
            PrimaryBackupNode::KvClient(n) => n.on_timer(now, timer, out),
            PrimaryBackupNode::Replica(n) => n.on_timer(now, timer, out),
        }
    }
}

crate::any::workload! {
    /// Primary/backup replication, as the registry names it.
    PrimaryBackup: Config => PrimaryBackupNode, |me, config, start| PrimaryBackupNode::new(me, config, start.restarted)
}
