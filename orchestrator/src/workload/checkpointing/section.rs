//! The recorder's section for checkpointing (`checkpointing` in
//! report.json, its panel and line on the dashboard): checkpoints and their cost,
//! rollbacks and the work they undid, orphans, logged messages, outputs and
//! how long output commit held them, and the golden-run oracle.
//!
//! The oracle: the workload's final balances do not depend on message order,
//! so the fault-free golden run is computed in-process from the experiment's
//! configuration ([`workloads::checkpoint::golden`]); `golden_match` says
//! whether the last ledger every process reported equals it (every token
//! absorbed where the golden run absorbs it, every balance equal). Money is
//! conserved in any correct execution, so a match also checks the invariant.

use crate::recorder::section::{to_json, Section, Seen, SoFar};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tui::snapshot::{CheckpointView, Signal};
use workloads::checkpoint::{golden, CheckpointEvent, Config};
use workloads::{NodeId, Observation};

/// Distribution summary of a list of values.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    pub count: usize,
    pub total: f64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub max: Option<f64>,
}

impl Spread {
    fn of(values: &[f64]) -> Spread {
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let total: f64 = v.iter().sum();
        let n = v.len();
        Spread {
            count: n,
            total,
            mean: (n > 0).then(|| total / n as f64),
            p50: v.get(n.saturating_sub(1) / 2).copied(),
            max: v.last().copied(),
        }
    }
}

/// `checkpointing` in report.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CheckpointReport {
    pub protocol: Option<String>,
    /// The protocol's two choices: how processes checkpoint, how messages are logged.
    pub checkpoint_scheme: Option<String>,
    pub logging: Option<String>,
    /// Checkpoints on stable storage (snapshot parts for coordinated).
    pub checkpoints: u64,
    /// Checkpoints another process asked for (markers).
    pub forced: u64,
    /// Time processes spent not working because of checkpoints (δ each).
    pub overhead_seconds: f64,
    /// Bytes of checkpoints written.
    pub bytes: u64,
    /// Rollbacks of processes (the crashed one included).
    pub rollbacks: u64,
    /// Rollbacks of processes that had not failed (dragged back).
    pub survivors_rolled_back: u64,
    /// Checkpoints discarded per rollback.
    pub rollback_distance: Spread,
    /// Per rollback, the computation time undone: from the state restored to
    /// the crash (the failed process) or the rollback (the others).
    pub lost_work_seconds: Spread,
    /// Deliveries undone by survivors' rollbacks.
    pub undone_deliveries: u64,
    /// Log records replayed during recoveries.
    pub replayed: u64,
    /// Recoveries of crashed processes: from restart to computing again.
    pub recovery_seconds: Spread,
    /// Messages discarded because they came from a rolled-back state.
    pub orphans: u64,
    /// Messages the protocol added (everything but the computation's
    /// transfers), and the bytes it added: those messages and what it
    /// piggybacks on transfers (encoded sizes).
    pub protocol_messages: u64,
    pub protocol_bytes: u64,
    /// Messages written to stable logs, and their bytes.
    pub logged_messages: u64,
    pub logged_bytes: u64,
    /// Distinct outputs released, of `outputs_expected`.
    pub outputs: u64,
    pub outputs_expected: u64,
    /// Outputs released again after a replay (same token).
    pub outputs_repeated: u64,
    /// How long outputs waited to become impossible to roll back.
    pub output_wait_seconds: Spread,
    /// Every process's last ledger equals the golden run's final state.
    pub golden_match: bool,
    /// Why `golden_match` is false (null when it is true): the protocol's
    /// own "unrecoverable" verdict, a recovery unfinished at the end, the
    /// computation unfinished, or an inconsistent state.
    pub golden_mismatch: Option<String>,
    /// Crashes that came while an earlier crash's recovery had not finished
    /// (a crashed process had not yet recovered), the recovering process's own included.
    pub overlapping_crashes: u64,
    /// The failures exceeded what the protocol tolerates and the processes
    /// stopped (rather than reach a silently wrong state); the reason.
    pub unrecoverable: bool,
    pub unrecoverable_reason: Option<String>,
    /// Koo–Toueg: checkpoint rounds, those aborted, and the processes that
    /// took a checkpoint in each committed round (Chandy–Lamport: all).
    pub rounds: u64,
    pub rounds_aborted: u64,
    pub round_participants: Spread,
    /// Time processes held back their sends for checkpoint coordination.
    pub blocked_seconds: f64,
    /// Causal logging: determinants piggybacked on messages, and their bytes.
    pub piggybacked_determinants: u64,
    pub piggybacked_bytes: u64,
    /// The sum of the last reported balances (the invariant, once all tokens are absorbed).
    pub final_total: i64,
    pub expected_total: i64,
    /// The checkpoint interval τ and cost δ of this run.
    pub interval_seconds: f64,
    pub checkpoint_cost_seconds: f64,
    /// The system's MTTF M from the fault schedule, and Young's τ ≈ √(2·δ·M).
    pub mttf_seconds: Option<f64>,
    pub young_interval_seconds: Option<f64>,
    /// What fault tolerance cost: checkpoint overhead plus lost work (seconds
    /// of process time), the quantity Young's interval minimises.
    pub cost_seconds: f64,
}

/// Folds checkpointing observations.
#[derive(Debug, Default)]
pub struct CheckpointRecorder {
    config: Option<Config>,
    report: CheckpointReport,
    distances: Vec<f64>,
    lost: Vec<f64>,
    recoveries: Vec<f64>,
    waits: Vec<f64>,
    participants: Vec<f64>,
    outputs: BTreeSet<u32>,
    /// Last ledger per process: (balance, delivered, absorbed).
    ledgers: BTreeMap<NodeId, (i64, u64, u32)>,
    /// Run-relative time of each node's last crash.
    crashed_at: BTreeMap<NodeId, f64>,
    /// Nodes that crashed and have not recovered yet, since when.
    down_since: BTreeMap<NodeId, f64>,
}

impl CheckpointRecorder {
    /// The run's checkpointing configuration (for the oracle).
    /// `mttf`: the system's MTTF M, when the fault schedule gives one.
    pub fn configure(&mut self, config: &Config, mttf: Option<Duration>) {
        self.config = Some(config.clone());
        let r = &mut self.report;
        r.protocol = Some(config.protocol.as_str().to_string());
        r.checkpoint_scheme = Some(config.protocol.checkpoints().to_string());
        r.logging = Some(config.protocol.logging().to_string());
        r.interval_seconds = config.interval.as_secs_f64();
        r.checkpoint_cost_seconds = config.checkpoint_cost.as_secs_f64();
        r.mttf_seconds = mttf.map(|m| m.as_secs_f64());
        // Young (1974): τ ≈ √(2·δ·M), valid for δ ≪ M.
        r.young_interval_seconds =
            mttf.map(|m| (2.0 * config.checkpoint_cost.as_secs_f64() * m.as_secs_f64()).sqrt());
    }

    /// Node `node` went down at run-relative time `t`.
    pub fn crashed(&mut self, node: NodeId, t: f64) {
        self.crashed_at.insert(node, t);
        if !self.down_since.is_empty() {
            self.report.overlapping_crashes += 1;
        }
        self.down_since.entry(node).or_insert(t);
    }

    /// The name of process `node` in the run (`process-1`...).
    fn name(&self, node: NodeId) -> String {
        let index = self.config.as_ref().and_then(|c| c.processes.iter().position(|p| *p == node));
        index.map_or_else(|| format!("node {}", node.0), |i| format!("process-{}", i + 1))
    }

    /// Why the run did not reach the golden state, from what was observed.
    fn mismatch(&self, r: &CheckpointReport, config: &Config, balances: &[i64]) -> Option<String> {
        if r.golden_match {
            return None;
        }
        if let Some(u) = &r.unrecoverable_reason {
            return Some(format!("unrecoverable under {}: {u}", config.protocol.as_str()));
        }
        let mut why = Vec::new();
        for p in &config.processes {
            if !self.ledgers.contains_key(p) {
                why.push(format!("{} never reported its ledger", self.name(*p)));
            }
        }
        for (node, since) in &self.down_since {
            why.push(format!(
                "{} crashed at {since:.2} s and had not recovered when the run ended",
                self.name(*node)
            ));
        }
        let absorbed: u32 = self.ledgers.values().map(|l| l.2).sum();
        if absorbed < config.tokens {
            why.push(format!(
                "{absorbed} of {} tokens had made their last hop: the computation had not finished when the run ended                  (a longer run, or fewer crashes, lets it finish)",
                config.tokens
            ));
        } else if r.final_total != r.expected_total {
            why.push(format!(
                "money is not conserved ({} against {}): a recovery left an inconsistent state",
                r.final_total, r.expected_total
            ));
        } else {
            for (i, p) in config.processes.iter().enumerate() {
                if let (Some(l), Some(g)) = (self.ledgers.get(p), balances.get(i)) {
                    if l.0 != *g {
                        why.push(format!("{}'s balance is {} against the golden {g}", self.name(*p), l.0));
                    }
                }
            }
        }
        if why.is_empty() {
            why.push("the final ledgers differ from the golden run".to_string());
        }
        Some(why.join("; "))
    }

    /// Fold one event; `t` is when it was observed and `rel` turns protocol
    /// times into run-relative seconds.
    pub fn observe(
        &mut self,
        node: NodeId,
        t: f64,
        e: CheckpointEvent,
        rel: impl Fn(workloads::Time) -> f64,
    ) {
        let r = &mut self.report;
        match e {
            CheckpointEvent::Taken { bytes, forced, cost, .. } => {
                r.checkpoints += 1;
                r.forced += u64::from(forced);
                r.overhead_seconds += cost.as_secs_f64();
                r.bytes += bytes;
            }
            CheckpointEvent::Logged { messages, bytes } => {
                r.logged_messages += messages;
                r.logged_bytes += bytes;
            }
            CheckpointEvent::RolledBack { crashed, distance, undone, restored_to, replayed } => {
                r.rollbacks += 1;
                r.survivors_rolled_back += u64::from(!crashed);
                r.undone_deliveries += undone.unwrap_or(0);
                r.replayed += replayed;
                self.distances.push(distance as f64);
                // Lost work is what the rollback undid: from the restored
                // checkpoint to the failure that forced it. A survivor's time
                // after the crash is the peer's downtime, not work of its own
                // that a checkpoint could have saved.
                let failure = if crashed {
                    self.crashed_at.get(&node).copied()
                } else {
                    self.crashed_at.values().copied().filter(|&c| c <= t).max_by(f64::total_cmp)
                };
                self.lost.push((failure.unwrap_or(t).min(t) - rel(restored_to)).max(0.0));
            }
            CheckpointEvent::Recovered { took } => {
                self.recoveries.push(took.as_secs_f64());
                self.down_since.remove(&node);
            }
            CheckpointEvent::Unrecoverable { reason } => {
                let who = self.name(node);
                self.report.unrecoverable = true;
                self.report
                    .unrecoverable_reason
                    .get_or_insert_with(|| format!("{who} at {t:.2} s: {reason}"));
            }
            CheckpointEvent::Orphans { messages } => r.orphans += messages,
            CheckpointEvent::Overhead { messages, bytes } => {
                r.protocol_messages += messages;
                r.protocol_bytes += bytes;
            }
            CheckpointEvent::Output { token, waited } => {
                if self.outputs.insert(token) {
                    self.waits.push(waited.as_secs_f64());
                } else {
                    r.outputs_repeated += 1;
                }
            }
            CheckpointEvent::Ledger { balance, delivered, absorbed } => {
                self.ledgers.insert(node, (balance, delivered, absorbed));
            }
            CheckpointEvent::Round { participants, committed } => {
                r.rounds += 1;
                if committed {
                    self.participants.push(f64::from(participants));
                } else {
                    r.rounds_aborted += 1;
                }
            }
            CheckpointEvent::Blocked { blocked } => r.blocked_seconds += blocked.as_secs_f64(),
            CheckpointEvent::Piggybacked { determinants, bytes } => {
                r.piggybacked_determinants += determinants;
                r.piggybacked_bytes += bytes;
            }
        }
    }

    /// The report section, or None when the run had no checkpointing workload.
    pub fn report(&self) -> Option<CheckpointReport> {
        let config = self.config.as_ref()?;
        let mut r = self.report.clone();
        r.rollback_distance = Spread::of(&self.distances);
        r.lost_work_seconds = Spread::of(&self.lost);
        r.recovery_seconds = Spread::of(&self.recoveries);
        r.output_wait_seconds = Spread::of(&self.waits);
        r.round_participants = Spread::of(&self.participants);
        r.cost_seconds = r.overhead_seconds + r.lost_work_seconds.total;
        r.outputs = self.outputs.len() as u64;
        r.outputs_expected = u64::from(config.tokens);
        let balances = golden(config);
        let absorbed = workloads::checkpoint::bank::golden_absorbed(config);
        r.expected_total = balances.iter().sum();
        r.final_total = self.ledgers.values().map(|l| l.0).sum();
        r.golden_match = config.processes.iter().enumerate().all(|(i, p)| {
            self.ledgers
                .get(p)
                .is_some_and(|l| Some(&l.0) == balances.get(i) && Some(&l.2) == absorbed.get(i))
        });
        // A protocol that gave up does not match, whatever the ledgers say.
        r.golden_match &= !r.unrecoverable;
        r.golden_mismatch = self.mismatch(&r, config, &balances);
        Some(r)
    }
}

impl Section for CheckpointRecorder {
    fn observe(&mut self, seen: Seen, obs: Observation) -> Option<String> {
        if let Observation::Checkpoint(e) = obs {
            CheckpointRecorder::observe(self, seen.node, seen.t, e, |p| seen.rel(p));
        }
        None
    }

    fn node_down(&mut self, node: NodeId, t: f64) {
        self.crashed(node, t);
    }

    fn report(&self, _run: SoFar<'_>) -> Option<serde_json::Value> {
        to_json(CheckpointRecorder::report(self))
    }

    fn lines(&self, _run: SoFar<'_>) -> Vec<(String, String)> {
        let Some(c) = CheckpointRecorder::report(self) else { return Vec::new() };
        let text = format!(
            "{} checkpoints ({} forced), {} rollbacks ({} of survivors), {} orphans, {} logged",
            c.checkpoints, c.forced, c.rollbacks, c.survivors_rolled_back, c.orphans, c.logged_messages
        );
        let mut lines = vec![("checkpointing".to_string(), text)];
        if let Some(why) = &c.unrecoverable_reason {
            lines.push(("unrecoverable".to_string(), why.clone()));
        }
        lines
    }

    fn signal(&self, _run: SoFar<'_>) -> Option<Signal> {
        let c = CheckpointRecorder::report(self).unwrap_or_default();
        Some(Signal::Checkpointing(CheckpointView {
            checkpoints: c.checkpoints,
            forced: c.forced,
            rollbacks: c.rollbacks,
            survivors_rolled_back: c.survivors_rolled_back,
            lost_work_seconds: c.lost_work_seconds.total,
            orphans: c.orphans,
            logged_messages: c.logged_messages,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workloads::checkpoint::Protocol;
    use workloads::Time;

    fn config() -> Config {
        Config {
            protocol: Protocol::Independent,
            processes: vec![NodeId(0), NodeId(1)],
            tokens: 2,
            hops: 5,
            step: Duration::from_millis(10),
            balance: 100,
            interval: Duration::from_secs(1),
            checkpoint_cost: Duration::from_millis(10),
            log_flush: Duration::from_millis(10),
            seed: 3,
        }
    }

    #[test]
    fn golden_match_needs_every_process_at_the_golden_state() {
        let cfg = config();
        let mut rec = CheckpointRecorder::default();
        assert!(rec.report().is_none(), "no workload, no section");
        rec.configure(&cfg, None);
        let balances = golden(&cfg);
        let absorbed = workloads::checkpoint::bank::golden_absorbed(&cfg);
        let rel = |t: Time| t.as_nanos() as f64 / 1e9;
        rec.observe(
            NodeId(0),
            1.0,
            CheckpointEvent::Ledger { balance: balances[0], delivered: 3, absorbed: absorbed[0] },
            rel,
        );
        assert!(!rec.report().is_some_and(|r| r.golden_match), "process 1 has not reported");
        rec.observe(
            NodeId(1),
            1.0,
            CheckpointEvent::Ledger { balance: balances[1] + 1, delivered: 3, absorbed: absorbed[1] },
            rel,
        );
        assert!(!rec.report().is_some_and(|r| r.golden_match));
        rec.observe(
            NodeId(1),
            2.0,
            CheckpointEvent::Ledger { balance: balances[1], delivered: 4, absorbed: absorbed[1] },
            rel,
        );
        let r = rec.report().unwrap_or_default();
        assert!(r.golden_match);
        assert_eq!(r.final_total, 200);
    }

    #[test]
    fn a_mismatch_always_comes_with_its_reason() {
        let cfg = config();
        let rel = |t: Time| t.as_nanos() as f64 / 1e9;
        let (balances, absorbed) = (golden(&cfg), workloads::checkpoint::bank::golden_absorbed(&cfg));
        let ledger = |i: usize, extra: i64| CheckpointEvent::Ledger {
            balance: balances[i] + extra,
            delivered: 5,
            absorbed: absorbed[i],
        };
        // A crash that never recovered, with the other one overlapping it.
        let mut rec = CheckpointRecorder::default();
        rec.configure(&cfg, None);
        rec.crashed(NodeId(1), 3.0);
        rec.crashed(NodeId(0), 3.5);
        rec.observe(NodeId(0), 4.0, CheckpointEvent::Recovered { took: Duration::from_millis(9) }, rel);
        rec.observe(NodeId(0), 4.0, ledger(0, 0), rel);
        let r = rec.report().unwrap_or_default();
        assert_eq!(r.overlapping_crashes, 1);
        let why = r.golden_mismatch.unwrap_or_default();
        assert!(why.contains("process-2 never reported"), "{why}");
        assert!(why.contains("process-2 crashed at 3.00 s and had not recovered"), "{why}");
        // Money that appeared from nowhere.
        let mut rec = CheckpointRecorder::default();
        rec.configure(&cfg, None);
        rec.observe(NodeId(0), 1.0, ledger(0, 7), rel);
        rec.observe(NodeId(1), 1.0, ledger(1, 0), rel);
        let why = rec.report().and_then(|r| r.golden_mismatch).unwrap_or_default();
        assert!(why.contains("money is not conserved (207 against 200)"), "{why}");
        // The protocol's own verdict comes first.
        rec.observe(NodeId(1), 2.0, CheckpointEvent::Unrecoverable { reason: "two crashes".into() }, rel);
        let r = rec.report().unwrap_or_default();
        assert_eq!(r.unrecoverable_reason.as_deref(), Some("process-2 at 2.00 s: two crashes"));
        assert_eq!(
            r.golden_mismatch.as_deref(),
            Some("unrecoverable under independent: process-2 at 2.00 s: two crashes")
        );
        // A match has no reason.
        rec.observe(NodeId(0), 3.0, ledger(0, 0), rel);
        let r = rec.report().unwrap_or_default();
        assert!(!r.golden_match, "an unrecoverable run is no match even if the ledgers agree");
    }

    #[test]
    fn a_survivor_loses_the_work_since_its_checkpoint_up_to_the_crash_not_the_downtime() {
        let mut rec = CheckpointRecorder::default();
        rec.configure(&config(), Some(Duration::from_secs(50)));
        let rel = |t: Time| t.as_nanos() as f64 / 1e9;
        // Process 1 crashes at 5 s and is back at 9 s; survivor 0 rolls back
        // then to its checkpoint of 4 s: it lost 1 s of work, not 5.
        rec.crashed(NodeId(1), 5.0);
        let e = CheckpointEvent::RolledBack {
            crashed: false,
            distance: 1,
            undone: Some(3),
            restored_to: Time::from_millis(4000),
            replayed: 0,
        };
        rec.observe(NodeId(0), 9.0, e, rel);
        let r = rec.report().unwrap_or_default();
        assert_eq!(r.survivors_rolled_back, 1);
        assert!((r.lost_work_seconds.total - 1.0).abs() < 1e-9, "{:?}", r.lost_work_seconds);
    }

    #[test]
    fn lost_work_of_a_crashed_process_runs_to_its_crash() {
        let mut rec = CheckpointRecorder::default();
        rec.configure(&config(), Some(Duration::from_secs(50)));
        let rel = |t: Time| t.as_nanos() as f64 / 1e9;
        rec.crashed(NodeId(1), 5.0);
        let e = CheckpointEvent::RolledBack {
            crashed: true,
            distance: 2,
            undone: None,
            restored_to: Time::from_millis(3500),
            replayed: 0,
        };
        rec.observe(NodeId(1), 7.0, e, rel);
        rec.observe(
            NodeId(0),
            7.0,
            CheckpointEvent::Output { token: 1, waited: Duration::from_millis(30) },
            rel,
        );
        rec.observe(NodeId(0), 8.0, CheckpointEvent::Output { token: 1, waited: Duration::ZERO }, rel);
        let r = rec.report().unwrap_or_default();
        assert_eq!(r.rollbacks, 1);
        assert_eq!(r.survivors_rolled_back, 0);
        assert_eq!(r.rollback_distance.max, Some(2.0));
        assert!((r.lost_work_seconds.total - 1.5).abs() < 1e-9);
        assert_eq!((r.outputs, r.outputs_repeated), (1, 1));
        // √(2 · 10 ms · 50 s) = 1 s.
        assert!(r.young_interval_seconds.is_some_and(|y| (y - 1.0).abs() < 1e-9));
        assert!((r.cost_seconds - 1.5).abs() < 1e-9, "no checkpoint: the cost is the lost work");
    }
}
