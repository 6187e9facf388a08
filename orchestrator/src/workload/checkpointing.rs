//! Checkpointing and rollback recovery.

use super::{Plugin, RunView};
use crate::experiment::{FaultKind, FaultPlan, Schedule};
use crate::recorder::Recorder;
use crate::topology::NodeSpec;
use std::time::Duration;
use workloads::any::AnyConfig;

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
