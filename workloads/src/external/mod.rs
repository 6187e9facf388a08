//! External nodes: programs in any language that speak Maelstrom's
//! protocol (newline-separated JSON on stdin and stdout, as in Jepsen's
//! Maelstrom workbench), hosted by faultlab's agents under its faults, with
//! faultlab's own clients and checkers.
//!
//! - **Servers** (`n1` .. `nN`): the agent starts the program, sends it
//!   `init` with its `node_id` and every `node_ids`, and from then on writes
//!   every message addressed to the node on its stdin and sends every line
//!   it writes on stdout to the node it names, through the interposer and the
//!   real transport: every message fault applies. Its stderr is the agent's.
//!   A line that is not a message, or that names an unknown node, is
//!   reported with the line and dropped. This is the one node that does I/O
//!   of its own: it runs on the process backend, not in simulation.
//! - **Clients** (`c1` ..): faultlab's, by workload. `echo` and
//!   `unique-ids` send open-loop at the experiment's rate and judge each
//!   reply (an echo that does not echo, an id seen before: wrong);
//!   `broadcast` and `g-set` add values open-loop and read every node
//!   (a value acknowledged and never in every node's read is lost);
//!   `g-counter` adds deltas and reads every node (a final read below the
//!   acknowledged sum, or any above what was sent, is wrong); `lin-kv`
//!   clients read, write and compare-and-set registers one operation at a
//!   time and record their history for the linearizability checker.

mod client;
mod converge;
mod server;

pub use client::Client;
pub use converge::{delta_of, Converge, READ_EVERY};
pub use server::Server;

use crate::kv::{ClientConfig, KvClient, KvOp, KvWire};
use crate::{Effects, Message, Node, NodeId, Time, TimerId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Maelstrom's workloads faultlab drives so far.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExtWorkload {
    Echo,
    UniqueIds,
    LinKv,
    Broadcast,
    GSet,
    GCounter,
}

/// Everything an external node needs, sent by the orchestrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The servers, `n1` first.
    pub servers: Vec<NodeId>,
    /// faultlab's clients, `c1` first.
    pub clients: Vec<NodeId>,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Where it runs (the experiment file's folder).
    pub dir: PathBuf,
    pub workload: ExtWorkload,
    /// Requests per second (echo, unique-ids: the one client, open loop;
    /// lin-kv: each client, one operation at a time).
    pub rate: f64,
    /// A reply later than this counts as failed (lin-kv: `info`).
    pub deadline: Duration,
    /// lin-kv: how many registers.
    pub keys: u64,
}

impl Config {
    /// The protocol's name of `node`: `n1`.. for servers, `c1`.. for clients.
    pub fn name(&self, node: NodeId) -> Option<String> {
        if let Some(i) = self.servers.iter().position(|n| *n == node) {
            return Some(format!("n{}", i + 1));
        }
        self.clients.iter().position(|n| *n == node).map(|i| format!("c{}", i + 1))
    }

    /// The node the protocol names `name`.
    pub fn node(&self, name: &str) -> Option<NodeId> {
        let (list, index) = match name.split_at_checked(1)? {
            ("n", i) => (&self.servers, i),
            ("c", i) => (&self.clients, i),
            _ => return None,
        };
        let i: usize = index.parse().ok()?;
        list.get(i.checked_sub(1)?).copied()
    }
}

/// A message between nodes: the Maelstrom body, as JSON text. The sender
/// and the addressee are the transport's; the receiving agent names them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Msg {
    pub body: String,
}

impl Msg {
    fn json(body: &serde_json::Value) -> Msg {
        Msg { body: body.to_string() }
    }
}

/// Replace the value a body carries (`echo`, `value`, `id`) with `v`.
fn tamper(msg: &mut Msg, v: u64) -> bool {
    let Ok(mut body) = serde_json::from_str::<serde_json::Value>(&msg.body) else { return false };
    let Some(obj) = body.as_object_mut() else { return false };
    for field in ["echo", "value", "id"] {
        if let Some(x) = obj.get_mut(field) {
            *x = serde_json::Value::from(v >> 12);
            *msg = Msg::json(&body);
            return true;
        }
    }
    false
}

impl Message for Msg {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        tamper(self, rng.next_u64())
    }

    fn collude(&mut self, key: u64) -> bool {
        tamper(self, key)
    }
}

/// What an external node saw go wrong, for the recorder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ExtEvent {
    /// The program wrote a line that is not a Maelstrom message.
    InvalidLine { line: String },
    /// The program addressed a node that does not exist.
    UnknownNode { line: String },
    /// The program could not be started, or exited.
    Exited { status: String },
    /// unique-ids: an id handed out twice.
    Duplicate { id: String },
    /// broadcast, g-set: the add of `value` was acknowledged.
    Acked { value: u64 },
    /// broadcast, g-set: every node's read holds `value`, `latency` after it was sent.
    Stable { value: u64, latency: Duration },
    /// g-counter: server number `node` (0 for n1) read `value`, when the
    /// deltas sent so far summed to `sent_sum`.
    CounterRead { node: u16, value: u64, sent_sum: u64 },
}

impl KvWire for Msg {
    fn request(id: u64, op: KvOp) -> Msg {
        use crate::history::Function;
        let body = match op.f {
            Function::Read => serde_json::json!({"type": "read", "msg_id": id, "key": op.key}),
            Function::Write => {
                serde_json::json!({"type": "write", "msg_id": id, "key": op.key, "value": op.value})
            }
            Function::Cas => serde_json::json!({
                "type": "cas", "msg_id": id, "key": op.key, "from": op.expected, "to": op.value,
            }),
            // lin-kv has no add: Maelstrom's counters' add, with the key.
            Function::Add => {
                serde_json::json!({"type": "add", "msg_id": id, "key": op.key, "delta": op.value})
            }
        };
        Msg::json(&body)
    }
}

/// A request's verdict: its outcome, and its latency if a reply came.
type Verdict = (crate::Outcome, Option<Duration>);

/// Requests an open-loop client sent, with their verdicts once judged:
/// reported in sequence order, as the recorder folds them.
#[derive(Debug, Default)]
struct InOrder {
    pending: std::collections::BTreeMap<u64, (Time, Option<Verdict>)>,
}

impl InOrder {
    fn sent(&mut self, seq: u64, now: Time) {
        self.pending.insert(seq, (now, None));
    }

    /// When `seq` was sent, if it waits for its verdict.
    fn waiting(&self, seq: u64) -> Option<Time> {
        self.pending.get(&seq).filter(|p| p.1.is_none()).map(|p| p.0)
    }

    fn judge(&mut self, seq: u64, ok: bool, now: Time) {
        if let Some(sent) = self.waiting(seq) {
            let outcome = if ok { crate::Outcome::Ok } else { crate::Outcome::Wrong };
            self.pending.insert(seq, (sent, Some((outcome, Some(now.since(sent))))));
        }
    }

    /// Fail what is past `deadline`, report every verdict no older request
    /// still waits before, and return the requests reported ok.
    fn report(&mut self, now: Time, deadline: Duration, out: &mut Effects<Msg>) -> Vec<u64> {
        for (sent, verdict) in self.pending.values_mut() {
            if now < *sent + deadline {
                break;
            }
            verdict.get_or_insert((crate::Outcome::Failed, None));
        }
        let mut ok = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            let &(sent, Some((outcome, latency))) = entry.get() else { break };
            let seq = *entry.key();
            entry.remove();
            if outcome == crate::Outcome::Ok {
                ok.push(seq);
            }
            out.emit(crate::Observation::Request { seq, sent, outcome, latency });
        }
        ok
    }
}

/// An external node: a hosted program, or one of faultlab's clients.
#[derive(Debug)]
pub enum ExternalNode {
    Server(Box<Server>),
    Client(Box<Client>),
    Converge(Box<Converge>),
    Kv(Box<KvClient>),
}

/// The one timer a lin-kv client node sets.
const KV_TIMER: TimerId = crate::kv::CLIENT_TIMER;

impl Node for ExternalNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        match self {
            ExternalNode::Server(s) => s.on_start(now, out),
            ExternalNode::Client(c) => c.on_start(now, out),
            ExternalNode::Converge(c) => c.on_start(now, out),
            ExternalNode::Kv(c) => c.on_start(now, out),
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match self {
            ExternalNode::Server(s) => s.on_message(from, msg, out),
            ExternalNode::Client(c) => c.on_message(now, msg, out),
            ExternalNode::Converge(c) => c.on_message(now, msg, out),
            ExternalNode::Kv(c) => match kv_reply(&msg.body) {
                Some((id, KvReply::Done(value))) => c.on_reply(now, id, true, value, out),
                Some((id, KvReply::Refused)) => c.on_reply(now, id, false, None, out),
                // A read of a register nobody wrote: it holds nothing.
                Some((id, KvReply::Missing)) => {
                    let read = c.pending_function(id) == Some(crate::history::Function::Read);
                    c.on_reply(now, id, read, None, out)
                }
                None => {}
            },
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match self {
            ExternalNode::Server(s) => s.on_timer(timer, out),
            ExternalNode::Client(c) => c.on_timer(now, timer, out),
            ExternalNode::Converge(c) => c.on_timer(now, timer, out),
            ExternalNode::Kv(c) if timer == KV_TIMER => c.on_timer(now, timer, out),
            ExternalNode::Kv(_) => {}
        }
    }
}

/// How a lin-kv operation ended, as its reply says.
#[derive(Debug, PartialEq)]
enum KvReply {
    /// It took effect; a read's value.
    Done(Option<i64>),
    /// Maelstrom's error 20, key does not exist: a read of a register nobody
    /// wrote (it holds nothing), or a cas refused.
    Missing,
    /// Error 22 (precondition failed) or 11 (temporarily unavailable): it
    /// certainly did not take effect.
    Refused,
}

/// A lin-kv reply, with the operation it answers. Any other error leaves
/// the outcome unknown: the operation is left to time out (`info`).
fn kv_reply(body: &str) -> Option<(u64, KvReply)> {
    let body: serde_json::Value = serde_json::from_str(body).ok()?;
    let id = body.get("in_reply_to")?.as_u64()?;
    let reply = match body.get("type")?.as_str()? {
        "read_ok" => KvReply::Done(body.get("value").and_then(serde_json::Value::as_i64)),
        "write_ok" | "cas_ok" => KvReply::Done(None),
        "error" => match body.get("code")?.as_u64()? {
            20 => KvReply::Missing,
            22 | 11 => KvReply::Refused,
            _ => return None,
        },
        _ => return None,
    };
    Some((id, reply))
}

crate::any::workload! {
    /// The workload as the registry sees it.
    External: Config => ExternalNode, |me, config, _start| {
        if config.servers.contains(&me) {
            return ExternalNode::Server(Box::new(Server::new(me, config)));
        }
        match config.workload {
            ExtWorkload::LinKv => {
                let k = config.clients.iter().position(|c| *c == me).unwrap_or(0);
                let first = config.servers.get(k % config.servers.len().max(1)).copied().unwrap_or(NodeId(0));
                let cc = ClientConfig {
                    first,
                    keys: config.keys.max(1),
                    rate: config.rate,
                    deadline: config.deadline,
                    retry: config.deadline,
                };
                ExternalNode::Kv(Box::new(KvClient::new(me, &cc)))
            }
            ExtWorkload::Broadcast | ExtWorkload::GSet | ExtWorkload::GCounter => {
                ExternalNode::Converge(Box::new(Converge::new(config)))
            }
            ExtWorkload::Echo | ExtWorkload::UniqueIds => ExternalNode::Client(Box::new(Client::new(config))),
        }
    }
}
