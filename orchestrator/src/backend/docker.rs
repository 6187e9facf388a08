//! The docker backend: one container per node, through bollard.
//!
//! A run owns two networks and a volume. Each container sits on the control
//! network (a normal bridge carrying the control port, published on
//! 127.0.0.1) and on the data network (`internal`, with a fixed IP per node),
//! so cutting the data network (`isolate`) never moves the published port and
//! a partition never cuts the orchestrator off. The volume is mounted at
//! `/state` in every container (agents keep what must survive a crash under
//! `/state/<node>`). Everything carries `faultlab.run=<run-id>` plus owner
//! labels, so teardown, `faultlab clean` and the stale sweep find it all.

pub(crate) mod cleanup;
pub mod image;

pub use cleanup::{
    clean, clean_all, runs, sweep_stale, teardown_blocking, CleanOutcome, CleanReport, Owner, RunObjects,
};

use super::{AgentEndpoint, BackendConfig, NodeLaunch, NodeState};
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, NetworkingConfig, PortBinding,
    VolumeCreateRequest,
};
use bollard::query_parameters::{CreateContainerOptions, EventsOptions, KillContainerOptions};
use bollard::Docker;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use workloads::NodeId;

/// Label naming a run; every object of the run carries it.
pub const LABEL_RUN: &str = "faultlab.run";
/// Label naming a container's node.
pub const LABEL_NODE: &str = "faultlab.node";
/// Label naming a container's role.
pub const LABEL_ROLE: &str = "faultlab.role";
/// Label with the owning orchestrator's pid.
pub const LABEL_PID: &str = "faultlab.pid";
/// Label with the owning orchestrator's start time (guards against pid reuse).
pub const LABEL_PID_START: &str = "faultlab.pid-start";
/// Label with the host name of the owning orchestrator.
pub const LABEL_HOST: &str = "faultlab.host";

/// The agent's control port inside its container.
pub const CONTROL_PORT: u16 = 7000;
/// The agent's data port inside its container.
pub const DATA_PORT: u16 = 7100;
/// Where the run's volume is mounted.
pub const STATE_DIR: &str = "/state";

/// How long `available` waits for a ping.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// A node state change as the engine saw it, with the engine's time.
pub type NodeEvent = (NodeId, NodeState, SystemTime);

/// Errors of the docker backend; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "no Docker daemon answers at {endpoint} ({source}); start it (`sudo systemctl start docker`, or `sudo dockerd &`) or run with --backend process"
    )]
    Unreachable { endpoint: String, source: bollard::errors::Error },
    #[error(
        "permission denied on {endpoint}: add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run as root; or run with --backend process"
    )]
    PermissionDenied { endpoint: String },
    #[error("cannot read {path}: {source}")]
    AgentExe { path: PathBuf, source: std::io::Error },
    #[error(
        "cannot list the shared libraries of {path}: {detail}; a statically linked faultlab avoids this"
    )]
    Ldd { path: PathBuf, detail: String },
    #[error("cannot build the agent image: {0}")]
    Image(String),
    #[error("docker: cannot {op}: {source}")]
    Api { op: String, source: bollard::errors::Error },
    #[error("the docker engine gave no {what} for {object}")]
    Missing { what: &'static str, object: String },
    #[error("no free subnet for the data network: {0}")]
    Subnet(String),
    #[error("no such node {0} in this run")]
    UnknownNode(NodeId),
    #[error("nothing is deployed")]
    NotDeployed,
    #[error("a run is already deployed on this backend; tear it down first")]
    AlreadyDeployed,
    #[error("cannot run the cleanup: {0}")]
    Runtime(std::io::Error),
    #[error("docker {0} timed out")]
    Timeout(&'static str),
}

impl DockerError {
    pub(crate) fn api(op: impl Into<String>, source: bollard::errors::Error) -> DockerError {
        DockerError::Api { op: op.into(), source }
    }
}

/// Where bollard connects: `DOCKER_HOST` or the local socket.
fn engine_endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// Sort a connection failure into unreachable or permission denied.
pub(crate) fn connect_error(source: bollard::errors::Error) -> DockerError {
    let endpoint = engine_endpoint();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&source);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied {
                return DockerError::PermissionDenied { endpoint };
            }
        }
        cause = e.source();
    }
    if source.to_string().contains("ermission denied") {
        return DockerError::PermissionDenied { endpoint };
    }
    DockerError::Unreachable { endpoint, source }
}

/// Connect, negotiate the API version (20.10 stops at 1.41) and ping.
pub(crate) async fn connect_engine() -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_local_defaults().map_err(connect_error)?;
    let docker = docker.negotiate_version().await.map_err(connect_error)?;
    docker.ping().await.map_err(connect_error)?;
    Ok(docker)
}

/// Whether an error is the engine saying "already so" (304 Not Modified).
pub(crate) fn not_modified(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 304, .. })
}

pub(crate) fn server_message(e: &bollard::errors::Error) -> Option<&str> {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => Some(message),
        _ => None,
    }
}

/// Docker names allow `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub(crate) fn docker_name(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' }).collect()
}

/// An IPv4 subnet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Subnet {
    base: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    fn parse(s: &str) -> Option<Subnet> {
        let (ip, prefix) = s.split_once('/')?;
        let prefix: u8 = prefix.parse().ok()?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        if prefix > 30 {
            return None;
        }
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Some(Subnet { base: Ipv4Addr::from(u32::from(ip) & mask), prefix })
    }

    /// The i-th node address: base+2+i (base+1 is the bridge's gateway).
    fn host(&self, i: usize) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        let offset = 2 + i as u64;
        // Keep off the broadcast address.
        if offset >= size - 1 {
            return None;
        }
        Some(Ipv4Addr::from(u32::from(self.base).wrapping_add(offset as u32)))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// One node's container.
#[derive(Clone, Debug)]
struct Container {
    /// The container's name.
    name: String,
    /// Its fixed address on the data network.
    data_ip: Ipv4Addr,
}

/// What one deployed run owns.
struct Run {
    id: String,
    data_net: String,
    containers: BTreeMap<NodeId, Container>,
    events_task: Option<tokio::task::JoinHandle<()>>,
}

/// Agents as containers on one docker engine.
pub struct DockerBackend {
    docker: Docker,
    run: Option<Run>,
    events: Option<mpsc::UnboundedReceiver<NodeEvent>>,
    image: Option<image::AgentImage>,
}

impl DockerBackend {
    /// Connect (negotiate the API version) and ping; the error says how to get a daemon.
    pub async fn connect() -> Result<DockerBackend, DockerError> {
        let docker = connect_engine().await?;
        Ok(DockerBackend { docker, run: None, events: None, image: None })
    }

    /// True when a daemon answers a ping within about a second.
    pub async fn available() -> bool {
        matches!(tokio::time::timeout(PING_TIMEOUT, connect_engine()).await, Ok(Ok(_)))
    }

    /// The bollard client, for callers that need more than the backend offers.
    pub fn engine(&self) -> &Docker {
        &self.docker
    }

    /// The agent image of the last deploy (whether it was imported, and how long that took).
    pub fn agent_image(&self) -> Option<&image::AgentImage> {
        self.image.as_ref()
    }

    /// Find or import the agent image of `exe` (cached by the binary's hash).
    pub async fn ensure_image(&self, exe: &std::path::Path) -> Result<image::AgentImage, DockerError> {
        image::ensure(&self.docker, exe).await
    }

    /// Create the run's networks, volume and containers, start them all and
    /// return each node's endpoint (in the order of `nodes`). On failure,
    /// everything created so far is removed before the error returns.
    pub async fn deploy(
        &mut self,
        cfg: &BackendConfig,
        nodes: &[NodeLaunch],
    ) -> Result<Vec<AgentEndpoint>, DockerError> {
        if self.run.is_some() {
            return Err(DockerError::AlreadyDeployed);
        }
        match self.deploy_inner(cfg, nodes).await {
            Ok(endpoints) => Ok(endpoints),
            Err(e) => {
                self.abort_events();
                self.run = None;
                // Best effort: the deploy error is the one worth reporting.
                let _ = cleanup::remove_run(&self.docker, &cfg.run_id).await;
                Err(e)
            }
        }
    }

    async fn deploy_inner(
        &mut self,
        cfg: &BackendConfig,
        nodes: &[NodeLaunch],
    ) -> Result<Vec<AgentEndpoint>, DockerError> {
        let image = image::ensure(&self.docker, &cfg.agent_exe).await?;
        let image_ref = image.reference.clone();
        self.image = Some(image);

        let prefix = format!("faultlab-{}", docker_name(&cfg.run_id));
        let mut labels: HashMap<String, String> =
            HashMap::from([(LABEL_RUN.to_string(), cfg.run_id.clone())]);
        labels.extend(cleanup::owner_labels());
        let control_net = format!("{prefix}-control");
        let data_net = format!("{prefix}-data");
        let volume = format!("{prefix}-state");
        self.run = Some(Run {
            id: cfg.run_id.clone(),
            data_net: data_net.clone(),
            containers: BTreeMap::new(),
            events_task: None,
        });

        // Subscribe before anything starts, so no start event is missed.
        let names: HashMap<String, NodeId> = nodes.iter().map(|n| (n.name.clone(), n.id)).collect();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(forward_events(self.docker.clone(), cfg.run_id.clone(), names, tx, ready_tx));
        if let Some(run) = self.run.as_mut() {
            run.events_task = Some(task);
        }
        self.events = Some(rx);

        // Independent: made side by side to shorten the deploy.
        let control = async {
            self.docker
                .create_network(NetworkCreateRequest {
                    name: control_net.clone(),
                    driver: Some("bridge".to_string()),
                    labels: Some(labels.clone()),
                    ..Default::default()
                })
                .await
                .map_err(|source| DockerError::api(format!("create the network {control_net}"), source))
        };
        let state = async {
            self.docker
                .create_volume(VolumeCreateRequest {
                    name: Some(volume.clone()),
                    labels: Some(labels.clone()),
                    ..Default::default()
                })
                .await
                .map_err(|source| DockerError::api(format!("create the volume {volume}"), source))
        };
        // join, not try_join: a failure must not drop the other requests in
        // flight, or what they create would outlive the cleanup of the failed deploy.
        let (control, data, state) =
            tokio::join!(control, self.create_data_network(&data_net, &labels), state);
        let (_, subnet, _) = (control?, data?, state?);

        let mut containers = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let data_ip = subnet.host(i).ok_or_else(|| {
                DockerError::Subnet(format!("{subnet} is too small for {} nodes", nodes.len()))
            })?;
            let name = format!("{prefix}-{}", docker_name(&node.name));
            containers.push((node, Container { name, data_ip }));
        }
        let spec = ContainerSpec {
            cfg,
            image: &image_ref,
            control_net: &control_net,
            data_net: &data_net,
            volume: &volume,
            labels: &labels,
        };
        let created = futures::future::join_all(
            containers.iter().map(|(node, c)| self.create_container(&spec, node, c)),
        )
        .await;
        for r in created {
            r?;
        }
        if let Some(run) = self.run.as_mut() {
            run.containers = containers.iter().map(|(n, c)| (n.id, c.clone())).collect();
        }
        // The first create event proves the subscription is live (bounded wait:
        // a lost subscription costs events, not the run).
        let _ = tokio::time::timeout(Duration::from_secs(2), ready_rx).await;

        let docker = &self.docker;
        let started = futures::future::join_all(containers.iter().map(|(_, c)| async move {
            docker
                .start_container(&c.name, None)
                .await
                .map_err(|source| DockerError::api(format!("start {}", c.name), source))
        }))
        .await;
        for r in started {
            r?;
        }
        let mut endpoints = Vec::with_capacity(nodes.len());
        for (_, c) in &containers {
            endpoints.push(self.endpoint_of(c).await?);
        }
        Ok(endpoints)
    }

    /// Let docker pick a free pool (it avoids host routes and other networks),
    /// read it back, then create the real network with that subnet written
    /// out: fixed container IPs need a user-configured subnet. Retried when
    /// another network grabs the subnet in between.
    async fn create_data_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<Subnet, DockerError> {
        let mut last = String::new();
        for _ in 0..5 {
            let probe = format!("{name}-probe");
            let opts = NetworkCreateRequest {
                name: probe.clone(),
                driver: Some("bridge".to_string()),
                internal: Some(true),
                labels: Some(labels.clone()),
                ..Default::default()
            };
            self.docker
                .create_network(opts)
                .await
                .map_err(|source| DockerError::api(format!("create the network {probe}"), source))?;
            let inspected = self.docker.inspect_network(&probe, None).await;
            self.docker
                .remove_network(&probe)
                .await
                .map_err(|source| DockerError::api(format!("remove the network {probe}"), source))?;
            let net = inspected
                .map_err(|source| DockerError::api(format!("inspect the network {probe}"), source))?;
            let subnet = net
                .ipam
                .and_then(|i| i.config)
                .unwrap_or_default()
                .iter()
                .find_map(|c| c.subnet.as_deref().and_then(Subnet::parse))
                .ok_or_else(|| DockerError::Missing { what: "IPv4 subnet", object: probe.clone() })?;
            let opts = NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("bridge".to_string()),
                internal: Some(true),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig { subnet: Some(subnet.to_string()), ..Default::default() }]),
                    ..Default::default()
                }),
                labels: Some(labels.clone()),
                ..Default::default()
            };
            match self.docker.create_network(opts).await {
                Ok(_) => return Ok(subnet),
                Err(e) if server_message(&e).is_some_and(|m| m.contains("overlap")) => last = e.to_string(),
                Err(source) => return Err(DockerError::api(format!("create the network {name}"), source)),
            }
        }
        Err(DockerError::Subnet(last))
    }

    async fn create_container(
        &self,
        spec: &ContainerSpec<'_>,
        node: &NodeLaunch,
        c: &Container,
    ) -> Result<(), DockerError> {
        let port = format!("{CONTROL_PORT}/tcp");
        let mut labels = spec.labels.clone();
        labels.insert(LABEL_NODE.to_string(), node.name.clone());
        labels.insert(LABEL_ROLE.to_string(), node.role.clone());
        let watchdog = format!("{}ms", spec.cfg.watchdog.as_millis());
        let config = ContainerCreateBody {
            hostname: Some(node.name.clone()),
            image: Some(spec.image.to_string()),
            cmd: Some(vec![
                "agent".to_string(),
                "--control".to_string(),
                format!("0.0.0.0:{CONTROL_PORT}"),
                "--watchdog".to_string(),
                watchdog,
            ]),
            env: Some(vec![
                format!("{}={}", node_agent::proto::TOKEN_ENV, spec.cfg.token),
                format!("FAULTLAB_NODE={}", node.name),
            ]),
            labels: Some(labels),
            exposed_ports: Some(vec![port.clone()]),
            host_config: Some(HostConfig {
                init: Some(true),
                network_mode: Some(spec.control_net.to_string()),
                port_bindings: Some(HashMap::from([(
                    port,
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".to_string()),
                        host_port: Some(String::new()),
                    }]),
                )])),
                binds: Some(
                    std::iter::once(format!("{}:{STATE_DIR}", spec.volume))
                        .chain(spec.cfg.host_paths.iter().map(|p| format!("{0}:{0}:ro", p.display())))
                        .collect(),
                ),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    spec.control_net.to_string(),
                    EndpointSettings::default(),
                )])),
            }),
            ..Default::default()
        };
        self.docker
            .create_container(
                Some(CreateContainerOptions { name: Some(c.name.clone()), ..Default::default() }),
                config,
            )
            .await
            .map_err(|source| DockerError::api(format!("create the container {}", c.name), source))?;
        // API 1.41 takes one network at create: the data network joins before start.
        self.connect_data(spec.data_net, c).await
    }

    async fn connect_data(&self, data_net: &str, c: &Container) -> Result<(), DockerError> {
        let opts = NetworkConnectRequest {
            container: c.name.clone(),
            endpoint_config: Some(EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: Some(c.data_ip.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        self.docker
            .connect_network(data_net, opts)
            .await
            .map_err(|source| DockerError::api(format!("connect {} to {data_net}", c.name), source))
    }

    /// Read back the published control port of a running container.
    async fn endpoint_of(&self, c: &Container) -> Result<AgentEndpoint, DockerError> {
        let info = self
            .docker
            .inspect_container(&c.name, None)
            .await
            .map_err(|source| DockerError::api(format!("inspect {}", c.name), source))?;
        let host_port = published_control_port(&info)
            .ok_or_else(|| DockerError::Missing { what: "published control port", object: c.name.clone() })?;
        Ok(AgentEndpoint {
            control: SocketAddr::from(([127, 0, 0, 1], host_port)),
            data_listen: SocketAddr::from(([0, 0, 0, 0], DATA_PORT)),
            data_addr: SocketAddr::from((c.data_ip, DATA_PORT)),
        })
    }

    fn container(&self, node: NodeId) -> Result<(&Run, &Container), DockerError> {
        let run = self.run.as_ref().ok_or(DockerError::NotDeployed)?;
        let c = run.containers.get(&node).ok_or(DockerError::UnknownNode(node))?;
        Ok((run, c))
    }

    /// Kill the node's container (SIGKILL). A node already down stays down.
    pub async fn crash(&self, node: NodeId) -> Result<(), DockerError> {
        let (_, c) = self.container(node)?;
        kill(&self.docker, &c.name).await
    }

    /// Start a crashed node again; returns its endpoint (the published port may have changed).
    pub async fn start(&self, node: NodeId) -> Result<AgentEndpoint, DockerError> {
        let (_, c) = self.container(node)?;
        match self.docker.start_container(&c.name, None).await {
            Ok(()) => {}
            Err(e) if not_modified(&e) => {}
            Err(source) => return Err(DockerError::api(format!("start {}", c.name), source)),
        }
        self.endpoint_of(c).await
    }

    /// Freeze the node's container.
    pub async fn pause(&self, node: NodeId) -> Result<(), DockerError> {
        let (_, c) = self.container(node)?;
        pause(&self.docker, &c.name).await
    }

    /// Thaw the node's container.
    pub async fn resume(&self, node: NodeId) -> Result<(), DockerError> {
        let (_, c) = self.container(node)?;
        unpause(&self.docker, &c.name).await
    }

    /// Disconnect the node from the data network (the control port stays reachable).
    pub async fn isolate(&self, node: NodeId) -> Result<(), DockerError> {
        let (run, c) = self.container(node)?;
        let opts = NetworkDisconnectRequest { container: c.name.clone(), force: Some(true) };
        match self.docker.disconnect_network(&run.data_net, opts).await {
            Ok(()) => Ok(()),
            Err(e) if server_message(&e).is_some_and(|m| m.contains("not connected")) => Ok(()),
            Err(source) => {
                Err(DockerError::api(format!("disconnect {} from {}", c.name, run.data_net), source))
            }
        }
    }

    /// Connect the node to the data network again, with the same IP.
    pub async fn reconnect(&self, node: NodeId) -> Result<(), DockerError> {
        let (run, c) = self.container(node)?;
        match self.connect_data(&run.data_net, c).await {
            Ok(()) => Ok(()),
            Err(DockerError::Api { source, .. })
                if server_message(&source).is_some_and(|m| m.contains("already exists")) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Remove every container, network and volume of the run (force). Idempotent.
    pub async fn teardown(&mut self) -> Result<(), DockerError> {
        self.abort_events();
        if let Some(run) = self.run.take() {
            cleanup::remove_run(&self.docker, &run.id).await?;
        }
        Ok(())
    }

    /// Node state changes as the engine reports them (die, start, pause,
    /// unpause), with the engine's time. Taken once per deploy.
    pub fn events(&mut self) -> Option<mpsc::UnboundedReceiver<NodeEvent>> {
        self.events.take()
    }

    /// The run currently deployed.
    pub fn run_id(&self) -> Option<&str> {
        self.run.as_ref().map(|r| r.id.as_str())
    }

    /// The name of the run's data network (the one `isolate` cuts).
    pub fn data_network(&self) -> Option<&str> {
        self.run.as_ref().map(|r| r.data_net.as_str())
    }

    /// The container name of a node.
    pub fn container_name(&self, node: NodeId) -> Option<&str> {
        self.run.as_ref().and_then(|r| r.containers.get(&node)).map(|c| c.name.as_str())
    }

    fn abort_events(&mut self) {
        if let Some(task) = self.run.as_mut().and_then(|r| r.events_task.take()) {
            task.abort();
        }
    }
}

impl Drop for DockerBackend {
    fn drop(&mut self) {
        // Last line of defence (early return, panic): nothing outlives its run.
        self.abort_events();
        if let Some(run) = self.run.take() {
            let _ = teardown_blocking(&run.id);
        }
    }
}

/// The host port the engine published the agent's control port on.
pub(crate) fn published_control_port(info: &bollard::models::ContainerInspectResponse) -> Option<u16> {
    let key = format!("{CONTROL_PORT}/tcp");
    info.network_settings
        .as_ref()?
        .ports
        .as_ref()?
        .get(&key)?
        .as_ref()?
        .iter()
        .find_map(|b| b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()))
}

/// SIGKILL a container; one already stopped stays so.
pub(crate) async fn kill(docker: &Docker, name: &str) -> Result<(), DockerError> {
    let kill = || docker.kill_container(name, Some(KillContainerOptions { signal: "SIGKILL".into() }));
    match kill().await {
        Ok(()) => Ok(()),
        Err(e) if server_message(&e).is_some_and(|m| m.contains("is not running")) => Ok(()),
        Err(e) if server_message(&e).is_some_and(|m| m.contains("paused")) => {
            // Older engines refuse to kill a frozen container: thaw it first.
            docker
                .unpause_container(name)
                .await
                .map_err(|source| DockerError::api(format!("unpause {name}"), source))?;
            kill().await.map_err(|source| DockerError::api(format!("kill {name}"), source))
        }
        Err(source) => Err(DockerError::api(format!("kill {name}"), source)),
    }
}

/// Freeze a container (already frozen is fine).
pub(crate) async fn pause(docker: &Docker, name: &str) -> Result<(), DockerError> {
    match docker.pause_container(name).await {
        Ok(()) => Ok(()),
        Err(e) if server_message(&e).is_some_and(|m| m.contains("already paused")) => Ok(()),
        Err(source) => Err(DockerError::api(format!("pause {name}"), source)),
    }
}

/// Thaw a container (not frozen is fine).
pub(crate) async fn unpause(docker: &Docker, name: &str) -> Result<(), DockerError> {
    match docker.unpause_container(name).await {
        Ok(()) => Ok(()),
        Err(e) if server_message(&e).is_some_and(|m| m.contains("is not paused")) => Ok(()),
        Err(source) => Err(DockerError::api(format!("unpause {name}"), source)),
    }
}

/// What every container of a run shares.
struct ContainerSpec<'a> {
    cfg: &'a BackendConfig,
    image: &'a str,
    control_net: &'a str,
    data_net: &'a str,
    volume: &'a str,
    labels: &'a HashMap<String, String>,
}

/// Forward the run's container events as node state changes until the
/// receiver goes or the engine closes the stream.
pub(crate) async fn forward_events(
    docker: Docker,
    run_id: String,
    names: HashMap<String, NodeId>,
    tx: mpsc::UnboundedSender<NodeEvent>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        ("label".to_string(), vec![format!("{LABEL_RUN}={run_id}")]),
    ]);
    let mut stream = docker.events(Some(EventsOptions { filters: Some(filters), ..Default::default() }));
    let mut ready = Some(ready);
    while let Some(Ok(ev)) = stream.next().await {
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        let state = match ev.action.as_deref() {
            Some("start") | Some("unpause") => NodeState::Up,
            Some("die") => NodeState::Down,
            Some("pause") => NodeState::Paused,
            _ => continue,
        };
        let node = ev
            .actor
            .and_then(|a| a.attributes)
            .and_then(|attrs| attrs.get(LABEL_NODE).and_then(|n| names.get(n)).copied());
        let Some(node) = node else { continue };
        let at = match ev.time_nano.and_then(|n| u64::try_from(n).ok()) {
            Some(n) => SystemTime::UNIX_EPOCH + Duration::from_nanos(n),
            None => SystemTime::now(),
        };
        if tx.send((node, state, at)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_hand_out_addresses_past_the_gateway() {
        let s = Subnet::parse("172.18.0.0/16").unwrap();
        assert_eq!(s.host(0), Some(Ipv4Addr::new(172, 18, 0, 2)));
        assert_eq!(s.host(300), Some(Ipv4Addr::new(172, 18, 1, 46)));
        let small = Subnet::parse("192.168.7.9/30").unwrap();
        assert_eq!(small.base, Ipv4Addr::new(192, 168, 7, 8));
        assert_eq!(small.host(0), Some(Ipv4Addr::new(192, 168, 7, 10)));
        assert_eq!(small.host(1), None, "the broadcast address is never handed out");
        assert_eq!(Subnet::parse("fd00::/64"), None);
        assert_eq!(Subnet::parse("10.0.0.0/32"), None);
    }

    /// The runner spawns backend calls on a multi-threaded runtime.
    #[allow(dead_code)]
    fn backend_futures_are_send(b: &mut DockerBackend, cfg: &BackendConfig) {
        fn send<T: Send>(_: T) {}
        send(b.deploy(cfg, &[]));
        send(b.crash(NodeId(1)));
        send(b.start(NodeId(1)));
        send(b.isolate(NodeId(1)));
        send(b.reconnect(NodeId(1)));
        send(b.teardown());
        send(clean_all());
        send(sweep_stale());
    }

    #[test]
    fn names_are_made_safe_for_docker() {
        assert_eq!(docker_name("tmr run:1/a"), "tmr-run-1-a");
        assert_eq!(docker_name("replica-1"), "replica-1");
    }

    #[test]
    fn a_refused_socket_is_unreachable_and_says_how_to_start_docker() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = connect_error(bollard::errors::Error::from(io));
        let text = err.to_string();
        assert!(matches!(err, DockerError::Unreachable { .. }), "{err:?}");
        assert!(text.contains("--backend process"), "{text}");
    }

    #[test]
    fn a_denied_socket_says_to_join_the_docker_group() {
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let err = connect_error(bollard::errors::Error::from(io));
        assert!(matches!(err, DockerError::PermissionDenied { .. }), "{err:?}");
        assert!(err.to_string().contains("docker group"));
    }
}
