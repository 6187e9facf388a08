//! Which node an agent hosts, from its configuration.

use crate::proto::{AgentConfig, WorkloadConfig};
use crate::AgentError;
use workloads::any::AnyNode;
use workloads::checkpoint::CheckpointNode;
use workloads::heartbeat::HeartbeatNode;
use workloads::primary_backup::PrimaryBackupNode;
use workloads::tmr::TmrNode;

/// Builds the workload node the configuration names.
pub(crate) fn build(cfg: &AgentConfig) -> Result<AnyNode, AgentError> {
    let restarted = cfg.incarnation > 0;
    match &cfg.workload {
        WorkloadConfig::Tmr(c) => Ok(TmrNode::new(cfg.node, c, cfg.seed, restarted).into()),
        WorkloadConfig::Checkpoint(c) => {
            // What the node stored before its crash (the runtime emptied the
            // directory if this is the run's first start).
            let records = crate::stable::load(cfg.state_dir.as_deref())?;
            Ok(CheckpointNode::new(cfg.node, c, records, restarted).into())
        }
        WorkloadConfig::Heartbeat(c) => Ok(HeartbeatNode::new(cfg.node, c).into()),
        WorkloadConfig::Byzantine(c) => Ok(workloads::byzantine::General::new(cfg.node, c).into()),
        WorkloadConfig::Commit(c) => {
            // The coordinator's log survives its crash.
            let records = crate::stable::load(cfg.state_dir.as_deref())?;
            Ok(workloads::commit::CommitNode::new(cfg.node, c, &records).into())
        }
        WorkloadConfig::Rpc(c) => Ok(workloads::rpc::RpcNode::new(cfg.node, c, restarted).into()),
        WorkloadConfig::PrimaryBackup(c) => Ok(PrimaryBackupNode::new(cfg.node, c, restarted).into()),
    }
}
