//! Which node an agent hosts, from its configuration.

use crate::proto::AgentConfig;
use crate::AgentError;
use workloads::any::{AnyNode, Start};

/// Builds the workload node the configuration names, with what its stable
/// storage holds (the runtime emptied it if this is the run's first start).
pub(crate) fn build(cfg: &AgentConfig) -> Result<AnyNode, AgentError> {
    let stable = crate::stable::load(cfg.state_dir.as_deref())?;
    let start = Start { seed: cfg.seed, restarted: cfg.incarnation > 0, stable };
    Ok(cfg.workload.node(cfg.node, &start))
}
