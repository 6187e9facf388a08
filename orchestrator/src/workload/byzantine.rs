//! Byzantine agreement among generals, OM(m).

use super::{Plugin, RunView};
use crate::topology::NodeSpec;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;

/// `workload:` of the Byzantine-agreement workload, as written (another workload's key is an error).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByzantineFile {
    /// Generals: the commander and its lieutenants.
    #[serde(default)]
    pub generals: Option<usize>,
    /// m, the traitors OM(m) is run to tolerate.
    #[serde(default)]
    pub traitors: Option<usize>,
    /// A new agreement instance every `interval`.
    #[serde(default)]
    pub interval: Option<Dur>,
    /// The time one round of messages is given.
    #[serde(default)]
    pub round: Option<Dur>,
}

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
