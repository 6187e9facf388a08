//! Pessimistic receiver-based message logging: every message is written to
//! the receiver's stable log before it is delivered, so no state is ever
//! lost and no process ever becomes an orphan. A crashed process restores
//! its last checkpoint and replays its log (piecewise determinism makes the
//! replay reach the state it crashed in); nobody else rolls back. Peers
//! resend the last hop of each token they sent it, since messages sent while
//! it was down were lost (it drops what it had already logged); it resends
//! its own last hops too, for peers that were down when it sent them.
//!
//! "Before it is delivered": the log record is a [`crate::StableWrite`] of the
//! same call, and the driver writes it before any send of that call, so no
//! effect of a delivery leaves the process before its record is stable.
//! Output commit is therefore immediate: an output never waits.
//!
//! Checkpoints only bound the log: after one, the log starts empty.

use super::bank::{Bank, Delivery, Transfer};
use super::core::{phase, Core};
use super::{stable, timer, CheckpointEvent, Config, Msg, RETRY};
use crate::{Effects, NodeId, Observation, StableRecords, Time, TimerId};
use serde::{Deserialize, Serialize};

/// Announcements a restarted process sends (connections to it may still be
/// coming up, so one could be lost; they are idempotent).
const ANNOUNCEMENTS: u32 = 4;

/// The checkpoint as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Saved {
    at: Time,
    index: u64,
    bank: Bank,
}

/// One log record: a delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    from: u16,
    tr: Transfer,
    at: Time,
}

/// A pessimistically logging process.
#[derive(Debug)]
pub struct Process {
    pub(crate) core: Core,
    index: u64,
    incarnation: u32,
    announce: u32,
    restarted: Option<StableRecords>,
}

impl Process {
    /// Process `me`; `stable` holds its records when it restarts after a crash.
    pub fn new(me: NodeId, cfg: &Config, stable: Option<StableRecords>) -> Process {
        Process { core: Core::new(me, cfg), index: 0, incarnation: 0, announce: 0, restarted: stable }
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.core.started = now;
        out.set_timer(self.core.cfg.step, timer::STEP);
        out.set_timer(phase(&self.core.cfg, self.core.me), timer::CHECKPOINT);
        match self.restarted.take() {
            None => {
                self.checkpoint(now, out);
            }
            Some(records) => self.replay(now, &records, out),
        }
    }

    /// Restore the checkpoint and replay the log.
    fn replay(&mut self, now: Time, records: &StableRecords, out: &mut Effects<Msg>) {
        let mut restored_to = now;
        if let Some(saved) = stable::get::<Saved>(records, "ck") {
            self.core.bank = saved.bank;
            self.index = saved.index;
            restored_to = saved.at;
        }
        let log: Vec<Record> = stable::read_log(records, "log");
        for r in &log {
            if self.core.deliver(r.tr) == Delivery::Output {
                // Released before the crash already; the observation may have
                // been lost with the process, so it is reported again.
                out.emit(Observation::Checkpoint(CheckpointEvent::Output {
                    token: r.tr.token,
                    waited: Default::default(),
                }));
            }
            restored_to = r.at;
        }
        self.incarnation = stable::get::<u32>(records, "incarnation").unwrap_or(0) + 1;
        out.store(stable::put("incarnation", &self.incarnation));
        out.emit(Observation::Checkpoint(CheckpointEvent::RolledBack {
            crashed: true,
            distance: 0,
            undone: Some(0),
            restored_to,
            replayed: log.len() as u64,
        }));
        out.emit(Observation::Checkpoint(CheckpointEvent::Recovered { took: now.since(self.core.started) }));
        self.announce = ANNOUNCEMENTS;
        self.announce_recovery(out);
        self.resend_all(out);
        self.core.report_ledger(now, true, &mut out.observations);
    }

    /// Resend the last hop of every token sent from here: one may have been
    /// lost to a receiver that was down, and that receiver's announcements
    /// may have come while this process was down too (receivers drop what
    /// they already have).
    fn resend_all(&self, out: &mut Effects<Msg>) {
        let epoch = self.incarnation;
        for (to, tr) in self.core.bank.last_sent().collect::<Vec<_>>() {
            out.send(self.core.id(to), Msg::Transfer { tr, epoch, interval: 0, dv: Vec::new() });
        }
    }

    fn announce_recovery(&mut self, out: &mut Effects<Msg>) {
        if self.announce == 0 {
            return;
        }
        self.announce -= 1;
        let msg = Msg::Recovered {
            process: self.core.me,
            incarnation: self.incarnation,
            upto: self.core.bank.delivered,
        };
        for p in self.core.peers() {
            out.send(p, msg.clone());
        }
        out.set_timer(RETRY * (ANNOUNCEMENTS - self.announce), timer::RETRY);
    }

    /// Checkpoint and empty the log.
    fn checkpoint(&mut self, now: Time, out: &mut Effects<Msg>) -> u64 {
        let saved = Saved { at: now, index: self.index, bank: self.core.bank.clone() };
        let bytes = stable::encode(&saved);
        let size = bytes.len() as u64;
        out.store(crate::StableWrite::Put { key: "ck".into(), bytes });
        out.store(stable::rewrite::<Record>("log", &[]));
        size
    }

    pub(super) fn on_timer(&mut self, now: Time, id: TimerId, out: &mut Effects<Msg>) {
        match id {
            timer::STEP => {
                out.set_timer(self.core.cfg.step, timer::STEP);
                for (to, tr) in self.core.forward(now) {
                    out.send(to, Msg::Transfer { tr, epoch: self.incarnation, interval: 0, dv: Vec::new() });
                }
                self.core.report_ledger(now, false, &mut out.observations);
            }
            timer::CHECKPOINT => {
                out.set_timer(self.core.cfg.interval, timer::CHECKPOINT);
                self.index += 1;
                let bytes = self.checkpoint(now, out);
                let cost = self.core.charge_checkpoint(now);
                out.emit(Observation::Checkpoint(CheckpointEvent::Taken {
                    index: self.index,
                    bytes,
                    forced: false,
                    cost,
                }));
            }
            timer::RETRY => self.announce_recovery(out),
            _ => {}
        }
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Some(q) = self.core.index(from) else { return };
        match msg {
            Msg::Transfer { tr, .. } => {
                if self.core.bank.is_duplicate(&tr) {
                    return;
                }
                let (write, bytes) = stable::append("log", &[Record { from: q, tr, at: now }]);
                out.store(write);
                out.emit(Observation::Checkpoint(CheckpointEvent::Logged { messages: 1, bytes }));
                if self.core.deliver(tr) == Delivery::Output {
                    out.emit(Observation::Checkpoint(CheckpointEvent::Output {
                        token: tr.token,
                        waited: Default::default(),
                    }));
                }
            }
            Msg::Recovered { process, .. } => {
                let epoch = self.incarnation;
                for (to, tr) in
                    self.core.bank.last_sent().filter(|(to, _)| *to == process).collect::<Vec<_>>()
                {
                    out.send(self.core.id(to), Msg::Transfer { tr, epoch, interval: 0, dv: Vec::new() });
                }
            }
            _ => {}
        }
    }
}
