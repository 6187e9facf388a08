//! Client histories and their linearizability.
//!
//! Clients of a replicated service record what they asked and what they saw,
//! Jepsen-style, one [`Event`] per line of `<out>/history.jsonl`. [`pair`]
//! turns the events into [`Operation`]s, and [`check`] decides whether some
//! single correct register per key could have produced them: each key is
//! checked on its own (linearizability is compositional), by the search in
//! [`search`]. A non-linearizable history comes back with a minimal witness
//! from one key, small enough to draw as a timeline.

pub mod event;
pub mod operation;
pub mod register;
pub mod search;
pub mod shrink;
pub mod simulate;

#[cfg(test)]
mod tests;

pub use event::{Event, EventType, Function, Key, Process, Step, Value};
pub use operation::{pair, Completion, HistoryError, Operation};
pub use search::{check_key, Budget, Verdict};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The checker's report (`linearizability` in report.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Linearizability {
    /// Operations in the history, of every outcome.
    pub ops: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Whether the history is linearizable; `None` when the search ran out of
    /// budget on some key before any key was found non-linearizable.
    pub ok: Option<bool>,
    /// When `ok` is false: a minimal non-linearizable sub-history of one key.
    pub anomaly: Option<Anomaly>,
}

/// A small non-linearizable sub-history of one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// The key.
    pub key: Key,
    /// Its operations, by invocation time.
    pub ops: Vec<Operation>,
}

/// Checks a whole history, key by key, within `budget` per key. Stops at the
/// first non-linearizable key (in key order) and shrinks it to the anomaly.
pub fn check(ops: &[Operation], budget: Budget) -> Linearizability {
    let mut by_key: BTreeMap<Key, Vec<Operation>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.key).or_default().push(*op);
    }
    let mut ok = Some(true);
    let mut anomaly = None;
    for (&key, key_ops) in &by_key {
        match check_key(key_ops, budget) {
            Verdict::Linearizable => {}
            Verdict::Unknown => ok = None,
            Verdict::NotLinearizable => {
                ok = Some(false);
                anomaly = Some(Anomaly { key, ops: shrink::shrink(key_ops, budget) });
                break;
            }
        }
    }
    Linearizability { ops: ops.len(), keys: by_key.len(), ok, anomaly }
}

/// Pairs `events` into operations and checks them.
pub fn check_events(events: &[Event], budget: Budget) -> Result<Linearizability, HistoryError> {
    Ok(check(&pair(events)?, budget))
}
