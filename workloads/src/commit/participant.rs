//! A commit participant: votes, waits for the outcome, and when the
//! coordinator falls silent runs cooperative termination (2PC, which can
//! block) or the termination protocol (3PC, which does not).

use super::coordinator::final_state;
use super::{Bug, CommitEvent, Config, Msg, Protocol, State};
use crate::tmr::ledger::mix;
use crate::{Effects, NodeId, Observation, Time, TimerId};
use std::collections::BTreeMap;

/// One transaction as this participant sees it.
#[derive(Clone, Debug, Hash)]
struct Txn {
    state: State,
    /// The first timeout (2PC: when it started asking).
    asked_at: Option<Time>,
    /// 2PC: blocked since (nobody could tell it the outcome).
    blocked_since: Option<Time>,
    /// 3PC termination: the rank of the participant acting as coordinator.
    rank: usize,
    /// 3PC termination, when this node leads: the states collected so far.
    states: Option<BTreeMap<NodeId, State>>,
}

/// Timers: the low bit tells the transaction timeout from the end of a termination round.
fn timeout_timer(txn: u64) -> TimerId {
    TimerId(txn << 1)
}

fn collect_timer(txn: u64) -> TimerId {
    TimerId(txn << 1 | 1)
}

/// A commit participant.
#[derive(Clone, Debug)]
pub struct Participant {
    me: NodeId,
    config: Config,
    txns: BTreeMap<u64, Txn>,
}

/// A participant's state without its configuration (the same in every
/// state of a run), for a model checker's fingerprints.
impl std::hash::Hash for Participant {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let Participant { me, config: _, txns } = self;
        (me, txns).hash(h);
    }
}

impl Participant {
    /// Participant `me`.
    pub fn new(me: NodeId, config: &Config) -> Participant {
        Participant { me, config: config.clone(), txns: BTreeMap::new() }
    }

    /// Its vote on `txn`: yes unless the seeded draw falls under the abort probability.
    fn vote(&self, txn: u64) -> bool {
        let draw = mix(self.config.seed ^ mix(txn ^ u64::from(self.me.0) << 48)) as f64 / u64::MAX as f64;
        draw >= self.config.abort_probability
    }

    fn txn(&mut self, txn: u64) -> &mut Txn {
        self.txns.entry(txn).or_insert(Txn {
            state: State::Init,
            asked_at: None,
            blocked_since: None,
            rank: 0,
            states: None,
        })
    }

    fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.config.participants.iter().copied().filter(move |p| *p != self.me)
    }

    /// Reach the final state (once), reporting how long it was blocked.
    fn finish(&mut self, now: Time, txn: u64, commit: bool, out: &mut Effects<Msg>) {
        let t = self.txn(txn);
        if final_state(t.state) {
            return;
        }
        t.state = if commit { State::Commit } else { State::Abort };
        t.states = None;
        let blocked = t.blocked_since.take();
        if let Some(since) = blocked {
            out.emit(Observation::Commit(CommitEvent::Unblocked { txn, blocked: now.since(since) }));
        }
        out.emit(Observation::Commit(CommitEvent::Decided { txn, commit }));
        // Forget old decided transactions.
        let keep = txn.saturating_sub(600);
        self.txns.retain(|id, t| *id >= keep || !final_state(t.state));
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let timeout = self.config.timeout;
        match msg {
            Msg::VoteRequest { txn } => {
                let yes = self.vote(txn);
                let t = self.txn(txn);
                match t.state {
                    State::Init if yes => {
                        t.state = State::Ready;
                        out.send(from, Msg::Vote { txn, commit: true });
                        out.set_timer(timeout, timeout_timer(txn));
                    }
                    State::Init => {
                        out.send(from, Msg::Vote { txn, commit: false });
                        self.finish(now, txn, false, out);
                    }
                    // Already aborted (a peer's question reached it first): it must vote no.
                    State::Abort => out.send(from, Msg::Vote { txn, commit: false }),
                    _ => {}
                }
            }
            Msg::PreCommit { txn } => {
                let t = self.txn(txn);
                if matches!(t.state, State::Ready | State::PreCommit) {
                    t.state = State::PreCommit;
                    out.send(from, Msg::Ack { txn });
                    out.set_timer(timeout, timeout_timer(txn));
                }
            }
            Msg::Decision { txn, commit } => self.finish(now, txn, commit, out),
            Msg::DecisionRequest { txn } => {
                let t = self.txn(txn);
                match t.state {
                    State::Commit => out.send(from, Msg::Decision { txn, commit: true }),
                    State::Abort => out.send(from, Msg::Decision { txn, commit: false }),
                    // Never asked to vote: it can abort safely, and will vote no.
                    State::Init => {
                        out.send(from, Msg::Decision { txn, commit: false });
                        self.finish(now, txn, false, out);
                    }
                    // READY or PRECOMMIT: it knows no more than the asker.
                    State::Ready | State::PreCommit => {}
                }
            }
            Msg::StateRequest { txn } => {
                let t = self.txn(txn);
                let state = t.state;
                if state == State::Init {
                    // It answers INIT, so the new coordinator aborts: it must not vote yes later.
                    self.finish(now, txn, false, out);
                }
                // A termination leader is alive: wait for it rather than lead.
                let t = self.txn(txn);
                if !final_state(t.state) {
                    out.set_timer(timeout, timeout_timer(txn));
                }
                out.send(from, Msg::StateReply { txn, state });
            }
            Msg::StateReply { txn, state } => {
                let t = self.txn(txn);
                if let Some(states) = t.states.as_mut() {
                    states.insert(from, state);
                }
            }
            Msg::Vote { .. } | Msg::Ack { .. } => {}
        }
    }

    pub(super) fn on_timer(&mut self, now: Time, id: TimerId, out: &mut Effects<Msg>) {
        let txn = id.0 >> 1;
        if id == collect_timer(txn) {
            self.terminate(now, txn, out);
            return;
        }
        let Some(t) = self.txns.get(&txn) else { return };
        if final_state(t.state) || t.state == State::Init {
            return;
        }
        match self.config.protocol {
            Protocol::TwoPhase if self.config.bugs.contains(&Bug::ParticipantPresumesCommit) => {
                if t.state == State::Ready {
                    self.finish(now, txn, true, out);
                }
            }
            Protocol::TwoPhase => self.ask(now, txn, out),
            Protocol::ThreePhase => self.elect(now, txn, out),
        }
    }

    /// 2PC: ask the coordinator and every peer; blocked if the last round taught it nothing.
    fn ask(&mut self, now: Time, txn: u64, out: &mut Effects<Msg>) {
        let coordinator = self.config.coordinator;
        let peers: Vec<NodeId> = self.peers().collect();
        let t = self.txn(txn);
        match t.asked_at {
            None => t.asked_at = Some(now),
            Some(asked) if t.blocked_since.is_none() => {
                t.blocked_since = Some(asked);
                out.emit(Observation::Commit(CommitEvent::Blocked { txn, since: asked }));
            }
            Some(_) => {}
        }
        out.send(coordinator, Msg::DecisionRequest { txn });
        for p in peers {
            out.send(p, Msg::DecisionRequest { txn });
        }
        out.set_timer(self.config.timeout, timeout_timer(txn));
    }

    /// 3PC: the participant of the current rank leads the termination; a
    /// silent leader passes the role to the next rank.
    fn elect(&mut self, now: Time, txn: u64, out: &mut Effects<Msg>) {
        let n = self.config.participants.len();
        let me = self.me;
        let leader_rank = self.config.participants.iter().position(|p| *p == me).unwrap_or(0);
        let timeout = self.config.timeout;
        let peers: Vec<NodeId> = self.peers().collect();
        let t = self.txn(txn);
        if t.states.is_some() {
            return;
        }
        if t.asked_at.is_some() {
            // The leader of the last round did not finish: the next one takes over.
            t.rank = (t.rank + 1) % n.max(1);
        }
        t.asked_at = Some(now);
        if t.rank == leader_rank {
            let mut states = BTreeMap::new();
            states.insert(me, t.state);
            t.states = Some(states);
            for p in peers {
                out.send(p, Msg::StateRequest { txn });
            }
            out.set_timer(timeout / 2, collect_timer(txn));
        } else {
            out.set_timer(timeout, timeout_timer(txn));
        }
    }

    /// 3PC termination rule over the states collected.
    fn terminate(&mut self, now: Time, txn: u64, out: &mut Effects<Msg>) {
        let peers: Vec<NodeId> = self.peers().collect();
        let t = self.txn(txn);
        let Some(states) = t.states.take() else { return };
        if final_state(t.state) {
            return;
        }
        let any = |s: State| states.values().any(|x| *x == s);
        let commit = if any(State::Commit) {
            true
        } else if any(State::Abort) || any(State::Init) {
            false
        } else {
            // Someone in PRECOMMIT: everyone voted yes and nobody can have
            // aborted; bring the READY ones to PRECOMMIT, then commit.
            any(State::PreCommit)
        };
        if commit && any(State::Ready) {
            for &p in &peers {
                if states.get(&p) == Some(&State::Ready) {
                    out.send(p, Msg::PreCommit { txn });
                }
            }
        }
        for &p in &peers {
            out.send(p, Msg::Decision { txn, commit });
        }
        out.emit(Observation::Commit(CommitEvent::Terminated { txn, commit }));
        self.finish(now, txn, commit, out);
    }
}
