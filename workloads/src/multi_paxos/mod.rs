//! Multi-Paxos behind a key-value service: a replicated log of client
//! operations, one Paxos instance per slot, with a stable leader.
//!
//! - **Replicas** are proposers, acceptors and learners at once. They
//!   heartbeat each other; the lowest replica that no detector suspects
//!   stands for leader.
//! - **Election (phase 1, once for every slot).** A candidate picks a ballot
//!   higher than any it has seen and sends `Prepare` from its first unlearned
//!   slot. A majority of promises makes it the leader; each promise carries
//!   what the acceptor accepted in the open slots, and the leader proposes
//!   again in those slots the value of the highest ballot, or a no-op in a
//!   hole, exactly as single-decree Paxos would.
//! - **Normal case (phase 2).** The leader puts each client operation in the
//!   next free slot and sends `Accept`; every acceptor that promised nothing
//!   higher accepts and tells every replica. A command accepted in one ballot
//!   by a majority is chosen; each replica applies the chosen log in slot
//!   order to its registers ([`crate::kv::KvStore`]), and the leader replies.
//! - **Stable storage.** An acceptor writes its promise and each acceptance
//!   before it answers; the log it learned and the registers are volatile.
//! - **Catch-up.** A replica behind the others (restarted, or one that missed
//!   messages) asks a replica further ahead for the chosen commands, in
//!   batches, and replays them.
//!
//! A leader change goes through the phases the recorder splits recovery
//! into ([`crate::observation::FailoverPhase`]): detection (the candidate
//! suspects everyone lower), election (a majority promised) and catch-up
//! (the leader has learned and applied every slot the promises named, and
//! serves). The clients are [`crate::kv::KvClient`]s recording their history.

mod msg;
mod replica;

pub use msg::Msg;
pub use replica::Replica;

use crate::kv::{ClientConfig, KvClient, KvOp};
use crate::{DetectorConfig, Effects, Node, NodeId, Time, TimerId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A position in the replicated log.
pub type Slot = u64;

/// What a slot of the log holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cmd {
    /// Fills a hole a new leader found: changes nothing.
    Noop,
    /// Client `client`'s operation `id`.
    Op { client: NodeId, id: u64, op: KvOp },
}

/// Everything a Multi-Paxos node needs to know, sent by the orchestrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The replicas, in id order (the lowest unsuspected one leads).
    pub replicas: Vec<NodeId>,
    /// The key-value clients.
    pub clients: Vec<NodeId>,
    /// Registers the clients use.
    pub keys: u64,
    /// Operations per second per client, while replies come in time.
    pub rate: f64,
    /// A client operation unanswered this long ends `info`.
    pub deadline: Duration,
    /// A client resends an unanswered request, a leader its unchosen
    /// proposals and a candidate its election, after this long.
    pub retry: Duration,
    /// The replicas' heartbeats and failure detectors.
    pub detector: DetectorConfig,
}

impl Config {
    /// A small cluster for tests and examples: `r` replicas then `c`
    /// clients (ids 0, 1, ...), 3 registers, 50 operations per second each.
    pub fn small(r: u16, c: u16) -> Config {
        Config {
            replicas: (0..r).map(NodeId).collect(),
            clients: (r..r + c).map(NodeId).collect(),
            keys: 3,
            rate: 50.0,
            deadline: Duration::from_millis(500),
            retry: Duration::from_millis(50),
            detector: DetectorConfig {
                interval: Duration::from_millis(20),
                check: Duration::from_millis(5),
                kind: crate::DetectorKind::Fixed { timeout: Duration::from_millis(100) },
            },
        }
    }

    fn majority(&self) -> usize {
        self.replicas.len() / 2 + 1
    }

    fn client(&self) -> ClientConfig {
        ClientConfig {
            first: self.replicas.first().copied().unwrap_or(NodeId(0)),
            keys: self.keys.max(1),
            rate: self.rate,
            deadline: self.deadline,
            retry: self.retry,
        }
    }
}

/// What a replica did, for the recorder and the invariants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MpEvent {
    /// The replica has applied every slot below `upto`, and `digest` hashes
    /// that log prefix (reported every [`DIGEST_EVERY`] slots): two replicas
    /// with different digests at one `upto` chose different commands
    /// somewhere below it.
    Applied { upto: Slot, digest: u64 },
    /// The replica stands for leader with a ballot of `round`.
    Candidate { round: u64 },
    /// A majority promised: it leads with a ballot of `round`, and proposes
    /// again in `open` slots (no-ops among them in `holes`).
    Elected { round: u64, open: u64, holes: u64 },
    /// The leader learned and applied every slot its election named, and serves.
    Serving { round: u64 },
    /// A restarted replica (its learned log lost) began catching up.
    Restarted,
    /// A replica that was behind applied `slots` slots fetched from others and
    /// reached the commit point it had heard of.
    CaughtUp { slots: u64 },
}

/// How often a replica reports the digest of its applied log.
pub const DIGEST_EVERY: Slot = 16;

/// A Multi-Paxos node: a replica or a key-value client.
#[derive(Debug)]
pub enum MultiPaxosNode {
    Replica(Box<Replica>),
    Client(Box<KvClient>),
}

impl Node for MultiPaxosNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        match self {
            MultiPaxosNode::Replica(r) => r.on_start(now, out),
            MultiPaxosNode::Client(c) => c.on_start(now, out),
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match (self, msg) {
            (MultiPaxosNode::Replica(r), msg) => r.on_message(now, from, msg, out),
            (MultiPaxosNode::Client(c), Msg::Reply { id, ok, value }) => c.on_reply(now, id, ok, value, out),
            (MultiPaxosNode::Client(c), Msg::Leader { view, leader }) => c.on_leader(now, view, leader, out),
            (MultiPaxosNode::Client(_), _) => {}
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match self {
            MultiPaxosNode::Replica(r) => r.on_timer(now, timer, out),
            MultiPaxosNode::Client(c) => c.on_timer(now, timer, out),
        }
    }
}

crate::any::workload! {
    /// The workload as the registry sees it.
    MultiPaxos: Config => MultiPaxosNode, |me, config, start| {
        if config.replicas.contains(&me) {
            MultiPaxosNode::Replica(Box::new(Replica::new(me, config, &start.stable, start.restarted)))
        } else {
            MultiPaxosNode::Client(Box::new(KvClient::new(me, &config.client())))
        }
    }
}

/// Log agreement over every replica's [`MpEvent::Applied`] reports:
/// (upto, digest) pairs. Returns the number of `upto` points at which two
/// replicas' logs differ.
pub fn divergences(applied: &[(Slot, u64)]) -> u64 {
    let mut by: std::collections::BTreeMap<Slot, std::collections::BTreeSet<u64>> = Default::default();
    for &(upto, digest) in applied {
        by.entry(upto).or_default().insert(digest);
    }
    by.values().filter(|d| d.len() > 1).count() as u64
}
