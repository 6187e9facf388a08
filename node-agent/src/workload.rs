//! Which node an agent hosts, from its configuration.

use crate::proto::{AgentConfig, WorkloadConfig};
use crate::AgentError;
use workloads::any::AnyNode;
use workloads::tmr::TmrNode;

/// Builds the workload node the configuration names.
pub(crate) fn build(cfg: &AgentConfig) -> Result<AnyNode, AgentError> {
    let restarted = cfg.incarnation > 0;
    match &cfg.workload {
        WorkloadConfig::Tmr(c) => Ok(TmrNode::new(cfg.node, c, cfg.seed, restarted).into()),
    }
}
