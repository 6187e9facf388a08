//! A state of the search and the steps between states: the real nodes'
//! steps, memoised, and the messages in flight, with those that can no
//! longer matter dropped.

use super::{Search, FLIGHT, INSTANCE, NODES, PROPOSERS, VOTES};
use std::hash::{DefaultHasher, Hash, Hasher};
use workloads::paxos::{own_value, Ballot, InstanceState, Msg, PaxosEvent, PaxosNode};
use workloads::{Effects, Node, NodeId, Observation};

/// A message, as the search tells messages apart.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Wire {
    from: NodeId,
    to: NodeId,
    kind: u8,
    ballot: Ballot,
    carries: Option<(Ballot, u64)>,
}

impl Wire {
    fn new(from: NodeId, to: NodeId, msg: &Msg) -> Wire {
        let (kind, ballot, carries) = match *msg {
            Msg::Prepare { ballot, .. } => (0, ballot, None),
            Msg::Promise { ballot, accepted, .. } => (1, ballot, accepted),
            Msg::Nack { ballot, promised, .. } => (2, ballot, Some((promised, 0))),
            Msg::Accept { ballot, value, .. } => (3, ballot, Some((ballot, value))),
            Msg::Accepted { .. } | Msg::Heartbeat { .. } => unreachable!("not carried in this search"),
        };
        Wire { from, to, kind, ballot, carries }
    }
}

/// A message that has been in flight, interned.
pub(super) struct Letter {
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) msg: Msg,
    pub(super) ballot: Ballot,
    /// Sent by a proposer (`Prepare`, `Accept`) rather than by an acceptor.
    pub(super) to_acceptor: bool,
    /// The acceptor at either end.
    pub(super) acceptor: usize,
    /// An `Accept`'s (ballot, value), interned.
    pub(super) proposal: Option<u32>,
    /// A fingerprint without the acceptor's name.
    pub(super) shape: u64,
    /// `shape`, mixed once more for sums of letters.
    pub(super) mixed: u64,
}

/// A node's state, interned.
pub(super) struct Local {
    pub(super) node: PaxosNode,
    pub(super) info: InstanceState,
    /// Fingerprints up to the equivalences, with ballots left and without.
    pub(super) shape: [u64; 2],
}

/// What a node's step did, interned.
pub(super) struct Effect {
    pub(super) local: u32,
    pub(super) sends: Vec<u32>,
    pub(super) accepted: Option<u32>,
    pub(super) began_round: bool,
}

/// A step of the search: the node it is at, and what happens there.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Step {
    pub(super) node: usize,
    pub(super) input: u32,
}

/// An input other than a letter: the retry timer fires.
pub(super) const RETRY: u32 = u32::MAX;
/// An input other than a letter: the node loses its stable storage.
pub(super) const FORGET: u32 = u32::MAX - 1;

/// A state of the search: each node's state (interned), the rounds each
/// proposer began, what is in flight, and what is chosen.
#[derive(Clone, Copy)]
pub(super) struct State {
    pub(super) locals: [u32; NODES],
    pub(super) rounds: [u8; PROPOSERS],
    /// Acceptors that lost their storage, as a bit set of node ids.
    pub(super) forgot: u8,
    /// The proposers whose value was chosen, as a bit set.
    pub(super) chosen: u8,
    /// The proposers that will never act again, as a bit set.
    pub(super) silent: u8,
    /// A value chosen that no proposer proposes.
    pub(super) invalid: Option<u64>,
    /// Letters in flight, sorted.
    pub(super) flight: [u32; FLIGHT],
    pub(super) in_flight: u8,
    /// Acceptances that may yet gather a majority, with their voters so far.
    pub(super) votes: [(u32, u8); VOTES],
    pub(super) live: u8,
}

impl State {
    pub(super) fn flight(&self) -> &[u32] {
        &self.flight[..usize::from(self.in_flight)]
    }

    pub(super) fn votes(&self) -> &[(u32, u8)] {
        &self.votes[..usize::from(self.live)]
    }
}

/// A fingerprint of `value`, by the standard hasher.
fn fingerprint(value: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// The splitmix64 finaliser: spreads every bit of `x` over the result.
pub(super) fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A hasher for keys that are fingerprints already, or small numbers to mix.
#[derive(Default)]
pub(super) struct Fingerprint(u64);

impl Hasher for Fingerprint {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = mix(self.0 ^ u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = mix(self.0 ^ n);
    }
}

/// What of a node's state its future depends on (see the module notes),
/// with ballots left (`spent` false) or without.
fn shape(info: &InstanceState, spent: bool) -> u64 {
    let promises = if info.proposing.is_some() {
        None
    } else {
        let highest = info.promises.iter().filter_map(|(_, a)| *a).max_by_key(|(b, _)| *b);
        Some((info.promises.len(), highest))
    };
    let next = if spent { None } else { info.ballot.map(|b| b.round.max(info.highest_seen)) };
    fingerprint((
        info.promised,
        info.accepted,
        info.ballot,
        promises,
        info.proposing,
        next,
        &info.votes,
        info.chosen,
    ))
}

impl Search {
    /// The number of node `id`'s state (each node's states are numbered apart).
    pub(super) fn intern_local(&mut self, id: NodeId, node: PaxosNode) -> u32 {
        let info = node.instance_state(INSTANCE);
        if let Some(&i) = self.local_index.get(&(id, info.clone())) {
            return i;
        }
        let i = self.locals.len() as u32;
        self.local_index.insert((id, info.clone()), i);
        let shape = [shape(&info, false), shape(&info, true)];
        self.locals.push(Local { node, info, shape });
        i
    }

    /// The number of an acceptance's (ballot, value).
    pub(super) fn intern_proposal(&mut self, proposal: (Ballot, u64)) -> u32 {
        match self.proposals.iter().position(|p| *p == proposal) {
            Some(i) => i as u32,
            None => {
                self.proposals.push(proposal);
                (self.proposals.len() - 1) as u32
            }
        }
    }

    /// The number of a message, and what the search needs to know of it.
    pub(super) fn intern_letter(&mut self, from: NodeId, to: NodeId, msg: Msg) -> u32 {
        let wire = Wire::new(from, to, &msg);
        if let Some(&i) = self.letter_index.get(&wire) {
            return i;
        }
        let to_acceptor = usize::from(to.0) >= PROPOSERS;
        let (proposer, acceptor) = if to_acceptor { (from, to) } else { (to, from) };
        let (carries, proposal) = match msg {
            Msg::Nack { promised, .. } => (Some((Ballot { round: promised.round, proposer: 0 }, 0)), None),
            Msg::Accept { ballot, value, .. } => (wire.carries, Some(self.intern_proposal((ballot, value)))),
            _ => (wire.carries, None),
        };
        let shape = fingerprint((proposer, to_acceptor, wire.kind, wire.ballot, carries));
        let i = self.letters.len() as u32;
        self.letter_index.insert(wire, i);
        self.letters.push(Letter {
            from: usize::from(from.0),
            to: usize::from(to.0),
            msg,
            ballot: wire.ballot,
            to_acceptor,
            acceptor: usize::from(acceptor.0),
            proposal,
            shape,
            mixed: mix(shape),
        });
        i
    }

    /// Node `x` in local state `local` takes `input`: the real code runs
    /// the first time, and its effects are remembered.
    pub(super) fn effect(&mut self, x: usize, local: u32, input: u32) -> u32 {
        let memo = u64::from(local) << 32 | u64::from(input);
        if let Some(&e) = self.effect_index.get(&memo) {
            return e;
        }
        let id = NodeId(x as u16);
        let mut out = Effects::new();
        let node = match input {
            RETRY => {
                let mut node = self.locals[local as usize].node.clone();
                node.retry(self.now, INSTANCE, &mut out);
                node
            }
            FORGET => PaxosNode::new(id, &self.config, &Default::default()),
            l => {
                let letter = &self.letters[l as usize];
                let mut node = self.locals[local as usize].node.clone();
                node.on_message(self.now, NodeId(letter.from as u16), letter.msg.clone(), &mut out);
                node
            }
        };
        let e = self.record(id, node, &mut out);
        self.effect_index.insert(memo, e);
        if input != FORGET {
            // Dropping messages relies on these only growing.
            let (before, after) = (&self.locals[local as usize].info, self.info_of(e));
            assert!(after.promised >= before.promised, "an acceptor's promise went down");
            assert!(after.ballot >= before.ballot, "a proposer's round went down");
        }
        e
    }

    /// What the node holds after effect `e`.
    pub(super) fn info_of(&self, e: u32) -> &InstanceState {
        &self.locals[self.effects[e as usize].local as usize].info
    }

    /// Intern what node `id` became and what it asked for.
    pub(super) fn record(&mut self, id: NodeId, node: PaxosNode, out: &mut Effects<Msg>) -> u32 {
        let local = self.intern_local(id, node);
        let mut sends = Vec::new();
        let mut accepted = None;
        for (to, msg) in out.sends.drain(..) {
            match msg {
                Msg::Accepted { ballot, value, .. } => accepted = Some(self.intern_proposal((ballot, value))),
                msg => sends.push(self.intern_letter(id, to, msg)),
            }
        }
        let began_round =
            out.observations.iter().any(|o| matches!(o, Observation::Paxos(PaxosEvent::Round { .. })));
        out.clear();
        self.effects.push(Effect { local, sends, accepted, began_round });
        (self.effects.len() - 1) as u32
    }

    /// What node `x` holds in `s`.
    pub(super) fn info(&self, s: &State, x: usize) -> &InstanceState {
        &self.locals[s.locals[x] as usize].info
    }

    /// Whether a refusal of `proposer`'s `ballot` would still make it try again.
    pub(super) fn refusal_matters(&self, s: &State, proposer: usize, ballot: Ballot) -> bool {
        self.info(s, proposer).ballot == Some(ballot) && s.rounds[proposer] < self.ballots
    }

    /// Whether delivering letter `l` could still change a node.
    pub(super) fn matters(&self, s: &State, l: u32) -> bool {
        let letter = &self.letters[l as usize];
        let to = self.info(s, letter.to);
        match letter.msg {
            Msg::Promise { ballot, .. } => {
                to.ballot == Some(ballot) && to.proposing.is_none() && s.silent & (1 << letter.to) == 0
            }
            Msg::Nack { ballot, .. } => self.refusal_matters(s, letter.to, ballot),
            Msg::Prepare { ballot, .. } => {
                ballot > to.promised || self.refusal_matters(s, letter.from, ballot)
            }
            Msg::Accept { ballot, .. } => {
                ballot >= to.promised || self.refusal_matters(s, letter.from, ballot)
            }
            Msg::Accepted { .. } | Msg::Heartbeat { .. } => false,
        }
    }

    /// The proposer whose own value `value` is, as a bit.
    pub(super) fn proposer_of(&self, value: u64) -> Option<u8> {
        (0..PROPOSERS).find(|p| own_value(NodeId(*p as u16), INSTANCE) == value).map(|p| 1 << p)
    }

    /// Apply effect `e` of node `x`'s step to `s`, then drop what can no
    /// longer matter.
    pub(super) fn apply(&self, s: &mut State, x: usize, e: u32) {
        let effect = &self.effects[e as usize];
        s.locals[x] = effect.local;
        if effect.began_round {
            s.rounds[x] += 1;
        }
        for &l in &effect.sends {
            if let Err(i) = s.flight().binary_search(&l) {
                let n = usize::from(s.in_flight);
                assert!(n < FLIGHT, "more than {FLIGHT} messages in flight");
                s.flight.copy_within(i..n, i + 1);
                s.flight[i] = l;
                s.in_flight += 1;
            }
        }
        if let Some(p) = effect.accepted {
            match s.votes().iter().position(|v| v.0 == p) {
                Some(i) => s.votes[i].1 += 1,
                None => {
                    assert!(usize::from(s.live) < VOTES, "more than {VOTES} acceptances gathering votes");
                    s.votes[usize::from(s.live)] = (p, 1);
                    s.live += 1;
                }
            }
        }
        s.silent = self.silence(s);
        let mut kept = 0;
        for i in 0..usize::from(s.in_flight) {
            let l = s.flight[i];
            if self.matters(s, l) {
                s.flight[kept] = l;
                kept += 1;
            }
        }
        s.in_flight = kept as u8;
        let majority = self.config.acceptors.len() / 2 + 1;
        for i in 0..usize::from(s.live) {
            let (p, voters) = s.votes[i];
            if usize::from(voters) >= majority {
                let value = self.proposals[p as usize].1;
                match self.proposer_of(value) {
                    Some(bit) => s.chosen |= bit,
                    None => s.invalid = Some(value),
                }
            }
        }
        // An acceptance stays live while it may yet choose a value not
        // chosen already: below a majority, with an Accept of it in flight.
        let mut kept = 0;
        for i in 0..usize::from(s.live) {
            let (p, voters) = s.votes[i];
            let unchosen =
                self.proposer_of(self.proposals[p as usize].1).is_some_and(|bit| s.chosen & bit == 0);
            if usize::from(voters) < majority
                && unchosen
                && s.flight().iter().any(|l| self.letters[*l as usize].proposal == Some(p))
            {
                s.votes[kept] = (p, voters);
                kept += 1;
            }
        }
        s.live = kept as u8;
    }

    /// Every step that can come next from `s`, into `steps`.
    pub(super) fn enabled(&self, s: &State, steps: &mut Vec<Step>) {
        steps.clear();
        steps.extend(s.flight().iter().map(|l| Step { node: self.letters[*l as usize].to, input: *l }));
        for p in 0..PROPOSERS {
            if s.rounds[p] < self.ballots {
                steps.push(Step { node: p, input: RETRY });
            }
        }
        if self.amnesia {
            for a in PROPOSERS..NODES {
                if s.forgot & (1 << a) == 0 {
                    steps.push(Step { node: a, input: FORGET });
                }
            }
        }
    }

    /// The proposers that will never act again: no ballot left, and in
    /// phase 2 or short of a majority even if every promise still possible
    /// came (those in flight, and those of prepares in flight that their
    /// acceptors would grant).
    pub(super) fn silence(&self, s: &State) -> u8 {
        let majority = self.config.acceptors.len() / 2 + 1;
        let mut silent = 0;
        for p in 0..PROPOSERS {
            let info = self.info(s, p);
            if s.rounds[p] < self.ballots {
                continue;
            }
            let mut possible = info.promises.len();
            if info.proposing.is_none() {
                for l in s.flight() {
                    let letter = &self.letters[*l as usize];
                    let current = Some(letter.ballot) == info.ballot;
                    possible += usize::from(match letter.msg {
                        Msg::Promise { .. } => letter.to == p && current,
                        Msg::Prepare { ballot, .. } => {
                            letter.from == p && current && ballot > self.info(s, letter.to).promised
                        }
                        _ => false,
                    });
                }
            }
            if info.proposing.is_some() || possible < majority {
                silent |= 1 << p;
            }
        }
        silent
    }

    pub(super) fn step(&mut self, s: &State, step: Step) -> State {
        let mut next = *s;
        match step.input {
            RETRY => {}
            FORGET => next.forgot |= 1 << step.node,
            l => {
                let n = usize::from(next.in_flight);
                if let Ok(i) = next.flight().binary_search(&l) {
                    next.flight.copy_within(i + 1..n, i);
                    next.in_flight -= 1;
                }
            }
        }
        let e = self.effect(step.node, s.locals[step.node], step.input);
        self.apply(&mut next, step.node, e);
        assert!(next.rounds.iter().all(|r| *r <= self.ballots), "a round past the budget");
        // What the step dropped, confirmed on the real code.
        let mut dropped = std::mem::take(&mut self.dropped);
        dropped.clear();
        let sent = &self.effects[e as usize].sends;
        dropped.extend(
            s.flight()
                .iter()
                .filter(|l| **l != step.input)
                .chain(sent)
                .filter(|l| next.flight().binary_search(l).is_err()),
        );
        for l in &dropped {
            assert!(
                self.harmless(&next, *l),
                "the search dropped a message that matters: {:?}",
                self.letters[*l as usize].msg
            );
        }
        self.dropped = dropped;
        next
    }

    /// Whether delivering letter `l` in `s` would change nothing the search
    /// keeps, on the real code: the node stays as it was and what it sends
    /// is harmless too, or the step would begin a round past the budget, or
    /// the node is a proposer that will never act again and sends nothing.
    pub(super) fn harmless(&mut self, s: &State, l: u32) -> bool {
        let to = self.letters[l as usize].to;
        let e = self.effect(to, s.locals[to], l);
        let effect = &self.effects[e as usize];
        let (local, began_round, accepted) = (effect.local, effect.began_round, effect.accepted);
        let sends = effect.sends.clone();
        if began_round {
            return s.rounds[to] == self.ballots;
        }
        if to < PROPOSERS && s.silent & (1 << to) != 0 {
            return sends.is_empty();
        }
        local == s.locals[to] && accepted.is_none() && sends.into_iter().all(|n| self.harmless(s, n))
    }

    /// Whether `step` can be taken from `s`.
    pub(super) fn can_take(&self, s: &State, step: Step) -> bool {
        match step.input {
            RETRY => s.rounds[step.node] < self.ballots,
            FORGET => self.amnesia && s.forgot & (1 << step.node) == 0,
            l => s.flight().binary_search(&l).is_ok(),
        }
    }
}
