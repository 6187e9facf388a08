//! The sans-IO driver: everything between a workload [`Node`] and the world.
//!
//! A [`Driver`] owns the node and its fault interposer, the timer queue, the
//! order-preserving queue of messages the interposer delays, messages a slow
//! rule holds back on arrival, duplicated and forged copies, loopback and
//! clock skew, and the rule that a call's stable writes complete before its
//! sends. It reads no clock and does no I/O (quinn-proto's `Connection` is
//! the model): the caller passes `now` in, and takes out what to send, what
//! to write to stable storage, and what was observed.
//!
//! ```text
//! driver.handle_message(now, from, msg);
//! driver.handle_timeout(now);
//! while let Some(w) = driver.poll_stable_write() { /* write it: before any send */ }
//! while let Some(t) = driver.poll_transmit() { /* put t.msg on the wire to t.to */ }
//! for (at, o) in driver.drain_observations() { /* to the recorder */ }
//! let next = driver.poll_timeout(); // when it next needs handle_timeout
//! ```
//!
//! The node agent is the tokio loop around it (sockets, the real clock); the
//! [`sim::Sim`] is the other loop, with a virtual clock and a network model.
//! [`explore`] searches the schedules of the bare nodes instead (model checking).

pub mod explore;
pub mod sim;

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests;

use faults::{FaultId, Interposer, InterposerStats, MessageFault, ReceiveDecision, SendDecision};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use workloads::{Effects, Node, NodeId, Observation, StableWrite, Time, TimerId};

/// Timers, delayed and held messages handled per `handle_timeout` at most:
/// a node that keeps setting zero-length timers cannot starve its caller.
const FIRE_BURST: usize = 16 * 1024;
/// Messages to itself handled per call at most, for the same reason.
const LOOPBACK_BURST: usize = 4096;

/// A message for the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct Transmit<M> {
    /// The peer it goes to.
    pub to: NodeId,
    /// The message, as the interposer let it go (maybe falsified).
    pub msg: M,
}

/// What went through a driver so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Messages handed out for the wire.
    pub sent: u64,
    /// Messages that arrived from the wire (before the interposer).
    pub received: u64,
    /// What the interposer did.
    pub interposer: InterposerStats,
}

/// A message and the peer it goes to.
type Addressed<M> = (NodeId, M);

/// An entry of a time-ordered queue: equal times keep the order they were queued in.
#[derive(Debug)]
struct Queued<T> {
    at: Time,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Queued<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Queued<T> {}
impl<T> PartialOrd for Queued<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Queued<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// One node and everything between it and the world. See the crate docs.
#[derive(Debug)]
pub struct Driver<N: Node> {
    me: NodeId,
    node: N,
    interposer: Interposer,
    effects: Effects<N::Msg>,
    timers: BinaryHeap<Reverse<Queued<TimerId>>>,
    /// Sent messages the interposer delays: (to, message), released in time order.
    delayed: BinaryHeap<Reverse<Queued<Addressed<N::Msg>>>>,
    /// Received messages a slow rule holds back: (when, as from whom,
    /// message, copies), in arrival order (the interposer keeps them FIFO).
    held: VecDeque<(Time, NodeId, N::Msg, u32)>,
    /// Breaks ties so that equal deadlines keep the order they were set in.
    seq: u64,
    loopback: VecDeque<N::Msg>,
    transmits: VecDeque<Transmit<N::Msg>>,
    stable: VecDeque<StableWrite>,
    observations: Vec<(Time, Observation)>,
    stats: DriverStats,
    started: bool,
}

impl<N: Node> Driver<N> {
    /// A driver for `node`, whose messages pass through `interposer`.
    pub fn new(node: N, interposer: Interposer) -> Self {
        Driver {
            me: interposer.me(),
            node,
            interposer,
            effects: Effects::new(),
            timers: BinaryHeap::new(),
            delayed: BinaryHeap::new(),
            held: VecDeque::new(),
            seq: 0,
            loopback: VecDeque::new(),
            transmits: VecDeque::new(),
            stable: VecDeque::new(),
            observations: Vec::new(),
            stats: DriverStats::default(),
            started: false,
        }
    }

    /// The node this driver hosts.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// The hosted node (for tests and oracles).
    pub fn node(&self) -> &N {
        &self.node
    }

    /// Whether [`Driver::start`] was called.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Install a message-fault rule (it acts from the next call on).
    pub fn install(&mut self, id: FaultId, fault: MessageFault) {
        self.interposer.install(id, fault);
    }

    /// Remove a rule.
    pub fn remove(&mut self, id: FaultId) {
        self.interposer.remove(id);
    }

    /// Start the node (first start or restart: the node was built knowing which).
    pub fn start(&mut self, now: Time) {
        self.started = true;
        let clock = self.interposer.node_clock(now);
        self.node.on_start(clock, &mut self.effects);
        self.apply_effects(now);
        self.drain_loopback(now);
    }

    /// A message from `from` arrived from the wire at `now`.
    pub fn handle_message(&mut self, now: Time, from: NodeId, msg: N::Msg) {
        self.stats.received += 1;
        self.deliver(now, from, msg);
        self.drain_loopback(now);
    }

    /// Fire every timer, release every delayed message and hand over every
    /// held one that is due at `now`, in deadline order (timers a firing
    /// sets with no delay fire too), up to a bound: when more is due,
    /// [`Driver::poll_timeout`] says `now` again.
    pub fn handle_timeout(&mut self, now: Time) {
        for _ in 0..FIRE_BURST {
            if self.held.front().is_some_and(|(t, ..)| *t <= now) {
                if let Some((_, from, msg, copies)) = self.held.pop_front() {
                    self.handle(now, from, msg, copies);
                }
                continue;
            }
            let timer = self.timers.peek().map(|Reverse(q)| q.at).filter(|t| *t <= now);
            let delayed = self.delayed.peek().map(|Reverse(q)| q.at).filter(|t| *t <= now);
            match (timer, delayed) {
                (Some(a), b) if b.is_none_or(|b| a <= b) => {
                    if let Some(Reverse(q)) = self.timers.pop() {
                        let clock = self.interposer.node_clock(now);
                        self.node.on_timer(clock, q.item, &mut self.effects);
                        self.apply_effects(now);
                    }
                }
                (_, Some(_)) => {
                    if let Some(Reverse(q)) = self.delayed.pop() {
                        let (to, msg) = q.item;
                        self.release(to, msg);
                    }
                }
                _ => break,
            }
        }
        self.drain_loopback(now);
    }

    /// The earliest instant at which the driver needs [`Driver::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Time> {
        let t = self.timers.peek().map(|Reverse(q)| q.at);
        let d = self.delayed.peek().map(|Reverse(q)| q.at);
        let h = self.held.front().map(|(t, ..)| *t);
        [t, d, h].into_iter().flatten().min()
    }

    /// Whether messages to itself are still waiting (a node that keeps
    /// messaging itself): call [`Driver::handle_timeout`] again at once.
    pub fn has_loopback(&self) -> bool {
        !self.loopback.is_empty()
    }

    /// The next write to stable storage. Take every one before any
    /// transmit: nothing sent may depend on state a crash would lose.
    pub fn poll_stable_write(&mut self) -> Option<StableWrite> {
        self.stable.pop_front()
    }

    /// The next message for the wire.
    pub fn poll_transmit(&mut self) -> Option<Transmit<N::Msg>> {
        let t = self.transmits.pop_front();
        if t.is_some() {
            self.stats.sent += 1;
        }
        t
    }

    /// Drop every message waiting for the wire (a stable write failed: the
    /// node's guarantees are gone and nothing it decided may go out).
    pub fn discard_transmits(&mut self) {
        self.transmits.clear();
    }

    /// What the node observed since the last call, stamped with the
    /// instant of the call that emitted it.
    pub fn drain_observations(&mut self) -> std::vec::Drain<'_, (Time, Observation)> {
        self.observations.drain(..)
    }

    /// What went through so far.
    pub fn stats(&self) -> DriverStats {
        DriverStats { interposer: self.interposer.stats().clone(), ..self.stats.clone() }
    }

    /// A delayed message is due: to the wire, or back into this node.
    fn release(&mut self, to: NodeId, msg: N::Msg) {
        if to == self.me {
            self.loopback.push_back(msg);
        } else {
            self.transmits.push_back(Transmit { to, msg });
        }
    }

    fn deliver(&mut self, now: Time, from: NodeId, msg: N::Msg) {
        match self.interposer.receive(now, from) {
            ReceiveDecision::Drop => {}
            ReceiveDecision::Deliver { at, from, copies } if at <= now => self.handle(now, from, msg, copies),
            ReceiveDecision::Deliver { at, from, copies } => self.held.push_back((at, from, msg, copies)),
        }
    }

    /// Hands a message to the node (twice when duplicated), on the node's clock.
    fn handle(&mut self, now: Time, from: NodeId, msg: N::Msg, copies: u32) {
        let clock = self.interposer.node_clock(now);
        for _ in 1..copies {
            self.node.on_message(clock, from, msg.clone(), &mut self.effects);
        }
        self.node.on_message(clock, from, msg, &mut self.effects);
        self.apply_effects(now);
    }

    fn drain_loopback(&mut self, now: Time) {
        for _ in 0..LOOPBACK_BURST {
            let Some(msg) = self.loopback.pop_front() else { return };
            let me = self.me;
            self.deliver(now, me, msg);
        }
    }

    /// Carries out what the node asked for in the call made at `now`.
    fn apply_effects(&mut self, now: Time) {
        // Stable writes first: the caller takes them before the sends.
        self.stable.extend(self.effects.stable.drain(..));
        for (to, msg) in self.effects.sends.drain(..) {
            match self.interposer.on_send(now, to, msg) {
                SendDecision::Drop => {}
                SendDecision::Deliver { at, msg } if at <= now => {
                    if to == self.me {
                        self.loopback.push_back(msg);
                    } else {
                        self.transmits.push_back(Transmit { to, msg });
                    }
                }
                SendDecision::Deliver { at, msg } => {
                    self.seq += 1;
                    self.delayed.push(Reverse(Queued { at, seq: self.seq, item: (to, msg) }));
                }
            }
        }
        for (after, id) in self.effects.timers.drain(..) {
            self.seq += 1;
            // The node measured `after` on its own (maybe skewed) clock.
            let after = self.interposer.real_after(after);
            self.timers.push(Reverse(Queued { at: now + after, seq: self.seq, item: id }));
        }
        self.observations.extend(self.effects.observations.drain(..).map(|o| (now, o)));
    }
}

/// The interposer's seed for a node seeded `seed`: a stream apart from the
/// node's own (splitmix64 of the seed and "faultlab").
pub fn interposer_seed(seed: u64) -> u64 {
    workloads::seed::splitmix64(seed ^ 0x6661_756c_746c_6162)
}

/// Apply one write to records held in memory (the simulator's stable storage).
pub fn apply_stable(records: &mut workloads::StableRecords, write: StableWrite) {
    match write {
        StableWrite::Put { key, bytes } => {
            records.insert(key, bytes);
        }
        StableWrite::Append { key, mut bytes } => records.entry(key).or_default().append(&mut bytes),
    }
}
