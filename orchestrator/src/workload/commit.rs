//! Two- and three-phase commit.

use super::{Plugin, RunView};
use crate::topology::NodeSpec;
use std::time::Duration;
use workloads::any::AnyConfig;

/// Parameters of the commit workload (the nodes and the seed are added by the run).
#[derive(Clone, Debug, PartialEq)]
pub struct CommitParams {
    pub participants: usize,
    pub config: workloads::commit::Config,
}

impl Plugin for CommitParams {
    fn kind(&self) -> &'static str {
        "commit"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::Commit(workloads::commit::Config {
            coordinator: run.first("coordinator"),
            participants: run.ids(&["participant"]),
            seed: run.seed,
            ..self.config.clone()
        })
    }

    fn deadline(&self) -> Duration {
        self.config.timeout
    }
}
