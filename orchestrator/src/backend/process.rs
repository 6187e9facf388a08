//! The process backend: one `faultlab agent` child process per node on 127.0.0.1.
//!
//! crash = SIGKILL, start = spawn again on the same ports, pause = SIGSTOP,
//! resume = SIGCONT. The backend holds every agent's ports from deploy to
//! teardown (see [`HeldPort`]), so they cannot be taken in between. Isolation has no process-level equivalent: the runner
//! turns it into an interposer partition instead.

use super::{AgentEndpoint, BackendConfig, NodeLaunch};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::net::SocketAddr;
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
    /// The control and data ports, held for the whole run.
    _ports: [HeldPort; 2],
}

/// Agents as child processes.
pub struct ProcessBackend {
    cfg: BackendConfig,
    log_dir: Option<PathBuf>,
    agents: BTreeMap<NodeId, Agent>,
}

/// A port on 127.0.0.1 held for one agent from deploy to teardown: a socket
/// bound (by the kernel's pick of a free port) with SO_REUSEPORT and never
/// listening. The agent binds the same port with SO_REUSEPORT and listens;
/// nobody else can bind it, and an outgoing connection cannot take it as its
/// source port, at any time: not between the pick and the agent's bind, and
/// not while a crashed agent is down (connections to it are refused then, as
/// a non-listening socket accepts nothing).
struct HeldPort {
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

fn hold_port() -> Result<HeldPort, ProcessError> {
    let hold = || -> std::io::Result<HeldPort> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        // SO_REUSEPORT only: with SO_REUSEADDR on both sides, anyone's
        // SO_REUSEADDR listener (std's default) could bind a port held by a
        // socket that does not listen.
        socket.set_reuseport(true)?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = socket.local_addr()?;
        Ok(HeldPort { _socket: socket, addr })
    };
    hold().map_err(ProcessError::Port)
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
            let ports = [hold_port()?, hold_port()?];
            let (control, data) = (ports[0].addr, ports[1].addr);
            let endpoint = AgentEndpoint { control, data_listen: data, data_addr: data };
            self.agents.insert(n.id, Agent { launch: n.clone(), endpoint, child: None, _ports: ports });
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
            killpg(pid, sig)
                .map_err(|source| ProcessError::Signal { node: agent.launch.name.clone(), source })?;
        }
        Ok(())
    }

    /// Kill the node's agent (SIGKILL) and reap it.
    pub async fn crash(&mut self, node: NodeId) -> Result<(), ProcessError> {
        let agent = self.agents.get_mut(&node).ok_or(ProcessError::UnknownNode(node))?;
        if let Some(mut child) = agent.child.take() {
            // A paused process is killed all the same by SIGKILL.
            kill_group(&mut child);
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
                kill_group(&mut child);
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

/// SIGKILL an agent's process group: the agent and any program it hosts
/// (an agent leads its own group, and what it starts stays in it).
fn kill_group(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = killpg(Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX)), Signal::SIGKILL);
    }
    let _ = child.start_kill();
}

impl Drop for ProcessBackend {
    fn drop(&mut self) {
        // Last line of defence (panic, early return): no agent outlives its run.
        for agent in self.agents.values_mut() {
            if let Some(child) = agent.child.as_mut() {
                if let Some(pid) = child.id() {
                    let pid = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
                    let _ = killpg(pid, Signal::SIGCONT);
                    let _ = killpg(pid, Signal::SIGKILL);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_held_port_is_unique_refuses_connections_and_admits_only_its_agent() {
        let held: Vec<HeldPort> = (0..200).map(|_| hold_port().unwrap()).collect();
        let ports: std::collections::BTreeSet<u16> = held.iter().map(|h| h.addr.port()).collect();
        assert_eq!(ports.len(), held.len(), "two agents were given one port");
        let addr = held[0].addr;
        // Held but not listening: nobody else can bind it (std sets
        // SO_REUSEADDR), and connections are refused.
        assert!(TcpListener::bind(addr).is_err(), "a plain bind took a held port");
        assert!(TcpStream::connect(addr).is_err(), "a held port accepted a connection");
        // The agent joins it (SO_REUSEPORT, same user) and is reached there.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_reuseport(true).unwrap();
            socket.bind(addr).unwrap();
            let agent = socket.listen(16).unwrap();
            let _c = tokio::net::TcpStream::connect(addr).await.unwrap();
            agent.accept().await.unwrap();
        });
        // Still held after the agent is gone (a crash): refused, not taken.
        assert!(TcpStream::connect(addr).is_err());
        assert!(TcpListener::bind(addr).is_err());
    }
}
