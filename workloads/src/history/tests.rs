//! The checker against known histories and against generated ones.

use super::event::Function::{Add, Cas, Read, Write};
use super::simulate::{simulate, Workload};
use super::*;
use crate::Time;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn op(process: u64, f: Function, value: Value, invoke: u64, complete: Option<u64>) -> Operation {
    Operation {
        process,
        f,
        key: 0,
        value,
        completion: if complete.is_some() { Completion::Ok } else { Completion::Info },
        invoke: Time::from_millis(invoke),
        complete: complete.map(Time::from_millis),
    }
}

fn read(p: u64, v: Option<i64>, invoke: u64, complete: u64) -> Operation {
    op(p, Read, Value::Single(v), invoke, Some(complete))
}

fn write(p: u64, v: i64, invoke: u64, complete: u64) -> Operation {
    op(p, Write, Value::Single(Some(v)), invoke, Some(complete))
}

fn cas(p: u64, expected: Option<i64>, new: i64, invoke: u64, complete: Option<u64>) -> Operation {
    op(p, Cas, Value::Pair([expected, Some(new)]), invoke, complete)
}

fn info_write(p: u64, v: i64, invoke: u64) -> Operation {
    op(p, Write, Value::Single(Some(v)), invoke, None)
}

/// An `ok` add of `delta` that reported the sum `result`.
fn add(p: u64, delta: i64, result: i64, invoke: u64, complete: u64) -> Operation {
    op(p, Add, Value::Pair([Some(delta), Some(result)]), invoke, Some(complete))
}

/// An add whose sum was never reported.
fn info_add(p: u64, delta: i64, invoke: u64) -> Operation {
    op(p, Add, Value::Pair([Some(delta), None]), invoke, None)
}

fn failed(mut op: Operation) -> Operation {
    op.completion = Completion::Fail;
    op
}

fn verdict(ops: &[Operation]) -> Linearizability {
    check(ops, Budget::default())
}

fn assert_linearizable(ops: &[Operation]) {
    let report = verdict(ops);
    assert_eq!(report.ok, Some(true), "{ops:#?}");
    assert_eq!(report.anomaly, None);
}

/// Asserts the history fails and its anomaly is exactly `expected` (in invocation order).
fn assert_anomaly(ops: &[Operation], expected: &[Operation]) {
    let report = verdict(ops);
    assert_eq!(report.ok, Some(false), "{ops:#?}");
    let anomaly = report.anomaly.expect("a non-linearizable history has an anomaly");
    let mut expected = expected.to_vec();
    expected.sort_by_key(|op| (op.invoke, op.process));
    assert_eq!(anomaly.ops, expected);
    assert_eq!(check_key(&anomaly.ops, Budget::default()), Verdict::NotLinearizable);
}

#[test]
fn sequential_and_concurrent_histories_pass() {
    assert_linearizable(&[]);
    assert_linearizable(&[read(0, None, 0, 1)]);
    assert_linearizable(&[write(0, 1, 0, 1), read(1, Some(1), 2, 3), cas(0, Some(1), 2, 4, Some(5))]);
    // A read inside a write's interval may see either side of it.
    let w = write(0, 1, 0, 10);
    assert_linearizable(&[w, read(1, None, 1, 2), read(2, Some(1), 3, 4), read(1, Some(1), 5, 6)]);
    // Concurrent writes may take effect in either order.
    assert_linearizable(&[write(0, 1, 0, 10), write(1, 2, 0, 10), read(2, Some(1), 11, 12)]);
    assert_linearizable(&[write(0, 1, 0, 10), write(1, 2, 0, 10), read(2, Some(2), 11, 12)]);
    // Touching intervals count as concurrent.
    assert_linearizable(&[write(0, 1, 0, 5), write(1, 2, 5, 6), read(2, Some(1), 6, 7)]);
}

#[test]
fn info_operations_may_take_effect_late_or_never() {
    // Read long after its invocation: it took effect late.
    assert_linearizable(&[info_write(0, 5, 0), read(1, None, 10, 11), read(1, Some(5), 20, 21)]);
    // Never observed: it never took effect.
    assert_linearizable(&[
        info_write(0, 5, 0),
        write(1, 1, 2, 3),
        read(1, Some(1), 4, 5),
        read(2, None, 1, 2).clone_with(|o| o.key = 1),
    ]);
    assert_linearizable(&[info_write(0, 5, 0), read(1, None, 10, 11)]);
    // An unknown cas may have succeeded, or not.
    let c = cas(0, None, 3, 0, None);
    assert_linearizable(&[c, read(1, Some(3), 10, 11)]);
    assert_linearizable(&[c, write(1, 4, 1, 2), read(1, Some(4), 10, 11)]);
    // A read whose reply was lost constrains nothing.
    assert_linearizable(&[write(0, 1, 0, 1), op(1, Read, Value::Single(Some(9)), 2, None)]);
    // A failed operation did not take effect.
    assert_linearizable(&[failed(write(0, 7, 0, 1)), read(1, None, 2, 3)]);
    assert_linearizable(&[failed(cas(0, Some(7), 8, 0, Some(1))), read(1, None, 2, 3)]);
}

#[test]
fn an_info_write_is_not_seen_before_it_was_invoked() {
    let r = read(1, Some(5), 0, 1);
    assert_anomaly(&[r, info_write(0, 5, 2)], &[r]);
}

#[test]
fn a_stale_read_after_a_completed_write_fails() {
    let noise = [read(3, None, 0, 1), write(4, 9, 20, 21).clone_with(|o| o.key = 2)];
    let core = [write(0, 1, 2, 3), write(1, 2, 4, 5), read(2, Some(1), 6, 7)];
    let ops: Vec<_> = noise.iter().chain(&core).copied().collect();
    assert_anomaly(&ops, &core);
}

#[test]
fn reads_that_order_concurrent_writes_both_ways_fail() {
    let ops = [
        write(0, 1, 0, 100),
        write(1, 2, 0, 100),
        read(2, Some(1), 10, 20),
        read(2, Some(2), 30, 40),
        read(3, Some(2), 10, 20),
        read(3, Some(1), 30, 40),
    ];
    assert_anomaly(&ops, &ops);
    let mut long = ops.to_vec();
    long.extend((0..50).map(|i| read(4, Some(1), 200 + 2 * i, 201 + 2 * i)));
    assert_anomaly(&long, &ops);
}

#[test]
fn a_cas_that_succeeds_on_a_value_never_written_fails() {
    let bad = cas(1, Some(7), 8, 2, Some(3));
    assert_anomaly(&[write(0, 1, 0, 1), bad, read(0, Some(8), 4, 5)], &[bad]);
}

#[test]
fn a_read_of_a_failed_write_fails_and_shows_the_write() {
    let w = failed(write(0, 1, 0, 1));
    let r = read(1, Some(1), 2, 3);
    assert_anomaly(&[write(2, 3, 0, 1), w, r], &[w, r]);
}

#[test]
fn the_anomaly_comes_from_the_failing_key() {
    let mut bad = read(1, Some(4), 2, 3);
    bad.key = 7;
    let report = verdict(&[write(0, 4, 0, 1), bad]);
    assert_eq!((report.ops, report.keys, report.ok), (2, 2, Some(false)));
    let anomaly = report.anomaly.unwrap();
    assert_eq!((anomaly.key, anomaly.ops), (7, vec![bad]));
}

#[test]
fn an_exhausted_budget_is_unknown_never_a_verdict() {
    let ops: Vec<_> = (0..8).map(|p| write(p, p as i64, 0, 100)).collect();
    let report = check(&ops, Budget { states: 3, steps: u64::MAX });
    assert_eq!((report.ok, report.anomaly), (None, None));
    let report = check(&ops, Budget { states: usize::MAX, steps: 5 });
    assert_eq!(report.ok, None);
}

#[test]
fn checks_histories_read_from_jsonl() {
    let lines = r#"{"process":0,"type":"invoke","f":"write","key":1,"value":3,"t":0}
{"process":1,"type":"invoke","f":"read","key":1,"value":null,"t":1}
{"process":0,"type":"info","f":"write","key":1,"value":3,"t":5}
{"process":1,"type":"ok","f":"read","key":1,"value":3,"t":6}
{"process":2,"type":"invoke","f":"cas","key":1,"value":[3,4],"t":7}
{"process":2,"type":"fail","f":"cas","key":1,"value":[3,4],"t":8}
{"process":3,"type":"invoke","f":"read","key":1,"value":null,"t":9}
{"process":3,"type":"ok","f":"read","key":1,"value":4,"t":10}"#;
    let events: Vec<Event> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let report = check_events(&events[..4], Budget::default()).unwrap();
    assert_eq!((report.ops, report.keys, report.ok), (2, 1, Some(true)));
    let report = check_events(&events, Budget::default()).unwrap();
    assert_eq!(report.ok, Some(false));
    let anomaly = report.anomaly.as_ref().unwrap();
    assert_eq!(anomaly.ops.len(), 3, "the write of 3, the failed cas 3 to 4 and the read of 4: {anomaly:#?}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["anomaly"]["ops"][0]["type"], "info");
    assert_eq!(json["anomaly"]["ops"][1]["type"], "fail");
    assert_eq!(json["anomaly"]["ops"][2]["value"], 4);
}

#[test]
fn adds_in_any_order_their_intervals_allow_pass() {
    assert_linearizable(&[add(0, 5, 5, 0, 1), add(1, 3, 8, 2, 3), read(2, Some(8), 4, 5)]);
    // An empty register counts as 0, and a write resets the sum.
    assert_linearizable(&[add(0, -4, -4, 0, 1), write(1, 10, 2, 3), add(0, 1, 11, 4, 5)]);
    // Concurrent adds take effect in either order, which their sums tell.
    assert_linearizable(&[add(0, 2, 2, 0, 10), add(1, 4, 6, 0, 10), read(2, Some(6), 11, 12)]);
    assert_linearizable(&[add(0, 2, 6, 0, 10), add(1, 4, 4, 0, 10), read(2, Some(6), 11, 12)]);
    // A read inside an add's interval sees either side of it.
    assert_linearizable(&[add(0, 7, 7, 0, 10), read(1, None, 1, 2), read(1, Some(7), 3, 4)]);
    // A failed add did not take effect.
    assert_linearizable(&[failed(add(0, 9, 9, 0, 1)), add(1, 1, 1, 2, 3)]);
}

#[test]
fn an_unreported_add_counts_late_or_never() {
    // Not yet, then counted.
    assert_linearizable(&[info_add(0, 7, 0), add(1, 1, 1, 2, 3), add(2, 1, 9, 4, 5)]);
    // Never.
    assert_linearizable(&[info_add(0, 7, 0), add(1, 1, 1, 2, 3), add(2, 1, 2, 4, 5)]);
    // Several unknown adds: some of them, in any order, make the sum.
    let unknown = [info_add(0, 1, 0), info_add(1, 2, 0), info_add(2, 4, 0)];
    for (sum, ok) in [(0, true), (3, true), (5, true), (7, true), (8, false), (-1, false)] {
        let mut ops = unknown.to_vec();
        ops.push(add(3, 10, sum + 10, 1, 2));
        assert_eq!(verdict(&ops).ok, Some(ok), "sum {sum}");
    }
    // Not before it was invoked.
    let early = add(1, 1, 8, 0, 1);
    assert_anomaly(&[early, info_add(0, 7, 2)], &[early]);
}

#[test]
fn a_lost_update_fails_and_shows_both_adds() {
    let noise =
        [add(5, 1, 1, 0, 1).clone_with(|o| o.key = 3), read(6, Some(1), 2, 3).clone_with(|o| o.key = 3)];
    // The second add was invoked after the first completed, yet missed it.
    let core = [add(0, 5, 5, 0, 1), add(1, 3, 3, 2, 3)];
    let after = [add(2, 1, 4, 10, 11), read(3, Some(4), 12, 13)];
    let ops: Vec<_> = noise.iter().chain(&core).chain(&after).copied().collect();
    assert_anomaly(&ops, &core);
}

#[test]
fn an_add_applied_twice_fails_with_everything_that_could_precede_it() {
    // The sums say the first add counted twice. The witness keeps every add
    // invoked before the faulty one completed, the unknown one included: it
    // might have made up the difference, had its delta been 5.
    let ops = [add(0, 5, 5, 0, 1), info_add(1, 4, 2), add(2, 3, 13, 3, 4), add(3, 1, 14, 5, 6)];
    assert_anomaly(&ops, &ops[..3]);
    // With a delta of 5 the unknown add explains it.
    assert_linearizable(&[add(0, 5, 5, 0, 1), info_add(1, 5, 2), add(2, 3, 13, 3, 4), add(3, 1, 14, 5, 6)]);
}

#[test]
fn a_sum_within_bounds_that_no_subset_makes_is_found_by_the_search() {
    // Unknown adds of 2 and 2: anything in 0..=4 passes the bound check, but only even sums are made.
    let unknown = [info_add(0, 2, 0), info_add(1, 2, 0)];
    let odd = add(2, 0, 1, 1, 2);
    let ops = [unknown[0], unknown[1], odd];
    assert_anomaly(&ops, &ops);
    assert_linearizable(&[unknown[0], unknown[1], add(2, 0, 4, 1, 2)]);
}

#[test]
fn an_exhausted_budget_on_adds_is_unknown() {
    // Thirty unknown adds of 2 and an odd sum: the search would try every subset.
    let mut ops: Vec<_> = (0..30).map(|p| info_add(p, 2, 0)).collect();
    ops.push(add(30, 0, 31, 1, 2));
    let report = check(&ops, Budget { states: 10_000, steps: u64::MAX });
    assert_eq!((report.ok, report.anomaly), (None, None));
}

#[test]
fn adds_read_from_jsonl() {
    let lines = r#"{"process":7,"type":"invoke","f":"add","key":3,"value":[5,null],"t":0}
{"process":8,"type":"invoke","f":"add","key":3,"value":[-2,null],"t":1}
{"process":7,"type":"ok","f":"add","key":3,"value":[5,5],"t":2}
{"process":8,"type":"info","f":"add","key":3,"value":[-2,null],"t":9}
{"process":9,"type":"invoke","f":"add","key":3,"value":[1,null],"t":10}
{"process":9,"type":"ok","f":"add","key":3,"value":[1,4],"t":11}"#;
    let events: Vec<Event> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events[0], Event::invoke(7, Add, 3, Value::Pair([Some(5), None]), Time(0)));
    assert_eq!(serde_json::to_string(&events[2]).unwrap(), lines.lines().nth(2).unwrap());
    let ops = pair(&events).unwrap();
    assert_eq!(ops[0].value, Value::Pair([Some(5), Some(5)]));
    assert_eq!((ops[1].completion, ops[1].value), (Completion::Info, Value::Pair([Some(-2), None])));
    let report = check_events(&events, Budget::default()).unwrap();
    assert_eq!((report.ops, report.keys, report.ok), (3, 1, Some(true)), "the unknown add of -2 counted");
    // The same with the last sum off by one.
    let mut wrong = events.clone();
    wrong[5].value = Value::Pair([Some(1), Some(5)]);
    let report = check_events(&wrong, Budget::default()).unwrap();
    assert_eq!(report.ok, Some(false));
    assert_eq!(report.anomaly.unwrap().ops.len(), 3);
    // An add needs its delta, and its ok a sum.
    let no_delta = Event { value: Value::Pair([None, None]), ..events[0] };
    assert_eq!(pair(&[no_delta]), Err(HistoryError::MalformedValue { index: 0, process: 7 }));
    let no_sum = Event { value: Value::Pair([Some(5), None]), ..events[2] };
    assert_eq!(pair(&[events[0], no_sum]), Err(HistoryError::MalformedValue { index: 1, process: 7 }));
}

trait CloneWith: Clone {
    fn clone_with(&self, f: impl FnOnce(&mut Self)) -> Self {
        let mut c = self.clone();
        f(&mut c);
        c
    }
}
impl<T: Clone> CloneWith for T {}

fn workload() -> impl Strategy<Value = (Workload, u64)> {
    (
        1usize..8,
        1u64..4,
        1usize..150,
        0.0..0.2f64,
        0.0..0.2f64,
        prop_oneof![Just(0i64), 1i64..5],
        any::<u64>(),
    )
        .prop_map(|(clients, keys, ops, fail, info, values, seed)| {
            (Workload { clients, keys, ops, fail, info, values, adds: 0.0, delay: 1_000 }, seed)
        })
}

/// Histories of ledgers: mostly adds, some reads, writes and cas.
fn ledger() -> impl Strategy<Value = (Workload, u64)> {
    (workload(), prop_oneof![Just(1.0), 0.5..1.0f64])
        .prop_map(|((workload, seed), adds)| (Workload { adds, values: 0, ..workload }, seed))
}

fn generated(workload: &Workload, seed: u64) -> Vec<Operation> {
    let events = simulate(workload, &mut ChaCha8Rng::seed_from_u64(seed));
    pair(&events).expect("generated histories are well formed")
}

/// A read that completed `ok`, chosen by `pick`.
fn ok_read(ops: &[Operation], pick: usize) -> Option<usize> {
    let reads: Vec<usize> =
        (0..ops.len()).filter(|&i| ops[i].f == Read && ops[i].completion == Completion::Ok).collect();
    (!reads.is_empty()).then(|| reads[pick % reads.len()])
}

/// Asserts the mutated history fails with a non-linearizable anomaly. When
/// every written value is distinct, the anomaly must hold the mutated read:
/// the rest is a supported sub-history of a linearizable history.
fn assert_caught(ops: &[Operation], mutated: usize, distinct: bool) -> Result<(), TestCaseError> {
    let report = check(ops, Budget::default());
    prop_assert_eq!(report.ok, Some(false));
    let anomaly = report.anomaly.expect("an anomaly");
    if distinct {
        prop_assert!(anomaly.ops.iter().any(|o| *o == ops[mutated]), "{:#?}", anomaly);
    }
    prop_assert_eq!(check_key(&anomaly.ops, Budget::default()), Verdict::NotLinearizable);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn histories_of_a_correct_register_pass((workload, seed) in workload()) {
        let ops = generated(&workload, seed);
        let report = check(&ops, Budget::default());
        prop_assert_eq!(report.ok, Some(true), "{:#?}", ops);
        prop_assert_eq!(report.ops, ops.len());
    }

    #[test]
    fn histories_of_a_correct_ledger_pass((workload, seed) in ledger()) {
        let ops = generated(&workload, seed);
        let report = check(&ops, Budget::default());
        prop_assert_eq!(report.ok, Some(true), "{:#?}", ops);
    }

    #[test]
    fn a_sum_no_adds_can_make_is_caught_with_its_add((workload, seed) in ledger(), pick: usize) {
        // Only adds: a write or cas would take the bound check away and leave
        // the search to try every subset of the unknown adds.
        let mut ops = generated(&Workload { adds: 1.0, ..workload }, seed);
        let sums: Vec<usize> = (0..ops.len())
            .filter(|&i| ops[i].f == Add && ops[i].completion == Completion::Ok)
            .collect();
        let Some(&x) = sums.get(pick % sums.len().max(1)) else { return Ok(()) };
        // Beyond any sum of fewer than 150 deltas of at most 100.
        if let Value::Pair([delta, Some(sum)]) = ops[x].value {
            ops[x].value = Value::Pair([delta, Some(sum + 1_000_000)]);
        }
        // Every witness of a key with adds holds all that could precede its
        // sums, and what precedes the mutated add alone is linearizable: so
        // the witness holds it.
        assert_caught(&ops, x, true)?;
    }

    #[test]
    fn a_read_of_a_value_never_written_is_caught((workload, seed) in workload(), pick: usize) {
        let mut ops = generated(&workload, seed);
        let Some(r) = ok_read(&ops, pick) else { return Ok(()) };
        ops[r].value = Value::Single(Some(-1));
        assert_caught(&ops, r, workload.values == 0)?;
    }

    #[test]
    fn a_read_of_a_failed_write_is_caught((workload, seed) in workload(), pick: usize) {
        let workload = Workload { values: 0, fail: workload.fail.max(0.1), ..workload };
        let mut ops = generated(&workload, seed);
        let Some(r) = ok_read(&ops, pick) else { return Ok(()) };
        let key = ops[r].key;
        // Fresh values: a failed write's value was written by nothing else.
        let Some(w) = ops.iter().position(|o| o.key == key && o.completion == Completion::Fail && o.f != Read)
        else { return Ok(()) };
        ops[r].value = Value::Single(ops[w].written().flatten());
        assert_caught(&ops, r, true)?;
    }

    #[test]
    fn a_stale_read_is_caught((workload, seed) in workload(), pick: usize) {
        let workload = Workload { values: 0, ..workload };
        let mut ops = generated(&workload, seed);
        let Some(r) = ok_read(&ops, pick) else { return Ok(()) };
        let read = ops[r];
        let took_effect = |o: &Operation| o.key == read.key && o.f != Read && o.completion == Completion::Ok;
        let before = |a: &Operation, b: &Operation| a.complete.is_some_and(|c| c < b.invoke);
        // w1 wrote a value only it writes (fresh values); w2 overwrote it
        // strictly after, and strictly before the read: reading w1's value is stale.
        let stale = ops.iter().filter(|w1| took_effect(w1)).find_map(|w1| {
            ops.iter()
                .any(|w2| took_effect(w2) && before(w1, w2) && before(w2, &read))
                .then(|| w1.written().flatten())
                .flatten()
        });
        let Some(stale) = stale else { return Ok(()) };
        ops[r].value = Value::Single(Some(stale));
        assert_caught(&ops, r, true)?;
    }
}
