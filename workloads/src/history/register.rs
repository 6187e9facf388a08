//! The sequential specification: one register with read, write and cas.

use super::event::Function;
use super::operation::{Completion, Operation};

/// The register's content; `None` until something is written.
pub type State = Option<i64>;

/// What the checker must place in the register's sequential order.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// An `ok` read that returned this value.
    Read(State),
    /// A write, `ok` or `info`.
    Write(State),
    /// An `ok` cas: the register held `expected` and now holds `new`.
    Cas { expected: State, new: State },
    /// An `info` cas: if it runs while the register holds `expected`, it
    /// writes `new`; otherwise it fails and changes nothing.
    MaybeCas { expected: State, new: State },
}

impl Step {
    /// The step an operation contributes, or `None` if it constrains nothing:
    /// failed operations never took effect, and a read whose result is
    /// unknown may be placed anywhere without changing the register.
    ///
    /// An `info` operation that never took effect is equivalent to one
    /// placed after every other operation (its completion is at infinity and
    /// nothing after it observes the register), where a write is always legal
    /// and a cas may fail harmlessly: so one deterministic step suffices.
    pub fn of(op: &Operation) -> Option<Step> {
        match (op.completion, op.f) {
            (Completion::Fail, _) | (Completion::Info, Function::Read) => None,
            (Completion::Ok, Function::Read) => Some(Step::Read(op.value.single())),
            (_, Function::Write) => Some(Step::Write(op.value.single())),
            (Completion::Ok, Function::Cas) => {
                op.value.pair().map(|[expected, new]| Step::Cas { expected, new })
            }
            (Completion::Info, Function::Cas) => {
                op.value.pair().map(|[expected, new]| Step::MaybeCas { expected, new })
            }
        }
    }

    /// The register after this step from `state`, or `None` if the step is illegal there.
    pub fn apply(self, state: State) -> Option<State> {
        match self {
            Step::Read(v) => (v == state).then_some(state),
            Step::Write(v) => Some(v),
            Step::Cas { expected, new } => (expected == state).then_some(new),
            Step::MaybeCas { expected, new } => Some(if expected == state { new } else { state }),
        }
    }
}
