//! Echo: the smallest request/reply service. A client sends numbered
//! requests at a fixed rate to one server, which sends each back. The
//! client knows what every reply must carry (a function of its number), so
//! a corrupted reply is caught as wrong, a missing or late one counts as
//! failed. It exercises the whole path (transport, interposer, recorder)
//! with nothing else in the way, and shows how small a workload can be.

use crate::{Effects, Message, Node, NodeId, Observation, Outcome, Time, TimerId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

crate::any::workload! {
    /// The echo workload, as the registry names it.
    Echo: Config => EchoNode, |me, config, _start| {
        if me == config.server {
            EchoNode::Server
        } else {
            EchoNode::Client(Client::new(config))
        }
    }
}

/// Everything an echo node needs, sent by the orchestrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub server: NodeId,
    /// Requests per second from the client.
    pub rate: f64,
    /// A reply later than this after its request counts as failed.
    pub deadline: Duration,
}

/// An echo message: the body a reply must carry is `body_of(seq)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    Request { seq: u64, body: u64 },
    Reply { seq: u64, body: u64 },
}

/// The body of request `seq` (and of its reply).
fn body_of(seq: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66
}

impl Message for Msg {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        match self {
            Msg::Reply { body, .. } => {
                *body ^= rng.next_u64() | 1;
                true
            }
            Msg::Request { .. } => false,
        }
    }

    fn collude(&mut self, key: u64) -> bool {
        match self {
            Msg::Reply { body, .. } => {
                *body ^= key | 1;
                true
            }
            Msg::Request { .. } => false,
        }
    }
}

/// Timer of the client's next send.
const SEND: TimerId = TimerId(1);
/// Timer of the client's check for requests past their deadline.
const EXPIRE: TimerId = TimerId(2);

/// An echo node.
#[derive(Debug)]
pub enum EchoNode {
    Client(Client),
    Server,
}

/// The client: open-loop sends, and the judge of every reply.
#[derive(Debug)]
pub struct Client {
    server: NodeId,
    period: Duration,
    deadline: Duration,
    next_seq: u64,
    /// Requests not yet decided, by number: when each was sent.
    outstanding: BTreeMap<u64, Time>,
}

impl Client {
    fn new(config: &Config) -> Client {
        let rate = if config.rate > 0.0 { config.rate } else { 1.0 };
        Client {
            server: config.server,
            period: Duration::from_secs_f64(1.0 / rate),
            deadline: config.deadline,
            next_seq: 0,
            outstanding: BTreeMap::new(),
        }
    }

    fn send(&mut self, now: Time, out: &mut Effects<Msg>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outstanding.insert(seq, now);
        out.send(self.server, Msg::Request { seq, body: body_of(seq) });
        out.set_timer(self.period, SEND);
    }

    /// Requests past their deadline failed.
    fn expire(&mut self, now: Time, out: &mut Effects<Msg>) {
        while let Some((&seq, &sent)) = self.outstanding.first_key_value() {
            if now.since(sent) < self.deadline {
                break;
            }
            self.outstanding.remove(&seq);
            out.emit(Observation::Request { seq, sent, outcome: Outcome::Failed, latency: None });
        }
        out.set_timer(self.deadline / 4, EXPIRE);
    }

    fn reply(&mut self, now: Time, seq: u64, body: u64, out: &mut Effects<Msg>) {
        // A reply to a request already decided (late, or a duplicate) changes nothing.
        let Some(sent) = self.outstanding.remove(&seq) else { return };
        let latency = now.since(sent);
        let outcome = if latency > self.deadline {
            Outcome::Failed
        } else if body == body_of(seq) {
            Outcome::Ok
        } else {
            Outcome::Wrong
        };
        out.emit(Observation::Request { seq, sent, outcome, latency: Some(latency) });
    }
}

impl Node for EchoNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        if let EchoNode::Client(c) = self {
            c.send(now, out);
            out.set_timer(c.deadline / 4, EXPIRE);
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match (self, msg) {
            (EchoNode::Server, Msg::Request { seq, body }) => out.send(from, Msg::Reply { seq, body }),
            (EchoNode::Client(c), Msg::Reply { seq, body }) => c.reply(now, seq, body, out),
            _ => {}
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        if let EchoNode::Client(c) = self {
            match timer {
                SEND => c.send(now, out),
                EXPIRE => c.expire(now, out),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::any::{Start, Workload};

    fn config() -> Config {
        Config { server: NodeId(0), rate: 100.0, deadline: Duration::from_millis(40) }
    }

    fn outcomes(out: &Effects<Msg>) -> Vec<(u64, Outcome)> {
        out.observations
            .iter()
            .filter_map(|o| match o {
                Observation::Request { seq, outcome, .. } => Some((*seq, *outcome)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn replies_are_judged_ok_wrong_or_failed() {
        let start = Start::default();
        let mut client = Echo::node(NodeId(1), &config(), &start);
        let mut server = Echo::node(NodeId(0), &config(), &start);
        let t0 = Time::ZERO;
        let mut out = Effects::new();
        client.on_start(t0, &mut out);
        let (to, request) = out.sends.remove(0);
        assert_eq!(to, NodeId(0));
        // The server echoes it back, and the reply is right.
        let mut echoed = Effects::new();
        server.on_message(t0, NodeId(1), request, &mut echoed);
        let (_, reply) = echoed.sends.remove(0);
        let mut wrong = reply.clone();
        assert!(wrong.corrupt(&mut rand::rngs::mock::StepRng::new(7, 1)));
        let mut out = Effects::new();
        client.on_message(t0 + Duration::from_millis(5), NodeId(0), reply.clone(), &mut out);
        assert_eq!(outcomes(&out), vec![(0, Outcome::Ok)]);
        // A second request gets a corrupted reply: wrong.
        let mut out = Effects::new();
        client.on_timer(t0 + Duration::from_millis(10), SEND, &mut out);
        let Msg::Reply { body, .. } = wrong else { panic!("a reply") };
        assert_ne!(body, body_of(0), "corruption changed the body");
        let wrong = Msg::Reply { seq: 1, body: body ^ body_of(0) ^ body_of(1) };
        client.on_message(t0 + Duration::from_millis(12), NodeId(0), wrong, &mut out);
        assert_eq!(outcomes(&out), vec![(1, Outcome::Wrong)]);
        // A third is never answered: failed once its deadline passes, not before.
        let mut out = Effects::new();
        client.on_timer(t0 + Duration::from_millis(20), SEND, &mut out);
        client.on_timer(t0 + Duration::from_millis(50), EXPIRE, &mut out);
        assert!(outcomes(&out).is_empty(), "not yet past 40 ms");
        client.on_timer(t0 + Duration::from_millis(61), EXPIRE, &mut out);
        assert_eq!(outcomes(&out), vec![(2, Outcome::Failed)]);
        // Its late reply changes nothing.
        let mut out = Effects::new();
        client.on_message(
            t0 + Duration::from_millis(70),
            NodeId(0),
            Msg::Reply { seq: 2, body: body_of(2) },
            &mut out,
        );
        assert!(outcomes(&out).is_empty());
    }
}
