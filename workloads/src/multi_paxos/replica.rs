//! A Multi-Paxos replica: acceptor, learner and (when it stands) leader.

use super::{Cmd, Config, MpEvent, Msg, Slot, DIGEST_EVERY};
use crate::heartbeat::Detector;
use crate::kv::KvStore;
use crate::observation::FailoverPhase;
use crate::paxos::Ballot;
use crate::seed::splitmix64_words;
use crate::{Effects, NodeId, Observation, StableRecords, StableWrite, Time, TimerId};
use std::collections::{BTreeMap, BTreeSet};

/// The replica's one periodic timer (heartbeats, detection, retries).
const TICK: TimerId = TimerId(1);
/// Stable record of the acceptor's promise.
const PROMISE: &str = "mp-promise";
/// Stable record of its acceptances, appended: the last per slot holds.
const ACCEPTED: &str = "mp-accepted";
/// Chosen commands one catch-up reply carries at most.
const BATCH: usize = 128;

/// An acceptor's open acceptances: (slot, ballot, command).
type Open = Vec<(Slot, Ballot, Cmd)>;

/// A promise as a candidate keeps it: the acceptor's commit point and its open acceptances.
type Promised = BTreeMap<NodeId, (Slot, Open)>;

/// What the replica is doing about leadership.
#[derive(Debug)]
enum Phase {
    Follower,
    /// Standing with `self.ballot` since `since`; promises so far, each
    /// with the acceptor's commit point and its open acceptances.
    Candidate {
        since: Time,
        promises: Promised,
    },
    Leader,
}

/// A Multi-Paxos replica.
#[derive(Debug)]
pub struct Replica {
    me: NodeId,
    config: Config,
    /// The other replicas.
    peers: Vec<NodeId>,
    // Acceptor (also in stable storage).
    promised: Ballot,
    accepted: BTreeMap<Slot, (Ballot, Cmd)>,
    // Learner.
    chosen: BTreeMap<Slot, Cmd>,
    /// Acceptances heard, by (slot, ballot, command digest).
    votes: BTreeMap<(Slot, Ballot, u64), (Cmd, BTreeSet<NodeId>)>,
    /// The first slot not yet applied.
    applied: Slot,
    /// Digest of the applied log.
    digest: u64,
    store: KvStore,
    // Leader.
    ballot: Ballot,
    phase: Phase,
    highest_round: u64,
    next_slot: Slot,
    /// The leader's proposals not yet chosen, with when it last sent them.
    proposals: BTreeMap<Slot, (Cmd, Time)>,
    /// Client operations proposed and not yet applied.
    in_flight: BTreeSet<(NodeId, u64)>,
    /// A new leader serves once it has applied every slot below this.
    serving_from: Option<Slot>,
    /// Preempted by a higher ballot: it does not stand again before this,
    /// so that a leader it still suspects (no heartbeat of its has arrived
    /// yet) is heard from before the two duel.
    quiet_until: Time,
    // Failure detection.
    detectors: BTreeMap<NodeId, Detector>,
    suspected: BTreeSet<NodeId>,
    beat_seq: u64,
    next_beat: Time,
    /// The leader others announce: (ballot round, replica).
    leader_hint: Option<(u64, NodeId)>,
    // Catch-up.
    /// The furthest commit point heard of, and from whom.
    heard: (Slot, NodeId),
    /// Since when this replica has been behind the commit point it heard of then.
    behind: Option<(Time, Slot)>,
    /// A restarted replica (its learned log lost): the commit point it must
    /// reach, once it hears of one.
    catching: Option<Option<Slot>>,
}

/// A command's digest: equal commands, equal digests.
fn digest_of(cmd: &Cmd) -> u64 {
    match cmd {
        Cmd::Noop => 0x6e6f_6f70,
        Cmd::Op { client, id, op } => splitmix64_words(&[
            u64::from(client.0),
            *id,
            op.f as u64,
            op.key,
            op.value.map_or(u64::MAX, |v| v as u64),
            op.expected.map_or(u64::MAX, |v| v as u64),
        ]),
    }
}

/// Every vote key of `slot`.
fn slot_range(slot: Slot) -> std::ops::RangeInclusive<(Slot, Ballot, u64)> {
    (slot, Ballot::default(), 0)..=(slot, Ballot { round: u64::MAX, proposer: u16::MAX }, u64::MAX)
}

/// The command a majority accepted in `slot` with `ballot`, if one has.
fn voters_cmd(
    votes: &BTreeMap<(Slot, Ballot, u64), (Cmd, BTreeSet<NodeId>)>,
    slot: Slot,
    ballot: Ballot,
    majority: usize,
) -> Option<Cmd> {
    votes
        .range(slot_range(slot))
        .find(|((_, b, _), (_, v))| *b == ballot && v.len() >= majority)
        .map(|(_, (c, _))| c.clone())
}

impl Replica {
    /// Replica `me` of `config`, with what its stable storage kept; a
    /// `restarted` one has lost its learned log and catches up.
    pub fn new(me: NodeId, config: &Config, stable: &StableRecords, restarted: bool) -> Replica {
        let promised =
            stable.get(PROMISE).and_then(|b| postcard::from_bytes::<Ballot>(b).ok()).unwrap_or_default();
        let mut accepted = BTreeMap::new();
        if let Some(mut bytes) = stable.get(ACCEPTED).map(Vec::as_slice) {
            while let Ok(((slot, ballot, cmd), rest)) =
                postcard::take_from_bytes::<(Slot, Ballot, Cmd)>(bytes)
            {
                accepted.insert(slot, (ballot, cmd));
                bytes = rest;
            }
        }
        Replica {
            me,
            config: config.clone(),
            peers: config.replicas.iter().copied().filter(|r| *r != me).collect(),
            highest_round: promised.round,
            promised,
            accepted,
            chosen: BTreeMap::new(),
            votes: BTreeMap::new(),
            applied: 0,
            digest: 0,
            store: KvStore::default(),
            ballot: Ballot::default(),
            phase: Phase::Follower,
            next_slot: 0,
            proposals: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            serving_from: None,
            quiet_until: Time::ZERO,
            detectors: BTreeMap::new(),
            suspected: BTreeSet::new(),
            beat_seq: 0,
            next_beat: Time::ZERO,
            leader_hint: None,
            heard: (0, me),
            behind: None,
            catching: restarted.then_some(None),
        }
    }

    /// Whether this replica leads now.
    pub fn leads(&self) -> bool {
        matches!(self.phase, Phase::Leader)
    }

    /// The first slot this replica has not applied.
    pub fn applied(&self) -> Slot {
        self.applied
    }

    /// The commands this replica learned chosen, by slot.
    pub fn chosen(&self) -> &BTreeMap<Slot, Cmd> {
        &self.chosen
    }

    /// The registers as this replica's applied log left them.
    pub fn store(&self) -> &KvStore {
        &self.store
    }

    pub(super) fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        for &p in &self.peers {
            self.detectors.insert(p, Detector::new(&self.config.detector, now));
        }
        if self.catching.is_some() {
            out.emit(Observation::MultiPaxos(MpEvent::Restarted));
        }
        self.next_beat = now;
        self.tick(now, out);
    }

    pub(super) fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        if timer == TICK {
            self.tick(now, out);
        }
    }

    /// Whether every lower replica is suspected: this one should lead.
    fn eligible(&self) -> bool {
        self.config.replicas.iter().filter(|r| **r < self.me).all(|r| self.suspected.contains(r))
    }

    fn tick(&mut self, now: Time, out: &mut Effects<Msg>) {
        if now >= self.next_beat {
            self.beat_seq += 1;
            let leading = self.leads().then_some(self.ballot.round);
            let beat = Msg::Heartbeat { seq: self.beat_seq, commit: self.applied, leading };
            for &p in &self.peers {
                out.send(p, beat.clone());
            }
            self.next_beat = now + self.config.detector.interval;
        }
        for (&p, d) in &self.detectors {
            let now_suspected = d.suspects(now);
            if now_suspected && self.suspected.insert(p) {
                out.emit(Observation::Suspect { peer: p });
            } else if !now_suspected && self.suspected.remove(&p) {
                out.emit(Observation::Trust { peer: p });
            }
        }
        let eligible = self.eligible();
        match &self.phase {
            Phase::Follower if eligible && now >= self.quiet_until => self.stand(now, out),
            Phase::Candidate { since, .. } if eligible && now >= *since + self.config.retry => {
                self.stand(now, out)
            }
            Phase::Candidate { .. } | Phase::Leader if !eligible => self.step_down(),
            Phase::Leader => self.resend(now, out),
            _ => {}
        }
        // A replica still short of a commit point it heard of a retry ago
        // missed something: it asks. One that restarted asks at once.
        match self.behind {
            Some((_, target)) if self.applied >= target => self.behind = None,
            Some((since, _)) if now >= since + self.config.retry => self.ask(now, out),
            None if self.heard.0 > self.applied && self.catching.is_some() => self.ask(now, out),
            None if self.heard.0 > self.applied => self.behind = Some((now, self.heard.0)),
            _ => {}
        }
        out.set_timer(self.config.detector.check, TICK);
    }

    /// `from` has learned every slot below `commit`. A restarted replica
    /// takes the first commit point it hears of as the one to catch up to.
    fn hear(&mut self, commit: Slot, from: NodeId) {
        if commit > self.heard.0 {
            self.heard = (commit, from);
        }
        if self.catching == Some(None) {
            self.catching = Some(Some(commit));
        }
    }

    /// Ask the replica furthest ahead for the chosen commands this one lacks.
    fn ask(&mut self, now: Time, out: &mut Effects<Msg>) {
        out.send(self.heard.1, Msg::CatchUp { from: self.applied });
        self.behind = Some((now, self.heard.0));
    }

    /// Stand for leader with a ballot higher than any seen (phase 1 for
    /// every slot from the first this replica has not learned).
    fn stand(&mut self, now: Time, out: &mut Effects<Msg>) {
        let round = self.highest_round.max(self.promised.round).max(self.ballot.round) + 1;
        self.highest_round = round;
        self.ballot = Ballot { round, proposer: self.me.0 };
        self.phase = Phase::Candidate { since: now, promises: BTreeMap::new() };
        self.proposals.clear();
        self.in_flight.clear();
        out.emit(Observation::Failover { phase: FailoverPhase::Detected, view: round });
        out.emit(Observation::MultiPaxos(MpEvent::Candidate { round }));
        let (ballot, from) = (self.ballot, self.applied);
        for &p in &self.peers {
            out.send(p, Msg::Prepare { ballot, from });
        }
        let me = self.me;
        match self.prepare(now, ballot, from, out) {
            Ok((commit, accepted)) => self.promise(now, me, ballot, commit, accepted, out),
            Err(_) => self.preempted(now),
        }
    }

    /// A higher ballot than its own was seen: back to following, for a while.
    fn preempted(&mut self, now: Time) {
        self.step_down();
        self.quiet_until = now + self.config.retry;
    }

    fn step_down(&mut self) {
        self.phase = Phase::Follower;
        self.proposals.clear();
        self.in_flight.clear();
        self.serving_from = None;
    }

    /// The leader sends its unchosen proposals again.
    fn resend(&mut self, now: Time, out: &mut Effects<Msg>) {
        let retry = self.config.retry;
        let due: Vec<(Slot, Cmd)> = self
            .proposals
            .iter_mut()
            .filter(|(_, (_, t))| now >= *t + retry)
            .map(|(s, (c, t))| {
                *t = now;
                (*s, c.clone())
            })
            .collect();
        for (slot, cmd) in due {
            for &p in &self.peers {
                out.send(p, Msg::Accept { ballot: self.ballot, slot, cmd: cmd.clone() });
            }
        }
    }

    /// Acceptor, phase 1: promise `ballot`, or refuse with the higher promise.
    fn prepare(
        &mut self,
        now: Time,
        ballot: Ballot,
        from: Slot,
        out: &mut Effects<Msg>,
    ) -> Result<(Slot, Open), Ballot> {
        self.highest_round = self.highest_round.max(ballot.round);
        if ballot <= self.promised {
            return Err(self.promised);
        }
        self.promised = ballot;
        if let Ok(bytes) = postcard::to_allocvec(&ballot) {
            out.store(StableWrite::Put { key: PROMISE.into(), bytes });
        }
        if ballot > self.ballot && !matches!(self.phase, Phase::Follower) {
            self.preempted(now);
        }
        let open = from.max(self.applied);
        let accepted = self.accepted.range(open..).map(|(s, (b, c))| (*s, *b, c.clone())).collect();
        Ok((self.applied, accepted))
    }

    /// Acceptor, phase 2: accept `cmd` in `slot` unless a higher ballot was promised.
    fn accept(
        &mut self,
        now: Time,
        ballot: Ballot,
        slot: Slot,
        cmd: Cmd,
        out: &mut Effects<Msg>,
    ) -> Result<(), Ballot> {
        self.highest_round = self.highest_round.max(ballot.round);
        if ballot < self.promised {
            return Err(self.promised);
        }
        if ballot > self.promised {
            self.promised = ballot;
            if let Ok(bytes) = postcard::to_allocvec(&ballot) {
                out.store(StableWrite::Put { key: PROMISE.into(), bytes });
            }
        }
        if ballot > self.ballot && !matches!(self.phase, Phase::Follower) {
            self.preempted(now);
        }
        if let Ok(bytes) = postcard::to_allocvec(&(slot, ballot, &cmd)) {
            out.store(StableWrite::Append { key: ACCEPTED.into(), bytes });
        }
        self.accepted.insert(slot, (ballot, cmd.clone()));
        for &p in &self.peers {
            out.send(p, Msg::Accepted { ballot, slot, cmd: cmd.clone() });
        }
        let me = self.me;
        self.learn(me, ballot, slot, cmd, out);
        Ok(())
    }

    /// A candidate's promise from `from`; a majority makes it the leader.
    fn promise(
        &mut self,
        now: Time,
        from: NodeId,
        ballot: Ballot,
        commit: Slot,
        accepted: Open,
        out: &mut Effects<Msg>,
    ) {
        let majority = self.config.majority();
        let Phase::Candidate { promises, .. } = &mut self.phase else { return };
        if ballot != self.ballot {
            return;
        }
        promises.insert(from, (commit, accepted));
        if promises.len() < majority {
            return;
        }
        let promises = std::mem::take(promises);
        self.lead(now, from, promises, out);
    }

    /// Phase 1 succeeded: propose again in every open slot what the highest
    /// ballot accepted there (a no-op in a hole), then serve.
    fn lead(&mut self, now: Time, last: NodeId, promises: Promised, out: &mut Effects<Msg>) {
        // Below the highest commit point every slot is chosen: learn those
        // by catching up from that acceptor, and propose nothing there.
        let (base, ahead) = promises.iter().map(|(n, (c, _))| (*c, *n)).max().unwrap_or((self.applied, last));
        self.hear(base, ahead);
        let mut best: BTreeMap<Slot, (Ballot, Cmd)> = BTreeMap::new();
        for (slot, b, cmd) in promises.into_values().flat_map(|(_, a)| a) {
            if slot >= base && best.get(&slot).is_none_or(|(hb, _)| b > *hb) {
                best.insert(slot, (b, cmd));
            }
        }
        let end = best.keys().next_back().map_or(base, |s| s + 1).max(base).max(self.applied);
        self.phase = Phase::Leader;
        self.next_slot = end;
        let round = self.ballot.round;
        let open = end.saturating_sub(base.max(self.applied));
        let mut holes = 0;
        for slot in base.max(self.applied)..end {
            let cmd = match best.remove(&slot) {
                Some((_, cmd)) => cmd,
                None => {
                    holes += 1;
                    Cmd::Noop
                }
            };
            self.propose(now, slot, cmd, out);
        }
        out.emit(Observation::Failover { phase: FailoverPhase::ViewInstalled, view: round });
        out.emit(Observation::MultiPaxos(MpEvent::Elected { round, open, holes }));
        for &c in &self.config.clients {
            out.send(c, Msg::Leader { view: round, leader: self.me });
        }
        self.serving_from = Some(end);
        self.check_serving(out);
    }

    fn propose(&mut self, now: Time, slot: Slot, cmd: Cmd, out: &mut Effects<Msg>) {
        if self.chosen.contains_key(&slot) {
            return;
        }
        if let Cmd::Op { client, id, .. } = &cmd {
            self.in_flight.insert((*client, *id));
        }
        self.proposals.insert(slot, (cmd.clone(), now));
        let ballot = self.ballot;
        for &p in &self.peers {
            out.send(p, Msg::Accept { ballot, slot, cmd: cmd.clone() });
        }
        if self.accept(now, ballot, slot, cmd, out).is_err() {
            self.preempted(now);
        }
    }

    /// Learner: `from` accepted `cmd` in `slot` with `ballot`.
    fn learn(&mut self, from: NodeId, ballot: Ballot, slot: Slot, cmd: Cmd, out: &mut Effects<Msg>) {
        if slot < self.applied || self.chosen.contains_key(&slot) {
            return;
        }
        let majority = self.config.majority();
        let (_, voters) =
            self.votes.entry((slot, ballot, digest_of(&cmd))).or_insert_with(|| (cmd, BTreeSet::new()));
        voters.insert(from);
        if voters.len() >= majority {
            let cmd = voters_cmd(&self.votes, slot, ballot, majority);
            if let Some(cmd) = cmd {
                self.choose(slot, cmd, out);
            }
        }
    }

    fn choose(&mut self, slot: Slot, cmd: Cmd, out: &mut Effects<Msg>) {
        let stale: Vec<_> = self.votes.range(slot_range(slot)).map(|(k, _)| *k).collect();
        for k in stale {
            self.votes.remove(&k);
        }
        self.proposals.remove(&slot);
        self.chosen.insert(slot, cmd);
        self.apply_ready(out);
    }

    /// Apply the chosen log in slot order as far as it has no hole.
    fn apply_ready(&mut self, out: &mut Effects<Msg>) {
        while let Some(cmd) = self.chosen.get(&self.applied) {
            if let Cmd::Op { client, id, op } = cmd {
                let (client, id, op) = (*client, *id, *op);
                let (ok, value) = self.store.apply(client, id, op);
                self.in_flight.remove(&(client, id));
                if self.leads() {
                    out.send(client, Msg::Reply { id, ok, value });
                }
            }
            self.digest = splitmix64_words(&[self.digest, digest_of(cmd)]);
            self.applied += 1;
            if self.applied.is_multiple_of(DIGEST_EVERY) {
                out.emit(Observation::MultiPaxos(MpEvent::Applied {
                    upto: self.applied,
                    digest: self.digest,
                }));
            }
        }
        if let Some(Some(target)) = self.catching {
            if self.applied >= target {
                out.emit(Observation::MultiPaxos(MpEvent::CaughtUp { slots: self.applied }));
                self.catching = None;
            }
        }
        self.check_serving(out);
    }

    /// A new leader serves once it has applied every slot its election named.
    fn check_serving(&mut self, out: &mut Effects<Msg>) {
        if self.leads() && self.serving_from.is_some_and(|s| self.applied >= s) {
            self.serving_from = None;
            let round = self.ballot.round;
            out.emit(Observation::Failover { phase: FailoverPhase::CaughtUp, view: round });
            out.emit(Observation::MultiPaxos(MpEvent::Serving { round }));
        }
    }

    /// The replica a client should go to, as this one sees it, and its round.
    fn redirect(&self) -> Option<(u64, NodeId)> {
        match self.leader_hint {
            Some((round, p)) if !self.suspected.contains(&p) => Some((round, p)),
            _ => self
                .config
                .replicas
                .iter()
                .find(|r| **r == self.me || !self.suspected.contains(r))
                .map(|r| (self.highest_round, *r)),
        }
    }

    fn on_request(
        &mut self,
        now: Time,
        client: NodeId,
        id: u64,
        op: crate::kv::KvOp,
        out: &mut Effects<Msg>,
    ) {
        if !self.leads() {
            if let Some((view, leader)) = self.redirect().filter(|(_, l)| *l != self.me) {
                out.send(client, Msg::Leader { view, leader });
            }
            return;
        }
        if self.in_flight.contains(&(client, id)) {
            return;
        }
        if let Some((ok, value)) = self.store.answered(client, id) {
            out.send(client, Msg::Reply { id, ok, value });
            return;
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        self.propose(now, slot, Cmd::Op { client, id, op }, out);
    }

    pub(super) fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match msg {
            Msg::Request { id, op } => self.on_request(now, from, id, op, out),
            Msg::Prepare { ballot, from: slot } => match self.prepare(now, ballot, slot, out) {
                Ok((commit, accepted)) => out.send(from, Msg::Promise { ballot, commit, accepted }),
                Err(promised) => out.send(from, Msg::Nack { ballot, promised }),
            },
            Msg::Promise { ballot, commit, accepted } => {
                self.promise(now, from, ballot, commit, accepted, out)
            }
            Msg::Nack { ballot, promised } => {
                self.highest_round = self.highest_round.max(promised.round);
                if ballot == self.ballot && !matches!(self.phase, Phase::Follower) {
                    self.preempted(now);
                }
            }
            Msg::Accept { ballot, slot, cmd } => {
                if let Err(promised) = self.accept(now, ballot, slot, cmd, out) {
                    out.send(from, Msg::Nack { ballot, promised });
                }
            }
            Msg::Accepted { ballot, slot, cmd } => self.learn(from, ballot, slot, cmd, out),
            Msg::Heartbeat { seq, commit, leading } => {
                if let Some(d) = self.detectors.get_mut(&from) {
                    d.heartbeat(now, seq);
                }
                self.hear(commit, from);
                if let Some(round) = leading {
                    self.highest_round = self.highest_round.max(round);
                    if self.leader_hint.is_none_or(|(r, _)| round >= r) {
                        self.leader_hint = Some((round, from));
                    }
                }
                self.apply_ready(out);
            }
            Msg::CatchUp { from: slot } => {
                let entries: Vec<(Slot, Cmd)> = self
                    .chosen
                    .range(slot..)
                    .zip(slot..)
                    .take_while(|((s, _), want)| *s == want)
                    .take(BATCH)
                    .map(|((s, c), _)| (*s, c.clone()))
                    .collect();
                if !entries.is_empty() {
                    out.send(from, Msg::Chosen { entries });
                }
            }
            Msg::Chosen { entries } => {
                let full = entries.len() >= BATCH;
                for (slot, cmd) in entries {
                    if slot >= self.applied && !self.chosen.contains_key(&slot) {
                        self.choose(slot, cmd, out);
                    }
                }
                // A full batch: there is more; ask for it at once.
                if full && self.heard.0 > self.applied {
                    self.ask(now, out);
                }
            }
            Msg::Reply { .. } | Msg::Leader { .. } => {}
        }
    }
}
