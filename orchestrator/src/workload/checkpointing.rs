//! Checkpointing and rollback recovery.

use super::{Plugin, RunView};
use crate::experiment::yaml::CheckpointProtocol;
use crate::experiment::{FaultKind, FaultPlan, Schedule};
use crate::recorder::Recorder;
use crate::topology::NodeSpec;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;

/// `workload:` of the checkpointing workload, as written (another workload's key is an error).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointingFile {
    /// The rollback-recovery protocol.
    #[serde(default)]
    pub protocol: Option<CheckpointProtocol>,
    /// Number of processes.
    #[serde(default)]
    pub processes: Option<usize>,
    /// Checkpoint (snapshot) interval.
    #[serde(default)]
    pub interval: Option<Dur>,
    /// δ, the time a process stops working per checkpoint.
    #[serde(default)]
    pub checkpoint_cost: Option<Dur>,
    /// Tokens (money carriers) circulating.
    #[serde(default)]
    pub tokens: Option<u32>,
    /// Hops each token makes before its output.
    #[serde(default)]
    pub hops: Option<u32>,
    /// A process forwards the tokens it holds every `step`.
    #[serde(default)]
    pub step: Option<Dur>,
    /// Each process's opening balance.
    #[serde(default)]
    pub balance: Option<i64>,
    /// Optimistic logging: how often the log reaches stable storage.
    #[serde(default)]
    pub log_flush: Option<Dur>,
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
        recorder.expect_checkpointing(&self.config(run), mttf);
    }
}
