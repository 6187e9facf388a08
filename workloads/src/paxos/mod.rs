//! Single-decree Paxos (Lamport's "Paxos made simple"), for the classroom:
//! proposers, acceptors and learners decide one value per instance, and a
//! new instance begins every `interval` so that a run decides many times.
//!
//! - **Phase 1.** A proposer picks a ballot (round, its id) higher than any
//!   it has seen and sends `Prepare` to every acceptor. An acceptor that has
//!   promised nothing higher promises this ballot and returns the value it
//!   accepted last, if any; otherwise it refuses (`Nack`, with its promise).
//! - **Phase 2.** With promises from a majority, the proposer proposes the
//!   value of the highest ballot among them, or its own when none accepted
//!   one, in `Accept`. An acceptor that has promised nothing higher accepts it
//!   and tells every learner (`Accepted`).
//! - **Learning.** A value accepted in one ballot by a majority is chosen.
//!   Every proposer is a learner and reports `Chosen` once per instance.
//! - **Stable storage.** An acceptor writes its promise and acceptance to
//!   stable storage before it answers: a restarted acceptor keeps its word.
//!   A crashed proposer forgets its rounds and starts again higher.
//! - **Progress.** A proposer whose round fails (refused, or no majority
//!   within `retry`) tries again with a higher ballot. With `leader: none`
//!   every proposer proposes, and two can preempt each other round after
//!   round (dueling proposers: Paxos gives up termination, never agreement).
//!   With `leader: elected` the proposers heartbeat each other and only the
//!   lowest one that no detector suspects proposes.
//!
//! It tolerates the crash of fewer than half of the acceptors and of any
//! proposer: with a majority down, no instance decides until it returns.

use crate::heartbeat::Detector;
use crate::{DetectorConfig, Effects, Message, Node, NodeId, StableRecords, StableWrite, Time, TimerId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A ballot: (round, proposer), ordered by round first.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ballot {
    pub round: u64,
    pub proposer: u16,
}

/// Who may propose.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Leader {
    /// Every proposer proposes in every instance (they may duel).
    None,
    /// Only the lowest proposer that no failure detector suspects.
    Elected,
}

/// A small, named break of the protocol for teaching (off unless the
/// experiment file asks for it): `faultlab explore` finds its consequence.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Bug {
    /// An acceptor accepts any ballot not below the one it last accepted,
    /// ignoring the higher ballots it promised since: a proposer whose
    /// round was overtaken can still get its value chosen beside another.
    AcceptorForgetsPromise,
}

/// Everything a Paxos node needs to know, sent by the orchestrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub proposers: Vec<NodeId>,
    pub acceptors: Vec<NodeId>,
    pub leader: Leader,
    /// A new instance begins this often.
    pub interval: Duration,
    /// A round that has not succeeded within this is tried again higher.
    pub retry: Duration,
    /// The proposers' failure detector (with `leader: elected`).
    pub detector: DetectorConfig,
    /// Teaching bugs switched on (none unless the file names them).
    #[serde(default)]
    pub bugs: Vec<Bug>,
}

impl Config {
    /// A small instance for tests and examples: `p` proposers then `a`
    /// acceptors (ids 0, 1, ...), an instance every 200 ms.
    pub fn small(p: u16, a: u16, leader: Leader) -> Config {
        Config {
            proposers: (0..p).map(NodeId).collect(),
            acceptors: (p..p + a).map(NodeId).collect(),
            leader,
            interval: Duration::from_millis(200),
            retry: Duration::from_millis(30),
            detector: DetectorConfig {
                interval: Duration::from_millis(20),
                check: Duration::from_millis(2),
                kind: crate::DetectorKind::Fixed { timeout: Duration::from_millis(100) },
            },
            bugs: Vec::new(),
        }
    }

    fn majority(&self) -> usize {
        self.acceptors.len() / 2 + 1
    }
}

/// A Paxos message; `instance` numbers the decree.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    Prepare { instance: u64, ballot: Ballot },
    Promise { instance: u64, ballot: Ballot, accepted: Option<(Ballot, u64)> },
    Nack { instance: u64, ballot: Ballot, promised: Ballot },
    Accept { instance: u64, ballot: Ballot, value: u64 },
    Accepted { instance: u64, ballot: Ballot, value: u64 },
    Heartbeat { seq: u64 },
}

impl Message for Msg {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        match self {
            Msg::Accept { value, .. } | Msg::Accepted { value, .. } => {
                *value = rng.next_u64();
                true
            }
            _ => false,
        }
    }

    fn collude(&mut self, key: u64) -> bool {
        match self {
            Msg::Accept { value, .. } | Msg::Accepted { value, .. } => {
                *value = key;
                true
            }
            _ => false,
        }
    }
}

/// What a Paxos node did, for the recorder and the invariants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PaxosEvent {
    /// A proposer began a round (phase 1) of `instance`, proposing its own `value` if free.
    Round { instance: u64, ballot: Ballot, value: u64 },
    /// A proposer's round failed: refused, or no majority in time.
    RoundFailed { instance: u64, ballot: Ballot },
    /// A proposer sent `Accept` for `value` (it had a majority of promises).
    Proposed { instance: u64, ballot: Ballot, value: u64 },
    /// A learner saw `value` chosen in `instance` (a majority accepted it in `ballot`).
    Chosen { instance: u64, ballot: Ballot, value: u64 },
    /// A proposer now considers itself the leader (`leader: elected`).
    Leading,
}

/// The value proposer `p` proposes in `instance`: distinct per proposer, so
/// that two values chosen in one instance would show.
pub fn own_value(proposer: NodeId, instance: u64) -> u64 {
    instance * 1000 + u64::from(proposer.0) + 1
}

const TICK: TimerId = TimerId(0);
const INSTANCE: TimerId = TimerId(1);
/// A retry timer carries its instance and round: `RETRY | instance << 24 | round`.
const RETRY: u64 = 1 << 63;
const ROUND_BITS: u64 = 24;

fn retry_timer(instance: u64, round: u64) -> TimerId {
    TimerId(RETRY | instance << ROUND_BITS | (round & ((1 << ROUND_BITS) - 1)))
}

/// Instances a proposer remembers as open, at most (a leader taking over
/// retries these).
const OPEN: usize = 64;

/// An acceptor's word in one instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Hash, Serialize, Deserialize)]
struct Word {
    promised: Ballot,
    accepted: Option<(Ballot, u64)>,
}

/// A proposer's round in one instance.
#[derive(Clone, Debug, Default, Hash)]
struct Round {
    ballot: Ballot,
    promises: BTreeMap<NodeId, Option<(Ballot, u64)>>,
    accepting: Option<u64>,
    highest_seen: u64,
}

/// What one node holds about one instance: an acceptor's word, a
/// proposer's round, a learner's votes and choice. With `leader: none` a
/// node's steps in an instance depend on nothing else it holds, so a
/// search of an instance's interleavings can tell its states apart by this.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct InstanceState {
    /// Acceptor: the highest ballot it promised.
    pub promised: Ballot,
    /// Acceptor: the (ballot, value) it accepted last.
    pub accepted: Option<(Ballot, u64)>,
    /// Proposer: the ballot of its current round.
    pub ballot: Option<Ballot>,
    /// Proposer: the promises of its current round, by acceptor, each with
    /// what that acceptor had accepted.
    pub promises: Vec<(NodeId, Option<(Ballot, u64)>)>,
    /// Proposer: the value its current round proposes, once a majority promised.
    pub proposing: Option<u64>,
    /// Proposer: the highest round an acceptor refused it with.
    pub highest_seen: u64,
    /// Learner: the acceptors that accepted each (ballot, value).
    pub votes: Vec<((Ballot, u64), Vec<NodeId>)>,
    /// Learner: the value it saw chosen.
    pub chosen: Option<u64>,
}

/// A proposer (and learner), or an acceptor.
#[derive(Clone, Debug)]
pub struct PaxosNode {
    me: NodeId,
    config: Config,
    acceptor: bool,
    /// Acceptor: its word per instance (also in stable storage).
    words: BTreeMap<u64, Word>,
    /// Proposer: its round per undecided instance.
    rounds: BTreeMap<u64, Round>,
    /// Learner: acceptors that accepted (ballot, value), per instance.
    votes: BTreeMap<u64, BTreeMap<(Ballot, u64), BTreeSet<NodeId>>>,
    chosen: BTreeMap<u64, u64>,
    /// Instances begun (by the clock) and not known to be decided.
    open: BTreeSet<u64>,
    /// Leader election among proposers.
    detectors: BTreeMap<NodeId, Detector>,
    heartbeat_seq: u64,
    next_heartbeat: Time,
    leading: bool,
}

/// A node's state without its configuration (the same in every state of a
/// run), for a model checker's fingerprints.
impl std::hash::Hash for PaxosNode {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let PaxosNode {
            me,
            config: _,
            acceptor,
            words,
            rounds,
            votes,
            chosen,
            open,
            detectors,
            heartbeat_seq,
            next_heartbeat,
            leading,
        } = self;
        (me, acceptor, words, rounds, votes, chosen, open, detectors).hash(h);
        (heartbeat_seq, next_heartbeat, leading).hash(h);
    }
}

/// The stable-storage record of the acceptor's words.
const WORDS: &str = "paxos-acceptor";

impl PaxosNode {
    /// Node `me` of `config`, with what its stable storage kept.
    pub fn new(me: NodeId, config: &Config, stable: &StableRecords) -> PaxosNode {
        let mut words = BTreeMap::new();
        // The log of (instance, word) records: the last per instance holds.
        if let Some(mut bytes) = stable.get(WORDS).map(Vec::as_slice) {
            while let Ok(((instance, word), rest)) = postcard::take_from_bytes::<(u64, Word)>(bytes) {
                words.insert(instance, word);
                bytes = rest;
            }
        }
        PaxosNode {
            me,
            config: config.clone(),
            acceptor: config.acceptors.contains(&me),
            words,
            rounds: BTreeMap::new(),
            votes: BTreeMap::new(),
            chosen: BTreeMap::new(),
            open: BTreeSet::new(),
            detectors: BTreeMap::new(),
            heartbeat_seq: 0,
            next_heartbeat: Time::ZERO,
            leading: false,
        }
    }

    /// The ballot of this proposer's current round of `instance`.
    pub fn ballot(&self, instance: u64) -> Option<Ballot> {
        self.rounds.get(&instance).map(|r| r.ballot)
    }

    /// Fire the retry of this proposer's current round of `instance` now
    /// (what its timer does when the round has not succeeded in time).
    pub fn retry(&mut self, now: Time, instance: u64, out: &mut Effects<Msg>) {
        if let Some(b) = self.ballot(instance) {
            self.on_timer(now, retry_timer(instance, b.round), out);
        }
    }

    /// The values this learner saw chosen, by instance.
    pub fn chosen(&self) -> &BTreeMap<u64, u64> {
        &self.chosen
    }

    /// What this node holds about `instance`.
    pub fn instance_state(&self, instance: u64) -> InstanceState {
        let word = self.words.get(&instance).copied().unwrap_or_default();
        let round = self.rounds.get(&instance);
        InstanceState {
            promised: word.promised,
            accepted: word.accepted,
            ballot: round.map(|r| r.ballot),
            promises: round.map(|r| r.promises.iter().map(|(a, p)| (*a, *p)).collect()).unwrap_or_default(),
            proposing: round.and_then(|r| r.accepting),
            highest_seen: round.map_or(0, |r| r.highest_seen),
            votes: self
                .votes
                .get(&instance)
                .map(|v| v.iter().map(|(bv, voters)| (*bv, voters.iter().copied().collect())).collect())
                .unwrap_or_default(),
            chosen: self.chosen.get(&instance).copied(),
        }
    }

    /// The instance the clock is in.
    fn instance_at(&self, now: Time) -> u64 {
        now.as_nanos() / self.config.interval.as_nanos().max(1) as u64
    }

    /// How long until the next instance begins.
    fn until_next_instance(&self, now: Time) -> Duration {
        let step = self.config.interval.as_nanos().max(1) as u64;
        Duration::from_nanos(step - now.as_nanos() % step)
    }

    fn proposer(&self) -> bool {
        self.config.proposers.contains(&self.me)
    }

    /// Whether this proposer may propose now.
    fn may_propose(&self, now: Time) -> bool {
        match self.config.leader {
            Leader::None => true,
            Leader::Elected => self
                .config
                .proposers
                .iter()
                .filter(|p| **p < self.me)
                .all(|p| self.detectors.get(p).is_some_and(|d| d.suspects(now))),
        }
    }

    fn begin_round(&mut self, now: Time, instance: u64, out: &mut Effects<Msg>) {
        if self.chosen.contains_key(&instance) || !self.may_propose(now) {
            return;
        }
        let round = self.rounds.entry(instance).or_default();
        let next = round.ballot.round.max(round.highest_seen) + 1;
        round.ballot = Ballot { round: next, proposer: self.me.0 };
        round.promises.clear();
        round.accepting = None;
        let ballot = round.ballot;
        out.emit(crate::Observation::Paxos(PaxosEvent::Round {
            instance,
            ballot,
            value: own_value(self.me, instance),
        }));
        for &a in &self.config.acceptors {
            out.send(a, Msg::Prepare { instance, ballot });
        }
        out.set_timer(self.config.retry, retry_timer(instance, next));
    }

    fn keep(&mut self, instance: u64, word: Word, out: &mut Effects<Msg>) {
        self.words.insert(instance, word);
        if let Ok(bytes) = postcard::to_allocvec(&(instance, word)) {
            out.store(StableWrite::Append { key: WORDS.into(), bytes });
        }
    }

    fn on_acceptor(&mut self, from: NodeId, msg: &Msg, out: &mut Effects<Msg>) {
        match *msg {
            Msg::Prepare { instance, ballot } => {
                let mut word = self.words.get(&instance).copied().unwrap_or_default();
                if ballot > word.promised {
                    word.promised = ballot;
                    self.keep(instance, word, out);
                    out.send(from, Msg::Promise { instance, ballot, accepted: word.accepted });
                } else {
                    out.send(from, Msg::Nack { instance, ballot, promised: word.promised });
                }
            }
            Msg::Accept { instance, ballot, value } => {
                let mut word = self.words.get(&instance).copied().unwrap_or_default();
                let allowed = if self.config.bugs.contains(&Bug::AcceptorForgetsPromise) {
                    word.accepted.is_none_or(|(b, _)| ballot >= b)
                } else {
                    ballot >= word.promised
                };
                if allowed {
                    word.promised = ballot;
                    word.accepted = Some((ballot, value));
                    self.keep(instance, word, out);
                    for &p in &self.config.proposers {
                        out.send(p, Msg::Accepted { instance, ballot, value });
                    }
                } else {
                    out.send(from, Msg::Nack { instance, ballot, promised: word.promised });
                }
            }
            _ => {}
        }
    }

    /// The current round of `instance` failed (refused with a promise of
    /// round `seen`, or timed out).
    fn fail_round(&mut self, instance: u64, seen: u64, out: &mut Effects<Msg>) {
        let Some(round) = self.rounds.get_mut(&instance) else { return };
        round.highest_seen = round.highest_seen.max(seen);
        round.promises.clear();
        round.accepting = None;
        let ballot = round.ballot;
        out.emit(crate::Observation::Paxos(PaxosEvent::RoundFailed { instance, ballot }));
    }

    fn on_proposer(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        match msg {
            Msg::Promise { instance, ballot, accepted } => {
                let majority = self.config.majority();
                let Some(round) = self.rounds.get_mut(&instance) else { return };
                if round.ballot != ballot || round.accepting.is_some() || self.chosen.contains_key(&instance)
                {
                    return;
                }
                round.promises.insert(from, accepted);
                if round.promises.len() >= majority {
                    let value = round
                        .promises
                        .values()
                        .flatten()
                        .max_by_key(|(b, _)| *b)
                        .map(|(_, v)| *v)
                        .unwrap_or_else(|| own_value(self.me, instance));
                    round.accepting = Some(value);
                    out.emit(crate::Observation::Paxos(PaxosEvent::Proposed { instance, ballot, value }));
                    for &a in &self.config.acceptors {
                        out.send(a, Msg::Accept { instance, ballot, value });
                    }
                }
            }
            Msg::Nack { instance, ballot, promised } => {
                let current = self.rounds.get(&instance).map(|r| r.ballot);
                if current == Some(ballot) && !self.chosen.contains_key(&instance) {
                    self.fail_round(instance, promised.round, out);
                    // Try again at once, higher: two proposers doing this duel.
                    self.begin_round(now, instance, out);
                }
            }
            Msg::Accepted { instance, ballot, value } => {
                let majority = self.config.majority();
                let voters = self.votes.entry(instance).or_default().entry((ballot, value)).or_default();
                voters.insert(from);
                if voters.len() >= majority && !self.chosen.contains_key(&instance) {
                    self.chosen.insert(instance, value);
                    self.rounds.remove(&instance);
                    self.votes.remove(&instance);
                    self.open.remove(&instance);
                    out.emit(crate::Observation::Paxos(PaxosEvent::Chosen { instance, ballot, value }));
                }
            }
            Msg::Heartbeat { seq } => {
                let cfg = self.config.detector.clone();
                self.detectors.entry(from).or_insert_with(|| Detector::new(&cfg, now)).heartbeat(now, seq);
            }
            _ => {}
        }
    }

    fn tick(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.config.leader == Leader::Elected && self.proposer() {
            if now >= self.next_heartbeat {
                self.heartbeat_seq += 1;
                for &p in &self.config.proposers {
                    if p != self.me {
                        out.send(p, Msg::Heartbeat { seq: self.heartbeat_seq });
                    }
                }
                self.next_heartbeat = now + self.config.detector.interval;
            }
            let leading = self.may_propose(now);
            if leading && !self.leading {
                out.emit(crate::Observation::Paxos(PaxosEvent::Leading));
                // A new leader takes over the undecided instances.
                let open: Vec<u64> = self.open.iter().copied().collect();
                for instance in open {
                    self.begin_round(now, instance, out);
                }
            }
            self.leading = leading;
        }
        out.set_timer(self.config.detector.check, TICK);
    }
}

impl Node for PaxosNode {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.proposer() {
            let cfg = self.config.detector.clone();
            for &p in &self.config.proposers {
                if p != self.me {
                    self.detectors.insert(p, Detector::new(&cfg, now));
                }
            }
            self.next_heartbeat = now;
            self.tick(now, out);
            out.set_timer(self.until_next_instance(now), INSTANCE);
        }
    }

    fn on_message(&mut self, now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        if self.acceptor {
            self.on_acceptor(from, &msg, out);
        }
        if self.proposer() {
            self.on_proposer(now, from, msg, out);
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        match timer {
            TICK => self.tick(now, out),
            INSTANCE => {
                // Instances follow the clock, which every node shares: a
                // restarted proposer joins the current one.
                let instance = self.instance_at(now);
                self.open.insert(instance);
                while self.open.len() > OPEN {
                    self.open.pop_first();
                }
                self.begin_round(now, instance, out);
                out.set_timer(self.until_next_instance(now), INSTANCE);
            }
            TimerId(t) if t & RETRY != 0 => {
                let instance = (t & !RETRY) >> ROUND_BITS;
                let round = t & ((1 << ROUND_BITS) - 1);
                let current = self.rounds.get(&instance).map(|r| r.ballot.round & ((1 << ROUND_BITS) - 1));
                // Only the round this timer was set for, if it is still undecided.
                if current != Some(round) || self.chosen.contains_key(&instance) {
                    return;
                }
                self.fail_round(instance, 0, out);
                self.begin_round(now, instance, out);
            }
            _ => {}
        }
    }
}

crate::any::workload! {
    /// The workload as the registry sees it.
    Paxos: Config => PaxosNode, |me, config, start| PaxosNode::new(me, config, &start.stable)
}

/// The invariants of single-decree Paxos over every learner's `Chosen`
/// events: at most one value chosen per instance (agreement), and every
/// chosen value one that a proposer could have proposed in that instance
/// (validity: each proposes [`own_value`], so a value from anywhere else,
/// say a falsified message, breaks it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Invariants {
    /// Instances in which two learners saw different values chosen.
    pub agreement_violations: u64,
    /// Chosen values no proposer proposes in that instance.
    pub validity_violations: u64,
}

/// Check the invariants: `chosen` holds (instance, value) as each learner
/// saw it; `proposers` are the nodes that propose.
pub fn check(chosen: &[(u64, u64)], proposers: &[NodeId]) -> Invariants {
    let mut by_instance: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for &(i, v) in chosen {
        by_instance.entry(i).or_default().insert(v);
    }
    let valid = |(i, v): &(u64, u64)| proposers.iter().any(|p| own_value(*p, *i) == *v);
    Invariants {
        agreement_violations: by_instance.values().filter(|vs| vs.len() > 1).count() as u64,
        validity_violations: chosen.iter().filter(|c| !valid(c)).count() as u64,
    }
}
