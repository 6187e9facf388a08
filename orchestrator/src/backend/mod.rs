//! Backends deploy one agent per node and execute container-level faults.
//!
//! - `process`: agents are child processes on 127.0.0.1 ports.
//! - `docker`: agents are containers on a per-run network (bollard).
//! - `swarm`: agents are Docker Swarm services, one per node, on an overlay
//!   network; the engine may span several hosts.
//! - `sim`: no agents; the runner drives every node's sans-IO driver itself
//!   on a virtual clock (`run/runner/sim.rs`), so there is nothing to deploy.
//!
//! They expose the same inherent methods; [`Backend`] dispatches between them.

pub mod docker;
pub mod process;
pub mod swarm;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use workloads::NodeId;

/// Which backend an experiment asks for.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Docker when the daemon answers a ping, otherwise process.
    #[default]
    Auto,
    /// Node agents as containers.
    Docker,
    /// Node agents as child processes on 127.0.0.1.
    Process,
    /// Node agents as Docker Swarm services (the local engine must be a
    /// swarm manager).
    Swarm,
    /// Every node's driver in this process on one virtual clock, with a
    /// seeded network model: deterministic, and as fast as the CPU allows.
    Sim,
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
    /// Swarm placement constraints (`node.labels.zone==a`); other backends ignore them.
    pub placement: Vec<String>,
}

impl NodeLaunch {
    /// A node with no placement constraints.
    pub fn new(id: NodeId, name: impl Into<String>, role: impl Into<String>) -> NodeLaunch {
        NodeLaunch { id, name: name.into(), role: role.into(), placement: Vec::new() }
    }
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
    /// Host folders every container sees read-only at the same path: the
    /// runtimes and files of the programs external nodes host.
    pub host_paths: Vec<PathBuf>,
}

/// A node's state as the backend saw it change.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NodeState {
    Up,
    Down,
    Paused,
}

/// The backend a run uses: dispatches to the process or docker backend.
pub enum Backend {
    /// Child processes on 127.0.0.1.
    Process(process::ProcessBackend),
    /// Containers on the local docker engine.
    Docker(Box<DockerRun>),
    /// Services on a swarm the local engine manages.
    Swarm(Box<SwarmRun>),
    /// Nothing deployed: the runner simulates the nodes.
    Sim,
}

/// The docker backend with what its deploy needs.
pub struct DockerRun {
    pub backend: docker::DockerBackend,
    pub cfg: BackendConfig,
}

/// The swarm backend with what its deploy needs.
pub struct SwarmRun {
    pub backend: swarm::SwarmBackend,
    pub cfg: BackendConfig,
}

/// An error from whichever backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Process(#[from] process::ProcessError),
    #[error(transparent)]
    Docker(#[from] docker::DockerError),
    #[error(transparent)]
    Swarm(#[from] swarm::SwarmError),
    /// A simulated node is acted on by the runner, never through a backend.
    #[error("the sim backend has no agents to act on")]
    Simulated,
}

macro_rules! each {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Backend::Process($b) => Ok($e.await?),
            Backend::Docker(d) => {
                let $b = &mut d.backend;
                Ok($e.await?)
            }
            Backend::Swarm(d) => {
                let $b = &mut d.backend;
                Ok($e.await?)
            }
            Backend::Sim => Err(BackendError::Simulated),
        }
    };
}

/// Run a per-node action on every node: one after the other on processes
/// (signals, microseconds each), concurrently on the engine.
macro_rules! each_node {
    ($self:ident, $nodes:expr, $b:ident, $n:ident => $e:expr) => {
        match $self {
            Backend::Process($b) => {
                for &$n in $nodes {
                    $e.await?;
                }
                Ok(())
            }
            Backend::Docker(d) => {
                let $b = &d.backend;
                futures::future::try_join_all($nodes.iter().map(|&$n| $e)).await?;
                Ok(())
            }
            Backend::Swarm(d) => {
                let $b = &d.backend;
                futures::future::try_join_all($nodes.iter().map(|&$n| $e)).await?;
                Ok(())
            }
            Backend::Sim => Err(BackendError::Simulated),
        }
    };
}

impl Backend {
    /// `process` or `docker`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Process(_) => "process",
            Backend::Docker(_) => "docker",
            Backend::Swarm(_) => "swarm",
            Backend::Sim => "sim",
        }
    }

    /// The choice this backend answers (what `auto` became).
    pub fn choice(&self) -> BackendChoice {
        match self {
            Backend::Process(_) => BackendChoice::Process,
            Backend::Docker(_) => BackendChoice::Docker,
            Backend::Swarm(_) => BackendChoice::Swarm,
            Backend::Sim => BackendChoice::Sim,
        }
    }

    /// Whether the backend cuts a node off the data network itself (docker);
    /// otherwise the runner isolates it in the interposer (process, and
    /// swarm: a task cannot leave a service's network, see `swarm`).
    pub fn isolates(&self) -> bool {
        matches!(self, Backend::Docker(_))
    }

    /// Where a node's stable storage lives as the agent sees it, when the
    /// backend mounts it (docker's volume); None: the host directory itself.
    pub fn state_dir(&self) -> Option<PathBuf> {
        match self {
            Backend::Process(_) | Backend::Sim => None,
            Backend::Docker(_) | Backend::Swarm(_) => Some(PathBuf::from(docker::STATE_DIR)),
        }
    }

    /// The engine's node state changes, once per deploy (docker only).
    pub fn events(&mut self) -> Option<tokio::sync::mpsc::UnboundedReceiver<docker::NodeEvent>> {
        match self {
            Backend::Process(_) | Backend::Sim => None,
            Backend::Docker(d) => d.backend.events(),
            Backend::Swarm(d) => d.backend.events(),
        }
    }

    /// Start one agent per node.
    pub async fn deploy(&mut self, nodes: &[NodeLaunch]) -> Result<Vec<AgentEndpoint>, BackendError> {
        match self {
            Backend::Process(b) => Ok(b.deploy(nodes).await?),
            Backend::Docker(d) => Ok(d.backend.deploy(&d.cfg, nodes).await?),
            Backend::Swarm(d) => Ok(d.backend.deploy(&d.cfg, nodes).await?),
            Backend::Sim => Ok(Vec::new()),
        }
    }

    /// Kill a node.
    pub async fn crash(&mut self, node: NodeId) -> Result<(), BackendError> {
        each!(self, b => b.crash(node))
    }

    /// Kill several nodes at once: every kill is issued before any is
    /// waited for, so faults due at one instant strike together.
    pub async fn crash_all(&mut self, nodes: &[NodeId]) -> Result<(), BackendError> {
        if let Backend::Process(b) = self {
            return Ok(b.crash_all(nodes).await?);
        }
        each_node!(self, nodes, b, n => b.crash(n))
    }

    /// Start several crashed nodes again at once.
    pub async fn start_all(&mut self, nodes: &[NodeId]) -> Result<Vec<AgentEndpoint>, BackendError> {
        match self {
            Backend::Process(b) => {
                let mut out = Vec::with_capacity(nodes.len());
                for &n in nodes {
                    out.push(b.start(n).await?);
                }
                Ok(out)
            }
            Backend::Docker(d) => {
                let b = &d.backend;
                Ok(futures::future::try_join_all(nodes.iter().map(|&n| b.start(n))).await?)
            }
            Backend::Swarm(d) => {
                let b = &d.backend;
                Ok(futures::future::try_join_all(nodes.iter().map(|&n| b.start(n))).await?)
            }
            Backend::Sim => Err(BackendError::Simulated),
        }
    }

    /// Freeze several nodes at once.
    pub async fn pause_all(&mut self, nodes: &[NodeId]) -> Result<(), BackendError> {
        each_node!(self, nodes, b, n => b.pause(n))
    }

    /// Thaw several nodes at once.
    pub async fn resume_all(&mut self, nodes: &[NodeId]) -> Result<(), BackendError> {
        each_node!(self, nodes, b, n => b.resume(n))
    }

    /// Cut several nodes off the data network (docker; the process backend
    /// isolates in the interposer, see [`Backend::isolates`]).
    pub async fn isolate_all(&mut self, nodes: &[NodeId]) -> Result<(), BackendError> {
        if let Backend::Docker(d) = self {
            let b = &d.backend;
            futures::future::try_join_all(nodes.iter().map(|&n| b.isolate(n))).await?;
        }
        Ok(())
    }

    /// Reconnect several isolated nodes.
    pub async fn reconnect_all(&mut self, nodes: &[NodeId]) -> Result<(), BackendError> {
        if let Backend::Docker(d) = self {
            let b = &d.backend;
            futures::future::try_join_all(nodes.iter().map(|&n| b.reconnect(n))).await?;
        }
        Ok(())
    }

    /// Start a crashed node again.
    pub async fn start(&mut self, node: NodeId) -> Result<AgentEndpoint, BackendError> {
        each!(self, b => b.start(node))
    }

    /// Remove everything the run made.
    pub async fn teardown(&mut self) -> Result<(), BackendError> {
        if let Backend::Sim = self {
            return Ok(());
        }
        each!(self, b => b.teardown())
    }
}
