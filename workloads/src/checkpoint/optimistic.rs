//! Optimistic message logging (after Strom and Yemini): deliveries are logged
//! in volatile memory and written to stable storage every `log_flush`, so
//! logging costs nothing on the delivery path; a crash loses the unlogged
//! tail. Every state interval is named (incarnation, deliveries) and every
//! process carries a dependency vector: the latest interval of every process
//! its state depends on, transitively, piggybacked on each message.
//!
//! A restarted process replays its log and announces how far its old
//! incarnation is recoverable. A process whose vector names a later interval
//! of that incarnation is an orphan: it restores its checkpoint and
//! re-delivers the logged messages that are not orphans themselves. Orphan
//! messages still in flight are discarded on arrival. Because vectors are
//! transitive, that one announcement reaches every orphan.
//!
//! Losses are kept on stable storage, and a peer that hears a restarted
//! process's announcement passes on the losses it knows of: a process that
//! was down while another announced still learns that it is an orphan.
//!
//! A checkpoint may be stored only once every interval it depends on is
//! logged (peers broadcast their logging progress), so an orphan never has
//! to go back further than its checkpoint. Output commit waits for the same
//! condition: an output leaves when every interval it depends on is logged.

use super::bank::{Bank, Delivery, Transfer};
use super::core::{phase, Core};
use super::{stable, timer, CheckpointEvent, Config, Dep, Msg, RETRY};
use crate::{Effects, NodeId, Observation, StableRecords, Time, TimerId};
use serde::{Deserialize, Serialize};

/// Announcements a restarted process sends (idempotent; connections may be coming up).
const ANNOUNCEMENTS: u32 = 4;

/// The checkpoint as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Saved {
    at: Time,
    index: u64,
    bank: Bank,
    dv: Vec<Dep>,
}

/// One log record: a delivery and the sender's dependency vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    from: u16,
    tr: Transfer,
    dv: Vec<Dep>,
    at: Time,
}

/// An optimistically logging process.
#[derive(Debug)]
pub struct Process {
    pub(crate) core: Core,
    incarnation: u32,
    dv: Vec<Dep>,
    /// Records since the stored checkpoint; the first `flushed` are stable.
    log: Vec<Record>,
    flushed: usize,
    saved: Saved,
    /// A checkpoint waiting for its dependencies to be logged, and the log position it covers.
    tentative: Option<(Saved, usize)>,
    /// Per process: how far its deliveries are logged, as far as we know.
    logged: Vec<Dep>,
    /// Announced losses: (process, incarnation, recoverable up to).
    lost: Vec<(u16, u32, u64)>,
    /// Outputs waiting for their dependencies to be logged.
    pending: Vec<(u32, Vec<Dep>, Time)>,
    announce: u32,
    restarted: Option<StableRecords>,
}

impl Process {
    /// Process `me`; `stable` holds its records when it restarts after a crash.
    pub fn new(me: NodeId, cfg: &Config, stable: Option<StableRecords>) -> Process {
        let core = Core::new(me, cfg);
        let n = core.n();
        let saved = Saved { at: Time::ZERO, index: 0, bank: core.bank.clone(), dv: vec![(0, 0); n] };
        Process {
            core,
            incarnation: 0,
            dv: vec![(0, 0); n],
            log: Vec::new(),
            flushed: 0,
            saved,
            tentative: None,
            logged: vec![(0, 0); n],
            lost: Vec::new(),
            pending: Vec::new(),
            announce: 0,
            restarted: stable,
        }
    }

    fn me(&self) -> usize {
        usize::from(self.core.me)
    }

    /// Does a state with vector `dv` depend on an interval announced lost?
    fn is_orphan(&self, dv: &[Dep]) -> bool {
        self.lost
            .iter()
            .any(|&(p, inc, upto)| dv.get(usize::from(p)).is_some_and(|&(i, s)| i == inc && s > upto))
    }

    /// Is every interval `dv` names logged?
    fn is_stable(&self, dv: &[Dep]) -> bool {
        dv.iter().zip(&self.logged).all(|(d, l)| d <= l)
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.core.started = now;
        out.set_timer(self.core.cfg.step, timer::STEP);
        out.set_timer(phase(&self.core.cfg, self.core.me), timer::CHECKPOINT);
        out.set_timer(self.core.cfg.log_flush, timer::FLUSH);
        match self.restarted.take() {
            None => {
                self.saved.at = now;
                out.store(stable::put("ck", &self.saved));
                out.store(stable::rewrite::<Record>("log", &[]));
            }
            Some(records) => self.restart(now, &records, out),
        }
    }

    fn restart(&mut self, now: Time, records: &StableRecords, out: &mut Effects<Msg>) {
        if let Some(saved) = stable::get::<Saved>(records, "ck") {
            self.saved = saved;
        }
        let old = stable::get::<u32>(records, "incarnation").unwrap_or(0);
        self.incarnation = old;
        self.core.bank = self.saved.bank.clone();
        self.dv = self.saved.dv.clone();
        // Losses announced before the crash: a logged delivery that depends
        // on one is an orphan and is not replayed.
        self.lost = stable::get(records, "lost").unwrap_or_default();
        let log: Vec<Record> = stable::read_log(records, "log");
        let mut restored_to = self.saved.at;
        let mut orphans = 0;
        for r in log {
            if self.is_orphan(&r.dv) {
                orphans += 1;
                continue;
            }
            restored_to = r.at;
            self.apply(now, r);
        }
        if orphans > 0 {
            out.emit(Observation::Checkpoint(CheckpointEvent::Orphans { messages: orphans }));
        }
        self.flushed = self.log.len();
        let upto = self.core.bank.delivered;
        // The old incarnation is recoverable up to here; everything after is lost.
        self.incarnation = old + 1;
        let me = self.me();
        if let Some(d) = self.dv.get_mut(me) {
            *d = (self.incarnation, upto);
        }
        if let Some(l) = self.logged.get_mut(me) {
            *l = (self.incarnation, upto);
        }
        self.lost.push((self.core.me, old, upto));
        out.store(stable::put("lost", &self.lost));
        out.store(stable::put("incarnation", &self.incarnation));
        out.emit(Observation::Checkpoint(CheckpointEvent::RolledBack {
            crashed: true,
            distance: 0,
            undone: None,
            restored_to,
            replayed: self.flushed as u64,
        }));
        out.emit(Observation::Checkpoint(CheckpointEvent::Recovered { took: now.since(self.core.started) }));
        self.announce = ANNOUNCEMENTS;
        self.announce_recovery(out);
        // Hops sent to a peer that was down may be lost, and its
        // announcements may have come while this process was down too.
        for (to, tr) in self.core.bank.last_sent().collect::<Vec<_>>() {
            let dv = self.dv.clone();
            out.send(self.core.id(to), Msg::Transfer { tr, epoch: self.incarnation, interval: 0, dv });
        }
        self.core.report_ledger(now, true, &mut out.observations);
    }

    fn announce_recovery(&mut self, out: &mut Effects<Msg>) {
        if self.announce == 0 {
            return;
        }
        self.announce -= 1;
        if let Some(&(process, incarnation, upto)) = self.lost.iter().rev().find(|l| l.0 == self.core.me) {
            for p in self.core.peers() {
                out.send(p, Msg::Recovered { process, incarnation, upto });
            }
        }
        out.set_timer(RETRY * (ANNOUNCEMENTS - self.announce), timer::RETRY);
    }

    /// Deliver a record (from the wire or a replay), logging it in volatile memory.
    fn apply(&mut self, now: Time, r: Record) {
        let delivery = self.core.deliver(r.tr);
        if delivery == Delivery::Duplicate {
            return;
        }
        for (mine, theirs) in self.dv.iter_mut().zip(&r.dv) {
            *mine = (*mine).max(*theirs);
        }
        let me = self.me();
        if let Some(d) = self.dv.get_mut(me) {
            *d = (self.incarnation, self.core.bank.delivered);
        }
        if delivery == Delivery::Output {
            // A replayed output may have been released before the crash; it
            // is released again (the recorder counts each token once).
            self.pending.push((r.tr.token, self.dv.clone(), now));
        }
        self.log.push(r);
    }

    pub(super) fn on_timer(&mut self, now: Time, id: TimerId, out: &mut Effects<Msg>) {
        match id {
            timer::STEP => {
                out.set_timer(self.core.cfg.step, timer::STEP);
                for (to, tr) in self.core.forward(now) {
                    out.send(
                        to,
                        Msg::Transfer { tr, epoch: self.incarnation, interval: 0, dv: self.dv.clone() },
                    );
                }
                self.core.report_ledger(now, false, &mut out.observations);
            }
            timer::FLUSH => {
                out.set_timer(self.core.cfg.log_flush, timer::FLUSH);
                self.flush(now, out);
            }
            timer::CHECKPOINT => {
                out.set_timer(self.core.cfg.interval, timer::CHECKPOINT);
                if self.tentative.is_none() {
                    let saved = Saved {
                        at: now,
                        index: self.saved.index + 1,
                        bank: self.core.bank.clone(),
                        dv: self.dv.clone(),
                    };
                    self.tentative = Some((saved, self.log.len()));
                    self.progress(now, out);
                }
            }
            timer::RETRY => self.announce_recovery(out),
            _ => {}
        }
    }

    /// Write the volatile tail of the log and tell everyone how far it goes.
    fn flush(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.flushed >= self.log.len() {
            return;
        }
        let (write, bytes) = stable::append("log", &self.log[self.flushed..]);
        out.store(write);
        let messages = (self.log.len() - self.flushed) as u64;
        out.emit(Observation::Checkpoint(CheckpointEvent::Logged { messages, bytes }));
        self.flushed = self.log.len();
        let upto = (self.incarnation, self.core.bank.delivered);
        let me = self.me();
        if let Some(l) = self.logged.get_mut(me) {
            *l = upto;
        }
        for p in self.core.peers() {
            out.send(p, Msg::Logged { incarnation: upto.0, upto: upto.1 });
        }
        self.progress(now, out);
    }

    /// Store the tentative checkpoint and release outputs whose dependencies are logged.
    fn progress(&mut self, now: Time, out: &mut Effects<Msg>) {
        let ready =
            self.tentative.as_ref().is_some_and(|(s, pos)| *pos <= self.flushed && self.is_stable(&s.dv));
        if ready {
            if let Some((saved, pos)) = self.tentative.take() {
                let bytes = stable::encode(&saved);
                let size = bytes.len() as u64;
                out.store(crate::StableWrite::Put { key: "ck".into(), bytes });
                self.log.drain(..pos);
                self.flushed -= pos;
                out.store(stable::rewrite("log", &self.log[..self.flushed]));
                let cost = self.core.charge_checkpoint(now);
                out.emit(Observation::Checkpoint(CheckpointEvent::Taken {
                    index: saved.index,
                    bytes: size,
                    forced: false,
                    cost,
                }));
                self.saved = saved;
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for (token, dv, made) in pending {
            if self.is_stable(&dv) {
                out.emit(Observation::Checkpoint(CheckpointEvent::Output { token, waited: now.since(made) }));
            } else {
                self.pending.push((token, dv, made));
            }
        }
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Some(q) = self.core.index(from) else { return };
        match msg {
            Msg::Transfer { tr, dv, .. } => {
                if self.is_orphan(&dv) {
                    out.emit(Observation::Checkpoint(CheckpointEvent::Orphans { messages: 1 }));
                    return;
                }
                self.apply(now, Record { from: q, tr, dv, at: now });
            }
            Msg::Logged { incarnation, upto } => {
                if let Some(l) = self.logged.get_mut(usize::from(q)) {
                    *l = (*l).max((incarnation, upto));
                }
                self.progress(now, out);
            }
            Msg::Recovered { process, incarnation, upto } => {
                let new = !self.lost.contains(&(process, incarnation, upto));
                if new {
                    self.lost.push((process, incarnation, upto));
                    out.store(stable::put("lost", &self.lost));
                    if let Some(l) = self.logged.get_mut(usize::from(process)) {
                        *l = (*l).max((incarnation + 1, upto));
                    }
                    if self.is_orphan(&self.dv) {
                        self.roll_back(now, out);
                    }
                }
                if process != q {
                    // Passed on by a peer (below): nothing of ours was lost with it.
                    self.progress(now, out);
                    return;
                }
                if new {
                    // It may have been down while others announced their losses.
                    for &(p, i, u) in &self.lost {
                        if p != process {
                            out.send(from, Msg::Recovered { process: p, incarnation: i, upto: u });
                        }
                    }
                }
                // Whatever it lost may include our last hops to it, and what
                // it knew of our logging.
                let (incarnation, upto) = self.logged.get(self.me()).copied().unwrap_or_default();
                out.send(from, Msg::Logged { incarnation, upto });
                let dv = self.dv.clone();
                for (to, tr) in
                    self.core.bank.last_sent().filter(|(to, _)| *to == process).collect::<Vec<_>>()
                {
                    out.send(
                        self.core.id(to),
                        Msg::Transfer { tr, epoch: self.incarnation, interval: 0, dv: dv.clone() },
                    );
                }
                self.progress(now, out);
            }
            _ => {}
        }
    }

    /// This process is an orphan: restore the checkpoint and re-deliver the
    /// logged messages that are not orphans, as a new incarnation.
    fn roll_back(&mut self, now: Time, out: &mut Effects<Msg>) {
        let before = self.core.bank.delivered;
        // A checkpoint still waiting is of a state being undone: start over.
        self.tentative = None;
        let log = std::mem::take(&mut self.log);
        self.core.bank = self.saved.bank.clone();
        self.dv = self.saved.dv.clone();
        self.incarnation += 1;
        let me = self.me();
        if let Some(d) = self.dv.get_mut(me) {
            *d = (self.incarnation, self.core.bank.delivered);
        }
        let stale_pending = std::mem::take(&mut self.pending);
        let mut orphans = 0;
        let mut restored_to = self.saved.at;
        let mut replayed = 0;
        for r in log {
            if self.is_orphan(&r.dv) {
                orphans += 1;
            } else {
                restored_to = restored_to.max(r.at);
                replayed += 1;
                self.apply(now, r);
            }
        }
        // Outputs that survived keep their original time.
        for (token, _, made) in stale_pending {
            if let Some(p) = self.pending.iter_mut().find(|p| p.0 == token) {
                p.2 = made;
            }
        }
        self.flushed = self.log.len();
        let me_logged = (self.incarnation, self.core.bank.delivered);
        if let Some(l) = self.logged.get_mut(me) {
            *l = me_logged;
        }
        out.store(stable::put("incarnation", &self.incarnation));
        out.store(stable::rewrite("log", &self.log));
        if orphans > 0 {
            out.emit(Observation::Checkpoint(CheckpointEvent::Orphans { messages: orphans }));
        }
        out.emit(Observation::Checkpoint(CheckpointEvent::RolledBack {
            crashed: false,
            distance: 0,
            undone: Some(before.saturating_sub(self.core.bank.delivered)),
            restored_to,
            replayed,
        }));
        for p in self.core.peers() {
            out.send(p, Msg::Logged { incarnation: me_logged.0, upto: me_logged.1 });
        }
        self.core.report_ledger(now, true, &mut out.observations);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::config;
    use crate::checkpoint::Protocol;
    use std::time::Duration;

    fn events(out: &Effects<Msg>) -> Vec<CheckpointEvent> {
        out.observations
            .iter()
            .filter_map(|o| match o {
                Observation::Checkpoint(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_process_that_depends_on_a_lost_interval_rolls_back_and_drops_the_orphan() {
        let cfg = config(Protocol::OptimisticLogging, 3);
        let mut p = Process::new(NodeId(1), &cfg, None);
        let mut out = Effects::new();
        p.on_start(Time::ZERO, &mut out);
        // From process 0 in its interval 5, and from process 2 in its interval 1.
        let orphan = Transfer { token: 0, hop: 1, amount: 30 };
        let fine = Transfer { token: 2, hop: 1, amount: 7 };
        let t = |ms| Time::from_millis(ms);
        p.on_message(
            t(1),
            NodeId(0),
            Msg::Transfer { tr: orphan, epoch: 0, interval: 0, dv: vec![(0, 5), (0, 0), (0, 0)] },
            &mut out,
        );
        p.on_message(
            t(2),
            NodeId(2),
            Msg::Transfer { tr: fine, epoch: 0, interval: 0, dv: vec![(0, 0), (0, 0), (0, 1)] },
            &mut out,
        );
        assert_eq!(p.core.bank.delivered, 2);
        let balance = p.core.bank.balance;
        // Process 0 crashed and can recover only up to its interval 3: interval 5 is lost.
        out.clear();
        p.on_message(t(3), NodeId(0), Msg::Recovered { process: 0, incarnation: 0, upto: 3 }, &mut out);
        let ev = events(&out);
        assert!(ev.contains(&CheckpointEvent::Orphans { messages: 1 }), "{ev:?}");
        assert!(
            ev.iter()
                .any(|e| matches!(e, CheckpointEvent::RolledBack { crashed: false, undone: Some(1), .. })),
            "{ev:?}"
        );
        assert_eq!(p.core.bank.delivered, 1, "the orphan delivery is undone, the other one kept");
        assert_eq!(p.core.bank.balance, balance - 30);
        assert!(!p.is_orphan(&p.dv), "no longer an orphan");
        // A late copy of the lost message is discarded on arrival.
        out.clear();
        p.on_message(
            t(4),
            NodeId(0),
            Msg::Transfer { tr: orphan, epoch: 0, interval: 0, dv: vec![(0, 5), (0, 0), (0, 0)] },
            &mut out,
        );
        assert_eq!(events(&out), vec![CheckpointEvent::Orphans { messages: 1 }]);
        assert_eq!(p.core.bank.delivered, 1);
        // The same token resent from the recovered state (new incarnation) is accepted.
        p.on_message(
            t(5),
            NodeId(0),
            Msg::Transfer { tr: orphan, epoch: 1, interval: 0, dv: vec![(1, 3), (0, 0), (0, 0)] },
            &mut out,
        );
        assert_eq!(p.core.bank.delivered, 2);
    }

    #[test]
    fn outputs_wait_until_every_interval_they_depend_on_is_logged() {
        let mut cfg = config(Protocol::OptimisticLogging, 2);
        cfg.hops = 1;
        let mut p = Process::new(NodeId(1), &cfg, None);
        let mut out = Effects::new();
        p.on_start(Time::ZERO, &mut out);
        out.clear();
        let last = Transfer { token: 0, hop: 1, amount: 5 };
        p.on_message(
            Time::from_millis(1),
            NodeId(0),
            Msg::Transfer { tr: last, epoch: 0, interval: 0, dv: vec![(0, 4), (0, 0)] },
            &mut out,
        );
        p.flush(Time::from_millis(2), &mut out);
        assert!(
            !events(&out).iter().any(|e| matches!(e, CheckpointEvent::Output { .. })),
            "process 0 has not logged 4"
        );
        out.clear();
        p.on_message(Time::from_millis(9), NodeId(0), Msg::Logged { incarnation: 0, upto: 4 }, &mut out);
        let waited = Duration::from_millis(8);
        assert_eq!(events(&out), vec![CheckpointEvent::Output { token: 0, waited }]);
    }
}
