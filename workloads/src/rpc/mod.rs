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
}

/// An RPC message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// Client to server: call `seq`, try number `attempt` (0 first); `epoch`
    /// is the server incarnation the client knew when it first sent the call
    /// (0: none yet).
    Request { seq: u64, attempt: u32, epoch: u64, amount: i64 },
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
}

/// An RPC node: the client or the server.
#[derive(Debug)]
pub enum RpcNode {
    Client(Client),
    Server(Server),
}

impl RpcNode {
    /// Node `me`; a `restarted` server starts a new epoch with an empty memory.
    pub fn new(me: NodeId, config: &Config, restarted: bool) -> RpcNode {
        if me == config.server {
            RpcNode::Server(Server::new(config, restarted))
        } else {
            RpcNode::Client(Client::new(config))
        }
    }
}

impl Node for RpcNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        match self {
            RpcNode::Client(n) => n.on_start(now, out),
            RpcNode::Server(n) => n.on_start(now),
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match self {
            RpcNode::Client(n) => n.on_message(now, msg, out),
            RpcNode::Server(n) => n.on_message(from, msg, out),
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match self {
            RpcNode::Client(n) => n.on_timer(now, timer, out),
            RpcNode::Server(_) => {}
        }
    }
}

/// RPC under failures, as the registry names it.
#[derive(Debug)]
pub struct Rpc;

impl crate::any::Workload for Rpc {
    type Config = Config;
    type Node = RpcNode;

    fn node(me: NodeId, config: &Config, start: &crate::any::Start) -> RpcNode {
        RpcNode::new(me, config, start.restarted)
    }
}
