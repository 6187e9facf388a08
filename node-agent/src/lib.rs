//! The node agent: the tokio runtime that hosts one workload node.
//!
//! It listens for its orchestrator on a control port, receives its
//! configuration, runs the node's sans-IO state machine with real sockets and
//! real time, passes every message through the fault interposer, streams
//! observations up, and exits by itself when its orchestrator is gone.

mod clock;
mod control;
mod error;
pub mod proto;
mod runtime;
mod stable;
mod transport;
mod workload;

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests;

pub use clock::monotonic_now;
pub use error::AgentError;

use proto::AgentConfig;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use workloads::Node;

/// What an agent is started with (the `faultlab agent` subcommand's arguments).
#[derive(Clone, Debug)]
pub struct AgentArgs {
    /// Where to listen for the orchestrator.
    pub control: SocketAddr,
    /// The per-run token the orchestrator must present.
    pub token: String,
    /// Exit when the orchestrator is silent (or absent) this long.
    pub watchdog: Duration,
}

/// An agent whose control port is bound, waiting for its orchestrator.
#[derive(Debug)]
pub struct Agent {
    listener: TcpListener,
    token: String,
    watchdog: Duration,
    started: Instant,
}

impl Agent {
    /// Binds the control port; the watchdog's first period starts now.
    pub async fn bind(args: AgentArgs) -> Result<Agent, AgentError> {
        let started = Instant::now();
        let listener = transport::listen(args.control)?;
        Ok(Agent { listener, token: args.token, watchdog: args.watchdog, started })
    }

    /// The bound control address (useful when bound to port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, AgentError> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves one orchestrator, hosting the workload node its configuration names.
    pub async fn run(self) -> Result<(), AgentError> {
        self.serve(workload::build).await
    }

    /// Serves one orchestrator, hosting the node `build` makes from the configuration.
    pub async fn serve<N, F>(self, build: F) -> Result<(), AgentError>
    where
        N: Node,
        F: FnOnce(&AgentConfig) -> Result<N, AgentError>,
    {
        let accept_within = self.watchdog.saturating_sub(self.started.elapsed());
        runtime::serve(self.listener, &self.token, self.watchdog, accept_within, build).await
    }
}

/// Runs an agent until its orchestrator shuts it down (Ok) or it must exit (Err).
pub async fn run(args: AgentArgs) -> Result<(), AgentError> {
    Agent::bind(args).await?.run().await
}

/// Like [`run`], hosting the node `build` makes instead of the configured workload.
pub async fn serve<N, F>(args: AgentArgs, build: F) -> Result<(), AgentError>
where
    N: Node,
    F: FnOnce(&AgentConfig) -> Result<N, AgentError>,
{
    Agent::bind(args).await?.serve(build).await
}
