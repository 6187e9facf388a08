//! Every interleaving of one Paxos instance, searched over the real
//! [`PaxosNode`]: 2 proposers (nodes 0, 1) and 3 acceptors (nodes 2, 3, 4),
//! `leader: none`, each proposer with a budget of ballots.
//!
//! **What is searched.** Both proposers begin the instance (their instance
//! timer fires), then any step may come next: any message in flight may be
//! delivered to its node (`on_message`), and a proposer may fire its retry
//! timer (`retry`) at any point. Every round a proposer begins, on the timer
//! or because a refusal made it try again at once, spends one of its
//! ballots; a step that would begin a round past the budget is not taken.
//! A message never delivered is a message lost. `Accepted` is not carried
//! to the learners: each acceptance is counted where it happens, and a
//! value is chosen once a majority accepted it in one ballot (what a learner
//! sees if every `Accepted` reaches it, so every learner's view is covered).
//! A state breaks agreement if two values are chosen, validity if a chosen
//! value is no proposer's own.
//!
//! **Why the reductions miss no violation.** The values chosen only grow
//! along a run, and every run ends (each step consumes a message, which was
//! sent once, or spends a ballot). So a violation is reachable if and only
//! if a final state that shows it is, and the search need only reach every
//! final state. States on the way are checked too; none is needed.
//!
//! - *Node steps are memoised.* A node's step is a deterministic function of
//!   what the node holds about the instance ([`PaxosNode::instance_state`];
//!   nothing else it holds changes or matters with `leader: none`) and of
//!   its input, so the real code runs once per distinct (node state, input)
//!   and its effects are replayed after that.
//! - *Messages that can change nothing are dropped*, which removes only
//!   steps that leave every node as it was: a `Promise` or `Nack` for a
//!   ballot that is not its proposer's current round (its rounds only grow),
//!   a `Promise` to a round already in phase 2 or to a proposer that will
//!   never act again (below), a `Nack` to a proposer with no ballot left,
//!   and a `Prepare` or `Accept` its acceptor refuses (its promise only
//!   grows) when the `Nack` it would answer is one of those. The flight is
//!   a set: a second copy of a message adds no run. These rules are what
//!   the protocol says; the search does not take them on trust: each
//!   message it drops is delivered to the real node (memoised) and must
//!   leave it as it was and send only harmless messages, or begin a round
//!   past the budget, or reach a proposer that will never act again and
//!   make it send nothing; and every real step must leave promises and
//!   rounds no lower. A code change that breaks these fails the search
//!   aloud rather than hiding runs from it.
//! - *Bisimilar states are one.* The acceptors are interchangeable (the code
//!   treats them alike, and promises tie only on equal (ballot, value)
//!   pairs), so states that differ by renaming them are one. A proposer's
//!   promises matter only by their number and the highest acceptance they
//!   carry (an acceptor promises a ballot once), and not at all in phase 2;
//!   its highest round seen only through the round its next ballot follows.
//!   A proposer with no ballot left that is in phase 2, or that could not
//!   reach a majority even if every promise still possible came, never acts
//!   again: what it holds matters no more. A refusal matters to its proposer
//!   by the round it names. An acceptance matters by its number of voters
//!   (an acceptor gets one `Accept` per ballot), only while an `Accept` of
//!   its ballot is in flight and its value is not chosen, and then as the
//!   value it chose. States are told apart by 64-bit fingerprints of all
//!   this: two of a few million collide with odds below one in a million.
//! - *Persistent sets.* Steps at different nodes commute: a step changes
//!   only its node and adds to the flight. From each state the search takes
//!   only the steps of a set of nodes closed under "may yet receive a
//!   message that matters from": an acceptor from every proposer that may
//!   act again, a proposer from the acceptors holding a message of its
//!   current round. Steps outside the set can neither reach it nor be
//!   changed by it, so every run is equivalent to one that begins with a
//!   step of the set and ends in the same final state (Godefroid's
//!   persistent sets, which keep every final state).
//! - *Sleep sets.* Once a step has been taken from a state, the steps after
//!   it that commute with it (at other nodes) need not be taken from there
//!   before it: that order was searched already. With states cached, a
//!   state reached again with fewer steps asleep is searched again for
//!   those (Godefroid's sleep sets with state caching). Steps are named by
//!   the names of their nodes in equivalent states, so that the cache can
//!   compare them, and the persistent sets are chosen in a canonical order.
//!
//! The test that runs the search with and without the last two checks that
//! they reach the same final states.
//!
//! With `amnesia`, each acceptor may also lose its stable storage once (a
//! fresh [`PaxosNode`] in its place). Its promise no longer only grows, so
//! the search may then miss runs, but every run it takes is one the
//! acceptors could take: a violation it reports is real.

mod state;

use state::{mix, Effect, Fingerprint, Letter, Local, State, Step, Wire, FORGET, RETRY};
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use workloads::paxos::{own_value, Ballot, Config, InstanceState, Leader, PaxosNode};
use workloads::{Effects, Node, NodeId, Time, TimerId};

/// The instance searched.
pub const INSTANCE: u64 = 7;
const PROPOSERS: usize = 2;
const NODES: usize = 5;
/// Messages in flight at once, at most (the search says if it needs more).
const FLIGHT: usize = 24;
/// Acceptances still gathering voters at once, at most.
const VOTES: usize = 8;

/// What a search found when agreement and validity held in every state.
#[derive(Debug)]
pub struct Outcome {
    /// Distinct states reached (up to the equivalences above).
    pub states: usize,
    /// Of those, states with a value chosen.
    pub decided: usize,
    /// States with a value chosen while an acceptor holds the other
    /// proposer's value: where agreement is at stake.
    pub contested: usize,
    /// Steps taken.
    pub steps: usize,
    /// Distinct node steps the real code ran.
    pub node_steps: usize,
    /// The final states reached (no step left), by fingerprint.
    pub finals: BTreeSet<u64>,
}

/// A state that breaks agreement or validity.
#[derive(Debug)]
pub struct Violation {
    /// The values chosen.
    pub chosen: Vec<u64>,
    /// What each acceptor holds.
    pub acceptors: Vec<InstanceState>,
    /// States reached before this one.
    pub states: usize,
}

/// What to search.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Ballots per proposer.
    pub ballots: u8,
    /// Each acceptor may forget everything once.
    pub amnesia: bool,
    /// Take persistent sets and sleep sets (the other reductions always hold).
    pub partial_order: bool,
}

/// Search every interleaving `options` asks for.
pub fn search(options: Options) -> Result<Outcome, Violation> {
    Search::new(options).run()
}

/// A state's fingerprint up to the equivalences, the names its nodes go by,
/// and the nodes in a canonical order.
struct Canon {
    key: u64,
    names: [u64; NODES],
    order: [usize; NODES],
}

/// A state being explored: its steps, which of them to take, the next one,
/// and the steps covered elsewhere (those it was reached with asleep, and
/// those taken from it so far).
struct Frame {
    state: State,
    /// The steps from `state`, by name.
    steps: Vec<(u64, Step)>,
    todo: u64,
    next: usize,
    sleep: Vec<Step>,
    buffer: Vec<Step>,
}

impl Frame {
    fn new(state: State) -> Frame {
        Frame { state, steps: Vec::new(), todo: 0, next: 0, sleep: Vec::new(), buffer: Vec::new() }
    }
}

/// The search, and what it interned on the way: the nodes' states, the
/// letters, the acceptances, and the effects of the node steps run.
struct Search {
    partial_order: bool,
    ballots: u8,
    amnesia: bool,
    config: Config,
    now: Time,
    locals: Vec<Local>,
    local_index: HashMap<(NodeId, InstanceState), u32>,
    letters: Vec<Letter>,
    letter_index: HashMap<Wire, u32>,
    proposals: Vec<(Ballot, u64)>,
    effects: Vec<Effect>,
    effect_index: HashMap<u64, u32, BuildHasherDefault<Fingerprint>>,
    /// The letters a step dropped (kept to reuse its allocation).
    dropped: Vec<u32>,
}

impl Search {
    fn new(Options { ballots, amnesia, partial_order }: Options) -> Search {
        let config = Config::small(PROPOSERS as u16, (NODES - PROPOSERS) as u16, Leader::None);
        // A millisecond into the instance: no step reads the clock otherwise.
        let now = Time::from_nanos(INSTANCE * config.interval.as_nanos() as u64 + 1_000_000);
        Search {
            partial_order,
            ballots,
            amnesia,
            config,
            now,
            locals: Vec::new(),
            local_index: HashMap::new(),
            letters: Vec::new(),
            letter_index: HashMap::new(),
            proposals: Vec::new(),
            effects: Vec::new(),
            effect_index: HashMap::default(),
            dropped: Vec::new(),
        }
    }

    /// The steps of the smallest set of nodes closed under "may yet receive
    /// a message that matters from" (a persistent set).
    fn persistent(&self, s: &State, steps: &mut Vec<Step>, canon: &Canon) {
        // Per proposer, the acceptors holding a letter of its current round.
        let mut holders = [0u8; PROPOSERS];
        for l in s.flight() {
            let letter = &self.letters[*l as usize];
            if letter.to_acceptor && Some(letter.ballot) == self.info(s, letter.from).ballot {
                holders[letter.from] |= 1 << letter.acceptor;
            }
        }
        let speaking: u8 = (0..PROPOSERS).filter(|p| s.silent & (1 << p) == 0).map(|p| 1 << p).sum();
        let acceptors: u8 = (PROPOSERS..NODES).map(|a| 1 << a).sum();
        let mut best = (steps.len(), u8::MAX);
        // Tried in the canonical order, so that equivalent states take
        // equivalent sets (the sleep sets cached rely on it).
        for x in canon.order {
            if !steps.iter().any(|t| t.node == x) {
                continue;
            }
            let mut closed: u8 = 1 << x;
            loop {
                let mut grown = closed;
                if closed & acceptors != 0 {
                    grown |= speaking;
                }
                for (p, held) in holders.iter().enumerate() {
                    if closed & (1 << p) != 0 {
                        grown |= held;
                    }
                }
                if grown == closed {
                    break;
                }
                closed = grown;
            }
            let n = steps.iter().filter(|t| closed & (1 << t.node) != 0).count();
            if n < best.0 {
                best = (n, closed);
            }
        }
        steps.retain(|t| best.1 & (1 << t.node) != 0);
    }

    /// A fingerprint of `s` up to the equivalences, with a name for each
    /// node that equivalent states share: the proposers by id, the
    /// acceptors by their state and mail (acceptors with one name are
    /// interchangeable).
    fn canon(&self, s: &State) -> Canon {
        let mut h = Fingerprint::default();
        // The proposers go by their ids; the acceptors' names come below.
        let mut names: [u64; NODES] = std::array::from_fn(|x| mix(x as u64));
        for p in 0..PROPOSERS {
            let spent = usize::from(s.rounds[p] == self.ballots);
            let silent = s.silent & (1 << p) != 0;
            h.write_u64(if silent { 0 } else { self.locals[s.locals[p] as usize].shape[spent] });
            h.write_u64(u64::from(s.rounds[p]));
        }
        let mut votes = s.votes;
        votes[..usize::from(s.live)].sort_unstable();
        for &(p, n) in &votes[..usize::from(s.live)] {
            h.write_u64(u64::from(p) << 8 | u64::from(n));
        }
        h.write_u64(u64::from(s.chosen));
        h.write_u64(s.invalid.unwrap_or(0));
        // Each acceptor's mail, as a sum that ignores order.
        let mut mail = [0u64; NODES];
        for l in s.flight() {
            let letter = &self.letters[*l as usize];
            mail[letter.acceptor] = mail[letter.acceptor].wrapping_add(letter.mixed);
        }
        for a in PROPOSERS..NODES {
            let forgot = u64::from(s.forgot >> a & 1);
            names[a] = mix(self.locals[s.locals[a] as usize].shape[0] ^ mix(mail[a] ^ forgot));
        }
        let mut order: [usize; NODES] = std::array::from_fn(|x| x);
        order[PROPOSERS..].sort_unstable_by_key(|a| names[*a]);
        for a in &order[PROPOSERS..] {
            h.write_u64(names[*a]);
        }
        Canon { key: h.finish(), names, order }
    }

    /// A name for `step` that equivalent steps share: the names of its node
    /// and of the acceptor it involves, and what happens.
    fn step_name(&self, step: Step, canon: &Canon) -> u64 {
        let what = match step.input {
            RETRY | FORGET => u64::from(step.input),
            l => {
                let letter = &self.letters[l as usize];
                mix(letter.shape ^ canon.names[letter.acceptor])
            }
        };
        mix(mix(what) ^ canon.names[step.node])
    }

    fn violation(&self, s: &State, states: usize) -> Option<Violation> {
        if s.chosen.count_ones() < 2 && s.invalid.is_none() {
            return None;
        }
        let mut chosen: Vec<u64> = (0..PROPOSERS)
            .filter(|p| s.chosen & (1 << p) != 0)
            .map(|p| own_value(NodeId(p as u16), INSTANCE))
            .collect();
        chosen.extend(s.invalid);
        let acceptors = (PROPOSERS..NODES).map(|a| self.info(s, a).clone()).collect();
        Some(Violation { chosen, acceptors, states })
    }

    /// Reach `s` from a step whose frame is `frame`, with `frame.sleep`
    /// holding the steps known to be covered elsewhere; true if some step
    /// from `s` is left to take. A state reached again is explored again
    /// for the steps it slept on before and not now (state caching with
    /// sleep sets, as in Godefroid's thesis).
    fn enter(
        &self,
        s: State,
        frame: &mut Frame,
        seen: &mut HashMap<u64, u64, BuildHasherDefault<Fingerprint>>,
        outcome: &mut Outcome,
    ) -> Result<bool, Violation> {
        let canon = self.canon(&s);
        let key = canon.key;
        if seen.get(&key) == Some(&0) {
            // Reached before with nothing asleep: every step was taken.
            return Ok(false);
        }
        self.enabled(&s, &mut frame.buffer);
        let last = frame.buffer.is_empty();
        if self.partial_order {
            self.persistent(&s, &mut frame.buffer, &canon);
        }
        frame.steps.clear();
        frame.steps.extend(frame.buffer.iter().map(|t| (self.step_name(*t, &canon), *t)));
        frame.steps.sort_unstable_by_key(|(name, _)| *name);
        // Two steps with one name reach equivalent states.
        frame.steps.dedup_by_key(|(name, _)| *name);
        assert!(frame.steps.len() <= 64, "more than 64 steps from one state");
        let mut asleep = 0u64;
        for z in &frame.sleep {
            if self.can_take(&s, *z) {
                let name = self.step_name(*z, &canon);
                if let Ok(i) = frame.steps.binary_search_by_key(&name, |(n, _)| *n) {
                    asleep |= 1 << i;
                }
            }
        }
        let todo = match seen.entry(key) {
            Entry::Vacant(v) => {
                v.insert(asleep);
                outcome.states += 1;
                if let Some(v) = self.violation(&s, outcome.states) {
                    return Err(v);
                }
                if last {
                    outcome.finals.insert(key);
                }
                if s.chosen != 0 {
                    outcome.decided += 1;
                    let held = (PROPOSERS..NODES)
                        .filter_map(|a| self.info(&s, a).accepted)
                        .filter_map(|(_, v)| self.proposer_of(v))
                        .fold(0, |bits, bit| bits | bit);
                    outcome.contested += usize::from(held & !s.chosen != 0);
                }
                !asleep
            }
            Entry::Occupied(mut o) => {
                let before = *o.get();
                *o.get_mut() = before & asleep;
                before & !asleep
            }
        };
        let all = if frame.steps.len() == 64 { u64::MAX } else { (1 << frame.steps.len()) - 1 };
        frame.state = s;
        frame.todo = todo & all;
        frame.next = 0;
        Ok(frame.todo != 0)
    }

    fn run(mut self) -> Result<Outcome, Violation> {
        let mut start = State {
            locals: [0; NODES],
            rounds: [0; PROPOSERS],
            forgot: 0,
            chosen: 0,
            silent: 0,
            invalid: None,
            flight: [0; FLIGHT],
            in_flight: 0,
            votes: [(0, 0); VOTES],
            live: 0,
        };
        for x in 0..NODES {
            let id = NodeId(x as u16);
            start.locals[x] = self.intern_local(id, PaxosNode::new(id, &self.config, &Default::default()));
        }
        let began = Time::from_nanos(INSTANCE * self.config.interval.as_nanos() as u64);
        for p in 0..PROPOSERS {
            // Each proposer begins the instance: what its instance timer does.
            let id = NodeId(p as u16);
            let mut node = self.locals[start.locals[p] as usize].node.clone();
            let mut out = Effects::new();
            node.on_timer(began, TimerId(1), &mut out);
            let e = self.record(id, node, &mut out);
            self.apply(&mut start, p, e);
        }
        let mut outcome =
            Outcome { states: 0, decided: 0, contested: 0, steps: 0, node_steps: 0, finals: BTreeSet::new() };
        let mut seen: HashMap<u64, u64, BuildHasherDefault<Fingerprint>> = HashMap::default();
        // The frames of the states on the current path, reused as it moves.
        let mut frames = vec![Frame::new(start)];
        let mut depth = usize::from(self.enter(start, &mut frames[0], &mut seen, &mut outcome)?);
        while depth > 0 {
            if frames.len() == depth {
                frames.push(Frame::new(start));
            }
            let (path, rest) = frames.split_at_mut(depth);
            let top = &mut path[depth - 1];
            let Some(i) = (top.next..top.steps.len()).find(|i| top.todo & (1 << i) != 0) else {
                depth -= 1;
                continue;
            };
            top.next = i + 1;
            let step = top.steps[i].1;
            let child = self.step(&top.state, step);
            outcome.steps += 1;
            // Steps at other nodes commute with this one: what follows them
            // from the child is reached through them from here.
            let frame = &mut rest[0];
            frame.sleep.clear();
            if self.partial_order {
                frame.sleep.extend(top.sleep.iter().filter(|t| t.node != step.node));
                top.sleep.push(step);
            }
            if self.enter(child, frame, &mut seen, &mut outcome)? {
                depth += 1;
            }
        }
        outcome.node_steps = self.effects.len();
        Ok(outcome)
    }
}
