//! The sans-IO message interposer.
//!
//! It sits between a node's effects and the wire (send side) and between the
//! wire and the node (receive side) and decides, per message, to drop it,
//! deliver it now, deliver it later, or falsify it. It does no I/O and reads
//! no clock: the caller passes `now` and puts the message on the wire at the
//! time it is given back.
//!
//! Rules combine: drops are decided first (silence, partition, omission), then
//! Byzantine falsification, then delays (the delays of several rules add up).
//! Delivery on a link is FIFO, as on TCP, unless every delay rule covering the
//! link allows reordering.
//!
//! On the receive side, drops come first (partition, omission, on the real
//! sender), then a forgery relabels the sender, duplication may hand the
//! message over twice, and a slow (processing-delay) rule holds it back, in
//! arrival order. Clock skew changes the node's view of `now` only: the
//! caller asks [`Interposer::node_clock`] for the time to pass the node and
//! [`Interposer::real_after`] for how long the node's timers really take.

use crate::stream::{link_rng, Side};
use crate::{ByzantineMode, DelayDistribution, Direction, FaultId, MessageFault, STALE_LAG};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Pareto};
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;
use workloads::{Message, NodeId, Time};

/// What happens to a message a node sends.
#[derive(Debug, PartialEq)]
pub enum SendDecision<M> {
    /// The message is lost.
    Drop,
    /// Put the (possibly falsified) message on the wire at `at` (now, or later when delayed).
    Deliver { at: Time, msg: M },
}

/// What happens to a message that arrived for this node.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReceiveDecision {
    /// The message is lost before the node sees it.
    Drop,
    /// Hand the message to the node at `at` (now, or later when the node is
    /// slow) as coming from `from` (the real sender unless forged), `copies`
    /// times in a row (2 when duplicated).
    Deliver { at: Time, from: NodeId, copies: u32 },
}

/// Counters of what the interposer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterposerStats {
    /// Messages this node sent that were dropped (silence, partition, omission).
    pub dropped_send: u64,
    /// Messages that arrived and were dropped before the node saw them.
    pub dropped_receive: u64,
    /// Sent messages handed back with a delivery time later than `now`.
    pub delayed: u64,
    /// Sent messages whose result a Byzantine rule replaced.
    pub falsified: u64,
    /// Received messages handed to the node twice.
    pub duplicated: u64,
    /// Received messages whose handling a slow rule held back.
    pub slowed: u64,
    /// Received messages attributed to a sender other than the real one.
    pub forged: u64,
}

/// A message kept for replay by a `Stale` rule, of the caller's message type.
struct Held(Box<dyn Any + Send>);

impl fmt::Debug for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Held(..)")
    }
}

/// One node's interposer: the message faults installed on it, and the RNG
/// streams (one per link, derived from the seed) its decisions come from.
#[derive(Debug)]
pub struct Interposer {
    me: NodeId,
    seed: u64,
    rules: Vec<(FaultId, MessageFault)>,
    stats: InterposerStats,
    /// Created lazily: a link no rule draws for costs nothing.
    streams: HashMap<(NodeId, Side), ChaCha8Rng>,
    /// The latest delivery time handed out per link, for FIFO order.
    last_at: HashMap<NodeId, Time>,
    /// The latest delivery time handed out on any link: before it, a send
    /// with no rule installed may still have to wait behind a delayed one.
    horizon: Time,
    /// The latest time a slow rule handed a received message over, for FIFO.
    slow_last: Time,
    /// Per link, the last messages sent while a `Stale` rule was installed.
    history: HashMap<NodeId, VecDeque<Held>>,
    /// When each clock-skew rule was first consulted: its drift runs from there.
    skew_anchors: HashMap<FaultId, Time>,
}

impl Interposer {
    /// An interposer for node `me` with no faults installed.
    pub fn new(me: NodeId, seed: u64) -> Self {
        Interposer {
            me,
            seed,
            rules: Vec::new(),
            stats: InterposerStats::default(),
            streams: HashMap::new(),
            last_at: HashMap::new(),
            horizon: Time::ZERO,
            slow_last: Time::ZERO,
            history: HashMap::new(),
            skew_anchors: HashMap::new(),
        }
    }

    /// Install a message fault (replacing one with the same id).
    pub fn install(&mut self, id: FaultId, fault: MessageFault) {
        self.remove(id);
        self.rules.push((id, fault));
    }

    /// Remove a message fault; unknown ids are ignored.
    pub fn remove(&mut self, id: FaultId) {
        self.rules.retain(|(i, _)| *i != id);
        self.skew_anchors.remove(&id);
        let stale = |(_, r): &(FaultId, MessageFault)| {
            matches!(r, MessageFault::Byzantine { mode: ByzantineMode::Stale, .. })
        };
        if !self.rules.iter().any(stale) {
            self.history.clear();
        }
    }

    /// The rules installed, in installation order.
    pub fn installed(&self) -> impl Iterator<Item = (FaultId, &MessageFault)> + '_ {
        self.rules.iter().map(|(id, fault)| (*id, fault))
    }

    /// The node this interposer belongs to.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// Decide the fate of a message this node sends to `to` at `now`.
    pub fn on_send<M: Message>(&mut self, now: Time, to: NodeId, mut msg: M) -> SendDecision<M> {
        // The common case: no fault and nothing delayed still in flight.
        if self.rules.is_empty() && now >= self.horizon {
            return SendDecision::Deliver { at: now, msg };
        }
        if self.send_cut(to) || self.omitted(to, Side::Send) {
            self.stats.dropped_send += 1;
            return SendDecision::Drop;
        }
        if self.falsify(to, &mut msg) {
            self.stats.falsified += 1;
        }
        let (delay, reorder) = self.draw_delay(to);
        let at = self.schedule(now, to, delay, reorder);
        if at > now {
            self.stats.delayed += 1;
        }
        SendDecision::Deliver { at, msg }
    }

    /// Decide whether a message from `from` that arrived at `now` reaches the
    /// node (the short form of [`Interposer::receive`], for callers that
    /// neither hold messages back nor relabel or duplicate them).
    pub fn on_receive(&mut self, now: Time, from: NodeId) -> bool {
        !matches!(self.receive(now, from), ReceiveDecision::Drop)
    }

    /// Decide the fate of a message from `from` that arrived at `now`: lost,
    /// or handed to the node when, as whom and how many times.
    pub fn receive(&mut self, now: Time, from: NodeId) -> ReceiveDecision {
        // The common case: no fault and nothing held back by a slow rule.
        if self.rules.is_empty() && now >= self.slow_last {
            return ReceiveDecision::Deliver { at: now, from, copies: 1 };
        }
        if self.receive_cut(from) || self.omitted(from, Side::Receive) {
            self.stats.dropped_receive += 1;
            return ReceiveDecision::Drop;
        }
        let claimed = self.rules.iter().find_map(|(_, rule)| match rule {
            MessageFault::Forge { liar, claimed } if *liar == from => Some(*claimed),
            _ => None,
        });
        if claimed.is_some() {
            self.stats.forged += 1;
        }
        let copies = if self.duplicated(from) { 2 } else { 1 };
        self.stats.duplicated += u64::from(copies - 1);
        let at = self.slow_until(now);
        ReceiveDecision::Deliver { at, from: claimed.unwrap_or(from), copies }
    }

    /// The time to pass the node when the host's clock reads `now`: `now`
    /// itself unless clock-skew rules shift it and change its rate.
    pub fn node_clock(&mut self, now: Time) -> Time {
        let mut t = i128::from(now.as_nanos());
        for (id, rule) in &self.rules {
            let MessageFault::ClockSkew { offset_nanos, drift } = rule else { continue };
            let anchor = *self.skew_anchors.entry(*id).or_insert(now);
            let elapsed = now.since(anchor).as_nanos() as f64;
            // `as` from float saturates; NaN drift adds nothing.
            t += i128::from(*offset_nanos) + (elapsed * drift) as i128;
        }
        Time(u64::try_from(t.max(0)).unwrap_or(u64::MAX))
    }

    /// How long a timer the node sets for `after` (on its own clock) takes on
    /// the host's clock: a fast clock (drift above zero) fires timers early.
    pub fn real_after(&self, after: Duration) -> Duration {
        let rate: f64 = 1.0
            + self
                .rules
                .iter()
                .filter_map(|(_, r)| match r {
                    MessageFault::ClockSkew { drift, .. } if drift.is_finite() => Some(*drift),
                    _ => None,
                })
                .sum::<f64>();
        if rate == 1.0 {
            return after;
        }
        // A clock cannot run backwards or stop: below 1% speed, treat it as 1%.
        Duration::from_nanos((nanos(after) as f64 / rate.max(0.01)).round() as u64)
    }

    /// What the interposer has done so far.
    pub fn stats(&self) -> &InterposerStats {
        &self.stats
    }

    /// Whether a duplication rule covering the link from `from` draws a second copy.
    fn duplicated(&mut self, from: NodeId) -> bool {
        for (_, rule) in &self.rules {
            let MessageFault::Duplicate { probability, links } = rule else { continue };
            if !links.covers(from) {
                continue;
            }
            let rng = stream(&mut self.streams, self.seed, self.me, from, Side::Receive);
            if rng.gen::<f64>() < *probability {
                return true;
            }
        }
        false
    }

    /// When the node handles a message that arrived at `now`: later by the
    /// slow rules' delays (which add up), never before the one ahead of it.
    fn slow_until(&mut self, now: Time) -> Time {
        let mut total = Duration::ZERO;
        let mut slow = false;
        for (_, rule) in &self.rules {
            let MessageFault::Slow { distribution } = rule else { continue };
            slow = true;
            let me = self.me;
            let rng = stream(&mut self.streams, self.seed, me, me, Side::Process);
            total = total.saturating_add(sample_delay(distribution, rng));
        }
        let at = now + total;
        if !slow && at >= self.slow_last {
            return at;
        }
        let at = at.max(self.slow_last);
        self.stats.slowed += 1;
        self.slow_last = at;
        at
    }

    /// Whether silence or a partition stops everything this node sends to `to`.
    fn send_cut(&self, to: NodeId) -> bool {
        self.rules.iter().any(|(_, rule)| match rule {
            MessageFault::Silence => true,
            MessageFault::Partition { cut, .. } => cut.contains(&to),
            _ => false,
        })
    }

    /// Whether a two-way partition stops what `from` sends to this node.
    fn receive_cut(&self, from: NodeId) -> bool {
        self.rules.iter().any(|(_, rule)| {
            matches!(rule, MessageFault::Partition { cut, one_way: false } if cut.contains(&from))
        })
    }

    /// Draw, rule by rule, whether an omission rule loses this message.
    fn omitted(&mut self, peer: NodeId, side: Side) -> bool {
        for (_, rule) in &self.rules {
            let MessageFault::Omission { direction, probability, links } = rule else { continue };
            if !acts_on(*direction, side) || !links.covers(peer) {
                continue;
            }
            let rng = stream(&mut self.streams, self.seed, self.me, peer, side);
            // A comparison rather than `gen_bool`, which panics outside [0, 1]:
            // p <= 0 or NaN never drops, p >= 1 always does.
            if rng.gen::<f64>() < *probability {
                return true;
            }
        }
        false
    }

    /// Apply the Byzantine rules covering the link; true if the message changed.
    fn falsify<M: Message>(&mut self, to: NodeId, msg: &mut M) -> bool {
        let mut falsified = false;
        for (_, rule) in &self.rules {
            let MessageFault::Byzantine { mode, key, links } = rule else { continue };
            if !links.covers(to) {
                continue;
            }
            falsified |= match mode {
                ByzantineMode::Corrupt => {
                    msg.corrupt(stream(&mut self.streams, self.seed, self.me, to, Side::Send))
                }
                ByzantineMode::Collude => msg.collude(*key),
                ByzantineMode::Equivocate => msg.equivocate(to, *key),
                ByzantineMode::Stale => replay_stale(&mut self.history, to, msg),
            };
        }
        falsified
    }

    /// The total delay of the delay rules covering the link, and whether they
    /// all allow reordering (false when none covers it).
    fn draw_delay(&mut self, to: NodeId) -> (Duration, bool) {
        let mut total = Duration::ZERO;
        let mut covering = 0usize;
        let mut reordering = 0usize;
        for (_, rule) in &self.rules {
            let MessageFault::Delay { distribution, reorder, links } = rule else { continue };
            if !links.covers(to) {
                continue;
            }
            covering += 1;
            reordering += usize::from(*reorder);
            let rng = stream(&mut self.streams, self.seed, self.me, to, Side::Send);
            total = total.saturating_add(sample_delay(distribution, rng));
        }
        (total, covering > 0 && reordering == covering)
    }

    /// The delivery time of a message sent at `now` and held for `delay`,
    /// kept behind the link's previous message unless `reorder`.
    fn schedule(&mut self, now: Time, to: NodeId, delay: Duration, reorder: bool) -> Time {
        let mut at = now + delay;
        let last = self.last_at.get(&to).copied().unwrap_or(Time::ZERO);
        if !reorder && at < last {
            at = last;
        }
        // Only a delivery later than `now` can hold a later message back.
        if at > now && at > last {
            self.last_at.insert(to, at);
        }
        self.horizon = self.horizon.max(at);
        at
    }
}

/// Keep `msg` in the link's history and replace it with the one sent
/// [`STALE_LAG`] messages earlier (the oldest held while the history fills).
/// True if the message changed.
fn replay_stale<M: Message>(history: &mut HashMap<NodeId, VecDeque<Held>>, to: NodeId, msg: &mut M) -> bool {
    let held = history.entry(to).or_default();
    held.push_back(Held(Box::new(msg.clone())));
    while held.len() > STALE_LAG + 1 {
        held.pop_front();
    }
    if held.len() < 2 {
        return false;
    }
    match held.front().and_then(|h| h.0.downcast_ref::<M>()) {
        Some(old) => {
            *msg = old.clone();
            true
        }
        None => false,
    }
}

/// Whether a rule acting in `direction` acts on `side`.
fn acts_on(direction: Direction, side: Side) -> bool {
    matches!(
        (direction, side),
        (Direction::Both, _) | (Direction::Send, Side::Send) | (Direction::Receive, Side::Receive)
    )
}

/// The stream of one link side, created on first use.
fn stream(
    streams: &mut HashMap<(NodeId, Side), ChaCha8Rng>,
    seed: u64,
    me: NodeId,
    peer: NodeId,
    side: Side,
) -> &mut ChaCha8Rng {
    streams.entry((peer, side)).or_insert_with(|| link_rng(seed, me, peer, side))
}

/// Draw one delay. Parameters no distribution accepts (negative deviation,
/// non-positive shape) fall back to the distribution's location, never panic.
fn sample_delay(distribution: &DelayDistribution, rng: &mut ChaCha8Rng) -> Duration {
    match distribution {
        DelayDistribution::Fixed(d) => *d,
        DelayDistribution::Uniform { min, max } => {
            let (a, b) = (nanos(*min), nanos(*max));
            Duration::from_nanos(rng.gen_range(a.min(b)..=a.max(b)))
        }
        DelayDistribution::Normal { mean, stddev } => {
            match Normal::new(mean.as_secs_f64(), stddev.as_secs_f64()) {
                Ok(normal) => from_secs_truncated(normal.sample(rng)),
                Err(_) => *mean,
            }
        }
        DelayDistribution::Pareto { scale, shape } => match Pareto::new(scale.as_secs_f64(), *shape) {
            Ok(pareto) => from_secs_truncated(pareto.sample(rng)),
            Err(_) => *scale,
        },
    }
}

/// Nanoseconds of a duration, saturating at u64::MAX (584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Seconds to a duration: negative and NaN become zero, huge values saturate
/// (`as` casts from float saturate; `Duration::from_secs_f64` would panic).
fn from_secs_truncated(secs: f64) -> Duration {
    Duration::from_nanos((secs * 1e9) as u64)
}

#[cfg(test)]
mod tests;
