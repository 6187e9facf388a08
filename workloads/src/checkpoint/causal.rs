//! Causal message logging (after Alvisi and Marzullo; Manetho, family-based
//! logging) for f = 1: nothing is written to stable storage on the delivery
//! path, and yet no process ever becomes an orphan.
//!
//! Every delivery has a *determinant* `{source, ssn, dest, desn}`: who sent
//! the message and its send sequence number, who delivered it and its
//! delivery sequence number. Piecewise determinism makes the determinants
//! and the message contents enough to replay a process. The contents stay in
//! the *sender's* volatile log; the receiver keeps its determinants in
//! volatile memory and piggybacks every one that is not yet stable on each
//! message it sends. A receiver of piggybacked determinants keeps them and
//! answers `Held`; a determinant held by its creator and one other process is
//! stable at f + 1 = 2 processes and is no longer piggybacked. So any process
//! whose state depends on a delivery holds its determinant, or got it from a
//! process that does: if the delivering process crashes, a survivor knows
//! everything the rest of the system depends on. Nobody rolls back (no
//! orphans) and nobody waits for stable storage (no blocking).
//!
//! Recovery: the restarted process restores its checkpoint and asks every
//! peer for the determinants of its deliveries and the messages it was sent
//! (the senders' volatile logs); it replays them in `desn` order, then
//! delivers the rest of what it was sent as new deliveries. It blocks only
//! itself, and only while it gathers the replies.
//!
//! The case it does not cover: f + 1 = 2 overlapping failures. Determinants
//! held only by the two failed processes are gone, and the protocol cannot
//! tell whether the survivors depend on them. A process that is recovering
//! and learns of another recovery (a request from a recovering peer, or a
//! reply saying the peer is recovering) stops every process with an
//! `Unrecoverable` report, rather than risk a state that is silently wrong.
//!
//! Identity of a message: the send sequence number names it at its sender,
//! but a sender that re-executes after its own recovery renumbers its sends.
//! A determinant therefore also names the message by its token and hop,
//! which piecewise determinism makes the same in every execution; the
//! recovering process finds a message's content by that name.
//!
//! Output commit: an output leaves once the determinant of the delivery that
//! made it is stable (held by another process): at most one round trip.

use super::bank::{Bank, Delivery, Transfer};
use super::core::{phase, Core};
use super::{stable, timer, CheckpointEvent, Config, Msg, RETRY};
use crate::{Effects, NodeId, Observation, StableRecords, Time, TimerId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The failure this protocol does not tolerate.
pub const OVERLAP: &str = "causal logging (f = 1): two failures overlapped (a process crashed while \
     another was recovering); determinants held only by the failed processes may be lost, so the \
     protocol cannot rebuild a state it can vouch for";

/// One delivery's determinant. `token`/`hop` name the message in every
/// execution (see the module's notes).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Determinant {
    pub source: u16,
    pub ssn: u64,
    pub dest: u16,
    pub desn: u64,
    pub token: u32,
    pub hop: u32,
}

/// The bytes a determinant adds to a message (its encoded size).
pub fn determinant_bytes(d: &Determinant) -> u64 {
    stable::encode(d).len() as u64
}

/// The checkpoint as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Saved {
    at: Time,
    bank: Bank,
    ssn: u64,
    /// The sender's volatile log at the checkpoint: (dest, ssn, transfer).
    sent: Vec<(u16, u64, Transfer)>,
}

/// What a peer holds for a restarted process: the determinants of its
/// deliveries, and the messages the peer sent it (ssn, transfer).
type PeerHolds = (Vec<Determinant>, Vec<(u64, Transfer)>);

#[derive(Debug)]
enum Phase {
    Running,
    /// Restarted: gathering what the peers hold for us; messages are held.
    Recovering {
        replies: BTreeMap<u16, PeerHolds>,
        held: Vec<(NodeId, Msg)>,
    },
    /// The failures exceeded f: computing stopped.
    Halted,
}

/// A causally logging process.
#[derive(Debug)]
pub struct Process {
    pub(crate) core: Core,
    incarnation: u32,
    ssn: u64,
    /// Sender-based volatile log: (dest, ssn, transfer) of messages sent.
    sent: Vec<(u16, u64, Transfer)>,
    /// Determinants of our own deliveries since the checkpoint.
    own: Vec<Determinant>,
    /// Our determinants up to this desn are held by another process too.
    stable_upto: u64,
    /// The delivery count at the checkpoint.
    checkpoint_desn: u64,
    /// Other processes' determinants we hold, by dest then desn.
    held: BTreeMap<u16, BTreeMap<u64, Determinant>>,
    /// Outputs waiting for their determinant to be stable: (token, desn, made at).
    pending: Vec<(u32, u64, Time)>,
    /// A message went out this step (with the determinants piggybacked).
    sent_this_step: bool,
    phase: Phase,
    restarted: Option<StableRecords>,
    restored_to: Time,
}

impl Process {
    /// Process `me`; `stable` holds its records when it restarts after a crash.
    pub fn new(me: NodeId, cfg: &Config, stable: Option<StableRecords>) -> Process {
        Process {
            core: Core::new(me, cfg),
            incarnation: 0,
            ssn: 0,
            sent: Vec::new(),
            own: Vec::new(),
            stable_upto: 0,
            checkpoint_desn: 0,
            held: BTreeMap::new(),
            pending: Vec::new(),
            sent_this_step: false,
            phase: Phase::Running,
            restarted: stable,
            restored_to: Time::ZERO,
        }
    }

    /// True while this process gathers what it needs to replay.
    pub fn is_recovering(&self) -> bool {
        matches!(self.phase, Phase::Recovering { .. })
    }

    /// True once the failures exceeded what the protocol covers.
    pub fn is_halted(&self) -> bool {
        matches!(self.phase, Phase::Halted)
    }

    /// Our determinants not yet stable: piggybacked on every send.
    pub fn unstable(&self) -> Vec<Determinant> {
        self.own.iter().filter(|d| d.desn > self.stable_upto).copied().collect()
    }

    /// Determinants of `dest`'s deliveries held here.
    pub fn held_for(&self, dest: u16) -> Vec<Determinant> {
        self.held.get(&dest).map(|m| m.values().copied().collect()).unwrap_or_default()
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.core.started = now;
        out.set_timer(self.core.cfg.step, timer::STEP);
        out.set_timer(phase(&self.core.cfg, self.core.me), timer::CHECKPOINT);
        match self.restarted.take() {
            None => self.checkpoint(now, out),
            Some(records) => {
                if let Some(saved) = stable::get::<Saved>(&records, "ck") {
                    self.core.bank = saved.bank;
                    self.ssn = saved.ssn;
                    self.sent = saved.sent;
                    self.restored_to = saved.at;
                }
                self.checkpoint_desn = self.core.bank.delivered;
                self.stable_upto = self.checkpoint_desn;
                self.incarnation = stable::get::<u32>(&records, "incarnation").unwrap_or(0) + 1;
                // Send numbers of this incarnation never repeat an earlier one's.
                self.ssn = self.ssn.max(u64::from(self.incarnation) << 40);
                out.store(stable::put("incarnation", &self.incarnation));
                self.phase = Phase::Recovering { replies: BTreeMap::new(), held: Vec::new() };
                self.ask(out);
            }
        }
    }

    fn ask(&self, out: &mut Effects<Msg>) {
        if let Phase::Recovering { replies, .. } = &self.phase {
            self.core.ask_missing(replies, &Msg::CausalRequest { incarnation: self.incarnation }, out);
            out.set_timer(RETRY, timer::RETRY);
        }
    }

    /// Store a checkpoint and tell the senders what they may drop.
    fn checkpoint(&mut self, now: Time, out: &mut Effects<Msg>) {
        let saved = Saved { at: now, bank: self.core.bank.clone(), ssn: self.ssn, sent: self.sent.clone() };
        let bytes = stable::encode(&saved);
        let size = bytes.len() as u64;
        out.store(crate::StableWrite::Put { key: "ck".into(), bytes });
        let desn = self.core.bank.delivered;
        // Deliveries before the checkpoint are never replayed: their
        // determinants are no longer needed anywhere.
        self.checkpoint_desn = desn;
        self.own.retain(|d| d.desn > desn);
        self.stable_upto = self.stable_upto.max(desn);
        // An output in the checkpoint can no longer be lost.
        self.release(now, out);
        let seen: Vec<u32> = (0..self.core.cfg.tokens).map(|t| self.core.bank.seen(t)).collect();
        for p in self.core.peers() {
            out.send(p, Msg::CheckpointedAt { seen: seen.clone(), desn });
        }
        if now > Time::ZERO {
            let cost = self.core.charge_checkpoint(now);
            out.emit(Observation::Checkpoint(CheckpointEvent::Taken {
                index: desn,
                bytes: size,
                forced: false,
                cost,
            }));
        }
    }

    pub(super) fn on_timer(&mut self, now: Time, id: TimerId, out: &mut Effects<Msg>) {
        match id {
            timer::STEP => {
                out.set_timer(self.core.cfg.step, timer::STEP);
                if matches!(self.phase, Phase::Running) {
                    self.forward(now, out);
                    // Nothing carried our unstable determinants this step:
                    // send them alone, so that outputs can leave.
                    if !self.sent_this_step && !self.pending.is_empty() {
                        let dets = self.unstable();
                        if !dets.is_empty() {
                            let to = self.core.id((self.core.me + 1) % self.core.n() as u16);
                            self.piggybacked(&dets, out);
                            out.send(to, Msg::Determinants { dets });
                        }
                    }
                }
                self.sent_this_step = false;
                self.core.report_ledger(now, false, &mut out.observations);
            }
            timer::CHECKPOINT => {
                out.set_timer(self.core.cfg.interval, timer::CHECKPOINT);
                if matches!(self.phase, Phase::Running) {
                    self.checkpoint(now, out);
                }
            }
            timer::RETRY => self.ask(out),
            _ => {}
        }
    }

    fn piggybacked(&self, dets: &[Determinant], out: &mut Effects<Msg>) {
        if !dets.is_empty() {
            let bytes = dets.iter().map(determinant_bytes).sum();
            out.emit(Observation::Checkpoint(CheckpointEvent::Piggybacked {
                determinants: dets.len() as u64,
                bytes,
            }));
        }
    }

    /// Forward held tokens, logging each message in the sender's volatile log
    /// and piggybacking the unstable determinants.
    fn forward(&mut self, now: Time, out: &mut Effects<Msg>) {
        let sends = self.core.forward(now);
        if sends.is_empty() {
            return;
        }
        let dets = self.unstable();
        for (to, tr) in sends {
            let Some(dest) = self.core.index(to) else { continue };
            self.ssn += 1;
            self.sent.push((dest, self.ssn, tr));
            self.piggybacked(&dets, out);
            out.send(to, Msg::Causal { tr, ssn: self.ssn, dets: dets.clone() });
            self.sent_this_step = true;
        }
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Some(q) = self.core.index(from) else { return };
        if let Msg::Halt { reason } = msg {
            self.halt(reason, false, out);
            return;
        }
        match &mut self.phase {
            Phase::Halted => {
                if let Msg::CausalRequest { .. } = msg {
                    // A process back after the halt: it must stop too.
                    out.send(from, Msg::Halt { reason: OVERLAP.to_string() });
                }
                return;
            }
            Phase::Recovering { replies, held } => {
                match msg {
                    Msg::CausalReply { incarnation, dets, sent, recovering }
                        if incarnation == self.incarnation =>
                    {
                        if recovering {
                            self.halt(OVERLAP.to_string(), true, out);
                            return;
                        }
                        replies.insert(q, (dets, sent));
                        if replies.len() + 1 >= self.core.n() {
                            self.replay(now, out);
                        }
                    }
                    // Another process restarted while we recover: f + 1 failures overlap.
                    Msg::CausalRequest { .. } => self.halt(OVERLAP.to_string(), true, out),
                    Msg::CausalReply { .. } => {}
                    other => held.push((from, other)),
                }
                return;
            }
            Phase::Running => {}
        }
        match msg {
            Msg::Causal { tr, ssn, dets } => {
                self.keep(from, q, dets, out);
                self.deliver(now, q, ssn, tr);
            }
            Msg::Determinants { dets } => self.keep(from, q, dets, out),
            Msg::Held { dest, desn } if dest == self.core.me => {
                self.stable_upto = self.stable_upto.max(desn);
                self.release(now, out);
            }
            Msg::CheckpointedAt { seen, desn } => {
                self.sent
                    .retain(|(d, _, tr)| *d != q || seen.get(tr.token as usize).is_none_or(|s| tr.hop > *s));
                if let Some(m) = self.held.get_mut(&q) {
                    m.retain(|k, _| *k > desn);
                }
            }
            Msg::CausalRequest { incarnation } => {
                let dets = self.held_for(q);
                let sent: Vec<(u64, Transfer)> =
                    self.sent.iter().filter(|(d, _, _)| *d == q).map(|(_, s, tr)| (*s, *tr)).collect();
                out.send(from, Msg::CausalReply { incarnation, dets, sent, recovering: false });
                // It lost the determinants of ours it held: piggyback them again.
                self.stable_upto = self.checkpoint_desn;
            }
            Msg::Recovered { process, upto, .. } => {
                // Its determinants past `upto` named deliveries it did not replay.
                if let Some(m) = self.held.get_mut(&process) {
                    m.retain(|k, _| *k <= upto);
                }
            }
            _ => {}
        }
    }

    /// Keep piggybacked determinants; tell their creator we hold its own.
    fn keep(&mut self, from: NodeId, q: u16, dets: Vec<Determinant>, out: &mut Effects<Msg>) {
        let mut newest = None;
        for d in dets {
            if d.dest == self.core.me {
                continue;
            }
            if d.dest == q {
                newest = newest.max(Some(d.desn));
            }
            self.held.entry(d.dest).or_default().insert(d.desn, d);
        }
        if let Some(desn) = newest {
            out.send(from, Msg::Held { dest: q, desn });
        }
    }

    /// Deliver a message as a new delivery, creating its determinant.
    fn deliver(&mut self, now: Time, source: u16, ssn: u64, tr: Transfer) {
        let delivery = self.core.deliver(tr);
        if delivery == Delivery::Duplicate {
            return;
        }
        let desn = self.core.bank.delivered;
        self.own.push(Determinant { source, ssn, dest: self.core.me, desn, token: tr.token, hop: tr.hop });
        if delivery == Delivery::Output {
            self.pending.push((tr.token, desn, now));
        }
    }

    /// Release the outputs whose determinants are stable.
    fn release(&mut self, now: Time, out: &mut Effects<Msg>) {
        let upto = self.stable_upto;
        self.pending.retain(|&(token, desn, made)| {
            if desn <= upto {
                out.emit(Observation::Checkpoint(CheckpointEvent::Output { token, waited: now.since(made) }));
                false
            } else {
                true
            }
        });
    }

    /// Every peer answered: replay the deliveries the survivors know of, in
    /// desn order, then deliver the rest of what we were sent.
    fn replay(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Phase::Recovering { replies, held } = std::mem::replace(&mut self.phase, Phase::Running) else {
            return;
        };
        let mut dets: BTreeMap<u64, Determinant> = BTreeMap::new();
        let mut contents: BTreeMap<(u16, u32, u32), (u64, Transfer)> = BTreeMap::new();
        for (&q, (ds, sent)) in &replies {
            for d in ds {
                if d.desn <= self.checkpoint_desn {
                    continue;
                }
                if dets.insert(d.desn, *d).is_some_and(|old| old != *d) {
                    let reason =
                        format!("causal logging: two different determinants for delivery {}", d.desn);
                    self.halt(reason, true, out);
                    return;
                }
            }
            for &(ssn, tr) in sent {
                contents.insert((q, tr.token, tr.hop), (ssn, tr));
            }
        }
        let mut replayed = 0;
        for (expected, (desn, d)) in (self.checkpoint_desn + 1..).zip(&dets) {
            let content = contents.get(&(d.source, d.token, d.hop)).map(|c| c.1);
            let Some(tr) = content.filter(|_| *desn == expected) else {
                let reason = format!(
                    "causal logging: delivery {desn} of process {} cannot be replayed (its message or an \
                     earlier determinant is lost)",
                    self.core.me
                );
                self.halt(reason, true, out);
                return;
            };
            if self.core.deliver(tr) == Delivery::Output {
                out.emit(Observation::Checkpoint(CheckpointEvent::Output {
                    token: tr.token,
                    waited: Default::default(),
                }));
            }
            self.own.push(*d);
            replayed += 1;
        }
        // Every replayed determinant is held by a survivor.
        self.stable_upto = self.core.bank.delivered;
        let upto = self.core.bank.delivered;
        out.emit(Observation::Checkpoint(CheckpointEvent::RolledBack {
            crashed: true,
            distance: 0,
            undone: Some(0),
            restored_to: self.restored_to,
            replayed,
        }));
        out.emit(Observation::Checkpoint(CheckpointEvent::Recovered { took: now.since(self.core.started) }));
        for p in self.core.peers() {
            out.send(p, Msg::Recovered { process: self.core.me, incarnation: self.incarnation, upto });
        }
        // The rest of what we were sent: in flight when we crashed, or
        // delivered after the last determinant anyone holds (nobody depends on it).
        for ((q, _, _), (ssn, tr)) in contents {
            self.deliver(now, q, ssn, tr);
        }
        // Regenerate our sender log at once (and resend what the crash lost in flight).
        self.forward(now, out);
        for (from, msg) in held {
            self.on_message(now, from, msg, out);
        }
        self.core.report_ledger(now, true, &mut out.observations);
    }

    /// Stop computing: the failures exceed f. `tell`: spread the news.
    fn halt(&mut self, reason: String, tell: bool, out: &mut Effects<Msg>) {
        if self.is_halted() {
            return;
        }
        self.phase = Phase::Halted;
        self.core.unrecoverable(reason, tell, out);
    }
}

/// Processes whose determinants for `dest` are held anywhere (tests).
pub fn holders(processes: &[&Process], dest: u16, desn: u64) -> BTreeSet<u16> {
    processes
        .iter()
        .filter(|p| p.held.get(&dest).is_some_and(|m| m.contains_key(&desn)))
        .map(|p| p.core.me)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::{config, events};
    use crate::checkpoint::Protocol;

    #[test]
    fn determinants_ride_on_sends_until_another_process_holds_them() {
        let cfg = config(Protocol::CausalLogging, 3);
        let t = Time::from_millis;
        let mut p = Process::new(NodeId(1), &cfg, None);
        let mut out = Effects::new();
        p.on_start(Time::ZERO, &mut out);
        out.clear();
        let tr = Transfer { token: 0, hop: 1, amount: 9 };
        p.on_message(t(1), NodeId(0), Msg::Causal { tr, ssn: 4, dets: vec![] }, &mut out);
        let d = Determinant { source: 0, ssn: 4, dest: 1, desn: 1, token: 0, hop: 1 };
        assert_eq!(p.unstable(), vec![d], "the delivery's determinant, in volatile memory only");
        assert!(out.stable.is_empty(), "nothing written on the delivery path: no blocking");
        // The next send carries it.
        p.on_timer(t(5), timer::STEP, &mut out);
        let carried: Vec<_> = out
            .sends
            .iter()
            .filter_map(|(_, m)| match m {
                Msg::Causal { dets, .. } => Some(dets.clone()),
                _ => None,
            })
            .collect();
        assert!(!carried.is_empty() && carried.iter().all(|c| *c == vec![d]), "{carried:?}");
        // Process 2 receives it, keeps it and says so; the determinant is stable.
        let mut q = Process::new(NodeId(2), &cfg, None);
        let mut qout = Effects::new();
        q.on_start(Time::ZERO, &mut qout);
        qout.clear();
        let token0 = |m: &Msg| matches!(m, Msg::Causal { tr, .. } if tr.token == 0);
        let Some((to, msg)) = out.sends.iter().find(|(_, m)| token0(m)).cloned() else { panic!("a send") };
        assert_eq!(to, NodeId(route_of(&cfg, 1)));
        assert_eq!(to, NodeId(2), "this seed's route");
        q.on_message(t(6), NodeId(1), msg, &mut qout);
        assert_eq!(q.held_for(1), vec![d]);
        assert_eq!(qout.sends, vec![(NodeId(1), Msg::Held { dest: 1, desn: 1 })]);
        p.on_message(t(7), NodeId(2), Msg::Held { dest: 1, desn: 1 }, &mut out);
        assert!(p.unstable().is_empty(), "stable at f + 1 = 2 processes: no longer piggybacked");
    }

    /// Where process `me` sends token 0's second hop (the test's route).
    fn route_of(cfg: &Config, me: u16) -> u16 {
        super::super::bank::route(cfg.seed, cfg.processes.len() as u16, 0, 2, me).0
    }

    #[test]
    fn an_output_leaves_once_its_determinant_is_held_elsewhere() {
        let mut cfg = config(Protocol::CausalLogging, 2);
        (cfg.hops, cfg.tokens) = (1, 1);
        let t = Time::from_millis;
        let mut p = Process::new(NodeId(1), &cfg, None);
        let mut out = Effects::new();
        p.on_start(Time::ZERO, &mut out);
        out.clear();
        let tr = Transfer { token: 0, hop: 1, amount: 5 };
        p.on_message(t(1), NodeId(0), Msg::Causal { tr, ssn: 1, dets: vec![] }, &mut out);
        assert!(!events(&out).iter().any(|e| matches!(e, CheckpointEvent::Output { .. })));
        // Nothing else goes out: the determinant is sent alone on the next step.
        p.on_timer(t(5), timer::STEP, &mut out);
        assert!(out.sends.iter().any(|(to, m)| *to == NodeId(0) && matches!(m, Msg::Determinants { .. })));
        out.clear();
        p.on_message(t(7), NodeId(0), Msg::Held { dest: 1, desn: 1 }, &mut out);
        let waited = std::time::Duration::from_millis(6);
        assert_eq!(events(&out), vec![CheckpointEvent::Output { token: 0, waited }]);
    }

    #[test]
    fn a_restarted_process_replays_the_determinants_in_desn_order_and_an_overlap_halts() {
        let cfg = config(Protocol::CausalLogging, 3);
        let t = Time::from_millis;
        let mut p = Process::new(NodeId(1), &cfg, Some(StableRecords::new()));
        let mut out = Effects::new();
        p.on_start(t(10), &mut out);
        assert!(p.is_recovering());
        let asked =
            out.sends.iter().filter(|(_, m)| matches!(m, Msg::CausalRequest { incarnation: 1 })).count();
        assert_eq!(asked, 2);
        out.clear();
        let a = Transfer { token: 0, hop: 1, amount: 3 };
        let b = Transfer { token: 2, hop: 1, amount: 4 };
        let c = Transfer { token: 3, hop: 1, amount: 50 };
        // Process 0 sent a and c; process 2 sent b. Process 2 knows: b was
        // delivery 1 and a delivery 2; c was never delivered (in flight).
        let da = Determinant { source: 0, ssn: 1, dest: 1, desn: 2, token: 0, hop: 1 };
        let db = Determinant { source: 2, ssn: 7, dest: 1, desn: 1, token: 2, hop: 1 };
        let reply0 =
            Msg::CausalReply { incarnation: 1, dets: vec![], sent: vec![(1, a), (2, c)], recovering: false };
        p.on_message(t(11), NodeId(0), reply0, &mut out);
        assert!(p.is_recovering(), "waits for every peer");
        let reply2 =
            Msg::CausalReply { incarnation: 1, dets: vec![da, db], sent: vec![(7, b)], recovering: false };
        p.on_message(t(12), NodeId(2), reply2, &mut out);
        assert!(!p.is_recovering());
        assert_eq!(p.own[..2], [db, da], "replayed in desn order");
        assert_eq!(p.own[2].desn, 3, "c is a new delivery, after the replay");
        assert_eq!(p.core.bank.delivered, 3);
        assert!(events(&out).iter().any(|e| matches!(e, CheckpointEvent::RolledBack { replayed: 2, .. })));
        // A second restart overlapping a recovery halts everyone.
        let mut r = Process::new(NodeId(2), &cfg, Some(StableRecords::new()));
        let mut rout = Effects::new();
        r.on_start(t(20), &mut rout);
        rout.clear();
        r.on_message(t(21), NodeId(0), Msg::CausalRequest { incarnation: 1 }, &mut rout);
        assert!(r.is_halted());
        assert!(matches!(events(&rout)[..], [CheckpointEvent::Unrecoverable { .. }]));
        assert_eq!(rout.sends.iter().filter(|(_, m)| matches!(m, Msg::Halt { .. })).count(), 2);
    }
}
