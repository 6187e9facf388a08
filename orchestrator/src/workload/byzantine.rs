//! Byzantine agreement among generals, OM(m).

use super::{Plugin, RunView};
use crate::topology::NodeSpec;
use std::time::Duration;
use workloads::any::AnyConfig;

/// Parameters of the Byzantine-agreement workload (the generals' list and
/// the seed are added by the run).
#[derive(Clone, Debug, PartialEq)]
pub struct ByzantineParams {
    pub generals: usize,
    pub config: workloads::byzantine::Config,
}

impl Plugin for ByzantineParams {
    fn kind(&self) -> &'static str {
        "byzantine-agreement"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::Byzantine(workloads::byzantine::Config {
            generals: run.ids(&["commander", "lieutenant"]),
            seed: run.seed,
            ..self.config.clone()
        })
    }

    fn deadline(&self) -> Duration {
        self.config.interval
    }
}
