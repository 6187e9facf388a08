//! TMR on the simulator: the real driver and interposer, virtual time, a
//! fixed 100 us link latency, crashes and restarts, and message faults
//! installed as interposer rules.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{collect, fixed, lose_one};
use driver::sim::Sim;
use faults::{ByzantineMode, FaultId, LinkScope, MessageFault};
use std::collections::HashMap;
use std::time::Duration;
use workloads::history::{check_events, Budget, Event, EventType, Function, Linearizability, Value};
use workloads::observation::RecoveryReason;
use workloads::tmr::{Config, Ledger, Msg, Op, Role, TmrNode};
use workloads::{NodeId, Observation, Outcome, Time, Verdict};

const RATE: f64 = 1000.0;
const LINK: Duration = Duration::from_micros(100);
const END: Time = Time::from_millis(1000);

fn config(replicas: u16, voters: u16, rate: f64) -> Config {
    Config::small(replicas, voters, rate)
}

/// Every node of `config`'s topology on the simulator, not started, every
/// message recorded; restarted nodes fetch their state.
struct Tmr {
    config: Config,
    sim: Sim<TmrNode>,
    seen: Vec<(Time, NodeId, Observation)>,
}

impl Tmr {
    fn new(config: Config) -> Tmr {
        let count = (config.replicas.len() + config.voters.len() + config.clients.len()) as u16;
        let cfg = config.clone();
        let mut sim = common::sim(count, fixed(LINK), 1, move |id, incarnation, _| {
            let role = if cfg.replicas.contains(&id) {
                Role::Replica
            } else if cfg.voters.contains(&id) {
                Role::Voter
            } else {
                Role::Client
            };
            TmrNode::new(id, &Config { role, ..cfg.clone() }, 7, incarnation > 0)
        });
        sim.record_sent();
        Tmr { config, sim, seen: Vec::new() }
    }

    fn run_until(&mut self, t: Time) {
        self.sim.run_until(t);
        collect(&mut self.sim, &mut self.seen);
    }

    fn node(&self, id: NodeId) -> &TmrNode {
        self.sim.driver(id).expect("the node runs").node()
    }

    /// Requests the client sent and has not judged yet.
    fn node_outstanding(&self) -> usize {
        match self.node(self.config.clients[0]) {
            TmrNode::Client(c) => c.outstanding(),
            _ => panic!("not a client"),
        }
    }

    /// Every message as it left its sender: (instant, from, to, message).
    fn log(&self) -> impl Iterator<Item = (Time, NodeId, NodeId, &Msg)> + '_ {
        self.sim.sent().iter().map(|m| (m.at, m.from, m.to, &m.msg))
    }

    /// Falsify every result `liars` send, each its own lie or all the same one.
    fn falsify(&mut self, liars: &[NodeId], collude: bool) {
        let mode = if collude { ByzantineMode::Collude } else { ByzantineMode::Corrupt };
        for liar in liars {
            self.sim.install(
                *liar,
                FaultId(1),
                MessageFault::Byzantine { mode, key: 0xC0FFEE, links: LinkScope::All },
            );
        }
    }
}

fn sim(replicas: u16, voters: u16) -> Tmr {
    Tmr::new(config(replicas, voters, RATE))
}

/// The client's request outcomes by seq, checking that each sent request
/// has exactly one (those whose deadline has passed by `end`) and none has two.
fn outcomes(sim: &Tmr, end: Time, min_judged: usize) -> HashMap<u64, Outcome> {
    let mut by_seq = HashMap::new();
    for (_, _, obs) in &sim.seen {
        if let Observation::Request { seq, outcome, .. } = obs {
            assert!(by_seq.insert(*seq, *outcome).is_none(), "seq {seq} judged twice");
        }
    }
    let first_replica = sim.config.replicas[0];
    let mut judged = 0;
    for (at, _, to, msg) in sim.log() {
        if let (Msg::Request { seq, .. }, true) = (msg, to == first_replica) {
            if at + sim.config.deadline + Duration::from_millis(2) < end {
                assert!(by_seq.contains_key(seq), "seq {seq} never judged");
                judged += 1;
            }
        }
    }
    assert!(judged >= min_judged, "only {judged} requests judged");
    by_seq
}

fn count(outcomes: &HashMap<u64, Outcome>, outcome: Outcome) -> usize {
    outcomes.values().filter(|o| **o == outcome).count()
}

fn verdicts(sim: &Tmr, after: Time) -> HashMap<Verdict, usize> {
    let mut counts = HashMap::new();
    for (at, _, obs) in &sim.seen {
        if let (Observation::Vote { verdict, .. }, true) = (obs, *at >= after) {
            *counts.entry(*verdict).or_insert(0) += 1;
        }
    }
    counts
}

fn replica(s: &Tmr, id: NodeId) -> &workloads::tmr::Replica {
    let TmrNode::Replica(r) = s.node(id) else { panic!("not a replica") };
    r
}

/// The client's history as the recorder stamps it, and the checker's verdict on it.
fn linearizability(sim: &Tmr) -> (Vec<Event>, Linearizability) {
    let events: Vec<Event> = sim
        .seen
        .iter()
        .filter_map(|(t, _, o)| match o {
            Observation::History(step) => Some(step.at(*t)),
            _ => None,
        })
        .collect();
    let verdict = check_events(&events, Budget::default()).expect("a well-formed history");
    (events, verdict)
}

/// The balance request `seq` should report: its account's after every request up to it.
fn right_balance(seq: u64) -> i64 {
    let mut ledger = Ledger::new();
    (1..=seq).map(|s| ledger.apply(s, Op::for_seq(s))).last().unwrap_or(0)
}

/// Run `s` to the end: every request was answered correctly, every vote had
/// the verdict `only`, and the history is linearizable.
fn all_ok_with(s: &mut Tmr, only: Verdict) {
    s.sim.start();
    s.run_until(END);
    let o = outcomes(s, END, 900);
    assert_eq!(count(&o, Outcome::Ok), o.len());
    let v = verdicts(s, Time::ZERO);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[&only] > 900, "{v:?}");
    let (events, verdict) = linearizability(s);
    assert_eq!(verdict.ok, Some(true), "{verdict:?}");
    assert_eq!(verdict.ops, o.len() + s.node_outstanding(), "one operation per request sent");
    assert!(events.iter().all(|e| e.f == Function::Add));
}

#[test]
fn fault_free_run_is_unanimous_and_ok() {
    all_ok_with(&mut sim(3, 1), Verdict::Unanimous);
}

#[test]
fn one_crashed_replica_is_masked() {
    let mut s = sim(3, 1);
    s.sim.crash(NodeId(1));
    all_ok_with(&mut s, Verdict::Majority);
}

#[test]
fn one_corrupting_replica_is_outvoted() {
    let mut s = sim(3, 1);
    s.falsify(&[NodeId(2)], false);
    all_ok_with(&mut s, Verdict::Majority);
    assert!(s.sim.stats(NodeId(2)).interposer.falsified > 900, "the interposer falsified its results");
}

#[test]
fn two_independent_corrupters_give_no_majority_and_failures_but_never_wrong() {
    let mut s = sim(3, 1);
    s.falsify(&[NodeId(1), NodeId(2)], false);
    s.sim.start();
    s.run_until(END);
    let o = outcomes(&s, END, 900);
    assert_eq!(count(&o, Outcome::Failed), o.len());
    assert_eq!(count(&o, Outcome::Wrong), 0);
    let v = verdicts(&s, Time::ZERO);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[&Verdict::NoMajority] > 900);
    assert!(!s.log().any(|(_, _, _, m)| matches!(m, Msg::Output { .. })), "nothing forwarded");
    // Every request unknown: they may all have taken effect, or none.
    let (events, verdict) = linearizability(&s);
    assert_eq!(verdict.ok, Some(true), "{verdict:?}");
    assert!(!events.iter().any(|e| e.kind == EventType::Ok));
}

#[test]
fn two_colluding_replicas_outvote_the_truth_and_the_oracle_sees_it() {
    let mut s = sim(3, 1);
    s.falsify(&[NodeId(0), NodeId(2)], true);
    s.sim.start();
    s.run_until(END);
    let o = outcomes(&s, END, 900);
    assert_eq!(count(&o, Outcome::Wrong), o.len());
    let v = verdicts(&s, Time::ZERO);
    assert!(v[&Verdict::Majority] > 900, "{v:?}");
    let (_, verdict) = linearizability(&s);
    assert_eq!(verdict.ok, Some(false), "{verdict:?}");
}

#[test]
fn colluders_mid_run_make_the_history_non_linearizable_at_their_first_lie() {
    let mut s = sim(3, 1);
    s.sim.start();
    s.run_until(Time::from_millis(500));
    s.falsify(&[NodeId(0), NodeId(2)], true);
    s.run_until(END);
    let (_, verdict) = linearizability(&s);
    assert_eq!(verdict.ok, Some(false), "{verdict:?}");
    let anomaly = verdict.anomaly.expect("an anomaly");
    // Each request is its own process, numbered by its sequence number.
    let reported = |o: &workloads::history::Operation| match o.value {
        Value::Pair([_, Some(balance)]) => balance,
        other => panic!("an ok add reports its balance: {other:?}"),
    };
    let (lie, before) = anomaly.ops.split_last().expect("not empty");
    assert_ne!(reported(lie), right_balance(lie.process), "the witness ends with a lie: {anomaly:?}");
    assert!(lie.invoke >= Time::from_millis(499), "{lie:?}");
    // With every earlier request on its account, answered right.
    let earlier: Vec<u64> =
        (1..lie.process).filter(|seq| u64::from(Op::for_seq(*seq).account) == anomaly.key).collect();
    assert!(!earlier.is_empty());
    assert_eq!(before.iter().map(|o| o.process).collect::<Vec<_>>(), earlier);
    for o in before {
        assert_eq!((o.key, reported(o)), (anomaly.key, right_balance(o.process)), "{o:?}");
    }
}

#[test]
fn three_voters_with_one_crashed_still_answer() {
    let mut s = sim(3, 3);
    s.sim.crash(s.config.voters[1]);
    s.sim.start();
    s.run_until(END);
    let o = outcomes(&s, END, 900);
    assert_eq!(count(&o, Outcome::Ok), o.len());
}

#[test]
fn restarted_replica_transfers_state_then_votes_correctly() {
    let mut s = sim(3, 1);
    let r = NodeId(1);
    s.sim.start();
    s.run_until(Time::from_millis(300));
    s.sim.crash(r);
    s.run_until(Time::from_millis(500));
    s.sim.restart(r);
    s.run_until(END);
    let o = outcomes(&s, END, 900);
    assert_eq!(count(&o, Outcome::Ok), o.len());
    let mine: Vec<_> = s.seen.iter().filter(|(_, n, _)| *n == r).collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!(
        mine[0],
        &(Time::from_millis(500), r, Observation::RecoveryStarted { reason: RecoveryReason::Restart })
    );
    let (done_at, _, Observation::RecoveryCompleted { seq, restore }) = mine[1] else {
        panic!("expected RecoveryCompleted, got {:?}", mine[1]);
    };
    assert!(*seq >= 500 && *restore < Duration::from_millis(5), "seq {seq} restore {restore:?}");
    assert_eq!(*done_at, Time::from_millis(500) + *restore);
    // Its results after recovery match replica 0's, and it sent none while down or recovering.
    let results = |who: NodeId| -> HashMap<u64, i64> {
        s.log()
            .filter_map(|(at, from, _, m)| match m {
                Msg::Result { seq, value } if from == who && at >= Time::from_millis(300) => {
                    Some((*seq, *value))
                }
                _ => None,
            })
            .collect()
    };
    let (theirs, mine) = (results(NodeId(0)), results(r));
    assert!(mine.len() > 450, "votes again: {}", mine.len());
    assert!(mine.keys().all(|k| *k > 300), "no vote between crash and recovery");
    for (seq, value) in &mine {
        assert_eq!(theirs.get(seq), Some(value), "seq {seq}");
    }
    assert!(verdicts(&s, *done_at + Duration::from_millis(25))[&Verdict::Unanimous] > 400);
    assert_eq!(replica(&s, r).snapshot(), replica(&s, NodeId(0)).snapshot());
}

#[test]
fn a_lost_request_makes_the_replica_catch_up_by_state_transfer() {
    let mut s = sim(3, 1);
    let r = NodeId(2);
    s.sim.start();
    lose_one(&mut s.sim, &[r], LINK, |m| matches!(m, Msg::Request { seq: 100, .. }));
    s.run_until(END);
    assert_eq!(s.sim.stats(r).interposer.dropped_receive, 1, "the interposer lost it");
    let o = outcomes(&s, END, 900);
    assert_eq!(count(&o, Outcome::Ok), o.len());
    let mine: Vec<_> = s.seen.iter().filter(|(_, n, _)| *n == r).map(|(_, _, o)| o).collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!(mine[0], &Observation::RecoveryStarted { reason: RecoveryReason::Gap });
    assert!(matches!(mine[1], Observation::RecoveryCompleted { seq, .. } if *seq > 100));
    assert!(
        s.log().any(|(_, _, to, m)| to == r && matches!(m, Msg::StateReply { .. })),
        "the gap was filled by a peer's state"
    );
    assert_eq!(replica(&s, r).snapshot(), replica(&s, NodeId(0)).snapshot());
    assert!(!replica(&s, r).is_recovering());
}

#[test]
fn open_loop_client_keeps_its_rate_while_nothing_answers() {
    let mut s = sim(3, 1);
    for r in s.config.replicas.clone() {
        s.sim.crash(r);
    }
    s.sim.start();
    s.run_until(Time::from_millis(999));
    let sent = |s: &Tmr| {
        s.log().filter(|(_, _, to, m)| *to == NodeId(0) && matches!(m, Msg::Request { .. })).count()
    };
    assert!((999..=1001).contains(&sent(&s)), "{}", sent(&s));
    s.run_until(Time::from_millis(2000));
    let n = sent(&s);
    assert!((2000..=2002).contains(&n), "{n}");
    let o = outcomes(&s, Time::from_millis(2000), 1900);
    assert_eq!(count(&o, Outcome::Failed), o.len());
}

#[test]
fn state_requests_are_retried_while_peers_are_down() {
    let mut s = sim(3, 1);
    s.sim.start();
    s.run_until(Time::from_millis(100));
    for r in [NodeId(0), NodeId(1), NodeId(2)] {
        s.sim.crash(r);
    }
    s.sim.restart(NodeId(0));
    s.run_until(Time::from_millis(200));
    let asks = s.log().filter(|(_, from, _, m)| *from == NodeId(0) && **m == Msg::StateRequest).count();
    assert!(asks >= 2 * 10, "asks again every gap_timeout: {asks}");
    s.sim.restart(NodeId(1));
    s.run_until(Time::from_millis(300));
    // Both lost their state, so neither can answer: the service stays down, never wrong.
    let o = outcomes(&s, Time::from_millis(300), 240);
    assert_eq!(count(&o, Outcome::Wrong), 0);
    assert!(count(&o, Outcome::Failed) > 100);
    for r in [NodeId(0), NodeId(1)] {
        assert!(replica(&s, r).is_recovering());
    }
}

#[test]
fn high_rate_run_is_all_ok_and_votes_stay_bounded() {
    let mut s = Tmr::new(config(3, 1, 50_000.0));
    s.sim.start();
    let end = Time::from_millis(200);
    s.run_until(end);
    let o = outcomes(&s, end, 7000);
    assert_eq!(count(&o, Outcome::Ok), o.len());
    let TmrNode::Voter(voter) = s.node(s.config.voters[0]) else { panic!("not a voter") };
    assert!(voter.open_votes() < 100, "{}", voter.open_votes());
}

#[test]
fn window_mode_keeps_the_window_full_and_rate_free() {
    let mut cfg = config(3, 1, 0.0);
    cfg.window = 8;
    let mut s = Tmr::new(cfg);
    s.sim.start();
    let end = Time::from_millis(1000);
    s.run_until(end);
    let TmrNode::Client(client) = s.node(s.config.clients[0]) else { panic!("not a client") };
    assert_eq!(client.outstanding(), 8);
    // Each round trip takes three 100 us hops: about 8 / 300 us = 26,667 requests/s.
    let o = outcomes(&s, end, 20_000);
    assert_eq!(count(&o, Outcome::Ok), o.len());
    assert!((26_000..=26_700).contains(&client.sent()), "{}", client.sent());
}

#[test]
fn a_request_lost_to_every_replica_fails_once_and_the_service_resumes() {
    let mut s = sim(3, 1);
    s.sim.start();
    let replicas = s.config.replicas.clone();
    lose_one(&mut s.sim, &replicas, LINK, |m| matches!(m, Msg::Request { seq: 100, .. }));
    s.run_until(END);
    let o = outcomes(&s, END, 900);
    assert_eq!(count(&o, Outcome::Wrong), 0);
    assert_eq!(o.get(&100), Some(&Outcome::Failed));
    // Requests after the gap fail at most while every replica recovers (here they catch up in time).
    let failed = count(&o, Outcome::Failed);
    assert!((1..=80).contains(&failed), "{failed}");
    assert!((800..=1000).contains(&o.keys().filter(|k| **k > 200).count()));
    assert!(o.iter().filter(|(k, _)| **k > 200).all(|(_, v)| *v == Outcome::Ok));
    let peer = |i: u16| replica(&s, NodeId(i)).snapshot();
    assert_eq!(peer(0), peer(1));
    assert_eq!(peer(1), peer(2));
}
