//! Wing & Gong's search with Lowe's improvements, as Porcupine runs it, over
//! one register's operations.
//!
//! Invocations and completions form one time-ordered list. The search walks it
//! from the front: at an invocation it tries to linearize that operation now
//! (just-in-time linearization: only operations whose invocation comes before
//! the first pending completion are candidates), lifting the operation out of
//! the list; at a completion whose operation was not linearized it backtracks.
//! Lowe's cache of (linearized set, register state) pairs already explored
//! prunes every configuration reached twice by different orders.

use super::event::Function;
use super::event::Value;
use super::operation::{Completion, Operation};
use super::register::{State, Step};
use crate::Time;
use std::collections::{HashMap, HashSet};

/// Bounds on the search for one key's linearization.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Most (linearized set, state) configurations kept in the cache; each
    /// costs one bit per operation of the key.
    pub states: usize,
    /// Most steps of the search (one candidate tried, or one backtrack).
    pub steps: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { states: 1_000_000, steps: 100_000_000 }
    }
}

/// The answer for one key.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some sequential order of the operations respects their real-time order
    /// and the register's specification.
    Linearizable,
    /// No such order exists.
    NotLinearizable,
    /// The budget ran out first.
    Unknown,
}

const HEAD: usize = 0;

/// A configuration of the search: the set of operations linearized (one bit
/// each) and the register's state after them.
type Configuration = (Box<[u64]>, State);

/// The doubly linked list of invocation and completion entries, with room to
/// lift an operation's two entries out and put them back in place.
struct Entries {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// The operation of each entry.
    op: Vec<usize>,
    /// For an invocation entry, its completion entry; `None` for completions.
    completion: Vec<Option<usize>>,
    tail: usize,
}

impl Entries {
    fn new(times: &[(u64, u64)]) -> Entries {
        // An invocation sorts before a completion at the same instant: the two
        // operations count as concurrent, which never wrongly rejects.
        let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(times.len() * 2);
        for (i, &(call, ret)) in times.iter().enumerate() {
            order.push((call, false, i));
            order.push((ret, true, i));
        }
        order.sort_unstable();
        let tail = order.len() + 1;
        let mut op = vec![usize::MAX; tail + 1];
        let mut completion = vec![None; tail + 1];
        let mut completion_node = vec![0; times.len()];
        for (k, &(_, is_completion, i)) in order.iter().enumerate() {
            op[k + 1] = i;
            if is_completion {
                completion_node[i] = k + 1;
            }
        }
        for (k, &(_, is_completion, i)) in order.iter().enumerate() {
            if !is_completion {
                completion[k + 1] = Some(completion_node[i]);
            }
        }
        let next = (1..=tail + 1).map(|n| n.min(tail)).collect();
        let prev = (0..=tail).map(|n: usize| n.saturating_sub(1)).collect();
        Entries { next, prev, op, completion, tail }
    }

    fn unlink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p] = x;
        self.prev[x] = p;
    }

    fn relink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p] = n;
        self.prev[x] = n;
    }

    fn lift(&mut self, call: usize, ret: usize) {
        self.unlink(call);
        self.unlink(ret);
    }

    fn unlift(&mut self, call: usize, ret: usize) {
        self.relink(ret);
        self.relink(call);
    }
}

/// A fixed pseudo-random word per operation, so a set's hash is the xor of
/// its members' and updates in constant time (Zobrist hashing).
fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn state_hash(state: State) -> u64 {
    match state {
        None => 0x5555_5555_5555_5555,
        Some(v) => zobrist(v as usize ^ 0x1234_5678),
    }
}

/// Decides whether one key's operations are linearizable, within `budget`.
pub fn check_key(ops: &[Operation], budget: Budget) -> Verdict {
    check_key_spending(ops, budget).0
}

/// [`check_key`], also returning the steps it spent.
pub fn check_key_spending(ops: &[Operation], budget: Budget) -> (Verdict, u64) {
    // Adds make values no single operation wrote (sums), and pass the
    // register on to whatever comes next.
    let adds = ops.iter().any(|o| o.f == Function::Add && o.completion != Completion::Fail);
    if !adds && observes_unwritten(ops) {
        return (Verdict::NotLinearizable, 0);
    }
    if adds && sum_out_of_reach(ops) {
        return (Verdict::NotLinearizable, 0);
    }
    // Values some operation depends on: an ok read's result, any cas's expected value.
    let depended: HashSet<State> = ops
        .iter()
        .filter_map(|o| match o.f {
            Function::Read => (o.completion == Completion::Ok).then(|| o.value.single()),
            Function::Cas => o.value.pair().map(|[expected, _]| expected),
            Function::Write | Function::Add => None,
        })
        .collect();
    let mut steps = Vec::with_capacity(ops.len());
    let mut times = Vec::with_capacity(ops.len());
    for op in ops {
        if !adds && op.completion == Completion::Info && op.written().is_some_and(|v| !depended.contains(&v))
        {
            // Nothing depends on its value: in some linearization (if any) it
            // comes last or not at all, where it changes nothing anyone sees.
            continue;
        }
        if let Some(step) = Step::of(op) {
            steps.push(step);
            times.push((op.invoke.as_nanos(), op.complete.map_or(u64::MAX, |t| t.as_nanos())));
        }
    }
    search(&steps, &times, budget)
}

/// Whether some operation that took effect observed a non-null value that no
/// operation able to take effect, invoked before it completed, writes: no
/// search needed (and none could finish quickly behind unknown operations).
fn observes_unwritten(ops: &[Operation]) -> bool {
    let mut first_writer: HashMap<i64, Time> = HashMap::new();
    for w in ops.iter().filter(|w| w.completion != Completion::Fail) {
        if let Some(Some(v)) = w.written() {
            let first = first_writer.entry(v).or_insert(w.invoke);
            *first = (*first).min(w.invoke);
        }
    }
    ops.iter().any(|o| match o.observed() {
        Some(Some(v)) => first_writer.get(&v).is_none_or(|&t| o.complete.is_some_and(|c| t > c)),
        _ => false,
    })
}

/// Whether some `ok` add or read of a key that only adds and reads saw a
/// sum that no choice of the adds able to precede it makes: those that
/// completed before it was invoked certainly count, those invoked before it
/// completed (concurrent ones, and unknown ones, which may also never take
/// effect) may or may not. A bound check, as Jepsen's counter checker makes,
/// that refutes a wrong sum at once however many unknown adds there are;
/// the search then has no subsets of them to enumerate.
fn sum_out_of_reach(ops: &[Operation]) -> bool {
    let live: Vec<&Operation> = ops.iter().filter(|o| o.completion != Completion::Fail).collect();
    if live.iter().any(|o| matches!(o.f, Function::Write | Function::Cas)) {
        return false;
    }
    let delta = |o: &Operation| match o.value.pair() {
        Some([Some(d), _]) if o.f == Function::Add => i128::from(d),
        _ => 0,
    };
    // Beyond this, a legal sequence could wrap around (the register adds
    // modulo 2^64) and the bounds below would not hold.
    if live.iter().map(|o| delta(o).abs()).sum::<i128>() > i128::from(i64::MAX / 2) {
        return false;
    }
    let end = |o: &Operation| o.complete.map_or(u64::MAX, Time::as_nanos);
    let split = |d: i128| (d.max(0), d.min(0));
    // Adds that took effect, by completion; every add, by invocation; with
    // running sums of their positive and negative deltas.
    let mut done: Vec<(u64, i128)> = live
        .iter()
        .filter(|o| o.f == Function::Add && o.completion == Completion::Ok)
        .map(|o| (end(o), delta(o)))
        .collect();
    let mut invoked: Vec<(u64, i128)> =
        live.iter().filter(|o| o.f == Function::Add).map(|o| (o.invoke.as_nanos(), delta(o))).collect();
    done.sort_unstable();
    invoked.sort_unstable();
    let running = |v: &[(u64, i128)]| {
        let mut sums = vec![(0i128, 0i128)];
        for &(_, d) in v {
            let (p, n) = split(d);
            let &(sp, sn) = sums.last().unwrap_or(&(0, 0));
            sums.push((sp + p, sn + n));
        }
        sums
    };
    let (done_sums, invoked_sums) = (running(&done), running(&invoked));
    live.iter().filter(|o| o.completion == Completion::Ok).any(|o| {
        let seen = match (o.f, o.value) {
            (Function::Add, Value::Pair([Some(d), Some(r)])) => i128::from(r) - i128::from(d),
            (Function::Read, Value::Single(v)) => i128::from(v.unwrap_or(0)),
            _ => return false,
        };
        // Completed strictly before it was invoked: certainly before it.
        let (must_pos, must_neg) = done_sums[done.partition_point(|&(t, _)| t < o.invoke.as_nanos())];
        // Invoked by its completion (touching counts as concurrent): maybe before it.
        let (all_pos, all_neg) = invoked_sums[invoked.partition_point(|&(t, _)| t <= end(o))];
        let (own_pos, own_neg) = split(delta(o));
        let must = must_pos + must_neg;
        let low = must + (all_neg - must_neg - own_neg);
        let high = must + (all_pos - must_pos - own_pos);
        seen < low || seen > high
    })
}

fn search(steps: &[Step], times: &[(u64, u64)], budget: Budget) -> (Verdict, u64) {
    let mut entries = Entries::new(times);
    let words = steps.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut set_hash = 0u64;
    // Buckets by hash of (set, state); each holds the sets seen with that state.
    let mut cache: HashMap<u64, Vec<Configuration>> = HashMap::new();
    let mut cached = 0usize;
    // The linearized operations in order: invocation entry, state before, forced.
    let mut calls: Vec<(usize, State, bool)> = Vec::new();
    let mut state: State = None;
    let mut entry = entries.next[HEAD];
    let mut spent = 0u64;
    while entries.next[HEAD] != entries.tail {
        spent += 1;
        if spent > budget.steps {
            return (Verdict::Unknown, spent);
        }
        let i = entries.op[entry];
        if let Some(ret) = entries.completion[entry] {
            let Some(new_state) = steps[i].apply(state) else {
                entry = entries.next[entry];
                continue;
            };
            // A read that fits now can always go now: any order that places
            // it later stays legal with it moved here. So it is no choice, and
            // if what follows fails, so does the configuration before it.
            let forced = matches!(steps[i], Step::Read(_));
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            linearized[word] |= bit;
            let hash = set_hash ^ zobrist(i) ^ state_hash(new_state);
            let bucket = cache.entry(hash).or_default();
            if !bucket.iter().any(|(set, s)| *s == new_state && **set == *linearized) {
                bucket.push((linearized.clone().into_boxed_slice(), new_state));
                cached += 1;
                if cached > budget.states {
                    return (Verdict::Unknown, spent);
                }
                set_hash ^= zobrist(i);
                calls.push((entry, state, forced));
                state = new_state;
                entries.lift(entry, ret);
                entry = entries.next[HEAD];
                continue;
            }
            // Explored before, and it failed.
            linearized[word] &= !bit;
            if !forced {
                entry = entries.next[entry];
                continue;
            }
        }
        // An operation completed before any order could place it (or a forced
        // step leads nowhere): undo choices until one has an alternative.
        loop {
            let Some((call, previous, forced)) = calls.pop() else {
                return (Verdict::NotLinearizable, spent);
            };
            let j = entries.op[call];
            state = previous;
            linearized[j / 64] &= !(1u64 << (j % 64));
            set_hash ^= zobrist(j);
            if let Some(ret) = entries.completion[call] {
                entries.unlift(call, ret);
            }
            if !forced {
                entry = entries.next[call];
                break;
            }
        }
    }
    (Verdict::Linearizable, spent)
}
