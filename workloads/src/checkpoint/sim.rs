//! A deterministic driver for the checkpointing processes: virtual time,
//! seeded link delays (FIFO per link, like TCP), stable storage kept per
//! process across crashes, and crashes that lose everything else (volatile
//! state, timers, messages in flight to the crashed process).

use super::stable::apply;
use super::{golden, CheckpointEvent, CheckpointNode, Config, Msg};
use crate::checkpoint::bank::golden_absorbed;
use crate::{Effects, Node, NodeId, Observation, StableRecords, Time, TimerId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Duration;

enum Event {
    Deliver { from: u16, to: u16, msg: Msg, life: u32 },
    Timer { node: u16, id: TimerId, life: u32 },
    Crash { node: u16, down: Duration },
    Restart { node: u16 },
}

/// Every process of one configuration, driven in virtual time.
pub(crate) struct Sim {
    pub cfg: Config,
    pub nodes: Vec<Option<CheckpointNode>>,
    pub stable: Vec<StableRecords>,
    life: Vec<u32>,
    pub now: Time,
    events: BTreeMap<(Time, u64), Event>,
    seq: u64,
    rng: ChaCha8Rng,
    link_last: BTreeMap<(u16, u16), Time>,
    /// Every checkpointing event, with its time and process.
    pub events_seen: Vec<(Time, u16, CheckpointEvent)>,
    /// Per process, its bank just before each crash.
    pub before_crash: Vec<(u16, super::bank::Bank)>,
}

impl Sim {
    /// Processes of `cfg`, started at time zero; link delays drawn from `seed`.
    pub fn new(cfg: Config, seed: u64) -> Sim {
        let n = cfg.processes.len();
        let mut sim = Sim {
            nodes: (0..n)
                .map(|i| Some(CheckpointNode::new(NodeId(i as u16), &cfg, StableRecords::new(), false)))
                .collect(),
            cfg,
            stable: vec![StableRecords::new(); n],
            life: vec![0; n],
            now: Time::ZERO,
            events: BTreeMap::new(),
            seq: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            link_last: BTreeMap::new(),
            events_seen: Vec::new(),
            before_crash: Vec::new(),
        };
        for i in 0..n as u16 {
            sim.call(i, |node, now, out| node.on_start(now, out));
        }
        sim
    }

    fn push(&mut self, at: Time, e: Event) {
        self.seq += 1;
        self.events.insert((at, self.seq), e);
    }

    /// Crash process `node` at `at`, restart it `down` later.
    pub fn crash_at(&mut self, node: u16, at: Time, down: Duration) {
        self.push(at, Event::Crash { node, down });
    }

    fn call<F>(&mut self, i: u16, f: F)
    where
        F: FnOnce(&mut CheckpointNode, Time, &mut Effects<Msg>),
    {
        let now = self.now;
        let Some(Some(node)) = self.nodes.get_mut(usize::from(i)) else { return };
        let mut out = Effects::new();
        f(node, now, &mut out);
        // Stable writes first, then sends: the driver's contract.
        apply(&mut self.stable[usize::from(i)], out.stable.drain(..));
        for obs in out.observations.drain(..) {
            if let Observation::Checkpoint(e) = obs {
                self.events_seen.push((now, i, e));
            }
        }
        let life = self.life[usize::from(i)];
        for (after, id) in out.timers.drain(..) {
            self.push(now + after, Event::Timer { node: i, id, life });
        }
        for (to, msg) in out.sends.drain(..) {
            let to = to.0;
            let delay = Duration::from_micros(self.rng.gen_range(100..2000));
            let last = self.link_last.get(&(i, to)).copied().unwrap_or(Time::ZERO);
            let at = (now + delay).max(last + Duration::from_nanos(1));
            self.link_last.insert((i, to), at);
            let life = self.life.get(usize::from(to)).copied().unwrap_or(0);
            self.push(at, Event::Deliver { from: i, to, msg, life });
        }
    }

    /// Run until `until` or until nothing is left to do.
    pub fn run_until(&mut self, until: Time) {
        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((at, _), e) = entry.remove_entry();
            self.now = at;
            match e {
                Event::Deliver { from, to, msg, life } => {
                    // A message in flight to a process that crashed since is lost.
                    if self.life.get(usize::from(to)) == Some(&life) {
                        self.call(to, |n, now, out| n.on_message(now, NodeId(from), msg, out));
                    }
                }
                Event::Timer { node, id, life } => {
                    if self.life.get(usize::from(node)) == Some(&life) {
                        self.call(node, |n, now, out| n.on_timer(now, id, out));
                    }
                }
                Event::Crash { node, down } => {
                    let i = usize::from(node);
                    if let Some(Some(n)) = self.nodes.get_mut(i).map(Option::take) {
                        self.before_crash.push((node, n.bank().clone()));
                        self.life[i] += 1;
                        self.push(at + down, Event::Restart { node });
                    }
                }
                Event::Restart { node } => {
                    let i = usize::from(node);
                    self.life[i] += 1;
                    let records = self.stable[i].clone();
                    self.nodes[i] = Some(CheckpointNode::new(NodeId(node), &self.cfg, records, true));
                    self.call(node, |n, now, out| n.on_start(now, out));
                }
            }
        }
        self.now = self.now.max(until);
    }

    /// Every process's balance (None for one that is down).
    pub fn balances(&self) -> Vec<Option<i64>> {
        self.nodes.iter().map(|n| n.as_ref().map(|n| n.bank().balance)).collect()
    }

    /// True when every process is up and at the golden run's final state.
    pub fn matches_golden(&self) -> bool {
        let g = golden(&self.cfg);
        let a = golden_absorbed(&self.cfg);
        self.nodes.iter().enumerate().all(|(i, n)| {
            n.as_ref()
                .is_some_and(|n| Some(&n.bank().balance) == g.get(i) && Some(&n.bank().absorbed) == a.get(i))
        })
    }

    /// Distinct tokens output, and outputs repeated.
    pub fn outputs(&self) -> (usize, usize) {
        let mut seen = std::collections::BTreeSet::new();
        let mut repeats = 0;
        for (_, _, e) in &self.events_seen {
            if let CheckpointEvent::Output { token, .. } = e {
                if !seen.insert(*token) {
                    repeats += 1;
                }
            }
        }
        (seen.len(), repeats)
    }

    /// The rollbacks seen: (process, crashed, distance, undone).
    pub fn rollbacks(&self) -> Vec<(u16, bool, u64, Option<u64>)> {
        self.events_seen
            .iter()
            .filter_map(|(_, p, e)| match e {
                CheckpointEvent::RolledBack { crashed, distance, undone, .. } => {
                    Some((*p, *crashed, *distance, *undone))
                }
                _ => None,
            })
            .collect()
    }

    /// Orphan messages discarded.
    pub fn orphans(&self) -> u64 {
        self.events_seen
            .iter()
            .map(|(_, _, e)| match e {
                CheckpointEvent::Orphans { messages } => *messages,
                _ => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::config;
    use crate::checkpoint::Protocol;

    const ALL: [Protocol; 4] = [
        Protocol::Independent,
        Protocol::Coordinated,
        Protocol::PessimisticLogging,
        Protocol::OptimisticLogging,
    ];

    #[test]
    fn every_protocol_reaches_the_golden_state_without_faults() {
        for p in ALL {
            let mut sim = Sim::new(config(p, 4), 1);
            sim.run_until(Time::from_millis(3_000));
            assert!(sim.matches_golden(), "{p:?}: {:?} vs {:?}", sim.balances(), golden(&sim.cfg));
            assert!(sim.rollbacks().is_empty(), "{p:?}");
            let (outputs, repeats) = sim.outputs();
            assert_eq!((outputs, repeats), (sim.cfg.tokens as usize, 0), "{p:?}: every output once");
        }
    }

    #[test]
    fn every_protocol_recovers_to_the_golden_state_from_crashes_at_random_times() {
        for p in ALL {
            for seed in 0..25u64 {
                let mut cfg = config(p, 4);
                cfg.seed = seed;
                let mut sim = Sim::new(cfg, seed);
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc0ffee);
                let victim = rng.gen_range(0..4u16);
                let at = Time::from_millis(rng.gen_range(10..300));
                let down = Duration::from_millis(rng.gen_range(1..50));
                sim.crash_at(victim, at, down);
                sim.run_until(Time::from_millis(5_000));
                assert!(
                    sim.matches_golden(),
                    "{p:?} seed {seed}: crash of {victim} at {at:?}: {:?} vs {:?}",
                    sim.balances(),
                    golden(&sim.cfg)
                );
                let rollbacks = sim.rollbacks();
                assert!(
                    rollbacks.iter().any(|r| r.0 == victim && r.1),
                    "{p:?} seed {seed}: the victim recovered"
                );
                let (outputs, repeats) = sim.outputs();
                assert_eq!(outputs, sim.cfg.tokens as usize, "{p:?} seed {seed}: every output");
                if matches!(p, Protocol::Independent | Protocol::Coordinated) {
                    assert_eq!(repeats, 0, "{p:?} seed {seed}: an output is never rolled back");
                }
            }
        }
    }

    #[test]
    fn two_crashes_one_after_the_other_recover_too() {
        for p in ALL {
            let mut sim = Sim::new(config(p, 3), 9);
            sim.crash_at(1, Time::from_millis(80), Duration::from_millis(20));
            sim.crash_at(2, Time::from_millis(400), Duration::from_millis(5));
            sim.run_until(Time::from_millis(6_000));
            assert!(sim.matches_golden(), "{p:?}: {:?} vs {:?}", sim.balances(), golden(&sim.cfg));
        }
    }
}
