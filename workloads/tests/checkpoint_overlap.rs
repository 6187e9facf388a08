//! Overlapping failures: for every checkpointing protocol, a crash of a
//! second process (another one, or the recovering process itself) at every
//! step of a recovery, on the simulator. A step is one event of the
//! simulator (a delivery, a timer, the restart) between the first crash and
//! the end of its recovery. Each case must end at the golden run's final
//! state, or with the protocol saying it cannot recover (an
//! `Unrecoverable` event with its reason): never a silent mismatch.
//!
//! To check a new protocol, add one line to [`cases`].

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use driver::sim::{Latency, Sim, SlotState};
use std::collections::BTreeSet;
use std::time::Duration;
use workloads::checkpoint::bank::golden_absorbed;
use workloads::checkpoint::{golden, CheckpointEvent, CheckpointNode, Config, Protocol};
use workloads::{NodeId, Observation, Time};

/// A protocol under test: its configuration, and whether it must recover
/// from two overlapping crashes (false: it may instead report `Unrecoverable`).
struct Case {
    config: Config,
    tolerates_two: bool,
}

/// The protocols the harness checks, one line each.
fn cases() -> Vec<Case> {
    vec![
        Case { config: Config::small(Protocol::Independent, 4), tolerates_two: true },
        Case { config: Config::small(Protocol::Coordinated, 4), tolerates_two: true },
        Case { config: Config::small(Protocol::PessimisticLogging, 4), tolerates_two: true },
        Case { config: Config::small(Protocol::OptimisticLogging, 4), tolerates_two: true },
        Case { config: Config::small(Protocol::Cic, 4), tolerates_two: true },
        Case { config: Config::small(Protocol::KooToueg, 4), tolerates_two: false },
        Case { config: Config::small(Protocol::CausalLogging, 4), tolerates_two: false },
    ]
}

/// The first crash: process 1 at 120 ms, down 20 ms.
const VICTIM: u16 = 1;
const FIRST_CRASH: Time = Time::from_millis(120);
const FIRST_DOWN: Duration = Duration::from_millis(20);
/// The second crash's down times: restarted before the first victim when
/// crashed while it is down, and after it.
const SECOND_DOWN: [Duration; 2] = [Duration::from_millis(12), Duration::from_millis(45)];
/// After the last recovery looks finished, steps this long are still part of
/// it (the last recovery messages in flight, and what they cause).
const MARGIN: Duration = Duration::from_millis(5);
/// A case that has not reached the golden state by then has failed.
const DEADLINE: Time = Time::from_millis(8_000);

/// One run: the simulator, the restarts it still owes, and what was observed.
struct Run {
    cfg: Config,
    sim: Sim<CheckpointNode>,
    restarts: Vec<(Time, NodeId)>,
    events: Vec<(Time, u16, CheckpointEvent)>,
}

impl Run {
    /// The processes of `cfg`, run to the first crash, crashed there.
    fn new(cfg: &Config) -> Run {
        let c = cfg.clone();
        let latency =
            Latency::Normal { mean: Duration::from_micros(1050), stddev: Duration::from_micros(550) };
        let n = cfg.processes.len() as u16;
        let mut sim = common::sim(n, latency, 11, move |me, incarnation, stable| {
            CheckpointNode::new(me, &c, stable, incarnation > 0)
        });
        sim.start();
        let mut run = Run { cfg: cfg.clone(), sim, restarts: Vec::new(), events: Vec::new() };
        run.sim.run_until(FIRST_CRASH);
        run.crash(NodeId(VICTIM), FIRST_DOWN);
        run.collect();
        run
    }

    /// Crash `id` now (if it runs) and restart it `down` later.
    fn crash(&mut self, id: NodeId, down: Duration) -> bool {
        if self.sim.state(id) != SlotState::Up {
            return false;
        }
        self.sim.crash(id);
        self.restarts.push((self.sim.now() + down, id));
        true
    }

    /// One step: the next restart due, or else the next event.
    fn step(&mut self) -> bool {
        let next = self.sim.next_event();
        let due = self.restarts.iter().enumerate().min_by_key(|(_, r)| r.0).map(|(i, r)| (i, *r));
        let stepped = match (due, next) {
            (Some((i, (at, id))), next) if next.is_none_or(|n| at <= n) => {
                self.restarts.remove(i);
                self.sim.run_until(at);
                self.sim.restart(id);
                true
            }
            (_, Some(_)) => self.sim.step().is_some(),
            _ => false,
        };
        self.collect();
        stepped
    }

    fn collect(&mut self) {
        for (id, at, o) in self.sim.drain_observations() {
            if let Observation::Checkpoint(e) = o {
                self.events.push((at, id.0, e));
            }
        }
    }

    fn node(&self, i: u16) -> Option<&CheckpointNode> {
        self.sim.driver(NodeId(i)).map(|d| d.node())
    }

    /// Every process is up and no recovery is under way (or owed).
    fn settled(&self) -> bool {
        self.restarts.is_empty()
            && (0..self.sim.len() as u16).all(|i| self.node(i).is_some_and(|n| !n.is_recovering()))
    }

    fn matches_golden(&self) -> bool {
        let (g, a) = (golden(&self.cfg), golden_absorbed(&self.cfg));
        (0..self.sim.len()).all(|i| {
            self.node(i as u16)
                .is_some_and(|n| Some(&n.bank().balance) == g.get(i) && Some(&n.bank().absorbed) == a.get(i))
        })
    }

    fn unrecoverable(&self) -> Option<&str> {
        self.events.iter().find_map(|(_, _, e)| match e {
            CheckpointEvent::Unrecoverable { reason } => Some(reason.as_str()),
            _ => None,
        })
    }

    fn outputs(&self) -> usize {
        let tokens: BTreeSet<u32> = self
            .events
            .iter()
            .filter_map(|(_, _, e)| match e {
                CheckpointEvent::Output { token, .. } => Some(*token),
                _ => None,
            })
            .collect();
        tokens.len()
    }

    /// Run to the end: the golden state reached and settled, an
    /// unrecoverable result, or the deadline.
    fn finish(&mut self) {
        while self.sim.now() < DEADLINE && self.unrecoverable().is_none() {
            let until = self.sim.now() + Duration::from_millis(50);
            while self.sim.next_event().is_some_and(|t| t <= until)
                || self.restarts.iter().any(|r| r.0 <= until)
            {
                self.step();
            }
            self.sim.run_until(until);
            self.collect();
            if self.settled() && self.matches_golden() && self.outputs() == self.cfg.tokens as usize {
                break;
            }
        }
    }

    /// The recovery of the first crash has finished: the victim is back and
    /// recovered, and nobody takes part in a recovery.
    fn recovered(&self) -> bool {
        self.settled()
            && self
                .events
                .iter()
                .any(|(_, p, e)| *p == VICTIM && matches!(e, CheckpointEvent::Recovered { .. }))
    }
}

/// How many steps the first crash's recovery takes, from the crash (none
/// overlapping).
fn recovery_steps(cfg: &Config) -> usize {
    let mut run = Run::new(cfg);
    let mut steps = 0;
    while !run.recovered() {
        assert!(run.step() && run.sim.now() < DEADLINE, "{:?}: the single crash is recovered", cfg.protocol);
        steps += 1;
    }
    let end = run.sim.now() + MARGIN;
    while run.sim.next_event().is_some_and(|t| t <= end) {
        run.step();
        steps += 1;
    }
    steps
}

/// What one case ended in.
#[derive(Debug, PartialEq)]
enum End {
    Golden,
    Unrecoverable(String),
}

/// The first crash, then process `second` crashed after `steps` steps, down for `down`.
fn overlap(cfg: &Config, steps: usize, second: u16, down: Duration) -> Option<End> {
    let mut run = Run::new(cfg);
    for _ in 0..steps {
        run.step();
    }
    if !run.crash(NodeId(second), down) {
        return None;
    }
    run.finish();
    if let Some(reason) = run.unrecoverable() {
        return Some(End::Unrecoverable(reason.to_string()));
    }
    let p = cfg.protocol;
    let balances: Vec<Option<i64>> =
        (0..run.sim.len() as u16).map(|i| run.node(i).map(|n| n.bank().balance)).collect();
    assert!(
        run.matches_golden(),
        "{p:?}: crash of {VICTIM} at {FIRST_CRASH:?}, then of {second} {steps} steps later for {down:?}: \
         a silent mismatch: {balances:?} vs {:?}",
        golden(cfg)
    );
    assert_eq!(
        run.outputs(),
        cfg.tokens as usize,
        "{p:?}: second crash of {second} at step {steps}: every output"
    );
    Some(End::Golden)
}

#[test]
fn a_second_crash_at_every_step_of_a_recovery_ends_golden_or_says_it_is_unrecoverable() {
    for case in cases() {
        let cfg = &case.config;
        let steps = recovery_steps(cfg);
        assert!(steps >= 10, "{:?}: the recovery has steps to crash in ({steps})", cfg.protocol);
        let (mut golden_ends, mut unrecoverable) = (0, 0);
        for step in 0..=steps {
            for (second, down) in (0..cfg.processes.len() as u16).flat_map(|p| SECOND_DOWN.map(|d| (p, d))) {
                match overlap(cfg, step, second, down) {
                    Some(End::Golden) => golden_ends += 1,
                    Some(End::Unrecoverable(reason)) => {
                        assert!(
                            !case.tolerates_two,
                            "{:?}: second crash of {second} at step {step}: {reason}",
                            cfg.protocol
                        );
                        assert!(!reason.is_empty());
                        unrecoverable += 1;
                    }
                    None => {}
                }
            }
        }
        eprintln!(
            "{:?}: {steps} steps, {golden_ends} cases golden, {unrecoverable} stated unrecoverable",
            cfg.protocol
        );
        // The victim is down for the first steps (a second crash of it is no
        // crash then); every other process is crashed at every step.
        assert!(golden_ends + unrecoverable >= 2 * steps * (cfg.processes.len() - 1));
    }
}

/// Bursts of four crashes (the first one and three more of random
/// processes within 60 ms), 100 seeds per protocol.
#[test]
fn random_bursts_of_overlapping_crashes_end_golden_or_say_they_are_unrecoverable() {
    use rand::{Rng, SeedableRng};
    for case in cases() {
        for seed in 0..100u64 {
            let mut cfg = case.config.clone();
            cfg.seed = seed;
            let mut run = Run::new(&cfg);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x00c0_ffee);
            // Three more crashes of random processes within 60 ms of the first,
            // each down 1 to 80 ms: restarts and recoveries interleave.
            let mut at: Vec<(Time, u16, Duration)> = (0..3)
                .map(|_| {
                    let t = FIRST_CRASH + Duration::from_millis(rng.gen_range(0..60));
                    (
                        t,
                        rng.gen_range(0..cfg.processes.len() as u16),
                        Duration::from_millis(rng.gen_range(1..80)),
                    )
                })
                .collect();
            at.sort();
            for &(t, p, down) in &at {
                while run.sim.next_event().is_some_and(|n| n <= t) || run.restarts.iter().any(|r| r.0 <= t) {
                    run.step();
                }
                run.sim.run_until(t);
                run.crash(NodeId(p), down);
            }
            run.finish();
            let p = cfg.protocol;
            match run.unrecoverable() {
                Some(reason) => {
                    assert!(!case.tolerates_two && !reason.is_empty(), "{p:?} seed {seed}: {reason}")
                }
                None => {
                    let balances: Vec<Option<i64>> =
                        (0..run.sim.len() as u16).map(|i| run.node(i).map(|n| n.bank().balance)).collect();
                    let settled = run.settled();
                    assert!(
                        run.matches_golden(),
                        "{p:?} seed {seed}: crashes {at:?}: a silent mismatch (settled {settled}): {balances:?} vs {:?}",
                        golden(&cfg)
                    );
                    assert_eq!(run.outputs(), cfg.tokens as usize, "{p:?} seed {seed}: every output");
                }
            }
        }
    }
}
