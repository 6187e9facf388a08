//! The two-army problem: two generals must attack together, and the only
//! way to agree is by messengers who may be captured (a lossy link).
//!
//! General A (the first of the pair) proposes an attack time; then the two
//! exchange a bounded chain of acknowledgments, `rounds: k` of them: step 0
//! is the plan (A to B), step 1 B's acknowledgment, step 2 A's
//! acknowledgment of that, and so on up to step k. A general sends the next
//! step only on receiving the previous one, and attacks when it received
//! every step addressed to it up to its bound (its last one); a step that
//! does not arrive within the instance's time (lost, or too late) means it
//! does not attack. Whatever k, the sender of step k has nothing more to
//! wait for and attacks, while step k itself may be lost: then one general
//! attacks alone. That is the impossibility the lecture states: no finite
//! exchange of acknowledgments makes both sure.
//!
//! A new instance starts every `interval`, so that one run makes many
//! independent trials: the fraction of instances in which one general
//! attacked alone is measured in one run and compared with [`theory`].

#[cfg(test)]
mod tests;
pub mod theory;

use crate::{Effects, Message, Node, NodeId, Observation, Time, TimerId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

crate::any::workload! {
    /// The two-army workload, as the registry names it.
    TwoArmies: Config => General, |me, config, _start| General::new(me, config)
}

/// Everything a general needs, sent by the orchestrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// General A, who proposes the attack.
    pub proposer: NodeId,
    /// General B, who answers.
    pub other: NodeId,
    /// k: acknowledgments after the plan (steps 1..=k); 0 sends the plan alone.
    pub rounds: u32,
    /// A new instance (a new plan) starts this often.
    pub interval: Duration,
    /// The time one step is given: a general waits (k+1) rounds from the
    /// start of an instance (A) or from the plan's arrival (B).
    pub round: Duration,
}

impl Config {
    /// How long a general waits for the steps addressed to it.
    pub fn patience(&self) -> Duration {
        self.round.saturating_mul(self.rounds.saturating_add(1))
    }
}

/// A messenger: step `step` of the exchange about instance `instance`,
/// which plans the attack for `dawn` (nanoseconds on the shared clock).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    Messenger { instance: u64, step: u32, dawn: u64 },
}

impl Message for Msg {
    // Messengers are captured, not turned: the plan carries no result to falsify.
    fn corrupt(&mut self, _rng: &mut dyn RngCore) -> bool {
        false
    }

    fn collude(&mut self, _key: u64) -> bool {
        false
    }
}

/// What a general reports about one instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ArmiesEvent {
    /// General A proposed instance `instance`, with `rounds` acknowledgments to follow.
    Proposed { instance: u64, rounds: u32 },
    /// A general decided: `attack`, after receiving `received` messengers of the instance.
    Decided { instance: u64, attack: bool, received: u32 },
}

/// The proposer's periodic timer; instance timers use the instance number.
const TICK: TimerId = TimerId(u64::MAX);

/// One general: A (the proposer) or B.
#[derive(Debug)]
pub struct General {
    me: NodeId,
    config: Config,
    /// Per undecided instance, the next step this general waits for.
    waiting: BTreeMap<u64, u32>,
    /// The newest instance this general proposed or decided: anything
    /// about it or an older one comes too late to change a decision.
    last: Option<u64>,
}

impl General {
    /// General `me` of the pair in `config`.
    pub fn new(me: NodeId, config: &Config) -> General {
        General { me, config: config.clone(), waiting: BTreeMap::new(), last: None }
    }

    fn is_proposer(&self) -> bool {
        self.me == self.config.proposer
    }

    fn peer(&self) -> NodeId {
        if self.is_proposer() {
            self.config.other
        } else {
            self.config.proposer
        }
    }

    /// The last step addressed to this general (A receives the odd steps,
    /// B the even ones), None when none is (A with k = 0).
    pub fn last_awaited(&self) -> Option<u32> {
        let k = self.config.rounds;
        let parity = u32::from(self.is_proposer());
        match k {
            _ if k % 2 == parity => Some(k),
            0 => None,
            _ => Some(k - 1),
        }
    }

    fn interval_nanos(&self) -> u64 {
        u64::try_from(self.config.interval.as_nanos()).unwrap_or(u64::MAX).max(1)
    }

    /// A starts an instance: the plan leaves, and A waits for the acknowledgments.
    fn propose(&mut self, now: Time, out: &mut Effects<Msg>) {
        // Numbered by the shared clock, so that a restarted general does not reuse numbers.
        let by_clock = now.as_nanos() / self.interval_nanos();
        let instance = match self.last {
            Some(l) if l >= by_clock => l + 1,
            _ => by_clock,
        };
        self.last = Some(instance);
        let dawn = (now + self.config.interval).as_nanos();
        out.emit(Observation::TwoArmies(ArmiesEvent::Proposed { instance, rounds: self.config.rounds }));
        out.send(self.peer(), Msg::Messenger { instance, step: 0, dawn });
        match self.last_awaited() {
            // Nothing will come back: A attacks on its own plan.
            None => {
                out.emit(Observation::TwoArmies(ArmiesEvent::Decided { instance, attack: true, received: 0 }))
            }
            Some(_) => {
                self.waiting.insert(instance, 1);
                out.set_timer(self.config.patience(), TimerId(instance));
            }
        }
    }

    /// A messenger arrived.
    fn receive(&mut self, instance: u64, step: u32, dawn: u64, out: &mut Effects<Msg>) {
        let new_plan = !self.is_proposer() && step == 0 && self.last.is_none_or(|l| instance > l);
        if new_plan {
            self.last = Some(instance);
            self.waiting.insert(instance, 0);
            out.set_timer(self.config.patience(), TimerId(instance));
        }
        // A duplicate, or a messenger for an instance already decided, changes nothing.
        if self.waiting.get(&instance) != Some(&step) {
            return;
        }
        if step < self.config.rounds {
            out.send(self.peer(), Msg::Messenger { instance, step: step + 1, dawn });
        }
        if Some(step) == self.last_awaited() {
            self.waiting.remove(&instance);
            out.emit(Observation::TwoArmies(ArmiesEvent::Decided {
                instance,
                attack: true,
                received: step / 2 + 1,
            }));
        } else {
            self.waiting.insert(instance, step + 2);
        }
    }
}

impl Node for General {
    type Msg = Msg;

    fn on_start(&mut self, now: Time, out: &mut Effects<Msg>) {
        if self.is_proposer() {
            // The first plan at the next interval boundary, as the clock counts them.
            let n = self.interval_nanos();
            let next = (now.as_nanos() / n + 1) * n;
            out.set_timer(Duration::from_nanos(next - now.as_nanos()), TICK);
        }
    }

    fn on_message(&mut self, _now: Time, from: NodeId, msg: Msg, out: &mut Effects<Msg>) {
        let Msg::Messenger { instance, step, dawn } = msg;
        if from == self.peer() {
            self.receive(instance, step, dawn, out);
        }
    }

    fn on_timer(&mut self, now: Time, timer: TimerId, out: &mut Effects<Msg>) {
        if timer == TICK {
            self.propose(now, out);
            out.set_timer(self.config.interval, TICK);
            return;
        }
        let instance = timer.0;
        // A step it waited for never came: it does not attack.
        if let Some(next) = self.waiting.remove(&instance) {
            // Steps addressed to this general before `next`: A's are 1, 3, ..., B's 0, 2, ...
            let received = next / 2;
            out.emit(Observation::TwoArmies(ArmiesEvent::Decided { instance, attack: false, received }));
        }
    }
}
