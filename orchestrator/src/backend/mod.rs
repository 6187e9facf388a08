//! Backends deploy one agent per node and execute container-level faults.
//!
//! - `process`: agents are child processes on 127.0.0.1 ports.
//! - `docker`: agents are containers on a per-run network (bollard).
//!
//! Both expose the same inherent methods; [`Backend`] dispatches between them.

pub mod docker;
pub mod process;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use workloads::NodeId;

/// Which backend an experiment asks for.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Docker when the daemon answers a ping, otherwise process.
    #[default]
    Auto,
    /// Node agents as containers.
    Docker,
    /// Node agents as child processes on 127.0.0.1.
    Process,
}

/// One node to deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLaunch {
    /// The node's index.
    pub id: NodeId,
    /// Its name (`replica-1`), also the container hostname.
    pub name: String,
    /// Its role (`replica`), for labels.
    pub role: String,
}

/// Where the orchestrator and the peers reach one agent.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AgentEndpoint {
    /// The agent's control port, as the orchestrator reaches it.
    pub control: SocketAddr,
    /// The address the agent binds for data (inside its container or on loopback).
    pub data_listen: SocketAddr,
    /// The address peers use to reach the agent's data port.
    pub data_addr: SocketAddr,
}

/// What every backend needs to start agents.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// The run's id (labels, names).
    pub run_id: String,
    /// The per-run control token agents check.
    pub token: String,
    /// The faultlab executable that runs `faultlab agent`.
    pub agent_exe: PathBuf,
    /// The agents' watchdog: they exit when the orchestrator is silent this long.
    pub watchdog: Duration,
}

/// A node's state as the backend saw it change.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NodeState {
    Up,
    Down,
    Paused,
}
