//! RPC failure semantics.

use super::{Plugin, RunView};
use crate::topology::NodeSpec;
use std::time::Duration;
use workloads::any::AnyConfig;

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
