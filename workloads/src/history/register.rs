//! The sequential specification: one register with read, write, cas and add.

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
    /// An `ok` add: the register (an empty one counts as 0) plus `delta` made `result`.
    Add { delta: i64, result: i64 },
    /// An add whose sum was never reported (`info`): it adds `delta` to
    /// whatever the register holds.
    AddUnreported { delta: i64 },
}

impl Step {
    /// The step an operation contributes, or `None` if it constrains nothing:
    /// failed operations never took effect, and a read whose result is
    /// unknown may be placed anywhere without changing the register.
    ///
    /// An `info` operation that never took effect is equivalent to one
    /// placed after every other operation (its completion is at infinity and
    /// nothing after it observes the register), where a write or an add is
    /// always legal and a cas may fail harmlessly: so one deterministic step
    /// suffices.
    pub fn of(op: &Operation) -> Option<Step> {
        match (op.completion, op.f) {
            (Completion::Fail, _) | (Completion::Info, Function::Read) => None,
            (Completion::Ok, Function::Add) => match op.value.pair() {
                Some([Some(delta), Some(result)]) => Some(Step::Add { delta, result }),
                _ => None,
            },
            (Completion::Info, Function::Add) => match op.value.pair() {
                Some([Some(delta), _]) => Some(Step::AddUnreported { delta }),
                _ => None,
            },
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
            Step::Add { delta, result } => {
                (state.unwrap_or(0).wrapping_add(delta) == result).then_some(Some(result))
            }
            Step::AddUnreported { delta } => Some(Some(state.unwrap_or(0).wrapping_add(delta))),
        }
    }
}
