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

use crate::stream::{link_rng, Side};
use crate::{ByzantineMode, DelayDistribution, Direction, FaultId, MessageFault};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Pareto};
use std::collections::HashMap;
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

    /// Decide whether a message from `from` that arrived at `now` reaches the node.
    pub fn on_receive(&mut self, now: Time, from: NodeId) -> bool {
        // Receive-side decisions depend on the link and its stream, not on time.
        let _ = now;
        if self.rules.is_empty() {
            return true;
        }
        if self.receive_cut(from) || self.omitted(from, Side::Receive) {
            self.stats.dropped_receive += 1;
            return false;
        }
        true
    }

    /// What the interposer has done so far.
    pub fn stats(&self) -> &InterposerStats {
        &self.stats
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
