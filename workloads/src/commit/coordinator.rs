//! The commit coordinator: starts transactions, collects votes, decides, and
//! after a crash recovers from its stable log.

use super::{CommitEvent, Config, Msg, Protocol, State};
use crate::checkpoint::stable;
use crate::{Effects, NodeId, Observation, StableRecords, Time, TimerId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The coordinator's log on stable storage.
const LOG: &str = "commit-coordinator";

/// The periodic timer that starts transactions.
const TICK: TimerId = TimerId(u64::MAX);

/// One record of the coordinator's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct LogRecord {
    txn: u64,
    state: State,
}

/// The coordinator's view of one transaction.
#[derive(Clone, Debug, Hash)]
struct Txn {
    state: State,
    yes: BTreeSet<NodeId>,
    acks: BTreeSet<NodeId>,
    /// Every vote is yes and the decision (or PRECOMMIT) is being logged.
    deciding: bool,
}

/// Timers per transaction: the low two bits say which.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Which {
    /// Not every vote came in time.
    VoteTimeout = 0,
    /// The decision (2PC) or PRECOMMIT (3PC) is on the log.
    Logged = 1,
    /// 3PC: not every acknowledgement came in time.
    AckTimeout = 2,
    /// Recovery: ask the participants again.
    Ask = 3,
}

fn timer(txn: u64, which: Which) -> TimerId {
    TimerId(txn << 2 | which as u64)
}

/// The commit coordinator.
#[derive(Clone, Debug)]
pub struct Coordinator {
    config: Config,
    txns: BTreeMap<u64, Txn>,
    last: Option<u64>,
    /// Transactions found undecided in the log at restart.
    in_doubt: Vec<u64>,
}

/// The coordinator's state without its configuration (the same in every
/// state of a run), for a model checker's fingerprints.
impl std::hash::Hash for Coordinator {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let Coordinator { config: _, txns, last, in_doubt } = self;
        (txns, last, in_doubt).hash(h);
    }
}

impl Coordinator {
    /// A coordinator, rebuilding its transactions from its log.
    pub fn new(config: &Config, records: &StableRecords) -> Coordinator {
        let mut txns: BTreeMap<u64, Txn> = BTreeMap::new();
        for r in stable::read_log::<LogRecord>(records, LOG) {
            let t = txns.entry(r.txn).or_insert_with(|| Txn {
                state: State::Init,
                yes: BTreeSet::new(),
                acks: BTreeSet::new(),
                deciding: false,
            });
            t.state = r.state;
        }
        let in_doubt = txns.iter().filter(|(_, t)| !final_state(t.state)).map(|(id, _)| *id).collect();
        let last = txns.keys().next_back().copied();
        Coordinator { config: config.clone(), txns, last, in_doubt }
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        let in_doubt = std::mem::take(&mut self.in_doubt);
        if !in_doubt.is_empty() || self.last.is_some() {
            out.emit(Observation::Commit(CommitEvent::Recovered { in_doubt: in_doubt.len() as u64 }));
        }
        for txn in in_doubt {
            match self.config.protocol {
                // It logs COMMIT before sending it: an undecided transaction was never committed.
                Protocol::TwoPhase => self.decide(txn, false, out),
                // The participants may have terminated either way: ask them.
                Protocol::ThreePhase => self.ask(txn, out),
            }
        }
        let n = self.interval_nanos();
        let next = (now.as_nanos() / n + 1) * n;
        out.set_timer(std::time::Duration::from_nanos(next - now.as_nanos()), TICK);
    }

    fn interval_nanos(&self) -> u64 {
        u64::try_from(self.config.interval.as_nanos()).unwrap_or(u64::MAX).max(1)
    }

    fn log(&self, txn: u64, state: State, out: &mut Effects<Msg>) {
        out.store(stable::append(LOG, &[LogRecord { txn, state }]).0);
    }

    fn broadcast(&self, msg: &Msg, out: &mut Effects<Msg>) {
        for &p in &self.config.participants {
            out.send(p, msg.clone());
        }
    }

    fn ask(&self, txn: u64, out: &mut Effects<Msg>) {
        self.broadcast(&Msg::DecisionRequest { txn }, out);
        out.set_timer(self.config.timeout, timer(txn, Which::Ask));
    }

    /// Start a transaction: log START, ask for votes.
    fn begin(&mut self, now: Time, out: &mut Effects<Msg>) {
        // Numbered by the shared clock so that numbers are not reused after a restart.
        let by_clock = now.as_nanos() / self.interval_nanos();
        let txn = match self.last {
            Some(l) if l >= by_clock => l + 1,
            _ => by_clock,
        };
        self.last = Some(txn);
        let t = Txn { state: State::Ready, yes: BTreeSet::new(), acks: BTreeSet::new(), deciding: false };
        self.txns.insert(txn, t);
        // The coordinator's WAIT is logged as START (State::Ready stands for it).
        self.log(txn, State::Ready, out);
        out.emit(Observation::Commit(CommitEvent::Started { txn }));
        self.broadcast(&Msg::VoteRequest { txn }, out);
        out.set_timer(self.config.timeout, timer(txn, Which::VoteTimeout));
        // Keep the table small: decided transactions older than a minute of intervals go.
        let keep = txn.saturating_sub(600);
        self.txns.retain(|id, t| *id >= keep || !final_state(t.state));
    }

    /// Log and announce the outcome (once).
    fn decide(&mut self, txn: u64, commit: bool, out: &mut Effects<Msg>) {
        let Some(t) = self.txns.get_mut(&txn) else { return };
        if final_state(t.state) {
            return;
        }
        t.state = if commit { State::Commit } else { State::Abort };
        let state = t.state;
        self.log(txn, state, out);
        out.emit(Observation::Commit(CommitEvent::Decided { txn, commit }));
        self.broadcast(&Msg::Decision { txn, commit }, out);
    }

    pub(super) fn on_message(&mut self, _now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let n = self.config.participants.len();
        match msg {
            Msg::Vote { txn, commit } => {
                let Some(t) = self.txns.get_mut(&txn) else { return };
                if t.state != State::Ready || t.deciding {
                    return;
                }
                if !commit {
                    self.decide(txn, false, out);
                    return;
                }
                t.yes.insert(from);
                if t.yes.len() == n {
                    t.deciding = true;
                    out.set_timer(self.config.decide_after, timer(txn, Which::Logged));
                }
            }
            Msg::Ack { txn } => {
                let Some(t) = self.txns.get_mut(&txn) else { return };
                if t.state != State::PreCommit {
                    return;
                }
                t.acks.insert(from);
                if t.acks.len() == n {
                    self.decide(txn, true, out);
                }
            }
            Msg::DecisionRequest { txn } => match self.txns.get(&txn).map(|t| t.state) {
                Some(State::Commit) => out.send(from, Msg::Decision { txn, commit: true }),
                Some(State::Abort) => out.send(from, Msg::Decision { txn, commit: false }),
                // Never started here (or forgotten long ago after an abort): abort is safe.
                None => out.send(from, Msg::Decision { txn, commit: false }),
                // Still deciding: the participant stays blocked (2PC) or waits.
                Some(_) => {}
            },
            // A participant's answer while this coordinator recovers (3PC).
            Msg::Decision { txn, commit } => self.decide(txn, commit, out),
            Msg::StateReply { txn, state } => match state {
                State::Commit => self.decide(txn, true, out),
                State::Abort => self.decide(txn, false, out),
                _ => {}
            },
            Msg::VoteRequest { .. } | Msg::PreCommit { .. } | Msg::StateRequest { .. } => {}
        }
    }

    pub(super) fn on_timer(&mut self, now: Time, id: TimerId, out: &mut Effects<Msg>) {
        if id == TICK {
            self.begin(now, out);
            out.set_timer(self.config.interval, TICK);
            return;
        }
        let txn = id.0 >> 2;
        let Some(t) = self.txns.get_mut(&txn) else { return };
        match id.0 & 3 {
            0 => {
                // WAIT timed out with votes missing: abort.
                if t.state == State::Ready && !t.deciding {
                    self.decide(txn, false, out);
                }
            }
            1 => {
                if t.state != State::Ready {
                    return;
                }
                match self.config.protocol {
                    Protocol::TwoPhase => self.decide(txn, true, out),
                    Protocol::ThreePhase => {
                        t.state = State::PreCommit;
                        self.log(txn, State::PreCommit, out);
                        self.broadcast(&Msg::PreCommit { txn }, out);
                        out.set_timer(self.config.timeout, timer(txn, Which::AckTimeout));
                    }
                }
            }
            2 => {
                // PRECOMMIT timed out: everyone voted yes, so commit anyway.
                if t.state == State::PreCommit {
                    self.decide(txn, true, out);
                }
            }
            _ => {
                if !final_state(t.state) {
                    self.ask(txn, out);
                }
            }
        }
    }
}

/// COMMIT and ABORT are final.
pub(super) fn final_state(s: State) -> bool {
    matches!(s, State::Commit | State::Abort)
}
