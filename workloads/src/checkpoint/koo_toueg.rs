//! Koo–Toueg coordinated checkpointing: a round involves only the processes
//! the initiator depends on, in two phases.
//!
//! Every message carries its sender's interval (the index of its last
//! permanent checkpoint); a process remembers, per peer, the latest interval
//! it received from since its own last permanent checkpoint.
//!
//! 1. Tentative: the initiator (any process, on its own timer) takes a
//!    tentative checkpoint and asks every process it received from to take
//!    one too — unless the message came before that process's last permanent
//!    checkpoint. A process asked takes a tentative checkpoint, asks the
//!    processes *it* depends on in turn, and answers the initiator with how
//!    many requests it sent on, so the initiator knows when every answer is
//!    in. From its tentative checkpoint to the decision a process sends no
//!    application message (it blocks), so its checkpoint cannot miss a send
//!    that a later receipt depends on.
//! 2. Permanent: if every process was willing, the initiator stores its
//!    decision and tells the participants to make their checkpoints
//!    permanent; if one was busy with another round, or the answers are not
//!    all in within half an interval (a process asked may have crashed),
//!    everyone discards (a participant whose answer comes later is told to
//!    discard then).
//!
//! The latest permanent checkpoints always form a consistent state, so a
//! recovery never dominoes. Rollback involves the same minimal set: the
//! restarted process gathers every process's state, settles the rounds in
//! flight (a tentative checkpoint is kept if its initiator decided to
//! commit), and rolls back only the processes that received from an undone
//! interval, transitively; the others keep their current state. After the
//! rollback every process resends the last hop of each token it sent (the
//! receivers drop duplicates), and messages sent in undone intervals are
//! discarded as orphans.
//!
//! Output commit: an output leaves once the process's permanent checkpoint
//! holds it.
//!
//! Overlapping failures: the recovery above gathers every process's state
//! once, so it assumes no other process fails until the rollback is out. A
//! second recovery that starts during one (a request reaches a process that
//! is itself recovering, or a process that answered one recovery is asked by
//! another), or a process that restarts after answering a recovery it never
//! saw settled, stops every process with an `Unrecoverable` report rather
//! than risk a state that is silently wrong. The recovering process crashing
//! again is tolerated: it asks the same peers again under the same epoch.

use super::bank::{Bank, Delivery, Transfer};
use super::core::{phase, Core};
use super::{stable, timer, CheckpointEvent, Config, Deps, Msg, RETRY};
use crate::{Effects, NodeId, Observation, StableRecords, Time, TimerId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A checkpoint round: (initiator, its sequence number).
pub type Round = (u16, u64);

/// A checkpoint as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Saved {
    at: Time,
    index: u64,
    bank: Bank,
}

/// A tentative checkpoint waiting for its round's decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Tentative {
    round: Round,
    saved: Saved,
    /// What the state after the tentative checkpoint received (per process, latest interval).
    #[serde(skip)]
    after: Deps,
    #[serde(skip)]
    since: Option<Time>,
}

/// The initiator's view of its round.
#[derive(Debug)]
struct Running {
    round: Round,
    /// Requests (asker, asked) not yet answered; an answer may arrive before
    /// the asker's own answer announces the request, so counts go below zero.
    outstanding: BTreeMap<(u16, u16), i32>,
    participants: BTreeSet<u16>,
    willing: bool,
    started: Time,
}

/// Koo–Toueg: give up a round that is not settled within half an interval
/// (a participant may have crashed with a request on its way).
const ROUND_TIMEOUT: TimerId = TimerId(5);

type Buffered = (NodeId, Transfer, u32, u64);

/// One peer's answer in a recovery.
#[derive(Clone, Debug)]
struct State {
    index: u64,
    deps: Deps,
    tentative: Option<Round>,
    committed: u64,
}

#[derive(Debug)]
enum Phase {
    Running,
    Frozen {
        buffer: Vec<Buffered>,
    },
    Gathering {
        epoch: u32,
        replies: BTreeMap<u16, State>,
        buffer: Vec<Buffered>,
    },
    /// Failures overlapped beyond what this protocol recovers from: stopped.
    Halted,
}

/// Why a Koo–Toueg run stops when recoveries overlap.
const OVERLAP: &str = "a second failure during a Koo–Toueg recovery: the recovery gathers every \
     process's state once and cannot tell what the second failure undid";

/// A process taking part in Koo–Toueg checkpointing.
#[derive(Debug)]
pub struct Process {
    pub(crate) core: Core,
    epoch: u32,
    permanent: Saved,
    /// Per process: the latest interval received from since the permanent checkpoint.
    rcvd: Deps,
    tentative: Option<Tentative>,
    /// Initiator: the round in progress, the next sequence number, the last one committed.
    running: Option<Running>,
    seq: u64,
    committed: u64,
    /// Per process: messages of older epochs sent at or after this interval were undone.
    undone_from: Vec<u64>,
    /// Outputs waiting for a permanent checkpoint: (token, interval, made at).
    pending: Vec<(u32, u64, Time)>,
    phase: Phase,
    restarted: Option<StableRecords>,
    /// The recovery this process answered and has not yet seen settled:
    /// (the recovering process, its epoch). Kept on stable storage.
    answering: Option<(u16, u32)>,
}

fn merge(into: &mut Deps, from: &Deps) {
    for (a, b) in into.iter_mut().zip(from) {
        *a = (*a).max(*b);
    }
}

impl Process {
    /// Process `me`; `stable` holds its records when it restarts after a crash.
    pub fn new(me: NodeId, cfg: &Config, stable: Option<StableRecords>) -> Process {
        let core = Core::new(me, cfg);
        let n = core.n();
        let permanent = Saved { at: Time::ZERO, index: 0, bank: core.bank.clone() };
        Process {
            core,
            epoch: 0,
            permanent,
            rcvd: vec![None; n],
            tentative: None,
            running: None,
            seq: 0,
            committed: 0,
            undone_from: vec![u64::MAX; n],
            pending: Vec::new(),
            phase: Phase::Running,
            restarted: stable,
            answering: None,
        }
    }

    /// True while a recovery is under way here.
    pub fn is_recovering(&self) -> bool {
        !matches!(self.phase, Phase::Running | Phase::Halted)
    }

    /// True once the process stopped because failures overlapped.
    pub fn is_halted(&self) -> bool {
        matches!(self.phase, Phase::Halted)
    }

    /// Stop computing: failures overlapped a recovery. `tell`: spread the news.
    fn halt(&mut self, reason: String, tell: bool, out: &mut Effects<Msg>) {
        if self.is_halted() {
            return;
        }
        self.phase = Phase::Halted;
        self.core.unrecoverable(reason, tell, out);
    }

    /// True between a tentative checkpoint and its round's decision: no sends.
    pub fn is_blocked(&self) -> bool {
        self.tentative.is_some()
    }

    /// The index of the permanent checkpoint.
    pub fn index(&self) -> u64 {
        self.permanent.index
    }

    /// Per process: the latest interval received from since the permanent checkpoint.
    pub fn depends_on(&self) -> &Deps {
        &self.rcvd
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.core.started = now;
        out.set_timer(self.core.cfg.step, timer::STEP);
        out.set_timer(phase(&self.core.cfg, self.core.me), timer::CHECKPOINT);
        match self.restarted.take() {
            None => {
                self.permanent.at = now;
                out.store(stable::put("ck", &self.permanent));
            }
            Some(records) => {
                if let Some(saved) = stable::get::<Saved>(&records, "ck") {
                    self.permanent = saved;
                }
                self.core.bank = self.permanent.bank.clone();
                self.tentative = stable::get::<Option<Tentative>>(&records, "tentative").flatten();
                if let Some(t) = self.tentative.as_mut() {
                    t.after = vec![None; self.core.n()];
                }
                self.seq = stable::get(&records, "seq").unwrap_or(0);
                self.committed = stable::get(&records, "committed").unwrap_or(0);
                let epoch = stable::get::<u32>(&records, "epoch").unwrap_or(0) + 1;
                self.phase = Phase::Gathering { epoch, replies: BTreeMap::new(), buffer: Vec::new() };
                if stable::get::<Option<(u16, u32)>>(&records, "answering").flatten().is_some() {
                    // It crashed in the middle of another process's recovery.
                    self.halt(OVERLAP.to_string(), true, out);
                    return;
                }
                self.ask(out);
                out.set_timer(RETRY, timer::RETRY);
            }
        }
    }

    fn ask(&self, out: &mut Effects<Msg>) {
        if let Phase::Gathering { epoch, replies, .. } = &self.phase {
            self.core.ask_missing(replies, &Msg::RecoveryRequest { epoch: *epoch }, out);
        }
    }

    pub(super) fn on_timer(&mut self, now: Time, id: TimerId, out: &mut Effects<Msg>) {
        if self.is_halted() {
            return;
        }
        match id {
            timer::STEP => {
                out.set_timer(self.core.cfg.step, timer::STEP);
                if matches!(self.phase, Phase::Running) && self.tentative.is_none() {
                    let (epoch, interval) = (self.epoch, self.permanent.index);
                    for (to, tr) in self.core.forward(now) {
                        out.send(to, Msg::Transfer { tr, epoch, interval, dv: Vec::new() });
                    }
                }
                self.core.report_ledger(now, false, &mut out.observations);
            }
            timer::CHECKPOINT => {
                out.set_timer(self.core.cfg.interval, timer::CHECKPOINT);
                if matches!(self.phase, Phase::Running) && self.tentative.is_none() && self.running.is_none()
                {
                    self.initiate(now, out);
                }
            }
            timer::RETRY => {
                if matches!(self.phase, Phase::Gathering { .. }) {
                    self.ask(out);
                    out.set_timer(RETRY, timer::RETRY);
                }
            }
            ROUND_TIMEOUT => {
                let late =
                    self.running.as_ref().is_some_and(|r| now >= r.started + self.core.cfg.interval / 2);
                if late && matches!(self.phase, Phase::Running) {
                    if let Some(r) = self.running.as_mut() {
                        r.willing = false;
                        r.outstanding.clear();
                    }
                    self.settle(now, out);
                }
            }
            _ => {}
        }
    }

    /// Start a round: a tentative checkpoint here, requests to the processes we depend on.
    fn initiate(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.seq += 1;
        out.store(stable::put("seq", &self.seq));
        let round = (self.core.me, self.seq);
        let me = self.core.me;
        let asked = self.take_tentative(now, round, out);
        self.running = Some(Running {
            round,
            outstanding: asked.into_iter().map(|q| ((me, q), 1)).collect(),
            participants: BTreeSet::from([self.core.me]),
            willing: true,
            started: now,
        });
        out.set_timer(self.core.cfg.interval / 2, ROUND_TIMEOUT);
        self.settle(now, out);
    }

    /// Take a tentative checkpoint for `round` and ask the processes this
    /// state depends on; returns the processes asked.
    fn take_tentative(&mut self, now: Time, round: Round, out: &mut Effects<Msg>) -> Vec<u16> {
        let saved = Saved { at: now, index: self.permanent.index + 1, bank: self.core.bank.clone() };
        let tentative = Tentative { round, saved, after: vec![None; self.core.n()], since: Some(now) };
        out.store(stable::put("tentative", &Some(tentative.clone())));
        self.tentative = Some(tentative);
        self.core.charge_checkpoint(now);
        let mut asked = Vec::new();
        for (q, dep) in self.rcvd.clone().into_iter().enumerate() {
            if let Some(interval) = dep {
                if q as u16 != self.core.me && q as u16 != round.0 {
                    out.send(self.core.id(q as u16), Msg::TakeTentative { round, interval });
                    asked.push(q as u16);
                }
            }
        }
        asked
    }

    /// The initiator decides once every request is answered.
    fn settle(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Some(r) = self.running.as_ref() else { return };
        if r.outstanding.values().any(|c| *c != 0) {
            return;
        }
        let Some(r) = self.running.take() else { return };
        if r.willing {
            self.committed = r.round.1;
            out.store(stable::put("committed", &self.committed));
        }
        for &p in r.participants.iter().filter(|p| **p != self.core.me) {
            out.send(self.core.id(p), Msg::Decide { round: r.round, commit: r.willing });
        }
        out.emit(Observation::Checkpoint(CheckpointEvent::Round {
            participants: r.participants.len() as u32,
            committed: r.willing,
        }));
        self.decide(now, r.round, r.willing, out);
    }

    /// Make the tentative checkpoint of `round` permanent, or discard it.
    fn decide(&mut self, now: Time, round: Round, commit: bool, out: &mut Effects<Msg>) {
        if self.tentative.as_ref().is_none_or(|t| t.round != round) {
            return;
        }
        let Some(t) = self.tentative.take() else { return };
        out.store(stable::put::<Option<Tentative>>("tentative", &None));
        if let Some(since) = t.since {
            out.emit(Observation::Checkpoint(CheckpointEvent::Blocked { blocked: now.since(since) }));
        }
        if commit {
            let write = stable::put("ck", &t.saved);
            let bytes = stable::size(&write);
            out.store(write);
            self.permanent = t.saved;
            self.rcvd = t.after;
            out.emit(Observation::Checkpoint(CheckpointEvent::Taken {
                index: self.permanent.index,
                bytes,
                forced: round.0 != self.core.me,
                cost: self.core.cfg.checkpoint_cost,
            }));
            let index = self.permanent.index;
            self.pending.retain(|&(token, interval, made)| {
                if interval < index {
                    out.emit(Observation::Checkpoint(CheckpointEvent::Output {
                        token,
                        waited: now.since(made),
                    }));
                    false
                } else {
                    true
                }
            });
        } else {
            merge(&mut self.rcvd, &t.after);
        }
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Some(q) = self.core.index(from) else { return };
        if let Msg::Halt { reason } = msg {
            self.halt(reason, false, out);
            return;
        }
        if self.is_halted() {
            return;
        }
        match msg {
            Msg::Transfer { tr, epoch, interval, .. } => match &mut self.phase {
                Phase::Frozen { buffer } | Phase::Gathering { buffer, .. } => {
                    buffer.push((from, tr, epoch, interval))
                }
                Phase::Running if epoch > self.epoch => {
                    // A peer resumed after a rollback we have not heard of yet.
                    self.phase = Phase::Frozen { buffer: vec![(from, tr, epoch, interval)] };
                }
                Phase::Running => self.accept(now, q, tr, epoch, interval, out),
                Phase::Halted => {}
            },
            Msg::TakeTentative { round, interval } => {
                let running = matches!(self.phase, Phase::Running);
                let (took, asked, willing) = match (&self.tentative, &self.running) {
                    _ if !running => (false, Vec::new(), false),
                    (Some(t), _) if t.round == round => (false, Vec::new(), true),
                    (Some(_), _) | (None, Some(_)) => (false, Vec::new(), false),
                    // The message it received was sent before our permanent checkpoint.
                    (None, None) if interval < self.permanent.index => (false, Vec::new(), true),
                    (None, None) => (true, self.take_tentative(now, round, out), true),
                };
                let msg = Msg::Tentative { round, asker: q, took, asked, willing };
                if round.0 == self.core.me {
                    self.on_tentative(now, q, msg, out);
                } else {
                    out.send(self.core.id(round.0), msg);
                }
            }
            msg @ Msg::Tentative { .. } => {
                if matches!(self.phase, Phase::Running) {
                    self.on_tentative(now, q, msg, out);
                }
            }
            Msg::Decide { round, commit } => self.decide(now, round, commit, out),
            Msg::RecoveryRequest { .. } if matches!(self.phase, Phase::Gathering { .. }) => {
                self.halt(OVERLAP.to_string(), true, out);
            }
            Msg::RecoveryRequest { epoch } if self.answering.is_some_and(|a| a != (q, epoch)) => {
                self.halt(OVERLAP.to_string(), true, out);
            }
            Msg::RecoveryRequest { epoch } if epoch > self.epoch => {
                if let Phase::Running = self.phase {
                    self.phase = Phase::Frozen { buffer: Vec::new() };
                }
                if self.answering.is_none() {
                    self.answering = Some((q, epoch));
                    out.store(stable::put("answering", &self.answering));
                }
                let mut deps = self.rcvd.clone();
                if let Some(t) = &self.tentative {
                    merge(&mut deps, &t.after);
                }
                out.send(
                    from,
                    Msg::KtState {
                        epoch,
                        index: self.permanent.index,
                        deps,
                        tentative: self.tentative.as_ref().map(|t| t.round),
                        committed: self.committed,
                    },
                );
            }
            Msg::KtState { epoch, index, deps, tentative, committed } => {
                if let Phase::Gathering { epoch: e, replies, .. } = &mut self.phase {
                    if *e == epoch {
                        replies.insert(q, State { index, deps, tentative, committed });
                        if replies.len() + 1 >= self.core.n() {
                            self.resolve(now, out);
                        }
                    }
                }
            }
            Msg::KtRollback { epoch, keep, rollback }
                if epoch > self.epoch && !matches!(self.phase, Phase::Gathering { .. }) =>
            {
                self.rollback(now, epoch, &keep, &rollback, false, out);
            }
            _ => {}
        }
    }

    fn on_tentative(&mut self, now: Time, q: u16, msg: Msg, out: &mut Effects<Msg>) {
        let Msg::Tentative { round, asker, took, asked, willing } = msg else { return };
        let Some(r) = self.running.as_mut().filter(|r| r.round == round) else {
            // An answer after the round timed out: that participant discards too.
            if took && round.0 == self.core.me {
                out.send(self.core.id(q), Msg::Decide { round, commit: false });
            }
            return;
        };
        *r.outstanding.entry((asker, q)).or_default() -= 1;
        for a in asked {
            *r.outstanding.entry((q, a)).or_default() += 1;
        }
        if took {
            r.participants.insert(q);
        }
        r.willing &= willing;
        self.settle(now, out);
    }

    fn accept(&mut self, now: Time, q: u16, tr: Transfer, epoch: u32, interval: u64, out: &mut Effects<Msg>) {
        if epoch < self.epoch && interval >= self.undone_from.get(usize::from(q)).copied().unwrap_or(u64::MAX)
        {
            out.emit(Observation::Checkpoint(CheckpointEvent::Orphans { messages: 1 }));
            return;
        }
        match self.core.deliver(tr) {
            Delivery::Duplicate => return,
            Delivery::Held => {}
            Delivery::Output => {
                // After a tentative checkpoint the output is in the next interval.
                let interval = self.permanent.index + u64::from(self.tentative.is_some());
                self.pending.push((tr.token, interval, now));
            }
        }
        let deps = match self.tentative.as_mut() {
            Some(t) => &mut t.after,
            None => &mut self.rcvd,
        };
        if let Some(d) = deps.get_mut(usize::from(q)) {
            *d = (*d).max(Some(interval));
        }
    }

    /// The restarted process has every peer's state: settle the rounds in
    /// flight and find the minimal set of processes to roll back.
    fn resolve(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Phase::Gathering { epoch, replies, .. } = &self.phase else { return };
        let epoch = *epoch;
        let n = self.core.n();
        let me = usize::from(self.core.me);
        let mut states: Vec<State> = (0..n)
            .map(|p| {
                replies.get(&(p as u16)).cloned().unwrap_or(State {
                    index: 0,
                    deps: vec![None; n],
                    tentative: None,
                    committed: 0,
                })
            })
            .collect();
        if let Some(s) = states.get_mut(me) {
            *s = State {
                index: self.permanent.index,
                deps: vec![None; n],
                tentative: self.tentative.as_ref().map(|t| t.round),
                committed: self.committed,
            };
        }
        let committed: Vec<u64> = states.iter().map(|s| s.committed).collect();
        let keep: Vec<bool> = states
            .iter()
            .map(|s| {
                s.tentative.is_some_and(|(i, seq)| committed.get(usize::from(i)).is_some_and(|c| *c >= seq))
            })
            .collect();
        // A kept tentative checkpoint is the permanent one; the intervals
        // after it are the ones a rollback undoes.
        let first_undone: Vec<u64> = states.iter().zip(&keep).map(|(s, k)| s.index + u64::from(*k)).collect();
        let mut rollback = vec![false; n];
        rollback[me] = true;
        let mut changed = true;
        while changed {
            changed = false;
            for y in 0..n {
                if rollback[y] {
                    continue;
                }
                let depends = states[y]
                    .deps
                    .iter()
                    .enumerate()
                    .any(|(x, d)| rollback[x] && d.is_some_and(|i| i >= first_undone[x]));
                if depends {
                    rollback[y] = true;
                    changed = true;
                }
            }
        }
        let rollback: Vec<Option<u64>> =
            rollback.iter().zip(&first_undone).map(|(r, f)| r.then_some(*f)).collect();
        for p in self.core.peers() {
            out.send(p, Msg::KtRollback { epoch, keep: keep.clone(), rollback: rollback.clone() });
        }
        self.rollback(now, epoch, &keep, &rollback, true, out);
    }

    /// Settle this process's tentative checkpoint as told, roll back if
    /// named, and resume in `epoch`.
    fn rollback(
        &mut self,
        now: Time,
        epoch: u32,
        keep: &[bool],
        rollback: &[Option<u64>],
        crashed: bool,
        out: &mut Effects<Msg>,
    ) {
        let me = usize::from(self.core.me);
        if let Some(round) = self.tentative.as_ref().map(|t| t.round) {
            self.decide(now, round, keep.get(me).copied().unwrap_or(false), out);
        }
        if let Some(r) = self.running.take() {
            out.emit(Observation::Checkpoint(CheckpointEvent::Round {
                participants: r.participants.len() as u32,
                committed: false,
            }));
        }
        if crashed || rollback.get(me).is_some_and(Option::is_some) {
            let before = self.core.bank.delivered;
            self.core.bank = self.permanent.bank.clone();
            self.rcvd = vec![None; self.core.n()];
            let index = self.permanent.index;
            self.pending.retain(|(_, i, _)| *i < index);
            out.emit(Observation::Checkpoint(CheckpointEvent::RolledBack {
                crashed,
                distance: 0,
                undone: (!crashed).then(|| before.saturating_sub(self.core.bank.delivered)),
                restored_to: self.permanent.at,
                replayed: 0,
            }));
        }
        // Messages of older epochs sent at or after these intervals were undone.
        self.undone_from =
            (0..self.core.n()).map(|p| rollback.get(p).copied().flatten().unwrap_or(u64::MAX)).collect();
        self.epoch = epoch;
        out.store(stable::put("epoch", &epoch));
        if self.answering.take().is_some() {
            out.store(stable::put("answering", &None::<(u16, u32)>));
        }
        let buffer = match std::mem::replace(&mut self.phase, Phase::Running) {
            Phase::Frozen { buffer } | Phase::Gathering { buffer, .. } => buffer,
            Phase::Running | Phase::Halted => Vec::new(),
        };
        if crashed {
            out.emit(Observation::Checkpoint(CheckpointEvent::Recovered {
                took: now.since(self.core.started),
            }));
        }
        for (from, tr, e, i) in buffer {
            self.on_message(now, from, Msg::Transfer { tr, epoch: e, interval: i, dv: Vec::new() }, out);
        }
        let interval = self.permanent.index;
        for (to, tr) in self.core.bank.last_sent().collect::<Vec<_>>() {
            out.send(self.core.id(to), Msg::Transfer { tr, epoch, interval, dv: Vec::new() });
        }
        self.core.report_ledger(now, true, &mut out.observations);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::{config, events};
    use crate::checkpoint::Protocol;

    /// Every process of `cfg`, started, and an empty set of effects for each.
    fn started(cfg: &Config) -> (Vec<Process>, Vec<Effects<Msg>>) {
        let n = cfg.processes.len() as u16;
        let mut ps: Vec<Process> = (0..n).map(|i| Process::new(NodeId(i), cfg, None)).collect();
        let mut outs: Vec<Effects<Msg>> = (0..n).map(|_| Effects::new()).collect();
        for (p, o) in ps.iter_mut().zip(outs.iter_mut()) {
            p.on_start(Time::ZERO, o);
            o.clear();
        }
        (ps, outs)
    }

    /// The messages of `out` to `to`, and the rest kept.
    fn to(out: &mut Effects<Msg>, to: u16) -> Vec<Msg> {
        let (mine, rest): (Vec<_>, Vec<_>) = out.sends.drain(..).partition(|(t, _)| *t == NodeId(to));
        out.sends = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    #[test]
    fn a_round_checkpoints_the_initiators_dependencies_transitively_and_no_one_else() {
        let cfg = config(Protocol::KooToueg, 4);
        let t = Time::from_millis;
        let (mut ps, mut outs) = started(&cfg);
        // 2 → 1 → 0: process 0 depends on 1, which depends on 2; 3 talks to nobody.
        let tr = |token| Transfer { token, hop: 1, amount: 1 };
        ps[1].on_message(
            t(1),
            NodeId(2),
            Msg::Transfer { tr: tr(2), epoch: 0, interval: 0, dv: vec![] },
            &mut outs[1],
        );
        ps[0].on_message(
            t(2),
            NodeId(1),
            Msg::Transfer { tr: tr(1), epoch: 0, interval: 0, dv: vec![] },
            &mut outs[0],
        );
        assert_eq!(ps[0].depends_on(), &vec![None, Some(0), None, None]);
        // The initiator: a tentative checkpoint, one request, to process 1.
        ps[0].on_timer(t(3), timer::CHECKPOINT, &mut outs[0]);
        assert!(ps[0].is_blocked());
        let req = to(&mut outs[0], 1);
        assert_eq!(req, vec![Msg::TakeTentative { round: (0, 1), interval: 0 }]);
        assert!(outs[0].sends.is_empty(), "nobody else is asked");
        // Process 1 takes one, asks 2 in turn, answers the initiator.
        ps[1].on_message(t(4), NodeId(0), req[0].clone(), &mut outs[1]);
        assert!(ps[1].is_blocked());
        let (req2, reply1) = (to(&mut outs[1], 2), to(&mut outs[1], 0));
        assert_eq!(req2, vec![Msg::TakeTentative { round: (0, 1), interval: 0 }]);
        // Blocked: its step sends nothing.
        ps[1].on_timer(t(5), timer::STEP, &mut outs[1]);
        assert!(outs[1].sends.is_empty(), "no application message while tentative");
        // Process 2's answer overtakes process 1's: the initiator must not decide yet.
        ps[2].on_message(t(5), NodeId(1), req2[0].clone(), &mut outs[2]);
        let reply2 = to(&mut outs[2], 0);
        assert_eq!(
            reply2,
            vec![Msg::Tentative { round: (0, 1), asker: 1, took: true, asked: vec![], willing: true }]
        );
        ps[0].on_message(t(6), NodeId(2), reply2[0].clone(), &mut outs[0]);
        assert!(ps[0].is_blocked(), "process 1's answer is still out");
        ps[0].on_message(t(7), NodeId(1), reply1[0].clone(), &mut outs[0]);
        assert!(!ps[0].is_blocked());
        assert!(events(&outs[0]).contains(&CheckpointEvent::Round { participants: 3, committed: true }));
        let decide = Msg::Decide { round: (0, 1), commit: true };
        assert_eq!(to(&mut outs[0], 1), vec![decide.clone()]);
        assert_eq!(to(&mut outs[0], 2), vec![decide.clone()]);
        assert!(to(&mut outs[0], 3).is_empty(), "process 3 takes no part");
        for i in [1, 2] {
            ps[i].on_message(t(8), NodeId(0), decide.clone(), &mut outs[i]);
            assert!(!ps[i].is_blocked());
            assert_eq!(ps[i].index(), 1, "permanent");
        }
        assert_eq!((ps[0].index(), ps[3].index()), (1, 0));
    }

    #[test]
    fn a_process_busy_with_another_round_makes_the_round_abort() {
        let cfg = config(Protocol::KooToueg, 3);
        let t = Time::from_millis;
        let (mut ps, mut outs) = started(&cfg);
        let tr = Transfer { token: 1, hop: 1, amount: 1 };
        ps[0].on_message(
            t(1),
            NodeId(1),
            Msg::Transfer { tr, epoch: 0, interval: 0, dv: vec![] },
            &mut outs[0],
        );
        // Process 1 depends on 2, so its own round stays open while it waits for 2.
        let tr2 = Transfer { token: 2, hop: 1, amount: 1 };
        ps[1].on_message(
            t(1),
            NodeId(2),
            Msg::Transfer { tr: tr2, epoch: 0, interval: 0, dv: vec![] },
            &mut outs[1],
        );
        ps[0].on_timer(t(2), timer::CHECKPOINT, &mut outs[0]);
        ps[1].on_timer(t(2), timer::CHECKPOINT, &mut outs[1]);
        assert!(ps[1].is_blocked());
        outs[1].clear();
        let req = to(&mut outs[0], 1);
        ps[1].on_message(t(3), NodeId(0), req[0].clone(), &mut outs[1]);
        let reply = to(&mut outs[1], 0);
        assert_eq!(
            reply,
            vec![Msg::Tentative { round: (0, 1), asker: 0, took: false, asked: vec![], willing: false }]
        );
        ps[0].on_message(t(4), NodeId(1), reply[0].clone(), &mut outs[0]);
        assert!(events(&outs[0]).contains(&CheckpointEvent::Round { participants: 1, committed: false }));
        assert_eq!(ps[0].index(), 0, "the tentative checkpoint is discarded");
        assert!(!ps[0].is_blocked());
        assert_eq!(ps[0].depends_on(), &vec![None, Some(0), None], "its dependencies are kept");
    }

    #[test]
    fn recoveries_that_overlap_stop_everyone_with_the_reason_and_a_repeated_one_does_not() {
        let cfg = config(Protocol::KooToueg, 4);
        let t = Time::from_millis;
        let (mut ps, mut outs) = started(&cfg);
        let halts =
            |out: &Effects<Msg>| out.sends.iter().filter(|(_, m)| matches!(m, Msg::Halt { .. })).count();
        // Process 0 answers process 1's recovery, then process 1 asks again
        // (it crashed again while recovering): the same recovery, answered again.
        ps[0].on_message(t(1), NodeId(1), Msg::RecoveryRequest { epoch: 1 }, &mut outs[0]);
        ps[0].on_message(t(2), NodeId(1), Msg::RecoveryRequest { epoch: 1 }, &mut outs[0]);
        assert_eq!(to(&mut outs[0], 1).iter().filter(|m| matches!(m, Msg::KtState { .. })).count(), 2);
        assert!(!ps[0].is_halted());
        // Process 2 starts a recovery of its own before 1's is settled: everyone stops.
        ps[0].on_message(t(3), NodeId(2), Msg::RecoveryRequest { epoch: 1 }, &mut outs[0]);
        assert!(ps[0].is_halted());
        assert!(matches!(events(&outs[0])[..], [CheckpointEvent::Unrecoverable { .. }]));
        assert_eq!(halts(&outs[0]), 3, "every peer is told");
        // A peer told stops too, and computes nothing more.
        ps[3].on_message(t(4), NodeId(0), Msg::Halt { reason: OVERLAP.into() }, &mut outs[3]);
        assert!(ps[3].is_halted());
        outs[3].clear();
        ps[3].on_timer(t(5), timer::STEP, &mut outs[3]);
        assert!(outs[3].sends.is_empty() && outs[3].timers.is_empty());
        // A restarted process that is asked by another recovering one stops everyone.
        let mut r = Process::new(NodeId(2), &cfg, Some(StableRecords::new()));
        let mut rout = Effects::new();
        r.on_start(t(6), &mut rout);
        rout.clear();
        r.on_message(t(7), NodeId(1), Msg::RecoveryRequest { epoch: 1 }, &mut rout);
        assert!(r.is_halted());
        assert_eq!(halts(&rout), 3);
        // One that crashed while answering a recovery stops at its restart.
        let records: StableRecords = outs[0]
            .stable
            .iter()
            .filter_map(|w| match w {
                crate::StableWrite::Put { key, bytes } => Some((key.clone(), bytes.clone())),
                _ => None,
            })
            .collect();
        let mut a = Process::new(NodeId(0), &cfg, Some(records));
        let mut aout = Effects::new();
        a.on_start(t(8), &mut aout);
        assert!(a.is_halted(), "it answered process 1's recovery and never saw it settled");
    }
}
