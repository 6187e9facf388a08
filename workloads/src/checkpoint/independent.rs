//! Independent (uncoordinated) checkpointing: each process checkpoints on its
//! own timer and tracks which checkpoint intervals of others it depends on.
//! Nothing is coordinated until a process fails; then the restarted process
//! gathers every process's dependencies, computes the recovery line
//! ([`super::line`]) and tells everyone where to roll back: possibly far, the
//! domino effect.
//!
//! Recovery blocks: from the `RecoveryRequest` to the `Rollback`, survivors
//! do no work and buffer messages, so the states they described stay true.
//! After the rollback, messages sent in undone intervals are discarded
//! (orphans), and every process resends the last hop of each token it sent,
//! because the rollback may have undone its receipt (the receiver drops
//! duplicates). A resend is tagged with the sender's current interval, which
//! overstates the dependency (safe: it may only cause extra rollback later).
//!
//! Output commit: processes broadcast each checkpoint's dependencies; an
//! output made in interval `i` is released once the line of stable
//! checkpoints ([`super::line::committed_line`]) has passed `i`. With a
//! domino-prone message pattern that line may never move: outputs wait forever.

use super::bank::{Bank, Delivery, Transfer};
use super::core::{phase, Core};
use super::line::{committed_line, recovery_line};
use super::{join_recovery, next_epoch, stable, timer, CheckpointEvent, Config, Deps, Msg, RETRY};
use crate::{Effects, NodeId, Observation, StableRecords, Time, TimerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A checkpoint as it sits on stable storage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Saved {
    at: Time,
    deps: Deps,
    bank: Bank,
}

/// A message held back while a recovery is under way.
type Buffered = (NodeId, Transfer, u32, u64);

#[derive(Debug)]
enum Phase {
    Running,
    /// A survivor during a recovery (`restarted`: this process crashed,
    /// began a recovery of its own and gave way to a later one).
    Frozen {
        buffer: Vec<Buffered>,
        restarted: bool,
    },
    /// The restarted process, collecting every peer's dependencies and the
    /// last line each applied.
    Gathering {
        epoch: u32,
        replies: BTreeMap<u16, Vec<Deps>>,
        applied: BTreeMap<u16, (u32, Vec<u64>)>,
        buffer: Vec<Buffered>,
    },
}

/// An independently checkpointing process.
#[derive(Debug)]
pub struct Process {
    pub(crate) core: Core,
    checkpoints: Vec<Saved>,
    /// Dependencies of the current state (cumulative).
    deps: Deps,
    epoch: u32,
    /// The line that started this epoch.
    last_line: Vec<u64>,
    /// Every rollback known here, (epoch, line): a message sent in epoch `e`
    /// in an interval that a later line undid is an orphan.
    lines: Vec<(u32, Vec<u64>)>,
    /// The latest recovery this process answered or started (stable, so that
    /// a restart starts a later one).
    answered: u32,
    /// Every process's checkpoint dependencies, for output commit.
    known: Vec<Vec<Deps>>,
    committed: Vec<u64>,
    /// Outputs waiting for the committed line: (token, interval, made at).
    pending: Vec<(u32, u64, Time)>,
    phase: Phase,
    restarted: Option<StableRecords>,
}

fn key(index: usize) -> String {
    format!("ck-{index}")
}

impl Process {
    /// Process `me`; `stable` holds its records when it restarts after a crash.
    pub fn new(me: NodeId, cfg: &Config, stable: Option<StableRecords>) -> Process {
        let core = Core::new(me, cfg);
        let n = core.n();
        Process {
            core,
            checkpoints: Vec::new(),
            deps: vec![None; n],
            epoch: 0,
            last_line: vec![u64::MAX; n],
            lines: Vec::new(),
            answered: 0,
            known: vec![vec![vec![None; n]]; n],
            committed: vec![0; n],
            pending: Vec::new(),
            phase: Phase::Running,
            restarted: stable,
        }
    }

    /// True while a recovery is under way here.
    pub fn is_recovering(&self) -> bool {
        !matches!(self.phase, Phase::Running)
    }

    /// The current checkpoint interval.
    fn interval(&self) -> u64 {
        self.checkpoints.len().saturating_sub(1) as u64
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.core.started = now;
        out.set_timer(self.core.cfg.step, timer::STEP);
        out.set_timer(phase(&self.core.cfg, self.core.me), timer::CHECKPOINT);
        match self.restarted.take() {
            None => {
                // Checkpoint 0: the initial state, so a line always exists.
                self.save(now, out);
            }
            Some(records) => self.restart(now, &records, out),
        }
    }

    fn restart(&mut self, now: Time, records: &StableRecords, out: &mut Effects<Msg>) {
        let head: u64 = stable::get(records, "head").unwrap_or(0);
        for k in 0..=head as usize {
            match stable::get::<Saved>(records, &key(k)) {
                Some(s) => self.checkpoints.push(s),
                None => break,
            }
        }
        if self.checkpoints.is_empty() {
            self.save(now, out);
        }
        if let Some(last) = self.checkpoints.last() {
            self.core.bank = last.bank.clone();
            self.deps = last.deps.clone();
        }
        self.epoch = stable::get::<u32>(records, "epoch").unwrap_or(0);
        if let Some(line) = stable::get::<Vec<u64>>(records, "line") {
            self.last_line = line;
        }
        self.answered = stable::get::<u32>(records, "answered").unwrap_or(0);
        let epoch = next_epoch(self.epoch.max(self.answered), self.core.me, self.core.n());
        self.gather(epoch, Vec::new(), out);
    }

    /// Start recovery `epoch` (stored first: a restart during it starts a later one).
    fn gather(&mut self, epoch: u32, buffer: Vec<Buffered>, out: &mut Effects<Msg>) {
        self.answered = epoch;
        out.store(stable::put("answered", &epoch));
        self.phase = Phase::Gathering { epoch, replies: BTreeMap::new(), applied: BTreeMap::new(), buffer };
        self.ask(out);
        out.set_timer(RETRY, timer::RETRY);
    }

    /// Ask every peer that has not answered for its dependencies.
    fn ask(&self, out: &mut Effects<Msg>) {
        if let Phase::Gathering { epoch, replies, .. } = &self.phase {
            for p in 0..self.core.n() as u16 {
                if p != self.core.me && !replies.contains_key(&p) {
                    out.send(self.core.id(p), Msg::RecoveryRequest { epoch: *epoch });
                }
            }
        }
    }

    /// Put the current state on stable storage as the next checkpoint.
    fn save(&mut self, now: Time, out: &mut Effects<Msg>) -> u64 {
        let index = self.checkpoints.len();
        let saved = Saved { at: now, deps: self.deps.clone(), bank: self.core.bank.clone() };
        let write = stable::put(&key(index), &saved);
        let bytes = match &write {
            crate::StableWrite::Put { bytes, .. } | crate::StableWrite::Append { bytes, .. } => {
                bytes.len() as u64
            }
        };
        out.store(write);
        out.store(stable::put("head", &(index as u64)));
        self.checkpoints.push(saved);
        if let Some(mine) = self.known.get_mut(usize::from(self.core.me)) {
            mine.truncate(index);
            mine.push(self.deps.clone());
        }
        for p in self.core.peers() {
            let deps = self.deps.clone();
            out.send(p, Msg::CheckpointInfo { epoch: self.epoch, index: index as u64, deps });
        }
        bytes
    }

    pub(super) fn on_timer(&mut self, now: Time, id: TimerId, out: &mut Effects<Msg>) {
        match id {
            timer::STEP => {
                out.set_timer(self.core.cfg.step, timer::STEP);
                if matches!(self.phase, Phase::Running) {
                    self.forward(now, out);
                }
                self.core.report_ledger(now, false, &mut out.observations);
            }
            timer::CHECKPOINT => {
                out.set_timer(self.core.cfg.interval, timer::CHECKPOINT);
                if matches!(self.phase, Phase::Running) {
                    let bytes = self.save(now, out);
                    let cost = self.core.charge_checkpoint(now);
                    let index = self.interval();
                    out.emit(Observation::Checkpoint(CheckpointEvent::Taken {
                        index,
                        bytes,
                        forced: false,
                        cost,
                    }));
                    self.commit_outputs(now, out);
                }
            }
            timer::RETRY => {
                if matches!(self.phase, Phase::Gathering { .. }) {
                    self.ask(out);
                    out.set_timer(RETRY, timer::RETRY);
                }
            }
            _ => {}
        }
    }

    /// Communication-induced checkpointing: before delivering a message sent
    /// in the sender's `interval` of `epoch`, take a forced checkpoint if that
    /// interval is ahead of ours, numbering it `interval` (the indexes
    /// skipped name the same state). Returns true if one was taken.
    pub(super) fn force_checkpoint(
        &mut self,
        now: Time,
        epoch: u32,
        interval: u64,
        out: &mut Effects<Msg>,
    ) -> bool {
        if !matches!(self.phase, Phase::Running) || epoch != self.epoch || interval <= self.interval() {
            return false;
        }
        let mut bytes = 0;
        while self.interval() < interval {
            bytes += self.save(now, out);
        }
        let cost = self.core.charge_checkpoint(now);
        out.emit(Observation::Checkpoint(CheckpointEvent::Taken {
            index: interval,
            bytes,
            forced: true,
            cost,
        }));
        self.commit_outputs(now, out);
        true
    }

    fn forward(&mut self, now: Time, out: &mut Effects<Msg>) {
        let (epoch, interval) = (self.epoch, self.interval());
        for (to, tr) in self.core.forward(now) {
            out.send(to, Msg::Transfer { tr, epoch, interval, dv: Vec::new() });
        }
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Some(q) = self.core.index(from) else { return };
        match msg {
            Msg::Transfer { tr, epoch, interval, .. } => match &mut self.phase {
                Phase::Frozen { buffer, .. } | Phase::Gathering { buffer, .. } => {
                    buffer.push((from, tr, epoch, interval))
                }
                Phase::Running if epoch > self.epoch => {
                    // A peer already resumed after a rollback we have not heard of yet.
                    self.phase =
                        Phase::Frozen { buffer: vec![(from, tr, epoch, interval)], restarted: false };
                }
                Phase::Running => self.accept(now, q, tr, epoch, interval, out),
            },
            Msg::CheckpointInfo { epoch, index, deps } if epoch >= self.epoch => {
                if let Some(table) = self.known.get_mut(usize::from(q)) {
                    table.truncate(index as usize);
                    // A missed checkpoint is given the next one's (cumulative,
                    // so larger) dependencies: that can only hold outputs longer.
                    while table.len() <= index as usize {
                        table.push(deps.clone());
                    }
                }
                self.commit_outputs(now, out);
            }
            Msg::RecoveryRequest { epoch } => self.on_request(q, epoch, out),
            Msg::DepsReply { epoch, mut checkpoints, volatile, applied, line } => {
                if let Phase::Gathering { epoch: e, replies, applied: lines, .. } = &mut self.phase {
                    if *e == epoch {
                        checkpoints.push(volatile);
                        replies.insert(q, checkpoints);
                        lines.insert(q, (applied, line));
                        if replies.len() + 1 >= self.core.n() {
                            self.decide(now, out);
                        }
                    }
                }
            }
            Msg::Rollback { epoch, line } => {
                if !self.lines.iter().any(|(e, _)| *e == epoch) {
                    self.lines.push((epoch, line.clone()));
                }
                // A rollback of a recovery that a later one (answered here) replaces is not applied.
                let current = epoch > self.epoch && epoch >= self.answered;
                if current && !matches!(self.phase, Phase::Gathering { .. }) {
                    let restarted = matches!(self.phase, Phase::Frozen { restarted: true, .. });
                    self.rollback(now, epoch, &line, restarted, out);
                }
            }
            _ => {}
        }
    }

    /// Process `q` restarted and asks for recovery `epoch`.
    fn on_request(&mut self, q: u16, epoch: u32, out: &mut Effects<Msg>) {
        if let Phase::Gathering { replies, applied, .. } = &mut self.phase {
            // What it told us before it restarted is stale.
            replies.remove(&q);
            applied.remove(&q);
        }
        if !join_recovery(epoch, self.epoch, &mut self.answered, out) {
            return;
        }
        self.phase = match std::mem::replace(&mut self.phase, Phase::Running) {
            Phase::Running => Phase::Frozen { buffer: Vec::new(), restarted: false },
            // Our own recovery gives way to the later one.
            Phase::Gathering { buffer, .. } => Phase::Frozen { buffer, restarted: true },
            frozen @ Phase::Frozen { .. } => frozen,
        };
        let mut checkpoints: Vec<Deps> = self.checkpoints.iter().map(|c| c.deps.clone()).collect();
        // A restarted process has no state after its last checkpoint: that
        // checkpoint is its current state, and what it did after it is undone.
        let volatile = match (&self.phase, checkpoints.len()) {
            (Phase::Frozen { restarted: true, .. }, 1..) => checkpoints.pop().unwrap_or_default(),
            _ => self.deps.clone(),
        };
        let (applied, line) = (self.epoch, self.last_line.clone());
        out.send(self.core.id(q), Msg::DepsReply { epoch, checkpoints, volatile, applied, line });
    }

    fn accept(&mut self, now: Time, q: u16, tr: Transfer, epoch: u32, interval: u64, out: &mut Effects<Msg>) {
        let undone = |(e, line): &(u32, Vec<u64>)| {
            *e > epoch && line.get(usize::from(q)).is_some_and(|&l| interval >= l)
        };
        if self.lines.iter().any(undone) {
            out.emit(Observation::Checkpoint(CheckpointEvent::Orphans { messages: 1 }));
            return;
        }
        match self.core.deliver(tr) {
            Delivery::Duplicate => return,
            Delivery::Held => {}
            Delivery::Output => self.pending.push((tr.token, self.interval(), now)),
        }
        if let Some(d) = self.deps.get_mut(usize::from(q)) {
            *d = Some(d.map_or(interval, |x| x.max(interval)));
        }
    }

    /// The restarted process has every peer's dependencies: compute the line.
    fn decide(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Phase::Gathering { epoch, replies, applied, .. } = &self.phase else { return };
        let epoch = *epoch;
        // The latest rollback anyone applied: a process that did not apply it
        // (it was down when it was sent) may keep nothing after its line.
        let mut latest = (self.epoch, self.last_line.clone());
        for a in applied.values() {
            if a.0 > latest.0 {
                latest = a.clone();
            }
        }
        for (e, line) in applied.values() {
            if *e > 0 && !self.lines.iter().any(|(k, _)| k == e) {
                self.lines.push((*e, line.clone()));
            }
        }
        let cap = |p: u16, applied: u32, table: &mut Vec<Deps>| {
            if applied < latest.0 {
                if let Some(&l) = latest.1.get(usize::from(p)) {
                    table.truncate(usize::try_from(l.saturating_add(1)).unwrap_or(usize::MAX).max(1));
                }
            }
        };
        let mut states = Vec::with_capacity(self.core.n());
        let mut start = Vec::with_capacity(self.core.n());
        for p in 0..self.core.n() as u16 {
            let mut table = if p == self.core.me {
                let mut own: Vec<Deps> = self.checkpoints.iter().map(|c| c.deps.clone()).collect();
                cap(p, self.epoch, &mut own);
                own
            } else {
                let mut table = replies.get(&p).cloned().unwrap_or_default();
                cap(p, applied.get(&p).map_or(0, |a| a.0), &mut table);
                table
            };
            if table.is_empty() {
                table.push(vec![None; self.core.n()]);
            }
            start.push(table.len().saturating_sub(1) as u64);
            states.push(table);
        }
        let line = recovery_line(&states, &start);
        for p in self.core.peers() {
            out.send(p, Msg::Rollback { epoch, line: line.clone() });
        }
        self.rollback(now, epoch, &line, true, out);
    }

    /// Restore the checkpoint `line` names for this process and resume in `epoch`.
    fn rollback(&mut self, now: Time, epoch: u32, line: &[u64], crashed: bool, out: &mut Effects<Msg>) {
        let me = usize::from(self.core.me);
        let target = line.get(me).copied().unwrap_or(0) as usize;
        let latest = self.interval();
        let mut restored = None;
        if crashed || target < self.checkpoints.len() {
            let target = target.min(self.checkpoints.len().saturating_sub(1));
            let before = self.core.bank.delivered;
            if let Some(saved) = self.checkpoints.get(target).cloned() {
                self.core.bank = saved.bank;
                self.deps = saved.deps;
                self.checkpoints.truncate(target + 1);
                restored = Some(target as u64);
                out.store(stable::put("head", &(target as u64)));
                let undone = (!crashed).then(|| before.saturating_sub(self.core.bank.delivered));
                out.emit(Observation::Checkpoint(CheckpointEvent::RolledBack {
                    crashed,
                    distance: latest.saturating_sub(target as u64),
                    undone,
                    restored_to: saved.at,
                    replayed: 0,
                }));
            }
        }
        // Later checkpoints of everyone are gone; so are outputs made after the line.
        for (table, &k) in self.known.iter_mut().zip(line) {
            table.truncate((k as usize + 1).max(1));
        }
        if let Some(target) = restored {
            self.pending.retain(|(_, i, _)| *i < target);
        }
        self.epoch = epoch;
        self.last_line = line.to_vec();
        if !self.lines.iter().any(|(e, _)| *e == epoch) {
            self.lines.push((epoch, line.to_vec()));
        }
        out.store(stable::put("epoch", &epoch));
        out.store(stable::put("line", &self.last_line));
        let buffer = match std::mem::replace(&mut self.phase, Phase::Running) {
            Phase::Frozen { buffer, .. } | Phase::Gathering { buffer, .. } => buffer,
            Phase::Running => Vec::new(),
        };
        if crashed {
            out.emit(Observation::Checkpoint(CheckpointEvent::Recovered {
                took: now.since(self.core.started),
            }));
        }
        for (from, tr, e, i) in buffer {
            self.on_message(now, from, Msg::Transfer { tr, epoch: e, interval: i, dv: Vec::new() }, out);
        }
        let interval = self.interval();
        for (to, tr) in self.core.bank.last_sent().collect::<Vec<_>>() {
            out.send(self.core.id(to), Msg::Transfer { tr, epoch, interval, dv: Vec::new() });
        }
        self.commit_outputs(now, out);
        self.core.report_ledger(now, true, &mut out.observations);
    }

    /// Release the outputs the line of stable checkpoints has passed.
    fn commit_outputs(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.pending.is_empty() {
            return;
        }
        self.committed = committed_line(&self.known);
        let line = self.committed.get(usize::from(self.core.me)).copied().unwrap_or(0);
        self.pending.retain(|&(token, interval, made)| {
            if interval < line {
                out.emit(Observation::Checkpoint(CheckpointEvent::Output { token, waited: now.since(made) }));
                false
            } else {
                true
            }
        });
    }
}
