//! Two- and three-phase commit.

use super::{Plugin, RunView};
use crate::experiment::yaml::CommitProtocol;
use crate::topology::NodeSpec;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;

/// `workload:` of the commit workload, as written (another workload's key is an error).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitFile {
    /// `2pc` or `3pc`.
    #[serde(default)]
    pub protocol: Option<CommitProtocol>,
    /// Participants besides the coordinator.
    #[serde(default)]
    pub participants: Option<usize>,
    /// A new transaction every `interval`.
    #[serde(default)]
    pub interval: Option<Dur>,
    /// The coordinator's log write between the last vote and the decision.
    #[serde(default)]
    pub decide_after: Option<Dur>,
    /// How long a node waits before acting.
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// Probability that a participant votes to abort.
    #[serde(default)]
    pub abort_probability: Option<f64>,
}

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
