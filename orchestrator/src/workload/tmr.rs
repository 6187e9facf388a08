//! Triple modular redundancy.

use super::{Plugin, RunView};
use crate::experiment::yaml::Rate;
use crate::topology::NodeSpec;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;
use workloads::tmr;

/// `workload:` of the TMR workload, as written (another workload's key is an error).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmrFile {
    #[serde(default)]
    pub replicas: Option<usize>,
    #[serde(default)]
    pub voters: Option<usize>,
    #[serde(default)]
    pub clients: Option<usize>,
    #[serde(default)]
    pub rate: Option<Rate>,
    #[serde(default)]
    pub deadline: Option<Dur>,
    #[serde(default)]
    pub vote_timeout: Option<Dur>,
    #[serde(default)]
    pub gap_timeout: Option<Dur>,
}

/// Parameters of the TMR workload.
#[derive(Clone, Debug, PartialEq)]
pub struct TmrParams {
    pub replicas: usize,
    pub voters: usize,
    pub clients: usize,
    pub rate: f64,
    pub deadline: Duration,
    pub vote_timeout: Duration,
    pub gap_timeout: Duration,
}

impl Plugin for TmrParams {
    fn kind(&self) -> &'static str {
        "tmr"
    }

    fn agent_config(&self, run: &RunView<'_>, node: &NodeSpec) -> AnyConfig {
        let role = match node.role.as_str() {
            "client" => tmr::Role::Client,
            "voter" => tmr::Role::Voter,
            _ => tmr::Role::Replica,
        };
        AnyConfig::Tmr(tmr::Config {
            role,
            replicas: run.ids(&["replica"]),
            voters: run.ids(&["voter"]),
            clients: run.ids(&["client"]),
            rate: if run.window > 0 { 0.0 } else { self.rate },
            deadline: self.deadline,
            vote_timeout: self.vote_timeout,
            gap_timeout: self.gap_timeout,
            window: run.window,
        })
    }

    fn deadline(&self) -> Duration {
        self.deadline
    }

    fn client_rate(&self, run: &RunView<'_>) -> Option<f64> {
        (run.window == 0).then_some(self.rate)
    }
}
