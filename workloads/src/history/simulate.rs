//! Linearizable histories on demand, from clients of one correct register per
//! key, to test and measure the checker.
//!
//! Each operation takes effect atomically at one instant between its
//! invocation and its completion, in the order of those instants, so the
//! history is linearizable by construction; how much the intervals overlap is
//! random.

use super::event::{Event, EventType, Function, Value};
use crate::Time;
use rand::Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// The shape of a generated history.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Workload {
    /// Concurrent clients, each with one operation in flight at a time.
    pub clients: usize,
    /// Keys, chosen uniformly by every operation.
    pub keys: u64,
    /// Operations invoked in all.
    pub ops: usize,
    /// Probability that an operation fails and does not take effect.
    pub fail: f64,
    /// Probability that an operation's outcome is unknown (`info`); it takes
    /// effect or not with even odds, and its client continues as a new process.
    pub info: f64,
    /// Written values are drawn from `0..values`; 0 writes a fresh value each time.
    pub values: i64,
    /// Probability that an operation is an add of a delta in `-100..=100`
    /// (which reports the sum when `ok`); the others read, write and cas.
    pub adds: f64,
    /// Longest pause of a client between operations, and longest delay from
    /// invocation to effect and from effect to completion, in nanoseconds.
    pub delay: u64,
}

impl Workload {
    /// `ops` operations by `clients` clients over `keys` keys, every one `ok`
    /// and every written value fresh.
    pub fn new(clients: usize, keys: u64, ops: usize) -> Workload {
        Workload { clients, keys, ops, fail: 0.0, info: 0.0, values: 0, adds: 0.0, delay: 1_000 }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Invoke,
    Effect,
    Complete,
}

struct Pending {
    invocation: Event,
    kind: EventType,
    value: Value,
}

/// Generates a linearizable history, events in time order.
pub fn simulate(workload: &Workload, rng: &mut impl Rng) -> Vec<Event> {
    let delay = workload.delay.max(1);
    let mut registers: HashMap<u64, Option<i64>> = HashMap::new();
    let mut fresh = 0i64;
    let mut queue: BinaryHeap<Reverse<(u64, u64, Phase, usize)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut process: Vec<u64> = (0..workload.clients as u64).collect();
    let mut pending: Vec<Option<Pending>> = (0..workload.clients).map(|_| None).collect();
    let mut invoked = 0usize;
    let mut events = Vec::with_capacity(workload.ops * 2);
    for client in 0..workload.clients {
        queue.push(Reverse((rng.gen_range(0..delay), seq, Phase::Invoke, client)));
        seq += 1;
    }
    let mut value = |rng: &mut dyn rand::RngCore| {
        if workload.values > 0 {
            rng.gen_range(0..workload.values)
        } else {
            fresh += 1;
            fresh
        }
    };
    while let Some(Reverse((now, _, phase, client))) = queue.pop() {
        let next = match phase {
            Phase::Invoke => {
                if invoked == workload.ops {
                    continue;
                }
                invoked += 1;
                let key = rng.gen_range(0..workload.keys.max(1));
                let add = rng.gen_bool(workload.adds.clamp(0.0, 1.0));
                let (f, arg) = match rng.gen_range(0..10) {
                    _ if add => (Function::Add, Value::Pair([Some(rng.gen_range(-100..=100)), None])),
                    0..=4 => (Function::Read, Value::Single(None)),
                    5..=7 => (Function::Write, Value::Single(Some(value(rng)))),
                    _ => {
                        // Half the time expect what is there, so that cas succeeds often.
                        let current = registers.get(&key).copied().flatten();
                        let expected = if rng.gen_bool(0.5) { current } else { Some(value(rng)) };
                        (Function::Cas, Value::Pair([expected, Some(value(rng))]))
                    }
                };
                let invocation = Event::invoke(process[client], f, key, arg, Time::from_nanos(now));
                events.push(invocation);
                pending[client] = Some(Pending { invocation, kind: EventType::Ok, value: arg });
                Some(Phase::Effect)
            }
            Phase::Effect => {
                let Some(op) = pending[client].as_mut() else { continue };
                let roll: f64 = rng.gen();
                let takes_effect = if roll < workload.fail {
                    op.kind = EventType::Fail;
                    false
                } else if roll < workload.fail + workload.info {
                    op.kind = EventType::Info;
                    rng.gen_bool(0.5)
                } else {
                    true
                };
                if takes_effect {
                    let register = registers.entry(op.invocation.key).or_default();
                    match (op.invocation.f, op.invocation.value) {
                        (Function::Read, _) => op.value = Value::Single(*register),
                        (Function::Write, Value::Single(v)) => *register = v,
                        (Function::Add, Value::Pair([Some(delta), _])) => {
                            let sum = register.unwrap_or(0) + delta;
                            *register = Some(sum);
                            op.value = Value::Pair([Some(delta), Some(sum)]);
                        }
                        (Function::Cas, Value::Pair([expected, new])) if *register == expected => {
                            *register = new;
                        }
                        // A cas that finds another value fails without effect.
                        _ if op.kind == EventType::Ok => op.kind = EventType::Fail,
                        _ => {}
                    }
                }
                Some(Phase::Complete)
            }
            Phase::Complete => {
                let Some(op) = pending[client].take() else { continue };
                if op.kind == EventType::Info {
                    // A client whose outcome is unknown is replaced by a new
                    // process, as in Jepsen; sometimes the old one never says.
                    if rng.gen_bool(0.5) {
                        events.push(Event::complete(
                            &op.invocation,
                            EventType::Info,
                            op.invocation.value,
                            Time::from_nanos(now),
                        ));
                    }
                    process[client] += workload.clients as u64;
                } else {
                    events.push(Event::complete(&op.invocation, op.kind, op.value, Time::from_nanos(now)));
                }
                Some(Phase::Invoke)
            }
        };
        if let Some(phase) = next {
            queue.push(Reverse((now + rng.gen_range(0..delay), seq, phase, client)));
            seq += 1;
        }
    }
    events
}
