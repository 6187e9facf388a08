//! Heartbeat failure detection.

use super::{Plugin, RunView};
use crate::experiment::FaultPlan;
use crate::recorder::Recorder;
use crate::topology::NodeSpec;
use std::time::Duration;
use workloads::any::AnyConfig;

/// `workload:` of the heartbeat workload, as written (another workload's key is an error).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatFile {
    /// Number of nodes (the heartbeat interval and the detector go in `detector:`).
    #[serde(default)]
    pub nodes: Option<usize>,
}

/// Parameters of the heartbeat workload: `nodes` nodes watching each other.
#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatParams {
    pub nodes: usize,
    pub detector: workloads::heartbeat::DetectorConfig,
}

impl Plugin for HeartbeatParams {
    fn kind(&self) -> &'static str {
        "heartbeat"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::Heartbeat(workloads::heartbeat::Config {
            nodes: run.ids(&["node"]),
            detector: self.detector.clone(),
        })
    }

    fn deadline(&self) -> Duration {
        self.detector.interval
    }

    fn prepare(&self, recorder: &mut Recorder, run: &RunView<'_>, _faults: &[FaultPlan]) {
        recorder.enable_detector(&run.ids(&["node"]));
    }
}
