//! Model checking: search the schedules of a small world of nodes instead of
//! sampling them.
//!
//! The world is N nodes of one [`Node`] type, the multiset of messages in
//! flight, the timers each node has pending, which nodes crashed, and what is
//! left of a small fault budget. From a state, every one of these is a choice:
//! deliver any message in flight (from a traitor: truthfully, or falsified as
//! the interposer's `collude` and `equivocate` modes would), drop one (within
//! the drop budget), fire any pending timer, crash a node the experiment
//! names (within the crash budget). The search runs breadth-first (shortest
//! traces first), depth-first, or as seeded random walks, bounded by depth,
//! distinct states and wall time; states are fingerprinted to prune the ones
//! already seen. An [`Invariant`], fed the observations the nodes emit along
//! the path, is checked in every state; the first state it rejects ends the
//! search with the list of choices that led there.
//!
//! Time: a logical clock that only moves forward. Delivering a message does
//! not move it; firing a timer sets it to the timer's deadline if that is
//! later. Without a delay bound ([`Faults::max_delay`]) timers fire in any
//! order relative to deliveries and to each other (the asynchronous model).
//! With one (for protocols that assume synchrony, such as OM(m)), a timer may
//! fire only when no earlier timer is pending and every message in flight
//! could still arrive after its deadline (sent + max_delay > deadline: a
//! message due at the very instant a timer fires arrives first).
//!
//! A crash is a crash-stop: the node's timers and the messages to it are
//! gone, and later sends to it are lost.
//!
//! A state's fingerprint is a 64-bit hash of the nodes (their `Hash`, which
//! leaves out what stays the same for a whole run, such as a node's
//! configuration), the messages in flight and the pending timers (as
//! multisets: a sum of their hashes, free of order), the clock, the fault
//! budget left and the invariant's state. Each node's hash is kept beside
//! it and redone only when the node changes, so a successor costs the
//! hash of one node. Two distinct states share a fingerprint with
//! probability about n²/2⁶⁵ among n states (under 10⁻⁷ for a million).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::rc::Rc;
use std::time::{Duration, Instant};
use workloads::{Effects, Message, Node, NodeId, Observation, Time, TimerId};

/// How a traitor's message is delivered: as sent, or falsified the way the
/// interposer's Byzantine modes falsify it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lie {
    /// As the node sent it.
    Truth,
    /// The lie every colluding traitor tells alike ([`Message::collude`]).
    Collude,
    /// A different lie for every receiver ([`Message::equivocate`]).
    Equivocate,
}

/// The key the traitors' lies are drawn from (one for the whole search, so
/// that colluders agree).
const LIE_KEY: u64 = 0x5eed_1ea5;

/// One choice the search made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Choice<M> {
    /// `msg` from `from` arrived at `to` (falsified by `lie` when not `truth`).
    Deliver { from: NodeId, to: NodeId, msg: M, lie: Lie },
    /// `msg` from `from` to `to` was lost.
    Drop { from: NodeId, to: NodeId, msg: M },
    /// `node`'s timer `timer`, due at `at`, fired.
    Timer { node: NodeId, timer: TimerId, at: Time },
    /// `node` crashed (and stays down).
    Crash { node: NodeId },
}

/// One step of a trace: the choice, the logical time after it, and what the
/// nodes observed while handling it.
#[derive(Clone, Debug, Serialize)]
pub struct Step<M> {
    pub choice: Choice<M>,
    pub now: Time,
    pub observations: Vec<(NodeId, Observation)>,
}

/// What an invariant sees of the world besides the observations.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// Per node, whether it crashed.
    pub crashed: &'a [bool],
    /// The nodes that have lied so far.
    pub traitors: &'a [NodeId],
    /// The logical time.
    pub now: Time,
}

/// What the invariant found in a state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "what", rename_all = "lowercase")]
pub enum Finding {
    /// The property is broken.
    Violation(String),
    /// A state the experiment asks to reach was reached (2PC blocked, say).
    Reached(String),
}

impl Finding {
    /// What was found, in words.
    pub fn what(&self) -> &str {
        match self {
            Finding::Violation(w) | Finding::Reached(w) => w,
        }
    }
}

/// A property of a workload, checked in every state the search reaches. Its
/// own state (derived from observations) is part of the search state, and is
/// fingerprinted through its `Hash`.
pub trait Invariant: Clone + Debug + Hash {
    /// Take in an observation `node` emitted.
    fn observe(&mut self, node: NodeId, obs: &Observation);
    /// What is wrong in this state, or which state the experiment asks to
    /// reach it is; `None` to go on.
    fn check(&self, view: &View<'_>) -> Option<Finding>;
}

/// The faults the search may choose, and the timing model.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// How many messages may be dropped along one path.
    pub drops: usize,
    /// The nodes that may crash.
    pub crashable: Vec<NodeId>,
    /// How many of them may crash along one path.
    pub crashes: usize,
    /// The nodes that may lie (Byzantine).
    pub liars: Vec<NodeId>,
    /// How many of them may turn traitor along one path.
    pub traitors: usize,
    /// The bound on message delay that makes the model synchronous (see the
    /// module documentation); `None`: asynchronous.
    pub max_delay: Option<Duration>,
    /// Timers due after this never fire (bounds protocols that run forever).
    pub horizon: Option<Time>,
}

/// The limits of a search.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Steps along one path.
    pub depth: usize,
    /// Distinct states.
    pub states: usize,
    /// Wall time.
    pub time: Duration,
}

/// The order in which the search visits states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Breadth-first: the first trace found is a shortest one.
    Bfs,
    /// Depth-first.
    Dfs,
    /// Random walks from the initial state, each choice drawn from the seed.
    Random { seed: u64 },
}

/// Which bound stopped a search early.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stop {
    /// The distinct-state bound.
    States,
    /// The wall-time bound.
    Time,
    /// Random walks only: many walks in a row found no new state.
    Stale,
}

/// How far a search got.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Stats {
    /// Distinct states reached (the initial one included).
    pub states: usize,
    /// Choices applied (successors computed, seen or not).
    pub transitions: usize,
    /// The deepest state reached, in steps.
    pub depth: usize,
    /// States waiting to be expanded.
    pub frontier: usize,
    /// Wall time so far.
    pub elapsed: Duration,
}

impl Stats {
    /// Distinct states per second of wall time.
    pub fn states_per_second(&self) -> f64 {
        self.states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A state the invariant rejected, and how to get there.
#[derive(Clone, Debug, Serialize)]
pub struct Found<M> {
    /// What the invariant said.
    pub finding: Finding,
    /// The choices from the initial state, in order.
    pub trace: Vec<Step<M>>,
}

/// The outcome of a search.
#[derive(Clone, Debug)]
pub struct Report<M> {
    pub stats: Stats,
    /// The first rejected state, if any.
    pub found: Option<Found<M>>,
    /// The bound that stopped the search before it was done, if any.
    pub stopped: Option<Stop>,
    /// Whether some path was cut at the depth bound (or, for random walks,
    /// always: they never cover the space).
    pub depth_cut: bool,
}

impl<M> Report<M> {
    /// Whether every reachable state was checked, with no path cut by a bound.
    pub fn exhaustive(&self) -> bool {
        self.found.is_none() && self.stopped.is_none() && !self.depth_cut
    }
}

/// The world the search starts from.
#[derive(Clone, Debug)]
pub struct Model<N, I> {
    /// The nodes, node `i` at index `i`, before their start.
    pub nodes: Vec<N>,
    /// The property to check, in its initial state.
    pub invariant: I,
    /// The faults the search may choose.
    pub faults: Faults,
}

#[derive(Clone, Debug)]
struct InFlight<M> {
    from: NodeId,
    to: NodeId,
    msg: M,
    sent: Time,
    /// The hash of all of the above, for the state's fingerprint.
    hash: u64,
}

impl<M: Hash> InFlight<M> {
    fn new(from: NodeId, to: NodeId, msg: M, sent: Time) -> Self {
        let hash = hash_of(&(from, to, sent, &msg));
        InFlight { from, to, msg, sent, hash }
    }
}

/// A strong 64-bit hash of `value` (SipHash).
fn hash_of(value: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// The hasher of the table of states seen: its keys are fingerprints
/// already, used as they are.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Fingerprints<V> = HashMap<u64, V, BuildHasherDefault<Identity>>;

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Pending {
    at: Time,
    node: NodeId,
    timer: TimerId,
}

/// What a step did, before its record is built.
struct Made {
    action: Action,
    now: Time,
    observations: Vec<(NodeId, Observation)>,
}

#[derive(Copy, Clone, Debug)]
enum Action {
    Deliver(usize, Lie),
    Drop(usize),
    Fire(usize),
    Crash(NodeId),
}

/// A search state. Nodes, messages in flight and the invariant's state are
/// shared between a state and its successors until one of them changes one
/// (copy on write), and each node's hash is kept beside it, so a successor
/// costs one node's clone and one node's hash.
#[derive(Clone, Debug)]
struct State<N: Node, I> {
    nodes: Vec<Rc<N>>,
    /// The hash of each node.
    node_hashes: Vec<u64>,
    crashed: Vec<bool>,
    flight: Vec<Rc<InFlight<N::Msg>>>,
    timers: Vec<Pending>,
    now: Time,
    drops: usize,
    crashes: usize,
    traitors: Vec<NodeId>,
    invariant: Rc<I>,
}

impl<N, I> State<N, I>
where
    N: Node + Clone + Hash,
    N::Msg: Hash,
    I: Invariant,
{
    fn initial(model: &Model<N, I>) -> Self {
        let mut state = State {
            nodes: model.nodes.iter().cloned().map(Rc::new).collect(),
            node_hashes: vec![0; model.nodes.len()],
            crashed: vec![false; model.nodes.len()],
            flight: Vec::new(),
            timers: Vec::new(),
            now: Time::ZERO,
            drops: model.faults.drops,
            crashes: model.faults.crashes,
            traitors: Vec::new(),
            invariant: Rc::new(model.invariant.clone()),
        };
        let mut seen = Vec::new();
        for i in 0..state.nodes.len() {
            let me = node_id(i);
            let mut out = Effects::new();
            Rc::make_mut(&mut state.nodes[i]).on_start(Time::ZERO, &mut out);
            state.absorb(me, out, &mut seen);
        }
        state
    }

    fn view(&self) -> View<'_> {
        View { crashed: &self.crashed, traitors: &self.traitors, now: self.now }
    }

    /// Take in what node `me` asked for (after a call that may have changed it).
    fn absorb(&mut self, me: NodeId, out: Effects<N::Msg>, seen: &mut Vec<(NodeId, Observation)>) {
        let now = self.now;
        let i = usize::from(me.0);
        self.node_hashes[i] = hash_of(&self.nodes[i]);
        for (to, msg) in out.sends {
            if !self.crashed.get(usize::from(to.0)).copied().unwrap_or(true) {
                self.flight.push(Rc::new(InFlight::new(me, to, msg, now)));
            }
        }
        for (after, timer) in out.timers {
            self.timers.push(Pending { at: now + after, node: me, timer });
        }
        for obs in out.observations {
            Rc::make_mut(&mut self.invariant).observe(me, &obs);
            seen.push((me, obs));
        }
    }

    fn may_lie(&self, from: NodeId, faults: &Faults) -> bool {
        faults.liars.contains(&from)
            && (self.traitors.contains(&from) || self.traitors.len() < faults.traitors)
    }

    fn may_fire(&self, p: &Pending, faults: &Faults) -> bool {
        if faults.horizon.is_some_and(|h| p.at > h) {
            return false;
        }
        match faults.max_delay {
            None => true,
            Some(delay) => {
                self.timers.iter().all(|q| q.at >= p.at) && self.flight.iter().all(|m| m.sent + delay > p.at)
            }
        }
    }

    fn enabled(&self, faults: &Faults, actions: &mut Vec<Action>) {
        actions.clear();
        for (i, m) in self.flight.iter().enumerate() {
            actions.push(Action::Deliver(i, Lie::Truth));
            if self.may_lie(m.from, faults) {
                actions.push(Action::Deliver(i, Lie::Collude));
                actions.push(Action::Deliver(i, Lie::Equivocate));
            }
            if self.drops > 0 {
                actions.push(Action::Drop(i));
            }
        }
        for (i, p) in self.timers.iter().enumerate() {
            if self.may_fire(p, faults) {
                actions.push(Action::Fire(i));
            }
        }
        if self.crashes > 0 {
            for &n in &faults.crashable {
                if !self.crashed.get(usize::from(n.0)).copied().unwrap_or(true) {
                    actions.push(Action::Crash(n));
                }
            }
        }
    }

    /// The state after `action`, and what the step did (`None` when the
    /// action turns out to be no choice: a lie about a message that carries
    /// nothing to falsify). The step's record is built by [`State::step`],
    /// only for the states the search keeps.
    fn apply(&self, action: Action) -> Option<(Self, Made)> {
        let mut next = self.clone();
        let mut seen = Vec::new();
        match action {
            Action::Deliver(i, lie) => {
                let m = next.flight.swap_remove(i);
                let mut msg = m.msg.clone();
                let falsified = match lie {
                    Lie::Truth => true,
                    Lie::Collude => msg.collude(LIE_KEY),
                    Lie::Equivocate => msg.equivocate(m.to, LIE_KEY),
                };
                if !falsified {
                    return None;
                }
                if lie != Lie::Truth && !next.traitors.contains(&m.from) {
                    next.traitors.push(m.from);
                    next.traitors.sort_unstable();
                }
                let mut out = Effects::new();
                let to = usize::from(m.to.0);
                Rc::make_mut(&mut next.nodes[to]).on_message(next.now, m.from, msg, &mut out);
                next.absorb(m.to, out, &mut seen);
            }
            Action::Drop(i) => {
                next.flight.swap_remove(i);
                next.drops -= 1;
            }
            Action::Fire(i) => {
                let p = next.timers.swap_remove(i);
                next.now = next.now.max(p.at);
                let mut out = Effects::new();
                Rc::make_mut(&mut next.nodes[usize::from(p.node.0)]).on_timer(next.now, p.timer, &mut out);
                next.absorb(p.node, out, &mut seen);
            }
            Action::Crash(n) => {
                next.crashes -= 1;
                next.crashed[usize::from(n.0)] = true;
                next.timers.retain(|p| p.node != n);
                next.flight.retain(|m| m.to != n);
            }
        }
        let now = next.now;
        Some((next, Made { action, now, observations: seen }))
    }

    /// The record of the step `made` from this state.
    fn step(&self, made: Made) -> Step<N::Msg> {
        let choice = match made.action {
            Action::Deliver(i, lie) => {
                let m = &self.flight[i];
                let mut msg = m.msg.clone();
                // The same falsification as the step's (it succeeded there).
                let _ = match lie {
                    Lie::Truth => true,
                    Lie::Collude => msg.collude(LIE_KEY),
                    Lie::Equivocate => msg.equivocate(m.to, LIE_KEY),
                };
                Choice::Deliver { from: m.from, to: m.to, msg, lie }
            }
            Action::Drop(i) => {
                let m = &self.flight[i];
                Choice::Drop { from: m.from, to: m.to, msg: m.msg.clone() }
            }
            Action::Fire(i) => {
                let p = self.timers[i];
                Choice::Timer { node: p.node, timer: p.timer, at: p.at }
            }
            Action::Crash(n) => Choice::Crash { node: n },
        };
        Step { choice, now: made.now, observations: made.observations }
    }

    /// A hash of everything that determines the future of this state.
    fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.node_hashes.hash(&mut h);
        self.crashed.hash(&mut h);
        self.now.hash(&mut h);
        (self.drops, self.crashes).hash(&mut h);
        self.traitors.hash(&mut h);
        // The messages in flight and the timers are multisets: the sum of
        // their hashes is free of order and counts duplicates.
        let msgs = self.flight.iter().fold(0u64, |sum, m| sum.wrapping_add(m.hash));
        let timers = self.timers.iter().fold(0u64, |sum, p| sum.wrapping_add(hash_of(p)));
        (self.flight.len(), msgs, self.timers.len(), timers).hash(&mut h);
        self.invariant.hash(&mut h);
        h.finish()
    }
}

fn node_id(i: usize) -> NodeId {
    NodeId(u16::try_from(i).unwrap_or(u16::MAX))
}

/// Random walks in a row that find no new state before the walks stop.
const STALE_WALKS: usize = 10_000;

/// How often the progress callback is called.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The steps of the path to `arena[idx]`, from the initial state.
fn trace_to<M: Clone>(arena: &[(Option<usize>, Step<M>)], mut idx: Option<usize>) -> Vec<Step<M>> {
    let mut trace = Vec::new();
    while let Some(i) = idx {
        let (parent, step) = &arena[i];
        trace.push(step.clone());
        idx = *parent;
    }
    trace.reverse();
    trace
}

/// Search the schedules of `model` within `bounds`, in the order `strategy`
/// says; `progress` is called about once a second with the figures so far.
pub fn explore<N, I>(
    model: &Model<N, I>,
    bounds: Bounds,
    strategy: Strategy,
    progress: &mut dyn FnMut(&Stats),
) -> Report<N::Msg>
where
    N: Node + Clone + Hash,
    N::Msg: Hash,
    I: Invariant,
{
    let start = Instant::now();
    let root = State::initial(model);
    if let Some(finding) = root.invariant.check(&root.view()) {
        let stats = Stats { states: 1, elapsed: start.elapsed(), ..Stats::default() };
        return Report {
            stats,
            found: Some(Found { finding, trace: Vec::new() }),
            stopped: None,
            depth_cut: false,
        };
    }
    match strategy {
        Strategy::Bfs | Strategy::Dfs => {
            search(model, root, bounds, strategy == Strategy::Bfs, start, progress)
        }
        Strategy::Random { seed } => walks(model, root, bounds, seed, start, progress),
    }
}

/// A search's wall clock: its time bound and its progress line.
struct Clock<'a> {
    start: Instant,
    limit: Duration,
    last: Instant,
    progress: &'a mut dyn FnMut(&Stats),
}

impl Clock<'_> {
    /// Whether the time bound is reached; if not, a progress line every
    /// [`PROGRESS_EVERY`], with `frontier` states waiting.
    fn over(&mut self, stats: &mut Stats, frontier: usize) -> bool {
        let now = Instant::now();
        stats.elapsed = now.duration_since(self.start);
        if stats.elapsed >= self.limit {
            return true;
        }
        if now.duration_since(self.last) >= PROGRESS_EVERY {
            self.last = now;
            stats.frontier = frontier;
            (self.progress)(stats);
        }
        false
    }
}

/// Breadth-first (`bfs`) or depth-first search with a table of the states seen.
fn search<N, I>(
    model: &Model<N, I>,
    root: State<N, I>,
    bounds: Bounds,
    bfs: bool,
    start: Instant,
    progress: &mut dyn FnMut(&Stats),
) -> Report<N::Msg>
where
    N: Node + Clone + Hash,
    N::Msg: Hash,
    I: Invariant,
{
    // Each state seen, with the depth it was first reached at (a depth-first
    // search expands a state again when it finds a shorter path to it).
    let mut seen: Fingerprints<usize> = Fingerprints::default();
    seen.insert(root.fingerprint(), 0);
    let mut arena: Vec<(Option<usize>, Step<N::Msg>)> = Vec::new();
    let mut frontier: std::collections::VecDeque<(State<N, I>, usize, Option<usize>)> =
        std::collections::VecDeque::new();
    frontier.push_back((root, 0, None));
    let mut stats = Stats { states: 1, ..Stats::default() };
    let mut actions = Vec::new();
    let mut depth_cut = false;
    let mut clock = Clock { start, limit: bounds.time, last: start, progress };
    let mut stopped = None;
    let mut found = None;
    'outer: while let Some((state, depth, at)) = if bfs { frontier.pop_front() } else { frontier.pop_back() }
    {
        if depth >= bounds.depth {
            depth_cut = true;
            continue;
        }
        if clock.over(&mut stats, frontier.len()) {
            stopped = Some(Stop::Time);
            break;
        }
        state.enabled(&model.faults, &mut actions);
        for &action in &actions {
            let Some((next, made)) = state.apply(action) else { continue };
            stats.transitions += 1;
            match seen.entry(next.fingerprint()) {
                Entry::Occupied(mut e) => {
                    if bfs || *e.get() <= depth + 1 {
                        continue;
                    }
                    e.insert(depth + 1);
                }
                Entry::Vacant(e) => {
                    e.insert(depth + 1);
                    stats.states += 1;
                }
            }
            stats.depth = stats.depth.max(depth + 1);
            arena.push((at, state.step(made)));
            let idx = arena.len() - 1;
            if let Some(finding) = next.invariant.check(&next.view()) {
                found = Some(Found { finding, trace: trace_to(&arena, Some(idx)) });
                break 'outer;
            }
            frontier.push_back((next, depth + 1, Some(idx)));
            if stats.states >= bounds.states {
                stopped = Some(Stop::States);
                break 'outer;
            }
        }
    }
    stats.frontier = frontier.len();
    stats.elapsed = start.elapsed();
    Report { stats, found, stopped, depth_cut }
}

/// Seeded random walks from the initial state, each at most `bounds.depth` long.
fn walks<N, I>(
    model: &Model<N, I>,
    root: State<N, I>,
    bounds: Bounds,
    seed: u64,
    start: Instant,
    progress: &mut dyn FnMut(&Stats),
) -> Report<N::Msg>
where
    N: Node + Clone + Hash,
    N::Msg: Hash,
    I: Invariant,
{
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seen: HashSet<u64, BuildHasherDefault<Identity>> = HashSet::default();
    seen.insert(root.fingerprint());
    let mut stats = Stats { states: 1, ..Stats::default() };
    let mut actions = Vec::new();
    let mut clock = Clock { start, limit: bounds.time, last: start, progress };
    // Walks that found no new state in a row: this many and the space is
    // taken to be covered as far as walks will cover it.
    let mut stale = 0;
    while stale < STALE_WALKS {
        let before = stats.states;
        let mut state = root.clone();
        let mut path = Vec::new();
        for depth in 0..bounds.depth {
            if clock.over(&mut stats, 0) {
                return Report { stats, found: None, stopped: Some(Stop::Time), depth_cut: true };
            }
            state.enabled(&model.faults, &mut actions);
            if actions.is_empty() {
                break;
            }
            let action = actions[rng.gen_range(0..actions.len())];
            let Some((next, made)) = state.apply(action) else { continue };
            stats.transitions += 1;
            stats.depth = stats.depth.max(depth + 1);
            path.push(state.step(made));
            if seen.insert(next.fingerprint()) {
                stats.states += 1;
            }
            if let Some(finding) = next.invariant.check(&next.view()) {
                stats.elapsed = start.elapsed();
                return Report {
                    stats,
                    found: Some(Found { finding, trace: path }),
                    stopped: None,
                    depth_cut: true,
                };
            }
            if stats.states >= bounds.states {
                stats.elapsed = start.elapsed();
                return Report { stats, found: None, stopped: Some(Stop::States), depth_cut: true };
            }
            state = next;
        }
        stale = if stats.states == before { stale + 1 } else { 0 };
    }
    stats.elapsed = start.elapsed();
    Report { stats, found: None, stopped: Some(Stop::Stale), depth_cut: true }
}

/// A trace replayed: the steps as taken again, and what the invariant said.
#[derive(Clone, Debug)]
pub struct Replayed<M> {
    /// The steps taken, with the observations the nodes emitted this time.
    pub trace: Vec<Step<M>>,
    /// The first finding, and after how many steps (the whole trace, when
    /// the replay reproduces the search's).
    pub found: Option<(usize, Finding)>,
}

/// Why a trace cannot be replayed on a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diverged {
    /// The 1-based step that is not a choice of the state it is taken in.
    pub step: usize,
    /// That step, in words.
    pub choice: String,
    /// How many choices the state offered instead.
    pub enabled: usize,
}

impl std::fmt::Display for Diverged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step {} ({}) is not among the {} choices of the state it is taken in: the trace is not one of this experiment",
            self.step, self.choice, self.enabled
        )
    }
}

/// Take the `choices` of a trace again, from `model`'s initial state, each
/// checked to be one the state offers (the same message, timer or crash,
/// within the same fault budget); the invariant is checked after every
/// step, and the replay stops at the first finding.
pub fn replay<N, I>(model: &Model<N, I>, choices: &[Choice<N::Msg>]) -> Result<Replayed<N::Msg>, Diverged>
where
    N: Node + Clone + Hash,
    N::Msg: Hash + PartialEq,
    I: Invariant,
{
    let mut state = State::initial(model);
    let mut trace = Vec::new();
    if let Some(finding) = state.invariant.check(&state.view()) {
        return Ok(Replayed { trace, found: Some((0, finding)) });
    }
    let mut actions = Vec::new();
    for (i, choice) in choices.iter().enumerate() {
        state.enabled(&model.faults, &mut actions);
        let next = actions
            .iter()
            .filter_map(|&a| state.apply(a).map(|(next, made)| (next, state.step(made))))
            .find(|(_, step)| step.choice == *choice);
        let Some((next, step)) = next else {
            return Err(Diverged { step: i + 1, choice: format!("{choice:?}"), enabled: actions.len() });
        };
        state = next;
        trace.push(step);
        if let Some(finding) = state.invariant.check(&state.view()) {
            return Ok(Replayed { trace, found: Some((i + 1, finding)) });
        }
    }
    Ok(Replayed { trace, found: None })
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests;
