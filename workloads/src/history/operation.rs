//! Pairing invocations with their completions into operations.

use super::event::{Event, EventType, Function, Key, Process, Value};
use crate::Time;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// How an operation ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Completion {
    /// It took effect, within its interval.
    Ok,
    /// It did not take effect.
    Fail,
    /// Unknown: it took effect at some point after its invocation, or never.
    /// Invocations still pending at the end of the history end this way.
    Info,
}

/// An invocation paired with its completion.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Operation {
    /// The client process.
    pub process: Process,
    /// The operation.
    pub f: Function,
    /// The register it addresses.
    pub key: Key,
    /// A write's or cas's argument, the value a read returned (null for a
    /// read that did not complete `ok`), an add's `[delta, result]` (result
    /// null unless it completed `ok`).
    pub value: Value,
    /// How it ended.
    #[serde(rename = "type")]
    pub completion: Completion,
    /// When it was invoked.
    pub invoke: Time,
    /// When it completed; `None` for `info`, whose effect may come at any later time.
    pub complete: Option<Time>,
}

impl Operation {
    /// The value this operation may leave in the register, if it writes one
    /// known apart from the other operations: an add's only once its `ok`
    /// reported the sum (otherwise the sum depends on what it was added to).
    pub fn written(&self) -> Option<Option<i64>> {
        match self.f {
            Function::Read => None,
            Function::Write => Some(self.value.single()),
            Function::Cas => self.value.pair().map(|[_, new]| new),
            Function::Add => self.value.pair().and_then(|[_, result]| result).map(Some),
        }
    }

    /// The register value this operation saw, if its success proves one
    /// written by a single operation: an `ok` read's result or an `ok` cas's
    /// expected value. Never an add's: the sum it added to may be the work
    /// of several adds.
    pub fn observed(&self) -> Option<Option<i64>> {
        if self.completion != Completion::Ok {
            return None;
        }
        match self.f {
            Function::Read => Some(self.value.single()),
            Function::Write | Function::Add => None,
            Function::Cas => self.value.pair().map(|[expected, _]| expected),
        }
    }
}

/// Why a sequence of events is not a well-formed history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryError {
    /// A completion (event number `index`) whose process had nothing pending.
    CompletionWithoutInvocation { index: usize, process: Process },
    /// An invocation (event number `index`) while the process still had one pending.
    InvocationWhilePending { index: usize, process: Process },
    /// A completion (event number `index`) whose function or key differs from its invocation's.
    MismatchedCompletion { index: usize, process: Process },
    /// A cas (event number `index`) whose value is not a pair, an add whose
    /// invocation has no delta or whose `ok` has no result, or a read or
    /// write whose value is a pair.
    MalformedValue { index: usize, process: Process },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::CompletionWithoutInvocation { index, process } => {
                write!(f, "event {index}: process {process} completes an operation it never invoked")
            }
            HistoryError::InvocationWhilePending { index, process } => {
                write!(f, "event {index}: process {process} invokes while its previous operation is pending")
            }
            HistoryError::MismatchedCompletion { index, process } => write!(
                f,
                "event {index}: process {process} completes a different function or key than it invoked"
            ),
            HistoryError::MalformedValue { index, process } => write!(
                f,
                "event {index}: process {process}: a cas needs [expected, new], an add [delta, result], a read or write one value"
            ),
        }
    }
}

impl std::error::Error for HistoryError {}

/// Pairs every invocation with the next completion of the same process, in the
/// order of `events`. Invocations still pending at the end complete as `info`.
pub fn pair(events: &[Event]) -> Result<Vec<Operation>, HistoryError> {
    let mut pending: HashMap<Process, usize> = HashMap::new();
    let mut ops: Vec<Option<Operation>> = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let process = event.process;
        // Only what the checker reads must be well formed: the arguments of
        // writes and cas, and the result of an ok read.
        let well_formed = match (event.f, event.kind) {
            (Function::Read, EventType::Ok) | (Function::Write, EventType::Invoke) => {
                matches!(event.value, Value::Single(_))
            }
            (Function::Cas, EventType::Invoke) => matches!(event.value, Value::Pair(_)),
            (Function::Add, EventType::Invoke) => matches!(event.value, Value::Pair([Some(_), _])),
            (Function::Add, EventType::Ok) => matches!(event.value, Value::Pair([_, Some(_)])),
            _ => true,
        };
        if !well_formed {
            return Err(HistoryError::MalformedValue { index, process });
        }
        if event.kind == EventType::Invoke {
            if pending.contains_key(&process) {
                return Err(HistoryError::InvocationWhilePending { index, process });
            }
            pending.insert(process, ops.len());
            ops.push(Some(Operation {
                process,
                f: event.f,
                key: event.key,
                // What a completion reports is not known yet.
                value: match (event.f, event.value) {
                    (Function::Read, _) => Value::default(),
                    (Function::Add, Value::Pair([delta, _])) => Value::Pair([delta, None]),
                    (_, value) => value,
                },
                completion: Completion::Info,
                invoke: event.t,
                complete: None,
            }));
            continue;
        }
        let Some(slot) = pending.remove(&process) else {
            return Err(HistoryError::CompletionWithoutInvocation { index, process });
        };
        let Some(op) = ops.get_mut(slot).and_then(Option::as_mut) else {
            return Err(HistoryError::CompletionWithoutInvocation { index, process });
        };
        if op.f != event.f || op.key != event.key {
            return Err(HistoryError::MismatchedCompletion { index, process });
        }
        match event.kind {
            EventType::Ok => {
                op.completion = Completion::Ok;
                // A completion before its invocation (clock skew between
                // threads) is read as instantaneous.
                op.complete = Some(event.t.max(op.invoke));
                match (op.f, op.value, event.value) {
                    (Function::Read, _, _) => op.value = event.value,
                    // The delta as invoked, the sum as reported.
                    (Function::Add, Value::Pair([delta, _]), Value::Pair([_, result])) => {
                        op.value = Value::Pair([delta, result]);
                    }
                    _ => {}
                }
            }
            EventType::Fail => {
                op.completion = Completion::Fail;
                op.complete = Some(event.t.max(op.invoke));
            }
            EventType::Info | EventType::Invoke => {}
        }
    }
    Ok(ops.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::Function::{Cas, Read, Write};

    fn t(ms: u64) -> Time {
        Time::from_millis(ms)
    }

    #[test]
    fn pairs_each_invocation_with_its_process_completion() {
        let w = Event::invoke(1, Write, 3, Value::Single(Some(5)), t(0));
        let r = Event::invoke(2, Read, 3, Value::default(), t(1));
        let c = Event::invoke(4, Cas, 3, Value::Pair([Some(5), Some(6)]), t(1));
        let events = [
            w,
            r,
            c,
            Event::complete(&r, EventType::Ok, Value::Single(Some(5)), t(2)),
            Event::complete(&w, EventType::Ok, Value::Single(Some(5)), t(3)),
        ];
        let ops = pair(&events).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0].complete, Some(t(3)));
        assert_eq!(ops[1].value, Value::Single(Some(5)));
        assert_eq!(ops[1].observed(), Some(Some(5)));
        assert_eq!(ops[2].completion, Completion::Info, "pending at the end is unknown");
        assert_eq!(ops[2].complete, None);
        assert_eq!(ops[2].written(), Some(Some(6)));
    }

    #[test]
    fn rejects_malformed_histories() {
        let w = Event::invoke(1, Write, 0, Value::Single(Some(5)), t(0));
        let done = Event::complete(&w, EventType::Ok, Value::Single(Some(5)), t(1));
        assert_eq!(pair(&[done]), Err(HistoryError::CompletionWithoutInvocation { index: 0, process: 1 }));
        assert_eq!(pair(&[w, w]), Err(HistoryError::InvocationWhilePending { index: 1, process: 1 }));
        let other_key = Event { key: 9, ..done };
        assert_eq!(pair(&[w, other_key]), Err(HistoryError::MismatchedCompletion { index: 1, process: 1 }));
        let bad_cas = Event::invoke(1, Cas, 0, Value::Single(Some(1)), t(0));
        assert_eq!(pair(&[bad_cas]), Err(HistoryError::MalformedValue { index: 0, process: 1 }));
    }

    #[test]
    fn the_line_format_is_jepsen_s() {
        let line = r#"{"process":3,"type":"invoke","f":"cas","key":7,"value":[1,null],"t":42}"#;
        let event: Event = serde_json::from_str(line).unwrap();
        assert_eq!(event, Event::invoke(3, Cas, 7, Value::Pair([Some(1), None]), Time(42)));
        assert_eq!(serde_json::to_string(&event).unwrap(), line);
        let read: Event =
            serde_json::from_str(r#"{"process":0,"type":"ok","f":"read","value":null,"t":1}"#).unwrap();
        assert_eq!((read.key, read.value, read.kind), (0, Value::Single(None), EventType::Ok));
        let write: Event =
            serde_json::from_str(r#"{"process":0,"type":"info","f":"write","value":4,"t":1}"#).unwrap();
        assert_eq!(write.value, Value::Single(Some(4)));
    }
}
