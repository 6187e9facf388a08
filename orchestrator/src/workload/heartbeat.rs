//! Heartbeat failure detection.

use super::Describe;
use super::Validate;
use super::Workload;
use super::{Plugin, RunView};
use crate::experiment::limits::MAX_HEARTBEATS_PER_SECOND;
use crate::experiment::validate::{Checker, Res};
use crate::experiment::FaultPlan;
use crate::recorder::Recorder;
use crate::topology::NodeSpec;
use crate::topology::Topology;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::heartbeat::DetectorConfig;

/// `workload:` of the heartbeat workload, as written (another workload's key is an error).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeartbeatFile {
    /// Number of nodes (the heartbeat interval and the detector go in `detector:`).
    pub nodes: Option<usize>,
}

/// Parameters of the heartbeat workload: `nodes` nodes watching each other.
#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatParams {
    pub nodes: usize,
    pub detector: workloads::heartbeat::DetectorConfig,
}

impl Describe for HeartbeatParams {}

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
        recorder.show_detection();
        recorder.enable_detector(&run.ids(&["node"]));
    }
}

impl Validate for HeartbeatFile {
    const DETECTOR: bool = true;

    /// `kind: heartbeat`: `nodes` nodes watching each other with `detector`.
    fn validate(&self, cx: &Checker<'_>, detector: DetectorConfig) -> Res<(Workload, Topology)> {
        let w = self;
        let nodes = w.nodes.unwrap_or(4);
        if nodes < 2 {
            return Err(cx.value_err("workload.nodes", format!("nodes must be 2 or more; got {nodes}")));
        }
        // Every node heartbeats every other one each interval: the
        // traffic grows with the square of the group (the backend's node
        // limit is checked with the rest of the topology).
        let per_second = (nodes * (nodes - 1)) as f64 / detector.interval.as_secs_f64();
        if per_second > MAX_HEARTBEATS_PER_SECOND && !cx.simulated {
            return Err(cx.value_err(
                "workload.nodes",
                format!(
                    "{nodes} nodes heartbeating every {} send {per_second:.0} heartbeats/s, over the limit \
                     of {MAX_HEARTBEATS_PER_SECOND:.0}/s that keeps a 2-core machine's detection times \
                     honest (measured: 9,920/s made no false suspicion, 22,560/s made thousands, a late \
                     heartbeat from an overloaded host reading as a failure); use fewer nodes or a \
                     longer `detector.interval`",
                    Dur(detector.interval)
                ),
            ));
        }
        let topology = Topology::from_roles(&[("node", nodes)]);
        Ok((Workload::Heartbeat(HeartbeatParams { nodes, detector }), topology))
    }
}
