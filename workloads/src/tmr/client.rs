//! The open-loop client: sends requests at a fixed rate to every replica and
//! judges each voted reply against its own copy of the ledger (the oracle).
//!
//! It also records its history for the linearizability check: each request
//! adds its delta to one account (the key) and returns the balance, an
//! `add` of `[delta, balance]`. An open-loop client has many requests
//! outstanding, so each request is its own process (numbered by its
//! sequence number), as Jepsen's open-loop clients do. A voted reply within
//! the deadline ends it `ok` with the voted balance, right or wrong (the
//! checker, not the oracle, decides whether some order explains it); no
//! voted reply by the deadline ends it `info`: it may have taken effect.
//! Everything a step needs follows from the sequence number, so recording
//! keeps no state per request beyond what judging it does. In window mode,
//! which benchmarks run, it records nothing: two more observations per
//! request would cost the throughput it measures.

use super::ledger::{Ledger, Op};
use super::{Config, Msg, TICK, TICK_TIMER};
use crate::history::{EventType, Function, Step};
use crate::{Effects, NodeId, Observation, Outcome, Time, TimerId};
use std::collections::VecDeque;
use std::time::Duration;

/// Voters a client counts replies from at most (more would be ignored).
const MAX_VOTERS: usize = 8;

/// Bounds of the requests a client keeps outstanding (sent and not yet
/// retired). A healthy service keeps about rate × latency outstanding and an
/// outage rate × deadline; the client allows twice the latter, at least
/// `MIN_OUTSTANDING`, and never more than `MAX_OUTSTANDING` (about 100 bytes
/// each here, plus their frames in the agent's queues). Past the bound a due
/// request is not sent but counted as unsent, so a rate the service (or the
/// client's own host) cannot keep up with costs availability, not memory.
pub const MIN_OUTSTANDING: usize = 1024;
/// See [`MIN_OUTSTANDING`].
pub const MAX_OUTSTANDING: usize = 65_536;

/// A request sent and not yet judged, or judged but behind an older one still open.
#[derive(Clone, Debug, Hash)]
struct Pending {
    sent: Time,
    expected: i64,
    /// Which voters replied (bit per voter index) and what they said.
    replied: u8,
    values: [i64; MAX_VOTERS],
    decided: bool,
}

/// The client's state.
#[derive(Clone, Debug)]
pub struct Client {
    replicas: Vec<NodeId>,
    voters: Vec<NodeId>,
    rate: f64,
    window: usize,
    deadline: Duration,
    oracle: Ledger,
    start: Option<Time>,
    /// The next sequence number to send (the first is 1).
    next_seq: u64,
    /// Requests with consecutive sequence numbers, the oldest first; the front is `front_seq`.
    pending: VecDeque<Pending>,
    front_seq: u64,
    undecided: usize,
    /// The bound on `pending` (rate mode only).
    max_outstanding: usize,
    /// Requests due that could not be sent.
    unsent: u64,
    /// Whether to record the history (not in window mode).
    history: bool,
}

/// The client's state (its rate by its bits), for a model checker's fingerprints.
impl std::hash::Hash for Client {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let Client {
            replicas,
            voters,
            rate,
            window,
            deadline,
            oracle,
            start,
            next_seq,
            pending,
            front_seq,
            undecided,
            max_outstanding,
            unsent,
            history,
        } = self;
        (replicas, voters, rate.to_bits(), window, deadline, oracle, start, next_seq).hash(h);
        (pending, front_seq, undecided, max_outstanding, unsent, history).hash(h);
    }
}

impl Client {
    /// A client for `config`, sending nothing until started.
    pub fn new(config: &Config) -> Client {
        let rate = if config.rate.is_finite() && config.rate > 0.0 { config.rate } else { 0.0 };
        let at_deadline = (2.0 * rate * config.deadline.as_secs_f64()).ceil();
        let max_outstanding = if at_deadline >= MAX_OUTSTANDING as f64 {
            MAX_OUTSTANDING
        } else {
            (at_deadline as usize).max(MIN_OUTSTANDING)
        };
        Client {
            replicas: config.replicas.clone(),
            voters: config.voters.iter().copied().take(MAX_VOTERS).collect(),
            rate,
            window: config.window,
            deadline: config.deadline,
            oracle: Ledger::new(),
            start: None,
            next_seq: 1,
            pending: VecDeque::new(),
            front_seq: 1,
            undecided: 0,
            max_outstanding,
            unsent: 0,
            history: config.window == 0,
        }
    }

    /// Requests due at the rate that could not be sent (the bound on
    /// outstanding requests was reached).
    pub fn unsent(&self) -> u64 {
        self.unsent
    }

    /// The bound on outstanding requests in rate mode.
    pub fn max_outstanding(&self) -> usize {
        self.max_outstanding
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.next_seq - 1
    }

    /// Requests sent and not yet judged.
    pub fn outstanding(&self) -> usize {
        self.undecided
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.start = Some(now);
        self.send_due(now, out);
        out.set_timer(TICK, TICK_TIMER);
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Msg::Output { seq, value } = msg else { return };
        self.expire(now, out);
        let Some(voter) = self.voters.iter().position(|v| *v == from) else { return };
        let Some(index) = seq.checked_sub(self.front_seq) else { return };
        let majority = self.voters.len() / 2 + 1;
        let Some(p) = usize::try_from(index).ok().and_then(|i| self.pending.get_mut(i)) else { return };
        let bit = 1u8 << voter;
        if p.decided || p.replied & bit != 0 {
            return;
        }
        p.replied |= bit;
        p.values[voter] = value;
        let agreeing =
            (0..self.voters.len()).filter(|i| p.replied & (1 << i) != 0 && p.values[*i] == value).count();
        if agreeing < majority {
            return;
        }
        p.decided = true;
        self.undecided -= 1;
        let outcome = if value == p.expected { Outcome::Ok } else { Outcome::Wrong };
        out.emit(Observation::Request { seq, sent: p.sent, outcome, latency: Some(now.since(p.sent)) });
        self.record(seq, EventType::Ok, Some(value), out);
        while self.pending.front().is_some_and(|p| p.decided) {
            self.pending.pop_front();
            self.front_seq += 1;
        }
        if self.window > 0 {
            self.send_due(now, out);
        }
    }

    pub(super) fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        if timer != TICK_TIMER {
            return;
        }
        self.expire(now, out);
        self.send_due(now, out);
        out.set_timer(TICK, TICK_TIMER);
    }

    /// Record one step of request `seq` in the history, unless in window mode.
    fn record(&self, seq: u64, kind: EventType, balance: Option<i64>, out: &mut Effects<Msg>) {
        if self.history {
            out.emit(Observation::History(step(seq, kind, balance)));
        }
    }

    /// Judge as failed every request whose deadline passed without a decision.
    /// Send times grow with the sequence number, so only the front needs looking at.
    fn expire(&mut self, now: Time, out: &mut Effects<Msg>) {
        while let Some(p) = self.pending.front() {
            if !p.decided {
                if now <= p.sent + self.deadline {
                    break;
                }
                out.emit(Observation::Request {
                    seq: self.front_seq,
                    sent: p.sent,
                    outcome: Outcome::Failed,
                    latency: None,
                });
                self.record(self.front_seq, EventType::Info, None, out);
                self.undecided -= 1;
            }
            self.pending.pop_front();
            self.front_seq += 1;
        }
    }

    /// Send every request due since the start (no drift), within the window if one is set.
    fn send_due(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Some(start) = self.start else { return };
        let due = if self.rate > 0.0 {
            (now.since(start).as_nanos() as f64 * self.rate / 1e9).floor() as u64 + 1
        } else if self.window > 0 {
            u64::MAX
        } else {
            0
        };
        while self.sent() + self.unsent < due && (self.window == 0 || self.undecided < self.window) {
            if self.rate > 0.0 && self.pending.len() >= self.max_outstanding {
                // Everything due now is given up at once: no backlog builds up.
                let count = due - self.sent() - self.unsent;
                self.unsent += count;
                out.emit(Observation::Unsent { count, at: now });
                break;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            let op = Op::for_seq(seq);
            let expected = self.oracle.apply(seq, op);
            self.record(seq, EventType::Invoke, None, out);
            for r in &self.replicas {
                out.send(*r, Msg::Request { seq, op });
            }
            self.pending.push_back(Pending {
                sent: now,
                expected,
                replied: 0,
                values: [0; MAX_VOTERS],
                decided: false,
            });
            self.undecided += 1;
        }
    }
}

/// Request `seq` in the history: process `seq` adds the request's delta to
/// its account; `balance` is what the completion reports.
fn step(seq: u64, kind: EventType, balance: Option<i64>) -> Step {
    let op = Op::for_seq(seq);
    Step {
        process: seq,
        kind,
        f: Function::Add,
        key: u64::from(op.account),
        value: balance,
        expected: Some(i64::from(op.delta)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::config;
    use super::*;

    fn requests(out: &Effects<Msg>) -> Vec<u64> {
        out.sends
            .iter()
            .filter_map(|(to, m)| match m {
                Msg::Request { seq, .. } if *to == NodeId(0) => Some(*seq),
                _ => None,
            })
            .collect()
    }

    /// The request judgements among the observations.
    fn judged(out: &Effects<Msg>) -> Vec<Observation> {
        out.observations.iter().filter(|o| matches!(o, Observation::Request { .. })).cloned().collect()
    }

    fn oracle_value(seq: u64) -> i64 {
        let mut l = Ledger::new();
        (1..=seq).map(|s| l.apply(s, Op::for_seq(s))).last().unwrap_or(0)
    }

    #[test]
    fn judges_first_output_with_one_voter_and_ignores_late_and_duplicate_replies() {
        let cfg = config(3, 1, 1000.0);
        let mut c = Client::new(&cfg);
        let mut out = Effects::new();
        c.on_start(Time::from_millis(0), &mut out);
        assert_eq!(requests(&out), vec![1]);
        out.clear();
        c.on_timer(Time::from_millis(2), TICK_TIMER, &mut out);
        assert_eq!(requests(&out), vec![2, 3]);
        out.clear();
        let voter = cfg.voters[0];
        c.on_message(Time::from_millis(3), voter, Msg::Output { seq: 2, value: oracle_value(2) }, &mut out);
        c.on_message(Time::from_millis(4), voter, Msg::Output { seq: 3, value: 12345 }, &mut out);
        c.on_message(Time::from_millis(5), voter, Msg::Output { seq: 3, value: oracle_value(3) }, &mut out);
        let obs = judged(&out);
        out.observations.clear();
        assert_eq!(
            obs,
            vec![
                Observation::Request {
                    seq: 2,
                    sent: Time::from_millis(2),
                    outcome: Outcome::Ok,
                    latency: Some(Duration::from_millis(1))
                },
                Observation::Request {
                    seq: 3,
                    sent: Time::from_millis(2),
                    outcome: Outcome::Wrong,
                    latency: Some(Duration::from_millis(2))
                },
            ]
        );
        // Seq 1's deadline (50 ms) passes: failed, and a reply after that is ignored.
        c.on_message(Time::from_millis(51), voter, Msg::Output { seq: 1, value: oracle_value(1) }, &mut out);
        let failed: Vec<_> =
            out.observations.iter().filter(|o| matches!(o, Observation::Request { seq: 1, .. })).collect();
        assert_eq!(
            failed,
            vec![&Observation::Request {
                seq: 1,
                sent: Time::from_millis(0),
                outcome: Outcome::Failed,
                latency: None
            }]
        );
    }

    #[test]
    fn three_voters_need_two_agreeing_outputs() {
        let cfg = config(3, 3, 1000.0);
        let mut c = Client::new(&cfg);
        let mut out = Effects::new();
        c.on_start(Time::ZERO, &mut out);
        out.clear();
        let right = oracle_value(1);
        c.on_message(Time::from_millis(1), cfg.voters[0], Msg::Output { seq: 1, value: right + 1 }, &mut out);
        c.on_message(Time::from_millis(1), cfg.voters[1], Msg::Output { seq: 1, value: right }, &mut out);
        assert!(out.observations.is_empty(), "voters disagree: keep waiting");
        c.on_message(Time::from_millis(2), cfg.voters[1], Msg::Output { seq: 1, value: right }, &mut out);
        assert!(out.observations.is_empty(), "a duplicate from one voter is not a second vote");
        c.on_message(Time::from_millis(3), cfg.voters[2], Msg::Output { seq: 1, value: right }, &mut out);
        assert!(matches!(
            judged(&out).as_slice(),
            [Observation::Request { seq: 1, outcome: Outcome::Ok, .. }]
        ));
    }

    #[test]
    fn each_request_is_a_process_adding_to_its_account() {
        let cfg = config(3, 1, 1000.0);
        let mut c = Client::new(&cfg);
        let mut out = Effects::new();
        c.on_start(Time::ZERO, &mut out);
        c.on_timer(Time::from_millis(2), TICK_TIMER, &mut out);
        let invoked = out.history();
        assert_eq!(invoked.len(), 3, "one invocation per request sent: {invoked:?}");
        for (s, seq) in invoked.iter().zip(1u64..) {
            let op = Op::for_seq(seq);
            let want = Step {
                process: seq,
                kind: EventType::Invoke,
                f: Function::Add,
                key: u64::from(op.account),
                value: None,
                expected: Some(i64::from(op.delta)),
            };
            assert_eq!(*s, want);
        }
        out.clear();
        let voter = cfg.voters[0];
        // Seq 2 answered right, seq 3 wrong: both ok, with the balance the voter gave.
        c.on_message(Time::from_millis(3), voter, Msg::Output { seq: 2, value: oracle_value(2) }, &mut out);
        c.on_message(Time::from_millis(3), voter, Msg::Output { seq: 3, value: 777 }, &mut out);
        // Seq 1 gets no voted reply: past its deadline it is unknown, and a
        // reply after that changes nothing.
        c.on_timer(Time::from_millis(51), TICK_TIMER, &mut out);
        c.on_message(Time::from_millis(52), voter, Msg::Output { seq: 1, value: oracle_value(1) }, &mut out);
        let done: Vec<_> = out.history().into_iter().filter(|s| s.kind != EventType::Invoke).collect();
        let completion = |seq: u64, kind, value| Step { kind, value, ..invoked[seq as usize - 1] };
        assert_eq!(
            done,
            vec![
                completion(2, EventType::Ok, Some(oracle_value(2))),
                completion(3, EventType::Ok, Some(777)),
                completion(1, EventType::Info, None),
            ]
        );
    }

    #[test]
    fn a_rate_beyond_reach_is_counted_unsent_not_queued() {
        // 100 million per second against a service that never answers.
        let cfg = config(3, 1, 1e8);
        let mut c = Client::new(&cfg);
        assert_eq!(c.max_outstanding(), MAX_OUTSTANDING);
        let mut out = Effects::new();
        c.on_start(Time::ZERO, &mut out);
        let mut unsent_seen = 0;
        let mut sends = out.sends.len();
        for ms in 1..=200u64 {
            out.clear();
            c.on_timer(Time::from_millis(ms), TICK_TIMER, &mut out);
            sends += out.sends.len();
            for o in &out.observations {
                if let Observation::Unsent { count, at } = o {
                    assert_eq!(*at, Time::from_millis(ms));
                    unsent_seen += count;
                }
            }
            assert!(c.pending.len() <= MAX_OUTSTANDING, "at {ms} ms: {}", c.pending.len());
        }
        // Every request due by 200 ms was either sent or counted, once.
        assert_eq!(c.sent() + c.unsent(), 20_000_001);
        assert_eq!(unsent_seen, c.unsent());
        assert!(c.unsent() > 19_000_000, "{}", c.unsent());
        // The sends match what was counted as sent (three replicas each).
        assert_eq!(sends as u64, 3 * c.sent());
    }

    #[test]
    fn a_reachable_rate_sends_everything_even_through_an_outage() {
        // 2000/s, nothing answered for a second: failed by deadline, none unsent.
        let cfg = config(3, 1, 2000.0);
        let mut c = Client::new(&cfg);
        assert_eq!(c.max_outstanding(), MIN_OUTSTANDING);
        let mut out = Effects::new();
        c.on_start(Time::ZERO, &mut out);
        for ms in 1..=1000u64 {
            c.on_timer(Time::from_millis(ms), TICK_TIMER, &mut out);
        }
        assert_eq!(c.unsent(), 0);
        assert_eq!(c.sent(), 2001);
        assert!(!out.observations.iter().any(|o| matches!(o, Observation::Unsent { .. })));
    }

    #[test]
    fn window_mode_keeps_exactly_window_requests_outstanding() {
        let mut cfg = config(3, 1, 0.0);
        cfg.window = 4;
        let mut c = Client::new(&cfg);
        let mut out = Effects::new();
        c.on_start(Time::ZERO, &mut out);
        assert_eq!(requests(&out), vec![1, 2, 3, 4]);
        out.clear();
        c.on_timer(Time::from_millis(1), TICK_TIMER, &mut out);
        assert!(requests(&out).is_empty());
        c.on_message(Time::from_millis(2), cfg.voters[0], Msg::Output { seq: 3, value: 0 }, &mut out);
        assert_eq!(requests(&out), vec![5]);
        assert_eq!(c.outstanding(), 4);
        assert!(judged(&out).len() == 1 && out.history().is_empty(), "a benchmark records no history");
    }
}
