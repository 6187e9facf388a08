//! A replica: the primary applies requests in sequence order, forwards them
//! to the backups and replies once every trusted backup acknowledged; a
//! backup applies what the primary sends, watches it, and takes over when it
//! is the lowest trusted replica and suspects the primary.

use super::{Config, Msg, BEAT_TIMER, TICK_TIMER};
use crate::heartbeat::{Beacon, DetectorConfig, Monitor};
use crate::kv::{KvOp, KvStore};
use crate::observation::FailoverPhase;
use crate::tmr::{Ledger, Op, Snapshot};
use crate::{Effects, NodeId, Observation, Time, TimerId};
use std::collections::BTreeMap;
use std::time::Duration;

/// Results kept for answering retried requests.
const MAX_RESULTS: usize = 1 << 16;

/// Where the replica stands in the protocol.
#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// Leading or following the current view.
    Normal,
    /// Restarted or left behind: waiting for the state from the primary.
    Joining { asked: Option<Time> },
    /// Took over the view: waiting for the trusted replicas to acknowledge it.
    Announcing { waiting: Vec<NodeId>, best: (u64, NodeId) },
    /// View installed: fetching the most advanced state from `from`.
    CatchingUp { from: NodeId },
}

/// One entry of the replicated log: a ledger request, or a key-value
/// client's operation.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Entry {
    Ledger(Op),
    Kv { client: NodeId, id: u64, op: KvOp },
}

/// The replica's state.
#[derive(Debug)]
pub struct Replica {
    me: NodeId,
    replicas: Vec<NodeId>,
    clients: Vec<NodeId>,
    detector: DetectorConfig,
    gap_timeout: Duration,
    restarted: bool,
    view: u64,
    primary: Option<NodeId>,
    phase: Phase,
    ledger: Ledger,
    results: BTreeMap<u64, i64>,
    /// Key-value mode: the registers (the ledger then only counts entries).
    kv: Option<KvStore>,
    /// Key-value mode: each entry's operation id, outcome and value, for the reply.
    kv_results: BTreeMap<u64, (u64, bool, Option<i64>)>,
    /// Primary in key-value mode: each client's operation in the log, (id, entry).
    kv_logged: BTreeMap<NodeId, (u64, u64)>,
    buffer: BTreeMap<u64, Entry>,
    gap_since: Option<Time>,
    /// Primary: requests applied or buffered whose client awaits the reply.
    awaiting: BTreeMap<u64, NodeId>,
    /// Primary: how far each backup has acknowledged.
    acked: BTreeMap<NodeId, u64>,
    beacon: Option<Beacon>,
    monitor: Option<Monitor>,
}

impl Replica {
    /// Replica `me`; a `restarted` one knows no primary until it hears from the others.
    pub fn new(me: NodeId, config: &Config, restarted: bool) -> Replica {
        Replica {
            me,
            replicas: config.replicas.clone(),
            clients: config.clients.clone(),
            detector: config.detector.clone(),
            gap_timeout: config.gap_timeout,
            restarted,
            view: 0,
            primary: if restarted { None } else { config.replicas.first().copied() },
            phase: if restarted { Phase::Joining { asked: None } } else { Phase::Normal },
            ledger: Ledger::new(),
            results: BTreeMap::new(),
            kv: (config.keys > 0).then(KvStore::default),
            kv_results: BTreeMap::new(),
            kv_logged: BTreeMap::new(),
            buffer: BTreeMap::new(),
            gap_since: None,
            awaiting: BTreeMap::new(),
            acked: BTreeMap::new(),
            beacon: None,
            monitor: None,
        }
    }

    /// The current view and its primary, as this replica knows them.
    pub fn view(&self) -> (u64, Option<NodeId>) {
        (self.view, self.primary)
    }

    /// Whether this replica serves clients now.
    pub fn is_serving(&self) -> bool {
        self.primary == Some(self.me) && self.phase == Phase::Normal
    }

    /// The replicated state.
    pub fn snapshot(&self) -> Snapshot {
        self.ledger.snapshot()
    }

    /// Key-value mode: the value of register `key`.
    pub fn register(&self, key: u64) -> Option<i64> {
        self.kv.as_ref().and_then(|kv| kv.get(key))
    }

    /// The state as sent in a state transfer.
    fn state_reply(&self) -> Msg {
        Msg::StateReply {
            view: self.view,
            snapshot: self.ledger.snapshot(),
            kv: self.kv.clone().map(Box::new),
        }
    }

    fn suspects(&self, n: NodeId) -> bool {
        self.monitor.as_ref().is_some_and(|m| m.suspects(n))
    }

    /// The backups a primary waits for: the other replicas it trusts.
    fn backups(&self) -> Vec<NodeId> {
        self.replicas.iter().copied().filter(|r| *r != self.me && !self.suspects(*r)).collect()
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        let _ = self.restarted;
        self.beacon = Some(Beacon::new(now, self.detector.interval));
        let monitor = Monitor::new(self.me, &self.replicas, &self.detector, now);
        out.set_timer(monitor.check_every(), TICK_TIMER);
        self.monitor = Some(monitor);
        self.beat(now, out);
    }

    fn beat(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Some(b) = &mut self.beacon else { return };
        let (seq, next) = b.beat(now);
        let epoch = b.epoch();
        for &r in &self.replicas {
            if r != self.me {
                out.send(r, Msg::Heartbeat { epoch, seq, view: self.view, primary: self.primary });
            }
        }
        out.set_timer(next, BEAT_TIMER);
    }

    pub(super) fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match timer {
            BEAT_TIMER => self.beat(now, out),
            TICK_TIMER => {
                let changed = self.monitor.as_mut().is_some_and(|m| m.check(now, out));
                if changed {
                    self.suspicions_changed(now, out);
                }
                self.tick(now, out);
                let every = self.monitor.as_ref().map_or(Duration::from_millis(1), |m| m.check_every());
                out.set_timer(every, TICK_TIMER);
            }
            _ => {}
        }
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match msg {
            Msg::Request { seq, op } => self.on_request(now, from, seq, op, out),
            Msg::Update { view, seq, op } => self.on_update(now, from, view, seq, Entry::Ledger(op), out),
            Msg::KvRequest { id, op } => self.on_kv_request(now, from, id, op, out),
            Msg::KvUpdate { view, seq, client, id, op } => {
                self.on_update(now, from, view, seq, Entry::Kv { client, id, op }, out);
            }
            Msg::Ack { view, seq } => {
                if view == self.view && self.is_serving() {
                    let a = self.acked.entry(from).or_insert(0);
                    *a = (*a).max(seq);
                    self.try_reply(out);
                }
            }
            Msg::Heartbeat { epoch, seq, view, primary } => {
                let trusted_again =
                    self.monitor.as_mut().is_some_and(|m| m.heartbeat(now, from, epoch, seq, out));
                if trusted_again && self.is_serving() {
                    // A returning backup joins the acknowledgement set: bring it up to date first.
                    out.send(from, self.state_reply());
                }
                if let Some(p) = primary {
                    let newer = view > self.view || (self.primary.is_none() && view >= self.view);
                    if newer && p != self.me {
                        self.adopt(view, p);
                    }
                }
            }
            Msg::NewView { view } => {
                if view > self.view || (view == self.view && self.primary == Some(from)) {
                    self.adopt(view, from);
                    out.send(from, Msg::ViewAck { view, seq: self.ledger.seq() });
                }
            }
            Msg::ViewAck { view, seq } => {
                if view != self.view {
                    return;
                }
                if let Phase::Announcing { waiting, best } = &mut self.phase {
                    waiting.retain(|w| *w != from);
                    if seq > best.0 {
                        *best = (seq, from);
                    }
                    self.acked.insert(from, seq);
                } else {
                    return;
                }
                self.maybe_installed(now, out);
            }
            Msg::StateRequest => {
                if !matches!(self.phase, Phase::Joining { .. }) {
                    out.send(from, self.state_reply());
                }
            }
            Msg::StateReply { view, snapshot, kv } => self.on_state(now, from, view, snapshot, kv, out),
            Msg::Reply { .. } | Msg::Primary { .. } | Msg::KvReply { .. } => {}
        }
    }

    /// Follow `primary` in `view`, stepping down if this replica led an older view.
    fn adopt(&mut self, view: u64, primary: NodeId) {
        self.view = view;
        self.primary = Some(primary);
        if matches!(self.phase, Phase::Announcing { .. } | Phase::CatchingUp { .. }) {
            self.phase = Phase::Normal;
        }
        // Clients retry at the new primary.
        self.awaiting.clear();
        self.acked.clear();
        self.kv_logged.clear();
    }

    /// A replica that does not serve points the client to the primary it follows.
    fn redirect(&self, client: NodeId, out: &mut Effects<Msg>) {
        if let (Some(p), Phase::Normal) = (self.primary, &self.phase) {
            if p != self.me {
                out.send(client, Msg::Primary { view: self.view, primary: p });
            }
        }
    }

    fn on_request(&mut self, now: Time, client: NodeId, seq: u64, op: Op, out: &mut Effects<Msg>) {
        if !self.is_serving() {
            self.redirect(client, out);
            return;
        }
        if seq > self.ledger.seq() {
            self.buffer.insert(seq, Entry::Ledger(op));
        } else if !self.results.contains_key(&seq) {
            return;
        }
        self.awaiting.insert(seq, client);
        self.drain(now, out);
    }

    /// The primary appends a key-value operation to the log (once: a retry
    /// waits for the entry already there) and replies once it is replicated.
    fn on_kv_request(&mut self, now: Time, client: NodeId, id: u64, op: KvOp, out: &mut Effects<Msg>) {
        if self.kv.is_none() {
            return;
        }
        if !self.is_serving() {
            self.redirect(client, out);
            return;
        }
        let seq = match self.kv_logged.get(&client) {
            Some(&(logged, seq)) if logged == id => seq,
            _ => {
                let seq = self.ledger.seq() + 1;
                self.buffer.insert(seq, Entry::Kv { client, id, op });
                self.kv_logged.insert(client, (id, seq));
                seq
            }
        };
        self.awaiting.insert(seq, client);
        self.drain(now, out);
    }

    fn on_update(&mut self, now: Time, from: NodeId, view: u64, seq: u64, op: Entry, out: &mut Effects<Msg>) {
        if view < self.view || (view == self.view && self.primary != Some(from)) {
            return;
        }
        if view > self.view {
            self.adopt(view, from);
        }
        if seq > self.ledger.seq() {
            self.buffer.insert(seq, op);
        }
        if matches!(self.phase, Phase::Joining { .. }) {
            return;
        }
        self.drain(now, out);
    }

    fn on_state(
        &mut self,
        now: Time,
        from: NodeId,
        view: u64,
        snapshot: Snapshot,
        kv: Option<Box<KvStore>>,
        out: &mut Effects<Msg>,
    ) {
        if view < self.view {
            return;
        }
        if snapshot.seq > self.ledger.seq() {
            self.ledger = Ledger::restore(snapshot);
            if let (Some(mine), Some(theirs)) = (self.kv.as_mut(), kv) {
                *mine = *theirs;
            }
        }
        match self.phase.clone() {
            Phase::CatchingUp { from: f } if f == from => self.caught_up(now, out),
            Phase::Joining { .. } if self.primary == Some(from) => {
                self.phase = Phase::Normal;
                self.drain(now, out);
            }
            Phase::Normal if self.primary == Some(from) => self.drain(now, out),
            _ => {}
        }
    }

    /// Apply buffered requests that follow the ledger; a primary forwards
    /// them and replies what the backups have acknowledged, a backup acknowledges.
    fn drain(&mut self, now: Time, out: &mut Effects<Msg>) {
        let serving = self.is_serving();
        let backups = if serving { self.backups() } else { Vec::new() };
        let mut progressed = false;
        while let Some(entry) = self.buffer.first_entry() {
            let seq = *entry.key();
            if seq <= self.ledger.seq() {
                entry.remove();
            } else if seq == self.ledger.seq() + 1 {
                let op = entry.remove();
                self.apply(seq, op, &backups, out);
                progressed = true;
            } else {
                break;
            }
        }
        self.gap_since = match self.gap_since {
            _ if self.buffer.is_empty() => None,
            Some(since) if !progressed => Some(since),
            _ => Some(now),
        };
        if serving {
            self.try_reply(out);
        } else if let (Some(p), Phase::Normal) = (self.primary, &self.phase) {
            if p != self.me {
                out.send(p, Msg::Ack { view: self.view, seq: self.ledger.seq() });
            }
        }
    }

    fn apply(&mut self, seq: u64, entry: Entry, backups: &[NodeId], out: &mut Effects<Msg>) {
        match entry {
            Entry::Ledger(op) => {
                let value = self.ledger.apply(seq, op);
                self.results.insert(seq, value);
                if self.results.len() > MAX_RESULTS {
                    self.results.pop_first();
                }
                for &b in backups {
                    out.send(b, Msg::Update { view: self.view, seq, op });
                }
            }
            Entry::Kv { client, id, op } => {
                let Some(kv) = self.kv.as_mut() else { return };
                let (ok, value) = kv.apply(client, id, op);
                self.ledger.advance(seq);
                self.kv_results.insert(seq, (id, ok, value));
                if self.kv_results.len() > MAX_RESULTS {
                    self.kv_results.pop_first();
                }
                for &b in backups {
                    out.send(b, Msg::KvUpdate { view: self.view, seq, client, id, op });
                }
            }
        }
    }

    /// Reply, in order, every awaited request all trusted backups have acknowledged.
    fn try_reply(&mut self, out: &mut Effects<Msg>) {
        let backups = self.backups();
        let acked = backups.iter().map(|b| self.acked.get(b).copied().unwrap_or(0)).min().unwrap_or(u64::MAX);
        let upto = acked.min(self.ledger.seq());
        while let Some(entry) = self.awaiting.first_entry() {
            let seq = *entry.key();
            if seq > upto {
                break;
            }
            let client = entry.remove();
            if let Some(value) = self.results.get(&seq) {
                out.send(client, Msg::Reply { seq, value: *value });
            } else if let Some(&(id, ok, value)) = self.kv_results.get(&seq) {
                out.send(client, Msg::KvReply { id, ok, value });
            }
        }
    }

    fn suspicions_changed(&mut self, now: Time, out: &mut Effects<Msg>) {
        let suspected: Vec<NodeId> = self.replicas.iter().copied().filter(|r| self.suspects(*r)).collect();
        if let Phase::Announcing { waiting, .. } = &mut self.phase {
            waiting.retain(|w| !suspected.contains(w));
            self.maybe_installed(now, out);
        } else if let Phase::CatchingUp { from } = self.phase {
            if suspected.contains(&from) {
                // The replica holding the newest state is gone: serve with ours.
                self.caught_up(now, out);
            }
        }
        if self.is_serving() {
            self.try_reply(out);
        }
        self.maybe_take_over(now, out);
    }

    /// Take over when the primary is suspected and every replica before this one is too.
    fn maybe_take_over(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Some(p) = self.primary else { return };
        if p == self.me || self.phase != Phase::Normal || !self.suspects(p) {
            return;
        }
        let first = self.replicas.iter().copied().find(|r| *r != p && (*r == self.me || !self.suspects(*r)));
        if first != Some(self.me) {
            return;
        }
        self.view += 1;
        self.primary = Some(self.me);
        self.awaiting.clear();
        self.acked.clear();
        out.emit(Observation::Failover { phase: FailoverPhase::Detected, view: self.view });
        let waiting = self.backups();
        for &w in &waiting {
            out.send(w, Msg::NewView { view: self.view });
        }
        self.phase = Phase::Announcing { waiting, best: (self.ledger.seq(), self.me) };
        self.maybe_installed(now, out);
    }

    fn maybe_installed(&mut self, now: Time, out: &mut Effects<Msg>) {
        let Phase::Announcing { waiting, best } = &self.phase else { return };
        if !waiting.is_empty() {
            return;
        }
        let best = *best;
        out.emit(Observation::Failover { phase: FailoverPhase::ViewInstalled, view: self.view });
        if best.0 > self.ledger.seq() {
            self.phase = Phase::CatchingUp { from: best.1 };
            out.send(best.1, Msg::StateRequest);
        } else {
            self.caught_up(now, out);
        }
    }

    fn caught_up(&mut self, now: Time, out: &mut Effects<Msg>) {
        self.phase = Phase::Normal;
        out.emit(Observation::Failover { phase: FailoverPhase::CaughtUp, view: self.view });
        for b in self.backups() {
            if self.acked.get(&b).copied().unwrap_or(0) < self.ledger.seq() {
                out.send(b, self.state_reply());
            }
        }
        for &c in &self.clients {
            out.send(c, Msg::Primary { view: self.view, primary: self.me });
        }
        self.drain(now, out);
    }

    /// Gaps and joining, looked at on every check.
    fn tick(&mut self, now: Time, out: &mut Effects<Msg>) {
        if let Phase::Joining { asked } = self.phase {
            let retry = self.detector.interval.max(Duration::from_millis(10));
            if let Some(p) = self.primary.filter(|p| *p != self.me) {
                if asked.is_none_or(|a| now >= a + retry) {
                    self.phase = Phase::Joining { asked: Some(now) };
                    out.send(p, Msg::StateRequest);
                }
            }
            return;
        }
        let Some(since) = self.gap_since else { return };
        if now < since + self.gap_timeout {
            return;
        }
        if self.is_serving() && self.kv.is_some() {
            // Entries past a gap came from an older view's primary: the
            // clients whose operations they were retry here.
            self.buffer.clear();
            self.gap_since = None;
        } else if self.is_serving() {
            // The client's request was lost for good (sent to a dead primary,
            // or dropped): ops are a function of the sequence number, so the
            // primary re-derives it rather than stop every later request.
            let upto = self.buffer.keys().next().map_or(self.ledger.seq(), |first| first - 1);
            for seq in self.ledger.seq() + 1..=upto {
                self.buffer.insert(seq, Entry::Ledger(Op::for_seq(seq)));
            }
            self.drain(now, out);
        } else if self.phase == Phase::Normal {
            self.phase = Phase::Joining { asked: None };
            self.gap_since = None;
        }
    }
}
