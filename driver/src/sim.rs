//! The deterministic simulator: every node's [`Driver`] on one virtual
//! clock, an event queue ordered by (time, sequence), and a seeded network
//! model between the drivers.
//!
//! Container faults act on drivers: a crash drops the driver with all its
//! volatile state and keeps the node's stable storage; a restart builds a
//! new incarnation from that storage after the network model's
//! `restart_time`; a pause freezes the driver (its timers wait, arriving
//! messages queue) until it is resumed. Message faults are the real
//! interposer's rules, kept per node so that a restarted node gets them back.
//!
//! Nothing here reads a clock or iterates a hash map: the same seed and the
//! same calls give the same run.

use crate::{apply_stable, Driver, DriverStats, Queued};
use faults::{FaultId, MessageFault};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Normal};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;
use workloads::{Node, NodeId, Observation, StableRecords, Time};

/// The one-way latency of a link, drawn per message.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Latency {
    /// Always the same.
    Fixed { value: Duration },
    /// Normal, cut at a microsecond (a message never arrives before it left).
    Normal { mean: Duration, stddev: Duration },
    /// Exponential with this mean (a long tail).
    Exponential { mean: Duration },
}

/// The shortest latency drawn.
const MIN_LATENCY: Duration = Duration::from_micros(1);

impl Latency {
    /// The latency measured between agents on the process backend (loopback
    /// TCP through two agents' event loops, median 0.15 ms).
    pub const MEASURED: Latency =
        Latency::Normal { mean: Duration::from_micros(150), stddev: Duration::from_micros(50) };

    fn draw(&self, rng: &mut ChaCha8Rng) -> Duration {
        let secs = match *self {
            Latency::Fixed { value } => return value,
            Latency::Normal { mean, stddev } => match Normal::new(mean.as_secs_f64(), stddev.as_secs_f64()) {
                Ok(n) => n.sample(rng),
                Err(_) => mean.as_secs_f64(),
            },
            Latency::Exponential { mean } => match Exp::new(1.0 / mean.as_secs_f64().max(1e-9)) {
                Ok(e) => e.sample(rng),
                Err(_) => mean.as_secs_f64(),
            },
        };
        Duration::from_secs_f64(secs.max(0.0)).max(MIN_LATENCY)
    }
}

/// The network model between the simulated nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Every link's latency unless overridden.
    pub latency: Latency,
    /// Per-link latencies (from, to).
    pub links: BTreeMap<(NodeId, NodeId), Latency>,
    /// How long a restart takes, from the request to the node running again
    /// (measured on the process backend: 30–90 ms of spawn and start-up).
    pub restart_time: Duration,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            latency: Latency::MEASURED,
            links: BTreeMap::new(),
            restart_time: Duration::from_millis(50),
        }
    }
}

/// Builds a node's driver for an incarnation from its stable storage.
pub type Build<N> = Box<dyn FnMut(NodeId, u32, StableRecords) -> Driver<N> + Send>;

/// Whether a simulated node runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// Running.
    Up,
    /// Crashed (and maybe restarting).
    Down,
    /// Frozen by a pause fault.
    Paused,
}

struct Slot<N: Node> {
    driver: Option<Driver<N>>,
    state: SlotState,
    incarnation: u32,
    stable: StableRecords,
    /// Messages that arrived while paused, handed over on resume.
    inbox: Vec<(NodeId, N::Msg)>,
    /// The earliest wake-up queued for the current driver.
    wake: Option<Time>,
    rules: Vec<(FaultId, MessageFault)>,
    /// Totals over past incarnations.
    past: DriverStats,
}

enum Event<M> {
    /// `incarnation` is the receiver's when the message left: a message on
    /// its way to an incarnation that crashed since is lost, as on a TCP
    /// connection to a process that died.
    Deliver {
        from: NodeId,
        to: NodeId,
        incarnation: u32,
        msg: M,
    },
    Wake {
        node: NodeId,
        incarnation: u32,
    },
    Restart {
        node: NodeId,
        incarnation: u32,
        issued: Time,
    },
}

/// A restart that completed: the node runs again.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Restarted {
    pub node: NodeId,
    /// When the restart was asked for.
    pub issued: Time,
    /// When the node ran again.
    pub up: Time,
}

/// A message a node put on the network (as its interposer let it go).
#[derive(Clone, Debug, PartialEq)]
pub struct Sent<M> {
    /// When it left.
    pub at: Time,
    pub from: NodeId,
    pub to: NodeId,
    pub msg: M,
}

/// Every node of a run on one virtual clock. See the module docs.
pub struct Sim<N: Node> {
    now: Time,
    slots: Vec<Slot<N>>,
    queue: BinaryHeap<Reverse<Queued<Event<N::Msg>>>>,
    seq: u64,
    /// The latest arrival on each link (from * n + to): links are FIFO, as TCP.
    last_arrival: Vec<Time>,
    rng: ChaCha8Rng,
    network: Network,
    build: Build<N>,
    observations: Vec<(NodeId, Time, Observation)>,
    restarted: Vec<Restarted>,
    /// Nodes that failed on their own: (node, when, why).
    failures: Vec<(NodeId, Time, String)>,
    /// Every message put on the network, when [`Sim::record_sent`] asked for it.
    sent: Option<Vec<Sent<N::Msg>>>,
    /// Messages handed to a driver.
    pub delivered: u64,
    /// Messages that arrived at a crashed node, or were on their way to an
    /// incarnation that crashed since they left.
    pub lost_to_crashes: u64,
}

impl<N: Node> Sim<N> {
    /// `n` nodes built by `build`, not started, at virtual time `t0`; the
    /// network draws from its own stream of `seed`.
    pub fn new(n: usize, t0: Time, network: Network, seed: u64, mut build: Build<N>) -> Self {
        let slots = (0..n)
            .map(|i| Slot {
                driver: Some(build(NodeId(i as u16), 0, StableRecords::new())),
                state: SlotState::Up,
                incarnation: 0,
                stable: StableRecords::new(),
                inbox: Vec::new(),
                wake: None,
                rules: Vec::new(),
                past: DriverStats::default(),
            })
            .collect();
        Sim {
            now: t0,
            slots,
            queue: BinaryHeap::new(),
            seq: 0,
            last_arrival: vec![Time::ZERO; n * n],
            rng: ChaCha8Rng::seed_from_u64(workloads::seed::splitmix64(seed ^ 0x006e_6574_776f_726b)),
            network,
            build,
            observations: Vec::new(),
            restarted: Vec::new(),
            failures: Vec::new(),
            sent: None,
            delivered: 0,
            lost_to_crashes: 0,
        }
    }

    /// The virtual clock.
    pub fn now(&self) -> Time {
        self.now
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Node `id`'s driver, when it runs (or is paused).
    pub fn driver(&self, id: NodeId) -> Option<&Driver<N>> {
        self.slots.get(usize::from(id.0)).and_then(|s| s.driver.as_ref())
    }

    /// Node `id`'s driver, mutably.
    pub fn driver_mut(&mut self, id: NodeId) -> Option<&mut Driver<N>> {
        self.slots.get_mut(usize::from(id.0)).and_then(|s| s.driver.as_mut())
    }

    /// Whether node `id` runs, is down or paused.
    pub fn state(&self, id: NodeId) -> SlotState {
        self.slots.get(usize::from(id.0)).map_or(SlotState::Down, |s| s.state)
    }

    /// Node `id`'s stable storage.
    pub fn stable(&self, id: NodeId) -> Option<&StableRecords> {
        self.slots.get(usize::from(id.0)).map(|s| &s.stable)
    }

    /// What went through node `id` over all its incarnations.
    pub fn stats(&self, id: NodeId) -> DriverStats {
        let Some(slot) = self.slots.get(usize::from(id.0)) else { return DriverStats::default() };
        let mut total = slot.past.clone();
        if let Some(d) = &slot.driver {
            add(&mut total, &d.stats());
        }
        total
    }

    /// Start every node (at the current virtual time).
    pub fn start(&mut self) {
        for i in 0..self.slots.len() {
            self.start_node(NodeId(i as u16));
        }
    }

    /// Start node `id` alone, at the current virtual time (nodes that start
    /// apart, as real agents do); a node already started, down or unknown
    /// is left alone.
    pub fn start_node(&mut self, id: NodeId) {
        let i = usize::from(id.0);
        let now = self.now;
        let Some(d) = self.slots.get_mut(i).and_then(|s| s.driver.as_mut()) else { return };
        if d.started() {
            return;
        }
        d.start(now);
        self.carry_out(i);
    }

    /// From now on keep every message put on the network (for tests and
    /// oracles that check what was said; it costs a clone per message).
    pub fn record_sent(&mut self) {
        self.sent.get_or_insert_with(Vec::new);
    }

    /// The messages put on the network since [`Sim::record_sent`], in the
    /// order they left.
    pub fn sent(&self) -> &[Sent<N::Msg>] {
        self.sent.as_deref().unwrap_or_default()
    }

    /// The instant of the next event, if any.
    pub fn next_event(&self) -> Option<Time> {
        self.queue.peek().map(|Reverse(q)| q.at)
    }

    /// Run every event up to and including `until`, then set the clock to `until`.
    pub fn run_until(&mut self, until: Time) {
        while self.queue.peek().is_some_and(|Reverse(q)| q.at <= until) {
            let Some(Reverse(q)) = self.queue.pop() else { break };
            self.now = self.now.max(q.at);
            self.handle(q.item);
        }
        self.now = self.now.max(until);
    }

    /// Run the next event (or nothing when none is queued); returns its instant.
    pub fn step(&mut self) -> Option<Time> {
        let Reverse(q) = self.queue.pop()?;
        self.now = self.now.max(q.at);
        self.handle(q.item);
        Some(self.now)
    }

    /// Everything observed since the last call: (node, instant, observation).
    pub fn drain_observations(&mut self) -> std::vec::Drain<'_, (NodeId, Time, Observation)> {
        self.observations.drain(..)
    }

    /// Restarts that completed since the last call.
    pub fn drain_restarted(&mut self) -> std::vec::Drain<'_, Restarted> {
        self.restarted.drain(..)
    }

    /// Nodes that failed on their own since the last call (a write to an
    /// invalid stable record, which stops an agent): (node, when, why).
    pub fn drain_failures(&mut self) -> std::vec::Drain<'_, (NodeId, Time, String)> {
        self.failures.drain(..)
    }

    /// Crash node `id` now: its volatile state is gone, its stable storage
    /// stays, and a restart of it still in progress is called off.
    pub fn crash(&mut self, id: NodeId) {
        let Some(slot) = self.slots.get_mut(usize::from(id.0)) else { return };
        if let Some(d) = slot.driver.take() {
            add(&mut slot.past, &d.stats());
        }
        slot.state = SlotState::Down;
        slot.incarnation += 1;
        slot.inbox.clear();
        slot.wake = None;
    }

    /// Restart node `id` (crashing it first if it runs): it runs again as a
    /// new incarnation built from its stable storage after `restart_time`.
    pub fn restart(&mut self, id: NodeId) {
        if self.slots.get(usize::from(id.0)).is_some_and(|s| s.driver.is_some()) {
            self.crash(id);
        }
        let Some(slot) = self.slots.get_mut(usize::from(id.0)) else { return };
        slot.incarnation += 1;
        let incarnation = slot.incarnation;
        let at = self.now + self.network.restart_time;
        let issued = self.now;
        self.push(at, Event::Restart { node: id, incarnation, issued });
    }

    /// Freeze node `id`: its timers wait and what arrives queues, until resumed.
    pub fn pause(&mut self, id: NodeId) {
        if let Some(slot) = self.slots.get_mut(usize::from(id.0)) {
            if slot.state == SlotState::Up {
                slot.state = SlotState::Paused;
            }
        }
    }

    /// Resume a paused node: it handles what queued and what fell due, now.
    pub fn resume(&mut self, id: NodeId) {
        let i = usize::from(id.0);
        let Some(slot) = self.slots.get_mut(i) else { return };
        if slot.state != SlotState::Paused {
            return;
        }
        slot.state = SlotState::Up;
        slot.wake = None;
        let inbox = std::mem::take(&mut slot.inbox);
        let now = self.now;
        if let Some(d) = slot.driver.as_mut() {
            for (from, msg) in inbox {
                d.handle_message(now, from, msg);
                self.delivered += 1;
            }
            d.handle_timeout(now);
        }
        self.carry_out(i);
    }

    /// Install a message-fault rule on node `id` (kept across its restarts).
    pub fn install(&mut self, id: NodeId, rule: FaultId, fault: MessageFault) {
        let Some(slot) = self.slots.get_mut(usize::from(id.0)) else { return };
        if let Some(d) = slot.driver.as_mut() {
            d.install(rule, fault.clone());
        }
        slot.rules.push((rule, fault));
    }

    /// Remove a rule from node `id`.
    pub fn remove(&mut self, id: NodeId, rule: FaultId) {
        let Some(slot) = self.slots.get_mut(usize::from(id.0)) else { return };
        if let Some(d) = slot.driver.as_mut() {
            d.remove(rule);
        }
        slot.rules.retain(|(r, _)| *r != rule);
    }

    fn push(&mut self, at: Time, item: Event<N::Msg>) {
        self.seq += 1;
        self.queue.push(Reverse(Queued { at, seq: self.seq, item }));
    }

    fn handle(&mut self, event: Event<N::Msg>) {
        let now = self.now;
        match event {
            Event::Deliver { from, to, incarnation, msg } => {
                let i = usize::from(to.0);
                let Some(slot) = self.slots.get_mut(i) else { return };
                if slot.incarnation != incarnation {
                    self.lost_to_crashes += 1;
                    return;
                }
                match (slot.state, slot.driver.as_mut()) {
                    (SlotState::Up, Some(d)) => {
                        d.handle_message(now, from, msg);
                        self.delivered += 1;
                        self.carry_out(i);
                    }
                    (SlotState::Paused, Some(_)) => slot.inbox.push((from, msg)),
                    _ => self.lost_to_crashes += 1,
                }
            }
            Event::Wake { node, incarnation } => {
                let i = usize::from(node.0);
                let Some(slot) = self.slots.get_mut(i) else { return };
                if slot.incarnation != incarnation || slot.state != SlotState::Up || slot.wake != Some(now) {
                    return;
                }
                slot.wake = None;
                if let Some(d) = slot.driver.as_mut() {
                    d.handle_timeout(now);
                }
                self.carry_out(i);
            }
            Event::Restart { node, incarnation, issued } => {
                let i = usize::from(node.0);
                let Some(slot) = self.slots.get(i) else { return };
                if slot.incarnation != incarnation {
                    return;
                }
                let mut driver = (self.build)(node, incarnation, slot.stable.clone());
                let slot = &mut self.slots[i];
                for (id, fault) in &slot.rules {
                    driver.install(*id, fault.clone());
                }
                driver.start(now);
                slot.driver = Some(driver);
                slot.state = SlotState::Up;
                slot.wake = None;
                self.restarted.push(Restarted { node, issued, up: now });
                self.carry_out(i);
            }
        }
    }

    /// Carries out what node `i`'s driver asked for: its stable writes,
    /// then its messages onto the network, then its next wake-up.
    fn carry_out(&mut self, i: usize) {
        let now = self.now;
        let n = self.slots.len();
        let Some(slot) = self.slots.get_mut(i) else { return };
        let Some(d) = slot.driver.as_mut() else { return };
        while let Some(w) = d.poll_stable_write() {
            let key = match &w {
                workloads::StableWrite::Put { key, .. } | workloads::StableWrite::Append { key, .. } => key,
            };
            if !workloads::node::valid_key(key) {
                // As an agent does: its guarantees are gone, it stops, nothing it decided goes out.
                let reason = format!("invalid stable record key `{key}`");
                let me = d.me();
                self.failures.push((me, now, reason));
                self.crash(me);
                return;
            }
            apply_stable(&mut slot.stable, w);
        }
        let from = d.me();
        let mut out = Vec::new();
        while let Some(t) = d.poll_transmit() {
            out.push(t);
        }
        self.observations.extend(d.drain_observations().map(|(at, o)| (from, at, o)));
        let next = if d.has_loopback() { Some(now) } else { d.poll_timeout() };
        let incarnation = slot.incarnation;
        if let Some(t) = next {
            if slot.wake.is_none_or(|w| t < w) {
                slot.wake = Some(t);
                self.push(t.max(now), Event::Wake { node: from, incarnation });
            }
        }
        for t in out {
            let to = usize::from(t.to.0);
            if to >= n {
                continue;
            }
            let latency =
                self.network.links.get(&(from, t.to)).unwrap_or(&self.network.latency).draw(&mut self.rng);
            let link = usize::from(from.0) * n + to;
            let at = (now + latency).max(self.last_arrival[link]);
            self.last_arrival[link] = at;
            if let Some(sent) = self.sent.as_mut() {
                sent.push(Sent { at: now, from, to: t.to, msg: t.msg.clone() });
            }
            let incarnation = self.slots[to].incarnation;
            self.push(at, Event::Deliver { from, to: t.to, incarnation, msg: t.msg });
        }
    }
}

fn add(total: &mut DriverStats, d: &DriverStats) {
    total.sent += d.sent;
    total.received += d.received;
    let (t, i) = (&mut total.interposer, &d.interposer);
    t.dropped_send += i.dropped_send;
    t.dropped_receive += i.dropped_receive;
    t.delayed += i.delayed;
    t.falsified += i.falsified;
    t.duplicated += i.duplicated;
    t.forged += i.forged;
    t.slowed += i.slowed;
}
