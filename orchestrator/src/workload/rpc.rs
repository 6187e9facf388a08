//! RPC failure semantics.

use super::{Plugin, RunView};
use crate::experiment::yaml::{Rate, RpcSemantics};
use crate::topology::NodeSpec;
use faults::Dur;
use std::time::Duration;
use workloads::any::AnyConfig;

/// `workload:` of the RPC workload, as written (another workload's key is an error).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcFile {
    /// Calls per second from the client.
    #[serde(default)]
    pub rate: Option<Rate>,
    /// `at-least-once` or `at-most-once`.
    #[serde(default)]
    pub semantics: Option<RpcSemantics>,
    /// How long the client waits before retrying.
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// Tries after the first before the client gives up.
    #[serde(default)]
    pub retries: Option<u32>,
}

/// Parameters of the RPC workload (the nodes are added by the run).
#[derive(Clone, Debug, PartialEq)]
pub struct RpcParams {
    pub config: workloads::rpc::Config,
}

impl Plugin for RpcParams {
    fn kind(&self) -> &'static str {
        "rpc"
    }

    fn agent_config(&self, run: &RunView<'_>, _node: &NodeSpec) -> AnyConfig {
        AnyConfig::Rpc(workloads::rpc::Config {
            server: run.first("server"),
            client: run.first("client"),
            ..self.config.clone()
        })
    }

    /// A call is decided after its last try's timeout.
    fn deadline(&self) -> Duration {
        self.config.timeout * (self.config.retries + 1)
    }
}
