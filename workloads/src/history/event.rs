//! One line of `<out>/history.jsonl`: an invocation or a completion, as Jepsen records them.

use crate::Time;
use serde::{Deserialize, Serialize};

/// A client process. A process runs one operation at a time.
pub type Process = u64;

/// The key an operation addresses; histories of one register may leave it out (key 0).
pub type Key = u64;

/// Whether an event starts an operation or says how it ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The client sent the request.
    Invoke,
    /// The operation took effect, and `value` is its result.
    Ok,
    /// The operation certainly did not take effect.
    Fail,
    /// Outcome unknown (a timeout, a lost reply): it may have taken effect at
    /// any time after its invocation, or never.
    Info,
}

/// The operation a client asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// Read the register.
    Read,
    /// Write `value` into the register.
    Write,
    /// Compare-and-set: if the register holds `value[0]`, write `value[1]`.
    Cas,
    /// Add `value[0]` to the register (an empty one counts as 0); `value[1]`
    /// is the sum it left, as the `ok` completion reports it (null until then).
    Add,
}

/// An event's value: an integer or null for reads and writes, `[expected, new]`
/// for cas, `[delta, result]` for add.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A cas's `[expected, new]`, an add's `[delta, result]`.
    Pair([Option<i64>; 2]),
    /// A read's result or a write's argument; null when absent or unwritten.
    Single(Option<i64>),
}

impl Default for Value {
    fn default() -> Value {
        Value::Single(None)
    }
}

impl Value {
    /// The single value, or `None` for null and for pairs.
    pub fn single(self) -> Option<i64> {
        match self {
            Value::Single(v) => v,
            Value::Pair(_) => None,
        }
    }

    /// The cas or add pair, if this is one.
    pub fn pair(self) -> Option<[Option<i64>; 2]> {
        match self {
            Value::Pair(p) => Some(p),
            Value::Single(_) => None,
        }
    }
}

/// One line of a client history.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Event {
    /// The client process that issued the operation.
    pub process: Process,
    /// Invocation, or which kind of completion.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The operation.
    pub f: Function,
    /// The register it addresses.
    #[serde(default)]
    pub key: Key,
    /// The argument (invocations, writes, cas) or the result (a read's or an add's `ok`).
    #[serde(default)]
    pub value: Value,
    /// When the client saw the event.
    pub t: Time,
}

impl Event {
    /// An invocation.
    pub fn invoke(process: Process, f: Function, key: Key, value: Value, t: Time) -> Event {
        Event { process, kind: EventType::Invoke, f, key, value, t }
    }

    /// The completion of an invocation: same process, function and key.
    pub fn complete(invocation: &Event, kind: EventType, value: Value, t: Time) -> Event {
        Event { kind, value, t, ..*invocation }
    }
}

/// An event as a client reports it, before it is stamped with a time: every
/// field has a fixed shape (no untagged value), so it travels in any serde
/// format, the agents' binary one included.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Step {
    /// The client process.
    pub process: Process,
    /// Invocation, or which kind of completion.
    pub kind: EventType,
    /// The operation.
    pub f: Function,
    /// The register it addresses.
    pub key: Key,
    /// A read's result, a write's argument, a pair's second element (a cas's
    /// new value, an add's result).
    pub value: Option<i64>,
    /// A pair's first element: a cas's expected value, an add's delta
    /// (unused by reads and writes).
    pub expected: Option<i64>,
}

impl Step {
    /// A step whose value is `value` as an [`Event`] holds it.
    pub fn new(process: Process, kind: EventType, f: Function, key: Key, value: Value) -> Step {
        let (expected, value) = match value {
            Value::Pair([expected, new]) => (expected, new),
            Value::Single(v) => (None, v),
        };
        Step { process, kind, f, key, value, expected }
    }

    /// The event, seen at `t`.
    pub fn at(&self, t: Time) -> Event {
        let value = match self.f {
            Function::Cas | Function::Add => Value::Pair([self.expected, self.value]),
            Function::Read | Function::Write => Value::Single(self.value),
        };
        Event { process: self.process, kind: self.kind, f: self.f, key: self.key, value, t }
    }
}
