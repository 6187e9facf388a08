//! The process backend: one `faultlab agent` child process per node on 127.0.0.1.
//!
//! crash = SIGKILL, start = spawn again on the same ports, pause = SIGSTOP,
//! resume = SIGCONT. Isolation has no process-level equivalent: the runner
//! turns it into an interposer partition instead.

use super::{AgentEndpoint, BackendConfig, NodeLaunch};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use tokio::process::{Child, Command};
use workloads::NodeId;

/// Errors of the process backend.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot find a free port on 127.0.0.1: {0}")]
    Port(std::io::Error),
    #[error("cannot start the agent `{exe}` for {node}: {source}")]
    Spawn { exe: PathBuf, node: String, source: std::io::Error },
    #[error("cannot create the log file {path}: {source}")]
    Log { path: PathBuf, source: std::io::Error },
    #[error("no such node {0}")]
    UnknownNode(NodeId),
    #[error("cannot signal {node}: {source}")]
    Signal { node: String, source: nix::Error },
}

struct Agent {
    launch: NodeLaunch,
    endpoint: AgentEndpoint,
    child: Option<Child>,
}

/// Agents as child processes.
pub struct ProcessBackend {
    cfg: BackendConfig,
    log_dir: Option<PathBuf>,
    agents: BTreeMap<NodeId, Agent>,
}

/// Agents' ports come from below the kernel's ephemeral range (32768 and
/// up on Linux): a port picked there and released could be taken by any
/// outgoing connection, the agents' own included, before the agent binds it.
const AGENT_PORTS: std::ops::Range<u16> = 20_000..32_768;

fn free_port() -> Result<u16, ProcessError> {
    let mut last = std::io::Error::other("no free port");
    for _ in 0..256 {
        let port = rand::random::<u16>() % (AGENT_PORTS.end - AGENT_PORTS.start) + AGENT_PORTS.start;
        // Free now; nothing else hands it out, so it stays free until the agent binds it.
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(_) => return Ok(port),
            Err(e) => last = e,
        }
    }
    Err(ProcessError::Port(last))
}

impl ProcessBackend {
    /// A backend whose agents log to `log_dir/<node>.log` (or inherit nothing when None).
    pub fn new(cfg: BackendConfig, log_dir: Option<PathBuf>) -> Self {
        ProcessBackend { cfg, log_dir, agents: BTreeMap::new() }
    }

    /// Start one agent per node; each listens on its own control port.
    pub async fn deploy(&mut self, nodes: &[NodeLaunch]) -> Result<Vec<AgentEndpoint>, ProcessError> {
        let mut out = Vec::with_capacity(nodes.len());
        for n in nodes {
            let control = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let data = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let endpoint = AgentEndpoint { control, data_listen: data, data_addr: data };
            self.agents.insert(n.id, Agent { launch: n.clone(), endpoint, child: None });
            out.push(endpoint);
        }
        for n in nodes {
            self.spawn(n.id)?;
        }
        Ok(out)
    }

    fn spawn(&mut self, node: NodeId) -> Result<(), ProcessError> {
        let agent = self.agents.get_mut(&node).ok_or(ProcessError::UnknownNode(node))?;
        let mut cmd = Command::new(&self.cfg.agent_exe);
        cmd.arg("agent")
            .arg("--control")
            .arg(agent.endpoint.control.to_string())
            .arg("--watchdog")
            .arg(format!("{}ms", self.cfg.watchdog.as_millis()))
            .env(node_agent::proto::TOKEN_ENV, &self.cfg.token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        // Own process group: a Ctrl-C on the terminal reaches the orchestrator
        // only, which then shuts the agents down in order.
        cmd.process_group(0);
        match &self.log_dir {
            Some(dir) => {
                let path = dir.join(format!("{}.log", agent.launch.name));
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|source| ProcessError::Log { path: path.clone(), source })?;
                cmd.stderr(f);
            }
            None => {
                cmd.stderr(Stdio::null());
            }
        }
        let child = cmd.spawn().map_err(|source| ProcessError::Spawn {
            exe: self.cfg.agent_exe.clone(),
            node: agent.launch.name.clone(),
            source,
        })?;
        agent.child = Some(child);
        Ok(())
    }

    fn signal(&self, node: NodeId, sig: Signal) -> Result<(), ProcessError> {
        let agent = self.agents.get(&node).ok_or(ProcessError::UnknownNode(node))?;
        if let Some(pid) = agent.child.as_ref().and_then(Child::id) {
            let pid = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
            kill(pid, sig)
                .map_err(|source| ProcessError::Signal { node: agent.launch.name.clone(), source })?;
        }
        Ok(())
    }

    /// Kill the node's agent (SIGKILL) and reap it.
    pub async fn crash(&mut self, node: NodeId) -> Result<(), ProcessError> {
        let agent = self.agents.get_mut(&node).ok_or(ProcessError::UnknownNode(node))?;
        if let Some(mut child) = agent.child.take() {
            // A paused process is killed all the same by SIGKILL.
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        Ok(())
    }

    /// Kill several agents: every SIGKILL is sent before any is reaped, so
    /// they die within microseconds of each other.
    pub async fn crash_all(&mut self, nodes: &[NodeId]) -> Result<(), ProcessError> {
        let mut children = Vec::with_capacity(nodes.len());
        for n in nodes {
            let agent = self.agents.get_mut(n).ok_or(ProcessError::UnknownNode(*n))?;
            if let Some(mut child) = agent.child.take() {
                let _ = child.start_kill();
                children.push(child);
            }
        }
        for mut child in children {
            let _ = child.wait().await;
        }
        Ok(())
    }

    /// Start a crashed node again on the same ports.
    pub async fn start(&mut self, node: NodeId) -> Result<AgentEndpoint, ProcessError> {
        self.crash(node).await?;
        self.spawn(node)?;
        Ok(self.agents.get(&node).ok_or(ProcessError::UnknownNode(node))?.endpoint)
    }

    /// Freeze the node (SIGSTOP).
    pub async fn pause(&mut self, node: NodeId) -> Result<(), ProcessError> {
        self.signal(node, Signal::SIGSTOP)
    }

    /// Thaw the node (SIGCONT).
    pub async fn resume(&mut self, node: NodeId) -> Result<(), ProcessError> {
        self.signal(node, Signal::SIGCONT)
    }

    /// Whether the node's agent process is still alive.
    pub fn is_running(&mut self, node: NodeId) -> bool {
        match self.agents.get_mut(&node).and_then(|a| a.child.as_mut()) {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kill every agent and reap it. Idempotent.
    pub async fn teardown(&mut self) -> Result<(), ProcessError> {
        let nodes: Vec<NodeId> = self.agents.keys().copied().collect();
        for n in nodes {
            let _ = self.signal(n, Signal::SIGCONT);
            self.crash(n).await?;
        }
        Ok(())
    }
}

impl Drop for ProcessBackend {
    fn drop(&mut self) {
        // Last line of defence (panic, early return): no agent outlives its run.
        for agent in self.agents.values_mut() {
            if let Some(child) = agent.child.as_mut() {
                if let Some(pid) = child.id() {
                    let pid = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
                    let _ = kill(pid, Signal::SIGCONT);
                    let _ = kill(pid, Signal::SIGKILL);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ports_are_free_and_outside_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        assert!(ports.iter().all(|p| AGENT_PORTS.contains(p)), "{ports:?}");
        for p in &ports[..5] {
            assert!(TcpListener::bind(("127.0.0.1", *p)).is_ok(), "port {p} is free");
        }
    }
}
