//! A replicated key-value service's registers and its clients, shared by
//! the services that offer one (primary/backup's key-value mode,
//! Multi-Paxos): replicas hold registers, and each client process reads,
//! writes and compare-and-sets them one operation at a time, recording
//! every invocation and completion for the linearizability check.
//!
//! A reply within the deadline ends an operation `ok` (or `fail` for a cas
//! the replica refused: the register held another value); no reply by the
//! deadline ends it `info` (it may have taken effect or not), and the client
//! goes on as a new process, as Jepsen's do.
//!
//! A service carries the client's requests in its own message type
//! ([`KvWire`]) and hands the client the replies and leader hints it gets.

use crate::history::{EventType, Function, Step, Value};
use crate::seed::splitmix64;
use crate::{Effects, NodeId, Observation, Time, TimerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A client's process number grows by this much each time an operation of
/// its times out: process = node id + GENERATION × timeouts so far.
pub const GENERATION: u64 = 1 << 16;

/// One register operation as a client sends it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KvOp {
    pub f: Function,
    pub key: u64,
    /// A write's value, a cas's new value, an add's delta.
    pub value: Option<i64>,
    /// A cas's expected value.
    pub expected: Option<i64>,
}

/// How a service's messages carry a client's request.
pub trait KvWire {
    /// The request for the client's operation `id`.
    fn request(id: u64, op: KvOp) -> Self;
}

/// The client's periodic tick (retries, deadlines, invocations due).
const TICK: Duration = Duration::from_millis(1);
/// The one timer a client sets.
pub const CLIENT_TIMER: TimerId = TimerId(1);

/// What a client needs to know about its service.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    /// The replica to send to first.
    pub first: NodeId,
    /// How many registers (keys 0 .. keys).
    pub keys: u64,
    /// Operations per second while replies come back in time.
    pub rate: f64,
    /// An operation unanswered this long ends `info`.
    pub deadline: Duration,
    /// How long the client waits for a reply before sending the request again.
    pub retry: Duration,
}

/// The registers every replica holds, and each client's last operation with
/// its result, so that a retried operation is applied once and a stale copy
/// of one the client has given up on is not applied after a newer one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStore {
    registers: BTreeMap<u64, i64>,
    /// By client node: (operation id, succeeded, value).
    last: BTreeMap<u16, (u64, bool, Option<i64>)>,
}

impl KvStore {
    /// Apply `client`'s operation `id` (once); whether it took effect, and a
    /// read's value (an add's: the sum it made).
    pub fn apply(&mut self, client: NodeId, id: u64, op: KvOp) -> (bool, Option<i64>) {
        if let Some(&(done, ok, value)) = self.last.get(&client.0) {
            if done == id {
                return (ok, value);
            }
            if id < done {
                // The client ended this one (info) and moved on: applying it
                // now would be a second, later effect of an older operation.
                return (false, None);
            }
        }
        let current = self.registers.get(&op.key).copied();
        let result = match op.f {
            Function::Read => (true, current),
            Function::Write => {
                if let Some(v) = op.value {
                    self.registers.insert(op.key, v);
                }
                (true, op.value)
            }
            Function::Cas if current == op.expected => {
                if let Some(v) = op.value {
                    self.registers.insert(op.key, v);
                }
                (true, op.value)
            }
            Function::Cas => (false, current),
            Function::Add => {
                let sum = current.unwrap_or(0).wrapping_add(op.value.unwrap_or(0));
                self.registers.insert(op.key, sum);
                (true, Some(sum))
            }
        };
        self.last.insert(client.0, (id, result.0, result.1));
        result
    }

    /// The result of `client`'s operation `id` if it is the last one applied.
    pub fn answered(&self, client: NodeId, id: u64) -> Option<(bool, Option<i64>)> {
        self.last.get(&client.0).filter(|l| l.0 == id).map(|&(_, ok, value)| (ok, value))
    }

    /// The value of register `key` (None: never written).
    pub fn get(&self, key: u64) -> Option<i64> {
        self.registers.get(&key).copied()
    }
}

#[derive(Debug)]
struct Pending {
    id: u64,
    op: KvOp,
    invocation: Step,
    sent: Time,
    tried: Time,
}

/// A key-value client process.
#[derive(Debug)]
pub struct KvClient {
    me: NodeId,
    primary: NodeId,
    view: u64,
    keys: u64,
    /// Time between invocations while replies come back in time.
    period: Duration,
    deadline: Duration,
    retry: Duration,
    timeouts: u64,
    next_id: u64,
    next_at: Time,
    pending: Option<Pending>,
    /// The value this client last saw in each register, for its cas.
    seen: BTreeMap<u64, Option<i64>>,
}

impl KvClient {
    /// Client `me` of `config`; it starts with `config.first`.
    pub fn new(me: NodeId, config: &ClientConfig) -> KvClient {
        let rate = if config.rate.is_finite() && config.rate > 0.0 { config.rate } else { 1.0 };
        KvClient {
            me,
            primary: config.first,
            view: 0,
            keys: config.keys.max(1),
            period: Duration::from_secs_f64(1.0 / rate),
            deadline: config.deadline,
            retry: config.retry.max(Duration::from_millis(1)),
            timeouts: 0,
            next_id: 1,
            next_at: Time::ZERO,
            pending: None,
            seen: BTreeMap::new(),
        }
    }

    /// What operation `id` does, while it is pending.
    pub fn pending_function(&self, id: u64) -> Option<Function> {
        self.pending.as_ref().filter(|p| p.id == id).map(|p| p.op.f)
    }

    /// The replica the client sends to now.
    pub fn primary(&self) -> NodeId {
        self.primary
    }

    fn process(&self) -> u64 {
        u64::from(self.me.0) + GENERATION * self.timeouts
    }

    /// Start invoking. A restarted client numbers its operations from its
    /// clock, above any number it used before, so that the replicas' record
    /// of its last operation never mistakes a new one for an old one.
    /// Its process numbers go up the same way: no operation of the new
    /// incarnation shares a process with one the crash left open (a client
    /// times out at most once a millisecond, so it has used fewer
    /// generations than milliseconds have passed).
    pub fn on_start<M: KvWire>(&mut self, now: Time, out: &mut Effects<M>) {
        self.next_id = self.next_id.max(now.as_nanos() / 1_000);
        if now > Time::ZERO {
            self.timeouts = self.timeouts.max(now.as_nanos() / 1_000_000 + 1);
        }
        self.next_at = now;
        self.invoke_due(now, out);
        out.set_timer(TICK, CLIENT_TIMER);
    }

    /// The service's reply to operation `id`: it took effect (`ok`) or was
    /// refused; a read's value, or a refused cas's current value.
    pub fn on_reply<M: KvWire>(
        &mut self,
        now: Time,
        id: u64,
        ok: bool,
        value: Option<i64>,
        out: &mut Effects<M>,
    ) {
        self.expire(now, out);
        let Some(p) = self.pending.take_if(|p| p.id == id) else { return };
        let (kind, value) = match (ok, p.op.f) {
            (false, _) => (EventType::Fail, p.invocation.value),
            (true, Function::Read) => (EventType::Ok, value),
            (true, _) => (EventType::Ok, p.invocation.value),
        };
        if ok {
            self.seen.insert(p.op.key, if p.op.f == Function::Read { value } else { p.op.value });
        } else if p.op.f == Function::Cas {
            self.seen.insert(p.op.key, value);
        }
        out.emit(Observation::History(Step { kind, value, ..p.invocation }));
        self.invoke_due(now, out);
    }

    /// The service says `leader` serves in `view` (a redirect, or a new
    /// leader's announcement): the pending operation goes there at once.
    pub fn on_leader<M: KvWire>(&mut self, now: Time, view: u64, leader: NodeId, out: &mut Effects<M>) {
        self.expire(now, out);
        if view < self.view || (view == self.view && leader == self.primary) {
            return;
        }
        self.view = view;
        self.primary = leader;
        if let Some(p) = &mut self.pending {
            p.tried = now;
            out.send(self.primary, M::request(p.id, p.op));
        }
    }

    /// The client's tick: retries, deadlines and the next invocation.
    pub fn on_timer<M: KvWire>(&mut self, now: Time, timer: TimerId, out: &mut Effects<M>) {
        if timer != CLIENT_TIMER {
            return;
        }
        self.expire(now, out);
        if let Some(p) = &mut self.pending {
            if now >= p.tried + self.retry {
                p.tried = now;
                out.send(self.primary, M::request(p.id, p.op));
            }
        }
        self.invoke_due(now, out);
        out.set_timer(TICK, CLIENT_TIMER);
    }

    /// An operation unanswered by its deadline ends `info`; the client goes on as a new process.
    fn expire<M>(&mut self, now: Time, out: &mut Effects<M>) {
        let Some(p) = self.pending.take_if(|p| now > p.sent + self.deadline) else { return };
        out.emit(Observation::History(Step { kind: EventType::Info, ..p.invocation }));
        self.timeouts += 1;
        // Its effect is unknown: the next cas expects nothing in particular.
        self.seen.remove(&p.op.key);
    }

    fn invoke_due<M: KvWire>(&mut self, now: Time, out: &mut Effects<M>) {
        if self.pending.is_some() || now < self.next_at {
            return;
        }
        self.next_at = (self.next_at + self.period).max(now);
        let id = self.next_id;
        self.next_id += 1;
        let h = splitmix64((u64::from(self.me.0) << 40) ^ id);
        let key = h % self.keys;
        // Fresh values (distinct across clients) make a stale read easy to see.
        let fresh = i64::try_from(id).unwrap_or(i64::MAX / 128).saturating_mul(100) + i64::from(self.me.0);
        let op = match (h >> 20) % 10 {
            0..=4 => KvOp { f: Function::Read, key, value: None, expected: None },
            5..=7 => KvOp { f: Function::Write, key, value: Some(fresh), expected: None },
            _ => {
                let expected = self.seen.get(&key).copied().flatten();
                KvOp { f: Function::Cas, key, value: Some(fresh), expected }
            }
        };
        let value = match op.f {
            Function::Cas => Value::Pair([op.expected, op.value]),
            _ => Value::Single(op.value),
        };
        let invocation = Step::new(self.process(), EventType::Invoke, op.f, key, value);
        out.emit(Observation::History(invocation));
        out.send(self.primary, M::request(id, op));
        self.pending = Some(Pending { id, op, invocation, sent: now, tried: now });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(f: Function, value: Option<i64>, expected: Option<i64>) -> KvOp {
        KvOp { f, key: 1, value, expected }
    }

    /// A request as a test service carries it.
    #[derive(Debug, PartialEq)]
    struct Msg {
        id: u64,
        op: KvOp,
    }

    impl KvWire for Msg {
        fn request(id: u64, op: KvOp) -> Msg {
            Msg { id, op }
        }
    }

    fn config() -> ClientConfig {
        ClientConfig {
            first: NodeId(0),
            keys: 3,
            rate: 100.0,
            deadline: Duration::from_millis(200),
            retry: Duration::from_millis(50),
        }
    }

    fn ms(ms: u64) -> Time {
        Time::from_millis(ms)
    }

    #[test]
    fn an_unanswered_operation_ends_info_and_the_client_goes_on_as_a_new_process() {
        let mut c = KvClient::new(NodeId(2), &config());
        let mut out = Effects::new();
        c.on_start(ms(0), &mut out);
        let first = out.history();
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].process, first[0].kind), (2, EventType::Invoke));
        assert!(matches!(out.sends[..], [(NodeId(0), Msg { id: 1, .. })]));
        // Retried at the primary every 50 ms, then given up at the deadline.
        out.clear();
        c.on_timer(ms(60), CLIENT_TIMER, &mut out);
        assert!(out.sends.iter().any(|(to, m)| *to == NodeId(0) && matches!(m, Msg { id: 1, .. })));
        out.clear();
        c.on_timer(ms(201), CLIENT_TIMER, &mut out);
        let s = out.history();
        assert_eq!(s[0], Step { kind: EventType::Info, ..first[0] });
        assert_eq!((s[1].process, s[1].kind), (2 + GENERATION, EventType::Invoke));
        // A late reply to the operation given up is ignored.
        out.clear();
        c.on_reply(ms(202), 1, true, None, &mut out);
        assert!(out.history().is_empty());
    }

    #[test]
    fn a_refused_cas_fails_and_a_new_primary_gets_the_pending_operation() {
        let mut c = KvClient::new(NodeId(2), &config());
        let mut out = Effects::new();
        c.on_start(ms(0), &mut out);
        // Find an invocation that is a cas.
        let mut id = 1;
        let mut now = 0;
        while out.history().last().is_some_and(|s| s.f != Function::Cas) {
            out.clear();
            now += 10;
            c.on_reply(ms(now), id, true, Some(1), &mut out);
            id += 1;
        }
        out.clear();
        c.on_leader(ms(now), 1, NodeId(1), &mut out);
        assert!(matches!(out.sends[..], [(NodeId(1), Msg { .. })]));
        assert_eq!(c.primary(), NodeId(1));
        out.clear();
        c.on_reply(ms(now + 1), id, false, Some(5), &mut out);
        let s = out.history();
        assert_eq!((s[0].kind, s[0].f), (EventType::Fail, Function::Cas));
    }

    #[test]
    fn the_store_applies_each_operation_once_and_refuses_a_stale_cas() {
        let (a, b) = (NodeId(5), NodeId(6));
        let mut kv = KvStore::default();
        assert_eq!(kv.apply(a, 1, op(Function::Read, None, None)), (true, None));
        assert_eq!(kv.apply(a, 2, op(Function::Write, Some(7), None)), (true, Some(7)));
        assert_eq!(kv.apply(b, 1, op(Function::Cas, Some(8), Some(3))), (false, Some(7)));
        assert_eq!(kv.apply(b, 2, op(Function::Cas, Some(8), Some(7))), (true, Some(8)));
        // a's write retried: not applied again.
        assert_eq!(kv.apply(a, 2, op(Function::Write, Some(7), None)), (true, Some(7)));
        assert_eq!(kv.get(1), Some(8));
        // A late copy of a's first operation, after its second: refused.
        assert_eq!(kv.apply(a, 1, op(Function::Write, Some(9), None)), (false, None));
        assert_eq!(kv.get(1), Some(8));
        // An add makes the sum, once; an empty register counts as 0.
        assert_eq!(kv.apply(a, 3, op(Function::Add, Some(-3), None)), (true, Some(5)));
        assert_eq!(kv.apply(a, 3, op(Function::Add, Some(-3), None)), (true, Some(5)));
        let other = KvOp { key: 2, ..op(Function::Add, Some(4), None) };
        assert_eq!(kv.apply(b, 3, other), (true, Some(4)));
    }
}
