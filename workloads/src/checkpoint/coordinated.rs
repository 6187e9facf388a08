//! Coordinated checkpointing with Chandy–Lamport snapshots: process 0 starts
//! snapshot `k` every interval by recording its state and sending a marker on
//! every channel; a process records its state on the first marker of `k` and
//! relays markers; the messages arriving on a channel between the recording
//! and that channel's marker are the channel's state. A process's part is on
//! stable storage once every channel's marker has arrived; when all parts are
//! (`SnapshotDone` to the initiator), the initiator commits `k`. Channels are
//! assumed FIFO and reliable between crashes (TCP), as the algorithm requires.
//!
//! Recovery: the restarted process asks everyone for their latest complete
//! snapshot; the smallest is complete everywhere (snapshots never overlap:
//! the initiator starts `k+1` only after committing `k`) and is the recovery
//! line. Every process restores its state and re-delivers its recorded
//! channel state; messages of the old epoch are then discarded, as they were
//! either recorded in the channel state or sent after the line.
//!
//! Output commit: an output made after a process recorded snapshot `k` is in
//! snapshot `k+1`'s state and leaves when `k+1` is committed.

use super::bank::{Bank, Delivery, Transfer};
use super::core::Core;
use super::{join_recovery, next_epoch, stable, timer, CheckpointEvent, Config, Msg, RETRY};
use crate::{Effects, NodeId, Observation, StableRecords, Time, TimerId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One process's part of a snapshot, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    epoch: u32,
    id: u64,
    at: Time,
    bank: Bank,
    /// Messages in flight towards this process when the snapshot was taken.
    channel: Vec<(u16, Transfer)>,
}

impl Part {
    /// The process's state the snapshot recorded.
    pub fn bank(&self) -> &Bank {
        &self.bank
    }

    /// The channel state: transfers in flight towards this process, by sender.
    pub fn channel(&self) -> &[(u16, Transfer)] {
        &self.channel
    }
}

/// A snapshot being recorded here: waiting for markers on some channels.
#[derive(Debug)]
struct Recording {
    part: Part,
    waiting: BTreeSet<u16>,
    forced: bool,
}

#[derive(Debug)]
enum Phase {
    Running,
    /// Taking part in a recovery (`restarted`: this process crashed, began a
    /// recovery of its own and gave way to a later one).
    Frozen {
        restarted: bool,
    },
    /// The restarted process, collecting every peer's latest complete
    /// snapshot and the last rollback each applied (epoch, snapshot).
    Gathering {
        epoch: u32,
        replies: BTreeMap<u16, u64>,
        applied: BTreeMap<u16, (u32, u64)>,
    },
}

/// A process taking part in Chandy–Lamport snapshots.
#[derive(Debug)]
pub struct Process {
    pub(crate) core: Core,
    epoch: u32,
    /// The snapshot the last rollback (of `epoch`) restored.
    line: u64,
    /// The latest recovery answered or started here (stable, so that a
    /// restart starts a later one).
    answered: u32,
    /// The latest snapshot whose state was recorded here.
    recorded: u64,
    recording: Option<Recording>,
    /// Complete parts kept (the latest two: the line is one of them).
    parts: BTreeMap<u64, Part>,
    /// Initiator: processes whose part of the current snapshot is stable.
    done: BTreeSet<u16>,
    committed: u64,
    /// Outputs waiting for a commit: (token, snapshot that holds it, made at).
    pending: Vec<(u32, u64, Time)>,
    /// Messages from a later epoch, held until its rollback arrives.
    early: Vec<(NodeId, Msg)>,
    phase: Phase,
    restarted: Option<StableRecords>,
}

fn slot(id: u64) -> String {
    format!("snap-{}", id % 2)
}

impl Process {
    /// Process `me`; `stable` holds its records when it restarts after a crash.
    pub fn new(me: NodeId, cfg: &Config, stable: Option<StableRecords>) -> Process {
        Process {
            core: Core::new(me, cfg),
            epoch: 0,
            line: 0,
            answered: 0,
            recorded: 0,
            recording: None,
            parts: BTreeMap::new(),
            done: BTreeSet::new(),
            committed: 0,
            pending: Vec::new(),
            early: Vec::new(),
            phase: Phase::Running,
            restarted: stable,
        }
    }

    /// True while a recovery is under way here.
    pub fn is_recovering(&self) -> bool {
        !matches!(self.phase, Phase::Running)
    }

    /// This process's complete part of snapshot `id`, while it is kept (an
    /// oracle checks that the parts form a consistent cut).
    pub fn part(&self, id: u64) -> Option<&Part> {
        self.parts.get(&id)
    }

    fn complete(&self) -> u64 {
        self.parts.keys().next_back().copied().unwrap_or(0)
    }

    fn initiator(&self) -> bool {
        self.core.me == 0
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.core.started = now;
        out.set_timer(self.core.cfg.step, timer::STEP);
        if self.initiator() {
            out.set_timer(self.core.cfg.interval, timer::CHECKPOINT);
        }
        match self.restarted.take() {
            None => {
                let part =
                    Part { epoch: 0, id: 0, at: now, bank: self.core.bank.clone(), channel: Vec::new() };
                out.store(stable::put(&slot(0), &part));
                self.parts.insert(0, part);
            }
            Some(records) => {
                // Both slots: a rollback this process missed may name the older one.
                for k in 0..2 {
                    if let Some(p) = stable::get::<Part>(&records, &slot(k)) {
                        self.parts.insert(p.id, p);
                    }
                }
                if self.parts.is_empty() {
                    let bank = Bank::new(self.core.me, &self.core.cfg);
                    self.parts.insert(0, Part { epoch: 0, id: 0, at: now, bank, channel: Vec::new() });
                }
                let part = self.parts.values().max_by_key(|p| (p.epoch, p.id)).cloned();
                if let Some(part) = part {
                    self.core.bank = part.bank.clone();
                    self.recorded = part.id;
                }
                let parts_epoch = self.parts.values().map(|p| p.epoch).max().unwrap_or(0);
                self.epoch = stable::get::<u32>(&records, "epoch").unwrap_or(0).max(parts_epoch);
                self.line = stable::get::<u64>(&records, "line").unwrap_or(0);
                self.answered = stable::get::<u32>(&records, "answered").unwrap_or(0);
                let epoch = next_epoch(self.epoch.max(self.answered), self.core.me, self.core.n());
                self.answered = epoch;
                out.store(stable::put("answered", &epoch));
                self.phase = Phase::Gathering { epoch, replies: BTreeMap::new(), applied: BTreeMap::new() };
                self.ask(out);
                out.set_timer(RETRY, timer::RETRY);
            }
        }
    }

    fn ask(&self, out: &mut Effects<Msg>) {
        if let Phase::Gathering { epoch, replies, .. } = &self.phase {
            for p in 0..self.core.n() as u16 {
                if p != self.core.me && !replies.contains_key(&p) {
                    out.send(self.core.id(p), Msg::RecoveryRequest { epoch: *epoch });
                }
            }
        }
    }

    pub(super) fn on_timer(&mut self, now: Time, id: TimerId, out: &mut Effects<Msg>) {
        match id {
            timer::STEP => {
                out.set_timer(self.core.cfg.step, timer::STEP);
                if matches!(self.phase, Phase::Running) {
                    for (to, tr) in self.core.forward(now) {
                        out.send(
                            to,
                            Msg::Transfer { tr, epoch: self.epoch, interval: self.recorded, dv: Vec::new() },
                        );
                    }
                }
                self.core.report_ledger(now, false, &mut out.observations);
            }
            timer::CHECKPOINT => {
                out.set_timer(self.core.cfg.interval, timer::CHECKPOINT);
                let idle = self.recording.is_none() && self.committed >= self.recorded;
                if matches!(self.phase, Phase::Running) && idle {
                    self.record(now, self.recorded + 1, false, out);
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

    /// Record the local state for snapshot `id` and send markers on every channel.
    fn record(&mut self, now: Time, id: u64, forced: bool, out: &mut Effects<Msg>) {
        let part = Part { epoch: self.epoch, id, at: now, bank: self.core.bank.clone(), channel: Vec::new() };
        let waiting = (0..self.core.n() as u16).filter(|p| *p != self.core.me).collect();
        self.recording = Some(Recording { part, waiting, forced });
        self.recorded = id;
        self.done.clear();
        for p in self.core.peers() {
            out.send(p, Msg::Marker { epoch: self.epoch, snapshot: id });
        }
        self.finish_if_complete(now, out);
    }

    /// Store this process's part once every channel's marker has arrived.
    fn finish_if_complete(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.recording.as_ref().is_none_or(|r| !r.waiting.is_empty()) {
            return;
        }
        let Some(r) = self.recording.take() else { return };
        let id = r.part.id;
        let write = stable::put(&slot(id), &r.part);
        let bytes = match &write {
            crate::StableWrite::Put { bytes, .. } | crate::StableWrite::Append { bytes, .. } => {
                bytes.len() as u64
            }
        };
        out.store(write);
        self.parts.insert(id, r.part);
        while self.parts.len() > 2 {
            self.parts.pop_first();
        }
        let cost = self.core.charge_checkpoint(now);
        out.emit(Observation::Checkpoint(CheckpointEvent::Taken {
            index: id,
            bytes,
            forced: r.forced,
            cost,
        }));
        if self.initiator() {
            self.on_done(now, self.core.me, id, out);
        } else {
            out.send(self.core.id(0), Msg::SnapshotDone { snapshot: id });
        }
    }

    fn on_done(&mut self, now: Time, from: u16, id: u64, out: &mut Effects<Msg>) {
        if id != self.recorded || id <= self.committed {
            return;
        }
        self.done.insert(from);
        if self.done.len() == self.core.n() {
            for p in self.core.peers() {
                out.send(p, Msg::Commit { snapshot: id });
            }
            self.commit(now, id, out);
        }
    }

    fn commit(&mut self, now: Time, id: u64, out: &mut Effects<Msg>) {
        self.committed = self.committed.max(id);
        let committed = self.committed;
        self.pending.retain(|&(token, snap, made)| {
            if snap <= committed {
                out.emit(Observation::Checkpoint(CheckpointEvent::Output { token, waited: now.since(made) }));
                false
            } else {
                true
            }
        });
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Some(q) = self.core.index(from) else { return };
        let later = match &msg {
            Msg::Transfer { epoch, .. } | Msg::Marker { epoch, .. } => *epoch > self.epoch,
            _ => false,
        };
        if later || (!matches!(self.phase, Phase::Running) && matches!(msg, Msg::Transfer { .. })) {
            // A peer resumed after a rollback we have not heard of, or we are
            // recovering: hold it until the rollback.
            self.early.push((from, msg));
            return;
        }
        match msg {
            Msg::Transfer { tr, epoch, .. } => {
                if epoch < self.epoch {
                    out.emit(Observation::Checkpoint(CheckpointEvent::Orphans { messages: 1 }));
                    return;
                }
                if let Some(r) = self.recording.as_mut() {
                    if r.waiting.contains(&q) && !self.core.bank.is_duplicate(&tr) {
                        r.part.channel.push((q, tr));
                    }
                }
                self.deliver(now, tr);
            }
            Msg::Marker { epoch, snapshot }
                if epoch == self.epoch && matches!(self.phase, Phase::Running) =>
            {
                if snapshot > self.recorded && self.recording.is_none() {
                    self.record(now, snapshot, true, out);
                }
                if let Some(r) = self.recording.as_mut() {
                    if r.part.id == snapshot {
                        r.waiting.remove(&q);
                    }
                }
                self.finish_if_complete(now, out);
            }
            Msg::SnapshotDone { snapshot } if self.initiator() => self.on_done(now, q, snapshot, out),
            Msg::Commit { snapshot } => self.commit(now, snapshot, out),
            Msg::RecoveryRequest { epoch } => self.on_request(q, epoch, out),
            Msg::LatestReply { epoch, snapshot, applied, line } => {
                if let Phase::Gathering { epoch: e, replies, applied: lines } = &mut self.phase {
                    if *e == epoch {
                        replies.insert(q, snapshot);
                        lines.insert(q, (applied, line));
                        if replies.len() + 1 >= self.core.n() {
                            self.decide(now, epoch, out);
                        }
                    }
                }
            }
            Msg::Rollback { epoch, line } => {
                // A rollback of a recovery that a later one (answered here) replaces is not applied.
                let current = epoch > self.epoch && epoch >= self.answered;
                if current && !matches!(self.phase, Phase::Gathering { .. }) {
                    let restarted = matches!(self.phase, Phase::Frozen { restarted: true });
                    self.rollback(now, epoch, line.first().copied().unwrap_or(0), restarted, out);
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
        self.phase = match self.phase {
            Phase::Running => Phase::Frozen { restarted: false },
            // Our own recovery gives way to the later one.
            Phase::Gathering { .. } => Phase::Frozen { restarted: true },
            Phase::Frozen { restarted } => Phase::Frozen { restarted },
        };
        let reply =
            Msg::LatestReply { epoch, snapshot: self.complete(), applied: self.epoch, line: self.line };
        out.send(self.core.id(q), reply);
    }

    /// Every peer answered: the line is the latest snapshot complete everywhere.
    fn decide(&mut self, now: Time, epoch: u32, out: &mut Effects<Msg>) {
        let Phase::Gathering { replies, applied, .. } = &self.phase else { return };
        // The latest rollback anyone applied: a process that did not apply it
        // (it was down when it was sent) holds parts of snapshots that the
        // rollback undid, so it counts as complete up to that line only.
        let latest = applied.values().copied().chain([(self.epoch, self.line)]).max().unwrap_or((0, 0));
        let capped = |applied: u32, snapshot: u64| {
            if applied < latest.0 {
                snapshot.min(latest.1)
            } else {
                snapshot
            }
        };
        let own = capped(self.epoch, self.complete());
        let line = replies
            .iter()
            .map(|(p, &s)| capped(applied.get(p).map_or(0, |a| a.0), s))
            .chain([own])
            .min()
            .unwrap_or(0);
        for p in self.core.peers() {
            out.send(p, Msg::Rollback { epoch, line: vec![line] });
        }
        self.rollback(now, epoch, line, true, out);
    }

    fn deliver(&mut self, now: Time, tr: Transfer) {
        if self.core.deliver(tr) == Delivery::Output {
            self.pending.push((tr.token, self.recorded + 1, now));
        }
    }

    /// Restore snapshot `line`, re-deliver its channel state and resume in `epoch`.
    fn rollback(&mut self, now: Time, epoch: u32, line: u64, crashed: bool, out: &mut Effects<Msg>) {
        let latest = self.complete();
        let Some(mut part) = self.parts.get(&line).or_else(|| self.parts.values().next()).cloned() else {
            return;
        };
        let before = self.core.bank.delivered;
        self.core.bank = part.bank.clone();
        self.pending.clear();
        self.recording = None;
        self.recorded = part.id;
        for &(_, tr) in &part.channel {
            self.deliver(now, tr);
        }
        let undone = (!crashed).then(|| before.saturating_sub(self.core.bank.delivered));
        out.emit(Observation::Checkpoint(CheckpointEvent::RolledBack {
            crashed,
            distance: latest.saturating_sub(part.id),
            undone,
            restored_to: part.at,
            replayed: part.channel.len() as u64,
        }));
        // Both slots hold the line now, so a stale later part never looks newer.
        part.epoch = epoch;
        out.store(stable::put(&slot(part.id), &part));
        out.store(stable::put(&slot(part.id + 1), &part));
        out.store(stable::put("epoch", &epoch));
        out.store(stable::put("line", &part.id));
        self.line = part.id;
        self.parts.clear();
        self.parts.insert(part.id, part);
        self.committed = self.recorded;
        self.done.clear();
        self.epoch = epoch;
        self.phase = Phase::Running;
        if crashed {
            out.emit(Observation::Checkpoint(CheckpointEvent::Recovered {
                took: now.since(self.core.started),
            }));
        }
        for (from, msg) in std::mem::take(&mut self.early) {
            self.on_message(now, from, msg, out);
        }
        self.core.report_ledger(now, true, &mut out.observations);
    }
}
