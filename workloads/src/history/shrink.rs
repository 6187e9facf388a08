//! Shrinking a non-linearizable key history to a small witness.
//!
//! The witness must stay readable as a timeline, so it is *supported*: every
//! non-null value an operation in it depends on (an `ok` read's result, a
//! cas's expected value) keeps one operation that wrote it, invoked before the
//! dependent one completed, and whose own dependency is in turn supported —
//! whenever the whole history has such a writer. Dropping a write therefore
//! cannot turn a stale read into a read of a value "never written". When every
//! written value is distinct, a supported sub-history of a linearizable
//! history is linearizable, so the witness always holds the operations at
//! fault. Within that rule the witness is 1-minimal: dropping any one of its
//! operations makes it linearizable (or unsupported).
//!
//! A key with adds needs more: every sum an operation saw includes every add
//! before it, so dropping one would turn later sums wrong. There a witness
//! keeps, for each of its `ok` operations, every operation able to change
//! the register (not failed) invoked before that one completed; whatever
//! took effect before it in a linearization of the whole history is then in
//! the witness, which that linearization restricted to it therefore also
//! linearizes. So a witness of such a key proves the whole key
//! non-linearizable, and holds the operation whose answer no order explains
//! with everything that could have come before it.

use super::event::Function;
use super::operation::{Completion, Operation};
use super::search::{check_key_spending, Budget, Verdict};
use crate::Time;
use std::collections::{HashMap, HashSet};

struct Shrinker<'a> {
    ops: &'a [Operation],
    budget: Budget,
    /// Search steps left: past them, the smallest witness so far is returned.
    steps: u64,
    /// The operations that may write each value, best explanation first:
    /// those that took effect, then unknown ones, then failed ones.
    writers: HashMap<i64, Vec<usize>>,
    /// For each operation, the value it depends on, if the whole history can support it.
    needs: Vec<Option<i64>>,
    /// Whether the key has adds that may have taken effect (then witnesses
    /// are closed under "invoked before a kept `ok` completed").
    adds: bool,
}

/// Whether an operation may have changed the register: a write, cas or add that did not fail.
fn mutates(op: &Operation) -> bool {
    op.f != Function::Read && op.completion != Completion::Fail
}

/// The non-null value an operation depends on: an `ok` read's result, a cas's expected value.
fn dependency(op: &Operation) -> Option<i64> {
    match (op.f, op.completion) {
        (Function::Read, Completion::Ok) => op.value.single(),
        (Function::Cas, _) => op.value.pair().and_then(|[expected, _]| expected),
        _ => None,
    }
}

impl Shrinker<'_> {
    /// Whether the kept operations are known non-linearizable; an exhausted
    /// budget counts as no.
    fn fails(&mut self, kept: &[bool]) -> bool {
        if self.steps == 0 {
            return false;
        }
        let sub: Vec<Operation> = self.ops.iter().zip(kept).filter(|(_, &k)| k).map(|(op, _)| *op).collect();
        let budget = Budget { steps: self.budget.steps.min(self.steps), ..self.budget };
        let (verdict, spent) = check_key_spending(&sub, budget);
        self.steps = self.steps.saturating_sub(spent.max(1));
        verdict == Verdict::NotLinearizable
    }

    /// The values the kept operations can produce from an empty register:
    /// writes' values, and cas's new values once their expected one is producible.
    fn grounded(&self, kept: &[bool]) -> HashSet<Option<i64>> {
        let mut values = HashSet::from([None]);
        loop {
            let before = values.len();
            for (op, _) in self.ops.iter().zip(kept).filter(|(_, &k)| k) {
                let producible = match op.f {
                    Function::Read => None,
                    Function::Write => Some(op.value.single()),
                    Function::Add => op.written(),
                    Function::Cas => {
                        op.value.pair().and_then(|[expected, new]| values.contains(&expected).then_some(new))
                    }
                };
                if let Some(v) = producible {
                    values.insert(v);
                }
            }
            if values.len() == before {
                return values;
            }
        }
    }

    /// Whether operation `w` can explain operation `i`'s dependency, given the producible values.
    fn supports(&self, w: usize, i: usize, grounded: &HashSet<Option<i64>>) -> bool {
        let (writer, dependent) = (&self.ops[w], &self.ops[i]);
        w != i
            && writer.invoke <= dependent.complete.unwrap_or(Time(u64::MAX))
            && grounded.contains(&writer.written().flatten())
    }

    fn candidates(&self, i: usize) -> &[usize] {
        self.needs[i].and_then(|v| self.writers.get(&v)).map_or(&[], Vec::as_slice)
    }

    /// The latest completion of a kept `ok` operation: everything able to
    /// change the register invoked by then must be kept, on a key with adds.
    fn horizon(&self, kept: &[bool]) -> Option<Time> {
        self.ops
            .iter()
            .zip(kept)
            .filter(|(op, &k)| k && op.completion == Completion::Ok)
            .filter_map(|(op, _)| op.complete)
            .max()
    }

    /// Whether every kept dependency that the whole history supports is supported in `kept`.
    fn closed(&self, kept: &[bool]) -> bool {
        if self.adds {
            let Some(horizon) = self.horizon(kept) else { return true };
            return self.ops.iter().zip(kept).all(|(op, &k)| k || !mutates(op) || op.invoke > horizon);
        }
        let grounded = self.grounded(kept);
        (0..self.ops.len())
            .filter(|&i| kept[i] && self.needs[i].is_some())
            .all(|i| self.candidates(i).iter().any(|&w| kept[w] && self.supports(w, i, &grounded)))
    }

    /// Adds writers to `kept` until its dependencies are supported, as far as it can.
    fn close(&self, kept: &mut [bool], everything: &HashSet<Option<i64>>) {
        if self.adds {
            // Keeping an operation may push the horizon further: to a fixpoint.
            while let Some(horizon) = self.horizon(kept) {
                let mut added = false;
                for (op, k) in self.ops.iter().zip(kept.iter_mut()) {
                    if !*k && mutates(op) && op.invoke <= horizon {
                        *k = true;
                        added = true;
                    }
                }
                if !added {
                    return;
                }
            }
            return;
        }
        loop {
            let grounded = self.grounded(kept);
            let mut added = false;
            for i in 0..self.ops.len() {
                if !kept[i] || self.needs[i].is_none() {
                    continue;
                }
                let cands = self.candidates(i);
                if cands.iter().any(|&w| kept[w] && self.supports(w, i, &grounded)) {
                    continue;
                }
                if let Some(&w) = cands.iter().find(|&&w| !kept[w] && self.supports(w, i, everything)) {
                    kept[w] = true;
                    added = true;
                }
            }
            if !added {
                return;
            }
        }
    }
}

/// A 1-minimal non-linearizable sub-history of `ops` (one key's operations,
/// known non-linearizable), sorted by invocation. All its searches together
/// spend at most `budget.steps`; past that it returns a larger witness.
pub fn shrink(ops: &[Operation], budget: Budget) -> Vec<Operation> {
    let mut ops = ops.to_vec();
    ops.sort_by_key(|op| (op.invoke, op.process));
    let rank = |c: Completion| match c {
        Completion::Ok => 0,
        Completion::Info => 1,
        Completion::Fail => 2,
    };
    let mut writers: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some(Some(v)) = op.written() {
            writers.entry(v).or_default().push(i);
        }
    }
    for ws in writers.values_mut() {
        ws.sort_by_key(|&i| (rank(ops[i].completion), i));
    }
    let adds = ops.iter().any(|op| op.f == Function::Add && mutates(op));
    let mut shrinker = Shrinker { ops: &ops, budget, steps: budget.steps, writers, needs: Vec::new(), adds };
    let everything = shrinker.grounded(&vec![true; ops.len()]);
    shrinker.needs = (0..ops.len())
        .map(|i| {
            dependency(&ops[i]).filter(|v| {
                shrinker
                    .writers
                    .get(v)
                    .is_some_and(|ws| ws.iter().any(|&w| shrinker.supports(w, i, &everything)))
            })
        })
        .collect();
    let n = ops.len();

    // The shortest prefix (by invocation, with the writers it observed) that
    // is already non-linearizable: anomalies are local, histories long.
    let prefix = |k: usize, s: &Shrinker<'_>| {
        let mut kept: Vec<bool> = (0..n).map(|i| i < k).collect();
        s.close(&mut kept, &everything);
        kept
    };
    let (mut lo, mut hi) = (0, n);
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        let kept = prefix(mid, &shrinker);
        if shrinker.closed(&kept) && shrinker.fails(&kept) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let mut kept = prefix(hi, &shrinker);

    // Then drop chunks, halving their size down to single operations.
    let mut chunk = kept.iter().filter(|&&k| k).count().div_ceil(2).max(1);
    loop {
        let members: Vec<usize> = (0..n).filter(|&i| kept[i]).collect();
        let mut removed_any = false;
        for group in members.chunks(chunk).rev() {
            let mut trial = kept.clone();
            for &i in group {
                trial[i] = false;
            }
            if shrinker.closed(&trial) && shrinker.fails(&trial) {
                kept = trial;
                removed_any = true;
            }
        }
        if chunk == 1 && !removed_any {
            break;
        }
        chunk = (chunk / 2).max(1);
    }
    ops.iter().zip(&kept).filter(|(_, &k)| k).map(|(op, _)| *op).collect()
}
