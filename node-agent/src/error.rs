//! What can stop an agent.

use std::net::SocketAddr;
use std::time::Duration;

/// Why an agent stopped other than by a `Shutdown` from its orchestrator.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A listening socket could not be bound.
    #[error("bind failed on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// No orchestrator connected in time.
    #[error("no orchestrator connected within {0:?}; exiting")]
    NoOrchestrator(Duration),
    /// The first control frame carried the wrong token.
    #[error("bad token: the orchestrator that connected does not own this run")]
    BadToken,
    /// The orchestrator sent something out of order or undecodable.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The control connection closed or failed.
    #[error("control connection lost: {0}")]
    ControlLost(String),
    /// No control frame arrived within the watchdog timeout.
    #[error("watchdog expired: no frame from the orchestrator for {0:?}")]
    Watchdog(Duration),
    /// The configured workload cannot be built by this agent.
    #[error("cannot build the workload node: {0}")]
    Workload(String),
    /// Any other I/O failure.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
