//! RPC failure semantics: a client calls a server over a network that may
//! lose requests and replies, and a server that may crash.
//!
//! The operation is not idempotent (it adds to an account), so executing a
//! request twice is visible. The client retries a call when no reply comes
//! within `timeout`, up to `retries` times (time redundancy), then reports a
//! failure.
//! - **at-least-once**: the server executes every request it receives; a
//!   lost reply makes the client retry a call that already ran, so it runs
//!   twice (the server counts its executions).
//! - **at-most-once**: requests carry the call's number; the server
//!   remembers the replies it sent and answers a retry from that memory
//!   instead of executing it again. The memory lives in RAM and is lost when
//!   the server crashes: a restarted server (a new epoch) refuses retries of
//!   calls stamped with an earlier epoch, because it cannot tell whether it
//!   ran them before the crash. The client reports those calls as failed:
//!   at-most-once trades availability for never executing twice.
//!
//! **Orphans** (the fifth failure class). With `work` above zero a call is a
//! computation that takes that long on the server. A client that crashes
//! mid-call leaves orphan computations: they waste the server's time, and
//! their replies reach a restarted client that no longer knows the call.
//! The client logs each call to stable storage before sending it, so a
//! restarted client numbers its calls on and knows which were outstanding.
//! The remedies (`orphans:`):
//! - **extermination**: the restarted client finds its outstanding calls in
//!   its log and asks the server to kill them;
//! - **reincarnation**: it announces a new epoch, and the server kills every
//!   computation of an earlier one;
//! - **gentle reincarnation**: on the new epoch the server asks the client
//!   about each older computation and kills only those nobody claims; the
//!   restarted client claims the calls in its log and waits for their results;
//! - **expiration**: a computation runs for a quantum at a time, renewed by
//!   the client that made it; an orphan is not renewed and dies within one.

mod client;
mod server;
#[cfg(test)]
mod tests;

pub use client::Client;
pub use server::Server;

use crate::{Effects, Message, Node, NodeId, Time, TimerId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The call semantics the server (and the client's retries) follow.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Semantics {
    /// Retry; the server executes whatever arrives.
    AtLeastOnce,
    /// Retry; the server filters duplicates by call number.
    AtMostOnce,
}

impl Semantics {
    /// The name used in YAML and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Semantics::AtLeastOnce => "at-least-once",
            Semantics::AtMostOnce => "at-most-once",
        }
    }
}

/// What the server does about the computations of a crashed client.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Orphans {
    /// Nothing: orphans run to the end.
    #[default]
    None,
    /// The restarted client asks for its logged calls to be killed.
    Extermination,
    /// A new client epoch kills every computation of an earlier one.
    Reincarnation,
    /// A new epoch kills only the computations their client does not claim.
    Gentle,
    /// Computations live a quantum at a time, renewed by their client.
    Expiration { quantum: Duration },
}

impl Orphans {
    /// The name used in YAML and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Orphans::None => "none",
            Orphans::Extermination => "extermination",
            Orphans::Reincarnation => "reincarnation",
            Orphans::Gentle => "gentle",
            Orphans::Expiration { .. } => "expiration",
        }
    }
}

/// Everything an RPC node needs to know, sent by the orchestrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub semantics: Semantics,
    pub client: NodeId,
    pub server: NodeId,
    /// Calls per second the client starts (open loop).
    pub rate: f64,
    /// How long the client waits for a reply before retrying.
    pub timeout: Duration,
    /// How many times the client retries a call before it gives up.
    pub retries: u32,
    /// How long the server computes on a call (0: at once).
    #[serde(default)]
    pub work: Duration,
    /// What the server does about orphan computations.
    #[serde(default)]
    pub orphans: Orphans,
}

/// An RPC message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// Client to server: call `seq`, try number `attempt` (0 first); `epoch`
    /// is the server incarnation the client knew when it first sent the call
    /// (0: none yet).
    Request { seq: u64, attempt: u32, epoch: u64, amount: i64 },
    /// Client to server, long calls: `incarnation` (the client's) sends call `seq`.
    Call { seq: u64, incarnation: u64, amount: i64 },
    /// Restarted client to server (extermination): kill these calls of mine.
    Kill { seqs: Vec<u64> },
    /// Restarted client to server (reincarnation, gentle): my new epoch.
    NewEpoch { incarnation: u64 },
    /// Server to client (gentle): does anyone still want call `seq`?
    Locate { seq: u64 },
    /// Client to server (gentle): I want call `seq`'s result.
    Adopt { seq: u64, incarnation: u64 },
    /// Client to server (expiration): I still want these calls.
    Renew { seqs: Vec<u64> },
    /// Server to client: the call ran (now or before) and the account holds `balance`.
    Reply { seq: u64, epoch: u64, balance: i64 },
    /// Server to client (at-most-once): a restarted server cannot tell
    /// whether this retried call ran before its crash, so it refuses it.
    Refused { seq: u64, epoch: u64 },
}

impl Message for Msg {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        match self {
            Msg::Reply { balance, .. } => {
                *balance = balance.wrapping_add(rng.next_u64().max(1) as i64);
                true
            }
            _ => false,
        }
    }

    fn collude(&mut self, key: u64) -> bool {
        match self {
            Msg::Reply { balance, .. } => {
                *balance = balance.wrapping_add(1 + (key % 1000) as i64);
                true
            }
            _ => false,
        }
    }
}

/// How a call ended, as the client saw it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CallOutcome {
    /// A reply arrived.
    Ok,
    /// Every try timed out: the client cannot tell lost request, lost reply or crash apart.
    TimedOut,
    /// The server refused a retry after a restart (at-most-once).
    Refused,
    /// The client crashed during the call (reported by its next incarnation).
    Lost,
}

/// What an RPC node reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RpcEvent {
    /// The client finished call `seq` after `attempts` tries; `replies` came in by then.
    Call { seq: u64, attempts: u32, outcome: CallOutcome, replies: u32 },
    /// A reply came for a call the client had already finished.
    LateReply { seq: u64 },
    /// The server executed call `seq` (try `attempt`).
    Executed { seq: u64, attempt: u32 },
    /// The server answered try `attempt` of call `seq` from its memory (at-most-once).
    Filtered { seq: u64, attempt: u32 },
    /// The server refused try `attempt` of call `seq` (at-most-once, after a restart).
    Refused { seq: u64, attempt: u32 },
    /// The server began computing call `seq` for client incarnation `incarnation`.
    Started { seq: u64, incarnation: u64 },
    /// The server killed the computation of call `seq` (an orphan remedy).
    Killed { seq: u64 },
    /// The server handed call `seq`'s computation to the client's new incarnation (gentle).
    Adopted { seq: u64 },
    /// A restarted client found `outstanding` calls in its log that its crash interrupted.
    Restarted { outstanding: u64 },
}

/// An RPC node: the client or the server.
#[derive(Clone, Debug, Hash)]
pub enum RpcNode {
    Client(Client),
    Server(Server),
}

impl RpcNode {
    /// Node `me`; a `restarted` server starts a new epoch with an empty
    /// memory; a client reads its call log from `start`'s stable storage.
    pub fn new(me: NodeId, config: &Config, start: &crate::any::Start) -> RpcNode {
        if me == config.server {
            RpcNode::Server(Server::new(config, start.restarted))
        } else {
            RpcNode::Client(Client::restarted(config, &start.stable))
        }
    }
}

impl Node for RpcNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        match self {
            RpcNode::Client(n) => n.on_start(now, out),
            RpcNode::Server(n) => n.on_start(now, out),
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match self {
            RpcNode::Client(n) => n.on_message(now, msg, out),
            RpcNode::Server(n) => n.on_message(now, from, msg, out),
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match self {
            RpcNode::Client(n) => n.on_timer(now, timer, out),
            RpcNode::Server(n) => n.on_timer(now, timer, out),
        }
    }
}

crate::any::workload! {
    /// RPC under failures, as the registry names it.
    Rpc: Config => RpcNode, |me, config, start| RpcNode::new(me, config, start)
}
