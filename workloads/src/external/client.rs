//! faultlab's open-loop client for echo and unique-ids: numbered requests at
//! a fixed rate, round-robin over the servers, each judged by its reply.

use super::{Config, ExtEvent, ExtWorkload, InOrder, Msg};
use crate::{Effects, NodeId, Observation, Time, TimerId};
use std::collections::HashSet;
use std::time::Duration;

const SEND: TimerId = TimerId(1);
const EXPIRE: TimerId = TimerId(2);

/// The client: what it sent and has not judged, and (unique-ids) every id seen.
#[derive(Debug)]
pub struct Client {
    servers: Vec<NodeId>,
    workload: ExtWorkload,
    period: Duration,
    deadline: Duration,
    next: u64,
    /// Sent and not yet reported.
    pending: InOrder,
    ids: HashSet<String>,
}

/// What request `seq`'s echo must carry back.
fn echo_of(seq: u64) -> String {
    format!("faultlab {seq:x}")
}

impl Client {
    /// The client of `config`.
    pub fn new(config: &Config) -> Client {
        let rate = if config.rate.is_finite() && config.rate > 0.0 { config.rate } else { 1.0 };
        Client {
            servers: config.servers.clone(),
            workload: config.workload,
            period: Duration::from_secs_f64(1.0 / rate),
            deadline: config.deadline,
            next: 1,
            pending: InOrder::default(),
            ids: HashSet::new(),
        }
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.send(now, out);
        out.set_timer(self.deadline, EXPIRE);
    }

    fn send(&mut self, now: Time, out: &mut Effects<Msg>) {
        let seq = self.next;
        self.next += 1;
        let body = match self.workload {
            ExtWorkload::Echo => serde_json::json!({"type": "echo", "msg_id": seq, "echo": echo_of(seq)}),
            _ => serde_json::json!({"type": "generate", "msg_id": seq}),
        };
        if let Some(&to) = self.servers.get(seq as usize % self.servers.len().max(1)) {
            out.send(to, Msg::json(&body));
        }
        self.pending.sent(seq, now);
        out.set_timer(self.period, SEND);
    }

    fn expire(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.pending.report(now, self.deadline, out);
    }

    pub(super) fn on_message(&mut self, now: Time, msg: Msg, out: &mut Effects<Msg>) {
        self.expire(now, out);
        let Ok(body) = serde_json::from_str::<serde_json::Value>(&msg.body) else { return };
        let Some(seq) = body.get("in_reply_to").and_then(serde_json::Value::as_u64) else { return };
        if self.pending.waiting(seq).is_none() {
            return;
        }
        let kind = body.get("type").and_then(serde_json::Value::as_str);
        let correct = match (self.workload, kind) {
            (ExtWorkload::Echo, Some("echo_ok")) => {
                body.get("echo").and_then(serde_json::Value::as_str) == Some(echo_of(seq).as_str())
            }
            (ExtWorkload::UniqueIds, Some("generate_ok")) => match body.get("id") {
                Some(id) => {
                    let id = id.to_string();
                    let fresh = self.ids.insert(id.clone());
                    if !fresh {
                        out.emit(Observation::External(ExtEvent::Duplicate { id }));
                    }
                    fresh
                }
                None => false,
            },
            _ => false,
        };
        self.pending.judge(seq, correct, now);
        self.expire(now, out);
    }

    pub(super) fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match timer {
            SEND => self.send(now, out),
            EXPIRE => {
                self.expire(now, out);
                out.set_timer(Duration::from_millis(1), EXPIRE);
            }
            _ => {}
        }
    }
}
