//! Checkpointing and rollback recovery.

mod section;
pub mod table;

/// Its section's key in report.json.
const KEY: &str = "checkpointing";

use super::Describe;
use super::Validate;
use super::Workload;
use super::{Plugin, RunView};
use crate::experiment::validate::{Checker, Res};
use crate::experiment::yaml::CheckpointProtocol;
use crate::experiment::{FaultKind, FaultPlan, Schedule};
use crate::library::Meaning;
use crate::recorder::Recorder;
use crate::topology::NodeSpec;
use crate::topology::Topology;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::DetectorConfig;

/// `workload:` of the checkpointing workload, as written (another workload's key is an error).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointingFile {
    /// The rollback-recovery protocol, whole (or `checkpoints:` and `logging:`).
    pub protocol: Option<CheckpointProtocol>,
    /// How processes checkpoint.
    pub checkpoints: Option<Checkpoints>,
    /// How messages are logged.
    pub logging: Option<Logging>,
    /// Number of processes.
    pub processes: Option<usize>,
    /// Checkpoint (snapshot) interval.
    pub interval: Option<Dur>,
    /// δ, the time a process stops working per checkpoint.
    pub checkpoint_cost: Option<Dur>,
    /// Tokens (money carriers) circulating.
    pub tokens: Option<u32>,
    /// Hops each token makes before its output.
    pub hops: Option<u32>,
    /// A process forwards the tokens it holds every `step`.
    pub step: Option<Dur>,
    /// Each process's opening balance.
    pub balance: Option<i64>,
    /// Optimistic logging: how often the log reaches stable storage.
    pub log_flush: Option<Dur>,
}

/// `checkpoints:` of the checkpointing workload.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checkpoints {
    Independent,
    Coordinated,
    KooToueg,
    Cic,
}

/// `logging:` of the checkpointing workload.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Logging {
    None,
    Pessimistic,
    Optimistic,
    Causal,
}

/// The protocol `checkpoints:` and `logging:` pick together, or why the
/// combination makes no sense.
pub fn compose(
    checkpoints: Checkpoints,
    logging: Logging,
) -> Result<workloads::checkpoint::Protocol, String> {
    use workloads::checkpoint::Protocol;
    Ok(match (checkpoints, logging) {
        (Checkpoints::Independent, Logging::None) => Protocol::Independent,
        (Checkpoints::Coordinated, Logging::None) => Protocol::Coordinated,
        (Checkpoints::KooToueg, Logging::None) => Protocol::KooToueg,
        (Checkpoints::Cic, Logging::None) => Protocol::Cic,
        (Checkpoints::Independent, Logging::Pessimistic) => Protocol::PessimisticLogging,
        (Checkpoints::Independent, Logging::Optimistic) => Protocol::OptimisticLogging,
        (Checkpoints::Independent, Logging::Causal) => Protocol::CausalLogging,
        (c, l) => {
            let c = match c {
                Checkpoints::Coordinated => "coordinated",
                Checkpoints::KooToueg => "koo-toueg",
                _ => "cic",
            };
            let l = match l {
                Logging::Pessimistic => "pessimistic",
                Logging::Optimistic => "optimistic",
                _ => "causal",
            };
            return Err(format!(
                "`checkpoints: {c}` with `logging: {l}` makes no sense: message logging replays a \
                 crashed process from its own checkpoint up to its crash (or, optimistically, to a \
                 state its log covers), so any local checkpoint is a consistent place to restart \
                 it and the checkpoints need no coordination; {c} checkpoints would only add \
                 rounds (or forced checkpoints) that no recovery uses. Write `checkpoints: \
                 independent` (the default with logging) with `logging: {l}`, or `logging: none` \
                 with `checkpoints: {c}`"
            ));
        }
    })
}

/// Parameters of the checkpointing workload (the processes' shared
/// configuration, less the process list and the seed, which the run adds).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointParams {
    pub processes: usize,
    pub config: workloads::checkpoint::Config,
}

impl CheckpointParams {
    /// The processes' configuration in this run.
    pub fn config(&self, run: &RunView<'_>) -> workloads::checkpoint::Config {
        workloads::checkpoint::Config {
            processes: run.ids(&["process"]),
            seed: run.seed,
            ..self.config.clone()
        }
    }
}

impl Describe for CheckpointParams {
    const REPORT_KEY: Option<&'static str> = Some(KEY);
    const MEANINGS: &'static [Meaning] = &[
    Meaning::of("checkpointing.golden_match", "1 when the final state equals the fault-free golden run: recovery was correct"),
    Meaning::of("checkpointing.golden_mismatch", "why the golden run was not reached: the protocol's unrecoverable verdict, a recovery or the computation unfinished at the end, or an inconsistent state"),
    Meaning::of("checkpointing.overlapping_crashes", "crashes that came while an earlier crash had not yet been recovered"),
    Meaning::of("checkpointing.protocol_messages", "messages the protocol added to the computation's transfers (markers, dependency and logging notices, recovery messages)"),
    Meaning::of("checkpointing.protocol_bytes", "bytes the protocol added: its own messages and what it piggybacks on transfers (epochs, intervals, dependency vectors)"),
    Meaning::of("checkpointing.orphans", "orphan messages: messages discarded because the state that sent them was rolled back"),
    Meaning::of("checkpointing.forced", "checkpoints another process asked for (coordination) rather than the local timer"),
    Meaning::of("checkpointing.survivors_rolled_back", "processes that did not crash but still had to roll back because of the one that did"),
    Meaning::of("checkpointing.outputs_repeated", "outputs released twice because a rollback redid the work that produced them (output commit was not respected)"),
    Meaning::of("checkpointing.replayed", "log records replayed during recoveries (the logged messages delivered again)"),
    Meaning::of("checkpointing.rollbacks", "rollbacks of processes, the crashed one included"),
    Meaning::of("checkpointing.cost_seconds", "what fault tolerance cost: time spent checkpointing plus work lost to rollbacks, the quantity Young's interval minimises"),
    Meaning::of("checkpointing.young_interval_seconds", "Young's checkpoint interval τ ≈ √(2·δ·M) for this run's checkpoint cost δ and MTTF M"),
    Meaning::of_all("checkpointing.checkpoints", "checkpoints written to stable storage"),
    Meaning::of_all("checkpointing.overhead_seconds", "time spent checkpointing instead of working"),
    Meaning::of_all("checkpointing.rollback_distance", "how many checkpoints a process went back when it rolled back (the domino effect makes this large)"),
    Meaning::of_all("checkpointing.lost_work_seconds", "work done after the recovery line and thrown away by the rollback, in seconds"),
    Meaning::of_all("checkpointing.rollbacks", "processes rolled back"),
    Meaning::of_all("checkpointing.logged_messages", "messages written to the message log"),
    Meaning::of_all("checkpointing.output_wait_seconds", "how long an output waited until it could no longer be rolled back (output commit)"),
    Meaning::of_all("checkpointing.bytes", "bytes written to stable storage"),
    Meaning::of("checkpointing.unrecoverable", "1 when the failures exceeded what the protocol tolerates (causal logging with f = 1, or Koo–Toueg: two overlapping failures) and the processes stopped rather than reach a silently wrong state; unrecoverable_reason says why"),
    Meaning::of("checkpointing.rounds", "Koo–Toueg checkpoint rounds started (committed or aborted)"),
    Meaning::of("checkpointing.rounds_aborted", "Koo–Toueg rounds aborted because a process asked was busy with another round"),
    Meaning::of_all("checkpointing.round_participants", "processes that took a checkpoint in a committed Koo–Toueg round (Chandy–Lamport takes all of them every time)"),
    Meaning::of("checkpointing.blocked_seconds", "time processes held back their sends for checkpoint coordination (Koo–Toueg: from the tentative checkpoint to the decision)"),
    Meaning::of("checkpointing.piggybacked_determinants", "causal logging: determinants piggybacked on messages until stable at f+1 processes (the failure-free price instead of blocking)"),
    Meaning::of("checkpointing.piggybacked_bytes", "causal logging: bytes the piggybacked determinants added to messages"),
    ];
    const WATCH: &'static str = "- All along: the checkpoint counters; after the crash, the rollbacks and \
         how far each process went back (rollback distance, lost work).";
}

impl Plugin for CheckpointParams {
    fn kind(&self) -> &'static str {
        "checkpointing"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::Checkpoint(self.config(run))
    }

    fn deadline(&self) -> Duration {
        self.config.step
    }

    fn prepare(&self, recorder: &mut Recorder, run: &RunView<'_>, faults: &[FaultPlan]) {
        // The system's MTTF for Young's interval: the mean up time of the
        // first crash fault on a random schedule (each occurrence is one failure).
        let mttf = faults.iter().find_map(|f| match (&f.kind, &f.schedule) {
            (FaultKind::Crash, Schedule::Random { mttf, .. }) => Some(*mttf),
            _ => None,
        });
        let mut section = section::CheckpointRecorder::default();
        section.configure(&self.config(run), mttf);
        recorder.set_section(KEY, Box::new(section));
    }
}

impl Validate for CheckpointingFile {
    /// `kind: checkpointing`: processes `process-1`... running one protocol.
    fn validate(&self, cx: &Checker<'_>, _detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let w = self;
        use workloads::checkpoint::{Config, Protocol};
        let chosen = match w.protocol {
            Some(CheckpointProtocol::Independent) => Some(Protocol::Independent),
            Some(CheckpointProtocol::Coordinated) => Some(Protocol::Coordinated),
            Some(CheckpointProtocol::PessimisticLogging) => Some(Protocol::PessimisticLogging),
            Some(CheckpointProtocol::OptimisticLogging) => Some(Protocol::OptimisticLogging),
            Some(CheckpointProtocol::CausalLogging) => Some(Protocol::CausalLogging),
            Some(CheckpointProtocol::KooToueg) => Some(Protocol::KooToueg),
            Some(CheckpointProtocol::Cic) => Some(Protocol::Cic),
            None => None,
        };
        let protocol = match (chosen, w.checkpoints, w.logging) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                let at = if w.checkpoints.is_some() { "workload.checkpoints" } else { "workload.logging" };
                return Err(cx.key_err(
                    at,
                    "give either `protocol:` or `checkpoints:` and `logging:`, not both (`protocol:` \
                     names a whole combination)",
                ));
            }
            (Some(p), None, None) => p,
            (None, None, None) => {
                return Err(cx.value_err(
                    "workload.kind",
                    "kind: checkpointing needs `checkpoints: independent | coordinated | koo-toueg | cic` \
                     and/or `logging: none | pessimistic | optimistic | causal` (or a whole `protocol:`)",
                ))
            }
            (None, c, l) => {
                let at = if l.is_some() { "workload.logging" } else { "workload.checkpoints" };
                compose(c.unwrap_or(Checkpoints::Independent), l.unwrap_or(Logging::None))
                    .map_err(|why| cx.value_err(at, why))?
            }
        };
        let processes = w.processes.unwrap_or(4);
        if !(2..=64).contains(&processes) {
            return Err(
                cx.value_err("workload.processes", format!("processes must be 2 to 64; got {processes}"))
            );
        }
        let positive = |name: &str, d: Option<Dur>, default: Duration| -> Res<Duration> {
            let v = d.map_or(default, |d| d.0);
            if v.is_zero() {
                return Err(cx.value_err(&format!("workload.{name}"), format!("{name} must be above zero")));
            }
            Ok(v)
        };
        let interval = positive("interval", w.interval, Duration::from_secs(1))?;
        let step = positive("step", w.step, Duration::from_millis(20))?;
        let log_flush = positive("log_flush", w.log_flush, Duration::from_millis(50))?;
        let checkpoint_cost = w.checkpoint_cost.map_or(Duration::from_millis(10), |d| d.0);
        if checkpoint_cost >= interval {
            return Err(cx.value_err(
                "workload.checkpoint_cost",
                format!(
                    "checkpoint_cost ({}) must be below the interval ({})",
                    Dur(checkpoint_cost),
                    Dur(interval)
                ),
            ));
        }
        let tokens = w.tokens.unwrap_or(8);
        let hops = w.hops.unwrap_or(500);
        if tokens == 0 || hops == 0 {
            let at = if tokens == 0 { "workload.tokens" } else { "workload.hops" };
            return Err(cx.value_err(at, "tokens and hops must be at least 1"));
        }
        let config = Config {
            protocol,
            processes: Vec::new(),
            tokens,
            hops,
            step,
            balance: w.balance.unwrap_or(1000),
            interval,
            checkpoint_cost,
            log_flush,
            seed: 0,
        };
        let topology = Topology::from_roles(&[("process", processes)]);
        Ok((Workload::Checkpointing(CheckpointParams { processes, config }), topology))
    }
}
