//! faultlab's client for Maelstrom's broadcast, g-set and g-counter:
//! values added open-loop at the experiment's rate (each add a request,
//! judged by its acknowledgment), and every node read every [`READ_EVERY`].
//! A value is stable once a read of every node taken after it was sent
//! holds it: the stable latency is from its send to that read's reply. An
//! acknowledged value that never becomes stable is lost. A counter's read
//! is reported with the sum of the deltas sent before it, its upper bound.

use super::{Config, ExtEvent, ExtWorkload, InOrder, Msg};
use crate::{Effects, NodeId, Observation, Time, TimerId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const ADD: TimerId = TimerId(1);
const EXPIRE: TimerId = TimerId(2);
const READ: TimerId = TimerId(3);
/// How often every node is read.
pub const READ_EVERY: Duration = Duration::from_millis(100);
/// Reads are numbered from here, apart from the adds.
const READ_IDS: u64 = 1 << 40;

/// A value's way to stability: when it was sent, and which nodes have shown it.
#[derive(Debug)]
struct Spreading {
    sent: Time,
    seen: BTreeSet<usize>,
}

/// The broadcast / g-set client.
#[derive(Debug)]
pub struct Converge {
    servers: Vec<NodeId>,
    names: Vec<String>,
    workload: ExtWorkload,
    period: Duration,
    deadline: Duration,
    next: u64,
    /// Adds sent and not yet reported.
    pending: InOrder,
    /// Values not yet stable.
    spreading: BTreeMap<u64, Spreading>,
    /// Reads in flight: id → (node index, sent).
    reads: BTreeMap<u64, (usize, Time)>,
    next_read: u64,
    /// g-counter: the deltas sent so far.
    sent_sum: u64,
}

/// g-counter: what add `seq` adds (1 to 3).
pub fn delta_of(seq: u64) -> u64 {
    1 + seq % 3
}

impl Converge {
    /// The client of `config`.
    pub fn new(config: &Config) -> Converge {
        let rate = if config.rate.is_finite() && config.rate > 0.0 { config.rate } else { 1.0 };
        Converge {
            servers: config.servers.clone(),
            names: config.servers.iter().filter_map(|n| config.name(*n)).collect(),
            workload: config.workload,
            period: Duration::from_secs_f64(1.0 / rate),
            deadline: config.deadline,
            next: 1,
            pending: InOrder::default(),
            spreading: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_read: READ_IDS,
            sent_sum: 0,
        }
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.workload == ExtWorkload::GCounter {
            // A counter has no values to spread: only its reads are judged.
            self.spreading.clear();
        }
        if self.workload == ExtWorkload::Broadcast {
            // Every node's neighbours: all the others.
            let topology: serde_json::Map<String, serde_json::Value> = self
                .names
                .iter()
                .map(|n| {
                    let others: Vec<&String> = self.names.iter().filter(|o| *o != n).collect();
                    (n.clone(), serde_json::json!(others))
                })
                .collect();
            for (i, &s) in self.servers.iter().enumerate() {
                let body = serde_json::json!({"type": "topology", "msg_id": READ_IDS - 1 - i as u64, "topology": topology});
                out.send(s, Msg::json(&body));
            }
        }
        self.add(now, out);
        out.set_timer(READ_EVERY, READ);
        out.set_timer(self.deadline, EXPIRE);
    }

    fn add(&mut self, now: Time, out: &mut Effects<Msg>) {
        let seq = self.next;
        self.next += 1;
        let body = match self.workload {
            ExtWorkload::Broadcast => serde_json::json!({"type": "broadcast", "msg_id": seq, "message": seq}),
            ExtWorkload::GCounter => {
                self.sent_sum += delta_of(seq);
                serde_json::json!({"type": "add", "msg_id": seq, "delta": delta_of(seq)})
            }
            _ => serde_json::json!({"type": "add", "msg_id": seq, "element": seq}),
        };
        if let Some(&to) = self.servers.get(seq as usize % self.servers.len().max(1)) {
            out.send(to, Msg::json(&body));
        }
        self.pending.sent(seq, now);
        if self.workload != ExtWorkload::GCounter {
            self.spreading.insert(seq, Spreading { sent: now, seen: BTreeSet::new() });
        }
        out.set_timer(self.period, ADD);
    }

    fn read_all(&mut self, now: Time, out: &mut Effects<Msg>) {
        for (i, &s) in self.servers.iter().enumerate() {
            let id = self.next_read;
            self.next_read += 1;
            out.send(s, Msg::json(&serde_json::json!({"type": "read", "msg_id": id})));
            self.reads.insert(id, (i, now));
        }
        // A read unanswered for long is forgotten.
        let horizon = self.deadline.max(READ_EVERY * 10);
        self.reads.retain(|_, (_, sent)| now < *sent + horizon);
        out.set_timer(READ_EVERY, READ);
    }

    /// Report the verdicts due; an acknowledged add is announced.
    fn expire(&mut self, now: Time, out: &mut Effects<Msg>) {
        for value in self.pending.report(now, self.deadline, out) {
            out.emit(Observation::External(ExtEvent::Acked { value }));
        }
    }

    pub(super) fn on_message(&mut self, now: Time, msg: Msg, out: &mut Effects<Msg>) {
        self.expire(now, out);
        let Ok(body) = serde_json::from_str::<serde_json::Value>(&msg.body) else { return };
        let Some(id) = body.get("in_reply_to").and_then(serde_json::Value::as_u64) else { return };
        let kind = body.get("type").and_then(serde_json::Value::as_str);
        if let Some((node, sent)) = self.reads.remove(&id) {
            if self.workload == ExtWorkload::GCounter {
                if let Some(value) = body.get("value").and_then(serde_json::Value::as_u64) {
                    let read = ExtEvent::CounterRead { node: node as u16, value, sent_sum: self.sent_sum };
                    out.emit(Observation::External(read));
                }
                return;
            }
            let field = if self.workload == ExtWorkload::Broadcast { "messages" } else { "value" };
            let Some(values) = body.get(field).and_then(serde_json::Value::as_array) else { return };
            let have: BTreeSet<u64> = values.iter().filter_map(serde_json::Value::as_u64).collect();
            let all = self.servers.len();
            let mut stable = Vec::new();
            for (v, s) in self.spreading.iter_mut().filter(|(_, s)| s.sent <= sent) {
                if have.contains(v) {
                    s.seen.insert(node);
                    if s.seen.len() == all {
                        stable.push((*v, now.since(s.sent)));
                    }
                }
            }
            for (value, latency) in stable {
                self.spreading.remove(&value);
                out.emit(Observation::External(ExtEvent::Stable { value, latency }));
            }
            return;
        }
        self.pending.judge(id, matches!(kind, Some("broadcast_ok" | "add_ok")), now);
        self.expire(now, out);
    }

    pub(super) fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match timer {
            ADD => self.add(now, out),
            READ => self.read_all(now, out),
            EXPIRE => {
                self.expire(now, out);
                out.set_timer(Duration::from_millis(1), EXPIRE);
            }
            _ => {}
        }
    }
}
