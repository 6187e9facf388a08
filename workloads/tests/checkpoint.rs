//! The checkpointing protocols on the simulator: the real driver (stable
//! writes before sends, for every process), seeded link latencies (FIFO per
//! link, like TCP), crashes that lose everything but stable storage and the
//! messages in flight to the crashed process, and restarts from it.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use driver::sim::{Latency, Sim, SlotState};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Duration;
use workloads::checkpoint::bank::{golden_absorbed, Bank};
use workloads::checkpoint::coordinated::Part;
use workloads::checkpoint::{golden, CheckpointEvent, CheckpointNode, Config, Msg, Protocol};
use workloads::{NodeId, Observation, Time};

fn config(protocol: Protocol, n: u16) -> Config {
    Config::small(protocol, n)
}

/// A crash scheduled for a process, or its restart.
enum Fault {
    Crash { node: u16, down: Duration },
    Restart { node: u16 },
}

/// Every process of one configuration on the simulator, started at time
/// zero, with the crashes scheduled for it and what the processes observed.
struct Run {
    cfg: Config,
    sim: Sim<CheckpointNode>,
    faults: BTreeMap<(Time, u64), Fault>,
    /// Every checkpointing event, with its time and process.
    events_seen: Vec<(Time, u16, CheckpointEvent)>,
    /// Per process, its bank just before each crash.
    before_crash: Vec<(u16, Bank)>,
}

impl Run {
    /// Processes of `cfg`, started at time zero; link latencies drawn from `seed`.
    fn new(cfg: Config, seed: u64) -> Run {
        let n = cfg.processes.len() as u16;
        let c = cfg.clone();
        // 0.1 to 2 ms, about 1 ms on average.
        let latency =
            Latency::Normal { mean: Duration::from_micros(1050), stddev: Duration::from_micros(550) };
        let mut sim = common::sim(n, latency, seed, move |me, incarnation, stable| {
            CheckpointNode::new(me, &c, stable, incarnation > 0)
        });
        sim.start();
        Run { cfg, sim, faults: BTreeMap::new(), events_seen: Vec::new(), before_crash: Vec::new() }
    }

    /// Crash process `node` at `at`, restart it `down` later (a process
    /// already down at `at` is left alone).
    fn crash_at(&mut self, node: u16, at: Time, down: Duration) {
        let seq = self.faults.len() as u64;
        self.faults.insert((at, seq), Fault::Crash { node, down });
    }

    /// Run until `until`, carrying out the crashes and restarts due by then.
    fn run_until(&mut self, until: Time) {
        while let Some(entry) = self.faults.first_entry() {
            let at = entry.key().0;
            if at > until {
                break;
            }
            let fault = entry.remove();
            self.sim.run_until(at);
            self.collect();
            match fault {
                Fault::Crash { node, down } => {
                    let id = NodeId(node);
                    if self.sim.state(id) == SlotState::Up {
                        if let Some(d) = self.sim.driver(id) {
                            self.before_crash.push((node, d.node().bank().clone()));
                        }
                        self.sim.crash(id);
                        // Unique among the restarts: one per crash so far.
                        let seq = u64::MAX - self.before_crash.len() as u64;
                        self.faults.insert((at + down, seq), Fault::Restart { node });
                    }
                }
                Fault::Restart { node } => self.sim.restart(NodeId(node)),
            }
        }
        self.sim.run_until(until);
        self.collect();
    }

    fn collect(&mut self) {
        for (id, at, o) in self.sim.drain_observations() {
            if let Observation::Checkpoint(e) = o {
                self.events_seen.push((at, id.0, e));
            }
        }
    }

    /// Process `i`, when it runs.
    fn node(&self, i: u16) -> Option<&CheckpointNode> {
        self.sim.driver(NodeId(i)).map(|d| d.node())
    }

    /// Every process's balance (None for one that is down).
    fn balances(&self) -> Vec<Option<i64>> {
        (0..self.sim.len() as u16).map(|i| self.node(i).map(|n| n.bank().balance)).collect()
    }

    /// True when every process is up and at the golden run's final state.
    fn matches_golden(&self) -> bool {
        let g = golden(&self.cfg);
        let a = golden_absorbed(&self.cfg);
        (0..self.sim.len()).all(|i| {
            self.node(i as u16)
                .is_some_and(|n| Some(&n.bank().balance) == g.get(i) && Some(&n.bank().absorbed) == a.get(i))
        })
    }

    /// Distinct tokens output, and outputs repeated.
    fn outputs(&self) -> (usize, usize) {
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
    fn rollbacks(&self) -> Vec<(u16, bool, u64, Option<u64>)> {
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

    /// Log records (or determinants) replayed by recoveries.
    fn replayed(&self) -> u64 {
        self.events_seen
            .iter()
            .map(|(_, _, e)| match e {
                CheckpointEvent::RolledBack { replayed, .. } => *replayed,
                _ => 0,
            })
            .sum()
    }

    /// Orphan messages discarded.
    fn orphans(&self) -> u64 {
        self.events_seen
            .iter()
            .map(|(_, _, e)| match e {
                CheckpointEvent::Orphans { messages } => *messages,
                _ => 0,
            })
            .sum()
    }
}

const ALL: [Protocol; 7] = Protocol::ALL;

#[test]
fn every_protocol_reaches_the_golden_state_without_faults() {
    for p in ALL {
        let mut sim = Run::new(config(p, 4), 1);
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
            let mut sim = Run::new(cfg, seed);
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
            if matches!(p, Protocol::Independent | Protocol::Coordinated | Protocol::KooToueg | Protocol::Cic)
            {
                assert_eq!(repeats, 0, "{p:?} seed {seed}: an output is never rolled back");
            }
        }
    }
}

#[test]
fn two_crashes_one_after_the_other_recover_too() {
    for p in ALL {
        let mut sim = Run::new(config(p, 3), 9);
        sim.crash_at(1, Time::from_millis(80), Duration::from_millis(20));
        sim.crash_at(2, Time::from_millis(400), Duration::from_millis(5));
        sim.run_until(Time::from_millis(6_000));
        assert!(sim.matches_golden(), "{p:?}: {:?} vs {:?}", sim.balances(), golden(&sim.cfg));
    }
}
// Coordinated checkpoints (Chandy–Lamport).

/// Snapshot `id`'s parts, if every process has it.
fn snapshot(sim: &Run, id: u64) -> Option<Vec<Part>> {
    (0..sim.sim.len() as u16)
        .map(|i| match sim.node(i) {
            Some(CheckpointNode::Coordinated(p)) => p.part(id).cloned(),
            _ => None,
        })
        .collect()
}

/// No orphan message (a receipt whose send is not in the cut) and the
/// channel state holds exactly what was sent and not yet received.
fn assert_consistent(sim: &Run, parts: &[Part]) {
    let cfg = &sim.cfg;
    let money: i64 = parts.iter().map(|p| p.bank().balance).sum::<i64>()
        + parts.iter().flat_map(|p| p.channel()).map(|(_, tr)| tr.amount).sum::<i64>();
    assert_eq!(money, cfg.balance * parts.len() as i64, "money is conserved in the cut");
    for t in 0..cfg.tokens {
        let delivered = parts.iter().map(|p| p.bank().seen(t)).max().unwrap_or(0);
        let sent = parts.iter().filter_map(|p| p.bank().sent(t)).map(|tr| tr.hop).max().unwrap_or(0);
        assert!(delivered <= sent, "token {t}: hop {delivered} received but only {sent} sent: an orphan");
        let in_channel: Vec<u32> = parts
            .iter()
            .flat_map(|p| p.channel())
            .filter(|(_, tr)| tr.token == t)
            .map(|(_, tr)| tr.hop)
            .collect();
        if sent > delivered {
            assert_eq!(in_channel, vec![sent], "token {t}: the hop in flight is in the channel state");
        } else {
            assert!(in_channel.is_empty(), "token {t}: nothing in flight");
        }
    }
}

#[test]
fn every_complete_snapshot_is_a_consistent_cut_with_its_channel_state() {
    let mut sim = Run::new(config(Protocol::Coordinated, 4), 3);
    let mut checked = std::collections::BTreeSet::new();
    let mut with_channel = 0;
    for ms in (5..600).step_by(5) {
        sim.run_until(Time::from_millis(ms));
        for id in 1..20 {
            if !checked.contains(&id) {
                if let Some(parts) = snapshot(&sim, id) {
                    assert_consistent(&sim, &parts);
                    checked.insert(id);
                    with_channel += usize::from(parts.iter().any(|p| !p.channel().is_empty()));
                }
            }
        }
    }
    assert!(checked.len() >= 5, "snapshots were taken: {checked:?}");
    assert!(with_channel > 0, "some snapshot caught messages in flight");
}

#[test]
fn a_crash_rolls_everyone_back_to_the_last_committed_snapshot_only() {
    let mut sim = Run::new(config(Protocol::Coordinated, 4), 5);
    sim.crash_at(2, Time::from_millis(170), Duration::from_millis(10));
    sim.run_until(Time::from_millis(3_000));
    let rollbacks = sim.rollbacks();
    assert_eq!(rollbacks.len(), 4, "every process rolls back: {rollbacks:?}");
    assert!(rollbacks.iter().all(|r| r.2 <= 1), "to the latest (or the one before) snapshot: {rollbacks:?}");
    assert!(sim.matches_golden());
}

/// Overhead plus lost work (seconds of process time) of one run with
/// interval `tau`, under crashes of a random process every `mttf` on average.
fn cost(tau: Duration, delta: Duration, mttf: f64, seed: u64) -> f64 {
    let mut cfg = config(Protocol::Coordinated, 4);
    (cfg.interval, cfg.checkpoint_cost, cfg.hops) = (tau, delta, 100_000);
    let mut sim = Run::new(cfg, seed);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut t = 0.0;
    loop {
        t += -mttf * (1.0 - rng.gen::<f64>()).ln();
        if t > 30.0 {
            break;
        }
        let at = Time::from_nanos((t * 1e9) as u64);
        sim.crash_at(rng.gen_range(0..4), at, Duration::from_millis(10));
    }
    sim.run_until(Time::from_millis(30_000));
    sim.events_seen
        .iter()
        .map(|(at, _, e)| match e {
            CheckpointEvent::Taken { cost, .. } => cost.as_secs_f64(),
            CheckpointEvent::RolledBack { restored_to, .. } => at.since(*restored_to).as_secs_f64(),
            _ => 0.0,
        })
        .sum()
}

#[test]
fn youngs_interval_costs_less_than_much_shorter_or_longer_ones() {
    // δ = 10 ms, M = 2 s: Young's τ = √(2·0.01·2) = 0.2 s.
    let (delta, mttf) = (Duration::from_millis(10), 2.0);
    let total = |tau_ms: u64| -> f64 {
        (1..4).map(|seed| cost(Duration::from_millis(tau_ms), delta, mttf, seed)).sum()
    };
    let (short, young, long) = (total(25), total(200), total(1600));
    assert!(young < short && young < long, "short {short:.2} s, Young {young:.2} s, long {long:.2} s");
}
// Independent checkpoints and the domino effect.

/// (max checkpoints discarded, deliveries undone by survivors) under one crash.
fn damage(protocol: Protocol, seed: u64) -> (u64, u64) {
    let mut sim = Run::new(config(protocol, 4), seed);
    sim.crash_at(2, Time::from_millis(200), Duration::from_millis(10));
    sim.run_until(Time::from_millis(4_000));
    assert!(sim.matches_golden(), "{protocol:?} seed {seed}");
    let r = sim.rollbacks();
    (r.iter().map(|r| r.2).max().unwrap_or(0), r.iter().filter_map(|r| r.3).sum())
}

#[test]
fn the_domino_effect_rolls_independent_checkpoints_back_further_than_coordinated_ones() {
    for seed in 0..5 {
        let (ind_distance, ind_undone) = damage(Protocol::Independent, seed);
        let (co_distance, co_undone) = damage(Protocol::Coordinated, seed);
        assert!(ind_distance >= 3, "seed {seed}: independent went back {ind_distance} checkpoints");
        assert!(co_distance <= 1, "seed {seed}: coordinated went back {co_distance}");
        assert!(ind_undone > 2 * co_undone, "seed {seed}: undone {ind_undone} vs {co_undone}");
    }
}

#[test]
fn a_restarted_process_waits_for_every_peer_before_it_rolls_anyone_back() {
    let mut sim = Run::new(config(Protocol::Independent, 3), 4);
    sim.crash_at(0, Time::from_millis(100), Duration::from_millis(5));
    // Peer 2 crashes too and stays down past the first restart: no line can be computed without it.
    sim.crash_at(2, Time::from_millis(101), Duration::from_millis(300));
    sim.run_until(Time::from_millis(250));
    assert!(sim.rollbacks().is_empty(), "no decision while a peer is silent");
    assert!(sim.node(0).is_some_and(|n| n.is_recovering()));
}
// Optimistic logging.

#[test]
fn a_crash_that_loses_the_unlogged_tail_turns_dependents_into_orphans() {
    let (mut rolled, mut orphans) = (0, 0);
    for seed in 0..10 {
        let mut cfg = config(Protocol::OptimisticLogging, 4);
        cfg.log_flush = Duration::from_millis(40);
        let mut sim = Run::new(cfg, seed);
        sim.crash_at(0, Time::from_millis(130 + seed * 7), Duration::from_millis(10));
        sim.run_until(Time::from_millis(4_000));
        assert!(sim.matches_golden(), "seed {seed}");
        rolled += sim.rollbacks().iter().filter(|r| !r.1).count();
        orphans += sim.orphans();
    }
    assert!(rolled > 0, "some survivors were orphans and rolled back");
    assert!(orphans > 0, "orphan messages were discarded");
}
// Pessimistic logging.

#[test]
fn the_crashed_process_replays_its_log_to_exactly_its_state_and_nobody_else_rolls_back() {
    for at in [37, 90, 151, 222] {
        let mut sim = Run::new(config(Protocol::PessimisticLogging, 4), at);
        sim.crash_at(1, Time::from_millis(at), Duration::from_millis(20));
        // Run to just after the restart (the replay happens in on_start).
        sim.run_until(Time::from_millis(at + 20));
        let Some(node) = sim.node(1) else { panic!("process 1 is back") };
        let (_, before) = sim.before_crash.first().cloned().expect("crashed");
        // Forwarding is deterministic: after it, both states must be equal.
        let cfg = sim.cfg.clone();
        let (mut a, mut b) = (before, node.bank().clone());
        a.forward(&cfg);
        b.forward(&cfg);
        assert_eq!(a, b, "crash at {at} ms: replay reaches the pre-crash state");
        let replayed = sim.replayed();
        assert!(replayed > 0 || at < 40, "crash at {at} ms: the log was replayed");
        sim.run_until(Time::from_millis(3_000));
        let rollbacks = sim.rollbacks();
        assert_eq!(rollbacks, vec![(1, true, 0, Some(0))], "only the crashed process recovers");
        assert!(sim.matches_golden());
    }
}
// Causal logging.

/// The processes that reported the failures unrecoverable, and why.
fn unrecoverable(sim: &Run) -> Vec<(u16, String)> {
    sim.events_seen
        .iter()
        .filter_map(|(_, p, e)| match e {
            CheckpointEvent::Unrecoverable { reason } => Some((*p, reason.clone())),
            _ => None,
        })
        .collect()
}

/// Blocking time reported (Koo–Toueg's tentative-to-decision).
fn blocked(sim: &Run) -> Duration {
    sim.events_seen
        .iter()
        .map(|(_, _, e)| match e {
            CheckpointEvent::Blocked { blocked } => *blocked,
            _ => Duration::ZERO,
        })
        .sum()
}

#[test]
fn causal_logging_with_one_failure_neither_blocks_nor_creates_orphans() {
    let mut replayed_all = 0;
    for seed in 0..10u64 {
        let mut sim = Run::new(config(Protocol::CausalLogging, 4), seed);
        let victim = (seed % 4) as u16;
        sim.crash_at(victim, Time::from_millis(60 + seed * 23), Duration::from_millis(15));
        sim.run_until(Time::from_millis(4_000));
        assert!(sim.matches_golden(), "seed {seed}: {:?} vs {:?}", sim.balances(), golden(&sim.cfg));
        assert_eq!(sim.orphans(), 0, "seed {seed}: no orphans");
        let rollbacks = sim.rollbacks();
        assert_eq!(
            rollbacks,
            vec![(victim, true, 0, Some(0))],
            "seed {seed}: only the crashed process recovers"
        );
        assert!(unrecoverable(&sim).is_empty());
        assert_eq!(blocked(&sim), Duration::ZERO);
        // Nothing is written to a stable log on the delivery path.
        assert!(!sim.events_seen.iter().any(|(_, _, e)| matches!(e, CheckpointEvent::Logged { .. })));
        replayed_all += sim.replayed();
        let (outputs, _) = sim.outputs();
        assert_eq!(outputs, sim.cfg.tokens as usize);
    }
    assert!(replayed_all > 0, "the survivors' determinants were replayed");
}

#[test]
fn two_simultaneous_crashes_are_reported_unrecoverable_under_causal_logging() {
    for seed in 0..5u64 {
        let mut sim = Run::new(config(Protocol::CausalLogging, 4), seed);
        let at = Time::from_millis(90 + seed * 17);
        sim.crash_at(1, at, Duration::from_millis(20));
        sim.crash_at(2, at, Duration::from_millis(20));
        sim.run_until(Time::from_millis(3_000));
        let halted = unrecoverable(&sim);
        let who: std::collections::BTreeSet<u16> = halted.iter().map(|h| h.0).collect();
        assert_eq!(who.len(), 4, "seed {seed}: every process stops and says so: {halted:?}");
        assert!(halted.iter().all(|h| h.1.contains("f = 1") || h.1.contains("cannot")), "{halted:?}");
        assert!(
            (0..4).all(|i| matches!(sim.node(i), Some(CheckpointNode::Causal(p)) if p.is_halted())),
            "seed {seed}"
        );
    }
}

/// Crash `victim` at every step of a protocol's activity from `from` for
/// `span`, every `step` of virtual time (the links take 0.1 to 2 ms, so every
/// message of a checkpoint round is crossed), and check each run ends in the
/// golden state; returns how many runs were made.
fn crash_at_every_step(protocol: Protocol, victims: &[u16], from: u64, span: u64, step: u64) -> usize {
    let mut runs = 0;
    for &victim in victims {
        for at in (from..from + span).step_by(step as usize) {
            let mut sim = Run::new(config(protocol, 4), 11);
            sim.crash_at(victim, Time::from_nanos(at * 1_000), Duration::from_millis(7));
            sim.run_until(Time::from_millis(3_000));
            assert!(
                sim.matches_golden(),
                "{protocol:?}: crash of {victim} at {at} µs: {:?} vs {:?}; unrecoverable {:?}",
                sim.balances(),
                golden(&sim.cfg),
                unrecoverable(&sim)
            );
            assert!(unrecoverable(&sim).is_empty(), "{protocol:?}: one failure is covered");
            let (outputs, _) = sim.outputs();
            assert_eq!(outputs, sim.cfg.tokens as usize, "{protocol:?}: crash of {victim} at {at} µs");
            runs += 1;
        }
    }
    runs
}

#[test]
fn a_crash_at_every_step_of_a_checkpoint_round_recovers_to_the_golden_state() {
    // The small configuration checkpoints every 40 ms, each process at its
    // own phase (5, 15, 25, 35 ms): the window 40..82 ms holds a whole round
    // of each initiator, 0.25 ms apart.
    for p in [Protocol::KooToueg, Protocol::Cic, Protocol::CausalLogging] {
        let runs = crash_at_every_step(p, &[0, 1, 2, 3], 40_000, 42_000, 250);
        assert_eq!(runs, 4 * 168);
    }
}
/// Record the messages of a fault-free run from `from` to `to` (ms) that
/// `is_step` picks; then, for each of them, crash its sender and, in another
/// run, its receiver at the instant it left (after the send: it is in
/// flight, and lost if the receiver crashes). Every run must end in the
/// golden state; returns the number of runs.
fn crash_after_every_message(protocol: Protocol, from: u64, to: u64, is_step: fn(&Msg) -> bool) -> usize {
    let mut probe = Run::new(config(protocol, 4), 11);
    probe.sim.record_sent();
    probe.run_until(Time::from_millis(to));
    let steps: Vec<(Time, u16, u16)> = probe
        .sim
        .sent()
        .iter()
        .filter(|s| s.at >= Time::from_millis(from) && is_step(&s.msg))
        .map(|s| (s.at, s.from.0, s.to.0))
        .collect();
    assert!(steps.len() >= 4, "{protocol:?}: the window holds a round: {steps:?}");
    let mut runs = 0;
    for &(at, sender, receiver) in &steps {
        for victim in [sender, receiver] {
            let mut sim = Run::new(config(protocol, 4), 11);
            sim.crash_at(victim, at, Duration::from_millis(7));
            sim.run_until(Time::from_millis(3_000));
            assert!(
                sim.matches_golden() && unrecoverable(&sim).is_empty(),
                "{protocol:?}: crash of {victim} as {sender} → {receiver} left at {at:?}: {:?} vs {:?}",
                sim.balances(),
                golden(&sim.cfg)
            );
            runs += 1;
        }
    }
    runs
}

#[test]
fn a_crash_after_every_message_of_a_checkpoint_round_recovers_to_the_golden_state() {
    // Koo–Toueg: requests, answers and decisions.
    let kt = |m: &Msg| matches!(m, Msg::TakeTentative { .. } | Msg::Tentative { .. } | Msg::Decide { .. });
    let runs = crash_after_every_message(Protocol::KooToueg, 40, 80, kt);
    assert!(runs >= 8, "{runs}");
    // Causal logging: determinants on their way to stability, and checkpoints' notices.
    let causal = |m: &Msg| match m {
        Msg::Causal { dets, .. } => !dets.is_empty(),
        Msg::Determinants { .. } | Msg::Held { .. } | Msg::CheckpointedAt { .. } => true,
        _ => false,
    };
    crash_after_every_message(Protocol::CausalLogging, 40, 46, causal);
    // CIC: every hop around the forced checkpoints of one interval.
    crash_after_every_message(Protocol::Cic, 40, 46, |m| matches!(m, Msg::Transfer { .. }));
}
// Koo–Toueg.

/// (processes per committed round, all rounds, rollbacks of survivors) in a
/// sparse computation: 8 processes, 2 tokens.
fn koo_toueg_rounds(seed: u64, crash: bool) -> (Vec<u32>, usize, usize, Run) {
    let mut cfg = config(Protocol::KooToueg, 8);
    cfg.tokens = 2;
    cfg.seed = seed;
    let mut sim = Run::new(cfg, seed);
    if crash {
        sim.crash_at(3, Time::from_millis(300), Duration::from_millis(10));
    }
    sim.run_until(Time::from_millis(4_000));
    let rounds: Vec<(u32, bool)> = sim
        .events_seen
        .iter()
        .filter_map(|(_, _, e)| match e {
            CheckpointEvent::Round { participants, committed } => Some((*participants, *committed)),
            _ => None,
        })
        .collect();
    let committed = rounds.iter().filter(|r| r.1).map(|r| r.0).collect();
    let survivors = sim.rollbacks().iter().filter(|r| !r.1).count();
    (committed, rounds.len(), survivors, sim)
}

#[test]
fn koo_toueg_checkpoints_only_the_processes_the_initiator_depends_on() {
    let (per_round, all, _, sim) = koo_toueg_rounds(2, false);
    assert!(sim.matches_golden());
    assert!(per_round.len() >= 20, "rounds committed: {} of {all}", per_round.len());
    let mean = per_round.iter().sum::<u32>() as f64 / per_round.len() as f64;
    assert!(mean < 4.0, "about a few of 8 per round, Chandy–Lamport takes all 8: {mean:.2}");
    assert!(per_round.iter().all(|p| (1..=8).contains(p)));
    assert!(blocked(&sim) > Duration::ZERO, "participants block between tentative and decision");
}

#[test]
fn koo_toueg_rolls_back_the_minimal_set_only() {
    let mut partial = 0;
    for seed in 0..6 {
        let (_, _, survivors, sim) = koo_toueg_rounds(seed, true);
        assert!(sim.matches_golden(), "seed {seed}: {:?} vs {:?}", sim.balances(), golden(&sim.cfg));
        assert!(sim.rollbacks().iter().any(|r| r.0 == 3 && r.1), "the victim recovers");
        assert!(survivors < 7, "seed {seed}: not every survivor rolls back ({survivors})");
        partial += usize::from(survivors < 7);
        assert!(sim.rollbacks().iter().all(|r| r.2 == 0), "never past the last permanent checkpoint");
    }
    assert_eq!(partial, 6);
}
// Communication-induced checkpointing.

#[test]
fn communication_induced_checkpoints_are_forced_and_stop_the_domino_effect() {
    for seed in 0..5 {
        let (ind_distance, ind_undone) = damage(Protocol::Independent, seed);
        let (cic_distance, cic_undone) = damage(Protocol::Cic, seed);
        assert!(cic_distance <= 1, "seed {seed}: CIC went back {cic_distance} (independent {ind_distance})");
        assert!(ind_undone > 2 * cic_undone, "seed {seed}: undone {ind_undone} vs {cic_undone}");
    }
    let mut sim = Run::new(config(Protocol::Cic, 4), 1);
    sim.run_until(Time::from_millis(1_000));
    let forced = sim
        .events_seen
        .iter()
        .filter(|(_, _, e)| matches!(e, CheckpointEvent::Taken { forced: true, .. }))
        .count();
    assert!(forced > 0, "messages from later intervals forced checkpoints");
}
