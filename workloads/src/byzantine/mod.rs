//! Byzantine agreement: Lamport, Shostak and Pease's oral-messages algorithm
//! OM(m). A commander sends an order to N−1 lieutenants; for m rounds every
//! lieutenant relays what it heard to the generals who have not yet relayed
//! it; each loyal lieutenant then decides by recursive majority ([`om`]).
//! With N ≥ 3m+1 the loyal lieutenants agree (IC1) and, when the commander is
//! loyal, obey its order (IC2); with N = 3 and one traitor they cannot.
//!
//! The generals do not know who is a traitor: a traitor is a node whose
//! interposer falsifies what it sends (the `byzantine` fault modes, through
//! [`Message::corrupt`], [`Message::collude`] and [`Message::equivocate`]).
//! A new instance starts every `interval` with a fresh order; the commander
//! reports the order it meant to give and each lieutenant its decision, and
//! the orchestrator's recorder judges agreement among the generals that were
//! under no fault at the time.

pub mod om;

use crate::tmr::ledger::mix;
use crate::{Effects, Message, Node, NodeId, Observation, Time, TimerId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything a general needs to know, sent by the orchestrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The generals, commander first.
    pub generals: Vec<NodeId>,
    /// m, the number of traitors OM(m) is run to tolerate (rounds of relaying).
    pub m: usize,
    /// A new instance (a fresh order) starts this often.
    pub interval: Duration,
    /// How long one round of messages is given; a lieutenant decides
    /// (m+1) rounds after it first hears of an instance (the algorithm
    /// assumes synchrony: a message later than that counts as missing).
    pub round: Duration,
    /// The experiment's seed, from which orders are drawn.
    pub seed: u64,
}

/// An OM(m) message: `value` as relayed along `path` (commander first, the
/// sender last).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// An order, relayed along `path`.
    Order { instance: u64, path: Vec<NodeId>, value: u64 },
}

impl Message for Msg {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        let Msg::Order { value, .. } = self;
        // A nonzero offset: the lie always differs from the truth.
        *value = value.wrapping_add(rng.next_u64().max(1));
        true
    }

    fn collude(&mut self, key: u64) -> bool {
        let Msg::Order { instance, value, .. } = self;
        // Every colluder tells the same lie for an instance (never the default).
        let lie = 1_000_000 + mix(*instance ^ key) % 1_000_000;
        *value = if lie == *value { lie + 1 } else { lie };
        true
    }

    fn equivocate(&mut self, to: NodeId, key: u64) -> bool {
        let Msg::Order { instance, value, .. } = self;
        // A different lie for every receiver (ids are 16-bit).
        let lie = 2_000_000 + ((mix(*instance ^ key) % 1_000_000) << 16) + u64::from(to.0);
        *value = if lie == *value { lie + (1 << 36) } else { lie };
        true
    }
}

/// What one general reports about one instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AgreementEvent {
    /// The commander gave `value` (what it meant to send; its interposer may
    /// have falsified what left).
    Ordered { instance: u64, value: u64 },
    /// A lieutenant decided `value` ([`om::RETREAT`] when no majority).
    /// `conflicting`: the values it received did not all agree, so some general
    /// on a path lied (a lost message is not a value, and never counts).
    Decided {
        instance: u64,
        value: u64,
        #[serde(default)]
        conflicting: bool,
    },
}

/// The commander's periodic timer; instance timers use the instance number.
const TICK: TimerId = TimerId(u64::MAX);

/// A general: the commander (the first of `generals`) or a lieutenant.
#[derive(Clone, Debug)]
pub struct General {
    me: NodeId,
    config: Config,
    /// The last instance this node started (commander) or decided (lieutenant).
    last: Option<u64>,
    /// Per undecided instance, the values received by path.
    received: BTreeMap<u64, BTreeMap<Vec<NodeId>, u64>>,
}

/// A general's state without its configuration (the same in every state of
/// a run), for a model checker's fingerprints.
impl std::hash::Hash for General {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let General { me, config: _, last, received } = self;
        (me, last, received).hash(h);
    }
}

impl General {
    /// General `me` of `config.generals`.
    pub fn new(me: NodeId, config: &Config) -> General {
        General { me, config: config.clone(), last: None, received: BTreeMap::new() }
    }

    fn is_commander(&self) -> bool {
        self.config.generals.first() == Some(&self.me)
    }

    /// The order of `instance`: drawn from the seed, never the default.
    pub fn order(seed: u64, instance: u64) -> u64 {
        1 + mix(seed ^ mix(instance)) % 1000
    }

    fn interval_nanos(&self) -> u64 {
        u64::try_from(self.config.interval.as_nanos()).unwrap_or(u64::MAX).max(1)
    }

    /// Start a new instance: send the order to every lieutenant.
    fn command(&mut self, now: Time, out: &mut Effects<Msg>) {
        // Numbered by the shared clock, so a restarted commander does not
        // reuse the numbers of instances it started before its crash.
        let by_clock = now.as_nanos() / self.interval_nanos();
        let instance = match self.last {
            Some(l) if l >= by_clock => l + 1,
            _ => by_clock,
        };
        self.last = Some(instance);
        let value = General::order(self.config.seed, instance);
        out.emit(Observation::Agreement(AgreementEvent::Ordered { instance, value }));
        for &g in &self.config.generals {
            if g != self.me {
                out.send(g, Msg::Order { instance, path: vec![self.me], value });
            }
        }
    }

    /// Whether a message along `path` from `from` is well formed for this lieutenant.
    fn acceptable(&self, from: NodeId, path: &[NodeId]) -> bool {
        let g = &self.config.generals;
        let distinct = path.iter().enumerate().all(|(i, p)| !path[..i].contains(p));
        !path.is_empty()
            && path.len() <= self.config.m + 1
            && path.first() == g.first()
            && path.last() == Some(&from)
            && !path.contains(&self.me)
            && path.iter().all(|p| g.contains(p))
            && distinct
    }

    fn rounds(&self) -> Duration {
        self.config.round * u32::try_from(self.config.m + 1).unwrap_or(u32::MAX)
    }
}

impl Node for General {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.is_commander() {
            // First order at the next interval boundary, as the clock counts them.
            let n = self.interval_nanos();
            let next = (now.as_nanos() / n + 1) * n;
            out.set_timer(Duration::from_nanos(next - now.as_nanos()), TICK);
        }
    }

    fn on_message(&mut self, _now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Msg::Order { instance, path, value } = msg;
        if self.is_commander() || !self.acceptable(from, &path) || self.last.is_some_and(|l| instance <= l) {
            return;
        }
        let first = !self.received.contains_key(&instance);
        let seen = self.received.entry(instance).or_default();
        if seen.contains_key(&path) {
            return;
        }
        seen.insert(path.clone(), value);
        if first {
            out.set_timer(self.rounds(), TimerId(instance));
        }
        if path.len() <= self.config.m {
            let mut relayed = path;
            relayed.push(self.me);
            for &g in &self.config.generals {
                if !relayed.contains(&g) {
                    out.send(g, Msg::Order { instance, path: relayed.clone(), value });
                }
            }
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        if timer == TICK {
            self.command(now, out);
            out.set_timer(self.config.interval, TICK);
            return;
        }
        let instance = timer.0;
        let Some(received) = self.received.remove(&instance) else { return };
        let value = om::decide(&self.config.generals, self.config.m, self.me, &received);
        let mut values = received.values();
        let conflicting = values.next().is_some_and(|v| values.any(|w| w != v));
        self.last = Some(self.last.map_or(instance, |l| l.max(instance)));
        // Instances older than this one can no longer be decided.
        self.received.retain(|i, _| *i > instance);
        out.emit(Observation::Agreement(AgreementEvent::Decided { instance, value, conflicting }));
    }
}

#[cfg(test)]
mod tests;

crate::any::workload! {
    /// Byzantine agreement among generals (OM(m)), as the registry names it.
    Generals: Config => General, |me, config, _start| General::new(me, config)
}
